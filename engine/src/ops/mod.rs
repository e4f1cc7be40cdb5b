//! Operators: the steps a persistent query's rows go through after decoding. Each lives in
//! its own module behind one interface, `Operator`: it takes a batch of rows with their
//! event times, passes rows on to the next operator or ends the chain with output records,
//! reports rows it cannot process, and snapshots and restores its state per key group.
//! Operators know nothing of Kafka, files or HTTP, and nothing of SQL text: `plan` builds
//! them.

pub mod foreign_key;
pub mod group;
pub mod join;
pub mod match_recognize;
pub mod over_window;
pub mod project_filter;
pub mod session_aggregate;
pub mod shape;
pub mod table_aggregate;
pub mod watermark;
pub mod window_aggregate;

use std::collections::BTreeMap;

use crate::expr::EvalError;
use crate::format::DecodeError;
use crate::state::{KeyGroup, RestoreError};
use crate::value::{Row, Value};

/// Rows on their way through a query's operators, with each row's event time (ROWTIME) and
/// the input record it came from. The rows' buffers are kept from one batch to the next and
/// refilled in place: a batch costs no allocation once the buffers have grown.
///
/// For the operators that follow Flink SQL, the batch also carries the source's watermark
/// as each row reached it (computed from every source record, also those a WHERE drops
/// later, as Flink assigns watermarks at the source) and the watermark after the batch's
/// last record.
#[derive(Debug, Default)]
pub struct RowBatch {
    rows: Vec<Row>,
    times: Vec<i64>,
    origins: Vec<u32>,
    watermarks: Vec<i64>,
    /// True for a table's tombstone: the row's key columns are set, its values null, and
    /// the row is deleted from the table.
    deletes: Vec<bool>,
    /// The window of each row read from a windowed source (its key held one); empty for
    /// every other source, so that unwindowed rows cost nothing.
    windows: Vec<Option<(i64, i64)>>,
    /// The watermark `push` gives the rows it hands out.
    watermark: i64,
    end_watermark: i64,
    len: usize,
    /// Which of the query's inputs the batch's records came from (a join reads two; a
    /// batch holds the records of one).
    input: usize,
    /// The partition of each of the batch's records, by origin, for operators whose state
    /// is per partition as a Kafka Streams task's is (stream-stream joins); filled for
    /// joins only.
    partitions: Vec<u32>,
}

/// The origin of a row that no input record of the batch caused (one an operator released
/// from its state as time went on).
pub const NO_ORIGIN: u32 = u32::MAX;

impl RowBatch {
    pub fn new() -> RowBatch {
        RowBatch::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.input = 0;
        self.windows.clear();
    }

    /// The window of the row at `at`, when it came from a windowed source.
    pub fn window(&self, at: usize) -> Option<(i64, i64)> {
        self.windows.get(at).copied().flatten()
    }

    /// Sets the window of the row at `at` (start and end), read from its record's key.
    pub fn set_window(&mut self, at: usize, window: (i64, i64)) {
        if self.windows.len() < self.len {
            self.windows.resize(self.len, None);
        }
        self.windows[at] = Some(window);
    }

    /// Which of the query's inputs the rows came from.
    pub fn input(&self) -> usize {
        self.input
    }

    pub fn set_input(&mut self, input: usize) {
        self.input = input;
    }

    /// Sets the partitions of the batch's records, in record order.
    pub fn set_partitions(&mut self, partitions: impl Iterator<Item = u32>) {
        self.partitions.clear();
        self.partitions.extend(partitions);
    }

    /// The partition of the record a row came from (0 when unknown).
    pub fn partition_of(&self, origin: u32) -> u32 {
        self.partitions.get(origin as usize).copied().unwrap_or(0)
    }

    /// The next row to fill, `width` values wide, holding whatever an earlier batch left
    /// there: the filler overwrites every value.
    pub fn push(&mut self, width: usize, time: i64, origin: u32) -> &mut Row {
        if self.len == self.rows.len() {
            self.rows.push(Vec::new());
            self.times.push(0);
            self.origins.push(0);
            self.watermarks.push(0);
            self.deletes.push(false);
        }
        let at = self.len;
        self.len += 1;
        self.times[at] = time;
        self.origins[at] = origin;
        self.watermarks[at] = self.watermark;
        self.deletes[at] = false;
        let row = &mut self.rows[at];
        if row.len() != width {
            row.resize(width, Value::Null);
        }
        row
    }

