//! GROUP BY over a table, as ksqlDB runs it on Kafka Streams' KTable aggregation with an
//! adder and a subtractor (engine/docs/ksqldb-tables.md, section 4): each change of a source
//! row takes the old row's contribution out of its group and adds the new row's to its group.
//! A row that stays in its group gives one output (Kafka Streams 3.5's KIP-904, current
//! ksqlDB); a row that moves gives one for the old group, then one for the new; a group whose
//! last row leaves stays with its aggregates undone (COUNT 0, not a tombstone). Only aggregates
//! that can undo (COUNT, SUM, AVG, COLLECT_LIST) are planned here.
//!
//! It runs as two operators, as Kafka Streams runs it as two tasks: `TableChanges` keeps each
//! source row's contribution by the source's primary key and turns an update into a change
//! (what leaves a group, what enters it); `TableGroups` folds the changes into the groups. On
//! Kafka each half's state splits by its own key, the changes going from one to the other
//! through the GROUP BY's repartition topic, as Kafka Streams' `KTable#groupBy` sends them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::aggregate::Acc;
use crate::expr::{Compiled, Context};
use crate::heap::HeapBytes;
use crate::ops::group::Grouping;
use crate::ops::shape::{RowShape, Shown};
use crate::ops::{
    decode_group, encode_groups, Emit, GroupSnapshot, Operator, OutputRecord, RowBatch, RowError,
    SnapshotError,
};
use crate::state::{key_group, KeyGroup, RestoreError, StateKey, StateTable};
use crate::value::{Row, Value};

/// What one source row adds to its group.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Contribution {
    group: Vec<Value>,
    group_key: Vec<u8>,
    arguments: Vec<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct GroupEntry {
    accs: Box<[Acc]>,
    /// The newest timestamp of the changes folded in: a group's outputs never go back in time.
    timestamp: i64,
}

impl HeapBytes for Contribution {
    fn heap_bytes(&self) -> usize {
        self.group.heap_bytes() + self.group_key.heap_bytes() + self.arguments.heap_bytes()
    }
}

impl HeapBytes for GroupEntry {
    fn heap_bytes(&self) -> usize {
        self.accs.heap_bytes()
    }
}

#[derive(Serialize)]
struct RowsPart<'a> {
    rows: Vec<(&'a StateKey, &'a Contribution)>,
}

#[derive(Serialize, Deserialize)]
struct RowsPartOwned {
    rows: Vec<(StateKey, Contribution)>,
}

#[derive(Serialize)]
struct GroupPart<'a> {
    groups: Vec<(&'a StateKey, &'a GroupEntry)>,
    shown: Vec<&'a [u8]>,
}

#[derive(Serialize, Deserialize)]
struct GroupPartOwned {
    groups: Vec<(StateKey, GroupEntry)>,
    shown: Vec<Vec<u8>>,
}

/// Where a change row holds its parts: whether it takes a contribution out and whether it
/// puts one in, then the group's values, then the old and the new aggregate arguments.
const TAKES_OUT: usize = 0;
const PUTS_IN: usize = 1;
const GROUP_AT: usize = 2;

/// The two halves of a table's GROUP BY, first the one that sees the source rows.
pub fn table_aggregate(
    grouping: Grouping,
    condition: Option<Compiled>,
    source_key: Vec<usize>,
    shape: RowShape,
) -> [Box<dyn Operator>; 2] {
    let arguments = shape.aggs.iter().map(|(_, a)| a.clone()).collect();
    let width = grouping.width();
    let group_columns = (GROUP_AT..GROUP_AT + width).map(Compiled::Column).collect();
    let key_columns = source_key.iter().copied().map(Compiled::Column).collect();
    let changes = TableChanges {
        grouping: Grouping::new(grouping.exprs().to_vec()),
        source_key: Grouping::new(key_columns),
        condition,
        source_places: source_key,
        arguments,
        rows: StateTable::default(),
        next: RowBatch::new(),
    };
    let groups = TableGroups {
        change_grouping: Grouping::new(group_columns),
        grouping,
        shown: Shown::for_shape(&shape),
        shape,
        groups: StateTable::default(),
        slots: Vec::new(),
    };
    [Box::new(changes), Box::new(groups)]
}

