//! Joins, with ksqlDB's semantics (engine/docs/ksqldb-joins.md). A join reads two inputs;
//! each row the query decodes holds both inputs' columns side by side, the other side's
//! null, and the batch says which input its rows came from (`RowBatch::input`). The join
//! fills the other side's columns and passes the joined rows on to the rest of the chain.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::expr::{Compiled, Context};
use crate::heap::HeapBytes;
use crate::ops::{
    decode_group, encode_groups, Emit, GroupSnapshot, Operator, RowBatch, RowError, SnapshotError,
    NO_ORIGIN,
};
use crate::sql::ast::JoinKind;
use crate::state::{key_group, KeyGroup, RestoreError};
use crate::value::Value;

/// Where one side's columns sit in the joined row: its sources' columns and, on the left of
/// a later step of a multi-way join, the key columns of the steps before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span(pub Vec<Range<usize>>);

impl Span {
    /// The side's values, in the span's order.
    fn gather(&self, row: &[Value]) -> Vec<Value> {
        let mut values = Vec::with_capacity(self.0.iter().map(ExactSizeIterator::len).sum());
        for range in &self.0 {
            values.extend_from_slice(&row[range.clone()]);
        }
        values
    }

    /// Puts values `gather` took back in their places.
    fn scatter(&self, out: &mut [Value], values: &[Value]) {
        let mut from = 0;
        for range in &self.0 {
            let to = from + range.len();
            out[range.clone()].clone_from_slice(&values[from..to]);
            from = to;
        }
    }
}

impl From<Range<usize>> for Span {
    fn from(range: Range<usize>) -> Span {
        Span(vec![range])
    }
}

/// Which side of a join a batch's rows are: the inputs before `right` feed its left side
/// (through the joins before it), `right` its right side; later inputs pass it by, for the
/// joins after it.
fn side_of(input: usize, right: usize) -> Option<usize> {
    match input.cmp(&right) {
        std::cmp::Ordering::Less => Some(0),
        std::cmp::Ordering::Equal => Some(1),
        std::cmp::Ordering::Greater => None,
    }
}

/// A stream joined with a table on the table's primary key: each stream row meets the
/// table's row as it stands when the stream row is processed. Table changes update the
/// state and emit nothing; a stream row whose key the table lacks is dropped by INNER and
/// passed on with null table columns by LEFT.
pub struct StreamTableJoin {
    kind: JoinKind,
    /// The table's input; those before it are the stream's.
    table_input: usize,
    /// The stream's side of the ON condition, over the joined row.
    stream_key: Compiled,
    /// Where the table's primary key and its columns sit in the joined row.
    table_key: usize,
    table_columns: Range<usize>,
    /// Where the join key goes in every joined row: the output's key column (a LEFT join's
    /// row without a table row still carries the key in the table's key column), or the key
    /// column a later step of a multi-way join reads.
    key_place: Option<usize>,
    /// How wide the joined rows are (wider than the decoded ones in a multi-way join).
    width: usize,
    /// The table's rows by their key bytes (`Value::write_key`).
    rows: HashMap<Vec<u8>, Vec<Value>>,
    key_bytes: Vec<u8>,
}

