//! GROUP BY aggregation, unwindowed or over TUMBLING and HOPPING windows, as ksqlDB runs it:
//! every update to a group's window is a table change (EMIT CHANGES), or each window is
//! emitted once when stream time minus grace passes its end (EMIT FINAL). Closed windows
//! are freed, so memory is bounded by the windows still open.

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
use crate::sql::ast::{Emit as EmitMode, WindowKind};
use crate::state::{key_group, KeyGroup, RestoreError, StateKey, StateTable};
use crate::value::{Row, Value};

/// ksqlDB's default grace period for windows that do not name one.
pub const DEFAULT_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// A TUMBLING or HOPPING window with its grace period.
pub struct Window {
    pub kind: WindowKind,
    pub grace: i64,
}

impl Window {
    fn size(&self) -> i64 {
        match self.kind {
            WindowKind::Tumbling { size } | WindowKind::Hopping { size, .. } => size,
            WindowKind::Session { gap } => gap,
        }
    }

    /// The start of the newest window an event time falls in.
    fn newest_start(&self, ts: i64) -> i64 {
        let step = match self.kind {
            WindowKind::Hopping { advance, .. } => advance,
            _ => self.size(),
        };
        ts.saturating_sub(ts.rem_euclid(step))
    }

    /// The windows an event time falls in, newest first.
    fn assign(&self, ts: i64, out: &mut Vec<(i64, i64)>) {
        out.clear();
        match self.kind {
            // A window's end saturates: one that would end past the last millisecond
            // (an event time or a size near i64::MAX) ends there, and never closes.
            WindowKind::Tumbling { size } => {
                let start = self.newest_start(ts);
                out.push((start, start.saturating_add(size)));
            }
            WindowKind::Hopping { size, advance } => {
                let mut start = self.newest_start(ts);
                while start > ts.saturating_sub(size) && start >= 0 {
                    out.push((start, start.saturating_add(size)));
                    start = start.saturating_sub(advance);
                }
            }
            WindowKind::Session { .. } => {}
        }
    }
}

/// One group's accumulators in one window. The group's values and the window start are
/// not kept here: the state key holds both (group bytes, then 8 bytes of window start), so
/// a million open windows cost one copy of each key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Entry {
    pub accs: Box<[Acc]>,
    pub max_ts: i64,
}

impl HeapBytes for Entry {
    fn heap_bytes(&self) -> usize {
        self.accs.heap_bytes()
    }
}

/// The aggregation's state: every open group and window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AggregateState {
    pub stream_time: i64,
    pub entries: StateTable<Entry>,
    /// The earliest window end among the entries: when stream time minus grace passes it,
    /// a sweep emits (EMIT FINAL) and frees the closed windows. A snapshot without it
    /// sweeps once to find it.
    #[serde(default = "sweep_first")]
    pub next_close: i64,
}

fn sweep_first() -> i64 {
    i64::MIN
}

impl Default for AggregateState {
    fn default() -> AggregateState {
        AggregateState {
            stream_time: 0,
            entries: StateTable::default(),
            next_close: i64::MAX,
        }
    }
}

/// One key group's part of the state, as a snapshot holds it.
#[derive(Serialize)]
struct GroupPart<'a> {
    stream_time: i64,
    entries: Vec<(&'a StateKey, &'a Entry)>,
    /// The keys whose rows HAVING let into the table.
    shown: Vec<&'a [u8]>,
}

#[derive(Deserialize)]
struct GroupPartOwned {
    stream_time: i64,
    entries: Vec<(StateKey, Entry)>,
    shown: Vec<Vec<u8>>,
}

/// One row's group, worked out before the batch is folded in, so that its state slot can
/// be prefetched a few rows ahead.
#[derive(Default)]
struct Keyed {
    /// Why the row has no group, if it has none.
    error: Option<RowError>,
    group: Vec<Value>,
    /// The group in key form (`Value::write_key`), then the newest window's start.
    key: Vec<u8>,
    group_len: usize,
    /// The newest window's start, and the hash of `key`.
    newest: i64,
    hash: u64,
}

/// Buffers reused from one batch to the next.
#[derive(Default)]
struct Scratch {
    keyed: Vec<Keyed>,
    windows: Vec<(i64, i64)>,
    arguments: Vec<Value>,
    slots: Vec<Value>,
}

/// How far ahead of the row being folded its successors' state slots are prefetched: far
/// enough for memory to answer while the rows in between are folded.
const PREFETCH_AHEAD: usize = 3;