/// The first half: each source row's contribution by the source's primary key, and the
/// change each update makes, passed on as change rows.
pub struct TableChanges {
    grouping: Grouping,
    /// The source's PRIMARY KEY columns, which the contributions are kept (and split) by.
    source_key: Grouping,
    /// The WHERE over the source rows: a row it leaves out contributes to no group.
    condition: Option<Compiled>,
    source_places: Vec<usize>,
    /// Each aggregate's argument over the source row (`None` for COUNT(*)).
    arguments: Vec<Option<Compiled>>,
    rows: StateTable<Contribution>,
    next: RowBatch,
}

impl TableChanges {
    /// The new row's contribution: `None` when it is a tombstone, the WHERE leaves it out, or
    /// its group key is null (ksqlDB excludes such a row from the table).
    fn contribution(
        &self,
        row: &Row,
        time: i64,
        delete: bool,
    ) -> Result<Option<Contribution>, RowError> {
        if delete {
            return Ok(None);
        }
        let ctx = Context {
            row,
            rowtime: time,
            window: None,
            slots: &[],
        };
        if let Some(condition) = &self.condition {
            if !condition.test(&ctx)? {
                return Ok(None);
            }
        }
        let mut group = Vec::new();
        let mut group_key = Vec::new();
        match self.grouping.key_row(row, time, &mut group, &mut group_key) {
            Ok(()) => {}
            Err(RowError::Null { .. }) => return Ok(None),
            Err(other) => return Err(other),
        }
        let mut arguments = Vec::with_capacity(self.arguments.len());
        for argument in &self.arguments {
            match argument {
                Some(argument) => argument.eval_onto(&ctx, &mut arguments)?,
                None => arguments.push(Value::Null),
            }
        }
        Ok(Some(Contribution {
            group,
            group_key,
            arguments,
        }))
    }

    /// Writes a change: `old` taken out of its group and `new` put into the same group, or
    /// one of them alone.
    fn push_change(
        next: &mut RowBatch,
        aggs: usize,
        old: Option<&Contribution>,
        new: Option<&Contribution>,
        time: i64,
        origin: u32,
    ) {
        let Some(of) = new.or(old) else {
            return;
        };
        let width = GROUP_AT + of.group.len() + 2 * aggs;
        let row = next.push(width, time, origin);
        row[TAKES_OUT] = Value::Boolean(old.is_some());
        row[PUTS_IN] = Value::Boolean(new.is_some());
        let mut at = GROUP_AT;
        for value in &of.group {
            row[at] = value.clone();
            at += 1;
        }
        for part in [old, new] {
            match part {
                Some(part) => row[at..at + aggs].clone_from_slice(&part.arguments),
                None => row[at..at + aggs].fill(Value::Null),
            }
            at += aggs;
        }
    }

    fn fold(&mut self, row: &Row, time: i64, delete: bool, origin: u32) -> Result<(), RowError> {
        let mut key = Vec::new();
        for &place in &self.source_places {
            row[place].write_key(&mut key);
        }
        let new = self.contribution(row, time, delete)?;
        let probe = StateKey::new(&key);
        let hash = self.rows.hash(&key);
        let old = self.rows.remove(&probe, hash);
        let aggs = self.arguments.len();
        let same_group = matches!((&old, &new), (Some(o), Some(n)) if o.group_key == n.group_key);
        if same_group {
            Self::push_change(
                &mut self.next,
                aggs,
                old.as_ref(),
                new.as_ref(),
                time,
                origin,
            );
        } else {
            if old.is_some() {
                Self::push_change(&mut self.next, aggs, old.as_ref(), None, time, origin);
            }
            if new.is_some() {
                Self::push_change(&mut self.next, aggs, None, new.as_ref(), time, origin);
            }
        }
        if let Some(new) = new {
            self.rows.insert(probe, new);
        }
        Ok(())
    }
}

