//! WHERE (`Filter`), a derived table's SELECT list (`Map`, rows on to the next operator), a
//! stream's output columns (`Project`, key and value columns of the output records), and a
//! table's (`TableProject`, which remembers which keys pass its WHERE).

use std::collections::BTreeMap;

use crate::expr::{Compiled, Context};
use crate::ops::{
    decode_group, encode_groups, Emit, GroupSnapshot, Operator, RowBatch, RowError, SnapshotError,
};
use crate::state::{key_group, KeyGroup, RestoreError};
use crate::value::{Row, Value};

/// Keeps the rows a condition holds for; a row whose condition fails to evaluate is
/// rejected with the reason.
pub struct Filter {
    condition: Compiled,
}

impl Filter {
    pub fn new(condition: Compiled) -> Filter {
        Filter { condition }
    }
}

impl Operator for Filter {
    fn name(&self) -> &'static str {
        "filter"
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        let condition = &self.condition;
        batch.retain_in_window(|row, time, window, origin| {
            let ctx = Context {
                row,
                rowtime: time,
                window,
                slots: &[],
            };
            match condition.test(&ctx) {
                Ok(keep) => keep,
                Err(error) => {
                    emit.reject(origin, error);
                    false
                }
            }
        });
    }
}

fn evaluate(
    exprs: &[Compiled],
    row: &Row,
    time: i64,
    out: &mut Vec<Value>,
) -> Result<(), RowError> {
    evaluate_in(exprs, row, time, None, out)
}

/// `evaluate` for a row that carries its source's window (WINDOWSTART and WINDOWEND).
fn evaluate_in(
    exprs: &[Compiled],
    row: &Row,
    time: i64,
    window: Option<(i64, i64)>,
    out: &mut Vec<Value>,
) -> Result<(), RowError> {
    let ctx = Context {
        row,
        rowtime: time,
        window,
        slots: &[],
    };
    out.clear();
    for expr in exprs {
        expr.eval_onto(&ctx, out)?;
    }
    Ok(())
}

/// Replaces each row by the values of a list of expressions over it: the SELECT list of a
/// derived table, whose rows go on to the outer query.
pub struct Map {
    columns: Vec<Compiled>,
    next: RowBatch,
}

impl Map {
    pub fn new(columns: Vec<Compiled>) -> Map {
        Map {
            columns,
            next: RowBatch::new(),
        }
    }
}

impl Operator for Map {
    fn name(&self) -> &'static str {
        "map"
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        self.next.clear();
        let width = self.columns.len();
        for at in 0..batch.len() {
            let (time, origin) = (batch.time(at), batch.origin(at));
            let row = self.next.push(width, time, origin);
            if let Err(error) = evaluate(&self.columns, batch.row(at), time, row) {
                self.next.pop();
                emit.reject(origin, error);
            }
        }
        batch.swap(&mut self.next);
    }
}

/// A stream's output records: the key columns (the source's key columns the SELECT names)
/// and the value columns.
pub struct Project {
    key: Vec<Compiled>,
    value: Vec<Compiled>,
}

impl Project {
    pub fn new(key: Vec<Compiled>, value: Vec<Compiled>) -> Project {
        Project { key, value }
    }
}

impl Operator for Project {
    fn name(&self) -> &'static str {
        "project"
    }

    /// A stream's record without a value goes on as one, under its key, as ksqlDB
    /// forwards it.
    fn takes_deletes(&self) -> bool {
        true
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        for at in 0..batch.len() {
            let (row, time, window) = (batch.row(at), batch.time(at), batch.window(at));
            let record = emit.out.next_record();
            // A windowed source's record keeps its window.
            record.window = window;
            record.timestamp = time;
            if batch.is_delete(at) {
                record.value = None;
                if let Err(error) = evaluate_in(&self.key, row, time, window, &mut record.key) {
                    emit.out.pop();
                    emit.reject(batch.origin(at), error);
                }
                continue;
            }
            let values = record.value.get_or_insert_with(Vec::new);
            let result = evaluate_in(&self.key, row, time, window, &mut record.key)
                .and_then(|()| evaluate_in(&self.value, row, time, window, values));
            if let Err(error) = result {
                let len = emit.out.len();
                emit.out.truncate(len - 1);
                emit.reject(batch.origin(at), error);
            }
        }
    }
}

