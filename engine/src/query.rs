//! Persistent queries: a CREATE ... AS SELECT planned against the catalog into a pipeline
//! (decode, filter, project or aggregate) that turns input records into output records and
//! dead letters. Nothing here knows where records come from or go to.

use serde::{Deserialize, Serialize};

use crate::aggregate::{Acc, AggKind};
use crate::expr::{self, compile, Compiled, Context, ExprError, Plain, Resolver};
use crate::format::{Decoder, Encoder, JsonDecoder, JsonEncoder, JsonFields};
use crate::sql::ast::{
    BinaryOp, ColumnDef, Emit, Expr, Literal, Properties, Query, SelectItem, SourceKind, SqlType,
    WindowKind,
};
use crate::state::{Offsets, Partitioned, RestoreError, StateKey, StateTable};
use crate::value::{Column, Row, Schema, Value};

/// ksqlDB's default grace period for windows that do not name one.
pub const DEFAULT_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Expr(#[from] ExprError),
    #[error("{0}")]
    Invalid(String),
}

fn invalid<T>(message: impl Into<String>) -> Result<T, PlanError> {
    Err(PlanError::Invalid(message.into()))
}

/// A stream or table known to the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDef {
    pub name: String,
    pub kind: SourceKind,
    pub schema: Schema,
    pub topic: String,
    pub value_format: String,
    pub key_format: String,
    pub timestamp: Option<String>,
    pub windowed: bool,
}

fn property(properties: &Properties, key: &str) -> Option<String> {
    properties.get(key).map(|v| match v {
        Literal::String(s) => s.clone(),
        Literal::Integer(i) => i.to_string(),
        Literal::Decimal(d) => d.to_string(),
        Literal::Boolean(b) => b.to_string(),
        Literal::Null => String::new(),
    })
}

const FORMATS: [&str; 1] = ["JSON"];

fn check_format(name: &str, which: &str) -> Result<(), PlanError> {
    if FORMATS.contains(&name.to_ascii_uppercase().as_str()) {
        Ok(())
    } else {
        invalid(format!(
            "{which} '{name}' is not supported by advisor-engine yet; use JSON (Avro and the Schema Registry arrive with the formats work)"
        ))
    }
}

impl SourceDef {
    pub fn declared(
        kind: SourceKind,
        name: &str,
        columns: &[ColumnDef],
        properties: &Properties,
    ) -> Result<SourceDef, PlanError> {
        let topic = property(properties, "KAFKA_TOPIC").ok_or_else(|| {
            PlanError::Invalid(format!("{name} needs KAFKA_TOPIC in its WITH clause"))
        })?;
        let value_format = property(properties, "VALUE_FORMAT")
            .or_else(|| property(properties, "FORMAT"))
            .ok_or_else(|| {
                PlanError::Invalid(format!("{name} needs VALUE_FORMAT in its WITH clause"))
            })?;
        check_format(&value_format, "VALUE_FORMAT")?;
        let key_format = property(properties, "KEY_FORMAT").unwrap_or_else(|| "KAFKA".into());
        let schema = Schema {
            columns: columns
                .iter()
                .map(|c| Column {
                    name: c.name.clone(),
                    sql_type: c.sql_type.clone(),
                    key: c.key,
                })
                .collect(),
        };
        let timestamp = property(properties, "TIMESTAMP").map(|t| t.to_ascii_uppercase());
        if let Some(column) = &timestamp {
            match schema.index_of(column).map(|i| &schema.columns[i].sql_type) {
                Some(SqlType::Bigint) => {}
                Some(other) => {
                    return invalid(format!(
                        "TIMESTAMP column {column} is {other}; advisor-engine reads BIGINT epoch milliseconds"
                    ))
                }
                None => return invalid(format!("TIMESTAMP column {column} is not a column of {name}")),
            }
        }
        if kind == SourceKind::Table && schema.key_columns().next().is_none() {
            return invalid(format!("table {name} needs a PRIMARY KEY column"));
        }
        Ok(SourceDef {
            name: name.to_string(),
            kind,
            schema,
            topic,
            value_format: value_format.to_ascii_uppercase(),
            key_format: key_format.to_ascii_uppercase(),
            timestamp,
            windowed: false,
        })
    }
}

/// One record as a source hands it over.
#[derive(Debug, Clone, Copy)]
pub struct InputRecord<'a> {
    pub partition: u32,
    pub offset: u64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
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
    fn empty() -> OutputRecord {
        OutputRecord {
            key: Vec::new(),
            window: None,
            value: Some(Vec::new()),
            timestamp: 0,
        }
    }
}

/// The output records an input record caused. The records and their column vectors are
/// kept from one input to the next and refilled in place: a table update costs no
/// allocation.
#[derive(Debug, Default)]
pub struct Outputs {
    records: Vec<OutputRecord>,
    len: usize,
}

impl Outputs {
    pub fn new() -> Outputs {
        Outputs::default()
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    pub fn as_slice(&self) -> &[OutputRecord] {
        &self.records[..self.len]
    }

    pub fn iter(&self) -> std::slice::Iter<'_, OutputRecord> {
        self.as_slice().iter()
    }

    /// The next record to fill. It holds what an earlier input left in it: the filler
    /// sets every field, and may overwrite the columns in place.
    fn next_record(&mut self) -> &mut OutputRecord {
        if self.len == self.records.len() {
            self.records.push(OutputRecord::empty());
        }
        let record = &mut self.records[self.len];
        self.len += 1;
        record
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

#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub query: String,
    pub source: String,
    pub partition: u32,
    pub offset: u64,
    pub reason: String,
    pub value: Option<String>,
}

impl DeadLetter {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "query": self.query,
            "source": self.source,
            "partition": self.partition,
            "offset": self.offset,
            "reason": self.reason,
            "value": self.value,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub records_in: u64,
    pub records_out: u64,
    pub dead_letters: u64,
    pub late_events: u64,
}

struct Window {
    kind: WindowKind,
    grace: i64,
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
        ts - ts.rem_euclid(step)
    }