pub struct WindowAggregate {
    grouping: Grouping,
    window: Option<Window>,
    shape: RowShape,
    emit: EmitMode,
    state: AggregateState,
    /// The keys whose rows HAVING let into the table.
    shown: Shown,
    scratch: Scratch,
}

impl WindowAggregate {
    pub fn new(
        grouping: Grouping,
        window: Option<Window>,
        shape: RowShape,
        emit: EmitMode,
    ) -> WindowAggregate {
        WindowAggregate {
            grouping,
            window,
            shown: Shown::for_shape(&shape),
            shape,
            emit,
            state: AggregateState::default(),
            scratch: Scratch::default(),
        }
    }

    pub fn is_windowed(&self) -> bool {
        self.window.is_some()
    }

    /// Evaluates a row's group and its key form, with the newest window's start.
    fn key_row(&self, row: &Row, timestamp: i64, keyed: &mut Keyed) {
        keyed.error = self
            .grouping
            .key_row(row, timestamp, &mut keyed.group, &mut keyed.key)
            .err();
        if keyed.error.is_some() {
            return;
        }
        keyed.group_len = keyed.key.len();
        if let Some(window) = &self.window {
            keyed.newest = window.newest_start(timestamp);
            keyed.key.extend_from_slice(&keyed.newest.to_be_bytes());
        }
        keyed.hash = self.state.entries.hash(&keyed.key);
    }

    /// Folds one keyed row into its group's windows.
    fn fold(
        &mut self,
        scratch: &mut Scratch,
        at: usize,
        row: &Row,
        timestamp: i64,
        emit: &mut Emit<'_>,
    ) -> Result<(), RowError> {
        let Scratch {
            keyed,
            windows,
            arguments,
            slots,
        } = scratch;
        let keyed = &mut keyed[at];
        if let Some(error) = keyed.error.take() {
            return Err(error);
        }
        let ctx = Context {
            row,
            rowtime: timestamp,
            window: None,
            slots: &[],
        };
        // Arguments that are plain columns are read from the row as they are; the others are
        // all evaluated before any state changes, so an error leaves the state as it was.
        arguments.clear();
        for (_, argument) in &self.shape.aggs {
            match argument {
                None | Some(Compiled::Column(_)) => {}
                Some(a) => a.eval_onto(&ctx, arguments)?,
            }
        }
        let state = &mut self.state;
        state.stream_time = state.stream_time.max(timestamp);
        let grace = self.window.as_ref().map(|w| w.grace).unwrap_or(0);
        match &self.window {
            Some(window) => window.assign(timestamp, windows),
            None => windows.clear(),
        }
        let unwindowed = [None];
        let assigned = windows
            .iter()
            .rev()
            .map(|w| Some(*w))
            .chain(unwindowed.into_iter().filter(|_| self.window.is_none()));
        let mut open = 0;
        let key = &mut keyed.key;
        // The key holds the newest window's start from `key_row`, with its hash; older
        // windows (HOPPING) rewrite the start and hash again.
        let mut holds_newest = true;
        for window in assigned {
            if let Some((_, end)) = window {
                if end.saturating_add(grace) <= state.stream_time {
                    continue;
                }
            }
            open += 1;
            let hash = match window {
                Some((start, _)) if start != keyed.newest => {
                    key.truncate(keyed.group_len);
                    key.extend_from_slice(&start.to_be_bytes());
                    holds_newest = false;
                    state.entries.hash(key)
                }
                Some(_) if !holds_newest => {
                    key.truncate(keyed.group_len);
                    key.extend_from_slice(&keyed.newest.to_be_bytes());
                    holds_newest = true;
                    keyed.hash
                }
                _ => keyed.hash,
            };
            let probe = StateKey::new(key);
            let mut created = false;
            let entry = state.entries.get_or_insert_with(&probe, hash, || {
                created = true;
                Entry {
                    accs: self.shape.initial(),
                    max_ts: timestamp,
                }
            });
            if let (true, Some((_, end))) = (created, window) {
                state.next_close = state.next_close.min(end);
            }
            entry.max_ts = entry.max_ts.max(timestamp);
            let mut computed = arguments.iter();
            for ((kind, argument), acc) in self.shape.aggs.iter().zip(entry.accs.iter_mut()) {
                let value = match argument {
                    None => &Value::Null,
                    Some(Compiled::Column(i)) => &row[*i],
                    Some(_) => computed.next().unwrap_or(&Value::Null),
                };
                kind.update(acc, value);
            }
            if self.emit == EmitMode::Changes {
                self.shape.row_into(
                    &keyed.group,
                    window,
                    &entry.accs,
                    entry.max_ts,
                    slots,
                    emit.out.next_record(),
                )?;
                if let Some(row) = emit.out.last() {
                    if !self.shown.admit(key, row) {
                        emit.out.pop();
                    }
                }
            }
        }
        let windowed = self.window.is_some();
        // Checked here, where the state is at hand: most records close no window.
        if windowed && state.stream_time.saturating_sub(grace) >= state.next_close {
            self.sweep(emit)?;
        }
        if windowed && open == 0 {
            return Err(RowError::LateForWindow {
                event_time: timestamp,
                grace,
            });
        }
        Ok(())
    }

