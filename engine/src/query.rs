//! A persistent query at run time: records are decoded into rows, the rows go through the
//! planned chain of operators, and what comes out are output records and dead letters. The
//! query tracks the input offsets (per topic and partition) its state reflects, and
//! snapshots its operators' state with them. Nothing here knows where records come from or
//! go to.

use serde::{Deserialize, Serialize};

use crate::catalog::{SourceDef, WindowType};
use crate::exchange::{Exchange, Exchanged, ExchangedRow, PartitionSnapshot, RoutedRow, Step};
use crate::format::json::JsonBuf;
use crate::format::{Codecs, Decoder, EncodeError, Encoder, JsonFields, KeyCodec};
use crate::ops::watermark::Watermark;
use crate::ops::window_aggregate::legacy;
use crate::ops::{Emit, GroupSnapshot, Operator, Rejected, RowBatch, RowError};
pub use crate::ops::{OutputRecord, Outputs};
use crate::plan::QueryPlan;
use crate::sql::ast::SourceKind;
use crate::state::{Offsets, RestoreError};
use crate::value::Value;

/// One record as a source hands it over.
#[derive(Debug, Clone, Copy)]
pub struct InputRecord<'a> {
    pub topic: &'a str,
    pub partition: u32,
    pub offset: u64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

/// What kind of failure a dead letter records, as ksqlDB's processing log types them
/// (`message.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureKind {
    // In the order of `ALL`: a kind's place there is its index in `Stats`.
    /// The record's key or value could not be read (ksqlDB's DESERIALIZATION_ERROR, 0).
    Deserialization,
    /// A row could not be evaluated, aggregated, joined or matched, or came late
    /// (RECORD_PROCESSING_ERROR, 1).
    RecordProcessing,
    /// A row could not be written in its output format (SERIALIZATION_ERROR, 3).
    Serialization,
}

impl FailureKind {
    pub const ALL: [FailureKind; 3] = [
        FailureKind::Deserialization,
        FailureKind::RecordProcessing,
        FailureKind::Serialization,
    ];

    /// ksqlDB's `message.type` number.
    pub fn code(self) -> u8 {
        match self {
            FailureKind::Deserialization => 0,
            FailureKind::RecordProcessing => 1,
            FailureKind::Serialization => 3,
        }
    }

    /// The label /metrics counts it under.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Deserialization => "deserialization",
            FailureKind::RecordProcessing => "record_processing",
            FailureKind::Serialization => "serialization",
        }
    }

    fn of(error: &RowError) -> FailureKind {
        match error {
            RowError::Decode(_)
            | RowError::DecodeKey(_)
            | RowError::Format(_)
            | RowError::FormatKey(_) => FailureKind::Deserialization,
            RowError::Encode(_) => FailureKind::Serialization,
            _ => FailureKind::RecordProcessing,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub query: String,
    pub source: String,
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub kind: FailureKind,
    pub reason: String,
    /// The messages of the errors under `reason`, ksqlDB's `cause` (see `RowError::causes`).
    pub cause: Vec<String>,
    /// The record's key, not its value, failed to decode: ksqlDB's `target` is `key` and
    /// its `recordB64` the key's bytes.
    pub on_key: bool,
    pub raw_key: Option<Vec<u8>>,
    pub raw_value: Option<Vec<u8>>,
}

impl DeadLetter {
    /// The dead letter as one JSON object: where the record came from and why it failed,
    /// its raw key and value in base64, and ksqlDB's processing-log fields (`level`,
    /// `logger`, `time`, `message` with the error under its type), so that a
    /// KSQL_PROCESSING_LOG stream or a consumer written for ksqlDB's log reads it. `time` is
    /// when it is written. Written straight into the buffer, as output lines are: a stream
    /// full of bad records must not crawl.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        // The value as text, for reading.
        let value = self.raw_value.as_deref().map(String::from_utf8_lossy);
        let mut buf = JsonBuf::from_vec(std::mem::take(out));
        let optional = |buf: &mut JsonBuf, text: Option<&str>| match text {
            Some(text) => buf.string(text),
            None => buf.extend(b"null"),
        };
        let base64 = |buf: &mut JsonBuf, bytes: Option<&[u8]>| match bytes {
            Some(bytes) => buf.base64_string(bytes),
            None => buf.extend(b"null"),
        };
        buf.extend(b"{\"query\":");
        buf.string(&self.query);
        buf.extend(b",\"source\":");
        buf.string(&self.source);
        buf.extend(b",\"topic\":");
        buf.string(&self.topic);
        buf.extend(b",\"partition\":");
        buf.integer(i64::from(self.partition));
        buf.extend(b",\"offset\":");
        buf.integer(self.offset as i64);
        buf.extend(b",\"reason\":");
        buf.string(&self.reason);
        buf.extend(b",\"value\":");
        optional(&mut buf, value.as_deref());
        buf.extend(b",\"key_b64\":");
        base64(&mut buf, self.raw_key.as_deref());
        buf.extend(b",\"value_b64\":");
        base64(&mut buf, self.raw_value.as_deref());
        buf.extend(b",\"level\":\"ERROR\",\"logger\":\"processing.");
        // A query id is letters, digits and underscores: nothing to escape.
        buf.extend(self.query.as_bytes());
        buf.extend(match self.kind {
            FailureKind::Deserialization => b".KsqlTopic.Source.deserializer\"".as_slice(),
            FailureKind::RecordProcessing => b"\"".as_slice(),
            FailureKind::Serialization => b".KsqlTopic.Sink.serializer\"".as_slice(),
        });
        buf.extend(b",\"time\":");
        buf.integer(time);
        buf.extend(b",\"message\":{\"type\":");
        buf.integer(i64::from(self.kind.code()));
        let cause = |buf: &mut JsonBuf| {
            buf.extend(b",\"cause\":[");
            for (i, message) in self.cause.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                buf.string(message);
            }
            buf.push(b']');
        };
        // Reading and writing errors have one shape; `record` names the record's field.
        let format_error = |buf: &mut JsonBuf, field: &[u8], record: &dyn Fn(&mut JsonBuf)| {
            buf.extend(if self.on_key {
                b"{\"target\":\"key\",\"errorMessage\":".as_slice()
            } else {
                b"{\"target\":\"value\",\"errorMessage\":".as_slice()
            });
            buf.string(&self.reason);
            buf.extend(field);
            record(buf);
            cause(buf);
            buf.extend(b",\"topic\":");
            buf.string(&self.topic);
            buf.push(b'}');
        };
        buf.extend(b",\"deserializationError\":");
        if self.kind == FailureKind::Deserialization {
            format_error(&mut buf, b",\"recordB64\":", &|buf| {
                let record = if self.on_key {
                    &self.raw_key
                } else {
                    &self.raw_value
                };
                base64(buf, record.as_deref())
            });
        } else {
            buf.extend(b"null");
        }
        buf.extend(b",\"recordProcessingError\":");
        if self.kind == FailureKind::RecordProcessing {
            buf.extend(b"{\"errorMessage\":");
            buf.string(&self.reason);
            buf.extend(b",\"record\":");
            optional(&mut buf, value.as_deref());
            cause(&mut buf);
            buf.push(b'}');
        } else {
            buf.extend(b"null");
        }
        buf.extend(b",\"productionError\":null,\"serializationError\":");
        if self.kind == FailureKind::Serialization {
            format_error(&mut buf, b",\"record\":", &|buf| {
                optional(buf, value.as_deref())
            });
        } else {
            buf.extend(b"null");
        }
        buf.extend(b",\"kafkaStreamsThreadError\":null}}");
        *out = buf.into_vec();
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub records_in: u64,
    pub records_out: u64,
    pub dead_letters: u64,
    pub late_events: u64,
    /// The state's size in bytes when it was last measured (at most once a second).
    pub state_bytes: u64,
    /// Dead letters by kind, in the order of `FailureKind::ALL`.
    #[serde(skip)]
    pub dead_letters_by_kind: [u64; 3],
}

