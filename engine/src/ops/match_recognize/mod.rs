//! MATCH_RECOGNIZE as Flink SQL 2.3 runs it on event time (engine/docs/flink-semantics.md,
//! sections 1 and 3): ONE ROW PER MATCH, the partition columns and then the measures.
//!
//! Per partition, a row waits until the source's watermark (carried by the batch, see
//! `RowBatch`) reaches its time, as in Flink's CepOperator: then the rows of each time, in
//! (secondary ORDER BY keys, arrival) order, are fed to the partition's automaton (nfa.rs),
//! after the automaton has dropped partial matches that outlived WITHIN. A row whose time
//! is not after the watermark when it arrives is late and goes to the dead letters. A
//! match's row time is the time of the row being processed when it is emitted (Flink's
//! MATCH_ROWTIME), or the watermark when stream time alone releases it. Partial matches
//! left at the end of the input are dropped without output.
//!
//! A partition that waits for nothing and has no partial match is dropped from state; so
//! the state is the rows not yet fed plus the rows of live partial matches.

pub mod heap;
pub mod navigation;
pub mod nfa;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::expr::{Compiled, Context, EvalError};
use crate::heap::HeapBytes;
use crate::ops::{
    decode_group, encode_groups, Emit, GroupSnapshot, Operator, RowBatch, RowError, SnapshotError,
    NO_ORIGIN,
};
use crate::state::{key_group, KeyGroup, RestoreError, StateKey, StateTable};
use crate::value::{Row, Value};

use navigation::{MatchRow, Nav};
use nfa::{Computation, Conditions, Nfa, NfaState, Outcome, SkipError, VarId};

/// A DEFINE condition: the expression over the row being tested, reading the navigation
/// sub-expressions from slots.
#[derive(Debug)]
pub struct Define {
    pub condition: Compiled,
    pub navs: Vec<Nav>,
}

/// Everything planning worked out for one MATCH_RECOGNIZE clause.
#[derive(Debug)]
pub struct Spec {
    pub nfa: Nfa,
    pub partition_by: Vec<Compiled>,
    /// The ORDER BY keys after the time, and whether each is DESC.
    pub order_by: Vec<(Compiled, bool)>,
    /// By variable; `None` is a variable without DEFINE, which matches every row.
    pub defines: Vec<Option<Define>>,
    pub variables: Vec<String>,
    /// The MEASURES, over the slots of `measure_navs`.
    pub measures: Vec<Compiled>,
    pub measure_navs: Vec<Nav>,
}

/// A row waiting for the watermark.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Waiting {
    row: Row,
    /// Its secondary ORDER BY keys.
    order: Vec<Value>,
    /// The batch it arrived in and its place there, so that a match it completes in the
    /// same batch still names its input record.
    batch: u64,
    origin: u32,
}

/// A row fed to the automaton and still part of a partial or waiting match.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Event {
    row: Row,
    time: i64,
    batch: u64,
    origin: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Partition {
    /// The PARTITION BY values, the first columns of every output row.
    key_values: Vec<Value>,
    waiting: BTreeMap<i64, Vec<Waiting>>,
    /// The rows fed from `first_seq` on; the automaton's matches refer to them by sequence
    /// number.
    events: VecDeque<Event>,
    first_seq: u64,
    next_seq: u64,
    nfa: NfaState,
}

impl HeapBytes for Waiting {
    fn heap_bytes(&self) -> usize {
        self.row.heap_bytes() + self.order.heap_bytes()
    }
}

impl HeapBytes for Event {
    fn heap_bytes(&self) -> usize {
        self.row.heap_bytes()
    }
}

impl HeapBytes for Partition {
    fn heap_bytes(&self) -> usize {
        self.key_values.heap_bytes()
            + self.waiting.heap_bytes()
            + self.events.heap_bytes()
            + self.nfa.heap_bytes()
    }
}

impl Partition {
    fn is_empty(&self) -> bool {
        self.waiting.is_empty() && Nfa::is_idle(&self.nfa)
    }

