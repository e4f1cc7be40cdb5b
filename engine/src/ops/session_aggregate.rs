//! GROUP BY over SESSION windows, as ksqlDB (Kafka Streams' session window aggregation) runs
//! it; engine/docs/ksqldb-sessions.md gives each rule with its source.
//!
//! A record of time `t` joins every session of its key with `end >= t - gap` and
//! `start <= t + gap` (both inclusive) that retention has not hidden, merging them into
//! `[min start, max end]`. It is late, and changes nothing, when that merged window ends
//! before the close time, stream time minus grace minus gap. With EMIT CHANGES each replaced
//! session is retracted by a tombstone (its old window, timestamp its end) before the merged
//! session is emitted (timestamp its end); with EMIT FINAL each session is emitted once, when
//! its end falls behind the close time.

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
use crate::sql::ast::Emit as EmitMode;
use crate::state::{key_group, KeyGroup, RestoreError, StateKey, StateTable};
use crate::value::{Row, Value};

/// A session's key in the set of rows HAVING let through: the group bytes, then its bounds.
fn session_key(group: &[u8], start: i64, end: i64) -> Vec<u8> {
    let mut key = group.to_vec();
    key.extend_from_slice(&start.to_be_bytes());
    key.extend_from_slice(&end.to_be_bytes());
    key
}

/// ksqlDB's default grace for a session window without one: 24 hours minus the gap, so
/// that sessions close a day behind stream time (StreamAggregateBuilder.defaultGrace).
pub fn default_grace(gap: i64) -> i64 {
    (24 * 60 * 60 * 1000 - gap).max(0)
}

#[derive(Debug, Clone, Copy)]
pub struct SessionWindow {
    pub gap: i64,
    pub grace: i64,
    /// How long a session stays visible for merging and pull queries after the newest
    /// session end; at least gap plus grace, which is the default.
    pub retention: i64,
}

/// One session of one key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    start: i64,
    end: i64,
    /// Processing order of its first and last records (LATEST_ and EARLIEST_BY_OFFSET
    /// merge by it).
    first_seq: u64,
    last_seq: u64,
    accs: Box<[Acc]>,
}

impl HeapBytes for Session {
    fn heap_bytes(&self) -> usize {
        self.accs.heap_bytes()
    }
}

/// The state: each key's sessions in time order (they never overlap), and an index of all
/// sessions by end, for expiry and for EMIT FINAL.
#[derive(Default)]
struct SessionState {
    sessions: StateTable<Vec<Session>>,
    by_end: BTreeSet<(i64, i64, StateKey)>,
    stream_time: i64,
    /// The newest session end ever stored (the session store's own stream time, which
    /// retention is measured from).
    store_time: i64,
    /// The close time up to which EMIT FINAL has emitted.
    emitted_until: i64,
    sequence: u64,
    count: usize,
}

/// One key group's part of the state, as a snapshot holds it.
#[derive(Serialize)]
struct GroupPart<'a> {
    stream_time: i64,
    store_time: i64,
    emitted_until: i64,
    sequence: u64,
    keys: Vec<(&'a StateKey, &'a Vec<Session>)>,
    /// The sessions whose rows HAVING let through.
    shown: Vec<&'a [u8]>,
}

#[derive(Deserialize)]
struct GroupPartOwned {
    stream_time: i64,
    store_time: i64,
    emitted_until: i64,
    sequence: u64,
    keys: Vec<(StateKey, Vec<Session>)>,
    shown: Vec<Vec<u8>>,
}

pub struct SessionAggregate {
    grouping: Grouping,
    window: SessionWindow,
    shape: RowShape,
    emit: EmitMode,
    state: SessionState,
    group: Vec<Value>,
    key: Vec<u8>,
    arguments: Vec<Value>,
    slots: Vec<Value>,
    /// The sessions a record merges, taken out of the key's list.
    found: Vec<Session>,
    /// The sessions whose rows HAVING let into the table (EMIT CHANGES).
    shown: Shown,
}

