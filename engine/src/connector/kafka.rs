//! Queries over Kafka: a consumer group reads the sources' topics, outputs go to the sinks'
//! topics with ksqlDB's key and value bytes, bad records to a dead-letter topic.
//!
//! At least once, and replays converge: a batch's outputs are flushed and acknowledged, then
//! the state of every partition it touched is written to the state folder with the next
//! offset, and only then are the input offsets committed. A restart restores that state and
//! skips records below each partition's saved offset, so nothing is counted twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::catalog::SourceDef;
use crate::checkpoint::{Location, Store};
use crate::engine::Engine;
use crate::query::{DeadLetter, FailureKind, InputRecord, OutputRecord, Outputs, PersistentQuery};
use crate::runtime::{
    DriveOptions, Driver, OutputSink, Polled, Process, Rebalanced, RunSummary, RuntimeError, Source,
};
use crate::settings::ProcessingLog;
use crate::sql::ast::{SourceKind, SqlType};

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("Kafka client error while trying to {action}: {source}")]
    Client {
        action: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("{failed} output record(s) were not acknowledged by the brokers (last error: {last}); no input offset was committed, so a restart replays them")]
    Delivery { failed: u64, last: String },
    #[error("{0}")]
    Invalid(String),
}

fn client(action: &str) -> impl FnOnce(rdkafka::error::KafkaError) -> KafkaError + '_ {
    move |source| KafkaError::Client {
        action: action.to_string(),
        source,
    }
}

#[derive(Debug, Clone)]
pub struct KafkaOptions {
    pub bootstrap_servers: String,
    pub group_id: String,
    /// The folder for what the engine keeps locally (the REST API's statements).
    pub state_dir: PathBuf,
    /// Where the queries' checkpoints go: the state folder by default, or S3.
    pub checkpoints: Location,
    /// How often state is checkpointed, when not at every commit (the default for a local
    /// folder); a remote store defaults to [`DEFAULT_REMOTE_CHECKPOINT_INTERVAL`].
    pub checkpoint_interval: Option<Duration>,
    pub dead_letter_topic: String,
    /// Set when ksql.logging.processing.topic.auto.create is on: the dead-letter topic is
    /// created at start, with these, rather than with the first query.
    pub processing_log_topic: Option<LogTopic>,
    /// Stop after this long without a new record (backfills and tests); run forever if none.
    pub stop_when_idle: Option<Duration>,
    pub batch_size: usize,
    /// How often outputs are confirmed delivered, state saved and input offsets committed
    /// (ksqlDB's commit.interval.ms, 2 s by default). A crash replays at most this much
    /// input, and the saved offsets keep the replay from counting twice.
    pub commit_interval: Duration,
    /// Bytes of table updates held back between commits so that updates to one key collapse
    /// (ksqlDB's cache.max.bytes.buffering, 10 MB by default); 0 sends every update.
    pub cache_max_bytes: usize,
    /// Extra client settings (security.protocol, sasl.*), applied to every client.
    pub client_config: Vec<(String, String)>,
    /// Static group membership (group.instance.id): a restarted instance with the same id
    /// gets its partitions back at once, without a rebalance.
    pub instance_id: Option<String>,
    /// How long the group waits for a silent member before its partitions move
    /// (session.timeout.ms).
    pub session_timeout: Duration,
}

/// How the processing-log topic is made (ksqlDB's topic.partitions and
/// topic.replication.factor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogTopic {
    pub partitions: i32,
    pub replication_factor: i16,
}

/// Counts deliveries that failed, so a batch is committed only when all went through.
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
    last_error: Mutex<String>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.failed.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut last) = self.last_error.lock() {
                *last = error.to_string();
            }
        }
    }
}

fn config(options: &KafkaOptions) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &options.bootstrap_servers);
    for (key, value) in &options.client_config {
        config.set(key, value);
    }
    config
}

/// Sets `key` unless the user's client settings (`--kafka-config`, ENGINE_KAFKA_*) do.
fn set_default(config: &mut ClientConfig, options: &KafkaOptions, key: &str, value: &str) {
    if !options.client_config.iter().any(|(k, _)| k == key) {
        config.set(key, value);
    }
}

/// What librdkafka may buffer, in kilobytes: records fetched ahead of the engine, and
/// records waiting for the broker's acknowledgement. Its defaults (64 MB ahead, and up to
/// 1 GB waiting) let a slow broker or output grow the process by hundreds of megabytes;
/// with these, a full producer queue makes the engine wait (it polls until there is room)
/// and so stops reading input, and the fetched records waiting stay a few batches deep.
const CONSUMER_QUEUE_KBYTES: &str = "16384";
/// Records per partition librdkafka fetches ahead (its default is 100,000). The kilobytes
/// bound counts payloads only, and each record fetched ahead costs librdkafka a few hundred
/// bytes besides (heaptrack: 39 MB of fetch ops at the peak of a 300,000-record catch-up):
/// small records, as the tutorial's, were held by the hundred thousand.
const CONSUMER_QUEUE_MIN_MESSAGES: &str = "10000";
const PRODUCER_QUEUE_KBYTES: &str = "32768";

/// The cluster's topics (internal ones left out) with their partition counts.
pub fn list_topics(options: &KafkaOptions) -> Result<Vec<(String, usize)>, KafkaError> {
    let consumer: BaseConsumer = config(options)
        .create()
        .map_err(client("create a metadata client"))?;
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .map_err(client("read the cluster metadata"))?;
    let mut topics: Vec<(String, usize)> = metadata
        .topics()
        .iter()
        .filter(|t| !t.name().starts_with("__") && !t.name().starts_with(INTERNAL_TOPIC_PREFIX))
        .map(|t| (t.name().to_string(), t.partitions().len()))
        .collect();
    topics.sort();
    Ok(topics)
}

pub fn delete_topic(options: &KafkaOptions, topic: &str) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = config(options)
        .create()
        .map_err(client("create an admin client"))?;
    let results = futures_executor::block_on(admin.delete_topics(&[topic], &AdminOptions::new()))
        .map_err(client("delete a topic"))?;
    for result in results {
        if let Err((name, code)) = result {
            return Err(KafkaError::Invalid(format!(
                "cannot delete topic {name}: {code}"
            )));
        }
    }
    Ok(())
}

/// A batch ends at this many payload bytes as well as at `batch_size` records. A repartition
/// record carries a whole batch's rows for its partition, so after a backlog (the broker
/// stalled, or a restart behind) a batch of 10,000 of them held every row of the backlog at
/// once, decoded, with their outputs, and the buffers kept that size afterwards: scripts/soak
/// grew by about 1 KB per record of each backlog (300,000 records behind: 33 -> 290 MB).
/// 256 KiB, about 2,500 of the tutorial's records, left 44-53 MB after that catch-up where
/// 1 MiB left 90 MB, and still caught up at about 55,000 records a second.
const MAX_BATCH_BYTES: usize = 1 << 18;

/// The longest wait between two reads while reading fails.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

/// What went wrong talking to Kafka, while it lasts: /healthcheck reports it.
pub struct KafkaHealth(Mutex<Option<String>>);

