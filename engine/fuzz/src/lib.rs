//! The fuzz targets' bodies: each takes any bytes and sends them through the entry points
//! the engine itself uses on a statement or a record, with declared column types. A target
//! passes when nothing panics; errors are the expected answer to most inputs, and each is
//! turned into its message so that the `Display` code runs too.
//!
//! The fuzzers (`fuzz_targets/*.rs`) call these, and so does the engine's regression test
//! (`engine/tests/fuzz_regressions.rs`, through `#[path]`), which feeds them every input
//! that once made the engine panic. So this file depends on `advisor_engine` alone.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use advisor_engine::engine::{Engine, Executed};
use advisor_engine::format::registry::Registered;
use advisor_engine::format::{
    avro, Codecs, Decoder, Format, Formats, KeyCodec, RegistryError, SchemaRegistry,
};
use advisor_engine::query::{InputRecord, Outputs, PersistentQuery};
use advisor_engine::sql::ast::{Located, SourceKind, SqlType, Statement};
use advisor_engine::value::{Column, Schema, Value};

/// A fuzz target's body: any bytes in, nothing out but a panic on a bug.
pub type Target = fn(&[u8]);

/// Every fuzz target by name, as `scripts/fuzz` and the regression test know them.
pub const TARGETS: &[(&str, Target)] = &[
    ("sql_parse", sql_parse),
    ("json_value", json_value),
    ("delimited_value", delimited_value),
    ("kafka_key", kafka_key),
    ("avro_value", avro_value),
    ("avro_schema", avro_schema),
    ("snapshot_restore", snapshot_restore),
];

// ---------------------------------------------------------------------------------------
// Column types

fn decimal(precision: u8, scale: u8) -> SqlType {
    SqlType::Decimal { precision, scale }
}

/// One column of each scalar type, DECIMALs at both ends of their range among them.
fn scalar_types() -> Vec<(String, SqlType)> {
    [
        ("B", SqlType::Boolean),
        ("I", SqlType::Int),
        ("L", SqlType::Bigint),
        ("D", SqlType::Double),
        ("S", SqlType::String),
        ("BY", SqlType::Bytes),
        ("DEC", decimal(10, 2)),
        ("DEC_WIDE", decimal(38, 0)),
        ("DEC_FRACTION", decimal(38, 38)),
        ("DT", SqlType::Date),
        ("TM", SqlType::Time),
        ("TS", SqlType::Timestamp),
    ]
    .into_iter()
    .map(|(name, sql_type)| (name.to_string(), sql_type))
    .collect()
}

/// The scalar columns and nested ones: arrays, maps and structs of each other.
fn all_types() -> Vec<(String, SqlType)> {
    let mut all = scalar_types();
    let boxed = Box::new;
    let structured = SqlType::Struct(vec![
        ("X".into(), SqlType::Int),
        ("Y".into(), SqlType::String),
        ("Z".into(), SqlType::Array(boxed(decimal(5, 3)))),
    ]);
    all.extend(
        [
            ("A", SqlType::Array(boxed(SqlType::Int))),
            (
                "AA",
                SqlType::Array(boxed(SqlType::Array(boxed(SqlType::String)))),
            ),
            ("M", SqlType::Map(boxed(SqlType::Double))),
            ("MS", SqlType::Map(boxed(structured.clone()))),
            ("ST", structured.clone()),
            ("AST", SqlType::Array(boxed(structured))),
            ("ATS", SqlType::Array(boxed(SqlType::Timestamp))),
        ]
        .into_iter()
        .map(|(name, sql_type)| (name.to_string(), sql_type)),
    );
    all
}

/// A schema with a STRING key column first (so value columns do not start at place 0),
/// then these value columns.
fn keyed_schema(columns: &[(String, SqlType)]) -> Schema {
    let mut schema = Schema {
        columns: vec![Column {
            name: "ROWKEY".into(),
            sql_type: SqlType::String,
            key: true,
        }],
    };
    schema
        .columns
        .extend(columns.iter().map(|(name, sql_type)| Column {
            name: name.clone(),
            sql_type: sql_type.clone(),
            key: false,
        }));
    schema
}

fn formats(key: Format, value: Format, wrap_single_value: bool) -> Formats {
    Formats {
        key,
        value,
        wrap_single_value,
    }
}

