//! How an aggregation's state becomes an output row: the aggregates, HAVING, and the key and
//! value columns over the group's values and its accumulators. Windowed and session
//! aggregations share it.

use crate::aggregate::{Acc, AggKind};
use crate::expr::{Compiled, Context};
use crate::ops::{OutputRecord, RowError};
use crate::value::Value;

pub struct RowShape {
    /// Each aggregate with its argument over the input row (`None` for COUNT(*)).
    pub aggs: Vec<(AggKind, Option<Compiled>)>,
    pub having: Option<Compiled>,
    /// Key and value columns over the group row and the aggregate slots.
    pub key: Vec<Compiled>,
    pub value: Vec<Compiled>,
    /// Set when every output column is a group column or a bare aggregate and there is no
    /// HAVING: the row is then filled straight from the group and the accumulators, with
    /// no expression evaluated.
    direct: Option<DirectRow>,
}

struct DirectRow {
    key: Vec<DirectColumn>,
    value: Vec<DirectColumn>,
}

#[derive(Clone, Copy)]
enum DirectColumn {
    Group(usize),
    Aggregate(usize),
}

impl DirectRow {
    fn plan(having: Option<&Compiled>, key: &[Compiled], value: &[Compiled]) -> Option<DirectRow> {
        let column = |expr: &Compiled| match expr {
            Compiled::Column(i) => Some(DirectColumn::Group(*i)),
            Compiled::Slot(i) => Some(DirectColumn::Aggregate(*i)),
            _ => None,
        };
        if having.is_some() {
            return None;
        }
        Some(DirectRow {
            key: key.iter().map(column).collect::<Option<_>>()?,
            value: value.iter().map(column).collect::<Option<_>>()?,
        })
    }
}

/// Which keys' rows a HAVING has let into the result table. A row HAVING leaves out becomes
/// a tombstone only when the key's previous row was in the table; otherwise nothing is
/// written (ksqlDB's table filter with old values, since its PR #6405:
/// engine/docs/ksqldb-tables.md, 4.4 and 5.6). Without HAVING nothing is tracked.
#[derive(Debug, Default)]
pub struct Shown {
    keys: Option<std::collections::HashSet<Box<[u8]>>>,
}

impl crate::heap::HeapBytes for Shown {
    fn heap_bytes(&self) -> usize {
        self.keys.heap_bytes()
    }
}

impl Shown {
    pub fn for_shape(shape: &RowShape) -> Shown {
        Shown {
            keys: shape.having.is_some().then(Default::default),
        }
    }

    /// Notes the row just filled for `key`; false when it is a tombstone to leave out.
    pub fn admit(&mut self, key: &[u8], row: &OutputRecord) -> bool {
        let Some(keys) = &mut self.keys else {
            return true;
        };
        match row.value {
            Some(_) => {
                if !keys.contains(key) {
                    keys.insert(key.into());
                }
                true
            }
            None => keys.remove(key),
        }
    }

    /// Forgets a key whose row was replaced; true when it was shown, or when nothing is
    /// tracked (no HAVING).
    pub fn forget_shown(&mut self, key: &[u8]) -> bool {
        match &mut self.keys {
            None => true,
            Some(keys) => keys.remove(key),
        }
    }

    /// Forgets a key whose row left state (a closed window).
    pub fn forget(&mut self, key: &[u8]) {
        if let Some(keys) = &mut self.keys {
            keys.remove(key);
        }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.keys.as_ref().is_some_and(|keys| keys.contains(key))
    }

    /// Marks a key as shown (restoring a snapshot).
    pub fn insert(&mut self, key: &[u8]) {
        if let Some(keys) = &mut self.keys {
            keys.insert(key.into());
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.keys.iter().flatten().map(|k| &**k)
    }

    /// Keeps the keys `keep` says yes to (a partition's keys moving to another instance).
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        if let Some(keys) = &mut self.keys {
            keys.retain(|key| keep(key));
        }
    }
}

impl RowShape {
    pub fn new(
        aggs: Vec<(AggKind, Option<Compiled>)>,
        having: Option<Compiled>,
        key: Vec<Compiled>,
        value: Vec<Compiled>,
    ) -> RowShape {
        RowShape {
            direct: DirectRow::plan(having.as_ref(), &key, &value),
            aggs,
            having,
            key,
            value,
        }
    }

    /// Fresh accumulators, one per aggregate.
    pub fn initial(&self) -> Box<[Acc]> {
        self.aggs.iter().map(|(kind, _)| kind.initial()).collect()
    }

    /// Fills `row` with the output for one group and window, over whatever an earlier
    /// output left in it. A row that HAVING leaves out becomes a tombstone, as ksqlDB's
    /// table filter forwards one.
    pub fn row_into(
        &self,
        group: &[Value],
        window: Option<(i64, i64)>,
        accs: &[Acc],
        timestamp: i64,
        slots: &mut Vec<Value>,
        row: &mut OutputRecord,
    ) -> Result<(), RowError> {
        let RowShape {
            aggs,
            having,
            key,
            value,
            direct,
        } = self;
        row.window = window;
        row.timestamp = timestamp;
        if let Some(direct) = direct {
            // Each value is written into the column it had in the record's last use: a value
            // built aside and then moved in stalls on store forwarding.
            let fill = |columns: &[DirectColumn], values: &mut Vec<Value>| {
                if values.len() != columns.len() {
                    values.resize_with(columns.len(), || Value::Null);
                }
                for (slot, column) in values.iter_mut().zip(columns) {
                    match *column {
                        DirectColumn::Group(i) => match group.get(i) {
                            Some(value) => value.assign_to(slot),
                            None => *slot = Value::Null,
                        },
                        DirectColumn::Aggregate(i) => match (aggs.get(i), accs.get(i)) {
                            (Some((kind, _)), Some(acc)) => kind.result_into(acc, slot),
                            _ => *slot = Value::Null,
                        },
                    }
                }
            };
            fill(&direct.key, &mut row.key);
            fill(&direct.value, row.value.get_or_insert_with(Vec::new));
            return Ok(());
        }
        row.key.clear();
        if let Some(values) = &mut row.value {
            values.clear();
        }
        slots.clear();
        slots.extend(
            aggs.iter()
                .zip(accs)
                .map(|((kind, _), acc)| kind.result(acc)),
        );
        let ctx = Context {
            row: group,
            rowtime: timestamp,
            window,
            slots,
        };
        for expr in key {
            expr.eval_onto(&ctx, &mut row.key)?;
        }
        let passes = match having {
            Some(h) => h.test(&ctx)?,
            None => true,
        };
        if passes {
            let values = row.value.get_or_insert_with(Vec::new);
            for expr in value {
                expr.eval_onto(&ctx, values)?;
            }
        } else {
            row.value = None;
        }
        Ok(())
    }
}
