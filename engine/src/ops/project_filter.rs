//! The stateless operators: WHERE (`Filter`), a derived table's SELECT list (`Map`, rows on
//! to the next operator) and a stream's output columns (`Project`, key and value columns of
//! the output records).

use crate::expr::{Compiled, Context};
use crate::ops::{Emit, Operator, RowBatch, RowError};
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
        batch.retain(|row, time, origin| {
            let ctx = Context {
                row,
                rowtime: time,
                window: None,
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
    let ctx = Context {
        row,
        rowtime: time,
        window: None,
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

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        for at in 0..batch.len() {
            let (row, time) = (batch.row(at), batch.time(at));
            let record = emit.out.next_record();
            record.window = None;
            record.timestamp = time;
            let values = record.value.get_or_insert_with(Vec::new);
            let result = evaluate(&self.key, row, time, &mut record.key)
                .and_then(|()| evaluate(&self.value, row, time, values));
            if let Err(error) = result {
                let len = emit.out.len();
                emit.out.truncate(len - 1);
                emit.reject(batch.origin(at), error);
            }
        }
    }
}

/// A table's rows through WHERE and the SELECT list into another table (CREATE TABLE ... AS
/// SELECT ... FROM a_table): each change is written under its key; a tombstone, or a row
/// the WHERE leaves out, writes a tombstone, as ksqlDB's table filter forwards one.
pub struct TableProject {
    condition: Option<Compiled>,
    key: Vec<Compiled>,
    value: Vec<Compiled>,
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
        }
    }
}

impl Operator for TableProject {
    fn name(&self) -> &'static str {
        "table_project"
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
                let len = emit.out.len();
                emit.out.truncate(len - 1);
                emit.reject(batch.origin(at), error);
            }
        }
    }
}