pub static HEALTH: KafkaHealth = KafkaHealth(Mutex::new(None));

impl KafkaHealth {
    fn report(&self, problem: String) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(problem);
        }
    }

    fn clear(&self) {
        if let Ok(mut slot) = self.0.lock() {
            slot.take();
        }
    }

    /// The current problem, if reading or committing fails now.
    pub fn problem(&self) -> Option<String> {
        self.0.lock().ok().and_then(|slot| slot.clone())
    }
}

/// Topics the engine makes for itself (ksqlDB's internal topics), left out of topic lists.
pub const INTERNAL_TOPIC_PREFIX: &str = "_confluent-ksql-";

/// Creates the sinks', the repartition and the dead-letter topics when missing, with the
/// partitions of the topics they are computed from, and routes the queries whose keyed
/// state needs it through their repartition topics. Returns the topics whose partitions
/// carry state of their own (the repartition topics, and the inputs of steps that read
/// their input's partitions), each with the ids of the queries that keep it and their steps.
fn create_topics<C: rdkafka::consumer::ConsumerContext>(
    options: &KafkaOptions,
    engine: &mut Engine,
    consumer: &BaseConsumer<C>,
) -> Result<BTreeMap<String, Vec<(String, usize)>>, KafkaError> {
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .map_err(client("read the cluster metadata"))?;
    let existing: BTreeMap<String, usize> = metadata
        .topics()
        .iter()
        .map(|t| (t.name().to_string(), t.partitions().len()))
        .collect();
    let mut wanted: BTreeMap<String, i32> = BTreeMap::new();
    let mut exchanges: BTreeMap<String, Vec<(String, usize)>> = BTreeMap::new();
    for query in &mut engine.queries {
        let mut counts = Vec::with_capacity(query.inputs.len());
        for input in &query.inputs {
            // An earlier query's sink, made below, is there for a later query to read, as
            // ksqlDB makes a sink when its statement runs.
            let made = wanted.get(&input.topic).map(|&n| n as usize);
            let Some(partitions) = existing.get(&input.topic).copied().or(made) else {
                return Err(KafkaError::Invalid(format!(
                    "topic {} of {} does not exist on {}",
                    input.topic, input.source, options.bootstrap_servers
                )));
            };
            counts.push((input, partitions));
        }
        // ksqlDB's co-partitioning check: a join reads the same partition of each side, and
        // every step of a multi-way join has the first source's partitioning on its left.
        if let [(left, left_count), rest @ ..] = &counts[..] {
            let checked = if query.joins_on_a_foreign_key() {
                &[][..]
            } else {
                rest
            };
            if let Some((right, right_count)) = checked.iter().find(|(_, n)| n != left_count) {
                return Err(KafkaError::Invalid(format!(
                    "Can't join `{}` with `{}` since the number of partitions don't match. `{}` partitions = {left_count}; `{}` partitions = {right_count}. Please repartition either one so that the number of partitions match.",
                    left.source, right.source, left.source, right.source
                )));
            }
        }
        let Some(&(_, partitions)) = counts.first() else {
            continue;
        };
        if !existing.contains_key(&query.sink.topic) {
            wanted.insert(query.sink.topic.clone(), partitions as i32);
        }
        let topics = query.repartition(&options.group_id, partitions as u32);
        // A step that reads its inputs' own partitions is the query's one step.
        let local = query.exchanges().first().is_some_and(|e| e.local);
        for (step, topic) in topics.into_iter().enumerate() {
            let step = if local { 0 } else { step };
            match existing.get(&topic) {
                Some(&count) if count != partitions => {
                    return Err(KafkaError::Invalid(format!(
                        "the repartition topic {topic} has {count} partitions and {} has {partitions}; delete it (the query's state goes with it) or give the input its partition count back",
                        query.inputs[0].topic
                    )));
                }
                Some(_) => {}
                None => {
                    wanted.insert(topic.clone(), partitions as i32);
                }
            }
            exchanges
                .entry(topic)
                .or_default()
                .push((query.id.clone(), step));
        }
    }
    let mut topics: Vec<NewTopic<'_>> = wanted
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    if !existing.contains_key(&options.dead_letter_topic) {
        topics.push(dead_letter_topic(options));
    }
    create(options, &topics)?;
    Ok(exchanges)
}

/// The dead-letter topic as it is made: as the processing-log settings say, else with one
/// partition.
fn dead_letter_topic(options: &KafkaOptions) -> NewTopic<'_> {
    let spec = options.processing_log_topic.unwrap_or(LogTopic {
        partitions: 1,
        replication_factor: 1,
    });
    NewTopic::new(
        &options.dead_letter_topic,
        spec.partitions,
        TopicReplication::Fixed(i32::from(spec.replication_factor)),
    )
}

/// Creates the topics, those that exist already left as they are.
fn create(options: &KafkaOptions, topics: &[NewTopic<'_>]) -> Result<(), KafkaError> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = config(options)
        .create()
        .map_err(client("create an admin client"))?;
    let results = futures_executor::block_on(admin.create_topics(topics, &AdminOptions::new()))
        .map_err(client("create the output topics"))?;
    for result in results {
        if let Err((topic, code)) = result {
            if code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                return Err(KafkaError::Invalid(format!(
                    "cannot create topic {topic}: {code}"
                )));
            }
        }
    }
    Ok(())
}

/// ksqlDB's processing-log topic auto-creation: with topic.auto.create on, the dead-letter
/// topic is made at start (an existing one is kept as it is, as ksqlDB keeps it), so that a
/// stream over it and its consumers find it before any query has failed a record.
pub fn create_processing_log_topic(options: &KafkaOptions) -> Result<(), KafkaError> {
    if options.processing_log_topic.is_none() {
        return Ok(());
    }
    create(options, &[dead_letter_topic(options)])?;
    tracing::info!(topic = %options.dead_letter_topic, "processing log topic ready");
    Ok(())
}

/// What the consumer's rebalance callback shares with the drive loop.
#[derive(Default)]
struct Membership {
    /// Topics whose partitions carry state of their own, with the queries (and their
    /// steps) that keep it: `create_topics`.
    exchanges: BTreeMap<String, Vec<(String, usize)>>,
    /// Where the state of the queries restored whole begins, per topic and partition.
    starts: BTreeMap<(String, u32), u64>,
    /// Changes the drive loop has not seen yet.
    changes: Vec<Rebalanced>,
}

/// The consumer's context: on each assignment it reads the checkpoints of the repartition
/// partitions that came, and starts every partition where its state begins; on each
/// revocation it tells the drive loop which partitions went.
struct GroupContext {
    store: Option<Arc<Store>>,
    membership: Mutex<Membership>,
    /// Records a poll to stay in the group returned (of a partition assigned meanwhile),
    /// for the next batch.
    kept: Mutex<Vec<OwnedMessage>>,
    /// Partitions resumed after a stall, or started where a checkpoint left them, whose
    /// first record since has not been checked against the offset they go on from
    /// (`KafkaSource::check_resumed`).
    resumed: Mutex<Vec<(String, i32, i64)>>,
}