    /// Emits (EMIT FINAL) and drops the windows that stream time minus grace has passed, in
    /// order of window end, then key.
    fn sweep(&mut self, emit: &mut Emit<'_>) -> Result<(), RowError> {
        let Some(window) = &self.window else {
            return Ok(());
        };
        let size = window.size();
        let state = &mut self.state;
        let horizon = state.stream_time.saturating_sub(window.grace);
        let mut closed: Vec<(i64, StateKey, Entry)> = Vec::new();
        let mut next_close = i64::MAX;
        let final_rows = self.emit == EmitMode::Final;
        let shown = &mut self.shown;
        state.entries.retain(|key, entry| {
            let end = window_start(key.as_bytes()).saturating_add(size);
            if end <= horizon {
                if final_rows {
                    closed.push((end, key.clone(), std::mem::take(entry)));
                } else {
                    shown.forget(key.as_bytes());
                }
                false
            } else {
                next_close = next_close.min(end);
                true
            }
        });
        state.next_close = next_close;
        closed.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut slots = Vec::new();
        for (end, key, entry) in closed {
            let group = self.group_of(key.as_bytes())?;
            self.shape.row_into(
                &group,
                Some((window_start(key.as_bytes()), end)),
                &entry.accs,
                entry.max_ts,
                &mut slots,
                emit.out.next_record(),
            )?;
            if let Some(row) = emit.out.last() {
                if !self.shown.admit(key.as_bytes(), row) {
                    emit.out.pop();
                }
            }
            self.shown.forget(key.as_bytes());
        }
        Ok(())
    }

    /// The GROUP BY values a state key starts with.
    fn group_of(&self, key: &[u8]) -> Result<Vec<Value>, RowError> {
        self.grouping.group_of(key)
    }

    /// The window of a state key, when the query is windowed.
    fn window_of(&self, key: &[u8]) -> Option<(i64, i64)> {
        let window = self.window.as_ref()?;
        let start = window_start(key);
        Some((start, start.saturating_add(window.size())))
    }

    /// The bytes of a state key that say its group, without the window start.
    fn group_bytes<'k>(&self, key: &'k [u8]) -> &'k [u8] {
        match self.window {
            Some(_) => &key[..key.len().saturating_sub(8)],
            None => key,
        }
    }

    /// Takes over the state an earlier snapshot format held whole.
    pub fn restore_whole(&mut self, state: AggregateState) {
        self.state = state;
    }
}

/// The window start in the last 8 bytes of a windowed state key.
fn window_start(key: &[u8]) -> i64 {
    let mut start = [0u8; 8];
    if let Some(tail) = key.len().checked_sub(8).map(|at| &key[at..]) {
        start.copy_from_slice(tail);
    }
    i64::from_be_bytes(start)
}

