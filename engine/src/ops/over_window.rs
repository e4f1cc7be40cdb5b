//! OVER windows as Flink SQL runs them on event time (engine/docs/flink-semantics.md,
//! section 2): `agg(...) OVER (PARTITION BY k ORDER BY ROWTIME RANGE|ROWS ... PRECEDING AND
//! CURRENT ROW)`, one output row per input row, the input row with the aggregates after it.
//!
//! A row is held until the source's watermark (carried by the batch, see `RowBatch`) reaches
//! its time, then computed and passed on. RANGE:
//! the window is every row of the partition in `[t - interval, t]` (both ends inclusive),
//! and rows of one time (peers) share one result. ROWS: the row and the `n` rows before it
//! in (time, arrival) order. A row is late, and dropped, when its time is not after the
//! last time its partition emitted (Flink's `lastTriggeringTs`, which starts at 0, so times
//! at or below 0 are always late). A partition idle for longer than its RANGE interval is
//! dropped from state; a row for it at or below the newest time dropped so is late.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::expr::{Compiled, Context};
use crate::heap::HeapBytes;
use crate::ops::watermark::Watermark;
use crate::ops::{
    decode_group, encode_groups, Emit, GroupSnapshot, Operator, RowBatch, RowError, SnapshotError,
    NO_ORIGIN,
};
use crate::sql::ast::Frame;
use crate::state::{key_group, KeyGroup, RestoreError, StateKey, StateTable};
use crate::value::{Row, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverFunction {
    CountStar,
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

impl OverFunction {
    pub fn from_call(name: &str, star: bool) -> Option<OverFunction> {
        Some(match name {
            "COUNT" if star => OverFunction::CountStar,
            "COUNT" => OverFunction::Count,
            "SUM" => OverFunction::Sum,
            "MIN" => OverFunction::Min,
            "MAX" => OverFunction::Max,
            "AVG" => OverFunction::Avg,
            _ => return None,
        })
    }
}

/// One OVER aggregate: its function and argument over the input row.
pub struct OverAggregate {
    pub function: OverFunction,
    pub argument: Option<Compiled>,
}

/// One aggregate's running state over a window that slides forward: rows enter at the back
/// and leave from the front.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Running {
    /// Rows whose argument is not null (all rows for COUNT(*)).
    count: i64,
    sum_int: i64,
    sum_double: f64,
    /// True once a DOUBLE was summed: the sum is then a double.
    doubles: bool,
    /// MIN or MAX candidates, oldest first, each better than every one before it: the
    /// front is the answer, and it leaves when its row does.
    extremes: VecDeque<(u64, Value)>,
}

/// A row in a partition's window: its place in arrival order and its aggregates'
/// arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WindowRow {
    time: i64,
    seq: u64,
    arguments: Vec<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Partition {
    /// The last time this partition emitted rows for (Flink's lastTriggeringTs).
    last_emitted: i64,
    rows: VecDeque<WindowRow>,
    running: Vec<Running>,
}

/// A row held until the watermark reaches its time.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    key: StateKey,
    row: Row,
    arguments: Vec<Value>,
    /// The batch it arrived in and its place there, so that a row released in the same
    /// batch still names its input record.
    batch: u64,
    origin: u32,
}

impl HeapBytes for Running {
    fn heap_bytes(&self) -> usize {
        self.extremes.heap_bytes()
    }
}

impl HeapBytes for WindowRow {
    fn heap_bytes(&self) -> usize {
        self.arguments.heap_bytes()
    }
}

impl HeapBytes for Partition {
    fn heap_bytes(&self) -> usize {
        self.rows.heap_bytes() + self.running.heap_bytes()
    }
}

impl HeapBytes for Pending {
    fn heap_bytes(&self) -> usize {
        self.key.heap_bytes() + self.row.heap_bytes() + self.arguments.heap_bytes()
    }
}

#[derive(Default, Serialize, Deserialize)]
struct GroupPart {
    watermark: Option<Watermark>,
    seq: u64,
    evicted_below: i64,
    partitions: Vec<(StateKey, Partition)>,
    pending: Vec<((i64, u64), Pending)>,
}

pub struct OverWindow {
    partition_by: Vec<Compiled>,
    frame: Frame,
    aggs: Arc<[OverAggregate]>,
    watermark: Watermark,
    partitions: StateTable<Partition>,
    /// Rows waiting for the watermark, by (time, arrival).
    pending: BTreeMap<(i64, u64), Pending>,
    seq: u64,
    /// The newest last-emitted time of a partition dropped from state for being idle.
    evicted_below: i64,
    /// The watermark at the last sweep for idle partitions.
    swept_at: i64,
    batch: u64,
    next: RowBatch,
    key: Vec<u8>,
}