    /// The windows an event time falls in, newest first.
    fn assign(&self, ts: i64, out: &mut Vec<(i64, i64)>) {
        out.clear();
        match self.kind {
            WindowKind::Tumbling { size } => {
                let start = self.newest_start(ts);
                out.push((start, start + size));
            }
            WindowKind::Hopping { size, advance } => {
                let mut start = self.newest_start(ts);
                while start > ts - size && start >= 0 {
                    out.push((start, start + size));
                    start -= advance;
                }
            }
            WindowKind::Session { .. } => {}
        }
    }
}

/// One group's accumulators in one window. The group's values and the window start are
/// not kept here: the map key holds both (group bytes, then 8 bytes of window start), so a
/// million open windows cost one copy of each key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Entry {
    accs: Box<[Acc]>,
    max_ts: i64,
}

/// One partition's aggregation state. Map keys are group bytes plus the window start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AggregateState {
    stream_time: i64,
    entries: StateTable<Entry>,
    /// The earliest window end among the entries: when stream time minus grace passes it,
    /// a sweep emits (EMIT FINAL) and frees the closed windows, which bounds memory by the
    /// windows still open. A snapshot without it sweeps once to find it.
    #[serde(default = "sweep_first")]
    next_close: i64,
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

impl AggregateState {
    /// Rewrites keys (and COUNT_DISTINCT's values) saved by snapshot version 1 in today's
    /// key form: the same values, shorter lengths.
    fn upgrade_v1_keys(&mut self, groups: usize) -> Result<(), RestoreError> {
        let corrupt = || RestoreError("a version 1 state key does not read back".into());
        let upgrade = |old: &[u8], values: usize| -> Option<Vec<u8>> {
            let mut rest = old;
            let mut key = Vec::with_capacity(old.len());
            for _ in 0..values {
                Value::read_key_v1(&mut rest)?.write_key(&mut key);
            }
            key.extend_from_slice(rest);
            Some(key)
        };
        let entries: Vec<(StateKey, Entry)> = self.entries.drain().collect();
        for (key, mut entry) in entries {
            for acc in entry.accs.iter_mut() {
                if let Acc::Distinct(seen) = acc {
                    let old = std::mem::take(&mut **seen);
                    for value in old {
                        seen.insert(upgrade(&value, 1).ok_or_else(corrupt)?);
                    }
                }
            }
            let key = upgrade(key.as_bytes(), groups).ok_or_else(corrupt)?;
            self.entries.insert(StateKey::new(&key), entry);
        }
        Ok(())
    }
}

/// How an aggregation's state becomes an output row: the aggregates, HAVING, and the key
/// and value columns.
struct RowShape {
    aggs: Vec<(AggKind, Option<Compiled>)>,
    having: Option<Compiled>,
    key: Vec<Compiled>,
    value: Vec<Compiled>,
    /// Set when every output column is a group column or a bare aggregate and there is no
    /// HAVING: the row is then filled straight from the group and the accumulators, with
    /// no expression evaluated.
    direct: Option<DirectRow>,
}

struct DirectRow {
    key: Vec<DirectColumn>,
    value: Vec<DirectColumn>,
}

#[derive(Clone, Copy)]
enum DirectColumn {
    Group(usize),
    Aggregate(usize),
}

impl DirectRow {
    fn plan(having: Option<&Compiled>, key: &[Compiled], value: &[Compiled]) -> Option<DirectRow> {
        let column = |expr: &Compiled| match expr {
            Compiled::Column(i) => Some(DirectColumn::Group(*i)),
            Compiled::Slot(i) => Some(DirectColumn::Aggregate(*i)),
            _ => None,
        };
        if having.is_some() {
            return None;
        }
        Some(DirectRow {
            key: key.iter().map(column).collect::<Option<_>>()?,
            value: value.iter().map(column).collect::<Option<_>>()?,
        })
    }
}

struct AggregateStage {
    group_by: Vec<Compiled>,
    window: Option<Window>,
    shape: RowShape,
    emit: Emit,
    state: Partitioned<AggregateState>,
    scratch: Scratch,
}

/// Buffers one record's aggregation reuses from the last, sparing allocations per record.
#[derive(Default)]
struct Scratch {
    windows: Vec<(i64, i64)>,
    arguments: Vec<Value>,
    slots: Vec<Value>,
}

/// A record decoded ahead of its turn, with its group key when the query aggregates.
struct Prepared {
    row: Row,
    /// The event time, or why the record cannot be processed.
    decoded: Result<i64, String>,
    /// True when `group` and `group_key` hold this record's group.
    keyed: bool,
    group: Vec<Value>,
    /// The group in key form (`Value::write_key`), without a window.
    group_key: Vec<u8>,
}

impl Prepared {
    fn new(width: usize) -> Prepared {
        Prepared {
            row: vec![Value::Null; width],
            decoded: Ok(0),
            keyed: false,
            group: Vec::new(),
            group_key: Vec::new(),
        }
    }
}

enum Stage {
    Project {
        key: Vec<Compiled>,
        value: Vec<Compiled>,
    },
    Aggregate(Box<AggregateStage>),
}

impl Stage {
    /// The expressions evaluated over the source row.
    fn reads_source(&self) -> Box<dyn Iterator<Item = &Compiled> + '_> {
        match self {
            Stage::Project { key, value } => Box::new(key.iter().chain(value)),
            Stage::Aggregate(stage) => Box::new(
                stage
                    .group_by
                    .iter()
                    .chain(stage.shape.aggs.iter().filter_map(|(_, a)| a.as_ref())),
            ),
        }
    }
}

