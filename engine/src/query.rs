//! A persistent query at run time: records are decoded into rows, the rows go through the
//! planned chain of operators, and what comes out are output records and dead letters. The
//! query tracks the input offsets (per topic and partition) its state reflects, and
//! snapshots its operators' state with them. Nothing here knows where records come from or
//! go to.

use serde::{Deserialize, Serialize};

use crate::catalog::{SourceDef, WindowType};
use crate::exchange::{
    Exchange, Exchanged, ExchangedRow, ForeignKeyStep, PartitionSnapshot, RoutedRow,
    SavedPartition, Step,
};
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
    /// The Kafka producer refused an output record, e.g. one larger than its
    /// `message.max.bytes` (PRODUCTION_ERROR, 2).
    Production,
}

impl FailureKind {
    pub const ALL: [FailureKind; 4] = [
        FailureKind::Deserialization,
        FailureKind::RecordProcessing,
        FailureKind::Serialization,
        FailureKind::Production,
    ];

    /// ksqlDB's `message.type` number.
    pub fn code(self) -> u8 {
        match self {
            FailureKind::Deserialization => 0,
            FailureKind::RecordProcessing => 1,
            FailureKind::Serialization => 3,
            FailureKind::Production => 2,
        }
    }

    /// The label /metrics counts it under.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Deserialization => "deserialization",
            FailureKind::RecordProcessing => "record_processing",
            FailureKind::Serialization => "serialization",
            FailureKind::Production => "production",
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
            FailureKind::Production => b".KsqlTopic.Sink\"".as_slice(),
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
        buf.extend(b",\"productionError\":");
        if self.kind == FailureKind::Production {
            buf.extend(b"{\"errorMessage\":");
            buf.string(&self.reason);
            buf.push(b'}');
        } else {
            buf.extend(b"null");
        }
        buf.extend(b",\"serializationError\":");
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
    pub dead_letters_by_kind: [u64; 4],
    /// Dead letters by kind and `RowError::reason`, in the order each reason first came: a
    /// handful at most, so a scan costs less than a map.
    #[serde(skip)]
    pub dead_letters_by_reason: Vec<(FailureKind, &'static str, u64)>,
}

impl Stats {
    fn count_reason(&mut self, kind: FailureKind, reason: &'static str) {
        match self
            .dead_letters_by_reason
            .iter_mut()
            .find(|(k, r, _)| *k == kind && *r == reason)
        {
            Some((_, _, count)) => *count += 1,
            None => self.dead_letters_by_reason.push((kind, reason, 1)),
        }
    }

    fn count_dead_letter(&mut self, error: &RowError) -> FailureKind {
        let kind = FailureKind::of(error);
        self.dead_letters += 1;
        if error.is_late() {
            self.late_events += 1;
        }
        self.dead_letters_by_kind[kind as usize] += 1;
        self.count_reason(kind, error.reason());
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
    /// On Kafka, the repartition topics the query's keyed steps are reached through, in
    /// the order of their operators; empty when its state is whole.
    exchanges: Vec<Exchange>,
    /// Where each row of a repartitioned batch came from, by origin.
    exchanged_origins: Vec<ExchangedOrigin>,
    /// For an aggregation grouped by its stream's message key, or a join on both sides'
    /// message keys: plans the query's operators afresh, for `tasks`.
    fresh_ops: Option<crate::plan::FreshOps>,
    /// On Kafka, for a step that reads its input's own partitions (`Exchange::local`): the
    /// step's operators per input partition, as Kafka Streams runs a task per partition,
    /// so a partition's state is whole in its task and moves with it.
    tasks: Vec<Vec<Box<dyn Operator>>>,
    /// For a two-way join, the sides it re-keys into repartition topics of their own: how
    /// their rows find the partition their key is in.
    rekeyed: Vec<Rekey>,
    pub stats: Stats,
    /// Output records the producer refused, each sent to the dead letters instead: counted
    /// by the sink, which sees the query only shared.
    pub refused_outputs: std::sync::atomic::AtomicU64,
    /// Output rows that could not be written in the sink's format, each sent to the dead
    /// letters instead (ksqlDB's SERIALIZATION_ERROR); counted by the sink likewise.
    pub unwritable_outputs: std::sync::atomic::AtomicU64,
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
                keys: (source.formats).key_codec(schema, &source.name, &source.topic, codecs),
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
                &planned.sink.name,
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
            exchanges: Vec::new(),
            exchanged_origins: Vec::new(),
            rekeyed: planned
                .rekeyed
                .into_iter()
                .map(|rekeyed| Rekey {
                    input: rekeyed.input,
                    key: rekeyed.key,
                    codec: KeyCodec::for_columns(
                        rekeyed.format,
                        vec![crate::value::Column {
                            name: "KEY".into(),
                            sql_type: rekeyed.key_type,
                            key: true,
                        }],
                    ),
                    partitions: 1,
                })
                .collect(),
            fresh_ops: planned.fresh_ops,
            tasks: Vec::new(),
            stats: Stats::default(),
            refused_outputs: std::sync::atomic::AtomicU64::new(0),
            unwritable_outputs: std::sync::atomic::AtomicU64::new(0),
            stopped: None,
        }
    }