    /// Takes back the row `push` handed out last (it could not be filled).
    pub fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }

    /// Gives back the rows kept beyond `keep` (never those in use): the buffers keep the
    /// size of the largest batch ever seen otherwise, and a catch-up's batches are a hundred
    /// times a steady input's.
    pub fn shrink(&mut self, keep: usize) {
        let keep = keep.max(self.len);
        if self.rows.len() <= keep {
            return;
        }
        fn cut<T>(column: &mut Vec<T>, keep: usize) {
            column.truncate(keep);
            column.shrink_to_fit();
        }
        cut(&mut self.rows, keep);
        cut(&mut self.times, keep);
        cut(&mut self.origins, keep);
        cut(&mut self.watermarks, keep);
        cut(&mut self.deletes, keep);
        cut(&mut self.windows, keep);
        self.partitions.shrink_to(keep);
    }

    pub fn row(&self, at: usize) -> &Row {
        &self.rows[at]
    }

    pub fn row_mut(&mut self, at: usize) -> &mut Row {
        &mut self.rows[at]
    }

    pub fn time(&self, at: usize) -> i64 {
        self.times[at]
    }

    pub fn set_time(&mut self, at: usize, time: i64) {
        self.times[at] = time;
    }

    pub fn origin(&self, at: usize) -> u32 {
        self.origins[at]
    }

    /// True when the row at `at` is a table's tombstone.
    pub fn is_delete(&self, at: usize) -> bool {
        self.deletes[at]
    }

    pub fn set_delete(&mut self, at: usize) {
        self.deletes[at] = true;
    }

    /// The source's watermark when the row at `at` reached it.
    pub fn watermark(&self, at: usize) -> i64 {
        self.watermarks[at]
    }

    /// Sets the watermark the rows pushed from now on carry.
    pub fn set_watermark(&mut self, watermark: i64) {
        self.watermark = watermark;
    }

    /// The source's watermark after the batch's last record.
    pub fn end_watermark(&self) -> i64 {
        self.end_watermark
    }

    pub fn set_end_watermark(&mut self, watermark: i64) {
        self.end_watermark = watermark;
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows[..self.len]
    }

    pub fn times(&self) -> &[i64] {
        &self.times[..self.len]
    }

    /// Keeps the rows for which `keep` says true, in order. Rows are moved by swapping
    /// their buffers, never copied.
    pub fn retain(&mut self, mut keep: impl FnMut(&Row, i64, u32) -> bool) {
        self.retain_mut(|row, time, origin| keep(row, time, origin));
    }

    /// `retain` for a filter that also changes the rows it keeps.
    pub fn retain_mut(&mut self, mut keep: impl FnMut(&mut Row, i64, u32) -> bool) {
        self.retain_in_window(|row, time, _, origin| keep(row, time, origin));
    }

    /// `retain_mut` for a filter that reads each row's window (WINDOWSTART, WINDOWEND of a
    /// windowed source).
    pub fn retain_in_window(
        &mut self,
        mut keep: impl FnMut(&mut Row, i64, Option<(i64, i64)>, u32) -> bool,
    ) {
        let windowed = !self.windows.is_empty();
        if windowed {
            self.windows.resize(self.len, None);
        }
        let mut kept = 0;
        for at in 0..self.len {
            let window = if windowed { self.windows[at] } else { None };
            if keep(&mut self.rows[at], self.times[at], window, self.origins[at]) {
                if kept != at {
                    if windowed {
                        self.windows[kept] = self.windows[at];
                    }
                    self.rows.swap(kept, at);
                    self.times[kept] = self.times[at];
                    self.origins[kept] = self.origins[at];
                    self.watermarks[kept] = self.watermarks[at];
                    self.deletes[kept] = self.deletes[at];
                }
                kept += 1;
            }
        }
        self.len = kept;
    }

    /// Drops the tombstones (records without a value), for operators that have no use for
    /// them.
    pub fn drop_deletes(&mut self) {
        if !self.deletes[..self.len].contains(&true) {
            return;
        }
        let windowed = !self.windows.is_empty();
        if windowed {
            self.windows.resize(self.len, None);
        }
        let mut kept = 0;
        for at in 0..self.len {
            if !self.deletes[at] {
                if kept != at {
                    if windowed {
                        self.windows[kept] = self.windows[at];
                    }
                    self.rows.swap(kept, at);
                    self.times[kept] = self.times[at];
                    self.origins[kept] = self.origins[at];
                    self.watermarks[kept] = self.watermarks[at];
                    self.deletes[kept] = false;
                }
                kept += 1;
            }
        }
        self.len = kept;
    }

    /// Swaps rows with another batch: an operator that replaces the rows builds the new
    /// ones aside and swaps them in. The batch's end watermark stays.
    pub fn swap(&mut self, other: &mut RowBatch) {
        std::mem::swap(&mut self.rows, &mut other.rows);
        std::mem::swap(&mut self.times, &mut other.times);
        std::mem::swap(&mut self.origins, &mut other.origins);
        std::mem::swap(&mut self.watermarks, &mut other.watermarks);
        std::mem::swap(&mut self.deletes, &mut other.deletes);
        std::mem::swap(&mut self.windows, &mut other.windows);
        std::mem::swap(&mut self.len, &mut other.len);
    }
}