impl ClientContext for GroupContext {}

impl GroupContext {
    /// A repartition partition's newest readable checkpoint, waiting for the store while it
    /// cannot be reached: without it the partition's state would start again from nothing.
    fn partition_checkpoint(
        &self,
        query: &str,
        step: usize,
        partition: u32,
    ) -> Option<Box<crate::exchange::PartitionSnapshot>> {
        let store = self.store.as_ref()?;
        let unit = crate::exchange::unit_name(query, step, partition);
        let mut retry_in = Duration::from_millis(500);
        loop {
            let mut read = None;
            let loaded = store.load(&unit, &mut |bytes| {
                read = Some(crate::exchange::PartitionSnapshot::decode(bytes)?);
                Ok(())
            });
            match loaded {
                Ok(_) => return read.map(Box::new),
                Err(e) => {
                    tracing::warn!(
                        unit,
                        "cannot read the checkpoint, retrying in {retry_in:?}: {e}"
                    );
                    std::thread::sleep(retry_in);
                    retry_in = (retry_in * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    fn assigned(&self, tpl: &mut TopicPartitionList) {
        let started = std::time::Instant::now();
        let Ok(mut membership) = self.membership.lock() else {
            return;
        };
        let partitions: Vec<(String, u32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition() as u32))
            .collect();
        let mut restored = 0;
        for (topic, partition) in &partitions {
            // The partition starts where the earliest of the states that read it begins:
            // each query skips what its own state holds.
            let mut start = membership.starts.get(&(topic.clone(), *partition)).copied();
            for (query, step) in membership.exchanges.get(topic).cloned().unwrap_or_default() {
                let snapshot = self.partition_checkpoint(&query, step, *partition);
                if let Some(next) = snapshot.as_ref().and_then(|s| s.next_offset_of(topic)) {
                    start = Some(start.map_or(next, |start| start.min(next)));
                }
                restored += usize::from(snapshot.is_some());
                membership.changes.push(Rebalanced::Assigned {
                    query,
                    step,
                    partition: *partition,
                    snapshot,
                });
            }
            if let Some(next) = start {
                match tpl.set_partition_offset(
                    topic,
                    *partition as i32,
                    Offset::Offset(next as i64),
                ) {
                    Ok(()) => {
                        if let Ok(mut started) = self.resumed.lock() {
                            started.push((topic.clone(), *partition as i32, next as i64));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(topic, partition, "cannot start at offset {next}: {e}")
                    }
                }
            }
        }
        tracing::info!(
            partitions = partitions.len(),
            restored,
            took_ms = started.elapsed().as_millis() as u64,
            "start: partitions assigned {:?}",
            partitions
        );
    }
}

impl ConsumerContext for GroupContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: rdkafka::types::RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        use rdkafka::types::RDKafkaRespErr;
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.assigned(tpl);
                if let Err(e) = consumer.assign(tpl) {
                    tracing::error!("cannot take the assigned partitions: {e}");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let partitions: Vec<(String, u32)> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition() as u32))
                    .collect();
                tracing::info!("partitions revoked {:?}", partitions);
                if let Ok(mut membership) = self.membership.lock() {
                    membership.changes.push(Rebalanced::Revoked(partitions));
                }
                if let Err(e) = consumer.unassign() {
                    tracing::error!("cannot give the revoked partitions up: {e}");
                }
            }
            other => {
                tracing::warn!(
                    "rebalance error: {}",
                    rdkafka::types::RDKafkaErrorCode::from(other)
                );
                if let Err(e) = consumer.unassign() {
                    tracing::error!("cannot give the partitions up: {e}");
                }
            }
        }
    }
}

/// The input side on Kafka: one consumer in the engine's group for every topic the queries
/// (and push queries) read, and the queries' repartition topics.
pub struct KafkaSource {
    options: KafkaOptions,
    consumer: Arc<BaseConsumer<GroupContext>>,
    subscribed: BTreeSet<String>,
    /// The batch being handed over, kept between polls.
    messages: Vec<OwnedMessage>,
    /// Partitions that moved while the batch was read, handed over before it.
    moved: Vec<Rebalanced>,
    /// How long the last failed read waited before the next, while reads fail.
    retry_in: Option<Duration>,
    /// When the brokers were last asked whether they are back.
    last_probe: std::time::Instant,
    /// Set while a query joins two inputs: each batch is then handed over in timestamp
    /// order across partitions (offset order within each), as a Kafka Streams task picks
    /// the partition whose next record has the lowest timestamp.
    merge_by_time: bool,
    /// Partitions read again from before where the engine was (`check_resumed`).
    refetches: Vec<Refetch>,
}

impl KafkaSource {
    pub fn new(
        options: &KafkaOptions,
        store: Option<Arc<Store>>,
    ) -> Result<KafkaSource, KafkaError> {
        let mut config = config(options);
        config
            .set("group.id", &options.group_id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "session.timeout.ms",
                options.session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                (options.session_timeout.as_millis() / 3).max(1).to_string(),
            );
        if let Some(instance) = &options.instance_id {
            config.set("group.instance.id", instance);
        }
        // The range assignor gives each member the same partition numbers of every topic
        // with as many partitions, so a join that reads co-partitioned sides in place finds
        // both sides of a key on one instance.
        match options
            .client_config
            .iter()
            .find(|(key, _)| key == "partition.assignment.strategy")
        {
            Some((_, strategy)) if strategy.split(',').next().map(str::trim) != Some("range") => {
                return Err(KafkaError::Invalid(format!(
                    "partition.assignment.strategy={strategy}: the engine's consumers need the range assignor first, which keeps the same partitions of co-partitioned topics on one instance, as a join on their keys reads them"
                )));
            }
            Some(_) => {}
            None => {
                config.set("partition.assignment.strategy", "range");
            }
        }
        if let Some((_, protocol)) = options
            .client_config
            .iter()
            .find(|(key, _)| key == "group.protocol")
            .filter(|(_, protocol)| !protocol.eq_ignore_ascii_case("classic"))
        {
            return Err(KafkaError::Invalid(format!(
                "group.protocol={protocol}: the broker assigns the partitions under that protocol, not the range assignor the engine's joins on message keys rely on; leave it at classic"
            )));
        }
        set_default(
            &mut config,
            options,
            "queued.max.messages.kbytes",
            CONSUMER_QUEUE_KBYTES,
        );
        set_default(
            &mut config,
            options,
            "queued.min.messages",
            CONSUMER_QUEUE_MIN_MESSAGES,
        );
        let consumer: BaseConsumer<GroupContext> = config
            .create_with_context(GroupContext {
                store,
                membership: Mutex::new(Membership::default()),
                kept: Mutex::new(Vec::new()),
                resumed: Mutex::new(Vec::new()),
            })
            .map_err(client("create the consumer"))?;
        Ok(KafkaSource {
            options: options.clone(),
            consumer: Arc::new(consumer),
            subscribed: BTreeSet::new(),
            messages: Vec::new(),
            moved: Vec::new(),
            retry_in: None,
            last_probe: std::time::Instant::now(),
            merge_by_time: false,
            refetches: Vec::new(),
        })
    }