    /// The operators where the query's rows would cross to repartition topics, in a query
    /// that follows ksqlDB's stream time rather than Flink's watermarks: over one stream,
    /// the first operator whose state is split by a GROUP BY key; over several sources,
    /// each join on their keys (not a foreign key), then the windowed or session
    /// aggregation of what they join if there is one, with nothing but projections and
    /// filters between them or after the last join; over one table, the two halves of its
    /// GROUP BY (the rows by primary key, then the groups). Empty for a query whose state
    /// is whole (a foreign-key join, OVER, MATCH_RECOGNIZE).
    pub fn split_points(&self) -> Vec<usize> {
        if self.watermark.is_some() {
            return Vec::new();
        }
        let stateless =
            |op: &dyn Operator| matches!(op.name(), "filter" | "map" | "project" | "table_project");
        match &self.inputs[..] {
            [input] if !input.is_table => self
                .ops
                .iter()
                .position(|op| op.grouping().is_some())
                .into_iter()
                .collect(),
            [_] => {
                let points: Vec<usize> = (0..self.ops.len())
                    .filter(|&at| self.ops[at].grouping().is_some())
                    .collect();
                let halves =
                    points.len() == 2 && points[0] == 0 && self.ops[0].name() == "table_changes";
                if halves {
                    points
                } else {
                    Vec::new()
                }
            }
            [] => Vec::new(),
            [_, _] if self.ops.first().map(|op| op.name()) == Some("foreign_key_subscribe") => {
                // Its three operators, each keyed by its own key; what follows must hold no
                // state of its own.
                if self.ops.len() >= 3 && self.ops[3..].iter().all(|op| stateless(op.as_ref())) {
                    vec![0, 1, 2]
                } else {
                    Vec::new()
                }
            }
            inputs => {
                let joins = inputs.len() - 1;
                let joined = self
                    .ops
                    .get(..joins)
                    .is_some_and(|ops| ops.iter().all(|op| op.splits_by_join_key()));
                if !joined {
                    return Vec::new();
                }
                let mut points: Vec<usize> = (0..joins).collect();
                for (at, op) in self.ops.iter().enumerate().skip(joins) {
                    if op.grouping().is_some() {
                        points.push(at);
                        break;
                    }
                    if !stateless(op.as_ref()) {
                        return Vec::new();
                    }
                }
                points
            }
        }
    }

    /// The step an input's rows enter at.
    fn entry_step(&self, input: usize) -> usize {
        entry_step(&self.ops, self.exchanges.iter().map(|e| e.ops.start), input)
    }