pub struct PersistentQuery {
    pub id: String,
    pub source: String,
    pub sink: SourceDef,
    pub key_names: Vec<String>,
    pub value_names: Vec<String>,
    /// The key and value columns' names ready for JSON (file outputs, JSON keys).
    pub json_keys: JsonFields,
    pub json_values: JsonFields,
    pub sql: String,
    decoder: Box<dyn Decoder>,
    /// The sink's value format.
    encoder: Box<dyn Encoder>,
    /// The source columns that come from the record key; the decoder fills the rest.
    key_columns: Vec<(usize, SqlType)>,
    /// Two records' buffers, kept between records to spare allocations: the record being
    /// processed and the one decoded ahead of it.
    prepared: Box<[Prepared; 2]>,
    timestamp: Option<usize>,
    filter: Option<Compiled>,
    stage: Stage,
    /// Next offset per input partition that the state reflects.
    offsets: Offsets,
    pub stats: Stats,
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    offsets: &'a Offsets,
    state: Option<&'a Partitioned<AggregateState>>,
}

/// The snapshot form this version writes. Version 1 wrote key lengths in four bytes.
const SNAPSHOT_VERSION: u32 = 2;

#[derive(Deserialize)]
struct Snapshot {
    /// JSON snapshots of version 1 carry no version.
    #[serde(default = "first_snapshot_version")]
    version: u32,
    offsets: Offsets,
    state: Option<Partitioned<AggregateState>>,
}

fn first_snapshot_version() -> u32 {
    1
}

/// A binary snapshot of version 1.
#[derive(Deserialize)]
struct SnapshotV1 {
    offsets: Offsets,
    state: Option<Partitioned<AggregateState>>,
}

/// Collects the aggregate calls of a projection into slots, and resolves GROUP BY
/// expressions to the group row.
struct Aggregation<'a> {
    input: &'a Schema,
    group_by: &'a [Expr],
    aggs: Vec<(Expr, AggKind, Option<Compiled>)>,
}

impl Resolver for Aggregation<'_> {
    fn aggregate(&mut self, call: &Expr) -> Result<Option<usize>, ExprError> {
        if let Some(slot) = self.aggs.iter().position(|(e, ..)| e == call) {
            return Ok(Some(slot));
        }
        let Expr::Function { name, args, star } = call else {
            return Ok(None);
        };
        let k = match args.get(1) {
            Some(Expr::Literal(Literal::Integer(k))) => Some(*k),
            _ => None,
        };
        let kind = AggKind::from_call(name, *star, k)
            .map_err(|_| ExprError::UnknownFunction(name.clone()))?;
        let argument = match (star, args.first()) {
            (true, _) => None,
            (false, Some(arg)) => Some(compile(arg, self.input, &mut Plain)?),
            (false, None) => {
                return Err(ExprError::Arity {
                    name: name.clone(),
                    expected: "1",
                    got: 0,
                })
            }
        };
        self.aggs.push((call.clone(), kind, argument));
        Ok(Some(self.aggs.len() - 1))
    }

    fn precomputed(&self, expr: &Expr) -> Option<Compiled> {
        self.group_by
            .iter()
            .position(|g| g == expr)
            .map(Compiled::Column)
    }
}

fn infer_type(expr: &Expr, schema: &Schema) -> SqlType {
    match expr {
        Expr::Column(name) => match name.as_str() {
            "ROWTIME" | "WINDOWSTART" | "WINDOWEND" => SqlType::Bigint,
            _ => schema
                .index_of(name)
                .map(|i| schema.columns[i].sql_type.clone())
                .unwrap_or(SqlType::String),
        },
        Expr::Literal(Literal::Integer(_)) => SqlType::Bigint,
        Expr::Literal(Literal::Decimal(_)) => SqlType::Double,
        Expr::Literal(Literal::Boolean(_)) => SqlType::Boolean,
        Expr::Literal(_) => SqlType::String,
        Expr::Cast(_, t) => t.clone(),
        Expr::Binary(op, a, b) => match op {
            BinaryOp::Concat => SqlType::String,
            BinaryOp::Add
            | BinaryOp::Subtract
            | BinaryOp::Multiply
            | BinaryOp::Divide
            | BinaryOp::Modulo => match (infer_type(a, schema), infer_type(b, schema)) {
                (SqlType::Double, _) | (_, SqlType::Double) => SqlType::Double,
                (SqlType::String, _) => SqlType::String,
                _ => SqlType::Bigint,
            },
            _ => SqlType::Boolean,
        },
        Expr::Function { name, args, .. } => {
            let arg = || {
                args.first()
                    .map(|a| infer_type(a, schema))
                    .unwrap_or(SqlType::String)
            };
            match name.as_str() {
                "COUNT" | "COUNT_DISTINCT" | "LEN" | "LENGTH" | "STRINGTOTIMESTAMP"
                | "UNIX_TIMESTAMP" => SqlType::Bigint,
                "STRINGTODATE" | "UNIX_DATE" => SqlType::Int,
                "AVG" | "SQRT" | "FLOOR" | "CEIL" => SqlType::Double,
                "SUM" | "MIN" | "MAX" | "LATEST_BY_OFFSET" | "EARLIEST_BY_OFFSET" | "ABS"
                | "COALESCE" | "IFNULL" => arg(),
                "COLLECT_LIST" | "COLLECT_SET" | "TOPK" => SqlType::Array(Box::new(arg())),
                _ => SqlType::String,
            }
        }
        Expr::Case { whens, .. } => whens
            .first()
            .map(|(_, then)| infer_type(then, schema))
            .unwrap_or(SqlType::String),
        Expr::Unary(crate::sql::ast::UnaryOp::Negate, e) => infer_type(e, schema),
        _ => SqlType::Boolean,
    }
}