    /// After failed reads, a quiet poll does not yet mean the brokers are back (the client
    /// reports a broker that stays away only now and then): ask them for metadata, at most
    /// every `MAX_RETRY_WAIT`, and call Kafka healthy again when they answer.
    fn probe_after_failure(&mut self) {
        if self.retry_in.is_none() || self.last_probe.elapsed() < MAX_RETRY_WAIT {
            return;
        }
        self.last_probe = std::time::Instant::now();
        let topic = self.subscribed.iter().next().map(String::as_str);
        match self.consumer.fetch_metadata(topic, Duration::from_secs(1)) {
            Ok(_) => {
                self.retry_in = None;
                HEALTH.clear();
                tracing::info!("Kafka answers again");
            }
            Err(e) => HEALTH.report(e.to_string()),
        }
    }

    /// What keeps this source's consumer in its group while the output stalls.
    pub fn group_keeper(&self) -> GroupKeeper {
        GroupKeeper {
            consumer: self.consumer.clone(),
        }
    }

    /// Takes what the rebalance callback noted; the messages of partitions revoked are
    /// dropped, as their new owner reads them again.
    fn take_moved(&mut self) -> bool {
        let changes = match self.consumer.context().membership.lock() {
            Ok(mut membership) => std::mem::take(&mut membership.changes),
            Err(_) => return false,
        };
        if changes.is_empty() {
            return false;
        }
        for change in &changes {
            if let Rebalanced::Revoked(partitions) = change {
                self.messages.retain(|m| {
                    !partitions
                        .iter()
                        .any(|(t, p)| t == m.topic() && *p == m.partition() as u32)
                });
                for (topic, partition) in partitions {
                    self.refetches
                        .retain(|r| !(&r.topic == topic && r.partition == *partition as i32));
                }
            }
        }
        self.moved.extend(changes);
        true
    }

    /// Up to a batch of records, waiting `wait` for the first; a rebalance ends the batch,
    /// so the partitions that moved are handled before any record read after it.
    fn poll(&mut self, wait: Duration) -> Result<(), KafkaError> {
        self.messages.clear();
        if let Ok(mut kept) = self.consumer.context().kept.lock() {
            self.messages.append(&mut kept);
        }
        if self.subscribed.is_empty() {
            std::thread::sleep(wait);
            return Ok(());
        }
        let mut bytes = 0;
        while self.messages.len() < self.options.batch_size && bytes < MAX_BATCH_BYTES {
            let timeout = if self.messages.is_empty() {
                wait
            } else {
                Duration::ZERO
            };
            let polled = self.consumer.poll(timeout).map(|result| {
                result
                    .map(|message| message.detach())
                    .map_err(client("read from the input topics"))
            });
            let moved = self.take_moved();
            match polled {
                Some(Ok(message)) => {
                    bytes += message.payload().map_or(0, <[u8]>::len);
                    self.messages.push(message);
                    self.retry_in = None;
                    HEALTH.clear();
                }
                Some(Err(e)) => {
                    // The client reconnects by itself (a broker restarting, a network
                    // blip): say so, wait a little longer each time, and read on.
                    let wait = self
                        .retry_in
                        .map_or(Duration::from_millis(200), |w| (w * 2).min(MAX_RETRY_WAIT));
                    self.retry_in = Some(wait);
                    HEALTH.report(e.to_string());
                    tracing::warn!("reading from Kafka failed, retrying in {wait:?}: {e}");
                    std::thread::sleep(wait);
                    break;
                }
                None => {
                    self.probe_after_failure();
                    break;
                }
            }
            if moved {
                break;
            }
        }
        self.check_resumed();
        Ok(())
    }

    /// A partition resumed after an output stall must go on from the record after the last
    /// one handed over, and one started from a checkpoint at its offset. Should its first
    /// record be past that, the records between are read again (`Refetch`): a broker may
    /// answer a fetch from inside a record batch with the batch after it (tansu does),
    /// which would lose the rest of that batch.
    fn check_resumed(&mut self) {
        let Ok(mut resumed) = self.consumer.context().resumed.lock() else {
            return;
        };
        if !resumed.is_empty() {
            let (messages, refetches) = (&self.messages, &mut self.refetches);
            resumed.retain(|(topic, partition, next)| {
                let Some(first) = messages
                    .iter()
                    .find(|m| m.topic() == topic && m.partition() == *partition)
                else {
                    return true;
                };
                let next = *next;
                if first.offset() > next {
                    tracing::warn!(
                        topic,
                        partition,
                        "the input resumed at offset {}, past {next} where the engine was: reading on from {next} again",
                        first.offset()
                    );
                    refetches.push(Refetch {
                        topic: topic.clone(),
                        partition: *partition,
                        next,
                        back: (first.offset() - next).max(1),
                        from: None,
                        covered: false,
                    });
                }
                false
            });
        }
        drop(resumed);
        if self.refetches.is_empty() {
            return;
        }
        let mut refetches = std::mem::take(&mut self.refetches);
        refetches.retain_mut(|refetch| {
            let of_it =
                |m: &OwnedMessage| m.topic() == refetch.topic && m.partition() == refetch.partition;
            // What comes before the next record was handed over already; that it came shows
            // the broker read from before `next`.
            let before = self.messages.len();
            self.messages
                .retain(|m| !(of_it(m) && m.offset() < refetch.next));
            refetch.covered |= refetch.from.is_some() && self.messages.len() < before;
            match self.messages.iter().find(|m| of_it(m)).map(|m| m.offset()) {
                None => true,
                // Read on from before `next`, what comes after it is all there is (a
                // compacted topic, a transaction's markers leave such gaps).
                Some(first) if first == refetch.next || refetch.covered => false,
                Some(_) if refetch.from == Some(0) => {
                    tracing::error!(
                        topic = refetch.topic,
                        partition = refetch.partition,
                        "offset {} cannot be read again, not even from the start of the partition: going on without it",
                        refetch.next
                    );
                    false
                }
                Some(_) => {
                    self.messages.retain(|m| !of_it(m));
                    // Further back each time: from where the batch holding `next` begins
                    // the broker answers with that batch.
                    if refetch.from.is_some() {
                        refetch.back = refetch.back.saturating_mul(2);
                    }
                    let from = (refetch.next - refetch.back).max(0);
                    refetch.from = Some(from);
                    refetch.covered = false;
                    if let Err(e) = self.consumer.seek(
                        &refetch.topic,
                        refetch.partition,
                        Offset::Offset(from),
                        Duration::from_secs(10),
                    ) {
                        tracing::warn!(
                            topic = refetch.topic,
                            partition = refetch.partition,
                            "cannot read from offset {from} again: {e}"
                        );
                    }
                    true
                }
            }
        });
        self.refetches = refetches;
    }
}

/// A partition read again from before `next` (the offset after the last record handed
/// over) until that record comes; what comes before it is dropped.
struct Refetch {
    topic: String,
    partition: i32,
    next: i64,
    /// How far before `next` to ask from: the gap's size, then twice as far each time.
    back: i64,
    /// Where it was last asked from.
    from: Option<i64>,
    /// Set once records from before `next` came since that ask.
    covered: bool,
}

