//! The one drive loop that files, Kafka and the REST server's worker share: records come
//! from a `Source`, go to each query that reads their topic (records a query's state
//! already holds are skipped, as after a restart), and the outputs and dead letters go to an
//! `OutputSink`. Every commit interval, and when the input goes quiet or ends, the loop
//! checkpoints: outputs made durable first, then the state of the queries that changed (with
//! the input offsets it reflects), and only then the input offsets committed, so a crash at
//! any point loses nothing and a replay counts nothing twice.

pub mod latency;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::checkpoint::{CheckpointError, Store};
use crate::connector::file::FilesError;
use crate::connector::kafka::KafkaError;
use crate::engine::Engine;
use crate::query::{DeadLetter, InputRecord, OutputRecord, Outputs, Stats};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("the engine's state is poisoned: a thread panicked while it held it")]
    Poisoned,
    #[error(transparent)]
    StateBudget(#[from] crate::query::StateBudgetExceeded),
}

/// How often each query's state is measured against the state budget: often enough that
/// state cannot outgrow it by much in between, seldom enough that walking a million
/// windows costs well under a percent.
const STATE_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// A quiet step's commit that takes this long was waiting on the output, not idle.
const WAITED_COMMIT: Duration = Duration::from_secs(1);

/// How often the loop gives back what the last batches did not need: the buffers kept from
/// batch to batch keep the size of the largest batch (a catch-up's are a hundred times a
/// steady input's), and the allocators keep what librdkafka and the engine freed.
const RELEASE_INTERVAL: Duration = Duration::from_secs(10);

/// What a poll of the source found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    /// This many records, handed to the processing callback.
    Records(usize),
    /// Nothing within the wait.
    Quiet,
    /// The input has ended (files); Kafka never ends.
    Ended,
}

/// A change of the partitions this instance owns, handed over before the records read
/// after it.
#[derive(Debug)]
pub enum Rebalanced {
    /// These partitions went to another instance: what was read of them and not committed
    /// is theirs to read again, and a repartition partition's state goes with them.
    Revoked(Vec<(String, u32)>),
    /// A partition of a query's repartition topic (of its step `step`) came to this
    /// instance with its newest checkpoint (`None` when it has none yet); its records are
    /// read from the checkpoint's offset.
    Assigned {
        query: String,
        step: usize,
        partition: u32,
        snapshot: Option<Box<crate::exchange::PartitionSnapshot>>,
    },
}