/// Output column names: aliases, column names, or KSQL_COL_n for the rest, as ksqlDB does.
fn output_names(projection: &[(Expr, Option<String>)]) -> Vec<String> {
    let mut generated = 0;
    projection
        .iter()
        .map(|(expr, alias)| match (alias, expr) {
            (Some(alias), _) => alias.clone(),
            (None, Expr::Column(name)) => name.clone(),
            (None, _) => {
                let name = format!("KSQL_COL_{generated}");
                generated += 1;
                name
            }
        })
        .collect()
}

fn expand(items: &[SelectItem], schema: &Schema) -> Vec<(Expr, Option<String>)> {
    items
        .iter()
        .flat_map(|item| match item {
            SelectItem::Wildcard => schema
                .columns
                .iter()
                .map(|c| (Expr::Column(c.name.clone()), None))
                .collect::<Vec<_>>(),
            SelectItem::Expr { expr, alias } => vec![(expr.clone(), alias.clone())],
        })
        .collect()
}

fn has_aggregate(expr: &Expr) -> bool {
    match expr {
        Expr::Function { name, args, .. } => {
            expr::is_aggregate(name) || args.iter().any(has_aggregate)
        }
        Expr::Unary(_, e) | Expr::Cast(e, _) => has_aggregate(e),
        Expr::Binary(_, a, b) => has_aggregate(a) || has_aggregate(b),
        Expr::Case {
            operand,
            whens,
            otherwise,
        } => {
            operand.as_deref().is_some_and(has_aggregate)
                || whens
                    .iter()
                    .any(|(w, t)| has_aggregate(w) || has_aggregate(t))
                || otherwise.as_deref().is_some_and(has_aggregate)
        }
        Expr::IsNull { expr, .. } => has_aggregate(expr),
        Expr::Between {
            expr, low, high, ..
        } => has_aggregate(expr) || has_aggregate(low) || has_aggregate(high),
        Expr::InList { expr, list, .. } => has_aggregate(expr) || list.iter().any(has_aggregate),
        Expr::Like { expr, pattern, .. } => has_aggregate(expr) || has_aggregate(pattern),
        Expr::Column(_) | Expr::Literal(_) => false,
    }
}