/// One output record: key columns, the window for windowed tables, and the value columns
/// (`None` is a tombstone).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputRecord {
    pub key: Vec<Value>,
    pub window: Option<(i64, i64)>,
    pub value: Option<Vec<Value>>,
    pub timestamp: i64,
}

impl OutputRecord {
    pub fn empty() -> OutputRecord {
        OutputRecord {
            key: Vec::new(),
            window: None,
            value: Some(Vec::new()),
            timestamp: 0,
        }
    }
}

/// The output records a batch caused. The records and their column vectors are kept from
/// one batch to the next and refilled in place: a table update costs no allocation.
#[derive(Debug, Default)]
pub struct Outputs {
    records: Vec<OutputRecord>,
    len: usize,
    /// Rows on their way to the query's repartition topic, when it has one.
    pub exchanged: Vec<crate::exchange::Exchanged>,
}

impl Outputs {
    pub fn new() -> Outputs {
        Outputs::default()
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.exchanged.clear();
    }

    /// How many output records (rows for the repartition topic not counted).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there is nothing to write: no output record and no repartitioned row.
    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.exchanged.is_empty()
    }

    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    pub fn as_slice(&self) -> &[OutputRecord] {
        &self.records[..self.len]
    }

    pub fn iter(&self) -> std::slice::Iter<'_, OutputRecord> {
        self.as_slice().iter()
    }

    /// The next record to fill. It holds what an earlier batch left in it: the filler sets
    /// every field, and may overwrite the columns in place.
    pub fn next_record(&mut self) -> &mut OutputRecord {
        if self.len == self.records.len() {
            self.records.push(OutputRecord::empty());
        }
        let record = &mut self.records[self.len];
        self.len += 1;
        record
    }

    /// The record filled last, if any.
    pub fn last(&self) -> Option<&OutputRecord> {
        self.len.checked_sub(1).map(|at| &self.records[at])
    }

    /// Takes back the record filled last.
    pub fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }

    /// Gives back the records kept beyond `keep` (never those in use), as `RowBatch::shrink`.
    pub fn shrink(&mut self, keep: usize) {
        let keep = keep.max(self.len);
        if self.records.len() > keep {
            self.records.truncate(keep);
            self.records.shrink_to_fit();
        }
        self.exchanged.shrink_to(keep);
    }

    /// Appends a tombstone for a key and window.
    pub fn tombstone(&mut self, key: &[Value], window: Option<(i64, i64)>, timestamp: i64) {
        let record = self.next_record();
        record.key.clear();
        record.key.extend_from_slice(key);
        record.window = window;
        record.value = None;
        record.timestamp = timestamp;
    }

    /// Moves the records out, for callers that keep them.
    pub fn take(&mut self) -> Vec<OutputRecord> {
        let len = std::mem::take(&mut self.len);
        let mut records = std::mem::take(&mut self.records);
        records.truncate(len);
        records
    }
}