impl Source for KafkaSource {
    fn next_batch(
        &mut self,
        wait: Duration,
        process: &mut Process<'_>,
    ) -> Result<Polled, RuntimeError> {
        self.poll(wait)?;
        let moved = std::mem::take(&mut self.moved);
        if self.messages.is_empty() {
            if !moved.is_empty() {
                process(moved, &[])?;
            }
            return Ok(Polled::Quiet);
        }
        let mut records: Vec<InputRecord<'_>> = self
            .messages
            .iter()
            .map(|message| InputRecord {
                topic: message.topic(),
                partition: message.partition() as u32,
                offset: message.offset() as u64,
                timestamp: message.timestamp().to_millis().unwrap_or(0),
                key: message.key(),
                value: message.payload(),
            })
            .collect();
        if self.merge_by_time {
            records = merge_by_time(records);
        }
        process(moved, &records)?;
        Ok(Polled::Records(records.len()))
    }

    fn wants(&self, topics: &BTreeSet<String>) -> bool {
        !topics.iter().all(|t| self.subscribed.contains(t))
            || self
                .subscribed
                .iter()
                .any(|t| !topics.contains(t) && !t.starts_with(INTERNAL_TOPIC_PREFIX))
    }

    fn repartitions(&self) -> bool {
        true
    }

    fn shrink_buffers(&mut self, keep: usize) {
        self.messages.shrink_to(keep);
    }

    fn state_starts(&mut self, starts: BTreeMap<(String, u32), u64>) {
        if let Ok(mut membership) = self.consumer.context().membership.lock() {
            membership.starts = starts;
        }
    }

    fn follow(
        &mut self,
        engine: &mut Engine,
        topics: &BTreeSet<String>,
    ) -> Result<(), RuntimeError> {
        let exchanges = create_topics(&self.options, engine, &self.consumer)?;
        let mut topics = topics.clone();
        topics.extend(exchanges.keys().cloned());
        if let Ok(mut membership) = self.consumer.context().membership.lock() {
            membership.exchanges = exchanges;
        }
        if topics.is_empty() {
            self.consumer.unsubscribe();
        } else {
            tracing::info!(
                group = %self.options.group_id,
                instance = self.options.instance_id.as_deref().unwrap_or("(dynamic membership)"),
                "start: joining the consumer group for {topics:?}"
            );
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            self.consumer
                .subscribe(&names)
                .map_err(client("subscribe to the input topics"))?;
        }
        self.subscribed = topics;
        self.merge_by_time = engine.queries.iter().any(|q| q.inputs.len() > 1);
        Ok(())
    }

    fn commit(&mut self, offsets: &BTreeMap<(String, u32), u64>) -> Result<(), RuntimeError> {
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in offsets {
            list.add_partition_offset(topic, *partition as i32, Offset::Offset(*offset as i64))
                .map_err(client("record the offsets to commit"))?;
        }
        if list.count() > 0 {
            let committed = self
                .consumer
                .commit(&list, CommitMode::Sync)
                .map_err(client("commit the input offsets"));
            match &committed {
                Ok(()) => HEALTH.clear(),
                Err(e) => HEALTH.report(e.to_string()),
            }
            committed?;
        }
        Ok(())
    }
}