impl Stats {
    fn count_dead_letter(&mut self, error: &RowError) -> FailureKind {
        let kind = FailureKind::of(error);
        self.dead_letters += 1;
        if error.is_late() {
            self.late_events += 1;
        }
        self.dead_letters_by_kind[kind as usize] += 1;
        kind
    }
}

/// One stream or table a query reads, and where its columns sit in the query's rows.
pub struct QueryInput {
    /// The source's name.
    pub source: String,
    /// The source's topic, which its records' offsets are kept under.
    pub topic: String,
    /// The source's value format, filling the value columns of a row.
    decoder: Box<dyn Decoder>,
    /// The source's key format, filling the key columns.
    keys: KeyCodec,
    /// The first of the source's columns in the query's rows, and how many it has.
    offset: usize,
    width: usize,
    /// Set when the source is a table: its records without a value are tombstones.
    is_table: bool,
    /// Where the source's key columns sit in its own columns.
    key_places: Vec<usize>,
    /// The source's TIMESTAMP column among its own columns.
    timestamp: Option<usize>,
    /// The Java pattern of a STRING timestamp column (TIMESTAMP_FORMAT).
    timestamp_format: Option<String>,
    /// A source declared with WINDOW_TYPE: its kind of window and, for a time window, its
    /// size.
    window: Option<(WindowType, Option<i64>)>,
}

pub struct PersistentQuery {
    pub id: String,
    /// What the query reads: one source, or the sides of a join in order.
    pub inputs: Vec<QueryInput>,
    pub sink: SourceDef,
    pub key_names: Vec<String>,
    pub value_names: Vec<String>,
    /// The key and value columns' names ready for JSON (file outputs, JSON keys).
    pub json_keys: JsonFields,
    pub json_values: JsonFields,
    pub sql: String,
    /// The sink's value format.
    encoder: Box<dyn Encoder>,
    /// The sink's key format.
    sink_keys: KeyCodec,
    /// How wide the query's rows are: every input's columns side by side.
    width: usize,
    ops: Vec<Box<dyn Operator>>,
    /// The rows of the batch being processed, kept between batches to spare allocations.
    batch: RowBatch,
    rejected: Vec<Rejected>,
    /// How an aggregation's state looked in snapshots of versions 1 and 2, which held it
    /// whole; `None` for queries those versions could not run.
    legacy: Option<legacy::Shape>,
    /// The source's watermark, for operators that follow it (OVER, MATCH_RECOGNIZE).
    watermark: Option<Watermark>,
    /// Next offset per input topic and partition that the state reflects.
    offsets: Offsets,
    /// Set when the query's keyed state is reached through a repartition topic (on Kafka).
    exchange: Option<Exchange>,
    /// Where each row of a repartitioned batch came from, by origin.
    exchanged_origins: Vec<ExchangedOrigin>,
    pub stats: Stats,
    /// Set when the query was stopped for holding more state than its budget: it reads
    /// nothing more, and its offsets stay where its state stopped.
    stopped: Option<StateBudgetExceeded>,
}

/// A query's live state passed the state budget (`--state-budget`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "query {query} holds {} of state, over the state budget of {} (--state-budget), and was stopped before memory ran out. Its state and input offsets up to the stop are kept, so nothing is lost: start again with a larger budget, or bound the state (a shorter RETENTION or GRACE PERIOD, fewer keys)",
    bytesize::ByteSize(*.bytes),
    bytesize::ByteSize(*.budget)
)]
pub struct StateBudgetExceeded {
    pub query: String,
    pub bytes: u64,
    pub budget: u64,
    /// When the query was stopped, in epoch milliseconds.
    pub at_millis: i64,
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    offsets: &'a Offsets,
    operators: Vec<GroupSnapshot>,
}

#[derive(Deserialize)]
struct Snapshot {
    version: u32,
    offsets: Offsets,
    operators: Vec<GroupSnapshot>,
}

/// The snapshot form this version writes: each operator's state by key group, with the
/// offsets per topic and partition. Versions 1 and 2 held an aggregation's state whole,
/// with offsets per partition.
const SNAPSHOT_VERSION: u32 = 3;

