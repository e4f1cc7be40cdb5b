//! GROUP BY keys: a row's group values and their byte form, which state keys start with
//! and key groups are computed from.

use crate::expr::{Compiled, Context};
use crate::ops::RowError;
use crate::value::{Row, Value};

pub struct Grouping {
    exprs: Vec<Compiled>,
}

impl Grouping {
    pub fn new(exprs: Vec<Compiled>) -> Grouping {
        Grouping { exprs }
    }

    /// How many GROUP BY values a key holds.
    pub fn width(&self) -> usize {
        self.exprs.len()
    }

    /// Evaluates a row's group into `group` and its byte form into `key` (cleared first).
    /// A null group value is an error, as ksqlDB drops such records.
    pub fn key_row(
        &self,
        row: &Row,
        timestamp: i64,
        group: &mut Vec<Value>,
        key: &mut Vec<u8>,
    ) -> Result<(), RowError> {
        let ctx = Context {
            row,
            rowtime: timestamp,
            window: None,
            slots: &[],
        };
        if group.len() != self.exprs.len() {
            group.resize_with(self.exprs.len(), || Value::Null);
        }
        for (slot, expr) in group.iter_mut().zip(&self.exprs) {
            match expr {
                Compiled::Column(i) => row[*i].assign_to(slot),
                other => *slot = other.eval(&ctx)?,
            }
            if slot.is_null() {
                return Err(RowError::Null {
                    what: "GROUP BY key",
                    consequence: "ksqlDB drops such records",
                });
            }
        }
        key.clear();
        for value in group.iter() {
            value.write_key(key);
        }
        Ok(())
    }

    /// The GROUP BY values a state key starts with.
    pub fn group_of(&self, key: &[u8]) -> Result<Vec<Value>, RowError> {
        let mut rest = key;
        (0..self.exprs.len())
            .map(|_| {
                Value::read_key(&mut rest)
                    .ok_or(RowError::CorruptState("a state key does not read back"))
            })
            .collect()
    }

    pub fn exprs(&self) -> &[Compiled] {
        &self.exprs
    }
}