/// The records of a batch by timestamp across partitions, each partition's in offset
/// order: the partition whose next record is earliest goes first, ties to the one seen
/// first in the batch.
fn merge_by_time(records: Vec<InputRecord<'_>>) -> Vec<InputRecord<'_>> {
    let mut partitions: Vec<std::collections::VecDeque<InputRecord<'_>>> = Vec::new();
    let mut places: BTreeMap<(&str, u32), usize> = BTreeMap::new();
    for record in records {
        let at = *places
            .entry((record.topic, record.partition))
            .or_insert_with(|| {
                partitions.push(std::collections::VecDeque::new());
                partitions.len() - 1
            });
        partitions[at].push_back(record);
    }
    let mut merged = Vec::with_capacity(partitions.iter().map(|p| p.len()).sum());
    while let Some(next) = (0..partitions.len())
        .filter_map(|at| partitions[at].front().map(|r| (r.timestamp, at)))
        .min()
        .map(|(_, at)| at)
    {
        if let Some(record) = partitions[next].pop_front() {
            merged.push(record);
        }
    }
    merged
}

/// The output side on Kafka: one producer for the queries' sink topics and the dead-letter
/// topic, with ksqlDB's record cache in front of the tables.
pub struct KafkaSink {
    options: KafkaOptions,
    producer: BaseProducer<Deliveries>,
    /// Table updates held until the next checkpoint, per query id: ksqlDB's record cache.
    cache: BTreeMap<String, PendingOutputs>,
    /// About how many bytes the cache holds.
    cached_bytes: usize,
    /// The input's consumer, kept in its group while the output stalls.
    keeper: Option<GroupKeeper>,
}

impl KafkaSink {
    pub fn new(options: &KafkaOptions) -> Result<KafkaSink, KafkaError> {
        Ok(KafkaSink {
            options: options.clone(),
            producer: producer(options)?,
            cache: BTreeMap::new(),
            cached_bytes: 0,
            keeper: None,
        })
    }

    /// Keeps the input's consumer in its group while this sink waits on the output.
    pub fn keeping_in_group(self, keeper: GroupKeeper) -> KafkaSink {
        KafkaSink {
            keeper: Some(keeper),
            ..self
        }
    }

    /// Queues a query's outputs on the producer, to its sink topic.
    fn send_outputs(
        &self,
        query: &PersistentQuery,
        outputs: &PendingOutputs,
        log: &ProcessingLog,
    ) -> Result<(), KafkaError> {
        for (key, output) in &outputs.records {
            let value = match query.encode_value(output) {
                Ok(value) => value,
                Err(error) => {
                    let part = Unwritable::Value { key: key.clone() };
                    self.unwritable(query, output, part, &error, log)?;
                    continue;
                }
            };
            // The record carries the row's time (ROWTIME), as ksqlDB's sink writes it.
            let mut next: BaseRecord<'_, Vec<u8>, Vec<u8>> =
                BaseRecord::to(&query.sink.topic).timestamp(output.timestamp);
            if let Some(key) = key {
                next = next.key(key);
            }
            if let Some(value) = &value {
                next = next.payload(value);
            }
            if let Some(refusal) = send_or_refuse(&self.producer, next, self.keeper.as_ref())? {
                let size = value.as_ref().map_or(0, Vec::len) + key.as_ref().map_or(0, Vec::len);
                self.refused(query, key.clone(), size, &refusal, log)?;
            }
        }
        Ok(())
    }

    /// An output record the producer refused goes to the dead letters as ksqlDB's
    /// PRODUCTION_ERROR, with its key but not its value (which the producer would refuse
    /// again), and the query goes on, as ksqlDB's does with
    /// `ksql.fail.on.production.error=false`. ksqlDB's default stops the query instead; here
    /// one record too large for the topic would stop it for good, since it would come again
    /// at every restart.
    fn refused(
        &self,
        query: &PersistentQuery,
        key: Option<Vec<u8>>,
        size: usize,
        refusal: &str,
        log: &ProcessingLog,
    ) -> Result<(), KafkaError> {
        tracing::warn!(query = %query.id, size, "an output record was refused: {refusal}");
        query.refused_outputs.fetch_add(1, Ordering::Relaxed);
        let letter = DeadLetter {
            cause: vec![refusal.to_string()],
            raw_key: key,
            ..sink_letter(
                query,
                FailureKind::Production,
                format!(
                    "the output record of {size} bytes for {} was refused by the Kafka producer: {refusal}",
                    query.sink.topic
                ),
            )
        };
        self.send_letter(&letter, log)
    }

    /// An output row the sink's format cannot write goes to the dead letters as ksqlDB's
    /// SERIALIZATION_ERROR, its `record` the row as JSON (there are no bytes to give), and
    /// the query goes on without it, as ksqlDB's does.
    fn unwritable(
        &self,
        query: &PersistentQuery,
        output: &OutputRecord,
        part: Unwritable,
        error: &crate::format::EncodeError,
        log: &ProcessingLog,
    ) -> Result<(), KafkaError> {
        let (on_key, key) = match part {
            Unwritable::Key => (true, None),
            Unwritable::Value { key } => (false, key),
        };
        tracing::warn!(query = %query.id, %error, "an output row cannot be written");
        query.unwritable_outputs.fetch_add(1, Ordering::Relaxed);
        let letter = DeadLetter {
            cause: crate::cause::messages(Some(error)),
            on_key,
            raw_key: key,
            raw_value: Some(query.output_row_json(output)),
            ..sink_letter(query, FailureKind::Serialization, error.to_string())
        };
        self.send_letter(&letter, log)
    }

    fn send_letter(&self, letter: &DeadLetter, log: &ProcessingLog) -> Result<(), KafkaError> {
        let mut bytes = Vec::new();
        crate::processing_log::write_letter(letter, log, &mut bytes);
        send(
            &self.producer,
            BaseRecord::<'_, Vec<u8>, Vec<u8>>::to(&self.options.dead_letter_topic).payload(&bytes),
            self.keeper.as_ref(),
        )
    }

    /// Sends the table updates the cache holds. Those of a query terminated meanwhile have
    /// nowhere to go and are dropped with it.
    fn flush_cache(&mut self, engine: &Engine) -> Result<(), KafkaError> {
        let cache = std::mem::take(&mut self.cache);
        self.cached_bytes = 0;
        for query in &engine.queries {
            if let Some(outputs) = cache.get(&query.id) {
                self.send_outputs(query, outputs, &engine.settings.processing_log)?;
            }
        }
        Ok(())
    }
}

impl OutputSink for KafkaSink {
    fn write(
        &mut self,
        engine: &Engine,
        query: usize,
        outputs: &Outputs,
        dead: &[DeadLetter],
    ) -> Result<(), RuntimeError> {
        let query = &engine.queries[query];
        let cached = self.options.cache_max_bytes > 0 && query.sink.kind == SourceKind::Table;
        let log = &engine.settings.processing_log;
        let mut unwritable_keys = Vec::new();
        if cached {
            let pending = self
                .cache
                .entry(query.id.clone())
                .or_insert_with(|| PendingOutputs::new(true));
            for output in outputs {
                match query.encode_key(output) {
                    Ok(key) => self.cached_bytes += pending.push(key, output),
                    Err(error) => unwritable_keys.push((output, error)),
                }
            }
        } else if !outputs.is_empty() {
            let mut pending = PendingOutputs::new(false);
            for output in outputs {
                match query.encode_key(output) {
                    Ok(key) => {
                        pending.push(key, output);
                    }
                    Err(error) => unwritable_keys.push((output, error)),
                }
            }
            self.send_outputs(query, &pending, log)?;
        }
        for (output, error) in unwritable_keys {
            self.unwritable(query, output, Unwritable::Key, &error, log)?;
        }
        for row in &outputs.exchanged {
            let Some(exchange) = query.exchanges().get(usize::from(row.step)) else {
                continue;
            };
            // A join's records name the side their rows are of.
            let side = row.input.map(|input| vec![input]);
            let mut record = BaseRecord::to(exchange.topic_for(row.input))
                .partition(row.partition as i32)
                .payload(&row.value)
                .timestamp(row.timestamp);
            if let Some(key) = &side {
                record = record.key(key);
            }
            send(&self.producer, record, self.keeper.as_ref())?;
        }
        for letter in dead {
            self.send_letter(letter, log)?;
        }
        if self.cached_bytes > self.options.cache_max_bytes {
            self.flush_cache(engine)?;
        }
        // Hand delivery reports over as they come, so they do not pile up until the commit.
        self.producer.poll(Duration::ZERO);
        Ok(())
    }

    fn flush(&mut self, engine: &Engine) -> Result<(), RuntimeError> {
        self.flush_cache(engine)?;
        deliver(
            &self.producer,
            "deliver the output records",
            self.keeper.as_ref(),
        )?;
        Ok(())
    }
}

/// A producer as ksqlDB's: Java's default partitioner, so keys land where ksqlDB would put
/// them; idempotent, acknowledged by all replicas.
fn producer(options: &KafkaOptions) -> Result<BaseProducer<Deliveries>, KafkaError> {
    let mut config = config(options);
    set_default(
        &mut config,
        options,
        "queue.buffering.max.kbytes",
        PRODUCER_QUEUE_KBYTES,
    );
    config
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create_with_context(Deliveries::default())
        .map_err(client("create the producer"))
}

/// Waits until everything queued is acknowledged; any failed delivery is an error.
fn deliver(
    producer: &BaseProducer<Deliveries>,
    action: &'static str,
    keeper: Option<&GroupKeeper>,
) -> Result<(), KafkaError> {
    let mut stall = OutputStall::new(keeper);
    // In short turns when a consumer is kept in its group meanwhile.
    let turn = if keeper.is_some() {
        KEEP_IN_GROUP_EVERY
    } else {
        OUTPUT_STALL_REPORT
    };
    loop {
        match producer.flush(turn) {
            Ok(()) => break,
            Err(rdkafka::error::KafkaError::Flush(
                rdkafka::types::RDKafkaErrorCode::OperationTimedOut,
            )) if stall.waited() < DELIVERY_WAIT => {
                stall.waiting("the output records have waited for the broker's acknowledgement")
            }
            Err(error) => return Err(client(action)(error)),
        }
    }
    stall.over();
    let failed = producer.context().failed.swap(0, Ordering::SeqCst);
    if failed > 0 {
        let last = producer
            .context()
            .last_error
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        return Err(KafkaError::Delivery { failed, last });
    }
    Ok(())
}

/// Writes rows into a stream's topic, as ksqlDB's /inserts-stream does: the row's fields
/// match the stream's columns case-insensitively and are checked against their types; the
/// key column becomes the record key, the rest the JSON value.
pub struct Inserter {
    producer: BaseProducer<Deliveries>,
    codecs: crate::format::Codecs,
}

impl Inserter {
    pub fn new(
        options: &KafkaOptions,
        codecs: &crate::format::Codecs,
    ) -> Result<Inserter, KafkaError> {
        Ok(Inserter {
            producer: producer(options)?,
            codecs: codecs.clone(),
        })
    }

    /// Queues rows (JSON objects) for a stream, in the stream's key and value formats; each
    /// answer says what is wrong with its row.
    pub fn insert(&self, target: &SourceDef, rows: &[Vec<u8>]) -> Vec<Result<(), String>> {
        use crate::format::Decoder;
        let decoder = crate::format::JsonDecoder::new(target.schema.columns.clone());
        let keys_codec =
            target
                .formats
                .key_codec(&target.schema, &target.name, &target.topic, &self.codecs);
        let value_names: Vec<String> = target
            .schema
            .value_columns()
            .map(|(_, c)| c.name.clone())
            .collect();
        let value_types: Vec<SqlType> = target
            .schema
            .value_columns()
            .map(|(_, c)| c.sql_type.clone())
            .collect();
        let encoder =
            target
                .formats
                .value_encoder(&target.topic, &value_names, &value_types, &self.codecs);
        if let Err(error) = encoder.prepare().and_then(|()| keys_codec.prepare()) {
            return rows.iter().map(|_| Err(error.to_string())).collect();
        }
        rows.iter()
            .map(|row| {
                let decoded = decoder.decode(row).map_err(|e| e.to_string())?;
                let (mut keys, mut values) = (Vec::new(), Vec::new());
                for (column, value) in target.schema.columns.iter().zip(decoded) {
                    if column.key {
                        keys.push(value);
                    } else {
                        values.push(value);
                    }
                }
                let mut key = Vec::new();
                let keyed = keys_codec
                    .encode(&keys, &mut key)
                    .map_err(|e| e.to_string())?;
                // A null written bare is no value at all, as ksqlDB's serializer gives it.
                let value = if encoder.is_absent(&values) {
                    None
                } else {
                    Some(encoder.encode(&values).map_err(|e| e.to_string())?)
                };
                let mut record: BaseRecord<'_, Vec<u8>, Vec<u8>> = BaseRecord::to(&target.topic);
                if let Some(value) = &value {
                    record = record.payload(value);
                }
                if keyed {
                    record = record.key(&key);
                }
                send(&self.producer, record, None).map_err(|e| e.to_string())
            })
            .collect()
    }

    /// Waits until every queued row is acknowledged.
    pub fn flush(&self) -> Result<(), KafkaError> {
        deliver(&self.producer, "deliver the inserted rows", None)
    }
}

/// One query's outputs waiting to be sent. A table's updates to one key collapse to the last
/// one, as ksqlDB's record cache collapses them until each commit (the table converges to the
/// same rows with far fewer records); a stream keeps every row.
struct PendingOutputs {
    records: Vec<(Option<Vec<u8>>, OutputRecord)>,
    latest: Option<HashMap<Vec<u8>, usize, foldhash::fast::RandomState>>,
}

impl PendingOutputs {
    fn new(collapse: bool) -> PendingOutputs {
        PendingOutputs {
            records: Vec::new(),
            latest: collapse.then(HashMap::default),
        }
    }

    /// Adds an output; returns about how many bytes more it holds (nothing for a key it
    /// already had).
    fn push(&mut self, key: Option<Vec<u8>>, output: &OutputRecord) -> usize {
        if let (Some(latest), Some(bytes)) = (&mut self.latest, &key) {
            if let Some(&at) = latest.get(bytes) {
                self.records[at].1.clone_from(output);
                return 0;
            }
            latest.insert(bytes.clone(), self.records.len());
        }
        let size = 2 * key.as_ref().map_or(0, Vec::len)
            + 64
            + 32 * output.value.as_ref().map_or(0, Vec::len);
        self.records.push((key, output.clone()));
        size
    }
}

/// The id of the ECS task the engine runs in, from the task metadata endpoint ECS gives
/// every container (`ECS_CONTAINER_METADATA_URI_V4`); `None` elsewhere or when it does not
/// answer within a second.
pub fn ecs_task_id() -> Option<String> {
    let base = std::env::var("ECS_CONTAINER_METADATA_URI_V4").ok()?;
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(1)))
        .build()
        .new_agent();
    let body = agent
        .get(format!("{base}/task"))
        .call()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()?;
    let task: serde_json::Value = serde_json::from_str(&body).ok()?;
    let arn = task.get("TaskARN")?.as_str()?;
    Some(arn.rsplit('/').next()?.to_string())
}

