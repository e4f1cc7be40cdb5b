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

/// One table's rows by key bytes, with the timestamp of the record that last wrote each.
type TableRows = HashMap<Vec<u8>, (Vec<Value>, i64)>;

/// Two tables joined on their primary keys (Kafka's KTableKTable*Join processors, ksqlDB's
/// RIGHT as the mirrored LEFT): an update of either side emits the joined row for its key,
/// or a tombstone, as the join type says (engine/docs/ksqldb-joins.md, section 5). The
/// output time is the later of the update's and the other side's row's.
pub struct TableTableJoin {
    kind: JoinKind,
    /// Each side's primary key and columns in the joined row, left first.
    keys: [usize; 2],
    columns: [Range<usize>; 2],
    /// Where the output's key goes in the rows this join passes on, filled with the join
    /// key on every row (a side may be absent).
    key_place: usize,
    /// How wide the rows this join passes on are (the joined row, and a synthetic key
    /// column when the join has one).
    width: usize,
    tables: [TableRows; 2],
    next: RowBatch,
    key_bytes: Vec<u8>,
}

impl TableTableJoin {
    pub fn new(
        kind: JoinKind,
        keys: [usize; 2],
        columns: [Range<usize>; 2],
        key_place: usize,
        width: usize,
    ) -> TableTableJoin {
        TableTableJoin {
            kind,
            keys,
            columns,
            key_place,
            width,
            tables: [HashMap::new(), HashMap::new()],
            next: RowBatch::new(),
            key_bytes: Vec::new(),
        }
    }

    /// Whether side `side` is kept when the other has no row.
    fn outer(&self, side: usize) -> bool {
        matches!(
            (self.kind, side),
            (JoinKind::Full, _) | (JoinKind::Left, 0) | (JoinKind::Right, 1)
        )
    }
}

impl Operator for TableTableJoin {
    fn name(&self) -> &'static str {
        "table_table_join"
    }

    fn process(&mut self, batch: &mut RowBatch, _emit: &mut Emit<'_>) {
        let side = batch.input().min(1);
        let other = 1 - side;
        self.next.clear();
        for at in 0..batch.len() {
            let row = batch.row(at);
            let (time, origin) = (batch.time(at), batch.origin(at));
            let key = row[self.keys[side]].clone();
            self.key_bytes.clear();
            key.write_key(&mut self.key_bytes);
            let new = (!batch.is_delete(at)).then(|| row[self.columns[side].clone()].to_vec());
            let old = match &new {
                Some(columns) => self.tables[side]
                    .insert(self.key_bytes.clone(), (columns.clone(), time))
                    .is_some(),
                None => self.tables[side].remove(&self.key_bytes).is_some(),
            };
            let other_row = self.tables[other].get(&self.key_bytes);
            // What the update gives: the joined row with each side present or not, or a
            // tombstone; nothing when the join has no row for the key before or after.
            let emitted: Option<(bool, bool)> = match (&new, other_row) {
                (Some(_), Some(_)) => Some((true, true)),
                (None, Some(_)) if self.outer(other) => Some((false, true)),
                (None, Some(_)) => Some((false, false)),
                (Some(_), None) if self.outer(side) => Some((true, false)),
                (None, None) if self.outer(side) && old => Some((false, false)),
                _ => None,
            };
            let Some((this_present, other_present)) = emitted else {
                continue;
            };
            let time = other_row.map_or(time, |(_, other_time)| time.max(*other_time));
            let out = self.next.push(self.width, time, origin);
            out.iter_mut().for_each(|v| *v = Value::Null);
            let tombstone = !this_present && !other_present;
            if this_present {
                if let Some(columns) = &new {
                    out[self.columns[side].clone()].clone_from_slice(columns);
                }
            }
            if other_present {
                if let Some((columns, _)) = other_row {
                    out[self.columns[other].clone()].clone_from_slice(columns);
                }
            }
            out[self.key_place] = key;
            if tombstone {
                let last = self.next.len() - 1;
                self.next.set_delete(last);
            }
        }
        batch.swap(&mut self.next);
    }

    fn takes_deletes(&self) -> bool {
        true
    }

    fn state_size(&self) -> usize {
        self.tables[0].len() + self.tables[1].len()
    }

    fn snapshot(&self) -> Result<GroupSnapshot, SnapshotError> {
        let mut parts: BTreeMap<KeyGroup, TablesPart> = BTreeMap::new();
        for (side, table) in self.tables.iter().enumerate() {
            for (key, (row, time)) in table {
                parts
                    .entry(key_group(key))
                    .or_insert_with(|| TablesPart {
                        rows: [Vec::new(), Vec::new()],
                    })
                    .rows[side]
                    .push((key.clone(), row.clone(), *time));
            }
        }
        encode_groups("table_table_join", parts)
    }

    fn restore(&mut self, groups: &GroupSnapshot) -> Result<(), RestoreError> {
        for table in &mut self.tables {
            table.retain(|key, _| !groups.contains_key(&key_group(key)));
        }
        for (group, bytes) in groups {
            let part: TablesPart = decode_group("table_table_join", *group, bytes)?;
            for (side, rows) in part.rows.into_iter().enumerate() {
                self.tables[side].extend(rows.into_iter().map(|(k, row, time)| (k, (row, time))));
            }
        }
        Ok(())
    }
}

/// A table row in a snapshot: its key bytes, its columns and its time.
type SavedRow = (Vec<u8>, Vec<Value>, i64);

/// One key group's rows of both tables, in a snapshot.
#[derive(Serialize, Deserialize)]
struct TablesPart {
    rows: [Vec<SavedRow>; 2],
}