impl OverWindow {
    pub fn new(partition_by: Vec<Compiled>, frame: Frame, aggs: Vec<OverAggregate>) -> OverWindow {
        OverWindow {
            partition_by,
            frame,
            aggs: aggs.into(),
            watermark: Watermark::new(0),
            partitions: StateTable::default(),
            pending: BTreeMap::new(),
            seq: 0,
            evicted_below: i64::MIN,
            swept_at: 0,
            batch: 0,
            next: RowBatch::new(),
            key: Vec::new(),
        }
    }

    /// The partition key and the aggregates' arguments of a row.
    fn prepare(&mut self, row: &Row, time: i64) -> Result<Vec<Value>, RowError> {
        let ctx = Context {
            row,
            rowtime: time,
            window: None,
            slots: &[],
        };
        self.key.clear();
        for expr in &self.partition_by {
            let value = expr.eval(&ctx)?;
            // Flink makes NULL a partition of its own; issue 19 asks for such rows in the
            // dead letters instead (a login without an IP is no IP's failure), as ksqlDB
            // drops rows whose GROUP BY key is null.
            if value.is_null() {
                return Err(RowError::Null {
                    what: "PARTITION BY key",
                    consequence: "the row belongs to no partition of the OVER window",
                });
            }
            value.write_key(&mut self.key);
        }
        let mut arguments = Vec::with_capacity(self.aggs.len());
        for agg in self.aggs.iter() {
            match &agg.argument {
                Some(argument) => argument.eval_onto(&ctx, &mut arguments)?,
                None => arguments.push(Value::Null),
            }
        }
        Ok(arguments)
    }

    /// Computes and passes on every held row whose time the watermark has reached, in
    /// time order; rows of one partition and time go together.
    fn release(&mut self) {
        let watermark = self.watermark.current();
        while let Some((&(time, _), _)) = self.pending.first_key_value() {
            if time > watermark {
                break;
            }
            let mut at_time: Vec<Pending> = Vec::new();
            while let Some(entry) = self.pending.first_entry() {
                if entry.key().0 != time {
                    break;
                }
                at_time.push(entry.remove());
            }
            // Partitions in the order their first row at this time arrived.
            let mut order: Vec<StateKey> = Vec::new();
            for pending in &at_time {
                if !order.contains(&pending.key) {
                    order.push(pending.key.clone());
                }
            }
            for key in order {
                let rows: Vec<&Pending> = at_time.iter().filter(|p| p.key == key).collect();
                self.fire(&key, time, &rows);
            }
        }
        if let Frame::Range {
            preceding: Some(interval),
        } = self.frame
        {
            if watermark != i64::MAX && watermark.saturating_sub(self.swept_at) >= interval {
                self.sweep_idle(watermark, interval);
            }
        }
    }

    /// Emits one partition's rows at one time (Flink's timer for that time).
    fn fire(&mut self, key: &StateKey, time: i64, rows: &[&Pending]) {
        let hash = self.partitions.hash(key.as_bytes());
        let aggs = self.aggs.clone();
        let frame = self.frame;
        let batch = self.batch;
        let mut seq = self.seq;
        let partition = self.partitions.get_or_insert_with(key, hash, || Partition {
            last_emitted: 0,
            rows: VecDeque::new(),
            running: vec![Running::default(); aggs.len()],
        });
        let mut results: Vec<Value> = Vec::with_capacity(aggs.len());
        let mut emit = |partition: &Partition, pending: &Pending, next: &mut RowBatch| {
            results.clear();
            for (agg, running) in aggs.iter().zip(&partition.running) {
                results.push(running.result(agg.function));
            }
            let origin = if pending.batch == batch {
                pending.origin
            } else {
                NO_ORIGIN
            };
            let width = pending.row.len() + results.len();
            let out = next.push(width, time, origin);
            out[..pending.row.len()].clone_from_slice(&pending.row);
            out[pending.row.len()..].clone_from_slice(&results);
        };
        match frame {
            Frame::Range { preceding } => {
                // Flink retracts what left the window, then takes the new rows in.
                if let Some(interval) = preceding {
                    while partition
                        .rows
                        .front()
                        .is_some_and(|r| time.saturating_sub(r.time) > interval)
                    {
                        if let Some(old) = partition.rows.pop_front() {
                            partition.retract(&aggs, &old);
                        }
                    }
                }
                for pending in rows {
                    partition.add(&aggs, time, seq, &pending.arguments, preceding.is_some());
                    seq += 1;
                }
                for pending in rows {
                    emit(partition, pending, &mut self.next);
                }
            }
            Frame::Rows { preceding } => {
                for pending in rows {
                    partition.add(&aggs, time, seq, &pending.arguments, preceding.is_some());
                    seq += 1;
                    if let Some(n) = preceding {
                        while partition.rows.len() as u64 > n + 1 {
                            if let Some(old) = partition.rows.pop_front() {
                                partition.retract(&aggs, &old);
                            }
                        }
                    }
                    emit(partition, pending, &mut self.next);
                }
            }
        }
        partition.last_emitted = time;
        self.seq = seq;
    }