    fn event(&self, seq: u64) -> Option<&Event> {
        usize::try_from(seq.checked_sub(self.first_seq)?)
            .ok()
            .and_then(|at| self.events.get(at))
    }

    /// Forgets the rows no partial or waiting match starts at or after.
    fn trim(&mut self) {
        let oldest = self
            .nfa
            .partial
            .iter()
            .chain(self.nfa.completed.iter())
            .filter_map(|c| c.start)
            .min()
            .unwrap_or(self.next_seq);
        while self.first_seq < oldest && self.events.pop_front().is_some() {
            self.first_seq += 1;
        }
        self.first_seq = self.first_seq.max(oldest.min(self.next_seq));
    }
}

#[derive(Default, Serialize, Deserialize)]
struct GroupPart {
    watermark: i64,
    partitions: Vec<(StateKey, Partition)>,
}

pub struct MatchRecognize {
    spec: Arc<Spec>,
    /// The watermark as this operator has seen it; `i64::MIN` until the source emits one
    /// (Flink emits none at or below zero).
    watermark: i64,
    partitions: StateTable<Partition>,
    /// When each partition next needs the watermark's attention: the times of its waiting
    /// rows, and the first time one of its partial matches times out.
    timers: BTreeSet<(i64, StateKey)>,
    batch: u64,
    next: RowBatch,
    key: Vec<u8>,
}

impl MatchRecognize {
    pub fn new(spec: Spec) -> MatchRecognize {
        MatchRecognize {
            spec: Arc::new(spec),
            watermark: i64::MIN,
            partitions: StateTable::default(),
            timers: BTreeSet::new(),
            batch: 0,
            next: RowBatch::new(),
            key: Vec::new(),
        }
    }

    /// Takes one arriving row: late, or waiting for the watermark.
    fn arrive(&mut self, row: &Row, time: i64, origin: u32, emit: &mut Emit<'_>) {
        if self.watermark != i64::MIN && time <= self.watermark {
            emit.reject(
                origin,
                RowError::LateForWatermark {
                    event_time: time,
                    watermark: self.watermark,
                    operator: "MATCH_RECOGNIZE",
                },
            );
            return;
        }
        let ctx = Context {
            row,
            rowtime: time,
            window: None,
            slots: &[],
        };
        self.key.clear();
        let mut key_values = Vec::with_capacity(self.spec.partition_by.len());
        let mut order = Vec::with_capacity(self.spec.order_by.len());
        let evaluated = (|| -> Result<(), EvalError> {
            for expr in &self.spec.partition_by {
                let value = expr.eval(&ctx)?;
                value.write_key(&mut self.key);
                key_values.push(value);
            }
            Ok(())
        })();
        if let Err(error) = evaluated {
            emit.reject(origin, error);
            return;
        }
        // Flink makes NULL a partition of its own; issue 19 asks for such rows in the dead
        // letters (a login without an IP is no IP's failure), as OVER windows do.
        if key_values.iter().any(Value::is_null) {
            emit.reject(
                origin,
                RowError::Null {
                    what: "PARTITION BY key",
                    consequence: "the row belongs to no partition of the MATCH_RECOGNIZE",
                },
            );
            return;
        }
        let evaluated = (|| -> Result<(), EvalError> {
            for (expr, _) in &self.spec.order_by {
                order.push(expr.eval(&ctx)?);
            }
            Ok(())
        })();
        if let Err(error) = evaluated {
            emit.reject(origin, error);
            return;
        }
        let key = StateKey::new(&self.key);
        let hash = self.partitions.hash(key.as_bytes());
        let nfa = &self.spec.nfa;
        let partition = self
            .partitions
            .get_or_insert_with(&key, hash, || Partition {
                key_values,
                waiting: BTreeMap::new(),
                events: VecDeque::new(),
                first_seq: 0,
                next_seq: 0,
                nfa: nfa.initial_state(),
            });
        partition.waiting.entry(time).or_default().push(Waiting {
            row: row.clone(),
            order,
            batch: self.batch,
            origin,
        });
        self.timers.insert((time, key));
    }