/// What a binary snapshot starts with.
const SNAPSHOT_MAGIC: &[u8] = b"advisor-engine snapshot 3\n";

/// Splits a windowed key as ksqlDB's windowed serdes write it into the key and its window:
/// a time window's start (8 bytes, big-endian) after the key, with the end `size` later; a
/// session's end, then its start.
fn split_window(
    key: &[u8],
    kind: WindowType,
    size: Option<i64>,
) -> Result<(&[u8], (i64, i64)), String> {
    let long = |bytes: &[u8]| {
        let mut be = [0u8; 8];
        be.copy_from_slice(bytes);
        i64::from_be_bytes(be)
    };
    let suffix = if kind == WindowType::Session { 16 } else { 8 };
    let Some(cut) = key.len().checked_sub(suffix) else {
        return Err(format!(
            "the key of {} bytes is too short for a {} window",
            key.len(),
            kind.name()
        ));
    };
    let (key, window) = key.split_at(cut);
    Ok(if kind == WindowType::Session {
        (key, (long(&window[8..]), long(&window[..8])))
    } else {
        let start = long(window);
        (key, (start, start.saturating_add(size.unwrap_or(0))))
    })
}

impl QueryInput {
    /// Decodes a record into its columns of `row`: key columns from the record key, the
    /// rest from the value. A record without a value (a table's tombstone) has only its
    /// key columns decoded, the rest left null, and true is returned. The window of a
    /// windowed source's key goes to `window`.
    fn decode(
        &self,
        record: &InputRecord<'_>,
        row: &mut [Value],
        window: &mut Option<(i64, i64)>,
    ) -> Result<bool, RowError> {
        let own = &mut row[self.offset..self.offset + self.width];
        let tombstone = match record.value {
            Some(value) => {
                self.decoder
                    .decode_into(value, own)
                    .map_err(RowError::Format)?;
                false
            }
            // A table's tombstone, or a stream's record without a value, which ksqlDB passes
            // on as it is through a projection and leaves out of aggregations.
            None => {
                own.iter_mut().for_each(|v| *v = Value::Null);
                true
            }
        };
        let key = match (self.window, record.key) {
            (Some((kind, size)), Some(key)) => {
                let (key, read) = split_window(key, kind, size).map_err(RowError::DecodeKey)?;
                *window = Some(read);
                Some(key)
            }
            (_, key) => key,
        };
        self.keys
            .decode_into(key, own)
            .map_err(RowError::FormatKey)?;
        // Only a wholly null key is no key: ksqlDB keeps `{"K": null, "K2": 2}` of a
        // two-column PRIMARY KEY (multi-col-keys.json in its QTT).
        if self.is_table
            && !self.key_places.is_empty()
            && self.key_places.iter().all(|&i| own[i].is_null())
        {
            return Err(RowError::Decode(
                "the table row's PRIMARY KEY is null; ksqlDB drops such records".into(),
            ));
        }
        Ok(tombstone)
    }

    fn event_time(&self, record: &InputRecord<'_>, row: &[Value]) -> Result<i64, String> {
        match self.timestamp {
            Some(index) => match &row[self.offset + index] {
                Value::Integer(ts) if *ts >= 0 => Ok(*ts),
                Value::String(text) if self.timestamp_format.is_some() => {
                    let pattern = self.timestamp_format.as_deref().unwrap_or_default();
                    crate::datetime::parse_millis(text, pattern, None).map_err(|e| {
                        format!("the timestamp {text:?} does not parse with TIMESTAMP_FORMAT '{pattern}': {e}")
                    })
                }
                Value::Null => Err("the timestamp column is null".into()),
                other => Err(format!(
                    "timestamp column holds {other}, not epoch milliseconds"
                )),
            },
            None => Ok(record.timestamp),
        }
    }
}

impl PersistentQuery {
    /// The running form of a planned query (`plan::plan`) over `sources` (one, or a
    /// join's sides in order, whose columns the plan's rows hold side by side), with the
    /// statement's text; `codecs` has what the formats need beyond the WITH clause.
    pub fn new(
        id: String,
        sql: String,
        planned: QueryPlan,
        sources: &[&SourceDef],
        codecs: &Codecs,
    ) -> PersistentQuery {
        let mut inputs = Vec::with_capacity(sources.len());
        let mut offset = 0;
        for source in sources {
            let schema = &source.schema;
            let width = schema.columns.len();
            let timestamp = source.timestamp.as_ref().and_then(|t| schema.index_of(t));
            let mut reads: Vec<bool> = planned
                .reads
                .get(offset..offset + width)
                .map_or_else(|| vec![true; width], <[bool]>::to_vec);
            if let Some(flag) = timestamp.and_then(|i| reads.get_mut(i)) {
                *flag = true;
            }
            inputs.push(QueryInput {
                source: source.name.clone(),
                topic: source.topic.clone(),
                decoder: source.formats.value_decoder(schema, &reads, codecs),
                keys: source.formats.key_codec(schema, &source.topic, codecs),
                offset,
                width,
                is_table: source.kind == SourceKind::Table,
                key_places: schema.key_columns().map(|(i, _)| i).collect(),
                timestamp,
                timestamp_format: source.timestamp_format.clone(),
                window: source.window.map(|kind| (kind, source.window_size)),
            });
            offset += width;
        }
        PersistentQuery {
            id,
            inputs,
            encoder: planned.sink.formats.value_encoder(
                &planned.sink.topic,
                &planned.value_names,
                &planned
                    .sink
                    .schema
                    .value_columns()
                    .map(|(_, c)| c.sql_type.clone())
                    .collect::<Vec<_>>(),
                codecs,
            ),
            sink_keys: planned.sink.formats.key_codec(
                &planned.sink.schema,
                &planned.sink.topic,
                codecs,
            ),
            json_keys: JsonFields::new(&planned.key_names),
            json_values: JsonFields::new(&planned.value_names),
            sink: planned.sink,
            key_names: planned.key_names,
            value_names: planned.value_names,
            sql,
            width: offset,
            ops: planned.ops,
            batch: RowBatch::new(),
            rejected: Vec::new(),
            legacy: planned.legacy,
            watermark: planned
                .watermarked
                .then(|| Watermark::new(sources.first().map_or(0, |s| s.watermark_delay))),
            offsets: Offsets::new(),
            exchange: None,
            exchanged_origins: Vec::new(),
            stats: Stats::default(),
            stopped: None,
        }
    }