impl Operator for WindowAggregate {
    fn name(&self) -> &'static str {
        "window_aggregate"
    }

    fn shrink_buffers(&mut self, keep: usize) {
        let keyed = &mut self.scratch.keyed;
        if keyed.len() > keep {
            keyed.truncate(keep);
            keyed.shrink_to_fit();
        }
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let rows = batch.len();
        if scratch.keyed.len() < rows {
            scratch.keyed.resize_with(rows, Keyed::default);
        }
        for at in 0..rows {
            self.key_row(batch.row(at), batch.time(at), &mut scratch.keyed[at]);
        }
        for keyed in scratch.keyed[..rows.min(PREFETCH_AHEAD)].iter() {
            self.state.entries.prefetch(keyed.hash);
        }
        for at in 0..rows {
            if let Some(ahead) = scratch.keyed[..rows].get(at + PREFETCH_AHEAD) {
                self.state.entries.prefetch(ahead.hash);
            }
            let before = emit.out.len();
            if let Err(error) = self.fold(&mut scratch, at, batch.row(at), batch.time(at), emit) {
                // A late row changed nothing; what a sweep emitted meanwhile stands.
                if !error.is_late() {
                    emit.out.truncate(before);
                }
                emit.reject(batch.origin(at), error);
            }
        }
        self.scratch = scratch;
    }

    fn state_size(&self) -> usize {
        self.state.entries.len()
    }

    fn state_bytes(&self) -> usize {
        self.state.entries.heap_bytes() + self.shown.heap_bytes()
    }

    fn snapshot(&self) -> Result<GroupSnapshot, SnapshotError> {
        let mut parts: std::collections::BTreeMap<KeyGroup, GroupPart<'_>> = Default::default();
        for (key, entry) in self.state.entries.iter() {
            let group = key_group(self.group_bytes(key.as_bytes()));
            parts
                .entry(group)
                .or_insert_with(|| GroupPart {
                    stream_time: self.state.stream_time,
                    entries: Vec::new(),
                    shown: Vec::new(),
                })
                .entries
                .push((key, entry));
        }
        for key in self.shown.iter() {
            if let Some(part) = parts.get_mut(&key_group(self.group_bytes(key))) {
                part.shown.push(key);
            }
        }
        encode_groups("window_aggregate", parts)
    }

    fn restore(&mut self, groups: &GroupSnapshot) -> Result<(), RestoreError> {
        let mut parts = Vec::with_capacity(groups.len());
        for (group, bytes) in groups {
            let part: GroupPartOwned = decode_group("window_aggregate", *group, bytes)?;
            parts.push(part);
        }
        let window = self.window.is_some();
        let restored: std::collections::BTreeSet<KeyGroup> = groups.keys().copied().collect();
        self.state.entries.retain(|key, _| {
            let bytes = key.as_bytes();
            let group_bytes = if window {
                &bytes[..bytes.len().saturating_sub(8)]
            } else {
                bytes
            };
            !restored.contains(&key_group(group_bytes))
        });
        for part in parts {
            self.state.stream_time = self.state.stream_time.max(part.stream_time);
            for (key, entry) in part.entries {
                self.state.entries.insert(key, entry);
            }
            for key in &part.shown {
                self.shown.insert(key);
            }
        }
        self.state.next_close = sweep_first();
        Ok(())
    }

    fn grouping(&self) -> Option<&Grouping> {
        Some(&self.grouping)
    }

    fn forget(&mut self, moved: &dyn Fn(KeyGroup) -> bool) {
        let window = self.window.is_some();
        let group_bytes = |bytes: &[u8]| -> KeyGroup {
            if window {
                key_group(&bytes[..bytes.len().saturating_sub(8)])
            } else {
                key_group(bytes)
            }
        };
        self.state
            .entries
            .retain(|key, _| !moved(group_bytes(key.as_bytes())));
        self.shown.retain(|key| !moved(group_bytes(key)));
        self.state.next_close = sweep_first();
    }

    fn table_rows(&self) -> Vec<OutputRecord> {
        self.state
            .entries
            .iter()
            .filter_map(|(key, entry)| {
                let group = self.group_of(key.as_bytes()).ok()?;
                let mut row = OutputRecord::empty();
                self.shape
                    .row_into(
                        &group,
                        self.window_of(key.as_bytes()),
                        &entry.accs,
                        entry.max_ts,
                        &mut Vec::new(),
                        &mut row,
                    )
                    .ok()?;
                Some(row)
            })
            .collect()
    }
}

/// Snapshots of versions 1 and 2, which held an aggregation's state whole (every key in
/// one table) with the input offsets per partition: read, and split by key group.
pub mod legacy {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::{AggregateState, Entry, GroupPart};
    use crate::aggregate::Acc;
    use crate::ops::GroupSnapshot;
    use crate::state::{key_group, KeyGroup, RestoreError, StateKey};
    use crate::value::Value;

    /// What an aggregation's state keys look like: how many GROUP BY values, and whether
    /// a window start follows them.
    #[derive(Debug, Clone, Copy)]
    pub struct Shape {
        pub groups: usize,
        pub windowed: bool,
    }

    const MAGIC_V2: &[u8] = b"advisor-engine snapshot 2\n";
    const MAGIC_V1: &[u8] = b"advisor-engine snapshot 1\n";

    pub fn is_legacy(bytes: &[u8]) -> bool {
        bytes.starts_with(MAGIC_V2) || bytes.starts_with(MAGIC_V1)
    }

    /// The state by partition, as versions 1 and 2 kept it (all of it in partition 0).
    #[derive(Debug, Default, Serialize, Deserialize)]
    struct Partitioned {
        partitions: BTreeMap<u32, AggregateState>,
    }