/// How often state goes to a remote store when `--checkpoint-interval` is not given.
pub const DEFAULT_REMOTE_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// Runs the queries on Kafka until the topics stay quiet for `stop_when_idle` (or forever).
pub fn run(engine: &mut Engine, options: &KafkaOptions) -> Result<RunSummary, RuntimeError> {
    create_processing_log_topic(options)?;
    let mut driver = driver(options)?;
    driver.restore(engine)?;
    driver.run(engine)
}

/// The drive loop over Kafka with the state folder of `options`.
pub fn driver(options: &KafkaOptions) -> Result<Driver<KafkaSource, KafkaSink>, RuntimeError> {
    let store = Store::open(&options.checkpoints)?;
    // A remote store is written every checkpoint interval (S3 requests cost time and money);
    // a local folder at every commit, as before.
    let checkpoint_interval = match (options.checkpoint_interval, store.is_remote()) {
        (Some(interval), _) => Some(interval),
        (None, true) => Some(DEFAULT_REMOTE_CHECKPOINT_INTERVAL),
        (None, false) => None,
    };
    tracing::info!(checkpoints = %options.checkpoints, "checkpoint store");
    let store = Arc::new(store);
    let source = KafkaSource::new(options, Some(store.clone()))?;
    let sink = KafkaSink::new(options)?.keeping_in_group(source.group_keeper());
    Ok(Driver::new(
        source,
        sink,
        Some(store),
        DriveOptions {
            poll_wait: Duration::from_millis(200),
            commit_interval: options.commit_interval,
            checkpoint_interval,
            stop_when_idle: options.stop_when_idle,
            flush_at_end: false,
        },
    ))
}

/// Which part of an output record its format cannot write.
enum Unwritable {
    Key,
    /// The value; the key, written, goes with the letter.
    Value {
        key: Option<Vec<u8>>,
    },
}

/// A dead letter of a query's sink, without a record: the record that caused the output is
/// not known there (ksqlDB's PRODUCTION_ and SERIALIZATION_ERROR name none either), so its
/// partition and offset are 0.
fn sink_letter(query: &PersistentQuery, kind: FailureKind, reason: String) -> DeadLetter {
    DeadLetter {
        query: query.id.clone(),
        source: query.sink.name.clone(),
        topic: query.sink.topic.clone(),
        partition: 0,
        offset: 0,
        kind,
        reason,
        cause: Vec::new(),
        on_key: false,
        raw_key: None,
        raw_value: None,
    }
}