impl PersistentQuery {
    pub fn plan(
        id: String,
        kind: SourceKind,
        name: &str,
        properties: &Properties,
        query: &Query,
        source: &SourceDef,
        sql: String,
    ) -> Result<PersistentQuery, PlanError> {
        if source.kind == SourceKind::Table {
            return invalid(format!(
                "{name} reads the table {}; persistent queries over tables arrive with joins",
                source.name
            ));
        }
        if query.limit.is_some() {
            return invalid("LIMIT is not allowed in a persistent query");
        }
        let schema = &source.schema;
        let projection = expand(&query.projection, schema);
        let names = output_names(&projection);
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != names.len() {
            return invalid("the projection names a column twice; give each one an alias");
        }
        let filter = match &query.filter {
            Some(f) => Some(compile(f, schema, &mut Plain)?),
            None => None,
        };
        let aggregating =
            !query.group_by.is_empty() || projection.iter().any(|(e, _)| has_aggregate(e));
        let topic = property(properties, "KAFKA_TOPIC").unwrap_or_else(|| name.to_string());
        let value_format = property(properties, "VALUE_FORMAT")
            .or_else(|| property(properties, "FORMAT"))
            .unwrap_or_else(|| source.value_format.clone());
        check_format(&value_format, "VALUE_FORMAT")?;

        let (stage, key_flags) = if aggregating {
            if kind == SourceKind::Stream {
                return invalid(format!(
                    "{name}: an aggregation makes a TABLE; use CREATE TABLE {name} AS SELECT ..."
                ));
            }
            if query.group_by.is_empty() {
                return invalid("aggregations need GROUP BY in advisor-engine");
            }
            let window = match &query.window {
                Some(spec) => {
                    if let WindowKind::Session { .. } = spec.kind {
                        return invalid("SESSION windows are not supported by advisor-engine yet");
                    }
                    Some(Window {
                        kind: spec.kind.clone(),
                        grace: spec.grace.unwrap_or(DEFAULT_GRACE_MS),
                    })
                }
                None => None,
            };
            let emit = query.emit.unwrap_or(Emit::Changes);
            if emit == Emit::Final && window.is_none() {
                return invalid("EMIT FINAL needs a WINDOW clause");
            }
            let mut group_by = Vec::new();
            for expr in &query.group_by {
                if has_aggregate(expr) {
                    return invalid("GROUP BY cannot hold an aggregate");
                }
                group_by.push(compile(expr, schema, &mut Plain)?);
            }
            let mut resolver = Aggregation {
                input: schema,
                group_by: &query.group_by,
                aggs: Vec::new(),
            };
            // Everything after aggregation sees the group row (one value per GROUP BY
            // expression) and the aggregate slots; a bare column must be grouped.
            let group_schema = Schema {
                columns: query
                    .group_by
                    .iter()
                    .enumerate()
                    .map(|(i, e)| Column {
                        name: match e {
                            Expr::Column(n) => n.clone(),
                            _ => format!("__GROUP_{i}"),
                        },
                        sql_type: infer_type(e, schema),
                        key: true,
                    })
                    .collect(),
            };
            let mut key = Vec::new();
            let mut value = Vec::new();
            let mut key_flags = Vec::new();
            for (expr, _) in &projection {
                let compiled =
                    compile(expr, &group_schema, &mut resolver).map_err(|e| match e {
                        ExprError::UnknownColumn(column, _)
                            if schema.index_of(&column).is_some() =>
                        {
                            PlanError::Invalid(format!(
                        "column {column} must be in GROUP BY or inside an aggregate function"
                    ))
                        }
                        other => PlanError::Expr(other),
                    })?;
                let is_key = query.group_by.contains(expr);
                key_flags.push(is_key);
                if is_key {
                    key.push(compiled);
                } else {
                    value.push(compiled);
                }
            }
            for (i, group) in query.group_by.iter().enumerate() {
                if !projection.iter().any(|(e, _)| e == group) {
                    let shown = match group {
                        Expr::Column(n) => n.clone(),
                        _ => format!("GROUP BY expression {}", i + 1),
                    };
                    return invalid(format!(
                        "Key missing from projection (ie, SELECT). The query used to build {name} must include the grouping expression {shown} in its projection (eg, SELECT {shown}...)"
                    ));
                }
            }
            let having = match &query.having {
                Some(h) => Some(compile(h, &group_schema, &mut resolver)?),
                None => None,
            };
            let aggs = resolver
                .aggs
                .into_iter()
                .map(|(_, kind, arg)| (kind, arg))
                .collect();
            (
                Stage::Aggregate(Box::new(AggregateStage {
                    group_by,
                    window,
                    shape: RowShape {
                        direct: DirectRow::plan(having.as_ref(), &key, &value),
                        aggs,
                        having,
                        key,
                        value,
                    },
                    emit,
                    state: Partitioned::default(),
                    scratch: Scratch::default(),
                })),
                key_flags,
            )
        } else {
            if kind == SourceKind::Table {
                return invalid(format!(
                    "{name}: a table needs GROUP BY; use CREATE STREAM for a projection"
                ));
            }
            if query.window.is_some() {
                return invalid("WINDOW needs GROUP BY");
            }
            if query.emit == Some(Emit::Final) {
                return invalid("EMIT FINAL needs a windowed aggregation");
            }
            let mut key = Vec::new();
            let mut value = Vec::new();
            let mut key_flags = Vec::new();
            for (expr, _) in &projection {
                let compiled = compile(expr, schema, &mut Plain)?;
                let is_key = matches!(expr, Expr::Column(n) if schema.index_of(n).is_some_and(|i| schema.columns[i].key));
                key_flags.push(is_key);
                if is_key {
                    key.push(compiled);
                } else {
                    value.push(compiled);
                }
            }
            (Stage::Project { key, value }, key_flags)
        };

        let mut key_names = Vec::new();
        let mut value_names = Vec::new();
        let mut columns = Vec::new();
        for ((name, (expr, _)), is_key) in names.iter().zip(&projection).zip(&key_flags) {
            if *is_key {
                key_names.push(name.clone());
            } else {
                value_names.push(name.clone());
            }
            columns.push(Column {
                name: name.clone(),
                sql_type: infer_type(expr, schema),
                key: *is_key,
            });
        }
        let windowed = matches!(&stage, Stage::Aggregate(a) if a.window.is_some());
        let sink = SourceDef {
            name: name.to_string(),
            kind,
            schema: Schema { columns },
            topic,
            value_format: value_format.to_ascii_uppercase(),
            key_format: property(properties, "KEY_FORMAT")
                .unwrap_or_else(|| source.key_format.clone()),
            timestamp: None,
            windowed,
        };
        let mut read = vec![false; schema.columns.len()];
        for expr in filter.iter().chain(stage.reads_source()) {
            expr.mark_columns(&mut read);
        }
        let timestamp = source.timestamp.as_ref().and_then(|t| schema.index_of(t));
        if let Some(flag) = timestamp.and_then(|i| read.get_mut(i)) {
            *flag = true;
        }
        let encoder = Box::new(JsonEncoder::new(&value_names));
        let json_keys = JsonFields::new(&key_names);
        let json_values = JsonFields::new(&value_names);
        Ok(PersistentQuery {
            id,
            source: source.name.clone(),
            sink,
            key_names,
            value_names,
            sql,
            decoder: Box::new(
                JsonDecoder::placed(
                    schema.value_columns().map(|(i, c)| (i, c.clone())),
                    schema.columns.len(),
                )
                .reading_only(&read),
            ),
            encoder,
            json_keys,
            json_values,
            key_columns: schema
                .key_columns()
                .map(|(i, c)| (i, c.sql_type.clone()))
                .collect(),
            prepared: Box::new([
                Prepared::new(schema.columns.len()),
                Prepared::new(schema.columns.len()),
            ]),
            timestamp,
            filter,
            stage,
            offsets: Offsets::new(),
            stats: Stats::default(),
        })
    }

    fn dead_letter(
        &mut self,
        record: &InputRecord<'_>,
        reason: String,
        dead: &mut Vec<DeadLetter>,
    ) {
        self.stats.dead_letters += 1;
        dead.push(DeadLetter {
            query: self.id.clone(),
            source: self.source.clone(),
            partition: record.partition,
            offset: record.offset,
            reason,
            value: record
                .value
                .map(|v| String::from_utf8_lossy(v).into_owned()),
        });
    }

