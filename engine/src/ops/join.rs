//! Joins, with ksqlDB's semantics (engine/docs/ksqldb-joins.md). A join reads two inputs;
//! each row the query decodes holds both inputs' columns side by side, the other side's
//! null, and the batch says which input its rows came from (`RowBatch::input`). The join
//! fills the other side's columns and passes the joined rows on to the rest of the chain.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::expr::{Compiled, Context};
use crate::ops::{
    decode_group, encode_groups, Emit, GroupSnapshot, Operator, RowBatch, RowError, SnapshotError,
};
use crate::sql::ast::JoinKind;
use crate::state::{key_group, KeyGroup, RestoreError};
use crate::value::Value;

/// A stream joined with a table on the table's primary key: each stream row meets the
/// table's row as it stands when the stream row is processed. Table changes update the
/// state and emit nothing; a stream row whose key the table lacks is dropped by INNER and
/// passed on with null table columns by LEFT.
pub struct StreamTableJoin {
    kind: JoinKind,
    stream_input: usize,
    /// The stream's side of the ON condition, over the joined row.
    stream_key: Compiled,
    /// Where the table's primary key and its columns sit in the joined row.
    table_key: usize,
    table_columns: Range<usize>,
    /// Set when the output's key is the table's key column: a LEFT join's row without a
    /// table row still carries the join key there.
    key_on_table: bool,
    /// The table's rows by their key bytes (`Value::write_key`).
    rows: HashMap<Vec<u8>, Vec<Value>>,
    key_bytes: Vec<u8>,
}

impl StreamTableJoin {
    pub fn new(
        kind: JoinKind,
        stream_input: usize,
        stream_key: Compiled,
        table_key: usize,
        table_columns: Range<usize>,
        key_on_table: bool,
    ) -> StreamTableJoin {
        StreamTableJoin {
            kind,
            stream_input,
            stream_key,
            table_key,
            table_columns,
            key_on_table,
            rows: HashMap::new(),
            key_bytes: Vec::new(),
        }
    }

    /// Table changes: each row replaces the key's row, a tombstone removes it.
    fn update_table(&mut self, batch: &mut RowBatch) {
        for at in 0..batch.len() {
            let row = batch.row(at);
            self.key_bytes.clear();
            row[self.table_key].write_key(&mut self.key_bytes);
            if batch.is_delete(at) {
                self.rows.remove(&self.key_bytes);
            } else {
                let columns = row[self.table_columns.clone()].to_vec();
                self.rows.insert(self.key_bytes.clone(), columns);
            }
        }
        batch.clear();
    }

    /// Stream rows: each takes the table's row for its key.
    fn join_stream(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        let Self {
            kind,
            stream_key,
            table_key,
            table_columns,
            key_on_table,
            rows,
            key_bytes,
            ..
        } = self;
        batch.retain_mut(|row, time, origin| {
            let key = {
                let ctx = Context {
                    row,
                    rowtime: time,
                    window: None,
                    slots: &[],
                };
                match stream_key.eval(&ctx) {
                    Ok(key) => key,
                    Err(error) => {
                        emit.reject(origin, error);
                        return false;
                    }
                }
            };
            if key.is_null() {
                emit.reject(
                    origin,
                    RowError::Null {
                        what: "join key",
                        consequence: "ksqlDB drops a stream row it cannot join on",
                    },
                );
                return false;
            }
            key_bytes.clear();
            key.write_key(key_bytes);
            match rows.get(key_bytes.as_slice()) {
                Some(table_row) => {
                    row[table_columns.clone()].clone_from_slice(table_row);
                    true
                }
                None if *kind == JoinKind::Left => {
                    if *key_on_table {
                        row[*table_key] = key;
                    }
                    true
                }
                None => false,
            }
        });
    }
}

/// One key group's table rows, in a snapshot.
#[derive(Serialize, Deserialize)]
struct TablePart {
    rows: Vec<(Vec<u8>, Vec<Value>)>,
}

impl Operator for StreamTableJoin {
    fn name(&self) -> &'static str {
        "stream_table_join"
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        if batch.input() == self.stream_input {
            // A stream record without a value has nothing to join.
            batch.drop_deletes();
            self.join_stream(batch, emit);
        } else {
            self.update_table(batch);
        }
    }

    fn takes_deletes(&self) -> bool {
        true
    }

    fn state_size(&self) -> usize {
        self.rows.len()
    }

    fn snapshot(&self) -> Result<GroupSnapshot, SnapshotError> {
        let mut parts: BTreeMap<KeyGroup, TablePart> = BTreeMap::new();
        for (key, row) in &self.rows {
            parts
                .entry(key_group(key))
                .or_insert_with(|| TablePart { rows: Vec::new() })
                .rows
                .push((key.clone(), row.clone()));
        }
        encode_groups("stream_table_join", parts)
    }

    fn restore(&mut self, groups: &GroupSnapshot) -> Result<(), RestoreError> {
        self.rows
            .retain(|key, _| !groups.contains_key(&key_group(key)));
        for (group, bytes) in groups {
            let part: TablePart = decode_group("stream_table_join", *group, bytes)?;
            self.rows.extend(part.rows);
        }
        Ok(())
    }
}
