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
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::catalog::SourceDef;
use crate::checkpoint::{Location, Store};
use crate::engine::Engine;
use crate::query::{DeadLetter, InputRecord, OutputRecord, Outputs, PersistentQuery};
use crate::runtime::{DriveOptions, Driver, OutputSink, Polled, RunSummary, RuntimeError, Source};
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

/// An output's key bytes, as ksqlDB's serdes write them (see `PersistentQuery::encode_key`).
pub fn encode_key(query: &PersistentQuery, record: &OutputRecord) -> Option<Vec<u8>> {
    query.encode_key(record)
}

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
        .filter(|t| !t.name().starts_with("__"))
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

/// Creates the sinks' and the dead-letter topics when missing, with the partitions of the
/// topics they are computed from.
fn create_topics(
    options: &KafkaOptions,
    engine: &Engine,
    consumer: &BaseConsumer,
) -> Result<(), KafkaError> {
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .map_err(client("read the cluster metadata"))?;
    let existing: BTreeMap<String, usize> = metadata
        .topics()
        .iter()
        .map(|t| (t.name().to_string(), t.partitions().len()))
        .collect();
    let mut wanted: BTreeMap<String, i32> = BTreeMap::new();
    for query in &engine.queries {
        let mut counts = Vec::with_capacity(query.inputs.len());
        for input in &query.inputs {
            let Some(partitions) = existing.get(&input.topic) else {
                return Err(KafkaError::Invalid(format!(
                    "topic {} of {} does not exist on {}",
                    input.topic, input.source, options.bootstrap_servers
                )));
            };
            counts.push((input, *partitions));
        }
        if let [(left, left_count), (right, right_count), ..] = counts[..] {
            // ksqlDB's co-partitioning check: a join reads the same partition of each side.
            if left_count != right_count {
                return Err(KafkaError::Invalid(format!(
                    "Can't join `{}` with `{}` since the number of partitions don't match. `{}` partitions = {left_count}; `{}` partitions = {right_count}. Please repartition either one so that the number of partitions match.",
                    left.source, right.source, left.source, right.source
                )));
            }
        }
        let Some((_, partitions)) = counts.first() else {
            continue;
        };
        if !existing.contains_key(&query.sink.topic) {
            wanted.insert(query.sink.topic.clone(), *partitions as i32);
        }
    }
    if !existing.contains_key(&options.dead_letter_topic) {
        wanted.insert(options.dead_letter_topic.clone(), 1);
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = config(options)
        .create()
        .map_err(client("create an admin client"))?;
    let topics: Vec<NewTopic<'_>> = wanted
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    let results = futures_executor::block_on(admin.create_topics(&topics, &AdminOptions::new()))
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

/// The input side on Kafka: one consumer in the engine's group for every topic the queries
/// (and push queries) read.
pub struct KafkaSource {
    options: KafkaOptions,
    consumer: BaseConsumer,
    subscribed: BTreeSet<String>,
    /// The batch being handed over, kept between polls.
    messages: Vec<OwnedMessage>,
    /// Set while a query joins two inputs: each batch is then handed over in timestamp
    /// order across partitions (offset order within each), as a Kafka Streams task picks
    /// the partition whose next record has the lowest timestamp.
    merge_by_time: bool,
}

impl KafkaSource {
    pub fn new(options: &KafkaOptions) -> Result<KafkaSource, KafkaError> {
        let consumer: BaseConsumer = config(options)
            .set("group.id", &options.group_id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .map_err(client("create the consumer"))?;
        Ok(KafkaSource {
            options: options.clone(),
            consumer,
            subscribed: BTreeSet::new(),
            messages: Vec::new(),
            merge_by_time: false,
        })
    }

    /// Up to a batch of records, waiting `wait` for the first.
    fn poll(&mut self, wait: Duration) -> Result<(), KafkaError> {
        self.messages.clear();
        if self.subscribed.is_empty() {
            std::thread::sleep(wait);
            return Ok(());
        }
        while self.messages.len() < self.options.batch_size {
            let timeout = if self.messages.is_empty() {
                wait
            } else {
                Duration::ZERO
            };
            match self.consumer.poll(timeout) {
                Some(result) => self.messages.push(
                    result
                        .map_err(client("read from the input topics"))?
                        .detach(),
                ),
                None => break,
            }
        }
        Ok(())
    }
}

impl Source for KafkaSource {
    fn next_batch(
        &mut self,
        wait: Duration,
        process: &mut dyn FnMut(&[InputRecord<'_>]) -> Result<(), RuntimeError>,
    ) -> Result<Polled, RuntimeError> {
        self.poll(wait)?;
        if self.messages.is_empty() {
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
        process(&records)?;
        Ok(Polled::Records(records.len()))
    }

    fn wants(&self, topics: &BTreeSet<String>) -> bool {
        *topics != self.subscribed
    }

    fn follow(&mut self, engine: &Engine, topics: &BTreeSet<String>) -> Result<(), RuntimeError> {
        create_topics(&self.options, engine, &self.consumer)?;
        if topics.is_empty() {
            self.consumer.unsubscribe();
        } else {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            self.consumer
                .subscribe(&names)
                .map_err(client("subscribe to the input topics"))?;
        }
        self.subscribed = topics.clone();
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
            self.consumer
                .commit(&list, CommitMode::Sync)
                .map_err(client("commit the input offsets"))?;
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
}

impl KafkaSink {
    pub fn new(options: &KafkaOptions) -> Result<KafkaSink, KafkaError> {
        Ok(KafkaSink {
            options: options.clone(),
            producer: producer(options)?,
            cache: BTreeMap::new(),
            cached_bytes: 0,
        })
    }

    /// Queues a query's outputs on the producer, to its sink topic.
    fn send_outputs(
        &self,
        query: &PersistentQuery,
        outputs: &PendingOutputs,
    ) -> Result<(), KafkaError> {
        for (key, output) in &outputs.records {
            let value = query.encode_value(output);
            // The record carries the row's time (ROWTIME), as ksqlDB's sink writes it.
            let mut next: BaseRecord<'_, Vec<u8>, Vec<u8>> =
                BaseRecord::to(&query.sink.topic).timestamp(output.timestamp);
            if let Some(key) = key {
                next = next.key(key);
            }
            if let Some(value) = &value {
                next = next.payload(value);
            }
            send(&self.producer, next)?;
        }
        Ok(())
    }

    /// Sends the table updates the cache holds. Those of a query terminated meanwhile have
    /// nowhere to go and are dropped with it.
    fn flush_cache(&mut self, engine: &Engine) -> Result<(), KafkaError> {
        let cache = std::mem::take(&mut self.cache);
        self.cached_bytes = 0;
        for query in &engine.queries {
            if let Some(outputs) = cache.get(&query.id) {
                self.send_outputs(query, outputs)?;
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
        if cached {
            let pending = self
                .cache
                .entry(query.id.clone())
                .or_insert_with(|| PendingOutputs::new(true));
            for output in outputs {
                self.cached_bytes += pending.push(encode_key(query, output), output);
            }
        } else if !outputs.is_empty() {
            let mut pending = PendingOutputs::new(false);
            for output in outputs {
                pending.push(encode_key(query, output), output);
            }
            self.send_outputs(query, &pending)?;
        }
        for letter in dead {
            let bytes = serde_json::to_vec(&letter.to_json()).unwrap_or_default();
            send(
                &self.producer,
                BaseRecord::<'_, Vec<u8>, Vec<u8>>::to(&self.options.dead_letter_topic)
                    .payload(&bytes),
            )?;
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
        deliver(&self.producer, "deliver the output records")?;
        Ok(())
    }
}

/// A producer as ksqlDB's: Java's default partitioner, so keys land where ksqlDB would put
/// them; idempotent, acknowledged by all replicas.
fn producer(options: &KafkaOptions) -> Result<BaseProducer<Deliveries>, KafkaError> {
    config(options)
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create_with_context(Deliveries::default())
        .map_err(client("create the producer"))
}

/// Waits until everything queued is acknowledged; any failed delivery is an error.
fn deliver(producer: &BaseProducer<Deliveries>, action: &'static str) -> Result<(), KafkaError> {
    producer
        .flush(Duration::from_secs(60))
        .map_err(client(action))?;
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
        let keys_codec = target
            .formats
            .key_codec(&target.schema, &target.topic, &self.codecs);
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
                let keyed = keys_codec.encode(&keys, &mut key);
                let value = encoder.encode(&values);
                let mut record: BaseRecord<'_, Vec<u8>, Vec<u8>> =
                    BaseRecord::to(&target.topic).payload(&value);
                if keyed {
                    record = record.key(&key);
                }
                send(&self.producer, record).map_err(|e| e.to_string())
            })
            .collect()
    }

    /// Waits until every queued row is acknowledged.
    pub fn flush(&self) -> Result<(), KafkaError> {
        deliver(&self.producer, "deliver the inserted rows")
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

/// How often state goes to a remote store when `--checkpoint-interval` is not given.
pub const DEFAULT_REMOTE_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// Runs the queries on Kafka until the topics stay quiet for `stop_when_idle` (or forever).
pub fn run(engine: &mut Engine, options: &KafkaOptions) -> Result<RunSummary, RuntimeError> {
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
    Ok(Driver::new(
        KafkaSource::new(options)?,
        KafkaSink::new(options)?,
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

/// Queues a record, waiting for room when the producer's queue is full.
fn send(
    producer: &BaseProducer<Deliveries>,
    mut record: BaseRecord<'_, Vec<u8>, Vec<u8>>,
) -> Result<(), KafkaError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                returned,
            )) => {
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