    /// Drops partitions whose every row has left the window: they hold nothing but the
    /// time they last emitted, which `evicted_below` keeps for all of them at once.
    fn sweep_idle(&mut self, watermark: i64, interval: i64) {
        self.swept_at = watermark;
        let waiting: BTreeSet<StateKey> = self.pending.values().map(|p| p.key.clone()).collect();
        let mut newest_dropped = self.evicted_below;
        self.partitions.retain(|key, partition| {
            let idle = watermark.saturating_sub(partition.last_emitted) > interval
                && !waiting.contains(key);
            if idle {
                newest_dropped = newest_dropped.max(partition.last_emitted);
            }
            !idle
        });
        self.evicted_below = newest_dropped;
    }

    fn last_emitted(&self, key: &[u8]) -> Option<i64> {
        let probe = StateKey::new(key);
        self.partitions
            .get(&probe, self.partitions.hash(key))
            .map(|p| p.last_emitted)
    }
}

impl Partition {
    fn add(
        &mut self,
        aggs: &[OverAggregate],
        time: i64,
        seq: u64,
        arguments: &[Value],
        bounded: bool,
    ) {
        for ((agg, running), value) in aggs.iter().zip(&mut self.running).zip(arguments) {
            running.add(agg.function, seq, value);
        }
        // An unbounded window never gives rows back: only its running totals are kept.
        if bounded {
            self.rows.push_back(WindowRow {
                time,
                seq,
                arguments: arguments.to_vec(),
            });
        }
    }

    fn retract(&mut self, aggs: &[OverAggregate], row: &WindowRow) {
        for ((agg, running), value) in aggs.iter().zip(&mut self.running).zip(&row.arguments) {
            running.retract(agg.function, row.seq, value);
        }
    }
}

impl Running {
    fn add(&mut self, function: OverFunction, seq: u64, value: &Value) {
        match function {
            OverFunction::CountStar => self.count += 1,
            _ if value.is_null() => {}
            OverFunction::Count => self.count += 1,
            OverFunction::Sum | OverFunction::Avg => {
                self.count += 1;
                match value {
                    Value::Integer(i) => self.sum_int = self.sum_int.wrapping_add(*i),
                    other => {
                        self.doubles = true;
                        self.sum_double += other.as_f64().unwrap_or(0.0);
                    }
                }
            }
            OverFunction::Min | OverFunction::Max => {
                self.count += 1;
                let better = if function == OverFunction::Min {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                };
                while self.extremes.back().is_some_and(|(_, held)| {
                    value.compare(held).is_none_or(|o| o == better || o.is_eq())
                }) {
                    self.extremes.pop_back();
                }
                self.extremes.push_back((seq, value.clone()));
            }
        }
    }

    fn retract(&mut self, function: OverFunction, seq: u64, value: &Value) {
        match function {
            OverFunction::CountStar => self.count -= 1,
            _ if value.is_null() => {}
            OverFunction::Count => self.count -= 1,
            OverFunction::Sum | OverFunction::Avg => {
                self.count -= 1;
                match value {
                    Value::Integer(i) => self.sum_int = self.sum_int.wrapping_sub(*i),
                    other => self.sum_double -= other.as_f64().unwrap_or(0.0),
                }
            }
            OverFunction::Min | OverFunction::Max => {
                self.count -= 1;
                if self.extremes.front().is_some_and(|(held, _)| *held == seq) {
                    self.extremes.pop_front();
                }
            }
        }
    }