    /// Decodes a record into `row`: key columns from the record key, the rest from the value.
    fn decode(&self, record: &InputRecord<'_>, row: &mut Row) -> Result<(), String> {
        let value = record
            .value
            .ok_or_else(|| "the record has no value".to_string())?;
        self.decoder
            .decode_into(value, row)
            .map_err(|e| e.to_string())?;
        for (position, _) in &self.key_columns {
            row[*position] = Value::Null;
        }
        if let (Some(bytes), [(position, sql_type)]) = (record.key, self.key_columns.as_slice()) {
            row[*position] = decode_kafka_key(bytes, sql_type)?;
        }
        Ok(())
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

    /// Processes records in order, exactly as `process` would one by one. Each record is
    /// decoded one ahead and, in an aggregation, the state slot it will update is
    /// prefetched, so that its memory arrives while the record before is folded in.
    pub fn process_batch(
        &mut self,
        records: &[InputRecord<'_>],
        out: &mut Outputs,
        dead: &mut Vec<DeadLetter>,
    ) {
        let Some(first) = records.first() else {
            return;
        };
        let [mut current, mut ahead] =
            std::mem::replace(&mut *self.prepared, [Prepared::new(0), Prepared::new(0)]);
        self.prepare(first, &mut current);
        for (i, record) in records.iter().enumerate() {
            if let Some(next) = records.get(i + 1) {
                self.prepare(next, &mut ahead);
            }
            self.finish(record, &mut current, out, dead);
            std::mem::swap(&mut current, &mut ahead);
        }
        *self.prepared = [current, ahead];
    }

    /// Decodes a record and finds its event time; in an aggregation, also its group, and
    /// prefetches the state slot it will update.
    fn prepare(&self, record: &InputRecord<'_>, prepared: &mut Prepared) {
        prepared.keyed = false;
        prepared.decoded = self
            .decode(record, &mut prepared.row)
            .and_then(|()| self.event_time(record, &prepared.row));
        if let (Ok(timestamp), Stage::Aggregate(stage)) = (&prepared.decoded, &self.stage) {
            stage.prefetch(*timestamp, prepared);
        }
    }

    fn event_time(&self, record: &InputRecord<'_>, row: &Row) -> Result<i64, String> {
        match self.timestamp {
            Some(index) => match &row[index] {
                Value::Integer(ts) if *ts >= 0 => Ok(*ts),
                other => Err(format!(
                    "timestamp column holds {other}, not epoch milliseconds"
                )),
            },
            None => Ok(record.timestamp),
        }
    }

    fn finish(
        &mut self,
        record: &InputRecord<'_>,
        prepared: &mut Prepared,
        out: &mut Outputs,
        dead: &mut Vec<DeadLetter>,
    ) {
        self.stats.records_in += 1;
        self.offsets.insert(record.partition, record.offset + 1);
        let before = out.len();
        let result = match &prepared.decoded {
            Ok(timestamp) => {
                let timestamp = *timestamp;
                self.apply(prepared, timestamp, out)
            }
            Err(reason) => Err(reason.clone()),
        };
        match result {
            Ok(()) => self.stats.records_out += (out.len() - before) as u64,
            Err(reason) => {
                out.truncate(before);
                self.dead_letter(record, reason, dead);
            }
        }
    }

    fn apply(
        &mut self,
        prepared: &mut Prepared,
        timestamp: i64,
        out: &mut Outputs,
    ) -> Result<(), String> {
        let ctx = Context {
            row: &prepared.row,
            rowtime: timestamp,
            window: None,
            slots: &[],
        };
        if let Some(filter) = &self.filter {
            if !filter.test(&ctx).map_err(|e| e.to_string())? {
                return Ok(());
            }
        }
        match &mut self.stage {
            Stage::Project { key, value } => {
                let record = out.next_record();
                record.window = None;
                record.timestamp = timestamp;
                record.key.clear();
                for expr in key.iter() {
                    expr.eval_onto(&ctx, &mut record.key)
                        .map_err(|e| e.to_string())?;
                }
                let values = record.value.get_or_insert_with(Vec::new);
                values.clear();
                for expr in value.iter() {
                    expr.eval_onto(&ctx, values).map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            Stage::Aggregate(stage) => {
                let late = stage.update(prepared, timestamp, out)?;
                if late {
                    self.stats.late_events += 1;
                    return Err(format!(
                        "late event: its window closed before it arrived (event time {timestamp}, grace {} ms)",
                        stage.window.as_ref().map(|w| w.grace).unwrap_or(0)
                    ));
                }
                Ok(())
            }
        }
    }

    /// The table's current rows (what a pull query reads): one per group and open window.
    pub fn table_rows(&self) -> Vec<OutputRecord> {
        let Stage::Aggregate(stage) = &self.stage else {
            return Vec::new();
        };
        let mut rows: Vec<OutputRecord> = stage
            .rows()
            .into_iter()
            .filter(|row| row.value.is_some())
            .collect();
        rows.sort_by(|a, b| {
            let key = |r: &OutputRecord| format!("{:?}", r.key);
            key(a).cmp(&key(b)).then(a.window.cmp(&b.window))
        });
        rows
    }

    /// Rows kept in open windows and groups, for metrics and tests.
    pub fn state_size(&self) -> usize {
        match &self.stage {
            Stage::Aggregate(stage) => stage.state.iter().map(|(_, s)| s.entries.len()).sum(),
            Stage::Project { .. } => 0,
        }
    }

    /// The output's value in the sink's format; `None` for a tombstone.
    pub fn encode_value(&self, record: &OutputRecord) -> Option<Vec<u8>> {
        let values = record.value.as_ref()?;
        let mut out = Vec::with_capacity(64 + 16 * values.len());
        self.encoder.encode_into(values, &mut out);
        Some(out)
    }

    /// True when the state already holds this record (a replay after a restart).
    pub fn already_processed(&self, partition: u32, offset: u64) -> bool {
        self.offsets
            .get(&partition)
            .is_some_and(|next| offset < *next)
    }

    fn snapshot_ref(&self) -> SnapshotRef<'_> {
        SnapshotRef {
            version: SNAPSHOT_VERSION,
            offsets: &self.offsets,
            state: match &self.stage {
                Stage::Aggregate(stage) => Some(&stage.state),
                Stage::Project { .. } => None,
            },
        }
    }

    /// The query's state with the input offsets it reflects, in a compact binary form
    /// (postcard after a magic line): a million windows save in a fraction of the time JSON
    /// takes, which matters every commit interval.
    pub fn snapshot(&self) -> Vec<u8> {
        match postcard::to_io(&self.snapshot_ref(), SNAPSHOT_MAGIC.to_vec()) {
            Ok(bytes) => bytes,
            // Should postcard ever refuse a value, JSON (which restore also reads) takes it.
            Err(_) => self.snapshot_json(),
        }
    }

    /// The same snapshot as JSON, the form earlier versions saved, for reading by people.
    pub fn snapshot_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.snapshot_ref()).unwrap_or_default()
    }

    /// Puts back a snapshot (binary, or the JSON earlier versions wrote); returns the next
    /// offset per input partition.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<Offsets, RestoreError> {
        let failed = |e: &dyn std::fmt::Display| RestoreError(e.to_string());
        let snapshot: Snapshot = if let Some(binary) = bytes.strip_prefix(SNAPSHOT_MAGIC) {
            postcard::from_bytes(binary).map_err(|e| failed(&e))?
        } else if let Some(binary) = bytes.strip_prefix(SNAPSHOT_MAGIC_V1) {
            let old: SnapshotV1 = postcard::from_bytes(binary).map_err(|e| failed(&e))?;
            Snapshot {
                version: 1,
                offsets: old.offsets,
                state: old.state,
            }
        } else {
            serde_json::from_slice(bytes).map_err(|e| failed(&e))?
        };
        if snapshot.version > SNAPSHOT_VERSION {
            return Err(RestoreError(format!(
                "the snapshot is of version {}, newer than this engine reads ({SNAPSHOT_VERSION})",
                snapshot.version
            )));
        }
        if let (Stage::Aggregate(stage), Some(mut state)) = (&mut self.stage, snapshot.state) {
            if snapshot.version == 1 {
                let groups = stage.group_by.len();
                for (_, partition) in state.iter_mut() {
                    partition.upgrade_v1_keys(groups)?;
                }
            }
            stage.state = state;
        }
        self.offsets = snapshot.offsets.clone();
        Ok(snapshot.offsets)
    }
}