/// Queues an output record as `send` does; a record the producer refuses for what it is
/// (larger than `message.max.bytes`, or invalid) comes back as the refusal's text instead
/// of an error, so that it can go to the dead letters.
fn send_or_refuse(
    producer: &BaseProducer<Deliveries>,
    record: BaseRecord<'_, Vec<u8>, Vec<u8>>,
    keeper: Option<&GroupKeeper>,
) -> Result<Option<String>, KafkaError> {
    use rdkafka::types::RDKafkaErrorCode;
    match send(producer, record, keeper) {
        Ok(()) => Ok(None),
        Err(KafkaError::Client {
            source:
                rdkafka::error::KafkaError::MessageProduction(
                    code
                    @ (RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidRecord),
                ),
            ..
        }) => Ok(Some(code.to_string())),
        Err(error) => Err(error),
    }
}

/// How long the output may take no records before the stall is reported, and how often it
/// is reported again while it lasts.
const OUTPUT_STALL_REPORT: Duration = Duration::from_secs(10);
/// How long a commit waits for its output records' acknowledgements before it fails.
const DELIVERY_WAIT: Duration = Duration::from_secs(60);

/// Keeps the engine's consumer in its group while the output stalls: librdkafka leaves the
/// group when the application has not polled for `max.poll.interval.ms` (300 s), and the
/// partitions would move, their state with them, only because the output is slow. The
/// assigned partitions are paused for the stall (what was fetched ahead is dropped, and
/// fetched again from where the engine is once they resume), so a poll hands out no
/// records: it serves the group's callbacks and tells librdkafka the engine is alive.
#[derive(Clone)]
pub struct GroupKeeper {
    consumer: Arc<BaseConsumer<GroupContext>>,
}

impl GroupKeeper {
    /// One poll in a stall, the partitions assigned so far paused.
    fn keep(&self, paused: &mut TopicPartitionList) {
        match self.consumer.assignment() {
            Ok(assignment) => {
                for element in assignment.elements() {
                    let (topic, partition) = (element.topic(), element.partition());
                    if paused.find_partition(topic, partition).is_none() {
                        paused.add_partition(topic, partition);
                    }
                }
                if let Err(e) = self.consumer.pause(paused) {
                    tracing::warn!("cannot pause the input to stay in the group: {e}");
                    return;
                }
            }
            Err(e) => {
                tracing::warn!("cannot read the consumer's assignment to stay in the group: {e}");
                return;
            }
        }
        // A record can come only from a partition assigned during the stall, before it was
        // paused: it goes to the next batch.
        if let Some(Ok(message)) = self.consumer.poll(Duration::ZERO) {
            let message = message.detach();
            if let Ok(mut kept) = self.consumer.context().kept.lock() {
                kept.push(message);
            }
        }
    }

    /// The stall is over: the input reads on.
    fn release(&self, paused: &TopicPartitionList) {
        if paused.count() == 0 {
            return;
        }
        // Partitions that moved away meanwhile are no longer this consumer's to resume.
        let Ok(assignment) = self.consumer.assignment() else {
            return;
        };
        let mut resumed = TopicPartitionList::new();
        for element in paused.elements() {
            if assignment
                .find_partition(element.topic(), element.partition())
                .is_some()
            {
                resumed.add_partition(element.topic(), element.partition());
            }
        }
        // Where each goes on from: librdkafka's position, the offset after the last record
        // it handed over, which the pause left as it was.
        let positions = self.consumer.position().ok();
        if let Err(e) = self.consumer.resume(&resumed) {
            tracing::warn!("cannot resume the input after the output's stall: {e}");
            return;
        }
        let (Some(positions), Ok(mut checked)) =
            (positions, self.consumer.context().resumed.lock())
        else {
            return;
        };
        for element in resumed.elements() {
            let (topic, partition) = (element.topic(), element.partition());
            if let Some(Offset::Offset(next)) = positions
                .find_partition(topic, partition)
                .map(|p| p.offset())
            {
                checked.push((topic.to_string(), partition, next));
            }
        }
    }
}

/// How often a stalled output's wait polls the consumer (`GroupKeeper`).
const KEEP_IN_GROUP_EVERY: Duration = Duration::from_secs(1);

/// A wait on the output (a full producer queue, acknowledgements that do not come): past
/// `OUTPUT_STALL_REPORT` it is logged and reported to /healthcheck (degraded) until it
/// ends. The input is paused meanwhile, and without the report a stalled output would look
/// like an idle one.
struct OutputStall<'k> {
    since: std::time::Instant,
    reports: u32,
    keeper: Option<&'k GroupKeeper>,
    kept_at: std::time::Instant,
    /// The input partitions paused for the stall, resumed when it ends however it ends.
    paused: TopicPartitionList,
}

impl Drop for OutputStall<'_> {
    fn drop(&mut self) {
        if let Some(keeper) = self.keeper {
            keeper.release(&self.paused);
        }
    }
}

impl<'k> OutputStall<'k> {
    fn new(keeper: Option<&'k GroupKeeper>) -> OutputStall<'k> {
        let now = std::time::Instant::now();
        OutputStall {
            since: now,
            reports: 0,
            keeper,
            kept_at: now,
            paused: TopicPartitionList::new(),
        }
    }

    fn waited(&self) -> Duration {
        self.since.elapsed()
    }

    /// One more turn of the wait; `what` says what has lasted that long.
    fn waiting(&mut self, what: &str) {
        if let Some(keeper) = self.keeper {
            if self.kept_at.elapsed() >= KEEP_IN_GROUP_EVERY {
                keeper.keep(&mut self.paused);
                self.kept_at = std::time::Instant::now();
            }
        }
        let waited = self.since.elapsed();
        if waited >= OUTPUT_STALL_REPORT * (self.reports + 1) {
            self.reports += 1;
            let problem = format!(
                "the output topics take no records: {what} for {:.0} s, so the input is paused",
                waited.as_secs_f64()
            );
            tracing::warn!("{problem}");
            HEALTH.report(problem);
        }
    }

    /// The wait is over: a stall that was reported is cleared.
    fn over(self) {
        if self.reports > 0 {
            HEALTH.clear();
            tracing::info!(
                "the output topics take records again, after {:.0} s",
                self.since.elapsed().as_secs_f64()
            );
        }
    }
}

/// Queues a record, waiting for room when the producer's queue is full (see
/// `OutputStall`).
fn send(
    producer: &BaseProducer<Deliveries>,
    mut record: BaseRecord<'_, Vec<u8>, Vec<u8>>,
    keeper: Option<&GroupKeeper>,
) -> Result<(), KafkaError> {
    let mut stall: Option<OutputStall<'_>> = None;
    loop {
        match producer.send(record) {
            Ok(()) => {
                if let Some(stall) = stall {
                    stall.over();
                }
                return Ok(());
            }
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                returned,
            )) => {
                stall
                    .get_or_insert_with(|| OutputStall::new(keeper))
                    .waiting("the Kafka producer's queue has been full");
                producer.poll(Duration::from_millis(50));
                record = returned;
            }
            Err((error, _)) => {
                return Err(KafkaError::Client {
                    action: "queue an output record".into(),
                    source: error,
                })
            }
        }
    }
}