impl Operator for TableChanges {
    fn name(&self) -> &'static str {
        "table_changes"
    }

    fn takes_deletes(&self) -> bool {
        true
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        self.next.clear();
        self.next.set_input(batch.input());
        for at in 0..batch.len() {
            let (time, origin) = (batch.time(at), batch.origin(at));
            if let Err(error) = self.fold(batch.row(at), time, batch.is_delete(at), origin) {
                emit.reject(origin, error);
            }
        }
        batch.swap(&mut self.next);
    }

    fn state_size(&self) -> usize {
        self.rows.len()
    }

    fn state_bytes(&self) -> usize {
        self.rows.heap_bytes()
    }

    fn snapshot(&self) -> Result<GroupSnapshot, SnapshotError> {
        let mut parts: BTreeMap<KeyGroup, RowsPart<'_>> = BTreeMap::new();
        for (key, row) in self.rows.iter() {
            parts
                .entry(key_group(key.as_bytes()))
                .or_insert_with(|| RowsPart { rows: Vec::new() })
                .rows
                .push((key, row));
        }
        encode_groups("table_changes", parts)
    }

    fn restore(&mut self, groups: &GroupSnapshot) -> Result<(), RestoreError> {
        let restored: BTreeSet<KeyGroup> = groups.keys().copied().collect();
        self.rows
            .retain(|key, _| !restored.contains(&key_group(key.as_bytes())));
        for (group, bytes) in groups {
            let part: RowsPartOwned = decode_group("table_changes", *group, bytes)?;
            for (key, row) in part.rows {
                self.rows.insert(key, row);
            }
        }
        Ok(())
    }

    fn grouping(&self) -> Option<&Grouping> {
        Some(&self.source_key)
    }

    fn forget(&mut self, moved: &dyn Fn(KeyGroup) -> bool) {
        self.rows.retain(|key, _| !moved(key_group(key.as_bytes())));
    }
}

/// The second half: the groups, each change folded into its group and the group's row
/// written (through HAVING).
pub struct TableGroups {
    grouping: Grouping,
    /// The group's values in a change row, which the groups are kept (and split) by.
    change_grouping: Grouping,
    shape: RowShape,
    groups: StateTable<GroupEntry>,
    shown: Shown,
    slots: Vec<Value>,
}

impl TableGroups {
    /// Reads a change row back into what it takes out and what it puts in.
    fn change_of(&self, row: &Row) -> Result<[Option<Contribution>; 2], RowError> {
        let (width, aggs) = (self.grouping.width(), self.shape.aggs.len());
        let end = GROUP_AT + width + 2 * aggs;
        if row.len() < end {
            return Err(RowError::CorruptState(
                "a change row is shorter than its parts",
            ));
        }
        let group = row[GROUP_AT..GROUP_AT + width].to_vec();
        let mut group_key = Vec::new();
        for value in &group {
            value.write_key(&mut group_key);
        }
        let part = |flag: usize, from: usize| {
            matches!(row[flag], Value::Boolean(true)).then(|| Contribution {
                group: group.clone(),
                group_key: group_key.clone(),
                arguments: row[from..from + aggs].to_vec(),
            })
        };
        let arguments_at = GROUP_AT + width;
        Ok([
            part(TAKES_OUT, arguments_at),
            part(PUTS_IN, arguments_at + aggs),
        ])
    }