    #[derive(Deserialize)]
    struct Snapshot {
        /// JSON snapshots of version 1 carry no version.
        #[serde(default = "first_version")]
        version: u32,
        offsets: BTreeMap<u32, u64>,
        state: Option<Partitioned>,
    }

    fn first_version() -> u32 {
        1
    }

    /// A binary snapshot of version 1.
    #[derive(Deserialize)]
    struct SnapshotV1 {
        offsets: BTreeMap<u32, u64>,
        state: Option<Partitioned>,
    }

    /// A snapshot of version 1 or 2 as read.
    pub struct Old {
        pub version: u32,
        pub offsets: BTreeMap<u32, u64>,
        pub state: Option<AggregateState>,
    }

    /// Reads a binary snapshot of version 1 or 2, or the JSON either wrote.
    pub fn read(bytes: &[u8]) -> Result<Old, RestoreError> {
        let failed = |e: &dyn std::fmt::Display| RestoreError(e.to_string());
        let (version, offsets, state) = if let Some(binary) = bytes.strip_prefix(MAGIC_V2) {
            let old: Snapshot = postcard::from_bytes(binary).map_err(|e| failed(&e))?;
            (old.version, old.offsets, old.state)
        } else if let Some(binary) = bytes.strip_prefix(MAGIC_V1) {
            let old: SnapshotV1 = postcard::from_bytes(binary).map_err(|e| failed(&e))?;
            (1, old.offsets, old.state)
        } else {
            let old: Snapshot = serde_json::from_slice(bytes).map_err(|e| failed(&e))?;
            (old.version, old.offsets, old.state)
        };
        if version > 2 {
            return Err(RestoreError(format!(
                "the snapshot is of version {version}, which this engine reads only in its binary form"
            )));
        }
        let state = state.map(|partitioned| {
            let mut whole = AggregateState::default();
            for (_, part) in partitioned.partitions {
                whole.stream_time = whole.stream_time.max(part.stream_time);
                for (key, entry) in part.entries.iter() {
                    whole.entries.insert(key.clone(), entry.clone());
                }
            }
            whole
        });
        Ok(Old {
            version,
            offsets,
            state,
        })
    }

    /// Rewrites a key (and COUNT_DISTINCT's values) saved by version 1 in today's key form:
    /// the same values, shorter lengths.
    fn upgrade_v1_key(old: &[u8], values: usize) -> Option<Vec<u8>> {
        let mut rest = old;
        let mut key = Vec::with_capacity(old.len());
        for _ in 0..values {
            Value::read_key_v1(&mut rest)?.write_key(&mut key);
        }
        key.extend_from_slice(rest);
        Some(key)
    }

    /// The state split by key group in this version's snapshot form.
    pub fn groups(
        state: AggregateState,
        shape: Shape,
        version: u32,
    ) -> Result<GroupSnapshot, RestoreError> {
        let corrupt = || RestoreError("a version 1 state key does not read back".into());
        let mut parts: BTreeMap<KeyGroup, Vec<(StateKey, Entry)>> = BTreeMap::new();
        let stream_time = state.stream_time;
        let mut entries = state.entries;
        for (key, mut entry) in entries.drain() {
            let key = if version == 1 {
                for acc in entry.accs.iter_mut() {
                    if let Acc::Distinct(seen) = acc {
                        let old = std::mem::take(&mut **seen);
                        for value in old {
                            seen.insert(upgrade_v1_key(&value, 1).ok_or_else(corrupt)?);
                        }
                    }
                }
                StateKey::new(&upgrade_v1_key(key.as_bytes(), shape.groups).ok_or_else(corrupt)?)
            } else {
                key
            };
            let bytes = key.as_bytes();
            let group_bytes = if shape.windowed {
                &bytes[..bytes.len().saturating_sub(8)]
            } else {
                bytes
            };
            parts
                .entry(key_group(group_bytes))
                .or_default()
                .push((key, entry));
        }
        parts
            .into_iter()
            .map(|(group, entries)| {
                // Snapshots of versions 1 and 2 did not say which rows HAVING let through.
                let part = GroupPart {
                    stream_time,
                    entries: entries.iter().map(|(k, e)| (k, e)).collect(),
                    shown: Vec::new(),
                };
                postcard::to_allocvec(&part)
                    .map(|bytes| (group, bytes))
                    .map_err(|e| RestoreError(e.to_string()))
            })
            .collect()
    }
}