/// What a binary snapshot starts with.
const SNAPSHOT_MAGIC: &[u8] = b"advisor-engine snapshot 2\n";
const SNAPSHOT_MAGIC_V1: &[u8] = b"advisor-engine snapshot 1\n";

/// KEY_FORMAT KAFKA: a single key column in Kafka's own serialization.
fn decode_kafka_key(bytes: &[u8], sql_type: &SqlType) -> Result<Value, String> {
    let fixed = |n: usize| -> Result<[u8; 8], String> {
        if bytes.len() != n {
            return Err(format!(
                "the key has {} bytes; a KAFKA {sql_type} key has {n}",
                bytes.len()
            ));
        }
        let mut buffer = [0u8; 8];
        buffer[8 - n..].copy_from_slice(bytes);
        Ok(buffer)
    };
    Ok(match sql_type {
        SqlType::String => Value::String(String::from_utf8_lossy(bytes).into()),
        SqlType::Bigint => Value::Integer(i64::from_be_bytes(fixed(8)?)),
        SqlType::Int => Value::Integer(i64::from(i32::from_be_bytes(
            fixed(4)?[4..]
                .try_into()
                .map_err(|_| "bad key".to_string())?,
        ))),
        SqlType::Double => Value::Double(f64::from_be_bytes(fixed(8)?)),
        other => return Err(format!("KAFKA keys of type {other} are not supported")),
    })
}

impl AggregateStage {
    /// Evaluates a row's group and its key form.
    fn group_of_row(
        &self,
        row: &Row,
        timestamp: i64,
        group: &mut Vec<Value>,
        key: &mut Vec<u8>,
    ) -> Result<(), String> {
        let ctx = Context {
            row,
            rowtime: timestamp,
            window: None,
            slots: &[],
        };
        if group.len() != self.group_by.len() {
            group.resize_with(self.group_by.len(), || Value::Null);
        }
        for (slot, expr) in group.iter_mut().zip(&self.group_by) {
            match expr {
                Compiled::Column(i) => row[*i].assign_to(slot),
                other => *slot = other.eval(&ctx).map_err(|e| e.to_string())?,
            }
            if slot.is_null() {
                return Err("the GROUP BY key is null; ksqlDB drops such records".into());
            }
        }
        key.clear();
        for value in group.iter() {
            value.write_key(key);
        }
        Ok(())
    }

    /// Finds a prepared record's group and prefetches the state slot of its newest window.
    /// A group that fails to evaluate is left to `update`, which reports it in turn.
    fn prefetch(&self, timestamp: i64, prepared: &mut Prepared) {
        let Prepared {
            row,
            keyed,
            group,
            group_key,
            ..
        } = prepared;
        if self.group_of_row(row, timestamp, group, group_key).is_err() {
            return;
        }
        *keyed = true;
        let Some(state) = self.state.get(0) else {
            return;
        };
        let group_len = group_key.len();
        if let Some(window) = &self.window {
            group_key.extend_from_slice(&window.newest_start(timestamp).to_be_bytes());
        }
        state.entries.prefetch(state.entries.hash(group_key));
        group_key.truncate(group_len);
    }