impl<'a> IntoIterator for &'a Outputs {
    type Item = &'a OutputRecord;
    type IntoIter = std::slice::Iter<'a, OutputRecord>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Why an operator could not process a row.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RowError {
    #[error("{0}")]
    Eval(#[from] EvalError),
    /// The record cannot be read for a reason of the engine's own (a table row without a
    /// key, a repartition record that does not read back).
    #[error("{0}")]
    Decode(String),
    /// The record's key cannot be read so (ksqlDB's processing log says `target: key`).
    #[error("the key: {0}")]
    DecodeKey(String),
    /// The record's value does not decode in its format.
    #[error(transparent)]
    Format(DecodeError),
    /// The record's key does not decode in its format.
    #[error("the key: {0}")]
    FormatKey(#[source] DecodeError),
    #[error("{0}")]
    Encode(String),
    #[error("late event: its window closed before it arrived (event time {event_time}, grace {grace} ms)")]
    LateForWindow { event_time: i64, grace: i64 },
    #[error("late event: its session [{start}, {end}] ended before the close time {close} (stream time minus grace minus gap) when it arrived (event time {event_time})")]
    LateForSession {
        event_time: i64,
        start: i64,
        end: i64,
        close: i64,
    },
    #[error(
        "late event: event time {event_time} is behind the watermark {watermark} of {operator}"
    )]
    LateForWatermark {
        event_time: i64,
        watermark: i64,
        operator: &'static str,
    },
    #[error("late event: event time {event_time} is not after {last_emitted}, the last time its partition emitted rows for")]
    LateForPartition { event_time: i64, last_emitted: i64 },
    #[error(
        "AFTER MATCH SKIP TO {target}: {reason}; the match is dropped (Flink fails the job here)"
    )]
    SkipFailed {
        target: String,
        reason: &'static str,
    },
    #[error("the {what} is null; {consequence}")]
    Null {
        what: &'static str,
        consequence: &'static str,
    },
    #[error("corrupt state: {0}")]
    CorruptState(&'static str),
}

impl RowError {
    /// The messages the processing log lists as the error's `cause`, as ksqlDB fills it: for
    /// a record that does not read, the errors under the format's own (its
    /// DeserializationError drops the first of ErrorMessageUtil.getErrorMessages, which is
    /// `errorMessage`); for an expression that fails, the evaluation error and what is under
    /// it (its RecordProcessingError lists the exception whole, the message being its own
    /// "Error computing expression ..."); nothing for the engine's own refusals.
    pub fn causes(&self) -> Vec<String> {
        use std::error::Error;
        match self {
            RowError::Format(e) | RowError::FormatKey(e) => crate::cause::messages(e.source()),
            RowError::Eval(e) => crate::cause::messages(Some(e)),
            other => crate::cause::messages(other.source()),
        }
    }

    /// Why the row failed, as one of a few names: the `reason` label of the dead-letter
    /// counts in /metrics, which must not take the free text of the error (a label per
    /// distinct message would grow without bound).
    pub fn reason(&self) -> &'static str {
        match self {
            RowError::Eval(EvalError::DivisionByZero) => "division_by_zero",
            RowError::Eval(EvalError::Type(_)) => "type_error",
            RowError::Eval(EvalError::Cast(_)) => "cast_failed",
            RowError::Decode(_) | RowError::DecodeKey(_) => "unreadable",
            RowError::Format(error) | RowError::FormatKey(error) => match error {
                DecodeError::Oversize(_) => "oversize",
                DecodeError::Malformed(..) | DecodeError::MalformedText(..) => "malformed",
                DecodeError::WrongType(..) => "wrong_type",
                DecodeError::NotAnObject => "not_an_object",
                DecodeError::Empty => "no_value",
                DecodeError::Avro(..) => "malformed_avro",
                DecodeError::Registry(..) => "schema_registry",
            },
            RowError::Encode(_) => "unwritable",
            RowError::LateForWindow { .. }
            | RowError::LateForSession { .. }
            | RowError::LateForWatermark { .. }
            | RowError::LateForPartition { .. } => "late",
            RowError::SkipFailed { .. } => "skip_failed",
            RowError::Null { .. } => "null",
            RowError::CorruptState(_) => "corrupt_state",
        }
    }

    pub fn is_late(&self) -> bool {
        matches!(
            self,
            RowError::LateForWindow { .. }
                | RowError::LateForSession { .. }
                | RowError::LateForWatermark { .. }
                | RowError::LateForPartition { .. }
        )
    }
}

/// A row an operator could not process, by the input record it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub origin: u32,
    pub error: RowError,
}

/// Where an operator's results go: output records when it ends the chain, rows it could
/// not process in any case.
pub struct Emit<'a> {
    pub out: &'a mut Outputs,
    pub rejected: &'a mut Vec<Rejected>,
}

impl Emit<'_> {
    pub fn reject(&mut self, origin: u32, error: impl Into<RowError>) {
        self.rejected.push(Rejected {
            origin,
            error: error.into(),
        });
    }
}

/// An operator's state split by key group: each group's bytes, in the operator's own form.
pub type GroupSnapshot = BTreeMap<KeyGroup, Vec<u8>>;

#[derive(Debug, thiserror::Error)]
#[error("cannot snapshot the state of {operator}: {message}")]
pub struct SnapshotError {
    pub operator: &'static str,
    pub message: String,
}