/// A table's rows through WHERE and the SELECT list into another table (CREATE TABLE ... AS
/// SELECT ... FROM a_table): each change is written under its key. Without a WHERE every
/// change goes on, a tombstone as a tombstone. With one, as ksqlDB's table filter with old
/// values: a row that passes is written; a tombstone, or a row that fails, writes a tombstone
/// only when the key's previous row passed, and nothing otherwise
/// (engine/docs/ksqldb-tables.md, section 3).
pub struct TableProject {
    condition: Option<Compiled>,
    key: Vec<Compiled>,
    value: Vec<Compiled>,
    /// The keys (in key form) whose last row passed the WHERE (unused without one).
    passing: std::collections::HashSet<Vec<u8>>,
}

impl TableProject {
    pub fn new(
        condition: Option<Compiled>,
        key: Vec<Compiled>,
        value: Vec<Compiled>,
    ) -> TableProject {
        TableProject {
            condition,
            key,
            value,
            passing: Default::default(),
        }
    }
}

impl Operator for TableProject {
    fn name(&self) -> &'static str {
        "table_project"
    }

    fn takes_deletes(&self) -> bool {
        true
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        for at in 0..batch.len() {
            let (row, time) = (batch.row(at), batch.time(at));
            let ctx = Context {
                row,
                rowtime: time,
                window: None,
                slots: &[],
            };
            let kept = match (&self.condition, batch.is_delete(at)) {
                (_, true) => Ok(false),
                (None, false) => Ok(true),
                (Some(condition), false) => condition.test(&ctx),
            };
            let record = emit.out.next_record();
            record.window = None;
            record.timestamp = time;
            let result =
                evaluate(&self.key, row, time, &mut record.key).and_then(|()| match kept {
                    Ok(true) => {
                        let values = record.value.get_or_insert_with(Vec::new);
                        evaluate(&self.value, row, time, values)
                    }
                    Ok(false) => {
                        record.value = None;
                        Ok(())
                    }
                    Err(error) => Err(error.into()),
                });
            if let Err(error) = result {
                emit.out.pop();
                emit.reject(batch.origin(at), error);
                continue;
            }
            if self.condition.is_none() {
                continue;
            }
            let Some(record) = emit.out.last() else {
                continue;
            };
            let mut key = Vec::new();
            for value in &record.key {
                value.write_key(&mut key);
            }
            let passed_before = if record.value.is_some() {
                !self.passing.insert(key)
            } else {
                self.passing.remove(&key)
            };
            if record.value.is_none() && !passed_before {
                emit.out.pop();
            }
        }
    }

    fn state_size(&self) -> usize {
        self.passing.len()
    }

    fn state_bytes(&self) -> usize {
        crate::heap::HeapBytes::heap_bytes(&self.passing)
    }

    fn snapshot(&self) -> Result<GroupSnapshot, SnapshotError> {
        let mut parts: BTreeMap<KeyGroup, Vec<&[u8]>> = BTreeMap::new();
        for key in &self.passing {
            parts.entry(key_group(key)).or_default().push(key);
        }
        encode_groups("table_project", parts)
    }

    fn restore(&mut self, groups: &GroupSnapshot) -> Result<(), RestoreError> {
        self.passing
            .retain(|key| !groups.contains_key(&key_group(key)));
        for (group, bytes) in groups {
            let keys: Vec<Vec<u8>> = decode_group("table_project", *group, bytes)?;
            self.passing.extend(keys);
        }
        Ok(())
    }

    /// After a join routed through a repartition topic, the rows' keys are the join's.
    fn forget(&mut self, moved: &dyn Fn(KeyGroup) -> bool) {
        self.passing.retain(|key| !moved(key_group(key)));
    }
}