    /// Folds a row into its group's windows; true when every window had already closed.
    fn update(
        &mut self,
        prepared: &mut Prepared,
        timestamp: i64,
        out: &mut Outputs,
    ) -> Result<bool, String> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = self.update_with(&mut scratch, prepared, timestamp, out);
        self.scratch = scratch;
        result
    }

    fn update_with(
        &mut self,
        scratch: &mut Scratch,
        prepared: &mut Prepared,
        timestamp: i64,
        out: &mut Outputs,
    ) -> Result<bool, String> {
        let Prepared {
            row,
            keyed,
            group,
            group_key: key,
            ..
        } = prepared;
        if !*keyed {
            self.group_of_row(row, timestamp, group, key)?;
        }
        let ctx = Context {
            row,
            rowtime: timestamp,
            window: None,
            slots: &[],
        };
        let Scratch {
            windows,
            arguments,
            slots,
        } = scratch;
        // Arguments that are plain columns are read from the row as they are; the others are
        // all evaluated before any state changes, so an error leaves the state as it was.
        arguments.clear();
        for (_, argument) in &self.shape.aggs {
            match argument {
                None | Some(Compiled::Column(_)) => {}
                Some(a) => a.eval_onto(&ctx, arguments).map_err(|e| e.to_string())?,
            }
        }
        let group_len = key.len();
        // One state partition for now; scale-out splits by the group key's hash.
        let state = self.state.partition(0);
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
        for window in assigned {
            if let Some((_, end)) = window {
                if end + grace <= state.stream_time {
                    continue;
                }
            }
            open += 1;
            key.truncate(group_len);
            if let Some((start, _)) = window {
                key.extend_from_slice(&start.to_be_bytes());
            }
            let probe = StateKey::new(key);
            let hash = state.entries.hash(key);
            let mut created = false;
            let entry = state.entries.get_or_insert_with(&probe, hash, || {
                created = true;
                Entry {
                    accs: self
                        .shape
                        .aggs
                        .iter()
                        .map(|(kind, _)| kind.initial())
                        .collect(),
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
            if self.emit == Emit::Changes {
                self.shape
                    .row_into(group, window, entry, slots, out.next_record())?;
            }
        }
        let closed_some = self.window.is_some() && open == 0;
        // Checked here, where the state is at hand: most records close no window.
        if self.window.is_some() && state.stream_time - grace >= state.next_close {
            self.sweep(out)?;
        }
        Ok(closed_some)
    }

    /// Emits (EMIT FINAL) and drops the windows that stream time minus grace has passed, in
    /// order of window end, then key.
    fn sweep(&mut self, out: &mut Outputs) -> Result<(), String> {
        let Some(window) = &self.window else {
            return Ok(());
        };
        let size = window.size();
        let state = self.state.partition(0);
        let horizon = state.stream_time - window.grace;
        let mut closed: Vec<(i64, StateKey, Entry)> = Vec::new();
        let mut next_close = i64::MAX;
        let final_rows = self.emit == Emit::Final;
        state.entries.retain(|key, entry| {
            let end = window_start(key.as_bytes()) + size;
            if end <= horizon {
                if final_rows {
                    closed.push((end, key.clone(), std::mem::take(entry)));
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
                Some((end - size, end)),
                &entry,
                &mut slots,
                out.next_record(),
            )?;
        }
        Ok(())
    }

    /// The GROUP BY values a state key starts with.
    fn group_of(&self, key: &[u8]) -> Result<Vec<Value>, String> {
        let mut rest = key;
        (0..self.group_by.len())
            .map(|_| Value::read_key(&mut rest).ok_or_else(|| "corrupt state key".to_string()))
            .collect()
    }

    /// The window of a state key, when the query is windowed.
    fn window_of(&self, key: &[u8]) -> Option<(i64, i64)> {
        let window = self.window.as_ref()?;
        let start = window_start(key);
        Some((start, start + window.size()))
    }

    fn rows(&self) -> Vec<OutputRecord> {
        self.state
            .iter()
            .flat_map(|(_, state)| state.entries.iter())
            .filter_map(|(key, entry)| {
                let group = self.group_of(key.as_bytes()).ok()?;
                let mut row = OutputRecord::empty();
                self.shape
                    .row_into(
                        &group,
                        self.window_of(key.as_bytes()),
                        entry,
                        &mut Vec::new(),
                        &mut row,
                    )
                    .ok()?;
                Some(row)
            })
            .collect()
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

impl RowShape {
    /// Fills `row` with the output for one group and window, over whatever an earlier
    /// output left in it.
    fn row_into(
        &self,
        group: &[Value],
        window: Option<(i64, i64)>,
        entry: &Entry,
        slots: &mut Vec<Value>,
        row: &mut OutputRecord,
    ) -> Result<(), String> {
        let RowShape {
            aggs,
            having,
            key,
            value,
            direct,
        } = self;
        row.window = window;
        row.timestamp = entry.max_ts;
        if let Some(direct) = direct {
            // Each value is written into the column it had in the record's last use: a value
            // built aside and then moved in stalls on store forwarding.
            let fill = |columns: &[DirectColumn], values: &mut Vec<Value>| {
                if values.len() != columns.len() {
                    values.resize_with(columns.len(), || Value::Null);
                }
                for (slot, column) in values.iter_mut().zip(columns) {
                    match *column {
                        DirectColumn::Group(i) => match group.get(i) {
                            Some(value) => value.assign_to(slot),
                            None => *slot = Value::Null,
                        },
                        DirectColumn::Aggregate(i) => match (aggs.get(i), entry.accs.get(i)) {
                            (Some((kind, _)), Some(acc)) => kind.result_into(acc, slot),
                            _ => *slot = Value::Null,
                        },
                    }
                }
            };
            fill(&direct.key, &mut row.key);
            fill(&direct.value, row.value.get_or_insert_with(Vec::new));
            return Ok(());
        }
        row.key.clear();
        if let Some(values) = &mut row.value {
            values.clear();
        }
        slots.clear();
        slots.extend(
            aggs.iter()
                .zip(&entry.accs)
                .map(|((kind, _), acc)| kind.result(acc)),
        );
        let ctx = Context {
            row: group,
            rowtime: entry.max_ts,
            window,
            slots,
        };
        let evaluate = |exprs: &[Compiled], values: &mut Vec<Value>| -> Result<(), String> {
            for expr in exprs {
                expr.eval_onto(&ctx, values).map_err(|e| e.to_string())?;
            }
            Ok(())
        };
        evaluate(key, &mut row.key)?;
        let passes = match having {
            Some(h) => h.test(&ctx).map_err(|e| e.to_string())?,
            None => true,
        };
        if passes {
            evaluate(value, row.value.get_or_insert_with(Vec::new))?;
        } else {
            row.value = None;
        }
        Ok(())
    }
}