    /// Moves the watermark on and gives every partition whose timer it passes its turn.
    fn advance_to(&mut self, watermark: i64, emit: &mut Emit<'_>) {
        if watermark <= 0 || watermark <= self.watermark {
            return;
        }
        self.watermark = watermark;
        let mut due: Vec<StateKey> = Vec::new();
        let mut seen: BTreeSet<StateKey> = BTreeSet::new();
        while let Some(first) = self.timers.first() {
            if first.0 > watermark {
                break;
            }
            if let Some((_, key)) = self.timers.pop_first() {
                if seen.insert(key.clone()) {
                    due.push(key);
                }
            }
        }
        for key in due {
            self.fire(&key, emit);
        }
    }

    /// CepOperator.onEventTime for one partition: each waiting time the watermark has
    /// reached, in order, then the watermark itself.
    fn fire(&mut self, key: &StateKey, emit: &mut Emit<'_>) {
        let watermark = self.watermark;
        let hash = self.partitions.hash(key.as_bytes());
        let spec = self.spec.clone();
        let batch = self.batch;
        let Some(partition) = self.partitions.get_mut(key, hash) else {
            return;
        };
        let mut outcomes = Vec::new();
        let mut runner = Runner {
            spec: &spec,
            batch,
            next: &mut self.next,
            emit,
        };
        while let Some(entry) = partition.waiting.first_entry() {
            let time = *entry.key();
            if time > watermark {
                break;
            }
            let mut rows = entry.remove();
            spec.nfa
                .advance_time(&mut partition.nfa, time, &mut outcomes);
            runner.emit_all(partition, &mut outcomes, time, NO_ORIGIN);
            if !spec.order_by.is_empty() {
                rows.sort_by(|a, b| compare_keys(&a.order, &b.order, &spec.order_by));
            }
            for waiting in rows {
                runner.feed(partition, waiting, time, &mut outcomes);
            }
        }
        spec.nfa
            .advance_time(&mut partition.nfa, watermark, &mut outcomes);
        runner.emit_all(partition, &mut outcomes, watermark, NO_ORIGIN);
        partition.trim();
        if partition.is_empty() {
            self.partitions.remove(key, hash);
        } else if let Some(at) = spec.nfa.next_timeout(&partition.nfa) {
            // Flink's CepOperator wakes such a partition at every watermark; only a timeout
            // can change it, so it waits for the first one.
            self.timers
                .insert((at.max(watermark.saturating_add(1)), key.clone()));
        }
    }

    fn rebuild_timers(&mut self) {
        self.timers.clear();
        for (key, partition) in self.partitions.iter() {
            for time in partition.waiting.keys() {
                self.timers.insert((*time, key.clone()));
            }
            if let Some(at) = self.spec.nfa.next_timeout(&partition.nfa) {
                self.timers
                    .insert((at.max(self.watermark.saturating_add(1)), key.clone()));
            }
        }
    }
}

/// Feeds rows to a partition's automaton and turns its matches into output rows.
struct Runner<'r, 'a> {
    spec: &'r Spec,
    batch: u64,
    next: &'r mut RowBatch,
    emit: &'r mut Emit<'a>,
}

impl Runner<'_, '_> {
    fn feed(
        &mut self,
        partition: &mut Partition,
        waiting: Waiting,
        time: i64,
        outcomes: &mut Vec<Outcome>,
    ) {
        let seq = partition.next_seq;
        partition.next_seq += 1;
        if partition.events.is_empty() {
            partition.first_seq = seq;
        }
        partition.events.push_back(Event {
            row: waiting.row,
            time,
            batch: waiting.batch,
            origin: waiting.origin,
        });
        let mut error = None;
        {
            let Partition {
                events,
                first_seq,
                nfa,
                ..
            } = &mut *partition;
            let Some(current) = events.back() else {
                return;
            };
            let mut evaluator = Evaluator {
                spec: self.spec,
                events,
                first_seq: *first_seq,
                current,
                slots: Vec::new(),
                error: &mut error,
            };
            self.spec
                .nfa
                .process(nfa, seq, time, &mut evaluator, outcomes);
        }
        let origin = if waiting.batch == self.batch {
            waiting.origin
        } else {
            NO_ORIGIN
        };
        if let Some(error) = error {
            self.emit.reject(origin, error);
        }
        self.emit_all(partition, outcomes, time, origin);
    }