impl SessionAggregate {
    pub fn new(
        grouping: Grouping,
        window: SessionWindow,
        shape: RowShape,
        emit: EmitMode,
    ) -> SessionAggregate {
        SessionAggregate {
            grouping,
            window,
            shown: Shown::for_shape(&shape),
            shape,
            emit,
            state: SessionState {
                emitted_until: i64::MIN,
                ..SessionState::default()
            },
            group: Vec::new(),
            key: Vec::new(),
            arguments: Vec::new(),
            slots: Vec::new(),
            found: Vec::new(),
        }
    }

    fn close_time(&self) -> i64 {
        self.state
            .stream_time
            .saturating_sub(self.window.grace)
            .saturating_sub(self.window.gap)
    }

    fn fold(&mut self, row: &Row, t: i64, emit: &mut Emit<'_>) -> Result<(), RowError> {
        self.grouping
            .key_row(row, t, &mut self.group, &mut self.key)?;
        let ctx = Context {
            row,
            rowtime: t,
            window: None,
            slots: &[],
        };
        // Arguments are all evaluated before any state changes, so an error leaves the
        // state as it was.
        self.arguments.clear();
        for (_, argument) in &self.shape.aggs {
            match argument {
                None => self.arguments.push(Value::Null),
                Some(Compiled::Column(i)) => self.arguments.push(row[*i].clone()),
                Some(a) => a.eval_onto(&ctx, &mut self.arguments)?,
            }
        }
        let state = &mut self.state;
        state.stream_time = state.stream_time.max(t);
        // Saturating: an event time or a gap near the ends of i64 reaches no further.
        let close = state
            .stream_time
            .saturating_sub(self.window.grace)
            .saturating_sub(self.window.gap);
        let visible_from = t.saturating_sub(self.window.gap).max(
            state
                .store_time
                .saturating_sub(self.window.retention)
                .saturating_add(1),
        );
        let probe = StateKey::new(&self.key);
        let hash = state.sessions.hash(&self.key);
        let sessions = state.sessions.get_or_insert_with(&probe, hash, Vec::new);
        // Sessions of a key never overlap, so those within reach form one run.
        let from = sessions.partition_point(|s| s.end < visible_from);
        let to = sessions
            .partition_point(|s| s.start <= t.saturating_add(self.window.gap))
            .max(from);
        let start = sessions
            .get(from)
            .filter(|_| to > from)
            .map_or(t, |s| s.start.min(t));
        let end = sessions[from..to].last().map_or(t, |s| s.end.max(t));
        if end < close {
            if sessions.is_empty() {
                state.sessions.remove(&probe, hash);
            }
            return Err(RowError::LateForSession {
                event_time: t,
                start,
                end,
                close,
            });
        }
        let sequence = state.sequence;
        state.sequence += 1;
        let replaced = (start, end) != (t, t);
        let changes = self.emit == EmitMode::Changes;
        self.found.clear();
        self.found.extend(sessions.drain(from..to));
        // Oldest first, as the session store iterates; the record is folded in last. The
        // oldest session's accumulators are taken over whole: merging into fresh ones would
        // copy every value a COLLECT_LIST holds on each record.
        let mut merged = match self.found.first_mut() {
            Some(first) => Session {
                start,
                end,
                first_seq: first.first_seq,
                last_seq: first.last_seq,
                accs: std::mem::take(&mut first.accs),
            },
            None => Session {
                start,
                end,
                first_seq: sequence,
                last_seq: sequence,
                accs: self.shape.initial(),
            },
        };
        for old in self.found.iter().skip(1) {
            let later = old.last_seq > merged.last_seq;
            let earlier = old.first_seq < merged.first_seq;
            for ((kind, _), (into, other)) in self
                .shape
                .aggs
                .iter()
                .zip(merged.accs.iter_mut().zip(old.accs.iter()))
            {
                kind.merge(into, other, later, earlier);
            }
            merged.first_seq = merged.first_seq.min(old.first_seq);
            merged.last_seq = merged.last_seq.max(old.last_seq);
        }
        for old in &self.found {
            // A replaced session HAVING never let through leaves no tombstone.
            let shown = self
                .shown
                .forget_shown(&session_key(&self.key, old.start, old.end));
            if changes && replaced && shown {
                emit.out
                    .tombstone(&self.group, Some((old.start, old.end)), old.end);
            }
            state.by_end.remove(&(old.end, old.start, probe.clone()));
            state.count -= 1;
        }
        merged.last_seq = sequence;
        for ((kind, _), (acc, value)) in self
            .shape
            .aggs
            .iter()
            .zip(merged.accs.iter_mut().zip(&self.arguments))
        {
            kind.update(acc, value);
        }
        let position = sessions.partition_point(|s| s.start < merged.start);
        state
            .by_end
            .insert((merged.end, merged.start, probe.clone()));
        state.store_time = state.store_time.max(merged.end);
        state.count += 1;
        if changes {
            self.shape.row_into(
                &self.group,
                Some((merged.start, merged.end)),
                &merged.accs,
                merged.end,
                &mut self.slots,
                emit.out.next_record(),
            )?;
            let key = session_key(&self.key, merged.start, merged.end);
            if let Some(row) = emit.out.last() {
                if !self.shown.admit(&key, row) {
                    emit.out.pop();
                }
            }
        }
        sessions.insert(position, merged);
        Ok(())
    }