/// What the processing callback gets: partitions that moved, then records.
pub type Process<'a> =
    dyn FnMut(Vec<Rebalanced>, &[InputRecord<'_>]) -> Result<(), RuntimeError> + 'a;

/// Where records come from.
pub trait Source {
    /// Waits up to `wait` for records and hands those that came to `process`, in order,
    /// after any change of the partitions owned that happened before them.
    fn next_batch(
        &mut self,
        wait: Duration,
        process: &mut Process<'_>,
    ) -> Result<Polled, RuntimeError>;

    /// True when reading `topics` would change what the source reads.
    fn wants(&self, _topics: &BTreeSet<String>) -> bool {
        false
    }

    /// Gives back the buffers kept from batch to batch beyond `keep` records.
    fn shrink_buffers(&mut self, _keep: usize) {}

    /// True when the source routes keyed state through repartition topics (Kafka), so a
    /// query that needs one and has none yet calls for `follow`.
    fn repartitions(&self) -> bool {
        false
    }

    /// Reads `topics` from now on (creating the queries' output and repartition topics
    /// first, where the source can, and routing the queries that need it through theirs).
    fn follow(
        &mut self,
        _engine: &mut Engine,
        _topics: &BTreeSet<String>,
    ) -> Result<(), RuntimeError> {
        Ok(())
    }

    /// Where the state of the queries restored whole begins, per topic and partition: a
    /// partition assigned later is read from there.
    fn state_starts(&mut self, _starts: BTreeMap<(String, u32), u64>) {}

    /// Records that these next offsets per topic and partition are processed and safe.
    fn commit(&mut self, _offsets: &BTreeMap<(String, u32), u64>) -> Result<(), RuntimeError> {
        Ok(())
    }
}

/// Where a query's outputs and dead letters go.
pub trait OutputSink {
    /// Writes what the query at `query` in the engine's list put out.
    fn write(
        &mut self,
        engine: &Engine,
        query: usize,
        outputs: &Outputs,
        dead: &[DeadLetter],
    ) -> Result<(), RuntimeError>;

    /// Makes everything written so far durable (files flushed, Kafka deliveries confirmed).
    fn flush(&mut self, engine: &Engine) -> Result<(), RuntimeError>;
}

/// What else reads along: push queries see every input record and every change a query
/// makes to its table.
pub trait Taps {
    fn record(&mut self, _topic: &str, _record: &InputRecord<'_>) {}
    fn change(&mut self, _query_id: &str, _change: &OutputRecord) {}
    /// Topics read for the taps alone, beside the queries' sources.
    fn topics(&self) -> BTreeSet<String> {
        BTreeSet::new()
    }
}

/// Nothing reads along.
pub struct NoTaps;

impl Taps for NoTaps {}

#[derive(Debug, Clone)]
pub struct DriveOptions {
    /// How long a poll waits for the first record.
    pub poll_wait: Duration,
    /// How often to confirm outputs while records keep coming (ksqlDB's commit.interval.ms);
    /// with a local store each commit is a checkpoint too.
    pub commit_interval: Duration,
    /// How often to save state and commit the input offsets it reflects, when that is less
    /// often than every commit (a remote store); `None` checkpoints at every commit.
    pub checkpoint_interval: Option<Duration>,
    /// Stop after this long without a record (backfills, tests); run on if `None`.
    pub stop_when_idle: Option<Duration>,
    /// At the end of the input, release what operators hold back for ordering (a bounded
    /// input's last watermark, as Flink gives one at the end of a file).
    pub flush_at_end: bool,
}

impl DriveOptions {
    pub fn files() -> DriveOptions {
        DriveOptions {
            poll_wait: Duration::ZERO,
            commit_interval: Duration::MAX,
            checkpoint_interval: None,
            stop_when_idle: None,
            flush_at_end: true,
        }
    }
}

/// Summary of a run, per query.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub queries: Vec<(String, Stats)>,
}

impl RunSummary {
    pub fn of(engine: &Engine) -> RunSummary {
        RunSummary {
            queries: engine
                .queries
                .iter()
                .map(|q| (q.id.clone(), q.counted()))
                .collect(),
        }
    }
}

/// What one step of the loop did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Processed(usize),
    Quiet,
    Ended,
}

pub struct Driver<S, K> {
    source: S,
    sink: K,
    store: Option<std::sync::Arc<Store>>,
    options: DriveOptions,
    /// Next offset per topic and partition, read but not committed yet.
    uncommitted: BTreeMap<(String, u32), u64>,
    /// Ids of the queries whose state changed since the last checkpoint.
    dirty: BTreeSet<String>,
    last_checkpoint: Instant,
    last_commit: Instant,
    /// When the last commit that had to wait (on the output's acknowledgements) ended: the
    /// time it took is not idle time for `stop_when_idle`.
    last_waited_commit: Instant,
    last_state_check: Instant,
    /// Set once a query has been stopped for its state budget.
    any_stopped: bool,
    last_release: Instant,
    /// The largest batch since `last_release`.
    largest_batch: usize,
    /// Buffers reused from batch to batch.
    out: Outputs,
    dead: Vec<DeadLetter>,
}

impl<S: Source, K: OutputSink> Driver<S, K> {
    pub fn new(
        source: S,
        sink: K,
        store: Option<std::sync::Arc<Store>>,
        options: DriveOptions,
    ) -> Self {
        Driver {
            source,
            sink,
            store,
            options,
            uncommitted: BTreeMap::new(),
            dirty: BTreeSet::new(),
            last_checkpoint: Instant::now(),
            last_commit: Instant::now(),
            last_waited_commit: Instant::now(),
            last_state_check: Instant::now(),
            any_stopped: false,
            last_release: Instant::now(),
            largest_batch: 0,
            out: Outputs::new(),
            dead: Vec::new(),
        }
    }

    pub fn sink(&self) -> &K {
        &self.sink
    }

    /// Puts back each query's saved state; call once, before the first step.
    pub fn restore(&mut self, engine: &mut Engine) -> Result<(), RuntimeError> {
        if let Some(store) = &self.store {
            tracing::info!("start: restoring state");
            store.restore(engine)?;
            self.source.state_starts(state_starts(engine));
        }
        Ok(())
    }

    /// Follows the topics the queries and the taps read; a change checkpoints first, since
    /// a new subscription may move partitions.
    fn follow(&mut self, engine: &Mutex<Engine>, taps: &dyn Taps) -> Result<(), RuntimeError> {
        let mut topics = taps.topics();
        let unrouted;
        {
            let engine = engine.lock().map_err(|_| RuntimeError::Poisoned)?;
            topics.extend(
                engine
                    .queries
                    .iter()
                    .flat_map(|q| q.inputs.iter().map(|input| input.topic.clone())),
            );
            unrouted = self.source.repartitions()
                && engine
                    .queries
                    .iter()
                    .any(|q| !q.split_points().is_empty() && q.exchanges().is_empty());
        }
        if !unrouted && !self.source.wants(&topics) {
            return Ok(());
        }
        // What was read is committed before the subscription moves partitions.
        self.checkpoint_or_retry(engine)?;
        let mut engine = engine.lock().map_err(|_| RuntimeError::Poisoned)?;
        self.source.follow(&mut engine, &topics)
    }

    /// One turn of the loop: follow the topics, poll a batch and process it, and
    /// checkpoint when the interval has passed or the input went quiet.
    pub fn step(
        &mut self,
        engine: &Mutex<Engine>,
        taps: &mut dyn Taps,
    ) -> Result<Step, RuntimeError> {
        self.follow(engine, taps)?;
        let Driver {
            source,
            sink,
            uncommitted,
            dirty,
            out,
            dead,
            options,
            largest_batch,
            ..
        } = self;
        let polled = source.next_batch(options.poll_wait, &mut |moved, records| {
            let mut engine = engine.lock().map_err(|_| RuntimeError::Poisoned)?;
            if !moved.is_empty() {
                rebalanced(&mut engine, moved, uncommitted, sink)?;
            }
            *largest_batch = (*largest_batch).max(records.len());
            let started = Instant::now();
            process(&mut engine, records, sink, taps, dirty, out, dead)?;
            latency::PROCESS_LATENCY.observe(started.elapsed(), records.len());
            for run in records.chunk_by(|a, b| a.topic == b.topic && a.partition == b.partition) {
                if let Some(last) = run.last() {
                    uncommitted.insert((last.topic.to_string(), last.partition), last.offset + 1);
                }
            }
            Ok(())
        })?;
        if self.last_state_check.elapsed() >= STATE_CHECK_INTERVAL {
            self.check_state(engine)?;
        }
        if self.last_release.elapsed() >= RELEASE_INTERVAL {
            self.release_memory(engine)?;
        }
        match polled {
            Polled::Records(n) => {
                if self.last_commit.elapsed() >= self.options.commit_interval {
                    self.commit(engine)?;
                }
                Ok(Step::Processed(n))
            }
            Polled::Quiet => {
                // Quiet input: commit what was read instead of waiting for the interval.
                let started = Instant::now();
                self.commit(engine)?;
                if started.elapsed() >= WAITED_COMMIT {
                    self.last_waited_commit = Instant::now();
                }
                Ok(Step::Quiet)
            }
            Polled::Ended => Ok(Step::Ended),
        }
    }

    /// Measures each query's state and stops those over the state budget; the state they
    /// hold up to the stop is checkpointed with its offsets as usual, so nothing is lost.
    fn check_state(&mut self, engine: &Mutex<Engine>) -> Result<(), RuntimeError> {
        self.last_state_check = Instant::now();
        let mut engine = engine.lock().map_err(|_| RuntimeError::Poisoned)?;
        let budget = engine.state_budget;
        for query in engine.queries.iter_mut() {
            if let Some(exceeded) = query.check_state_budget(budget) {
                self.any_stopped = true;
                tracing::error!(query = %query.id, bytes = exceeded.bytes, budget = exceeded.budget, "{exceeded}");
            }
        }
        Ok(())
    }

    /// Shrinks the buffers to what the batches since the last call needed (twice that, so a
    /// steady input does not grow them again at once) and hands the memory the allocators
    /// hold free back to the system.
    fn release_memory(&mut self, engine: &Mutex<Engine>) -> Result<(), RuntimeError> {
        self.last_release = Instant::now();
        let keep = 2 * std::mem::take(&mut self.largest_batch);
        {
            let mut engine = engine.lock().map_err(|_| RuntimeError::Poisoned)?;
            for query in engine.queries.iter_mut() {
                query.shrink_buffers(keep);
            }
        }
        self.out.shrink(keep);
        self.dead.shrink_to(keep);
        self.source.shrink_buffers(keep);
        release_free_memory();
        Ok(())
    }

    /// The first query stopped for its state budget, if any.
    fn stopped_query(
        engine: &Mutex<Engine>,
    ) -> Result<Option<crate::query::StateBudgetExceeded>, RuntimeError> {
        let engine = engine.lock().map_err(|_| RuntimeError::Poisoned)?;
        Ok(engine.queries.iter().find_map(|q| q.stopped().cloned()))
    }

    /// A commit: a checkpoint, or only the outputs confirmed when checkpoints are less
    /// frequent and the last one is recent.
    fn commit(&mut self, engine: &Mutex<Engine>) -> Result<(), RuntimeError> {
        self.last_commit = Instant::now();
        match self.options.checkpoint_interval {
            Some(interval) if self.last_checkpoint.elapsed() < interval => {
                let engine = engine.lock().map_err(|_| RuntimeError::Poisoned)?;
                self.sink.flush(&engine)
            }
            _ => self.checkpoint_or_retry(engine),
        }
    }

    /// Releases what the operators hold back for ordering, as at the end of a bounded input.
    pub fn flush_operators(&mut self, engine: &Mutex<Engine>) -> Result<(), RuntimeError> {
        let mut engine = engine.lock().map_err(|_| RuntimeError::Poisoned)?;
        for index in 0..engine.queries.len() {
            self.out.clear();
            self.dead.clear();
            let query = &mut engine.queries[index];
            query.advance(i64::MAX, &mut self.out, &mut self.dead);
            if !self.out.is_empty() || !self.dead.is_empty() {
                self.dirty.insert(query.id.clone());
                self.sink.write(&engine, index, &self.out, &self.dead)?;
            }
        }
        Ok(())
    }

    /// Makes the outputs durable, saves the state of the queries that changed, then
    /// commits the input offsets: in that order, so a crash at any point loses nothing.
    /// True when there was work to do.
    pub fn checkpoint(&mut self, engine: &Mutex<Engine>) -> Result<bool, RuntimeError> {
        self.last_checkpoint = Instant::now();
        let engine = engine.lock().map_err(|_| RuntimeError::Poisoned)?;
        if self.dirty.is_empty() && self.uncommitted.is_empty() {
            self.sink.flush(&engine)?;
            return Ok(false);
        }
        self.sink.flush(&engine)?;
        if let Some(store) = &self.store {
            store.save(&engine, &self.dirty)?;
        }
        let mut engine = engine;
        for query in engine.queries.iter_mut() {
            query.partitions_saved();
        }
        self.dirty.clear();
        self.source.state_starts(state_starts(&engine));
        drop(engine);
        // The state that reflects these offsets is saved: a commit that fails (the broker
        // away) is tried again with the next, and a restart meanwhile skips what the state
        // holds.
        match self.source.commit(&self.uncommitted) {
            Ok(()) => self.uncommitted.clear(),
            Err(e) => {
                tracing::warn!("cannot commit the input offsets, retried at the next commit: {e}")
            }
        }
        Ok(true)
    }

    /// A checkpoint on the way: a store that fails (S3 out of reach) leaves the state and
    /// the input offsets it reflects to the next try, and processing goes on meanwhile.
    fn checkpoint_or_retry(&mut self, engine: &Mutex<Engine>) -> Result<(), RuntimeError> {
        match self.checkpoint(engine) {
            Err(RuntimeError::Checkpoint(e)) => {
                tracing::warn!("checkpoint failed, retried at the next interval: {e}");
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// Runs until the input ends or stays quiet for `stop_when_idle`; checkpoints at the end.
    pub fn run(&mut self, engine: &mut Engine) -> Result<RunSummary, RuntimeError> {
        let shared = Mutex::new(std::mem::take(engine));
        let result = self.run_shared(&shared);
        *engine = shared.into_inner().map_err(|_| RuntimeError::Poisoned)?;
        result?;
        Ok(RunSummary::of(engine))
    }

    fn run_shared(&mut self, engine: &Mutex<Engine>) -> Result<(), RuntimeError> {
        let mut last_record = Instant::now();
        let mut first_record: Option<Instant> = None;
        let mut busy_until = None;
        while !self.any_stopped {
            match self.step(engine, &mut NoTaps)? {
                Step::Processed(_) => {
                    first_record.get_or_insert_with(Instant::now);
                    last_record = Instant::now();
                    busy_until = Some(Instant::now());
                }
                Step::Quiet => {
                    let idle_since = last_record.max(self.last_waited_commit);
                    if self
                        .options
                        .stop_when_idle
                        .is_some_and(|idle| idle_since.elapsed() >= idle)
                    {
                        break;
                    }
                }
                Step::Ended => {
                    // What the input built is measured before the end releases it.
                    self.check_state(engine)?;
                    if self.options.flush_at_end && !self.any_stopped {
                        self.flush_operators(engine)?;
                    }
                    break;
                }
            }
        }
        self.check_state(engine)?;
        let started = Instant::now();
        if self.checkpoint(engine)? {
            busy_until = busy_until.map(|end: Instant| end + started.elapsed());
        }
        if let (Some(first), Some(last), Some(_)) =
            (first_record, busy_until, self.options.stop_when_idle)
        {
            // For scripts/bench: from the first record read to the last batch committed, less
            // the idle polls that found the topics drained (the engine cannot know the input
            // ended; a benchmark does).
            tracing::info!(
                busy_seconds = last.duration_since(first).as_secs_f64(),
                "busy {:.3} s from the first record to the last commit",
                last.duration_since(first).as_secs_f64()
            );
        }
        // A run has nothing else to do once a query stops: it ends with the reason, after
        // the checkpoint that keeps what the query held.
        if let Some(exceeded) = Self::stopped_query(engine)? {
            return Err(exceeded.into());
        }
        Ok(())
    }
}

/// Hands the pages both allocators hold free back to the system. mimalloc returns a page
/// once its blocks are all free, but only on the thread that freed them and when that thread
/// allocates again; glibc keeps what librdkafka's threads freed in their arenas (after a
/// catch-up, tens of megabytes of fetched records) until it is trimmed.
fn release_free_memory() {
    // SAFETY: mi_collect has no preconditions; it walks this thread's heap and the
    // abandoned ones under mimalloc's own locks.
    unsafe { libmimalloc_sys::mi_collect(true) };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it takes each arena's lock in turn.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Where each query's state begins, per topic and partition: the lowest next offset of the
/// queries that read it.
fn state_starts(engine: &Engine) -> BTreeMap<(String, u32), u64> {
    let mut starts: BTreeMap<(String, u32), u64> = BTreeMap::new();
    for query in &engine.queries {
        for (topic, partition, next) in query.offsets().iter() {
            starts
                .entry((topic.to_string(), partition))
                .and_modify(|start| *start = (*start).min(next))
                .or_insert(next);
        }
    }
    starts
}

/// Applies partitions that moved: a revoked partition's uncommitted offset is dropped (its
/// new owner reads it again from the last commit) and a repartition partition's state goes;
/// an assigned repartition partition's state comes back from its checkpoint.
fn rebalanced(
    engine: &mut Engine,
    moved: Vec<Rebalanced>,
    uncommitted: &mut BTreeMap<(String, u32), u64>,
    sink: &mut dyn OutputSink,
) -> Result<(), RuntimeError> {
    if moved.iter().any(|m| matches!(m, Rebalanced::Revoked(_))) {
        // Table updates held back go out now, before the partitions' new owner writes
        // newer ones for the same keys.
        sink.flush(engine)?;
    }
    for change in moved {
        match change {
            Rebalanced::Revoked(partitions) => {
                for (topic, partition) in partitions {
                    uncommitted.remove(&(topic.clone(), partition));
                    for query in engine.queries.iter_mut() {
                        query.forget_partition(&topic, partition);
                    }
                }
            }
            Rebalanced::Assigned {
                query,
                step,
                partition,
                snapshot,
            } => {
                let Some(query) = engine.queries.iter_mut().find(|q| q.id == query) else {
                    continue;
                };
                if let Some(topic) = query.exchanges().get(step).map(|e| e.topic.clone()) {
                    query.forget_partition(&topic, partition);
                }
                if let Some(snapshot) = snapshot {
                    query.restore_partition(&snapshot).map_err(|e| {
                        crate::checkpoint::CheckpointError::Restore {
                            path: crate::exchange::unit_name(&query.id, step, partition),
                            message: e.to_string(),
                        }
                    })?;
                }
            }
        }
    }
    Ok(())
}

/// Hands a batch to each query that reads its records' topics, skipping records a query's
/// state already holds, and writes what comes out.
fn process(
    engine: &mut Engine,
    records: &[InputRecord<'_>],
    sink: &mut dyn OutputSink,
    taps: &mut dyn Taps,
    dirty: &mut BTreeSet<String>,
    out: &mut Outputs,
    dead: &mut Vec<DeadLetter>,
) -> Result<(), RuntimeError> {
    // Records of one topic in a row go to each query reading it as one batch, which it
    // decodes ahead and prefetches state for.
    for run in records.chunk_by(|a, b| a.topic == b.topic) {
        let topic = run[0].topic;
        for record in run {
            taps.record(topic, record);
        }
        for index in 0..engine.queries.len() {
            let query = &mut engine.queries[index];
            if !query.reads_topic(topic) {
                continue;
            }
            out.clear();
            dead.clear();
            // Offsets rise within a partition: when the first record of each partition's run
            // is new, they all are.
            let all_new = run
                .chunk_by(|a, b| a.partition == b.partition)
                .all(|part| !query.already_processed(topic, part[0].partition, part[0].offset));
            if all_new {
                query.process_batch(run, out, dead);
            } else {
                let kept: Vec<InputRecord<'_>> = run
                    .iter()
                    .filter(|r| !query.already_processed(topic, r.partition, r.offset))
                    .copied()
                    .collect();
                if kept.is_empty() {
                    continue;
                }
                query.process_batch(&kept, out, dead);
            }
            if !dirty.contains(&query.id) {
                dirty.insert(query.id.clone());
            }
            for change in out.iter() {
                taps.change(&engine.queries[index].id, change);
            }
            sink.write(engine, index, out, dead)?;
        }
    }
    Ok(())
}