impl StreamTableJoin {
    pub fn new(
        kind: JoinKind,
        table_input: usize,
        stream_key: Compiled,
        table_key: usize,
        table_columns: Range<usize>,
        key_place: Option<usize>,
        width: usize,
    ) -> StreamTableJoin {
        StreamTableJoin {
            kind,
            table_input,
            stream_key,
            table_key,
            table_columns,
            key_place,
            width,
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
            table_columns,
            key_place,
            width,
            rows,
            key_bytes,
            ..
        } = self;
        batch.retain_mut(|row, time, origin| {
            if row.len() < *width {
                row.resize(*width, Value::Null);
            }
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
            let kept = match rows.get(key_bytes.as_slice()) {
                Some(table_row) => {
                    row[table_columns.clone()].clone_from_slice(table_row);
                    true
                }
                None => *kind == JoinKind::Left,
            };
            if let (true, Some(place)) = (kept, *key_place) {
                row[place] = key;
            }
            kept
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
        match side_of(batch.input(), self.table_input) {
            Some(0) => {
                // A stream record without a value has nothing to join.
                batch.drop_deletes();
                self.join_stream(batch, emit);
            }
            Some(_) => self.update_table(batch),
            None => {}
        }
    }

    fn takes_deletes(&self) -> bool {
        true
    }

    fn state_size(&self) -> usize {
        self.rows.len()
    }

    fn state_bytes(&self) -> usize {
        self.rows.heap_bytes()
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
            check_widths(
                "stream_table_join",
                *group,
                part.rows.iter().map(|(_, row)| row.len()),
                self.table_columns.len(),
            )?;
            self.rows.extend(part.rows);
        }
        Ok(())
    }

    fn splits_by_join_key(&self) -> bool {
        true
    }

    fn joined_input(&self) -> Option<usize> {
        Some(self.table_input)
    }

    fn join_key(&self, input: usize, row: &[Value], time: i64, key: &mut Vec<u8>) -> bool {
        match side_of(input, self.table_input) {
            Some(0) => eval_key(&self.stream_key, row, time, key),
            Some(_) => match row.get(self.table_key) {
                Some(value) => {
                    value.write_key(key);
                    true
                }
                None => false,
            },
            None => false,
        }
    }

    fn forget(&mut self, moved: &dyn Fn(KeyGroup) -> bool) {
        self.rows.retain(|key, _| !moved(key_group(key)));
    }
}

/// A restored row must fill the columns it is copied into: a snapshot of another query's
/// state can read back as rows of another width.
pub(super) fn check_widths(
    operator: &'static str,
    group: KeyGroup,
    widths: impl IntoIterator<Item = usize>,
    width: usize,
) -> Result<(), RestoreError> {
    match widths.into_iter().find(|&w| w != width) {
        Some(found) => Err(RestoreError(format!(
            "key group {group} of {operator}: a row of {found} columns where the query has {width}"
        ))),
        None => Ok(()),
    }
}

/// Writes the key bytes of `expr` over a decoded row, as a join computes its key; false when
/// the key cannot be computed or is null.
fn eval_key(expr: &Compiled, row: &[Value], time: i64, key: &mut Vec<u8>) -> bool {
    let ctx = Context {
        row,
        rowtime: time,
        window: None,
        slots: &[],
    };
    match expr.eval(&ctx) {
        Ok(value) if !value.is_null() => {
            value.write_key(key);
            true
        }
        _ => false,
    }
}

/// One table's rows by key bytes, with the timestamp of the record that last wrote each.
pub(super) type TableRows = HashMap<Vec<u8>, (Vec<Value>, i64)>;

/// Two tables joined on their primary keys (Kafka's KTableKTable*Join processors, ksqlDB's
/// RIGHT as the mirrored LEFT): an update of either side emits the joined row for its key,
/// or a tombstone, as the join type says (engine/docs/ksqldb-joins.md, section 5). The
/// output time is the later of the update's and the other side's row's.
pub struct TableTableJoin {
    kind: JoinKind,
    /// The right table's input; those before it feed the left side.
    right_input: usize,
    /// Each side's primary key and columns in the joined row, left first.
    keys: [usize; 2],
    columns: [Span; 2],
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
        right_input: usize,
        keys: [usize; 2],
        columns: [Span; 2],
        key_place: usize,
        width: usize,
    ) -> TableTableJoin {
        TableTableJoin {
            kind,
            right_input,
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
        let Some(side) = side_of(batch.input(), self.right_input) else {
            return;
        };
        let other = 1 - side;
        self.next.clear();
        for at in 0..batch.len() {
            let row = batch.row(at);
            let (time, origin) = (batch.time(at), batch.origin(at));
            let key = row[self.keys[side]].clone();
            self.key_bytes.clear();
            key.write_key(&mut self.key_bytes);
            let new = (!batch.is_delete(at)).then(|| self.columns[side].gather(row));
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
                    self.columns[side].scatter(out, columns);
                }
            }
            if other_present {
                if let Some((columns, _)) = other_row {
                    self.columns[other].scatter(out, columns);
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

    fn state_bytes(&self) -> usize {
        self.tables[0].heap_bytes() + self.tables[1].heap_bytes()
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

    fn splits_by_join_key(&self) -> bool {
        true
    }

    fn joined_input(&self) -> Option<usize> {
        Some(self.right_input)
    }

    fn join_key(&self, input: usize, row: &[Value], _time: i64, key: &mut Vec<u8>) -> bool {
        let Some(side) = side_of(input, self.right_input) else {
            return false;
        };
        match row.get(self.keys[side]) {
            Some(value) => {
                value.write_key(key);
                true
            }
            None => false,
        }
    }

    fn forget(&mut self, moved: &dyn Fn(KeyGroup) -> bool) {
        for table in &mut self.tables {
            table.retain(|key, _| !moved(key_group(key)));
        }
    }
}

/// A table row in a snapshot: its key bytes, its columns and its time.
pub(super) type SavedRow = (Vec<u8>, Vec<Value>, i64);

/// One key group's rows of both tables, in a snapshot.
#[derive(Serialize, Deserialize)]
struct TablesPart {
    rows: [Vec<SavedRow>; 2],
}

/// How a stream-stream join's window looks: `WITHIN (before, after) GRACE PERIOD grace`
/// (ksqlDB's JoinWindows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindowSpec {
    pub before: i64,
    pub after: i64,
    /// `None` without GRACE PERIOD: Kafka's deprecated windows, whose grace is a day less
    /// twice `before` and whose outer rows come out at once (engine/docs/ksqldb-joins.md 4.5).
    pub grace: Option<i64>,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Kafka's smallest segment interval for window stores.
const MIN_SEGMENT_INTERVAL_MS: i64 = 60_000;

/// A stored record: its time, its arrival number (ties keep arrival order) and columns.
type WindowedRow = (i64, u64, Vec<Value>);

/// One side's window store: a RocksDB segmented store that keeps duplicates. A record is
/// stored only while its segment is live, and segments older than the newest time less the
/// retention are dropped (Kafka's AbstractRocksDBSegmentedBytesStore).
#[derive(Default, Serialize, Deserialize)]
struct WindowStore {
    /// The largest time put so far.
    observed: Option<i64>,
    /// By key bytes: the records, in arrival order.
    rows: HashMap<Vec<u8>, Vec<WindowedRow>>,
    seq: u64,
    /// The lowest live segment the rows were last cleaned up to.
    cleaned: i64,
}

impl WindowStore {
    /// Stores a record unless its segment has expired (false then).
    fn put(
        &mut self,
        key: &[u8],
        columns: Vec<Value>,
        time: i64,
        retention: i64,
        interval: i64,
    ) -> bool {
        let observed = self.observed.map_or(time, |o| o.max(time));
        self.observed = Some(observed);
        let min_live = observed
            .saturating_sub(retention)
            .div_euclid(interval)
            .max(self.cleaned);
        // Java's long division truncates towards zero; times here are not negative.
        let stored = time / interval >= min_live;
        if stored {
            self.seq += 1;
            self.rows
                .entry(key.to_vec())
                .or_default()
                .push((time, self.seq, columns));
        }
        if min_live > self.cleaned {
            self.cleaned = min_live;
            self.rows.retain(|_, records| {
                records.retain(|(t, ..)| t / interval >= min_live);
                !records.is_empty()
            });
        }
        stored
    }

    /// The key's records with times in `from..=to`, by time then arrival.
    fn fetch(&self, key: &[u8], from: i64, to: i64) -> Vec<(i64, &[Value])> {
        let mut found: Vec<(i64, u64, &[Value])> = self
            .rows
            .get(key)
            .map(|records| {
                records
                    .iter()
                    .filter(|(t, ..)| (from..=to).contains(t))
                    .map(|(t, seq, columns)| (*t, *seq, columns.as_slice()))
                    .collect()
            })
            .unwrap_or_default();
        found.sort_by_key(|(t, seq, _)| (*t, *seq));
        found
            .into_iter()
            .map(|(t, _, columns)| (t, columns))
            .collect()
    }

    fn len(&self) -> usize {
        self.rows.values().map(Vec::len).sum()
    }
}

/// Unmatched records of an outer side waiting for their window to close: by time, then
/// the Kafka-right side before the Kafka-left one, then key bytes (Kafka's
/// TimestampedKeyAndJoinSide order).
type OuterStore = BTreeMap<(i64, u8, Vec<u8>), OuterEntry>;

#[derive(Clone, Serialize, Deserialize)]
struct OuterEntry {
    key: Value,
    /// The ksqlDB side (0 left, 1 right) whose record this is.
    side: usize,
    rows: Vec<Vec<Value>>,
}

impl HeapBytes for OuterEntry {
    fn heap_bytes(&self) -> usize {
        self.key.heap_bytes() + self.rows.heap_bytes()
    }
}

impl HeapBytes for WindowStore {
    fn heap_bytes(&self) -> usize {
        self.rows.heap_bytes()
    }
}

impl HeapBytes for JoinTask {
    fn heap_bytes(&self) -> usize {
        self.stores[0].heap_bytes() + self.stores[1].heap_bytes() + self.outer.heap_bytes()
    }
}

/// A Kafka Streams task's state: per input partition.
#[derive(Default, Serialize, Deserialize)]
struct JoinTask {
    stores: [WindowStore; 2],
    stream_time: Option<i64>,
    min_time: Option<i64>,
    outer: OuterStore,
}

/// Two streams joined within a time window (Kafka's KStreamKStreamJoin as ksqlDB 0.29 runs
/// it, engine/docs/ksqldb-joins.md section 4): each record joins every record of the other
/// side with the same key whose time is within the window, both bounds inclusive, at the
/// later of the two times. An unmatched record of an outer side is emitted with nulls at
/// once without GRACE PERIOD; with one it waits until stream time passes its window and
/// grace, and is dropped if a match comes first.
pub struct StreamStreamJoin {
    kind: JoinKind,
    window: JoinWindowSpec,
    grace: i64,
    retention: i64,
    segment_interval: i64,
    /// The right stream's input; those before it feed the left side.
    right_input: usize,
    /// Each side's join key, over the joined row.
    keys: [Compiled; 2],
    columns: [Span; 2],
    key_place: usize,
    width: usize,
    tasks: HashMap<u32, JoinTask>,
    next: RowBatch,
}

impl StreamStreamJoin {
    pub fn new(
        kind: JoinKind,
        window: JoinWindowSpec,
        right_input: usize,
        keys: [Compiled; 2],
        columns: [Span; 2],
        key_place: usize,
        width: usize,
    ) -> StreamStreamJoin {
        let grace = window.grace.unwrap_or_else(|| {
            DAY_MS
                .saturating_sub(window.before.saturating_mul(2))
                .max(0)
        });
        // Saturating, here and below: WITHIN and GRACE PERIOD may each be up to i64::MAX
        // milliseconds, and event times too.
        let retention = window
            .before
            .saturating_add(window.after)
            .saturating_add(grace);
        StreamStreamJoin {
            kind,
            window,
            grace,
            retention,
            segment_interval: (retention / 2).max(MIN_SEGMENT_INTERVAL_MS),
            right_input,
            keys,
            columns,
            key_place,
            width,
            tasks: HashMap::new(),
            next: RowBatch::new(),
        }
    }

    /// ksqlDB runs `a RIGHT JOIN b` as Kafka's `b.leftJoin(a)` with the same window.
    fn kafka_left(&self) -> usize {
        usize::from(self.kind == JoinKind::Right)
    }

    /// Whether records of ksqlDB side `side` are kept without a match.
    fn outer(&self, side: usize) -> bool {
        match self.kind {
            JoinKind::Inner => false,
            JoinKind::Left => side == 0,
            JoinKind::Right => side == 1,
            JoinKind::Full => true,
        }
    }

    /// With GRACE PERIOD unmatched outer records wait in the outer store.
    fn delays_outer_rows(&self) -> bool {
        self.window.grace.is_some() && self.kind != JoinKind::Inner
    }

    /// The Kafka-side parameters of a record of ksqlDB side `side`: (before, after,
    /// look-back) of its processor.
    fn side_window(&self, side: usize) -> (i64, i64, i64) {
        if side == self.kafka_left() {
            (self.window.before, self.window.after, self.window.before)
        } else {
            (self.window.after, self.window.before, self.window.after)
        }
    }

    /// Appends a joined row: `side`'s columns and the other side's (or nulls).
    fn push_row(
        next: &mut RowBatch,
        shape: (&[Span; 2], usize, usize),
        key: &Value,
        sides: [Option<&[Value]>; 2],
        time: i64,
        origin: u32,
    ) {
        let (columns, key_place, width) = shape;
        let out = next.push(width, time, origin);
        out.iter_mut().for_each(|v| *v = Value::Null);
        for (side, values) in sides.iter().enumerate() {
            if let Some(values) = values {
                columns[side].scatter(out, values);
            }
        }
        out[key_place] = key.clone();
    }
}

impl Operator for StreamStreamJoin {
    fn name(&self) -> &'static str {
        "stream_stream_join"
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        let Some(side) = side_of(batch.input(), self.right_input) else {
            return;
        };
        // A stream record without a value does not join (and moves no stream time).
        batch.drop_deletes();
        let other = 1 - side;
        let kafka_left = self.kafka_left();
        let kafka_flag = |s: usize| -> u8 { u8::from(s == kafka_left) };
        let (before_s, after_s, lookback) = self.side_window(side);
        let outer_here = self.outer(side);
        let delays = self.delays_outer_rows();
        let (grace, retention, interval) = (self.grace, self.retention, self.segment_interval);
        let StreamStreamJoin {
            keys,
            columns,
            key_place,
            width,
            tasks,
            next,
            ..
        } = self;
        let shape = (&*columns, *key_place, *width);
        next.clear();
        for at in 0..batch.len() {
            let row = batch.row(at);
            let (time, origin) = (batch.time(at), batch.origin(at));
            let ctx = Context {
                row,
                rowtime: time,
                window: None,
                slots: &[],
            };
            let key = match keys[side].eval(&ctx) {
                Ok(key) if !key.is_null() => key,
                Ok(_) => {
                    emit.reject(
                        origin,
                        RowError::Null {
                            what: "join key",
                            consequence: "ksqlDB skips a stream record it cannot join on",
                        },
                    );
                    continue;
                }
                Err(error) => {
                    emit.reject(origin, error);
                    continue;
                }
            };
            let mut key_bytes = Vec::new();
            key.write_key(&mut key_bytes);
            let own = columns[side].gather(row);
            let task = tasks.entry(batch.partition_of(origin)).or_default();
            let stream_time = task.stream_time.map_or(time, |t| t.max(time));
            task.stream_time = Some(stream_time);
            if delays && time == stream_time {
                emit_closed(task, &mut *next, shape, lookback, after_s, grace);
            }
            let from = time.saturating_sub(before_s).max(0);
            let to = time.saturating_add(after_s).max(0);
            let matches = task.stores[other].fetch(&key_bytes, from, to);
            let matched = !matches.is_empty();
            let mut removed = Vec::new();
            for (other_time, other_row) in &matches {
                if delays {
                    removed.push((*other_time, kafka_flag(other), key_bytes.clone()));
                }
                let mut sides: [Option<&[Value]>; 2] = [None, None];
                sides[side] = Some(&own);
                sides[other] = Some(other_row);
                Self::push_row(
                    &mut *next,
                    shape,
                    &key,
                    sides,
                    time.max(*other_time),
                    origin,
                );
            }
            for entry in removed {
                task.outer.remove(&entry);
            }
            if outer_here && !matched {
                if !delays || to < stream_time {
                    let mut sides: [Option<&[Value]>; 2] = [None, None];
                    sides[side] = Some(&own);
                    Self::push_row(&mut *next, shape, &key, sides, time, origin);
                } else {
                    task.min_time = Some(task.min_time.map_or(time, |m| m.min(time)));
                    task.outer
                        .entry((time, kafka_flag(side), key_bytes.clone()))
                        .or_insert_with(|| OuterEntry {
                            key: key.clone(),
                            side,
                            rows: Vec::new(),
                        })
                        .rows
                        .push(own.clone());
                }
            }
            // The record is stored after it joined, as KStreamJoinWindow forwards first.
            task.stores[side].put(&key_bytes, own, time, retention, interval);
        }
        batch.swap(&mut *next);
    }

    fn takes_deletes(&self) -> bool {
        true
    }

    fn state_size(&self) -> usize {
        self.tasks
            .values()
            .map(|t| t.stores[0].len() + t.stores[1].len() + t.outer.len())
            .sum()
    }

    fn state_bytes(&self) -> usize {
        self.tasks.heap_bytes()
    }

    /// A join's state is per partition (a Kafka Streams task), not per key group: each
    /// partition's task is saved under the key group of the partition's number, which is the
    /// group that partition owns in `exchange::owner` when rows come through a repartition
    /// topic. Versions before saved every task under group 0; they read back the same way.
    fn snapshot(&self) -> Result<GroupSnapshot, SnapshotError> {
        self.tasks
            .iter()
            .map(|(partition, task)| {
                let tasks = BTreeMap::from([(*partition, task)]);
                postcard::to_allocvec(&tasks)
                    .map(|bytes| (task_group(*partition), bytes))
                    .map_err(|e| SnapshotError {
                        operator: "stream_stream_join",
                        message: e.to_string(),
                    })
            })
            .collect()
    }

    fn restore(&mut self, groups: &GroupSnapshot) -> Result<(), RestoreError> {
        for (group, bytes) in groups {
            let tasks: BTreeMap<u32, JoinTask> = decode_group("stream_stream_join", *group, bytes)?;
            self.tasks.extend(tasks);
        }
        Ok(())
    }

    fn splits_by_join_key(&self) -> bool {
        true
    }

    fn joined_input(&self) -> Option<usize> {
        Some(self.right_input)
    }

    fn join_key(&self, input: usize, row: &[Value], time: i64, key: &mut Vec<u8>) -> bool {
        match side_of(input, self.right_input) {
            Some(side) => eval_key(&self.keys[side], row, time, key),
            None => false,
        }
    }

    fn forget(&mut self, moved: &dyn Fn(KeyGroup) -> bool) {
        self.tasks
            .retain(|partition, _| !moved(task_group(*partition)));
    }
}

/// The key group a stream-stream join's task for `partition` is saved under.
fn task_group(partition: u32) -> KeyGroup {
    u16::try_from(partition).unwrap_or(KeyGroup::MAX)
}

/// Kafka's emitNonJoinedOuterRecords: the waiting outer records whose window and grace
/// have passed, oldest first, each with nulls for the other side and its own time.
fn emit_closed(
    task: &mut JoinTask,
    next: &mut RowBatch,
    shape: (&[Span; 2], usize, usize),
    lookback: i64,
    after: i64,
    grace: i64,
) {
    let Some(stream_time) = task.stream_time else {
        return;
    };
    if task
        .min_time
        .is_none_or(|min| min >= stream_time.saturating_sub(lookback).saturating_sub(grace))
    {
        return;
    }
    task.min_time = None;
    let mut closed = Vec::new();
    for (entry_key, _) in task.outer.iter() {
        let time = entry_key.0;
        task.min_time = Some(time);
        if time.saturating_add(after).saturating_add(grace) >= stream_time {
            break;
        }
        closed.push(entry_key.clone());
    }
    for entry_key in closed {
        if let Some(entry) = task.outer.remove(&entry_key) {
            for row in &entry.rows {
                let mut sides: [Option<&[Value]>; 2] = [None, None];
                sides[entry.side] = Some(row);
                StreamStreamJoin::push_row(next, shape, &entry.key, sides, entry_key.0, NO_ORIGIN);
            }
        }
    }
}