    /// EMIT FINAL: the sessions whose end has fallen behind the close time, once each, in
    /// order of end, then start.
    fn emit_closed(&mut self, emit: &mut Emit<'_>) -> Result<(), RowError> {
        let close = self.close_time();
        if self.emit != EmitMode::Final || close <= self.state.emitted_until {
            return Ok(());
        }
        let from = self.state.emitted_until.max(0);
        self.state.emitted_until = close;
        // No session ends below zero: while stream time is within gap plus grace of the
        // epoch, the close time is negative and nothing has closed.
        if from >= close {
            return Ok(());
        }
        let closing: Vec<(i64, i64, StateKey)> = self
            .state
            .by_end
            .range((from, i64::MIN, StateKey::new(&[]))..(close, i64::MIN, StateKey::new(&[])))
            .cloned()
            .collect();
        for (end, start, key) in closing {
            let group = self.grouping.group_of(key.as_bytes())?;
            let hash = self.state.sessions.hash(key.as_bytes());
            let Some(session) =
                self.state.sessions.get(&key, hash).and_then(|sessions| {
                    sessions.iter().find(|s| s.start == start && s.end == end)
                })
            else {
                continue;
            };
            self.shape.row_into(
                &group,
                Some((start, end)),
                &session.accs,
                end,
                &mut self.slots,
                emit.out.next_record(),
            )?;
            if let Some(row) = emit.out.last() {
                // A closed session HAVING leaves out has never been emitted: no tombstone.
                if row.value.is_none() {
                    emit.out.pop();
                }
            }
        }
        Ok(())
    }

    /// Drops the sessions retention no longer shows; they can merge with nothing now.
    fn expire(&mut self) {
        let horizon = self.state.store_time.saturating_sub(self.window.retention);
        while let Some(first) = self.state.by_end.first() {
            if first.0 > horizon {
                break;
            }
            let Some((end, start, key)) = self.state.by_end.pop_first() else {
                break;
            };
            // EMIT FINAL owes a session its row until the close time passes it.
            if self.emit == EmitMode::Final && end >= self.state.emitted_until {
                self.state.by_end.insert((end, start, key));
                break;
            }
            let hash = self.state.sessions.hash(key.as_bytes());
            let now_empty = match self.state.sessions.get_mut(&key, hash) {
                Some(sessions) => {
                    sessions.retain(|s| !(s.start == start && s.end == end));
                    sessions.is_empty()
                }
                None => false,
            };
            if now_empty {
                self.state.sessions.remove(&key, hash);
            }
            self.state.count -= 1;
        }
    }

