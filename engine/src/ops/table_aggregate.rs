//! GROUP BY over a table, as ksqlDB runs it on Kafka Streams' KTable aggregation with an
//! adder and a subtractor (engine/docs/ksqldb-tables.md, section 4): each change of a source
//! row takes the old row's contribution out of its group and adds the new row's to its group.
//! A row that stays in its group gives one output (Kafka Streams 3.5's KIP-904, current
//! ksqlDB); a row that moves gives one for the old group, then one for the new; a group whose
//! last row leaves stays with its aggregates undone (COUNT 0, not a tombstone). Only aggregates
//! that can undo (COUNT, SUM, AVG, COLLECT_LIST) are planned here.

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
struct GroupPart<'a> {
    rows: Vec<(&'a StateKey, &'a Contribution)>,
    groups: Vec<(&'a StateKey, &'a GroupEntry)>,
    shown: Vec<&'a [u8]>,
}

#[derive(Deserialize)]
struct GroupPartOwned {
    rows: Vec<(StateKey, Contribution)>,
    groups: Vec<(StateKey, GroupEntry)>,
    shown: Vec<Vec<u8>>,
}

pub struct TableAggregate {
    grouping: Grouping,
    /// The WHERE over the source rows: a row it leaves out contributes to no group.
    condition: Option<Compiled>,
    /// Where the source's PRIMARY KEY columns sit in its rows.
    source_key: Vec<usize>,
    shape: RowShape,
    rows: StateTable<Contribution>,
    groups: StateTable<GroupEntry>,
    shown: Shown,
    slots: Vec<Value>,
}

impl TableAggregate {
    pub fn new(
        grouping: Grouping,
        condition: Option<Compiled>,
        source_key: Vec<usize>,
        shape: RowShape,
    ) -> TableAggregate {
        TableAggregate {
            grouping,
            condition,
            source_key,
            shown: Shown::for_shape(&shape),
            shape,
            rows: StateTable::default(),
            groups: StateTable::default(),
            slots: Vec::new(),
        }
    }

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
        let mut arguments = Vec::with_capacity(self.shape.aggs.len());
        for (_, argument) in &self.shape.aggs {
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

    fn fold(
        &mut self,
        row: &Row,
        time: i64,
        delete: bool,
        emit: &mut Emit<'_>,
    ) -> Result<(), RowError> {
        let mut key = Vec::new();
        for &place in &self.source_key {
            row[place].write_key(&mut key);
        }
        let new = self.contribution(row, time, delete)?;
        let probe = StateKey::new(&key);
        let hash = self.rows.hash(&key);
        let old = self.rows.remove(&probe, hash);
        let same_group = matches!((&old, &new), (Some(o), Some(n)) if o.group_key == n.group_key);
        if same_group {
            self.change_group(old.as_ref(), new.as_ref(), time, emit)?;
        } else {
            if old.is_some() {
                self.change_group(old.as_ref(), None, time, emit)?;
            }
            if new.is_some() {
                self.change_group(None, new.as_ref(), time, emit)?;
            }
        }
        if let Some(new) = new {
            self.rows.insert(probe, new);
        }
        Ok(())
    }
}

impl Operator for TableAggregate {
    fn name(&self) -> &'static str {
        "table_aggregate"
    }

    fn takes_deletes(&self) -> bool {
        true
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        for at in 0..batch.len() {
            let before = emit.out.len();
            if let Err(error) = self.fold(batch.row(at), batch.time(at), batch.is_delete(at), emit)
            {
                emit.out.truncate(before);
                emit.reject(batch.origin(at), error);
            }
        }
    }

    fn state_size(&self) -> usize {
        self.rows.len() + self.groups.len()
    }

    fn state_bytes(&self) -> usize {
        self.rows.heap_bytes() + self.groups.heap_bytes() + self.shown.heap_bytes()
    }

    fn snapshot(&self) -> Result<GroupSnapshot, SnapshotError> {
        let mut parts: BTreeMap<KeyGroup, GroupPart<'_>> = BTreeMap::new();
        let new_part = || GroupPart {
            rows: Vec::new(),
            groups: Vec::new(),
            shown: Vec::new(),
        };
        for (key, row) in self.rows.iter() {
            parts
                .entry(key_group(key.as_bytes()))
                .or_insert_with(new_part)
                .rows
                .push((key, row));
        }
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
        encode_groups("table_aggregate", parts)
    }

    fn restore(&mut self, groups: &GroupSnapshot) -> Result<(), RestoreError> {
        let restored: BTreeSet<KeyGroup> = groups.keys().copied().collect();
        self.rows
            .retain(|key, _| !restored.contains(&key_group(key.as_bytes())));
        self.groups
            .retain(|key, _| !restored.contains(&key_group(key.as_bytes())));
        for (group, bytes) in groups {
            let part: GroupPartOwned = decode_group("table_aggregate", *group, bytes)?;
            for (key, row) in part.rows {
                self.rows.insert(key, row);
            }
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
}