    /// Output rows for the matches the automaton let go, at `time`.
    fn emit_all(
        &mut self,
        partition: &Partition,
        outcomes: &mut Vec<Outcome>,
        time: i64,
        origin: u32,
    ) {
        for outcome in outcomes.drain(..) {
            match outcome {
                Outcome::Matched(found) => {
                    if let Err(error) = self.output(partition, &found, time, origin) {
                        self.emit.reject(origin, error);
                    }
                }
                Outcome::SkipFailed(_, error) => {
                    let (var, reason) = match error {
                        SkipError::NoRow(var) => (var, "the match has no row for it"),
                        SkipError::FirstRow(var) => (
                            var,
                            "its row is the match's first, so the match would repeat",
                        ),
                    };
                    let target = self
                        .spec
                        .variables
                        .get(var as usize)
                        .cloned()
                        .unwrap_or_default();
                    self.emit
                        .reject(origin, RowError::SkipFailed { target, reason });
                }
            }
        }
    }

    fn output(
        &mut self,
        partition: &Partition,
        found: &Computation,
        time: i64,
        origin: u32,
    ) -> Result<(), RowError> {
        let Some(start) = found.start else {
            return Ok(());
        };
        let mut rows: Vec<(VarId, MatchRow<'_>)> = Vec::with_capacity(found.vars.len());
        for (at, var) in found.vars.iter().enumerate() {
            let event = partition
                .event(start + at as u64)
                .ok_or(RowError::CorruptState(
                    "a match refers to a row no longer held",
                ))?;
            rows.push((
                *var,
                MatchRow {
                    row: &event.row,
                    time: event.time,
                },
            ));
        }
        let mut slots = Vec::with_capacity(self.spec.measure_navs.len());
        let mut picked: Vec<MatchRow<'_>> = Vec::with_capacity(rows.len());
        for nav in &self.spec.measure_navs {
            picked.clear();
            picked.extend(
                rows.iter()
                    .filter(|(var, _)| nav.var.is_none_or(|v| v == *var))
                    .map(|(_, row)| *row),
            );
            slots.push(nav.eval(&picked, time)?);
        }
        let last = rows
            .last()
            .map(|(_, row)| row.row.as_slice())
            .unwrap_or(&[]);
        let ctx = Context {
            row: last,
            rowtime: time,
            window: None,
            slots: &slots,
        };
        let width = partition.key_values.len() + self.spec.measures.len();
        let mut values = Vec::with_capacity(width);
        values.extend_from_slice(&partition.key_values);
        for measure in &self.spec.measures {
            values.push(measure.eval(&ctx)?);
        }
        let out = self.next.push(width, time, origin);
        out.clone_from_slice(&values);
        Ok(())
    }
}

/// Evaluates DEFINE conditions for the row being fed, in the context of a partial match.
struct Evaluator<'a> {
    spec: &'a Spec,
    events: &'a VecDeque<Event>,
    first_seq: u64,
    current: &'a Event,
    slots: Vec<Value>,
    /// The first evaluation error of this row: the row goes to the dead letters and the
    /// condition counts as false (Flink would fail the job).
    error: &'a mut Option<RowError>,
}

impl Conditions for Evaluator<'_> {
    fn holds(&mut self, var: VarId, context: &Computation) -> bool {
        let Some(Some(define)) = self.spec.defines.get(var as usize) else {
            return true;
        };
        match self.test(define, var, context) {
            Ok(holds) => holds,
            Err(error) => {
                if self.error.is_none() {
                    *self.error = Some(error.into());
                }
                false
            }
        }
    }
}