    fn rebuild_index(&mut self) {
        self.state.by_end.clear();
        self.state.count = 0;
        for (key, sessions) in self.state.sessions.iter() {
            for s in sessions {
                self.state.by_end.insert((s.end, s.start, key.clone()));
                self.state.count += 1;
            }
        }
    }
}

impl Operator for SessionAggregate {
    fn name(&self) -> &'static str {
        "session_aggregate"
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        for at in 0..batch.len() {
            let before = emit.out.len();
            let result = self.fold(batch.row(at), batch.time(at), emit);
            if let Err(error) = result {
                if !error.is_late() {
                    emit.out.truncate(before);
                }
                emit.reject(batch.origin(at), error);
            }
            // A late record moves stream time on too, and so may close sessions.
            if let Err(error) = self.emit_closed(emit) {
                emit.reject(batch.origin(at), error);
            }
            self.expire();
        }
    }

    fn state_size(&self) -> usize {
        self.state.count
    }

    fn state_bytes(&self) -> usize {
        self.state.sessions.heap_bytes() + self.state.by_end.heap_bytes() + self.shown.heap_bytes()
    }

    fn snapshot(&self) -> Result<GroupSnapshot, SnapshotError> {
        let mut parts: BTreeMap<KeyGroup, GroupPart<'_>> = BTreeMap::new();
        for (key, sessions) in self.state.sessions.iter() {
            parts
                .entry(key_group(key.as_bytes()))
                .or_insert_with(|| GroupPart {
                    stream_time: self.state.stream_time,
                    store_time: self.state.store_time,
                    emitted_until: self.state.emitted_until,
                    sequence: self.state.sequence,
                    keys: Vec::new(),
                    shown: Vec::new(),
                })
                .keys
                .push((key, sessions));
        }
        for key in self.shown.iter() {
            let group = &key[..key.len().saturating_sub(16)];
            if let Some(part) = parts.get_mut(&key_group(group)) {
                part.shown.push(key);
            }
        }
        encode_groups("session_aggregate", parts)
    }

    fn restore(&mut self, groups: &GroupSnapshot) -> Result<(), RestoreError> {
        let restored: BTreeSet<KeyGroup> = groups.keys().copied().collect();
        self.state
            .sessions
            .retain(|key, _| !restored.contains(&key_group(key.as_bytes())));
        for (group, bytes) in groups {
            let part: GroupPartOwned = decode_group("session_aggregate", *group, bytes)?;
            let state = &mut self.state;
            state.stream_time = state.stream_time.max(part.stream_time);
            state.store_time = state.store_time.max(part.store_time);
            state.emitted_until = state.emitted_until.max(part.emitted_until);
            state.sequence = state.sequence.max(part.sequence);
            for (key, sessions) in part.keys {
                state.sessions.insert(key, sessions);
            }
            for key in &part.shown {
                self.shown.insert(key);
            }
        }
        self.rebuild_index();
        Ok(())
    }

    fn grouping(&self) -> Option<&Grouping> {
        Some(&self.grouping)
    }

    fn forget(&mut self, moved: &dyn Fn(KeyGroup) -> bool) {
        self.state
            .sessions
            .retain(|key, _| !moved(key_group(key.as_bytes())));
        self.shown
            .retain(|key| !moved(key_group(&key[..key.len().saturating_sub(16)])));
        self.rebuild_index();
    }

    fn table_rows(&self) -> Vec<OutputRecord> {
        let mut rows = Vec::new();
        for (key, sessions) in self.state.sessions.iter() {
            let Ok(group) = self.grouping.group_of(key.as_bytes()) else {
                continue;
            };
            for session in sessions {
                let mut row = OutputRecord::empty();
                if self
                    .shape
                    .row_into(
                        &group,
                        Some((session.start, session.end)),
                        &session.accs,
                        session.end,
                        &mut Vec::new(),
                        &mut row,
                    )
                    .is_ok()
                {
                    rows.push(row);
                }
            }
        }
        rows
    }
}