    /// Where the query's rows would cross to a repartition topic, in a query that follows
    /// ksqlDB's stream time rather than Flink's watermarks: over one stream, the first
    /// operator whose state is split by a GROUP BY key; over two sources, a join on their
    /// keys (not a foreign key) followed by nothing but projections and filters. Multi-way
    /// joins and a join's aggregation would need a repartition per step and keep their state
    /// whole.
    pub fn split_point(&self) -> Option<usize> {
        if self.watermark.is_some() {
            return None;
        }
        match &self.inputs[..] {
            [input] if !input.is_table => self.ops.iter().position(|op| op.grouping().is_some()),
            [_, _] => {
                let (join, rest) = self.ops.split_first()?;
                let stateless_after = rest
                    .iter()
                    .all(|op| matches!(op.name(), "filter" | "map" | "project" | "table_project"));
                (join.splits_by_join_key() && stateless_after).then_some(0)
            }
            _ => None,
        }
    }

    /// Routes the query's keyed state through the repartition topic ksqlDB would name for
    /// it under `service_id`, with `partitions` partitions (the input's); returns the topic,
    /// or `None` when the query has no keyed state to route.
    pub fn repartition(&mut self, service_id: &str, partitions: u32) -> Option<String> {
        let at = self.split_point()?;
        let step = if self.ops[at].splits_by_join_key() {
            Step::Join
        } else {
            Step::Aggregate
        };
        let topic = crate::exchange::repartition_topic(service_id, &self.id, step);
        if self.exchange.as_ref().is_some_and(|e| e.topic == topic) {
            return Some(topic);
        }
        self.exchange = Some(Exchange::new(
            at,
            topic.clone(),
            partitions,
            self.inputs
                .iter()
                .map(|input| input.topic.clone())
                .collect(),
        ));
        Some(topic)
    }

    /// True for a foreign-key table-table join, which (as in ksqlDB, whose subscription
    /// topics route each side by its own key) needs no co-partitioned inputs.
    pub fn joins_on_a_foreign_key(&self) -> bool {
        self.ops.iter().any(|op| op.name() == "foreign_key_join")
    }

    /// The repartition topic the query's keyed state is reached through, if any.
    pub fn exchange(&self) -> Option<&Exchange> {
        self.exchange.as_ref()
    }

    /// True when the query reads `topic`: a source's, or its repartition topic.
    pub fn reads_topic(&self, topic: &str) -> bool {
        self.stopped.is_none()
            && (self.input_for(topic).is_some()
                || self.exchange.as_ref().is_some_and(|e| e.topic == topic))
    }

    /// Measures the query's state (`Stats::state_bytes`) and, when it holds more than
    /// `budget`, stops the query. Returns the reason when this call stopped it.
    pub fn check_state_budget(&mut self, budget: Option<u64>) -> Option<StateBudgetExceeded> {
        if self.stopped.is_some() {
            return None;
        }
        let bytes = self.state_bytes() as u64;
        self.stats.state_bytes = bytes;
        let budget = budget?;
        if bytes <= budget {
            return None;
        }
        let exceeded = StateBudgetExceeded {
            query: self.id.clone(),
            bytes,
            budget,
            at_millis: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        };
        self.stopped = Some(exceeded.clone());
        Some(exceeded)
    }

    /// Why the query was stopped, if it was.
    pub fn stopped(&self) -> Option<&StateBudgetExceeded> {
        self.stopped.as_ref()
    }

    /// Gets the outputs ready to be written: an AVRO sink registers its schemas.
    pub fn prepare_outputs(&self) -> Result<(), EncodeError> {
        self.encoder.prepare()?;
        self.sink_keys.prepare()
    }

    /// Processes one input record; outputs and dead letters are appended.
    pub fn process(
        &mut self,
        record: &InputRecord<'_>,
        out: &mut Outputs,
        dead: &mut Vec<DeadLetter>,
    ) {
        self.process_batch(std::slice::from_ref(record), out, dead);
    }