impl Evaluator<'_> {
    fn test(
        &mut self,
        define: &Define,
        var: VarId,
        context: &Computation,
    ) -> Result<bool, EvalError> {
        self.slots.clear();
        let current = MatchRow {
            row: &self.current.row,
            time: self.current.time,
        };
        let mut rows: Vec<MatchRow<'_>> = Vec::new();
        for nav in &define.navs {
            rows.clear();
            if let Some(start) = context.start {
                for (at, mapped) in context.vars.iter().enumerate() {
                    if nav.var.is_some_and(|v| v != *mapped) {
                        continue;
                    }
                    let index = (start + at as u64).checked_sub(self.first_seq);
                    if let Some(event) = index
                        .and_then(|i| usize::try_from(i).ok())
                        .and_then(|i| self.events.get(i))
                    {
                        rows.push(MatchRow {
                            row: &event.row,
                            time: event.time,
                        });
                    }
                }
            }
            if nav.var.is_none_or(|v| v == var) {
                rows.push(current);
            }
            let value = nav.eval(&rows, self.current.time)?;
            self.slots.push(value);
        }
        define.condition.test(&Context {
            row: &self.current.row,
            rowtime: self.current.time,
            window: None,
            slots: &self.slots,
        })
    }
}

/// Orders two rows of one time by the secondary ORDER BY keys. NULL sorts low, as in
/// Flink: first ascending, last descending.
fn compare_keys(a: &[Value], b: &[Value], order_by: &[(Compiled, bool)]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for ((x, y), (_, descending)) in a.iter().zip(b).zip(order_by) {
        let order = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => x.compare(y).unwrap_or(Ordering::Equal),
        };
        let order = if *descending { order.reverse() } else { order };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

impl Operator for MatchRecognize {
    fn name(&self) -> &'static str {
        "match_recognize"
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        self.batch += 1;
        self.next.clear();
        for at in 0..batch.len() {
            // The source's watermark as this row reached it: times it has passed go first.
            self.advance_to(batch.watermark(at), emit);
            self.arrive(batch.row(at), batch.time(at), batch.origin(at), emit);
        }
        self.advance_to(batch.end_watermark(), emit);
        batch.swap(&mut self.next);
    }

    fn advance(&mut self, watermark: i64, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        self.batch += 1;
        self.next.clear();
        self.advance_to(watermark, emit);
        for at in 0..self.next.len() {
            let row = self.next.row(at);
            let (time, width) = (self.next.time(at), row.len());
            let values = row.clone();
            batch.push(width, time, NO_ORIGIN).clone_from_slice(&values);
        }
    }

    fn state_size(&self) -> usize {
        self.partitions
            .iter()
            .map(|(_, p)| {
                p.waiting.values().map(Vec::len).sum::<usize>()
                    + p.nfa.partial.iter().filter(|c| c.start.is_some()).count()
                    + p.nfa.completed.len()
            })
            .sum()
    }

    fn state_bytes(&self) -> usize {
        self.partitions.heap_bytes() + self.timers.heap_bytes()
    }

    fn snapshot(&self) -> Result<GroupSnapshot, SnapshotError> {
        let mut parts: BTreeMap<KeyGroup, GroupPart> = BTreeMap::new();
        let new_part = || GroupPart {
            watermark: self.watermark,
            partitions: Vec::new(),
        };
        for (key, partition) in self.partitions.iter() {
            parts
                .entry(key_group(key.as_bytes()))
                .or_insert_with(new_part)
                .partitions
                .push((key.clone(), partition.clone()));
        }
        // The watermark holds for every key group, also those that hold no partition now.
        parts.entry(0).or_insert_with(new_part);
        encode_groups("match_recognize", parts)
    }

    fn restore(&mut self, groups: &GroupSnapshot) -> Result<(), RestoreError> {
        let restored: BTreeSet<KeyGroup> = groups.keys().copied().collect();
        self.partitions
            .retain(|key, _| !restored.contains(&key_group(key.as_bytes())));
        for (group, bytes) in groups {
            let part: GroupPart = decode_group("match_recognize", *group, bytes)?;
            self.watermark = self.watermark.max(part.watermark);
            for (key, mut partition) in part.partitions {
                // Rows restored come from no input record of this run.
                for waiting in partition.waiting.values_mut().flatten() {
                    waiting.batch = u64::MAX;
                }
                for event in &mut partition.events {
                    event.batch = u64::MAX;
                }
                self.partitions.insert(key, partition);
            }
        }
        self.rebuild_timers();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::watermark::Watermark;
    use crate::ops::{Outputs, Rejected};
    use crate::sql::ast::{SqlType, Statement};
    use crate::sql::parser::parse;
    use crate::value::{Column, Schema};

    fn schema() -> Schema {
        let column = |name: &str, sql_type| Column {
            name: name.into(),
            sql_type,
            key: false,
        };
        Schema {
            columns: vec![
                column("K", SqlType::String),
                column("ID", SqlType::Int),
                column("V", SqlType::String),
                column("T", SqlType::Bigint),
            ],
        }
    }

    fn operator(clause: &str) -> Box<dyn Operator> {
        let sql = format!("SELECT * FROM s MATCH_RECOGNIZE ({clause});");
        let parsed = parse(&sql).expect("valid SQL");
        let Statement::Select(query) = &parsed[0].statement else {
            panic!("a SELECT")
        };
        let clause = query.match_recognize.as_ref().expect("a MATCH_RECOGNIZE");
        crate::plan::match_recognize::plan(clause, &schema(), Some("T"), 0)
            .expect("a plan")
            .0
    }

    /// Feeds rows (partition, id, letter, time) as one batch with the watermarks the query
    /// computes (delay 0); then, if `end`, the end of input. The output rows and the
    /// rejected rows.
    fn feed(
        op: &mut dyn Operator,
        watermark: &mut Watermark,
        rows: &[(&str, i64, &str, i64)],
        end: bool,
    ) -> (Vec<Row>, Vec<Rejected>) {
        let mut batch = RowBatch::new();
        for (at, (k, id, v, t)) in rows.iter().enumerate() {
            batch.set_watermark(watermark.current());
            let row = batch.push(4, *t, at as u32);
            row.clone_from_slice(&[
                Value::String((*k).into()),
                Value::Integer(*id),
                Value::String((*v).into()),
                Value::Integer(*t),
            ]);
            watermark.observe(*t);
        }
        batch.set_end_watermark(watermark.current());
        let (mut out, mut rejected) = (Outputs::new(), Vec::new());
        let mut emit = Emit {
            out: &mut out,
            rejected: &mut rejected,
        };
        op.process(&mut batch, &mut emit);
        let mut rows_out: Vec<Row> = batch.rows().to_vec();
        if end {
            let mut tail = RowBatch::new();
            op.advance(i64::MAX, &mut tail, &mut emit);
            rows_out.extend(tail.rows().iter().cloned());
        }
        (rows_out, rejected)
    }

    const CLAUSE: &str = "PARTITION BY k ORDER BY ROWTIME MEASURES FIRST(id) AS f, LAST(id) AS l \
         AFTER MATCH SKIP TO NEXT ROW PATTERN (A B+? C) WITHIN INTERVAL '10' SECOND \
         DEFINE A AS v = 'a', B AS v IN ('b', 'c'), C AS v = 'c'";

    fn input() -> Vec<(&'static str, i64, &'static str, i64)> {
        let letters = ["a", "b", "c", "a", "c", "b", "c", "a", "a", "b", "c", "c"];
        (0..60)
            .map(|i| {
                let k = ["x", "y", "z"][(i * 7 % 3) as usize];
                (k, i, letters[(i * 5 % 12) as usize], 1000 + i * 400)
            })
            .collect()
    }

    fn by_partition(rows: &[Row]) -> BTreeMap<String, Vec<Row>> {
        let mut out: BTreeMap<String, Vec<Row>> = BTreeMap::new();
        for row in rows {
            out.entry(row[0].to_string()).or_default().push(row.clone());
        }
        out
    }

    #[test]
    fn a_restored_snapshot_goes_on_as_if_nothing_had_stopped() {
        let rows = input();
        let mut whole = operator(CLAUSE);
        let (expected, _) = feed(whole.as_mut(), &mut Watermark::new(0), &rows, true);
        assert!(expected.len() > 5, "{expected:?}");
        for cut in [1, 17, 30, 59] {
            let mut watermark = Watermark::new(0);
            let mut first = operator(CLAUSE);
            let (mut got, _) = feed(first.as_mut(), &mut watermark, &rows[..cut], false);
            let snapshot = first.snapshot().expect("a snapshot");
            assert!(snapshot.len() > 1, "key groups of their own");
            let mut second = operator(CLAUSE);
            second.restore(&snapshot).expect("a restore");
            assert_eq!(second.state_size(), first.state_size());
            let (rest, _) = feed(second.as_mut(), &mut watermark, &rows[cut..], true);
            got.extend(rest);
            assert_eq!(by_partition(&got), by_partition(&expected), "cut at {cut}");
        }
    }

    #[test]
    fn finished_partitions_hold_nothing() {
        let mut op = operator(CLAUSE);
        let mut watermark = Watermark::new(0);
        let (out, _) = feed(
            op.as_mut(),
            &mut watermark,
            &[
                ("x", 1, "a", 1000),
                ("x", 2, "c", 2000),
                ("x", 3, "c", 3000),
            ],
            false,
        );
        // The watermark (2999) has fed a and c: one partial match (A B); the second c
        // waits for a later row, which then completes 1..3 and prunes the rest.
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(op.state_size(), 2, "one partial match and one waiting row");
        let (out, _) = feed(op.as_mut(), &mut watermark, &[("y", 4, "a", 4000)], false);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0][1..], [Value::Integer(1), Value::Integer(3)]);
        assert_eq!(op.state_size(), 1, "y's row waits; x holds nothing");
        let (_, _) = feed(op.as_mut(), &mut watermark, &[("z", 5, "b", 20_000)], true);
        assert_eq!(
            op.state_size(),
            0,
            "partial matches vanish at the end of input"
        );
        assert!(
            op.snapshot().expect("a snapshot").len() == 1,
            "only the watermark"
        );
    }

    #[test]
    fn late_rows_go_to_the_dead_letters() {
        let mut op = operator(CLAUSE);
        let mut watermark = Watermark::new(0);
        let (_, rejected) = feed(
            op.as_mut(),
            &mut watermark,
            &[
                ("x", 1, "a", 5000),
                ("x", 2, "b", 4000),
                ("y", 3, "a", 5000),
            ],
            false,
        );
        assert_eq!(rejected.len(), 1, "{rejected:?}");
        assert_eq!(rejected[0].origin, 1);
        assert_eq!(
            rejected[0].error,
            RowError::LateForWatermark {
                event_time: 4000,
                watermark: 4999,
                operator: "MATCH_RECOGNIZE",
            }
        );
        assert!(rejected[0].error.is_late());
    }

    #[test]
    fn a_skip_to_a_variable_the_match_lacks_is_a_dead_letter() {
        let mut op = operator(
            "PARTITION BY k ORDER BY ROWTIME MEASURES FIRST(id) AS f \
             AFTER MATCH SKIP TO FIRST B PATTERN (A B? C) \
             DEFINE A AS v = 'a', B AS v = 'b', C AS v = 'c'",
        );
        let (out, rejected) = feed(
            op.as_mut(),
            &mut Watermark::new(0),
            &[
                ("x", 1, "a", 1000),
                ("x", 2, "c", 2000),
                ("x", 3, "a", 3000),
                ("x", 4, "b", 4000),
                ("x", 5, "c", 5000),
            ],
            true,
        );
        assert_eq!(out.len(), 1, "a b c matches and skips to its b: {out:?}");
        assert_eq!(out[0][1], Value::Integer(3));
        assert_eq!(rejected.len(), 1, "{rejected:?}");
        assert!(matches!(&rejected[0].error, RowError::SkipFailed { target, .. } if target == "B"));
        assert!(rejected[0].error.to_string().contains("no row for it"));
    }
}