    /// The aggregate's value; SUM and AVG keep an integer argument's type (AVG truncating
    /// toward zero, as Flink's does), and are NULL over no values.
    fn result(&self, function: OverFunction) -> Value {
        match function {
            OverFunction::CountStar | OverFunction::Count => Value::Integer(self.count),
            _ if self.count == 0 => Value::Null,
            OverFunction::Sum if self.doubles => {
                Value::Double(self.sum_double + self.sum_int as f64)
            }
            OverFunction::Sum => Value::Integer(self.sum_int),
            OverFunction::Avg if self.doubles => {
                Value::Double((self.sum_double + self.sum_int as f64) / self.count as f64)
            }
            OverFunction::Avg => Value::Integer(self.sum_int / self.count),
            OverFunction::Min | OverFunction::Max => self
                .extremes
                .front()
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null),
        }
    }
}

impl Operator for OverWindow {
    fn name(&self) -> &'static str {
        "over_window"
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        self.batch += 1;
        self.next.clear();
        for at in 0..batch.len() {
            // The source's watermark as this row reached it: rows it has passed go first.
            if self.watermark.advance_to(batch.watermark(at)) {
                self.release();
            }
            let (time, origin) = (batch.time(at), batch.origin(at));
            let arguments = match self.prepare(batch.row(at), time) {
                Ok(arguments) => arguments,
                Err(error) => {
                    emit.reject(origin, error);
                    continue;
                }
            };
            let last = match self.last_emitted(&self.key) {
                Some(last) => last,
                None => self.evicted_below.max(0),
            };
            if time <= last {
                emit.reject(
                    origin,
                    RowError::LateForPartition {
                        event_time: time,
                        last_emitted: last,
                    },
                );
                continue;
            }
            let seq = self.seq;
            self.seq += 1;
            self.pending.insert(
                (time, seq),
                Pending {
                    key: StateKey::new(&self.key),
                    row: batch.row(at).clone(),
                    arguments,
                    batch: self.batch,
                    origin,
                },
            );
        }
        if self.watermark.advance_to(batch.end_watermark()) {
            self.release();
        }
        batch.swap(&mut self.next);
    }

    fn advance(&mut self, watermark: i64, batch: &mut RowBatch, _emit: &mut Emit<'_>) {
        self.next.clear();
        if self.watermark.advance_to(watermark) {
            self.release();
        }
        for at in 0..self.next.len() {
            let row = self.next.row(at).clone();
            let out = batch.push(row.len(), self.next.time(at), NO_ORIGIN);
            out.clone_from_slice(&row);
        }
    }

    fn state_size(&self) -> usize {
        self.pending.len()
            + self
                .partitions
                .iter()
                .map(|(_, p)| p.rows.len().max(1))
                .sum::<usize>()
    }

    fn state_bytes(&self) -> usize {
        self.partitions.heap_bytes() + self.pending.heap_bytes()
    }

    fn snapshot(&self) -> Result<GroupSnapshot, SnapshotError> {
        let mut parts: BTreeMap<KeyGroup, GroupPart> = BTreeMap::new();
        let new_part = || GroupPart {
            watermark: Some(self.watermark),
            seq: self.seq,
            evicted_below: self.evicted_below,
            ..GroupPart::default()
        };
        for (key, partition) in self.partitions.iter() {
            parts
                .entry(key_group(key.as_bytes()))
                .or_insert_with(new_part)
                .partitions
                .push((key.clone(), partition.clone()));
        }
        for (at, pending) in &self.pending {
            parts
                .entry(key_group(pending.key.as_bytes()))
                .or_insert_with(new_part)
                .pending
                .push((*at, pending.clone()));
        }
        // The watermark and the eviction horizon hold for every key group, also those that
        // hold no partition now.
        parts.entry(0).or_insert_with(new_part);
        encode_groups("over_window", parts)
    }

    fn restore(&mut self, groups: &GroupSnapshot) -> Result<(), RestoreError> {
        let restored: BTreeSet<KeyGroup> = groups.keys().copied().collect();
        self.partitions
            .retain(|key, _| !restored.contains(&key_group(key.as_bytes())));
        self.pending
            .retain(|_, p| !restored.contains(&key_group(p.key.as_bytes())));
        for (group, bytes) in groups {
            let part: GroupPart = decode_group("over_window", *group, bytes)?;
            if let Some(watermark) = &part.watermark {
                self.watermark.merge(watermark);
            }
            self.seq = self.seq.max(part.seq);
            self.evicted_below = self.evicted_below.max(part.evicted_below);
            for (key, partition) in part.partitions {
                self.partitions.insert(key, partition);
            }
            for (at, mut pending) in part.pending {
                // Held rows restored come from no input record of this run.
                pending.batch = u64::MAX;
                self.pending.insert(at, pending);
            }
        }
        self.swept_at = self.watermark.current();
        Ok(())
    }
}