/// Decodes with the decoder the engine builds for these formats and schema, as a query's
/// input does (`Formats::value_decoder`), then writes the row back with the format's
/// encoder, as a query's output does.
fn decode_value(formats: &Formats, schema: &Schema, reads: &[bool], codecs: &Codecs, data: &[u8]) {
    let decoder = formats.value_decoder(schema, reads, codecs);
    decode_with(&*decoder, formats, schema, codecs, data);
}

fn decode_with(
    decoder: &dyn Decoder,
    formats: &Formats,
    schema: &Schema,
    codecs: &Codecs,
    data: &[u8],
) {
    match decoder.decode(data) {
        Ok(row) => {
            let values: Vec<Value> = schema
                .value_columns()
                .map(|(place, _)| row[place].clone())
                .collect();
            let names: Vec<String> = schema
                .value_columns()
                .map(|(_, c)| c.name.clone())
                .collect();
            let types: Vec<SqlType> = schema
                .value_columns()
                .map(|(_, c)| c.sql_type.clone())
                .collect();
            let encoder = formats.value_encoder("fuzz", &names, &types, codecs);
            let _ = encoder.encode(&values);
            for value in &values {
                let _ = value.to_string();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Decodes key bytes with the key codec the engine builds (`Formats::key_codec`), then
/// writes the key back.
fn decode_key(codec: &KeyCodec, width: usize, data: &[u8]) {
    let mut row = vec![Value::Null; width];
    match codec.decode_into(Some(data), &mut row) {
        Ok(()) => {
            let mut out = Vec::new();
            let _ = codec.encode(&row, &mut out);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn key_columns(columns: &[(String, SqlType)]) -> Vec<(usize, Column)> {
    columns
        .iter()
        .enumerate()
        .map(|(place, (name, sql_type))| {
            (
                place,
                Column {
                    name: name.clone(),
                    sql_type: sql_type.clone(),
                    key: true,
                },
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// JSON

/// A record value in the JSON format: as an object of every column type (reading every
/// column, and every other one as a query that needs only some does), as a bare value of
/// each type (WRAP_SINGLE_VALUE=false), and as JSON keys of one and of several columns.
pub fn json_value(data: &[u8]) {
    let codecs = Codecs::default();
    let all = all_types();
    let schema = keyed_schema(&all);
    let json = formats(Format::Kafka, Format::Json, true);
    let every = vec![true; schema.columns.len()];
    let some: Vec<bool> = (0..schema.columns.len()).map(|i| i % 2 == 0).collect();
    decode_value(&json, &schema, &every, &codecs, data);
    decode_value(&json, &schema, &some, &codecs, data);
    let bare = formats(Format::Kafka, Format::Json, false);
    for column in &all {
        let single = keyed_schema(std::slice::from_ref(column));
        decode_value(&bare, &single, &[true, true], &codecs, data);
        let key = KeyCodec::placed(
            Format::Json,
            key_columns(std::slice::from_ref(column)),
            "T",
            "t",
            &codecs,
        );
        decode_key(&key, 1, data);
    }
    let many = KeyCodec::placed(
        Format::Json,
        key_columns(&scalar_types()),
        "T",
        "t",
        &codecs,
    );
    decode_key(&many, scalar_types().len(), data);
    // A STRING event time in a TIMESTAMP_FORMAT, read from the record as a query reads it.
    run_query_on(
        "CREATE STREAM S (K STRING KEY, T STRING, V BIGINT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', TIMESTAMP='T', TIMESTAMP_FORMAT='yyyy-MM-dd''T''HH:mm:ss.SSSX');",
        "S",
        "s",
        None,
        Some(data),
    );
}

// ---------------------------------------------------------------------------------------
// DELIMITED

/// A record value in the DELIMITED format, with `,`, `|` and TAB between fields: every
/// scalar type at once, each alone, and as keys.
pub fn delimited_value(data: &[u8]) {
    let codecs = Codecs::default();
    let scalars = scalar_types();
    let schema = keyed_schema(&scalars);
    let every = vec![true; schema.columns.len()];
    for delimiter in [',', '|', '\t'] {
        let delimited = formats(Format::Kafka, Format::Delimited(delimiter), false);
        decode_value(&delimited, &schema, &every, &codecs, data);
        let key = KeyCodec::placed(
            Format::Delimited(delimiter),
            key_columns(&scalars),
            "T",
            "t",
            &codecs,
        );
        decode_key(&key, scalars.len(), data);
    }
    let delimited = formats(Format::Kafka, Format::Delimited(','), false);
    for column in &scalars {
        let single = keyed_schema(std::slice::from_ref(column));
        decode_value(&delimited, &single, &[true, true], &codecs, data);
    }
}

// ---------------------------------------------------------------------------------------
// KAFKA

/// Key bytes in the KAFKA format, read as each type it carries (and one it does not), as a
/// single value column in the same format, and as the key of a source declared with each
/// WINDOW_TYPE, whose key bytes end with the window.
pub fn kafka_key(data: &[u8]) {
    let codecs = Codecs::default();
    let kafka = formats(Format::Kafka, Format::Kafka, false);
    for sql_type in [
        SqlType::String,
        SqlType::Int,
        SqlType::Bigint,
        SqlType::Double,
        SqlType::Bytes,
        SqlType::Boolean,
    ] {
        let column = vec![("K".to_string(), sql_type)];
        let key = KeyCodec::placed(Format::Kafka, key_columns(&column), "T", "t", &codecs);
        decode_key(&key, 1, data);
        decode_value(&kafka, &keyed_schema(&column), &[true, true], &codecs, data);
    }
    for (sql_type, window) in [
        ("STRING", "WINDOW_TYPE='SESSION'"),
        ("BIGINT", "WINDOW_TYPE='TUMBLING', WINDOW_SIZE='1 SECOND'"),
        ("INT", "WINDOW_TYPE='HOPPING', WINDOW_SIZE='10 DAYS'"),
    ] {
        run_query_on(
            &format!("CREATE STREAM W (K {sql_type} KEY, V BIGINT) WITH (KAFKA_TOPIC='w', VALUE_FORMAT='JSON', {window});"),
            "W",
            "w",
            Some(data),
            Some(b"{\"V\": 1}"),
        );
    }
}

// ---------------------------------------------------------------------------------------
// AVRO

/// A Schema Registry that holds fixed schemas: what the engine reads through its trait.
struct FixedRegistry {
    by_id: HashMap<u32, Arc<str>>,
    /// Subject to the id of its latest schema.
    latest: HashMap<String, u32>,
}

impl SchemaRegistry for FixedRegistry {
    fn schema_by_id(&self, id: u32) -> Result<Arc<str>, RegistryError> {
        self.by_id
            .get(&id)
            .cloned()
            .ok_or_else(|| RegistryError::NotFound(format!("no schema {id}")))
    }

    fn latest(&self, subject: &str) -> Result<Option<Registered>, RegistryError> {
        Ok(self.latest.get(subject).map(|id| Registered {
            id: *id,
            schema: self.by_id[id].to_string(),
        }))
    }

    fn register(&self, _subject: &str, _schema: &str) -> Result<u32, RegistryError> {
        Ok(1000)
    }

    fn outage(&self) -> Option<String> {
        None
    }
}

/// A writer schema of another producer than ksqlDB for the all-types columns: fields out of
/// order and in other cases, narrower and other types that Avro's resolution or ksqlDB's
/// coercions map onto the columns, a Connect map, logical types of other units.
const FOREIGN_SCHEMA: &str = r#"{
  "type": "record", "name": "Foreign", "namespace": "fuzz",
  "fields": [
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "b", "type": ["null", "boolean"]},
    {"name": "i", "type": "int"},
    {"name": "l", "type": ["null", "int", "long"]},
    {"name": "d", "type": "float"},
    {"name": "s", "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN"]}},
    {"name": "by", "type": {"type": "fixed", "name": "Four", "size": 4}},
    {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
    {"name": "dec_wide", "type": {"type": "fixed", "name": "Wide", "size": 16, "logicalType": "decimal", "precision": 38, "scale": 0}},
    {"name": "dec_fraction", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 38}]},
    {"name": "dt", "type": {"type": "int", "logicalType": "date"}},
    {"name": "tm", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "a", "type": {"type": "array", "items": "long"}},
    {"name": "aa", "type": {"type": "array", "items": {"type": "array", "items": ["null", "string", "long"]}}},
    {"name": "m", "type": {"type": "array", "items": {"type": "record", "name": "Entry", "fields": [
      {"name": "key", "type": "string"}, {"name": "value", "type": ["null", "double"]}]}}},
    {"name": "ms", "type": {"type": "map", "values": {"type": "record", "name": "Inner", "fields": [
      {"name": "z", "type": {"type": "array", "items": {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 3}}},
      {"name": "X", "type": "long"}, {"name": "extra", "type": "string"}]}}},
    {"name": "st", "type": ["null", "Inner"]},
    {"name": "ast", "type": {"type": "array", "items": "Inner"}},
    {"name": "ats", "type": {"type": "array", "items": {"type": "long", "logicalType": "local-timestamp-micros"}}},
    {"name": "unused", "type": {"type": "map", "values": "string"}}
  ]
}"#;

/// The writer schemas of the AVRO target, by id: 1 is the record ksqlDB writes for the
/// all-types columns, 2 another producer's record for them, 3 on the single columns'
/// bare types as ksqlDB writes a single key, in `all_types` order.
fn avro_schemas() -> Vec<(u32, String)> {
    let all = all_types();
    let mut schemas = vec![
        (
            1,
            avro::columns_schema(&all, true, avro::RECORD_NAME).to_string(),
        ),
        (2, FOREIGN_SCHEMA.to_string()),
    ];
    for (n, column) in all.iter().enumerate() {
        let id = 3 + n as u32;
        schemas.push((
            id,
            avro::columns_schema(std::slice::from_ref(column), false, avro::RECORD_NAME)
                .to_string(),
        ));
    }
    schemas
}

fn avro_codecs(schemas: Vec<(u32, String)>) -> Codecs {
    let by_id: HashMap<u32, Arc<str>> = schemas
        .into_iter()
        .map(|(id, text)| (id, Arc::from(text.as_str())))
        .collect();
    let latest = [("av-value".to_string(), 1), ("av-key".to_string(), 3 + 4)]
        .into_iter()
        .collect();
    Codecs::with_registry(Arc::new(FixedRegistry { by_id, latest }))
}

/// The Avro decoders, built once: a decoder caches the writer schemas it has resolved.
struct AvroCase {
    codecs: Codecs,
    /// How many writer schemas there are: ids 1 to `count`.
    count: u32,
    wrapped: (Formats, Schema, Box<dyn Decoder>),
    /// One per column type: (key codec, value decoder with WRAP_SINGLE_VALUE=false).
    single: Vec<(KeyCodec, Formats, Schema, Box<dyn Decoder>)>,
}

fn avro_case() -> AvroCase {
    let schemas = avro_schemas();
    let count = schemas.len() as u32;
    let codecs = avro_codecs(schemas);
    let all = all_types();
    let schema = keyed_schema(&all);
    let wrapped_formats = formats(Format::Kafka, Format::Avro, true);
    let every = vec![true; schema.columns.len()];
    let decoder = wrapped_formats.value_decoder(&schema, &every, &codecs);
    let bare = formats(Format::Kafka, Format::Avro, false);
    let single = all
        .iter()
        .map(|column| {
            let columns = std::slice::from_ref(column);
            let key = KeyCodec::placed(Format::Avro, key_columns(columns), "T", "t", &codecs);
            let single = keyed_schema(columns);
            let decoder = bare.value_decoder(&single, &[true, true], &codecs);
            (key, bare, single, decoder)
        })
        .collect();
    AvroCase {
        codecs,
        count,
        wrapped: (wrapped_formats, schema, decoder),
        single,
    }
}

thread_local! {
    static AVRO: AvroCase = avro_case();
}

/// Confluent-framed Avro: the bytes as they come (magic byte, schema id, body), and the
/// bytes after the first framed with the writer schema the first picks, so that the fuzzer
/// spends its time on bodies: a record of every column type (ksqlDB's schema and another
/// producer's), or a single column's bare datum, read as a key and as an unwrapped value.
pub fn avro_value(data: &[u8]) {
    AVRO.with(|case| {
        let (formats, schema, decoder) = &case.wrapped;
        decode_with(&**decoder, formats, schema, &case.codecs, data);
        let Some((&pick, body)) = data.split_first() else {
            return;
        };
        let id = 1 + u32::from(pick) % case.count;
        let mut framed = vec![0];
        framed.extend(id.to_be_bytes());
        framed.extend(body);
        if id <= 2 {
            decode_with(&**decoder, formats, schema, &case.codecs, &framed);
        } else {
            let (key, formats, schema, decoder) = &case.single[(id - 3) as usize];
            decode_key(key, 1, &framed);
            decode_with(&**decoder, formats, schema, &case.codecs, &framed);
        }
    });
}

/// A writer schema as the Schema Registry hands it over: the columns the engine infers
/// from it for a source declared without columns, and records read with it as the
/// all-types columns and as each single column.
pub fn avro_schema(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for key in [false, true] {
        if let Err(e) = avro::inferred_columns(text, key) {
            let _ = e.to_string();
        }
    }
    let codecs = avro_codecs(vec![(1, text.to_string())]);
    let all = all_types();
    let schema = keyed_schema(&all);
    let every = vec![true; schema.columns.len()];
    let bodies: [&[u8]; 3] = [&[], &[2, 4, 6, 8, 0, 2, 0x61, 2, 0, 0], &[0; 64]];
    let wrapped = formats(Format::Kafka, Format::Avro, true);
    let decoder = wrapped.value_decoder(&schema, &every, &codecs);
    let bare = formats(Format::Kafka, Format::Avro, false);
    let singles: Vec<_> = all
        .iter()
        .map(|column| {
            let single = keyed_schema(std::slice::from_ref(column));
            let decoder = bare.value_decoder(&single, &[true, true], &codecs);
            (single, decoder)
        })
        .collect();
    for body in bodies {
        let mut framed = vec![0, 0, 0, 0, 1];
        framed.extend(body);
        decode_with(&*decoder, &wrapped, &schema, &codecs, &framed);
        for (single, decoder) in &singles {
            decode_with(&**decoder, &bare, single, &codecs, &framed);
        }
    }
}

// ---------------------------------------------------------------------------------------
// SQL

/// The sources every SQL input can use, from the tutorial and of every column type; the
/// names differ from those the QTT cases create, so that those create their own.
const CATALOG: &str = "
CREATE STREAM ORDER_EVENTS (ORDER_ID BIGINT, CUSTOMER_ID STRING, ORDER_STATUS STRING,
  ORDER_TOTAL DOUBLE, CREATED_AT BIGINT) WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON');
CREATE STREAM CLICKSTREAM (USER_ID STRING, PAGE_URL STRING, EVENT_TIME BIGINT)
  WITH (KAFKA_TOPIC='clickstream-events', VALUE_FORMAT='JSON', TIMESTAMP='EVENT_TIME');
CREATE STREAM ALLTYPES (ID STRING KEY, B BOOLEAN, I INT, L BIGINT, D DOUBLE, S STRING,
  BY BYTES, DEC DECIMAL(10, 2), DT DATE, TM TIME, TS TIMESTAMP, A ARRAY<INT>,
  M MAP<STRING, DOUBLE>, ST STRUCT<X INT, Y STRING>) WITH (KAFKA_TOPIC='alltypes', VALUE_FORMAT='JSON');
CREATE STREAM LINES (ID BIGINT KEY, NAME STRING, QTY INT, PRICE DECIMAL(6, 2))
  WITH (KAFKA_TOPIC='lines', FORMAT='DELIMITED');
CREATE STREAM AV WITH (KAFKA_TOPIC='av', VALUE_FORMAT='AVRO');
CREATE TABLE ITEMS (ID BIGINT PRIMARY KEY, NAME STRING, V DOUBLE)
  WITH (KAFKA_TOPIC='items', VALUE_FORMAT='JSON');
CREATE TABLE CUSTOMER_ORDER_TOTALS AS SELECT CUSTOMER_ID, COUNT(*) AS ORDER_COUNT,
  SUM(ORDER_TOTAL) AS TOTAL_SPENT, MAX(CREATED_AT) AS LAST_ORDER_TIME FROM ORDER_EVENTS
  WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY CUSTOMER_ID EMIT CHANGES;
CREATE TABLE ITEM_COUNTS AS SELECT NAME, COUNT(*) AS N FROM ITEMS GROUP BY NAME;
";

fn catalog() -> &'static [Located] {
    static PARSED: OnceLock<Vec<Located>> = OnceLock::new();
    PARSED.get_or_init(|| advisor_engine::sql::parse(CATALOG).expect("the catalog parses"))
}

/// An engine with the catalog's sources and queries, and a Schema Registry.
fn catalog_engine() -> Engine {
    let mut engine = Engine::default().with_codecs(avro_codecs(avro_schemas()));
    for located in catalog() {
        if let Err(e) = engine.execute(located) {
            panic!("the catalog's statement {} fails: {e}", located.text);
        }
    }
    engine
}

/// Statements as the REST API and a queries file take them: parsed, then each run against
/// an engine holding a small catalog. CREATE statements are planned and their queries
/// started; a SELECT is planned as a push query on a stream, or as a pull or push query on
/// a table; every query started is fed records of its sources' columns, typical, at the
/// ends of their types' ranges, and null, and its outputs are written.
pub fn sql_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let statements = match advisor_engine::sql::parse(text) {
        Ok(statements) => statements,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let mut engine = catalog_engine();
    for located in &statements {
        run_statement(&mut engine, located);
    }
}

fn run_statement(engine: &mut Engine, located: &Located) {
    match &located.statement {
        Statement::CreateSource { .. } | Statement::CreateAsSelect { .. } => {
            match engine.execute(located) {
                Ok(Executed::QueryStarted { .. }) => {
                    if let Some(mut query) = engine.queries.pop() {
                        feed(engine, &mut query);
                        engine.queries.push(query);
                    }
                }
                Ok(Executed::Created { .. }) => {}
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
        Statement::Select(select) => {
            let Some(source) = engine.sources.get(select.source_name()).cloned() else {
                return;
            };
            if source.kind == SourceKind::Table {
                // A pull query, or a push query on a table: both evaluate a view of it.
                match advisor_engine::plan::view::TableView::plan(engine, select) {
                    Ok(view) => {
                        if let Some(owner) = engine.queries.iter().find(|q| q.id == view.owner) {
                            for record in owner.table_rows() {
                                if let Err(e) = view.evaluate(&record) {
                                    let _ = e.to_string();
                                }
                            }
                        }
                    }
                    Err(e) => {
                        let _ = e.to_string();
                    }
                }
            } else {
                // A push query on a stream, planned as the REST API plans it.
                let mut transient = select.clone();
                transient.emit = None;
                transient.limit = None;
                let planned = advisor_engine::plan::plan(
                    SourceKind::Stream,
                    "PUSH",
                    &Default::default(),
                    &transient,
                    &source,
                    &engine.settings,
                );
                match planned {
                    Ok(planned) => {
                        let mut query = PersistentQuery::new(
                            "transient".into(),
                            located.text.clone(),
                            planned,
                            &[&source],
                            &engine.codecs,
                        );
                        feed(engine, &mut query);
                    }
                    Err(e) => {
                        let _ = e.to_string();
                    }
                }
            }
        }
        _ => {}
    }
}

/// Values of a column type: typical (0), at the ends of the type's range (1, 2), null (3).
fn sample(sql_type: &SqlType, which: usize) -> Value {
    use advisor_engine::decimal::Decimal;
    if which == 3 {
        return Value::Null;
    }
    let pick = |values: [Value; 3]| values[which].clone();
    match sql_type {
        SqlType::Boolean => Value::Boolean(which == 0),
        SqlType::Int => pick([
            Value::Integer(7),
            Value::Integer(i64::from(i32::MAX)),
            Value::Integer(i64::from(i32::MIN)),
        ]),
        SqlType::Bigint => pick([
            Value::Integer(1_700_000_000_000),
            Value::Integer(i64::MAX),
            Value::Integer(i64::MIN),
        ]),
        SqlType::Double => pick([
            Value::Double(2.5),
            Value::Double(f64::MAX),
            Value::Double(-0.0),
        ]),
        SqlType::String => pick([
            Value::String("a,b|c".into()),
            Value::String("".into()),
            Value::String("\u{10FFFF}\"\\\n9223372036854775808".into()),
        ]),
        SqlType::Bytes => pick([
            Value::Bytes(vec![1, 2, 3]),
            Value::Bytes(Vec::new()),
            Value::Bytes(vec![0xff; 17]),
        ]),
        SqlType::Decimal { precision, scale } => {
            let max = "9".repeat(usize::from(*precision));
            let text = match which {
                0 => "12.34".to_string(),
                1 => max,
                _ => format!("-{max}"),
            };
            let unscaled: i128 = text.parse::<i128>().unwrap_or(1234);
            let given = if which == 0 { 2 } else { *scale };
            match Decimal::of(unscaled, given).and_then(|d| d.cast(*precision, *scale)) {
                Ok(d) => Value::Decimal(Box::new(d)),
                Err(_) => Value::Null,
            }
        }
        SqlType::Date => pick([
            Value::Date(19_000),
            Value::Date(i32::MAX),
            Value::Date(i32::MIN),
        ]),
        SqlType::Time => pick([
            Value::Time(3_600_000),
            Value::Time(86_399_999),
            Value::Time(0),
        ]),
        SqlType::Timestamp => pick([
            Value::Timestamp(1_700_000_000_000),
            Value::Timestamp(i64::MAX),
            Value::Timestamp(i64::MIN),
        ]),
        SqlType::Array(inner) => Value::Array(vec![sample(inner, which), Value::Null]),
        SqlType::Map(inner) => Value::Map(vec![
            ("k".into(), sample(inner, which)),
            ("".into(), Value::Null),
        ]),
        SqlType::Struct(fields) => Value::Struct(
            fields
                .iter()
                .map(|(name, t)| (name.as_str().into(), sample(t, which)))
                .collect(),
        ),
    }
}

/// Feeds a started query records of each of its sources: samples of every column, written
/// in the source's own key and value formats; then ends stream time, as the end of a file
/// does, and writes what came out.
fn feed(engine: &Engine, query: &mut PersistentQuery) {
    let sources: Vec<_> = query
        .inputs
        .iter()
        .filter_map(|input| engine.sources.get(&input.source).cloned())
        .collect();
    let mut out = Outputs::new();
    let mut dead = Vec::new();
    for (offset, which) in [0, 1, 2, 3, 0].into_iter().enumerate() {
        for source in &sources {
            let schema = &source.schema;
            let keys: Vec<Value> = schema
                .key_columns()
                .map(|(_, c)| sample(&c.sql_type, which))
                .collect();
            let values: Vec<Value> = schema
                .value_columns()
                .map(|(_, c)| sample(&c.sql_type, which))
                .collect();
            let names: Vec<String> = schema
                .value_columns()
                .map(|(_, c)| c.name.clone())
                .collect();
            let types: Vec<SqlType> = schema
                .value_columns()
                .map(|(_, c)| c.sql_type.clone())
                .collect();
            let Ok(value) = source
                .formats
                .value_encoder(&source.topic, &names, &types, &engine.codecs)
                .encode(&values)
            else {
                continue;
            };
            let mut key = Vec::new();
            let Ok(has_key) = source
                .formats
                .key_codec(schema, &source.name, &source.topic, &engine.codecs)
                .encode(&keys, &mut key)
            else {
                continue;
            };
            if source.window.is_some() {
                key.extend(1_000i64.to_be_bytes());
                key.extend(0i64.to_be_bytes());
            }
            let record = InputRecord {
                topic: &source.topic,
                partition: offset as u32 % 2,
                offset: offset as u64,
                timestamp: 1_700_000_000_000 + offset as i64 * 1_000,
                key: has_key.then_some(key.as_slice()),
                value: Some(&value),
            };
            query.process(&record, &mut out, &mut dead);
        }
    }
    query.advance(i64::MAX, &mut out, &mut dead);
    for record in out.iter() {
        let _ = query.encode_key(record);
        let _ = query.encode_value(record);
    }
    let _ = query.table_rows();
    for letter in &dead {
        dead_letter_is_json(letter);
    }
}

/// Whatever the record held, its dead letter is one valid JSON object.
fn dead_letter_is_json(letter: &advisor_engine::query::DeadLetter) {
    let mut bytes = Vec::new();
    letter.write_json(&mut bytes);
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        panic!(
            "a dead letter is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

/// Runs `create` (a CREATE STREAM of `name` over `topic`) and `CREATE STREAM OUT AS SELECT
/// *` from it, and feeds that query one record with this key and value.
fn run_query_on(create: &str, name: &str, topic: &str, key: Option<&[u8]>, value: Option<&[u8]>) {
    let mut engine = Engine::default();
    let sql = format!("{create}\nCREATE STREAM OUT AS SELECT * FROM {name};");
    for located in &advisor_engine::sql::parse(&sql).expect("the statements parse") {
        if let Err(e) = engine.execute(located) {
            panic!("{} fails: {e}", located.text);
        }
    }
    let Some(query) = engine.queries.last_mut() else {
        panic!("no query runs over {name}");
    };
    let mut out = Outputs::new();
    let mut dead = Vec::new();
    let record = InputRecord {
        topic,
        partition: 0,
        offset: 0,
        timestamp: 0,
        key,
        value,
    };
    query.process(&record, &mut out, &mut dead);
    for record in out.iter() {
        let _ = query.encode_key(record);
        let _ = query.encode_value(record);
    }
    for letter in &dead {
        dead_letter_is_json(letter);
    }
}

// ---------------------------------------------------------------------------------------
// Snapshots

/// Queries of every kind that keeps state: the aggregations of the snapshots versions 1
/// and 2 saved (engine/tests/fixtures), a session window, an unwindowed aggregation, a
/// stream-table join and a table aggregation.
const STATEFUL: &str = "
CREATE STREAM clicks (user_id STRING, at BIGINT)
  WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', TIMESTAMP='at');
CREATE TABLE per_minute AS SELECT user_id, COUNT(*) AS n, COLLECT_SET(at % 7) AS residues
  FROM clicks WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY user_id EMIT CHANGES;
CREATE TABLE per_minute_v1 AS SELECT user_id, COUNT(*) AS n, COUNT_DISTINCT(at % 5) AS residues
  FROM clicks WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY user_id EMIT CHANGES;
CREATE TABLE sessions AS SELECT user_id, COUNT(*) AS n, COLLECT_LIST(at) AS ats
  FROM clicks WINDOW SESSION (30 SECONDS) GROUP BY user_id;
CREATE TABLE totals AS SELECT user_id, SUM(at) AS total, AVG(at) AS mean,
  LATEST_BY_OFFSET(at) AS latest FROM clicks GROUP BY user_id;
CREATE TABLE users (user_id STRING PRIMARY KEY, name STRING)
  WITH (KAFKA_TOPIC='users', VALUE_FORMAT='JSON');
CREATE STREAM named AS SELECT c.user_id, u.name, c.at FROM clicks c JOIN users u
  ON c.user_id = u.user_id;
CREATE TABLE per_name AS SELECT name, COUNT(*) AS n FROM users GROUP BY name;
";

fn stateful_engine() -> Engine {
    static PARSED: OnceLock<Vec<Located>> = OnceLock::new();
    let statements =
        PARSED.get_or_init(|| advisor_engine::sql::parse(STATEFUL).expect("the queries parse"));
    let mut engine = Engine::default();
    for located in statements {
        if let Err(e) = engine.execute(located) {
            panic!("{} fails: {e}", located.text);
        }
    }
    engine
}

/// Feeds a query users and clicks, from `first` on.
fn feed_clicks(query: &mut PersistentQuery, first: u64, count: u64) {
    let mut out = Outputs::new();
    let mut dead = Vec::new();
    for n in first..first + count {
        let user = format!("u{}", n % 7);
        let (topic, key, value) = if n % 5 == 0 {
            (
                "users",
                user.clone(),
                format!("{{\"NAME\": \"name{}\"}}", n % 3),
            )
        } else {
            (
                "clicks",
                user.clone(),
                format!("{{\"USER_ID\": \"{user}\", \"AT\": {}}}", n * 7_000),
            )
        };
        let record = InputRecord {
            topic,
            partition: (n % 2) as u32,
            offset: n,
            timestamp: n as i64 * 7_000,
            key: Some(key.as_bytes()),
            value: Some(value.as_bytes()),
        };
        query.process(&record, &mut out, &mut dead);
    }
}

/// A saved snapshot as a checkpoint store hands it back (this version's binary form, or
/// versions 1 and 2, binary or JSON), restored into each stateful query; where one takes
/// it, the query goes on with more records, shows its rows and saves itself again.
pub fn snapshot_restore(data: &[u8]) {
    let mut engine = stateful_engine();
    for query in &mut engine.queries {
        match query.restore(data) {
            Ok(_) => {
                feed_clicks(query, 1_000, 3);
                let _ = query.table_rows();
                if let Err(e) = query.snapshot() {
                    let _ = e.to_string();
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}

/// Seeds only the engine can write: the snapshot of each stateful query after some records,
/// by query id. `ADVISOR_WRITE_FUZZ_SEEDS=1 cargo test -p advisor-engine --test
/// fuzz_regressions` writes them to corpus/snapshot_restore/.
pub fn snapshot_seeds() -> Vec<(String, Vec<u8>)> {
    let mut engine = stateful_engine();
    engine
        .queries
        .iter_mut()
        .filter_map(|query| {
            feed_clicks(query, 0, 40);
            let bytes = query.snapshot().ok()?;
            Some((format!("v3-{}", query.id.to_ascii_lowercase()), bytes))
        })
        .collect()
}