    /// Applies a change to one group: takes `old` out, puts `new` in, and writes the group's
    /// row (through HAVING) with the change's time.
    fn change_group(
        &mut self,
        old: Option<&Contribution>,
        new: Option<&Contribution>,
        time: i64,
        emit: &mut Emit<'_>,
    ) -> Result<(), RowError> {
        let Some(of) = new.or(old) else {
            return Ok(());
        };
        let probe = StateKey::new(&of.group_key);
        let hash = self.groups.hash(&of.group_key);
        let shape = &self.shape;
        let mut fresh = false;
        let entry = self.groups.get_or_insert_with(&probe, hash, || {
            fresh = true;
            GroupEntry {
                accs: shape.initial(),
                timestamp: time,
            }
        });
        if !fresh {
            entry.timestamp = entry.timestamp.max(time);
        }
        if let Some(old) = old {
            for ((kind, _), (acc, value)) in shape
                .aggs
                .iter()
                .zip(entry.accs.iter_mut().zip(&old.arguments))
            {
                kind.undo(acc, value);
            }
        }
        if let Some(new) = new {
            for ((kind, _), (acc, value)) in shape
                .aggs
                .iter()
                .zip(entry.accs.iter_mut().zip(&new.arguments))
            {
                kind.update(acc, value);
            }
        }
        shape.row_into(
            &of.group,
            None,
            &entry.accs,
            entry.timestamp,
            &mut self.slots,
            emit.out.next_record(),
        )?;
        if let Some(row) = emit.out.last() {
            if !self.shown.admit(&of.group_key, row) {
                emit.out.pop();
            }
        }
        Ok(())
    }
}

impl Operator for TableGroups {
    fn name(&self) -> &'static str {
        "table_groups"
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        for at in 0..batch.len() {
            let before = emit.out.len();
            let changed = self.change_of(batch.row(at)).and_then(|[old, new]| {
                self.change_group(old.as_ref(), new.as_ref(), batch.time(at), emit)
            });
            if let Err(error) = changed {
                emit.out.truncate(before);
                emit.reject(batch.origin(at), error);
            }
        }
    }

    fn state_size(&self) -> usize {
        self.groups.len()
    }

    fn state_bytes(&self) -> usize {
        self.groups.heap_bytes() + self.shown.heap_bytes()
    }

    fn snapshot(&self) -> Result<GroupSnapshot, SnapshotError> {
        let mut parts: BTreeMap<KeyGroup, GroupPart<'_>> = BTreeMap::new();
        let new_part = || GroupPart {
            groups: Vec::new(),
            shown: Vec::new(),
        };
        for (key, group) in self.groups.iter() {
            parts
                .entry(key_group(key.as_bytes()))
                .or_insert_with(new_part)
                .groups
                .push((key, group));
        }
        for key in self.shown.iter() {
            parts
                .entry(key_group(key))
                .or_insert_with(new_part)
                .shown
                .push(key);
        }
        encode_groups("table_groups", parts)
    }

    fn restore(&mut self, groups: &GroupSnapshot) -> Result<(), RestoreError> {
        let restored: BTreeSet<KeyGroup> = groups.keys().copied().collect();
        self.groups
            .retain(|key, _| !restored.contains(&key_group(key.as_bytes())));
        self.shown.retain(|key| !restored.contains(&key_group(key)));
        for (group, bytes) in groups {
            let part: GroupPartOwned = decode_group("table_groups", *group, bytes)?;
            for (key, entry) in part.groups {
                self.groups.insert(key, entry);
            }
            for key in &part.shown {
                self.shown.insert(key);
            }
        }
        Ok(())
    }

    fn table_rows(&self) -> Vec<OutputRecord> {
        self.groups
            .iter()
            .filter_map(|(key, entry)| {
                let group = self.grouping.group_of(key.as_bytes()).ok()?;
                let mut row = OutputRecord::empty();
                self.shape
                    .row_into(
                        &group,
                        None,
                        &entry.accs,
                        entry.timestamp,
                        &mut Vec::new(),
                        &mut row,
                    )
                    .ok()?;
                Some(row)
            })
            .collect()
    }

    fn grouping(&self) -> Option<&Grouping> {
        Some(&self.change_grouping)
    }

    fn forget(&mut self, moved: &dyn Fn(KeyGroup) -> bool) {
        self.groups
            .retain(|key, _| !moved(key_group(key.as_bytes())));
        self.shown.retain(|key| !moved(key_group(key)));
    }
}

/// One key group of the state a table's GROUP BY saved when it was one operator.
#[derive(Serialize, Deserialize)]
struct WholePart {
    rows: Vec<(StateKey, Contribution)>,
    groups: Vec<(StateKey, GroupEntry)>,
    shown: Vec<Vec<u8>>,
}