/// Writes each key group's part of an operator's state in the snapshot form (postcard).
pub fn encode_groups<T: serde::Serialize>(
    operator: &'static str,
    parts: BTreeMap<KeyGroup, T>,
) -> Result<GroupSnapshot, SnapshotError> {
    parts
        .into_iter()
        .map(|(group, part)| {
            postcard::to_allocvec(&part)
                .map(|bytes| (group, bytes))
                .map_err(|e| SnapshotError {
                    operator,
                    message: e.to_string(),
                })
        })
        .collect()
}

/// Reads one key group's part of an operator's state back.
pub fn decode_group<T: serde::de::DeserializeOwned>(
    operator: &'static str,
    group: KeyGroup,
    bytes: &[u8],
) -> Result<T, RestoreError> {
    postcard::from_bytes(bytes)
        .map_err(|e| RestoreError(format!("key group {group} of {operator}: {e}")))
}

pub trait Operator: Send {
    /// What the operator is, for metrics and messages.
    fn name(&self) -> &'static str;

    /// Takes the batch's rows in order. An operator in the middle of a chain leaves the rows
    /// it passes on in `batch` (filtered, extended or replaced); the last one writes output
    /// records to `emit.out` and leaves `batch` as it likes.
    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>);

    /// Stream time has moved to `watermark` with no new row (the end of a file, or the
    /// input going quiet): what it holds back for ordering or until a window closes is
    /// released. At the end of input the watermark is `i64::MAX`. An operator in the middle
    /// of a chain appends the rows it releases to `batch` (which holds what it has just
    /// passed on); the last one writes output records to `emit.out`.
    fn advance(&mut self, _watermark: i64, _batch: &mut RowBatch, _emit: &mut Emit<'_>) {}

    /// Whether the operator takes records without a value (a table's tombstones, a stream's
    /// null values) in its batches; those that do not never see them.
    fn takes_deletes(&self) -> bool {
        false
    }

    /// Gives back the per-row buffers kept from batch to batch beyond `keep` rows.
    fn shrink_buffers(&mut self, _keep: usize) {}

    /// Rows, windows, sessions or partial matches held in state.
    fn state_size(&self) -> usize {
        0
    }

    /// An estimate of the memory the state holds (`heap::HeapBytes`), for the state
    /// budget: walked at most once a second, never on the hot path.
    fn state_bytes(&self) -> usize {
        0
    }

    /// The state, split by key group. Stateless operators have none.
    fn snapshot(&self) -> Result<GroupSnapshot, SnapshotError> {
        Ok(GroupSnapshot::new())
    }

    /// Puts back state saved by `snapshot` (all of it, or the key groups this instance
    /// owns), replacing what the operator held for those groups.
    fn restore(&mut self, _groups: &GroupSnapshot) -> Result<(), RestoreError> {
        Ok(())
    }

    /// The table's current rows, for pull queries, when the operator builds a table.
    fn table_rows(&self) -> Vec<OutputRecord> {
        Vec::new()
    }

    /// The GROUP BY whose key splits the operator's state, when rows may reach it through a
    /// repartition topic: ksqlDB's windowed and session aggregations, whose state then lives
    /// on the instance that owns the key's partition of that topic.
    fn grouping(&self) -> Option<&group::Grouping> {
        None
    }

    /// True for a join whose state splits by its key, so that both its sides may reach it
    /// through a repartition topic routed by `join_key`.
    fn splits_by_join_key(&self) -> bool {
        false
    }

    /// For a join, the input its right side reads (the inputs before it feed its left).
    fn joined_input(&self) -> Option<usize> {
        None
    }

    /// For a join that `splits_by_join_key`: writes the key bytes (`Value::write_key`) a row
    /// of input `input` joins on into `key` and returns true, or false when the row has no
    /// key to route by (the join rejects or drops it itself, wherever it lands).
    fn join_key(&self, _input: usize, _row: &[Value], _time: i64, _key: &mut Vec<u8>) -> bool {
        false
    }

    /// Drops the state of the key groups `moved` says yes to, whose partition another
    /// instance now owns. Only operators with a `grouping` or a `join_key` are asked.
    fn forget(&mut self, _moved: &dyn Fn(KeyGroup) -> bool) {}

    /// For the first of the operators an earlier version ran as one: that operator's
    /// saved state, split into the states of this one and those that follow it.
    fn split_earlier_form(
        &self,
        _whole: &GroupSnapshot,
    ) -> Option<Result<Vec<GroupSnapshot>, RestoreError>> {
        None
    }
}