    /// Routes the query's keyed steps through the repartition topics ksqlDB would name for
    /// them under `service_id`, each with `partitions` partitions (the input's); returns
    /// the topics, first step first, or none when the query's state is whole. An
    /// aggregation grouped by its stream's message key reads the input's partitions
    /// instead, a task each: the topic returned is the input's.
    pub fn repartition(&mut self, service_id: &str, partitions: u32) -> Vec<String> {
        let points = self.split_points();
        let joins = points
            .iter()
            .filter(|&&at| self.ops[at].splits_by_join_key())
            .count();
        let topics: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(step, &at)| {
                let kind = if let Some(step) = ForeignKeyStep::of(self.ops[at].name()) {
                    Step::ForeignKey(step)
                } else if self.ops[at].splits_by_join_key() {
                    Step::Join {
                        later: joins.saturating_sub(step + 1),
                    }
                } else if self.ops[at].name() == "table_changes" {
                    Step::SourceTable
                } else {
                    Step::Aggregate
                };
                crate::exchange::repartition_topic(service_id, &self.id, kind)
            })
            .collect();
        if let Some(at) = self.local_step(&points) {
            for rekey in &mut self.rekeyed {
                rekey.partitions = partitions.max(1);
            }
            let sources: Vec<String> = self.inputs.iter().map(|i| i.topic.clone()).collect();
            // A re-keyed side is read from its own repartition topic.
            let inputs: Vec<String> = sources
                .iter()
                .enumerate()
                .map(
                    |(input, topic)| match self.rekeyed.iter().find(|r| r.input == input) {
                        // ksqlDB's stream-table join re-keys its stream into `-Join-repartition`;
                        // a stream-stream join names the side.
                        Some(_) => {
                            let table = self.inputs.iter().any(|i| i.is_table);
                            let step = if table {
                                Step::Join { later: 0 }
                            } else {
                                Step::JoinSide(input)
                            };
                            crate::exchange::repartition_topic(service_id, &self.id, step)
                        }
                        _ => topic.clone(),
                    },
                )
                .collect();
            let same = matches!(&self.exchanges[..], [e] if e.local
                && e.partitions == partitions.max(1)
                && e.source_topics == inputs);
            if same {
                return inputs;
            }
            let tasks: Result<Vec<_>, _> = (0..partitions.max(1))
                .map(|_| self.fresh_task(at))
                .collect();
            match tasks {
                Ok(tasks) => {
                    self.tasks = tasks;
                    self.exchanges = vec![Exchange::local(
                        at..self.ops.len(),
                        inputs.clone(),
                        sources,
                        partitions,
                    )];
                    return inputs;
                }
                Err(e) => tracing::warn!(
                    query = %self.id,
                    "cannot plan a task per input partition, so the query goes through a repartition topic: {e}"
                ),
            }
        }
        if self.exchanges.iter().map(|e| &e.topic).eq(topics.iter()) {
            return topics;
        }
        self.tasks.clear();
        let entry = |input: usize| entry_step(&self.ops, points.iter().copied(), input);
        self.exchanges = points
            .iter()
            .enumerate()
            .map(|(step, &at)| {
                let end = points.get(step + 1).copied().unwrap_or(self.ops.len());
                let source_topics = self
                    .inputs
                    .iter()
                    .enumerate()
                    .map(|(input, source)| match step.checked_sub(1) {
                        Some(before) if entry(input) != step => topics[before].clone(),
                        _ => source.topic.clone(),
                    })
                    .collect();
                Exchange::new(at..end, topics[step].clone(), partitions, source_topics)
            })
            .collect();
        topics
    }

    /// Where a query's one keyed step starts when it can read its inputs' own partitions:
    /// an aggregation of one stream grouped by its message key, or a two-way join on both
    /// sides' message keys with nothing keyed after it.
    fn local_step(&self, points: &[usize]) -> Option<usize> {
        self.fresh_ops.as_ref()?;
        match (points, &self.inputs[..]) {
            ([at], [input]) if !input.is_table => Some(*at),
            ([0], [_, _]) if self.ops[0].splits_by_join_key() => Some(0),
            _ => None,
        }
    }

    /// Makes tasks up to `partition`'s, for an input that has grown partitions.
    fn grow_tasks(&mut self, partition: u32) {
        if let Some(step) = self.exchanges.first_mut().filter(|e| e.local) {
            let whole = self.ops.len();
            grow_tasks(
                &mut self.tasks,
                step,
                self.fresh_ops.as_ref(),
                whole,
                partition,
            );
        }
    }

    /// The query's operators from `at` on, planned afresh with empty state.
    fn fresh_task(&self, at: usize) -> Result<Vec<Box<dyn Operator>>, crate::plan::PlanError> {
        fresh_task(self.fresh_ops.as_ref(), self.ops.len(), at)
    }

    /// True for a foreign-key table-table join, which (as in ksqlDB, whose subscription
    /// topics route each side by its own key) needs no co-partitioned inputs.
    pub fn joins_on_a_foreign_key(&self) -> bool {
        self.ops.iter().any(|op| op.name() == "foreign_key_join")
    }

    /// The repartition topics the query's keyed steps are reached through, first step
    /// first; empty when its state is whole.
    pub fn exchanges(&self) -> &[Exchange] {
        &self.exchanges
    }

    /// The step whose repartition topic is `topic`.
    pub fn step_reading(&self, topic: &str) -> Option<usize> {
        self.exchanges
            .iter()
            .position(|e| e.topic == topic && !e.local)
    }

    /// True when the query reads `topic`: a source's, or its repartition topic.
    pub fn reads_topic(&self, topic: &str) -> bool {
        self.stopped.is_none()
            && (self.input_for(topic).is_some()
                || self.step_reading(topic).is_some()
                || self.rekeyed_reading(topic).is_some())
    }

    /// The input a local step reads back from its repartition topic `topic`, re-keyed.
    fn rekeyed_reading(&self, topic: &str) -> Option<usize> {
        let step = self.exchanges.first().filter(|e| e.local)?;
        step.source_topics
            .iter()
            .position(|t| t == topic)
            .filter(|&input| step.rekeys(input))
    }

    /// Gives back the per-row buffers kept from batch to batch beyond `keep` rows.
    pub fn shrink_buffers(&mut self, keep: usize) {
        self.batch.shrink(keep);
        for op in self.ops.iter_mut().chain(self.tasks.iter_mut().flatten()) {
            op.shrink_buffers(keep);
        }
        self.rejected.shrink_to(keep);
        self.exchanged_origins.shrink_to(keep);
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

    /// The query's counts with the output records its sink had refused among the dead
    /// letters.
    pub fn counted(&self) -> Stats {
        let mut stats = self.stats.clone();
        for (counter, kind, reason) in [
            (&self.refused_outputs, FailureKind::Production, "refused"),
            (
                &self.unwritable_outputs,
                FailureKind::Serialization,
                "unwritable",
            ),
        ] {
            let letters = counter.load(std::sync::atomic::Ordering::Relaxed);
            if letters > 0 {
                stats.dead_letters += letters;
                stats.dead_letters_by_kind[kind as usize] += letters;
                stats.dead_letters_by_reason.push((kind, reason, letters));
            }
        }
        stats
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
        if let Some(step) = self.step_reading(first.topic) {
            return self.process_exchanged(step, records, out, dead);
        }
        if let Some(input) = self.rekeyed_reading(first.topic) {
            for run in records.chunk_by(|a, b| a.partition == b.partition) {
                self.process_rekeyed(input, run, out, dead);
            }
            return;
        }
        let local = self.exchanges.first().is_some_and(|e| e.local);
        if local && records.iter().any(|r| r.partition != first.partition) {
            // Each partition's rows go to its own task.
            for run in records.chunk_by(|a, b| a.partition == b.partition) {
                self.process_batch(run, out, dead);
            }
            return;
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
        // A re-keyed side's rows hold no state before its repartition topic, as in the
        // first stage below.
        let rekeys = self.exchanges.first().is_some_and(|e| e.rekeys(side));
        if self.exchanges.is_empty() || (local && !rekeys) {
            self.offsets_of(records);
        }
        let entry = self.entry_step(side);
        let mut emit = Emit {
            out,
            rejected: &mut self.rejected,
        };
        match self.exchanges.first_mut() {
            Some(step) if local && rekeys => {
                let rekey = self.rekeyed.iter().find(|r| r.input == side);
                if let (Some(rekey), Some(join)) = (rekey, self.ops.get(step.ops.start)) {
                    if !join.takes_deletes() {
                        batch.drop_deletes();
                    }
                    let origin_of = |origin: u32| {
                        records
                            .get(origin as usize)
                            .map(|record| (record.partition, record.offset))
                    };
                    send_rekeyed_rows(rekey, step, &batch, &origin_of, &mut emit);
                }
            }
            Some(step) if local => {
                for op in &mut self.ops[..step.ops.start] {
                    if !op.takes_deletes() {
                        batch.drop_deletes();
                    }
                    op.process(&mut batch, &mut emit);
                }
                step.touched(first.partition);
                let whole = self.ops.len();
                grow_tasks(
                    &mut self.tasks,
                    step,
                    self.fresh_ops.as_ref(),
                    whole,
                    first.partition,
                );
                run_task(
                    &mut self.tasks,
                    (first.topic, first.partition),
                    &mut batch,
                    &mut emit,
                );
            }
            // The first stage holds no state: a replay of its input is skipped where the
            // rows land, so no offset is noted here.
            Some(_) => {
                let first_step = &self.exchanges[0];
                for op in &mut self.ops[..first_step.ops.start] {
                    if !op.takes_deletes() {
                        batch.drop_deletes();
                    }
                    op.process(&mut batch, &mut emit);
                }
                let exchange = &self.exchanges[entry];
                let keyed = &*self.ops[exchange.ops.start];
                let origin_of = |origin: u32| {
                    records
                        .get(origin as usize)
                        .map(|record| (record.partition, record.offset))
                };
                route(entry, exchange, keyed, &mut batch, &origin_of, &mut emit);
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

    /// A re-keyed join side's rows read back from its repartition topic, one partition's
    /// records: each record they came from once however often it was replayed, through
    /// the task of that partition, which holds the other side's rows of the same keys.
    fn process_rekeyed(
        &mut self,
        input: usize,
        records: &[InputRecord<'_>],
        out: &mut Outputs,
        dead: &mut Vec<DeadLetter>,
    ) {
        let Some(first) = records.first() else {
            return;
        };
        let partition = first.partition;
        self.offsets_of(records);
        self.grow_tasks(partition);
        let Some(step) = self.exchanges.first_mut() else {
            return;
        };
        step.touched(partition);
        let width = self.width;
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
            exchange: step,
            batch: &mut batch,
            origins: &mut self.exchanged_origins,
            width,
            last: None,
        };
        for record in records {
            let Some(value) = record.value else {
                continue;
            };
            taken.last = None;
            // A record of the other side can be there only if an earlier version sent both
            // sides through this topic.
            let decoded = match record.key {
                Some(&[side]) if usize::from(side) == input => {
                    postcard::from_bytes::<Vec<RoutedRow>>(value).map_err(|e| e.to_string())
                }
                _ => Err(format!(
                    "its key does not name input {input}: it was written when both sides of the join went through this topic (an earlier engine version); delete the topic and the query's checkpoints to start its state again"
                )),
            };
            match decoded {
                Ok(rows) => {
                    for routed in rows {
                        taken.push(record, input, routed.row, routed.delete);
                    }
                }
                Err(e) => taken.unreadable(record, input, e, &mut emit),
            }
        }
        batch.set_input(input);
        batch.set_partitions(self.exchanged_origins.iter().map(|o| o.partition));
        run_task(
            &mut self.tasks,
            (first.topic, partition),
            &mut batch,
            &mut emit,
        );
        self.batch = batch;
        self.stats.records_out += (out.len() - before) as u64;
        self.exchanged_dead_letters(0, dead);
    }

    /// A keyed step: rows read back from its repartition topic go through its operators,
    /// each record they came from once per partition however often it was replayed, and
    /// then on to the next step's repartition topic or out. A join's records each hold one
    /// side's rows: a run of one side's rows goes through as one batch of that input.
    fn process_exchanged(
        &mut self,
        step: usize,
        records: &[InputRecord<'_>],
        out: &mut Outputs,
        dead: &mut Vec<DeadLetter>,
    ) {
        self.offsets_of(records);
        let (current, later) = self.exchanges.split_at_mut(step + 1);
        let Some(exchange) = current.last_mut() else {
            return;
        };
        let next = later.first().map(|next| (step + 1, next));
        let range = exchange.ops.clone();
        let (ops, after) = self.ops.split_at_mut(range.end);
        let mut stage = Stage {
            ops: &mut ops[range.start..],
            next: next.and_then(|(step, exchange)| Some((step, exchange, &**after.first()?))),
        };
        let width = self.width;
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
            last: None,
        };
        let mut input = 0;
        for record in records {
            let Some(value) = record.value else {
                continue;
            };
            taken.last = None;
            let decoded = match record.key {
                None => postcard::from_bytes::<Vec<ExchangedRow>>(value).map(|rows| {
                    for row in rows {
                        taken.push(record, 0, row, false);
                    }
                }),
                Some(&[side]) => postcard::from_bytes::<Vec<RoutedRow>>(value).map(|rows| {
                    let side = usize::from(side);
                    if side != input && !taken.batch.is_empty() {
                        stage.run(taken.batch, input, taken.origins, &mut emit);
                    }
                    input = side;
                    for routed in rows {
                        taken.push(record, side, routed.row, routed.delete);
                    }
                }),
                Some(_) => Err(postcard::Error::DeserializeBadEncoding),
            };
            if let Err(e) = decoded {
                taken.unreadable(record, 0, e, &mut emit);
            }
        }
        if !taken.batch.is_empty() {
            stage.run(taken.batch, input, taken.origins, &mut emit);
        }
        self.batch = batch;
        self.stats.records_out += (out.len() - before) as u64;
        self.exchanged_dead_letters(step, dead);
    }

    /// Dead letters of the second stage name the input record each row came from.
    fn exchanged_dead_letters(&mut self, step: usize, dead: &mut Vec<DeadLetter>) {
        self.rejected.sort_by_key(|r| r.origin);
        for rejected in self.rejected.drain(..) {
            let kind = self.stats.count_dead_letter(&rejected.error);
            let ExchangedOrigin {
                input,
                source_partition: partition,
                source_offset: offset,
                unreadable,
                ..
            } = self
                .exchanged_origins
                .get(rejected.origin as usize)
                .copied()
                .unwrap_or_default();
            let Some(source) = self.inputs.get(input).or(self.inputs.first()) else {
                continue;
            };
            // A row a step before wrote is named by that step's repartition record; a
            // repartition record that cannot be read, by itself.
            let topic = self
                .exchanges
                .get(step)
                .and_then(|e| match unreadable {
                    true => Some(e.topic_for(u8::try_from(input).ok())),
                    false => e.origin_topic(input).map(String::as_str),
                })
                .unwrap_or(&source.topic);
            dead.push(DeadLetter {
                query: self.id.clone(),
                source: source.source.clone(),
                topic: topic.to_string(),
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
        advance_ops(&mut self.ops, watermark, &mut batch, &mut emit);
        for task in &mut self.tasks {
            batch.clear();
            advance_ops(task, watermark, &mut batch, &mut emit);
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
        let lasts = self
            .ops
            .last()
            .into_iter()
            .chain(self.tasks.iter().filter_map(|task| task.last()));
        let mut rows: Vec<OutputRecord> = lasts
            .flat_map(|last| last.table_rows())
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
        self.all_ops().map(|op| op.state_size()).sum()
    }

    /// An estimate of the memory the query's state holds; walks the state.
    pub fn state_bytes(&self) -> usize {
        self.all_ops().map(|op| op.state_bytes()).sum()
    }

    /// The query's operators and those of its tasks.
    fn all_ops(&self) -> impl Iterator<Item = &dyn Operator> {
        self.ops
            .iter()
            .chain(self.tasks.iter().flatten())
            .map(|op| &**op)
    }

    /// The output's key bytes in the sink's key format, then for a windowed table the
    /// window as ksqlDB's windowed serdes write it: the window start (8 bytes, big-endian)
    /// after a time window's key, the end and then the start after a session's (Kafka's
    /// SessionKeySchema). `None` without key columns.
    pub fn encode_key(&self, record: &OutputRecord) -> Result<Option<Vec<u8>>, EncodeError> {
        let mut bytes = Vec::new();
        if !self.sink_keys.encode(&record.key, &mut bytes)? {
            return Ok(None);
        }
        if let Some((start, end)) = record.window {
            if self.sink.window == Some(WindowType::Session) {
                bytes.extend(end.to_be_bytes());
            }
            bytes.extend(start.to_be_bytes());
        }
        Ok(Some(bytes))
    }

    /// The output's value in the sink's format; `None` for a tombstone.
    pub fn encode_value(&self, record: &OutputRecord) -> Result<Option<Vec<u8>>, EncodeError> {
        let Some(values) = record.value.as_ref().filter(|v| !self.encoder.is_absent(v)) else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(64 + 16 * values.len());
        self.encoder.encode_into(values, &mut out)?;
        Ok(Some(out))
    }

    /// The output row as a JSON object of its key and value columns, for the dead letter
    /// of a row the sink cannot write (ksqlDB's SERIALIZATION_ERROR `record`).
    pub fn output_row_json(&self, record: &OutputRecord) -> Vec<u8> {
        let mut names = self.key_names.clone();
        names.extend(self.value_names.iter().cloned());
        let mut values = record.key.clone();
        values.extend(record.value.iter().flatten().cloned());
        let mut out = Vec::new();
        crate::format::write_json_object(&mut out, &names, &values);
        out
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
    /// last saved, each with its step and partition; empty for a query whose state is
    /// whole.
    pub fn partition_snapshots(&self) -> Result<Vec<SavedPartition>, RestoreError> {
        let mut saved = Vec::new();
        for (step, exchange) in self.exchanges.iter().enumerate() {
            if exchange.dirty().is_empty() {
                continue;
            }
            if exchange.local {
                for &partition in exchange.dirty() {
                    let task = self
                        .tasks
                        .get(partition as usize)
                        .map_or(&[][..], Vec::as_slice);
                    let snapshot = PartitionSnapshot {
                        topic: exchange.topic.clone(),
                        partition,
                        partitions: exchange.partitions,
                        next_offset: self.offsets.get(&exchange.topic, partition),
                        seen: local_offsets(
                            &self.offsets,
                            exchange
                                .source_topics
                                .iter()
                                .filter(|t| **t != exchange.topic),
                            exchange.seen(partition),
                            partition,
                        ),
                        operators: task
                            .iter()
                            .map(|op| op.snapshot())
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| RestoreError(e.to_string()))?,
                    };
                    saved.push(SavedPartition {
                        step,
                        partition,
                        bytes: snapshot.encode()?,
                    });
                }
                continue;
            }
            let whole = self.ops[exchange.ops.clone()]
                .iter()
                .map(|op| op.snapshot())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| RestoreError(e.to_string()))?;
            for &partition in exchange.dirty() {
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
                saved.push(SavedPartition {
                    step,
                    partition,
                    bytes: snapshot.encode()?,
                });
            }
        }
        Ok(saved)
    }

    /// Marks every repartition partition's state as saved.
    pub fn partitions_saved(&mut self) {
        for exchange in &mut self.exchanges {
            exchange.saved();
        }
    }

    /// Puts back a repartition partition's checkpoint (of the step whose topic it names),
    /// replacing what the query held for the key groups the partition owns; or a local
    /// step's, replacing its partition's task and the offsets of every input it reads.
    pub fn restore_partition(&mut self, snapshot: &PartitionSnapshot) -> Result<(), RestoreError> {
        let Some(step) = self
            .exchanges
            .iter()
            .position(|e| e.topic == snapshot.topic)
        else {
            if let Some(step) = self.exchanges.first().filter(|e| e.local) {
                return Err(RestoreError(format!(
                    "the checkpoint of partition {} was written when {} went through its repartition topic {} (an earlier engine version); it now reads {} in place, as ksqlDB does, and cannot take that state: delete the query's checkpoints (and that topic, should the query still read a topic of that name) to start its state again from the input",
                    snapshot.partition,
                    self.id,
                    snapshot.topic,
                    step.topic
                )));
            }
            return Err(RestoreError(format!(
                "the checkpoint is of {}, which {} does not read",
                snapshot.topic, self.id
            )));
        };
        if self.exchanges[step].local {
            self.grow_tasks(snapshot.partition);
        }
        let exchange = &self.exchanges[step];
        // A local step's state is its input partition's whatever their number.
        if snapshot.partitions != exchange.partitions && !exchange.local {
            return Err(RestoreError(format!(
                "the checkpoint is of partition {} of {} with {} partitions; the query reads {} with {} partitions",
                snapshot.partition, snapshot.topic, snapshot.partitions, exchange.topic, exchange.partitions
            )));
        }
        if !exchange.local {
            let exchange = &mut self.exchanges[step];
            restore_groups(&mut self.ops[exchange.ops.clone()], exchange, snapshot)?;
            exchange.set_seen(snapshot.partition, snapshot.seen.clone());
            match snapshot.next_offset {
                Some(next) => self.offsets.set(&exchange.topic, snapshot.partition, next),
                None => self.offsets.remove(&exchange.topic, snapshot.partition),
            }
            return Ok(());
        }
        let fresh = self.fresh_task(exchange.ops.start);
        let Some(task) = self.tasks.get_mut(snapshot.partition as usize) else {
            return Err(RestoreError(format!(
                "the checkpoint is of partition {} of {}, past the {} partitions {} reads",
                snapshot.partition, snapshot.topic, exchange.partitions, self.id
            )));
        };
        if snapshot.operators.len() != task.len() {
            return Err(RestoreError(format!(
                "the checkpoint holds {} operators' state; this query has {} in a partition's task (was the query changed?)",
                snapshot.operators.len(),
                task.len()
            )));
        }
        reset_task(task, fresh);
        for (op, groups) in task.iter_mut().zip(&snapshot.operators) {
            op.restore(groups)?;
        }
        for topic in &exchange.source_topics {
            match snapshot.next_offset_of(topic) {
                Some(next) => self.offsets.set(topic, snapshot.partition, next),
                None => self.offsets.remove(topic, snapshot.partition),
            }
        }
        self.exchanges[step].set_seen(snapshot.partition, snapshot.seen.clone());
        Ok(())
    }

    /// Drops what the query holds for a partition of one of its repartition topics (or of
    /// an input a local step reads: the partition's task, with every input's offsets), which
    /// another instance now owns.
    pub fn forget_partition(&mut self, topic: &str, partition: u32) {
        let Some(step) = self.exchanges.iter().position(|e| {
            e.topic == topic || (e.local && e.source_topics.iter().any(|t| t == topic))
        }) else {
            return;
        };
        if self.exchanges[step].local {
            let fresh = self.fresh_task(self.exchanges[step].ops.start);
            if let Some(task) = self.tasks.get_mut(partition as usize) {
                reset_task(task, fresh);
            }
            let exchange = &mut self.exchanges[step];
            exchange.forget(partition);
            for topic in &exchange.source_topics {
                self.offsets.remove(topic, partition);
            }
        } else {
            let exchange = &mut self.exchanges[step];
            let owned = exchange.groups_of(partition);
            for op in &mut self.ops[exchange.ops.clone()] {
                op.forget(&owned);
            }
            exchange.forget(partition);
            self.offsets.remove(&exchange.topic, partition);
        }
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
            let mut operators = snapshot.operators;
            // A table's GROUP BY saved as one operator, before it ran as two halves.
            if operators.len() + 1 == self.ops.len() && self.ops[0].name() == "table_changes" {
                let whole = operators.remove(0);
                let halves = crate::ops::table_aggregate::split_whole_state(&whole)?;
                operators.splice(0..0, halves);
            }
            // A foreign-key join saved as one operator, before it ran as three.
            if operators.len() + 2 == self.ops.len() {
                if let Some(parts) = self.ops[0].split_earlier_form(&operators[0]) {
                    operators.splice(0..1, parts?);
                }
            }
            if operators.len() != self.ops.len() {
                return Err(RestoreError(format!(
                    "the snapshot holds {} operators' state; this query has {} operators (was the query changed?)",
                    operators.len(),
                    self.ops.len()
                )));
            }
            for (op, groups) in self.ops.iter_mut().zip(&operators) {
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

/// Puts a repartition partition's checkpoint back into the operators of its step, replacing
/// what they held for the key groups the partition owns.
fn restore_groups(
    ops: &mut [Box<dyn Operator>],
    exchange: &Exchange,
    snapshot: &PartitionSnapshot,
) -> Result<(), RestoreError> {
    if snapshot.operators.len() != ops.len() {
        return Err(RestoreError(format!(
            "the checkpoint holds {} operators' state; this query has {} at the step of {} (was the query changed?)",
            snapshot.operators.len(),
            ops.len(),
            exchange.topic
        )));
    }
    let owned = exchange.groups_of(snapshot.partition);
    for op in ops.iter_mut() {
        op.forget(&owned);
    }
    for (op, groups) in ops.iter_mut().zip(&snapshot.operators) {
        op.restore(groups)?;
    }
    Ok(())
}

/// The next offset of `partition` of each of `topics` that the state reflects, beside what
/// a re-keyed side's rows in the partition have taken of their source (`seen`).
fn local_offsets<'t>(
    offsets: &Offsets,
    topics: impl Iterator<Item = &'t String>,
    seen: Offsets,
    partition: u32,
) -> Offsets {
    let mut kept = seen;
    for topic in topics {
        if let Some(next) = offsets.get(topic, partition) {
            kept.set(topic, partition, next);
        }
    }
    kept
}

/// A query's operators from `at` on, planned afresh with empty state by `fresh` (which
/// must plan the `whole` chain the query runs).
fn fresh_task(
    fresh: Option<&crate::plan::FreshOps>,
    whole: usize,
    at: usize,
) -> Result<Vec<Box<dyn Operator>>, crate::plan::PlanError> {
    let fresh = fresh.ok_or_else(|| {
        crate::plan::PlanError::Invalid("the query cannot be planned again".into())
    })?;
    let mut ops = fresh()?;
    if ops.len() != whole {
        return Err(crate::plan::PlanError::Invalid(format!(
            "planned again, the query has {} operators instead of {whole}",
            ops.len()
        )));
    }
    Ok(ops.split_off(at))
}

/// Adds a task per partition up to `partition` for a local step whose input has grown
/// partitions since (Kafka then puts some keys on the new partitions, as it does for
/// ksqlDB; their state starts there). Without a plan for one, the partition's rows are
/// refused with the reason.
fn grow_tasks(
    tasks: &mut Vec<Vec<Box<dyn Operator>>>,
    step: &mut Exchange,
    fresh: Option<&crate::plan::FreshOps>,
    whole: usize,
    partition: u32,
) {
    if (partition as usize) < tasks.len() {
        return;
    }
    while tasks.len() <= partition as usize {
        match fresh_task(fresh, whole, step.ops.start) {
            Ok(task) => tasks.push(task),
            Err(e) => {
                tracing::error!(
                    partition,
                    "cannot plan a task for a new input partition: {e}"
                );
                break;
            }
        }
    }
    step.partitions = step.partitions.max(tasks.len() as u32);
    tracing::info!(
        partitions = tasks.len(),
        "the input has grown partitions: a task each"
    );
}

/// Runs a batch read from partition `partition` of `topic` through that partition's task;
/// without one (no plan for it could be made), its rows are refused with the reason.
fn run_task(
    tasks: &mut [Vec<Box<dyn Operator>>],
    (topic, partition): (&str, u32),
    batch: &mut RowBatch,
    emit: &mut Emit<'_>,
) {
    let planned = tasks.len();
    let Some(task) = tasks.get_mut(partition as usize) else {
        for at in 0..batch.len() {
            emit.reject(
                batch.origin(at),
                RowError::Decode(format!(
                    "partition {partition} of {topic} is past the {planned} partitions the query started with, and no task could be planned for it"
                )),
            );
        }
        return;
    };
    for op in task.iter_mut() {
        if !op.takes_deletes() {
            batch.drop_deletes();
        }
        op.process(batch, emit);
    }
}

/// Empties a task: its operators planned afresh (their stream time too), or, should that
/// fail, told to forget every key.
fn reset_task(
    task: &mut Vec<Box<dyn Operator>>,
    fresh: Result<Vec<Box<dyn Operator>>, crate::plan::PlanError>,
) {
    match fresh {
        Ok(ops) if ops.len() == task.len() => *task = ops,
        _ => task.iter_mut().for_each(|op| op.forget(&|_| true)),
    }
}

/// Moves stream time on through a chain of operators, each taking what the ones before it
/// released.
fn advance_ops(
    ops: &mut [Box<dyn Operator>],
    watermark: i64,
    batch: &mut RowBatch,
    emit: &mut Emit<'_>,
) {
    for op in ops {
        if !batch.is_empty() {
            op.process(batch, emit);
        }
        op.advance(watermark, batch, emit);
    }
}

/// The step whose keyed operator starts at one of `starts` that input `input` enters at: the
/// join that joins it, or the first step.
fn entry_step(
    ops: &[Box<dyn Operator>],
    mut starts: impl Iterator<Item = usize>,
    input: usize,
) -> usize {
    starts
        .position(|at| ops[at].joined_input() == Some(input))
        .unwrap_or(0)
}

/// Sends a batch's rows on to step `step`'s repartition topic by the key its keyed operator
/// splits its state by: the GROUP BY key, or the join key of the batch's input. Each
/// row's origin names the record (partition and offset) it came from, by `origin_of`.
fn route(
    step: usize,
    exchange: &Exchange,
    keyed: &dyn Operator,
    batch: &mut RowBatch,
    origin_of: &dyn Fn(u32) -> Option<(u32, u64)>,
    emit: &mut Emit<'_>,
) {
    if !keyed.takes_deletes() {
        batch.drop_deletes();
    }
    let step = u8::try_from(step).unwrap_or(u8::MAX);
    if let Some(grouping) = keyed.grouping() {
        send_to_exchange(step, exchange, grouping, batch, origin_of, emit);
    } else if keyed.splits_by_join_key() {
        send_join_rows(step, exchange, keyed, batch, origin_of, emit);
    }
}

/// Writes rows to the repartition partitions that own their GROUP BY keys: each
/// partition's rows of the batch go as one record (up to `ROWS_PER_EXCHANGED_RECORD`),
/// since a Kafka record costs far more to write and read back than a row to encode.
fn send_to_exchange(
    step: u8,
    exchange: &Exchange,
    grouping: &crate::ops::group::Grouping,
    batch: &RowBatch,
    origin_of: &dyn Fn(u32) -> Option<(u32, u64)>,
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
        let Some((source_partition, source_offset)) = origin_of(origin) else {
            continue;
        };
        let partition = exchange.owner(crate::state::key_group(&key)) as usize;
        if let (Some(rows), Some(from)) =
            (by_partition.get_mut(partition), origins.get_mut(partition))
        {
            from.push(origin);
            rows.push(ExchangedRow {
                source_partition,
                source_offset,
                time,
                window: batch.window(at),
                row: batch.row(at).clone(),
            });
        }
    }
    write_exchanged(step, &by_partition, &origins, None, |r| r, emit);
}

/// Writes a join side's rows (the batch's input) to the repartition partitions that own
/// their join keys, a table's tombstones among them. A row without a join key goes to
/// partition 0: the join rejects or drops it there as it would have anywhere.
fn send_join_rows(
    step: u8,
    exchange: &Exchange,
    join: &dyn Operator,
    batch: &RowBatch,
    origin_of: &dyn Fn(u32) -> Option<(u32, u64)>,
    emit: &mut Emit<'_>,
) {
    let input = batch.input();
    let mut key = Vec::new();
    let partition_of = |at: usize, _: &mut Emit<'_>| {
        key.clear();
        Some(
            if join.join_key(input, batch.row(at), batch.time(at), &mut key) {
                exchange.owner(crate::state::key_group(&key))
            } else {
                0
            },
        )
    };
    send_side_rows(step, exchange, batch, origin_of, partition_of, emit);
}

/// Writes a re-keyed join side's rows to the partitions of its repartition topic where the
/// other side's records of their keys are: Kafka's default partitioner over the key as the
/// other side's key format writes it. A row without a join key goes to partition 0, as
/// `send_join_rows` sends it.
fn send_rekeyed_rows(
    rekey: &Rekey,
    exchange: &Exchange,
    batch: &RowBatch,
    origin_of: &dyn Fn(u32) -> Option<(u32, u64)>,
    emit: &mut Emit<'_>,
) {
    let mut key = Vec::new();
    let partition_of = |at: usize, emit: &mut Emit<'_>| {
        let ctx = crate::expr::Context {
            row: batch.row(at),
            rowtime: batch.time(at),
            window: None,
            slots: &[],
        };
        key.clear();
        let written = match rekey.key.eval(&ctx) {
            Ok(value) if !value.is_null() => {
                rekey.codec.encode(std::slice::from_ref(&value), &mut key)
            }
            _ => Ok(false),
        };
        match written {
            Ok(true) => Some(crate::state::default_partition(&key, rekey.partitions)),
            Ok(false) => Some(0),
            Err(e) => {
                emit.reject(
                    batch.origin(at),
                    RowError::Encode(format!("the join key: {e}")),
                );
                None
            }
        }
    };
    send_side_rows(0, exchange, batch, origin_of, partition_of, emit);
}

/// Writes a join side's rows (the batch's input), a table's tombstones among them, to the
/// partitions `partition_of` chooses (`None` when it rejected the row).
fn send_side_rows(
    step: u8,
    exchange: &Exchange,
    batch: &RowBatch,
    origin_of: &dyn Fn(u32) -> Option<(u32, u64)>,
    mut partition_of: impl FnMut(usize, &mut Emit<'_>) -> Option<u32>,
    emit: &mut Emit<'_>,
) {
    let mut by_partition: Vec<Vec<RoutedRow>> = vec![Vec::new(); exchange.partitions as usize];
    let mut origins: Vec<Vec<u32>> = vec![Vec::new(); exchange.partitions as usize];
    for at in 0..batch.len() {
        let origin = batch.origin(at);
        let Some(partition) = partition_of(at, emit) else {
            continue;
        };
        let Some((source_partition, source_offset)) = origin_of(origin) else {
            continue;
        };
        let partition = partition as usize;
        if let (Some(rows), Some(from)) =
            (by_partition.get_mut(partition), origins.get_mut(partition))
        {
            from.push(origin);
            rows.push(RoutedRow {
                delete: batch.is_delete(at),
                row: ExchangedRow {
                    source_partition,
                    source_offset,
                    time: batch.time(at),
                    window: batch.window(at),
                    row: batch.row(at).clone(),
                },
            });
        }
    }
    let input = u8::try_from(batch.input()).unwrap_or(u8::MAX);
    write_exchanged(step, &by_partition, &origins, Some(input), |r| &r.row, emit);
}

/// The ends of the records a partition's rows go in: about `ROWS_PER_EXCHANGED_RECORD`
/// rows each, never parting rows that came from one record, which are taken or skipped
/// together when read back.
fn record_ends<T>(rows: &[T], row_of: impl Fn(&T) -> &ExchangedRow) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut end = 0;
    while end < rows.len() {
        end = (end + ROWS_PER_EXCHANGED_RECORD).min(rows.len());
        while end < rows.len() && same_record(row_of(&rows[end - 1]), row_of(&rows[end])) {
            end += 1;
        }
        ends.push(end);
    }
    ends
}

fn same_record(a: &ExchangedRow, b: &ExchangedRow) -> bool {
    (a.source_partition, a.source_offset) == (b.source_partition, b.source_offset)
}

/// Encodes each partition's rows as repartition records for step `step`, each timed by its
/// latest row; rows whose record cannot be written are rejected.
fn write_exchanged<T: serde::Serialize>(
    step: u8,
    by_partition: &[Vec<T>],
    origins: &[Vec<u32>],
    input: Option<u8>,
    row_of: impl Fn(&T) -> &ExchangedRow,
    emit: &mut Emit<'_>,
) {
    for (partition, (rows, from)) in by_partition.iter().zip(origins).enumerate() {
        let mut start = 0;
        for end in record_ends(rows, &row_of) {
            let (chunk, chunk_origins) = (&rows[start..end], &from[start..end]);
            let timestamp = chunk.iter().map(|r| row_of(r).time).max().unwrap_or(0);
            start = end;
            match postcard::to_allocvec(chunk) {
                Ok(value) => emit.out.exchanged.push(Exchanged {
                    step,
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

/// A join side re-keyed into its own repartition topic (`plan::RekeyedInput`), with the
/// codec that writes its key as the other side's records hold it.
struct Rekey {
    input: usize,
    key: crate::expr::Compiled,
    codec: KeyCodec,
    /// The repartition topic's partitions, which stay what they were made with when the
    /// input grows (the other instances route by them too).
    partitions: u32,
}

/// Where a row read back from a repartition topic came from: the record it came from (by
/// the query's input, its partition and offset), for its dead letter; the repartition
/// partition it was read from, whose task state a stream-stream join keeps it in; and the
/// repartition record's offset, which names it to the next step.
#[derive(Debug, Clone, Copy, Default)]
struct ExchangedOrigin {
    input: usize,
    source_partition: u32,
    source_offset: u64,
    partition: u32,
    record_offset: u64,
    /// Set for a repartition record that could not be read: its own partition and offset
    /// are the source's fields, and its dead letter names the repartition topic.
    unreadable: bool,
}

/// Where a step gathers the rows it reads back from its repartition topic.
struct Taken<'a> {
    exchange: &'a mut Exchange,
    batch: &'a mut RowBatch,
    origins: &'a mut Vec<ExchangedOrigin>,
    width: usize,
    /// The record the last row of the current repartition record came from (its input,
    /// partition and offset), and whether it was taken: its other rows follow suit.
    last: Option<((usize, u32, u64), bool)>,
}

impl Taken<'_> {
    /// Refuses repartition record `record` (of input `input`) that does not read back; its
    /// dead letter names the record itself.
    fn unreadable(
        &mut self,
        record: &InputRecord<'_>,
        input: usize,
        error: impl std::fmt::Display,
        emit: &mut Emit<'_>,
    ) {
        emit.reject(
            self.origins.len() as u32,
            RowError::Decode(format!(
                "a record of the repartition topic does not read back: {error}"
            )),
        );
        self.origins.push(ExchangedOrigin {
            input,
            source_partition: record.partition,
            source_offset: record.offset,
            partition: record.partition,
            record_offset: record.offset,
            unreadable: true,
        });
    }

    /// Takes a row of repartition record `record`, unless its partition has already taken
    /// the record the row came from.
    fn push(&mut self, record: &InputRecord<'_>, input: usize, row: ExchangedRow, delete: bool) {
        let partition = record.partition;
        let from = (input, row.source_partition, row.source_offset);
        let take = match self.last {
            Some((last, taken)) if last == from => taken,
            _ => !self.exchange.already_taken(partition, input, &row),
        };
        self.last = Some((from, take));
        if !take {
            return;
        }
        self.exchange.take(partition, input, &row);
        let origin = self.origins.len() as u32;
        self.origins.push(ExchangedOrigin {
            input,
            source_partition: row.source_partition,
            source_offset: row.source_offset,
            partition,
            record_offset: record.offset,
            unreadable: false,
        });
        let filled = self.batch.push(self.width, row.time, origin);
        *filled = row.row;
        // A row a join step wrote carries the key columns of the steps before, past the
        // width of the sources' columns.
        if filled.len() < self.width {
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

/// The operators of one keyed step, with the next step's repartition topic and keyed
/// operator when there is one.
struct Stage<'a> {
    ops: &'a mut [Box<dyn Operator>],
    next: Option<(usize, &'a Exchange, &'a dyn Operator)>,
}

impl Stage<'_> {
    /// Runs the step's operators over a batch of input `input`'s rows, sends what comes
    /// out on to the next step, then empties the batch for the next run.
    fn run(
        &mut self,
        batch: &mut RowBatch,
        input: usize,
        origins: &[ExchangedOrigin],
        emit: &mut Emit<'_>,
    ) {
        batch.set_input(input);
        batch.set_partitions(origins.iter().map(|origin| origin.partition));
        for op in self.ops.iter_mut() {
            if !op.takes_deletes() {
                batch.drop_deletes();
            }
            op.process(batch, emit);
        }
        if let Some((step, exchange, keyed)) = self.next {
            let origin_of = |origin: u32| {
                origins
                    .get(origin as usize)
                    .map(|o| (o.partition, o.record_offset))
            };
            route(step, exchange, keyed, batch, &origin_of, emit);
        }
        batch.clear();
    }
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