/// Splits the state a table's GROUP BY saved as one operator (before it ran as two) into
/// the state of `TableChanges` and of `TableGroups`, so a checkpoint of an earlier version
/// still restores.
pub fn split_whole_state(whole: &GroupSnapshot) -> Result<[GroupSnapshot; 2], RestoreError> {
    let (mut changes, mut groups) = (GroupSnapshot::new(), GroupSnapshot::new());
    let written = |e: postcard::Error| RestoreError(format!("cannot split the state: {e}"));
    for (group, bytes) in whole {
        let part: WholePart = decode_group("table_aggregate", *group, bytes)?;
        if !part.rows.is_empty() {
            let rows =
                postcard::to_allocvec(&RowsPartOwned { rows: part.rows }).map_err(written)?;
            changes.insert(*group, rows);
        }
        let kept = GroupPartOwned {
            groups: part.groups,
            shown: part.shown,
        };
        groups.insert(*group, postcard::to_allocvec(&kept).map_err(written)?);
    }
    Ok([changes, groups])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::AggKind;

    fn halves() -> [Box<dyn Operator>; 2] {
        let grouping = Grouping::new(vec![Compiled::Column(1)]);
        let shape = RowShape::new(
            vec![(AggKind::CountStar, None)],
            None,
            vec![Compiled::Column(0)],
            vec![Compiled::Slot(0)],
        );
        table_aggregate(grouping, None, vec![0], shape)
    }

    /// Rows (key, group) through both halves, as one query runs them.
    fn run(ops: &mut [Box<dyn Operator>], rows: &[(&str, &str)]) -> Vec<OutputRecord> {
        let mut out = crate::ops::Outputs::new();
        let mut rejected = Vec::new();
        let mut batch = RowBatch::new();
        for (at, (key, group)) in rows.iter().enumerate() {
            let row = batch.push(2, at as i64, at as u32);
            row[0] = Value::String((*key).into());
            row[1] = Value::String((*group).into());
        }
        let mut emit = Emit {
            out: &mut out,
            rejected: &mut rejected,
        };
        for op in ops.iter_mut() {
            op.process(&mut batch, &mut emit);
        }
        assert!(rejected.is_empty());
        out.take()
    }

    #[test]
    fn a_checkpoint_of_the_one_operator_form_restores_into_both_halves() {
        let mut before = halves();
        run(&mut before, &[("a", "x"), ("b", "x"), ("c", "y")]);
        // The state as the one operator saved it: rows and groups under each key group.
        let [changes, groups] = [before[0].snapshot().unwrap(), before[1].snapshot().unwrap()];
        let mut whole = GroupSnapshot::new();
        let keys: BTreeSet<KeyGroup> = changes.keys().chain(groups.keys()).copied().collect();
        for group in keys {
            let rows: RowsPartOwned = changes
                .get(&group)
                .map(|b| postcard::from_bytes(b).unwrap())
                .unwrap_or(RowsPartOwned { rows: Vec::new() });
            let kept: GroupPartOwned = groups
                .get(&group)
                .map(|b| postcard::from_bytes(b).unwrap())
                .unwrap_or(GroupPartOwned {
                    groups: Vec::new(),
                    shown: Vec::new(),
                });
            let part = WholePart {
                rows: rows.rows,
                groups: kept.groups,
                shown: kept.shown,
            };
            whole.insert(group, postcard::to_allocvec(&part).unwrap());
        }
        let mut after = halves();
        let [changes, groups] = split_whole_state(&whole).unwrap();
        after[0].restore(&changes).unwrap();
        after[1].restore(&groups).unwrap();
        assert_eq!(after[0].state_size(), 3);
        assert_eq!(after[1].state_size(), 2);
        // "a" leaves x for y: x has one row left, y two.
        let outputs = run(&mut after, &[("a", "y")]);
        let counts: Vec<_> = outputs.iter().map(|o| o.value.clone()).collect();
        assert_eq!(
            counts,
            [Some(vec![Value::Integer(1)]), Some(vec![Value::Integer(2)])]
        );
    }
}