    /// Processes records in order, exactly as `process` would one by one: the batch is
    /// decoded, then each operator takes all its rows in turn.
    pub fn process_batch(
        &mut self,
        records: &[InputRecord<'_>],
        out: &mut Outputs,
        dead: &mut Vec<DeadLetter>,
    ) {
        let Some(first) = records.first() else {
            return;
        };
        if self
            .exchange
            .as_ref()
            .is_some_and(|e| e.topic == first.topic)
        {
            return self.process_exchanged(records, out, dead);
        }
        let Some(side) = self.input_for(first.topic) else {
            return;
        };
        let input = &self.inputs[side];
        let joined = self.inputs.len() > 1;
        let before = out.len();
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        batch.set_input(side);
        if joined {
            batch.set_partitions(records.iter().map(|r| r.partition));
        }
        self.rejected.clear();
        for (at, record) in records.iter().enumerate() {
            if let Some(watermark) = &self.watermark {
                batch.set_watermark(watermark.current());
            }
            let row = batch.push(self.width, record.timestamp, at as u32);
            if joined {
                // The other sides' columns: the join fills them.
                row.iter_mut().for_each(|v| *v = Value::Null);
            }
            let mut window = None;
            let decoded = input
                .decode(record, row, &mut window)
                .and_then(|tombstone| {
                    if tombstone {
                        Ok((record.timestamp, true))
                    } else {
                        input
                            .event_time(record, batch.row(batch.len() - 1))
                            .map(|time| (time, false))
                            .map_err(RowError::Decode)
                    }
                });
            match decoded {
                Ok((time, tombstone)) => {
                    let last = batch.len() - 1;
                    batch.set_time(last, time);
                    if tombstone {
                        batch.set_delete(last);
                    }
                    if let Some(window) = window {
                        batch.set_window(last, window);
                    }
                    if let Some(watermark) = &mut self.watermark {
                        watermark.observe(time);
                    }
                }
                Err(error) => {
                    batch.pop();
                    self.rejected.push(Rejected {
                        origin: at as u32,
                        error,
                    });
                }
            }
        }
        if let Some(watermark) = &self.watermark {
            batch.set_end_watermark(watermark.current());
        }
        self.stats.records_in += records.len() as u64;
        if self.exchange.is_none() {
            self.offsets_of(records);
        }
        let mut emit = Emit {
            out,
            rejected: &mut self.rejected,
        };
        match &self.exchange {
            // The first stage holds no state: a replay of its input is skipped where the
            // rows land, so no offset is noted here.
            Some(exchange) => {
                let at = exchange.at;
                for op in &mut self.ops[..at] {
                    if !op.takes_deletes() {
                        batch.drop_deletes();
                    }
                    op.process(&mut batch, &mut emit);
                }
                if !self.ops[at].takes_deletes() {
                    batch.drop_deletes();
                }
                let keyed = &*self.ops[at];
                if let Some(grouping) = keyed.grouping() {
                    send_to_exchange(exchange, grouping, &batch, records, &mut emit);
                } else if keyed.splits_by_join_key() {
                    send_join_rows(exchange, keyed, side, &batch, records, &mut emit);
                }
            }
            None => {
                for op in &mut self.ops {
                    if !op.takes_deletes() {
                        batch.drop_deletes();
                    }
                    op.process(&mut batch, &mut emit);
                }
            }
        }
        self.batch = batch;
        self.stats.records_out += (out.len() - before) as u64;
        self.dead_letters(records, dead);
    }

    /// The second stage: rows read back from the repartition topic go through the keyed
    /// operators, each input record once per partition however often it was replayed. A
    /// join's records each hold one side's rows: a run of one side's rows goes through as
    /// one batch of that input.
    fn process_exchanged(
        &mut self,
        records: &[InputRecord<'_>],
        out: &mut Outputs,
        dead: &mut Vec<DeadLetter>,
    ) {
        self.offsets_of(records);
        let Some(exchange) = &mut self.exchange else {
            return;
        };
        let (at, width) = (exchange.at, self.width);
        let before = out.len();
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        self.rejected.clear();
        self.exchanged_origins.clear();
        let mut emit = Emit {
            out,
            rejected: &mut self.rejected,
        };
        let mut taken = Taken {
            exchange,
            batch: &mut batch,
            origins: &mut self.exchanged_origins,
            width,
        };
        let mut input = 0;
        for record in records {
            let Some(value) = record.value else {
                continue;
            };
            let decoded = match record.key {
                None => postcard::from_bytes::<Vec<ExchangedRow>>(value).map(|rows| {
                    for row in rows {
                        taken.push(record.partition, 0, row, false);
                    }
                }),
                Some(&[side]) => postcard::from_bytes::<Vec<RoutedRow>>(value).map(|rows| {
                    let side = usize::from(side);
                    if side != input && !taken.batch.is_empty() {
                        run_second_stage(
                            &mut self.ops[at..],
                            taken.batch,
                            input,
                            taken.origins,
                            &mut emit,
                        );
                    }
                    input = side;
                    for routed in rows {
                        taken.push(record.partition, side, routed.row, routed.delete);
                    }
                }),
                Some(_) => Err(postcard::Error::DeserializeBadEncoding),
            };
            if let Err(e) = decoded {
                emit.reject(
                    taken.origins.len() as u32,
                    RowError::Decode(format!(
                        "a record of the repartition topic does not read back: {e}"
                    )),
                );
                taken.origins.push(ExchangedOrigin {
                    input: 0,
                    source_partition: record.partition,
                    source_offset: record.offset,
                    partition: record.partition,
                });
            }
        }
        if !taken.batch.is_empty() {
            run_second_stage(
                &mut self.ops[at..],
                taken.batch,
                input,
                taken.origins,
                &mut emit,
            );
        }
        self.batch = batch;
        self.stats.records_out += (out.len() - before) as u64;
        self.exchanged_dead_letters(dead);
    }

    /// Dead letters of the second stage name the input record each row came from.
    fn exchanged_dead_letters(&mut self, dead: &mut Vec<DeadLetter>) {
        self.rejected.sort_by_key(|r| r.origin);
        for rejected in self.rejected.drain(..) {
            let kind = self.stats.count_dead_letter(&rejected.error);
            let ExchangedOrigin {
                input,
                source_partition: partition,
                source_offset: offset,
                ..
            } = self
                .exchanged_origins
                .get(rejected.origin as usize)
                .copied()
                .unwrap_or_default();
            let Some(input) = self.inputs.get(input).or(self.inputs.first()) else {
                continue;
            };
            dead.push(DeadLetter {
                query: self.id.clone(),
                source: input.source.clone(),
                topic: input.topic.clone(),
                partition,
                offset,
                kind,
                reason: rejected.error.to_string(),
                cause: rejected.error.causes(),
                on_key: false,
                raw_key: None,
                raw_value: None,
            });
        }
    }

    /// Moves stream time on without a record (the end of a file, or quiet input): operators
    /// that hold rows back release what `watermark` lets go.
    pub fn advance(&mut self, watermark: i64, out: &mut Outputs, dead: &mut Vec<DeadLetter>) {
        if self.stopped.is_some() {
            return;
        }
        let before = out.len();
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        self.rejected.clear();
        let mut emit = Emit {
            out,
            rejected: &mut self.rejected,
        };
        for op in &mut self.ops {
            if !batch.is_empty() {
                op.process(&mut batch, &mut emit);
            }
            op.advance(watermark, &mut batch, &mut emit);
        }
        self.batch = batch;
        self.stats.records_out += (out.len() - before) as u64;
        self.dead_letters(&[], dead);
    }

    /// The next offset of each partition the records came from.
    fn offsets_of(&mut self, records: &[InputRecord<'_>]) {
        // Records of one partition come in order: the last of each run is its next offset.
        for run in records.chunk_by(|a, b| a.partition == b.partition && a.topic == b.topic) {
            if let Some(last) = run.last() {
                self.offsets
                    .set(last.topic, last.partition, last.offset + 1);
            }
        }
    }

    /// Turns the rows rejected in a batch into dead letters, in input order.
    fn dead_letters(&mut self, records: &[InputRecord<'_>], dead: &mut Vec<DeadLetter>) {
        self.rejected.sort_by_key(|r| r.origin);
        for rejected in self.rejected.drain(..) {
            let kind = self.stats.count_dead_letter(&rejected.error);
            let record = records.get(rejected.origin as usize);
            let input = &self.inputs[record
                .and_then(|r| self.inputs.iter().position(|input| input.topic == r.topic))
                .unwrap_or_default()];
            dead.push(DeadLetter {
                query: self.id.clone(),
                source: input.source.clone(),
                topic: record.map_or_else(|| input.topic.clone(), |r| r.topic.to_string()),
                partition: record.map_or(0, |r| r.partition),
                offset: record.map_or(0, |r| r.offset),
                kind,
                reason: rejected.error.to_string(),
                on_key: matches!(
                    rejected.error,
                    RowError::DecodeKey(_) | RowError::FormatKey(_)
                ),
                cause: rejected.error.causes(),
                raw_key: record.and_then(|r| r.key).map(<[u8]>::to_vec),
                raw_value: record.and_then(|r| r.value).map(<[u8]>::to_vec),
            });
        }
    }

    /// The table's current rows (what a pull query reads): one per group and open window.
    pub fn table_rows(&self) -> Vec<OutputRecord> {
        let Some(last) = self.ops.last() else {
            return Vec::new();
        };
        let mut rows: Vec<OutputRecord> = last
            .table_rows()
            .into_iter()
            .filter(|row| row.value.is_some())
            .collect();
        rows.sort_by(|a, b| {
            let key = |r: &OutputRecord| format!("{:?}", r.key);
            key(a).cmp(&key(b)).then(a.window.cmp(&b.window))
        });
        rows
    }

    /// Rows, windows, sessions and partial matches held in state, for metrics and tests.
    pub fn state_size(&self) -> usize {
        self.ops.iter().map(|op| op.state_size()).sum()
    }

    /// An estimate of the memory the query's state holds; walks the state.
    pub fn state_bytes(&self) -> usize {
        self.ops.iter().map(|op| op.state_bytes()).sum()
    }

    /// The output's key bytes in the sink's key format, then for a windowed table the
    /// window as ksqlDB's windowed serdes write it: the window start (8 bytes, big-endian)
    /// after a time window's key, the end and then the start after a session's (Kafka's
    /// SessionKeySchema). `None` without key columns.
    pub fn encode_key(&self, record: &OutputRecord) -> Option<Vec<u8>> {
        let mut bytes = Vec::new();
        if !self.sink_keys.encode(&record.key, &mut bytes) {
            return None;
        }
        if let Some((start, end)) = record.window {
            if self.sink.window == Some(WindowType::Session) {
                bytes.extend(end.to_be_bytes());
            }
            bytes.extend(start.to_be_bytes());
        }
        Some(bytes)
    }

    /// The output's value in the sink's format; `None` for a tombstone.
    pub fn encode_value(&self, record: &OutputRecord) -> Option<Vec<u8>> {
        let values = record.value.as_ref()?;
        let mut out = Vec::with_capacity(64 + 16 * values.len());
        self.encoder.encode_into(values, &mut out);
        Some(out)
    }

    /// Which input reads `topic`, if any.
    pub fn input_for(&self, topic: &str) -> Option<usize> {
        self.inputs.iter().position(|input| input.topic == topic)
    }

    /// True when some input reads the source called `name`.
    pub fn reads_source(&self, name: &str) -> bool {
        self.inputs.iter().any(|input| input.source == name)
    }

    /// True when the state already holds this record (a replay after a restart).
    pub fn already_processed(&self, topic: &str, partition: u32, offset: u64) -> bool {
        self.offsets
            .get(topic, partition)
            .is_some_and(|next| offset < next)
    }

    /// The next offset per topic and partition that the state reflects.
    pub fn offsets(&self) -> &Offsets {
        &self.offsets
    }

    /// The query's state with the input offsets it reflects, in a compact binary form
    /// (postcard after a magic line): a million windows save in a fraction of the time JSON
    /// takes, which matters every commit interval. Each operator's state is split by key
    /// group, the unit checkpoints and scale-out move.
    pub fn snapshot(&self) -> Result<Vec<u8>, RestoreError> {
        let operators = self
            .ops
            .iter()
            .map(|op| op.snapshot())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RestoreError(e.to_string()))?;
        postcard::to_io(
            &SnapshotRef {
                version: SNAPSHOT_VERSION,
                offsets: &self.offsets,
                operators,
            },
            SNAPSHOT_MAGIC.to_vec(),
        )
        .map_err(|e| RestoreError(format!("cannot write the snapshot: {e}")))
    }

    /// The checkpoints of the repartition partitions whose state changed since they were
    /// last saved, as (partition, bytes); empty for a query without a repartition topic.
    pub fn partition_snapshots(&self) -> Result<Vec<(u32, Vec<u8>)>, RestoreError> {
        let Some(exchange) = &self.exchange else {
            return Ok(Vec::new());
        };
        if exchange.dirty().is_empty() {
            return Ok(Vec::new());
        }
        let whole = self.ops[exchange.at..]
            .iter()
            .map(|op| op.snapshot())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RestoreError(e.to_string()))?;
        exchange
            .dirty()
            .iter()
            .map(|&partition| {
                let owned = exchange.groups_of(partition);
                let snapshot = PartitionSnapshot {
                    topic: exchange.topic.clone(),
                    partition,
                    partitions: exchange.partitions,
                    next_offset: self.offsets.get(&exchange.topic, partition),
                    seen: exchange.seen(partition),
                    operators: whole
                        .iter()
                        .map(|groups| {
                            groups
                                .iter()
                                .filter(|(group, _)| owned(**group))
                                .map(|(group, bytes)| (*group, bytes.clone()))
                                .collect()
                        })
                        .collect(),
                };
                Ok((partition, snapshot.encode()?))
            })
            .collect()
    }

    /// Marks every repartition partition's state as saved.
    pub fn partitions_saved(&mut self) {
        if let Some(exchange) = &mut self.exchange {
            exchange.saved();
        }
    }

    /// Puts back a repartition partition's checkpoint, replacing what the query held for
    /// the key groups the partition owns.
    pub fn restore_partition(&mut self, snapshot: &PartitionSnapshot) -> Result<(), RestoreError> {
        let Some(exchange) = &mut self.exchange else {
            return Err(RestoreError(format!(
                "{} has no repartition topic to restore a partition of",
                self.id
            )));
        };
        if snapshot.partitions != exchange.partitions || snapshot.topic != exchange.topic {
            return Err(RestoreError(format!(
                "the checkpoint is of partition {} of {} with {} partitions; the query reads {} with {} partitions",
                snapshot.partition, snapshot.topic, snapshot.partitions, exchange.topic, exchange.partitions
            )));
        }
        let second = &mut self.ops[exchange.at..];
        if snapshot.operators.len() != second.len() {
            return Err(RestoreError(format!(
                "the checkpoint holds {} operators' state; this query has {} after its repartition topic (was the query changed?)",
                snapshot.operators.len(),
                second.len()
            )));
        }
        let owned = exchange.groups_of(snapshot.partition);
        for op in second.iter_mut() {
            op.forget(&owned);
        }
        for (op, groups) in second.iter_mut().zip(&snapshot.operators) {
            op.restore(groups)?;
        }
        exchange.set_seen(snapshot.partition, snapshot.seen.clone());
        match snapshot.next_offset {
            Some(next) => self.offsets.set(&exchange.topic, snapshot.partition, next),
            None => self.offsets.remove(&exchange.topic, snapshot.partition),
        }
        Ok(())
    }

    /// Drops what the query holds for a repartition partition another instance now owns.
    pub fn forget_partition(&mut self, partition: u32) {
        let Some(exchange) = &mut self.exchange else {
            return;
        };
        let owned = exchange.groups_of(partition);
        for op in &mut self.ops[exchange.at..] {
            op.forget(&owned);
        }
        exchange.forget(partition);
        self.offsets.remove(&exchange.topic, partition);
    }

    /// Puts back a snapshot (this version's, or one of versions 1 and 2, binary or JSON);
    /// returns the next offset per topic and partition.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<Offsets, RestoreError> {
        if let Some(binary) = bytes.strip_prefix(SNAPSHOT_MAGIC) {
            let snapshot: Snapshot = postcard::from_bytes(binary)
                .map_err(|e| RestoreError(format!("the snapshot does not read back: {e}")))?;
            if snapshot.version != SNAPSHOT_VERSION {
                return Err(RestoreError(format!(
                    "the snapshot says version {} after a version {SNAPSHOT_VERSION} header",
                    snapshot.version
                )));
            }
            if snapshot.operators.len() != self.ops.len() {
                return Err(RestoreError(format!(
                    "the snapshot holds {} operators' state; this query has {} operators (was the query changed?)",
                    snapshot.operators.len(),
                    self.ops.len()
                )));
            }
            for (op, groups) in self.ops.iter_mut().zip(&snapshot.operators) {
                op.restore(groups)?;
            }
            self.offsets = snapshot.offsets;
            return Ok(self.offsets.clone());
        }
        if bytes.starts_with(b"advisor-engine snapshot ") && !legacy::is_legacy(bytes) {
            return Err(RestoreError(
                "the snapshot is of a version newer than this engine reads".into(),
            ));
        }
        let old = legacy::read(bytes)?;
        if let (Some(shape), Some(state)) = (self.legacy, old.state) {
            let groups = legacy::groups(state, shape, old.version)?;
            if let Some(op) = self.ops.last_mut() {
                op.restore(&groups)?;
            }
        }
        self.offsets = Offsets::new();
        for (partition, next) in old.offsets {
            self.offsets.set(&self.inputs[0].topic, partition, next);
        }
        Ok(self.offsets.clone())
    }
}

/// Writes the first stage's rows to the repartition partitions that own their keys: each
/// partition's rows of the batch go as one record (up to `ROWS_PER_EXCHANGED_RECORD`),
/// since a Kafka record costs far more to write and read back than a row to encode.
fn send_to_exchange(
    exchange: &Exchange,
    grouping: &crate::ops::group::Grouping,
    batch: &RowBatch,
    records: &[InputRecord<'_>],
    emit: &mut Emit<'_>,
) {
    let mut group = Vec::new();
    let mut key = Vec::new();
    let mut by_partition: Vec<Vec<ExchangedRow>> = vec![Vec::new(); exchange.partitions as usize];
    // The batch origin of each row, for its dead letter should its record not encode.
    let mut origins: Vec<Vec<u32>> = vec![Vec::new(); exchange.partitions as usize];
    for at in 0..batch.len() {
        let origin = batch.origin(at);
        let time = batch.time(at);
        if let Err(error) = grouping.key_row(batch.row(at), time, &mut group, &mut key) {
            emit.reject(origin, error);
            continue;
        }
        let Some(record) = records.get(origin as usize) else {
            continue;
        };
        let partition = exchange.owner(crate::state::key_group(&key)) as usize;
        if let (Some(rows), Some(from)) =
            (by_partition.get_mut(partition), origins.get_mut(partition))
        {
            from.push(origin);
            rows.push(ExchangedRow {
                source_partition: record.partition,
                source_offset: record.offset,
                time,
                window: batch.window(at),
                row: batch.row(at).clone(),
            });
        }
    }
    write_exchanged(&by_partition, &origins, None, |r| r.time, emit);
}

/// Writes a join side's rows (input `input`) to the repartition partitions that own their
/// join keys, a table's tombstones among them. A row without a join key goes to partition 0:
/// the join rejects or drops it there as it would have anywhere.
fn send_join_rows(
    exchange: &Exchange,
    join: &dyn crate::ops::Operator,
    input: usize,
    batch: &RowBatch,
    records: &[InputRecord<'_>],
    emit: &mut Emit<'_>,
) {
    let mut key = Vec::new();
    let mut by_partition: Vec<Vec<RoutedRow>> = vec![Vec::new(); exchange.partitions as usize];
    let mut origins: Vec<Vec<u32>> = vec![Vec::new(); exchange.partitions as usize];
    for at in 0..batch.len() {
        let origin = batch.origin(at);
        let time = batch.time(at);
        key.clear();
        let partition = if join.join_key(input, batch.row(at), time, &mut key) {
            exchange.owner(crate::state::key_group(&key)) as usize
        } else {
            0
        };
        let Some(record) = records.get(origin as usize) else {
            continue;
        };
        if let (Some(rows), Some(from)) =
            (by_partition.get_mut(partition), origins.get_mut(partition))
        {
            from.push(origin);
            rows.push(RoutedRow {
                delete: batch.is_delete(at),
                row: ExchangedRow {
                    source_partition: record.partition,
                    source_offset: record.offset,
                    time,
                    window: batch.window(at),
                    row: batch.row(at).clone(),
                },
            });
        }
    }
    let input = u8::try_from(input).unwrap_or(u8::MAX);
    write_exchanged(&by_partition, &origins, Some(input), |r| r.row.time, emit);
}

/// Encodes each partition's rows as repartition records of up to `ROWS_PER_EXCHANGED_RECORD`
/// rows, each timed by its latest row; rows whose record cannot be written are rejected.
fn write_exchanged<T: serde::Serialize>(
    by_partition: &[Vec<T>],
    origins: &[Vec<u32>],
    input: Option<u8>,
    time_of: impl Fn(&T) -> i64,
    emit: &mut Emit<'_>,
) {
    for (partition, (rows, from)) in by_partition.iter().zip(origins).enumerate() {
        let chunks = rows.chunks(ROWS_PER_EXCHANGED_RECORD);
        for (chunk, chunk_origins) in chunks.zip(from.chunks(ROWS_PER_EXCHANGED_RECORD)) {
            let timestamp = chunk.iter().map(&time_of).max().unwrap_or(0);
            match postcard::to_allocvec(chunk) {
                Ok(value) => emit.out.exchanged.push(Exchanged {
                    partition: partition as u32,
                    input,
                    value,
                    timestamp,
                }),
                Err(e) => {
                    for &origin in chunk_origins {
                        emit.reject(
                            origin,
                            RowError::Encode(format!(
                                "cannot write the row for the repartition topic: {e}"
                            )),
                        );
                    }
                }
            }
        }
    }
}

/// Where a row read back from a repartition topic came from: the input record (by the
/// query's input, its partition and offset), for its dead letter, and the repartition
/// partition it was read from, whose task state a stream-stream join keeps it in.
#[derive(Debug, Clone, Copy, Default)]
struct ExchangedOrigin {
    input: usize,
    source_partition: u32,
    source_offset: u64,
    partition: u32,
}

/// Where the second stage gathers the rows it reads back from a repartition topic.
struct Taken<'a> {
    exchange: &'a mut Exchange,
    batch: &'a mut RowBatch,
    origins: &'a mut Vec<ExchangedOrigin>,
    width: usize,
}

impl Taken<'_> {
    /// Takes a row read from repartition partition `partition`, unless that partition has
    /// already taken its input record.
    fn push(&mut self, partition: u32, input: usize, row: ExchangedRow, delete: bool) {
        if self.exchange.already_taken(partition, input, &row) {
            return;
        }
        self.exchange.take(partition, input, &row);
        let origin = self.origins.len() as u32;
        self.origins.push(ExchangedOrigin {
            input,
            source_partition: row.source_partition,
            source_offset: row.source_offset,
            partition,
        });
        let filled = self.batch.push(self.width, row.time, origin);
        *filled = row.row;
        if filled.len() != self.width {
            filled.resize(self.width, Value::Null);
        }
        let last = self.batch.len() - 1;
        if let Some(window) = row.window {
            self.batch.set_window(last, window);
        }
        if delete {
            self.batch.set_delete(last);
        }
    }
}

/// Runs the operators after the repartition topic over a batch of input `input`'s rows, then
/// empties it for the next run.
fn run_second_stage(
    ops: &mut [Box<dyn crate::ops::Operator>],
    batch: &mut RowBatch,
    input: usize,
    origins: &[ExchangedOrigin],
    emit: &mut Emit<'_>,
) {
    batch.set_input(input);
    batch.set_partitions(origins.iter().map(|origin| origin.partition));
    for op in ops {
        if !op.takes_deletes() {
            batch.drop_deletes();
        }
        op.process(batch, emit);
    }
    batch.clear();
}

/// Rows a repartition record holds at most: a record stays well below Kafka's 1 MB.
const ROWS_PER_EXCHANGED_RECORD: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windowed_keys_split_into_key_and_window() {
        let mut time = b"k".to_vec();
        time.extend(10_000i64.to_be_bytes());
        let (key, window) = split_window(&time, WindowType::Hopping, Some(30_000)).unwrap();
        assert_eq!((key, window), (&b"k"[..], (10_000, 40_000)));
        let mut session = b"k".to_vec();
        session.extend(9i64.to_be_bytes());
        session.extend(3i64.to_be_bytes());
        let (key, window) = split_window(&session, WindowType::Session, None).unwrap();
        assert_eq!((key, window), (&b"k"[..], (3, 9)));
        assert!(split_window(b"short", WindowType::Tumbling, Some(1)).is_err());
    }
}
