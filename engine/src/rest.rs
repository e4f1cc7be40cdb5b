//! The ksqlDB-compatible REST API: /info, /healthcheck, /ksql and /metrics, in ksqlDB's own
//! response shapes, so existing clients work. Statements run against the shared engine;
//! a Kafka worker thread runs its queries. Every request passes a body limit (`limit`) and,
//! when configured, authentication (`auth`) first.

pub mod auth;
pub mod limit;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::connector::kafka::KafkaOptions;
use crate::engine::{Engine, Executed};
use crate::plan::view::{Columns, TableView};
use crate::runtime::{RuntimeError, Taps};
use crate::sql::ast::{Located, SourceKind, Statement};
use crate::sql::parse;

/// ksqlDB's version line that clients print; the engine's own version follows it.
pub const KSQL_VERSION: &str = "0.29.0";

/// How query results are written: `/query`'s JSON array or `/query-stream`'s lines.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Query,
    Stream,
}

impl Style {
    fn header(self, query_id: &str, columns: &Columns) -> String {
        match self {
            Style::Query => {
                let schema: Vec<String> = columns
                    .names
                    .iter()
                    .zip(&columns.types)
                    .zip(&columns.keys)
                    .map(|((n, t), k)| format!("`{n}` {t}{}", if *k { " KEY" } else { "" }))
                    .collect();
                format!(
                    "[{}",
                    json!({"header": {"queryId": query_id, "schema": schema.join(", ")}})
                )
            }
            Style::Stream => format!(
                "{}\n",
                json!({"queryId": query_id, "columnNames": columns.names, "columnTypes": columns.types})
            ),
        }
    }

    fn row(self, columns: &[Value]) -> String {
        match self {
            Style::Query => format!(",\n{}", json!({"row": {"columns": columns}})),
            Style::Stream => format!("{}\n", Value::Array(columns.to_vec())),
        }
    }

    fn end(self, limit_reached: bool) -> String {
        match (self, limit_reached) {
            (Style::Query, true) => ",\n{\"finalMessage\":\"Limit Reached\"}]".into(),
            (Style::Query, false) => "]".into(),
            (Style::Stream, _) => String::new(),
        }
    }

    /// The last chunk of a push query that ends in an error, in ksqlDB's shapes: /query's
    /// array ends with an `errorMessage` row, /query-stream writes the error object.
    fn error(self, message: &str) -> String {
        let error = json!({"@type": "generic_error", "error_code": 50000, "message": message});
        match self {
            Style::Query => format!(",\n{}]", json!({ "errorMessage": error })),
            Style::Stream => format!("{error}\n"),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Style::Query => "application/vnd.ksql.v1+json",
            Style::Stream => "application/vnd.ksqlapi.delimited.v1",
        }
    }
}

/// How far, in bytes of rows, a push query's client may fall behind before the query is
/// closed. ksqlDB v1 blocks a transient query when its queue of 500 rows is full
/// (TransientQueryQueue.acceptRow), which stalls only that query's own Kafka Streams
/// threads; here every push query is fed by the one worker that runs all persistent
/// queries, so waiting for one client would stall everything. Its scalable push queries
/// (v2) do what the engine does: a full queue drops the row and ends the query with an
/// error (ProcessingQueue.offer, PushPhysicalPlan.isErrored). Bytes rather than rows bound
/// the memory whatever the rows' width, and 4 MiB is some sixteen of the worker's
/// 256 KiB Kafka batches: a client that reads falls that far behind only if it stops.
pub const PUSH_QUEUE_BYTES: usize = 4 << 20;

/// What a queued chunk costs beyond its text (the String and the channel's slot), so that
/// tiny rows are bounded too.
const CHUNK_OVERHEAD: usize = 64;

/// Push queries closed because their client fell more than PUSH_QUEUE_BYTES behind.
static SLOW_PUSHES_CLOSED: AtomicU64 = AtomicU64::new(0);

/// A push query reading along with the worker: its rows go to the HTTP response.
struct Push {
    /// The query id its header carries, which /close-query names.
    id: String,
    style: Style,
    feed: Feed,
    chunks: tokio::sync::mpsc::UnboundedSender<String>,
    /// Bytes sent to the response and not yet taken by it: the channel is bounded by this
    /// count, which the response lowers as it takes each chunk.
    queued: Arc<AtomicUsize>,
    remaining: Option<u64>,
    done: bool,
}

/// What a push query reads: a stream's records from its topic, or the changes of a table
/// as the query that builds it makes them.
enum Feed {
    Stream {
        topic: String,
        query: Box<crate::query::PersistentQuery>,
    },
    Table {
        owner: String,
        view: TableView,
    },
}

impl Push {
    /// Sends one row; false once the push is over (limit reached, client gone, or client
    /// too far behind).
    fn send(&mut self, columns: &[Value]) -> bool {
        if self.done {
            return false;
        }
        let row = self.style.row(columns);
        let behind = self.queued.load(Ordering::Acquire);
        if behind + row.len() + CHUNK_OVERHEAD > PUSH_QUEUE_BYTES {
            SLOW_PUSHES_CLOSED.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                query = %self.id,
                behind,
                "closing push query {}: its client fell more than {PUSH_QUEUE_BYTES} bytes of rows behind (it is not reading)",
                self.id
            );
            self.end(self.style.error(&format!(
                "Push query {} was closed: the client fell more than {PUSH_QUEUE_BYTES} bytes of rows behind",
                self.id
            )));
            return false;
        }
        if !self.enqueue(row) {
            self.done = true;
            return false;
        }
        if let Some(remaining) = self.remaining.as_mut() {
            *remaining -= 1;
            if *remaining == 0 {
                self.end(self.style.end(true));
            }
        }
        !self.done
    }

    /// Queues a chunk for the response, counted against the bound; false when the client
    /// has gone.
    fn enqueue(&self, chunk: String) -> bool {
        let size = chunk.len() + CHUNK_OVERHEAD;
        self.queued.fetch_add(size, Ordering::AcqRel);
        if self.chunks.send(chunk).is_err() {
            self.queued.fetch_sub(size, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Sends the last chunk, past the bound (it is small and the last), and ends the push.
    fn end(&mut self, last: String) {
        let _ = self.enqueue(last);
        self.done = true;
    }
}

pub struct Shared {
    pub engine: Mutex<Engine>,
    pushes: Mutex<Vec<Push>>,
    next_push: AtomicU64,
    pub service_id: String,
    pub kafka: Option<KafkaOptions>,
    command_sequence: AtomicU64,
    /// The Kafka worker's last error, reported by /healthcheck.
    worker_error: Mutex<Option<String>>,
    /// Every statement that changed the catalog, in order, so a restart with the same state
    /// folder brings back the same streams, tables and queries (ksqlDB keeps them in its
    /// command topic).
    command_log: Option<PathBuf>,
    /// Set on SIGTERM or Ctrl-C: the worker checkpoints and leaves the consumer group.
    stopping: std::sync::atomic::AtomicBool,
    /// The producer of /inserts-stream, made on first use.
    inserter: Mutex<Option<Arc<crate::connector::kafka::Inserter>>>,
    /// The engine's codecs, read without its lock: /healthcheck reports a Schema Registry
    /// outage while the worker waits one out holding the engine.
    codecs: crate::format::Codecs,
}

/// Statements that change the catalog, and so go to the command log.
fn changes_catalog(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::CreateSource { .. }
            | Statement::CreateAsSelect { .. }
            | Statement::Terminate(_)
            | Statement::Drop { .. }
    )
}

impl Shared {
    fn log_command(&self, located: &Located) -> std::io::Result<()> {
        let Some(path) = &self.command_log else {
            return Ok(());
        };
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)?;
        }
        let mut text = located.text.trim().to_string();
        if !text.ends_with(';') {
            text.push(';');
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        std::io::Write::write_all(&mut file, format!("{text}\n").as_bytes())?;
        file.sync_data()
    }

    /// Runs the command log of an earlier run; statements that no longer apply (the --sql
    /// file made them already) are reported and skipped.
    fn replay_commands(&self) -> std::io::Result<usize> {
        let Some(path) = &self.command_log else {
            return Ok(0);
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let statements = parse(&text).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is not valid SQL: {e}", path.display()),
            )
        })?;
        let mut replayed = 0;
        for located in &statements {
            match self.run(located) {
                Ok(_) => replayed += 1,
                Err((_, _, message)) => {
                    tracing::warn!(line = located.line, "skipped a logged statement: {message}")
                }
            }
        }
        Ok(replayed)
    }

    /// ksqlDB's ksql.logging.processing.stream.auto.create: after the command log is
    /// replayed, the processing-log stream is declared over the dead-letter topic unless a
    /// source of its name exists, and logged as a command so that queries over it replay
    /// after it. As in ksqlDB, a stream that cannot be declared is a warning, not a stop.
    fn declare_processing_log(&self, topic: &str) -> std::io::Result<()> {
        let stream = match self.engine.lock() {
            Ok(engine) if engine.settings.processing_log.stream_auto_create => {
                engine.settings.processing_log.stream_name.clone()
            }
            _ => return Ok(()),
        };
        let text = crate::processing_log::stream_statement(&stream, topic);
        let located = match parse(&text).map(|mut s| s.pop()) {
            Ok(Some(located)) => located,
            Ok(None) | Err(_) => {
                tracing::warn!("ksql.logging.processing.stream.name {stream:?} is not a stream name; no processing-log stream");
                return Ok(());
            }
        };
        if let Statement::CreateSource { name, .. } = &located.statement {
            let exists = self
                .engine
                .lock()
                .map(|engine| engine.sources.contains_key(name))
                .unwrap_or(true);
            if exists {
                tracing::info!(stream = %name, "the processing-log stream exists");
                return Ok(());
            }
        }
        match self.run(&located) {
            Ok(_) => {
                tracing::info!(stream = %stream, topic, "processing-log stream declared");
                self.log_command(&located)
            }
            Err((_, _, message)) => {
                tracing::warn!("cannot declare the processing-log stream: {message}");
                Ok(())
            }
        }
    }
}

/// `/ksql` and `/query` take `{"ksql": ...}`; `/query-stream` takes `{"sql": ...}`. Other
/// fields (streamsProperties, commandSequenceNumber) are accepted and not needed.
#[derive(Deserialize)]
struct StatementsRequest {
    #[serde(alias = "sql")]
    ksql: String,
}

/// The request's statements, with its text for error answers; or the error answer.
fn statements_of(body: &[u8]) -> Result<(String, Vec<Located>), Box<Response>> {
    let request: StatementsRequest = serde_json::from_slice(body).map_err(|e| {
        Box::new(error_response(
            StatusCode::BAD_REQUEST,
            40000,
            format!("the request is not valid JSON: {e}"),
            "",
        ))
    })?;
    match parse(&request.ksql) {
        Ok(statements) => Ok((request.ksql, statements)),
        Err(e) => Err(Box::new(error_response(
            StatusCode::BAD_REQUEST,
            40001,
            e.to_string(),
            &request.ksql,
        ))),
    }
}

fn error_response(status: StatusCode, code: u32, message: String, statement: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/vnd.ksql.v1+json")],
        Json(json!({
            "@type": "statement_error",
            "error_code": code,
            "message": message,
            "statementText": statement,
            "entities": [],
        })),
    )
        .into_response()
}

/// ksqlDB's error outside a statement (its KsqlErrorMessage): refused credentials, a body
/// over the limit.
pub(crate) fn generic_error(status: StatusCode, code: u32, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/vnd.ksql.v1+json")],
        Json(json!({
            "@type": "generic_error",
            "error_code": code,
            "message": message,
        })),
    )
        .into_response()
}

fn source_entry(source: &crate::catalog::SourceDef) -> Value {
    json!({
        "type": source.kind.to_string(),
        "name": source.name,
        "topic": source.topic,
        "keyFormat": source.formats.key.name(),
        "valueFormat": source.formats.value.name(),
        "isWindowed": source.window.is_some(),
    })
}

/// A column type as ksqlDB's DESCRIBE gives it (its SchemaInfo): a STRUCT with its fields,
/// an ARRAY or MAP with the schema of its elements or values, so a client can walk into
/// nested types (the processing log's MESSAGE).
fn schema_info(sql_type: &crate::sql::ast::SqlType) -> Value {
    use crate::sql::ast::SqlType;
    match sql_type {
        SqlType::Struct(fields) => json!({
            "type": "STRUCT",
            "fields": fields
                .iter()
                .map(|(name, t)| json!({"name": name, "schema": schema_info(t)}))
                .collect::<Vec<_>>(),
            "memberSchema": null,
        }),
        SqlType::Array(inner) => {
            json!({"type": "ARRAY", "fields": null, "memberSchema": schema_info(inner)})
        }
        SqlType::Map(inner) => {
            json!({"type": "MAP", "fields": null, "memberSchema": schema_info(inner)})
        }
        other => json!({"type": other.to_string(), "fields": null, "memberSchema": null}),
    }
}

fn describe(engine: &Engine, name: &str) -> Option<Value> {
    let source = engine.sources.get(name)?;
    let fields: Vec<Value> = source
        .schema
        .columns
        .iter()
        .map(|c| {
            let mut field = json!({"name": c.name, "schema": schema_info(&c.sql_type)});
            if c.key {
                field["type"] = json!("KEY");
            }
            field
        })
        .collect();
    let writers: Vec<Value> = engine
        .queries
        .iter()
        .filter(|q| q.sink.name == name)
        .map(|q| json!({"queryString": q.sql, "sinks": [q.sink.name], "id": q.id}))
        .collect();
    Some(json!({
        "name": source.name,
        "type": source.kind.to_string(),
        "topic": source.topic,
        "keyFormat": source.formats.key.name(),
        "valueFormat": source.formats.value.name(),
        "windowType": source.window.map(|w| json!(w.name())).unwrap_or(Value::Null),
        "fields": fields,
        "writeQueries": writers,
        "readQueries": [],
        "timestamp": source.timestamp.clone().unwrap_or_default(),
        "statistics": "",
        "errorStats": "",
        "extended": false,
    }))
}

impl Shared {
    fn status(
        &self,
        located: &Located,
        message: String,
        id: String,
        query: Option<String>,
    ) -> Value {
        json!({
            "@type": "currentStatus",
            "statementText": located.text,
            "commandId": id,
            "commandStatus": {"status": "SUCCESS", "message": message, "queryId": query},
            "commandSequenceNumber": self.command_sequence.fetch_add(1, Ordering::SeqCst),
            "warnings": [],
        })
    }

    fn run(&self, located: &Located) -> Result<Value, (StatusCode, u32, String)> {
        let bad = |message: String| (StatusCode::BAD_REQUEST, 40001, message);
        let mut engine = self.engine.lock().map_err(|_| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                50000,
                "the engine's state is poisoned".to_string(),
            )
        })?;
        match &located.statement {
            Statement::CreateSource { .. } | Statement::CreateAsSelect { .. } => {
                match engine.execute(located).map_err(|e| bad(e.to_string()))? {
                    Executed::Created { kind, name } => {
                        let noun = match kind {
                            SourceKind::Stream => "Stream",
                            SourceKind::Table => "Table",
                        };
                        Ok(self.status(
                            located,
                            format!("{noun} created"),
                            format!("{}/`{name}`/create", noun.to_ascii_lowercase()),
                            None,
                        ))
                    }
                    Executed::QueryStarted { id, kind, name } => Ok(self.status(
                        located,
                        format!("Created query with ID {id}"),
                        format!("{}/`{name}`/create", kind.to_string().to_ascii_lowercase()),
                        Some(id),
                    )),
                }
            }
            Statement::Show(what) => Ok(match what.as_str() {
                "STREAMS" | "TABLES" => {
                    let kind = if what == "STREAMS" {
                        SourceKind::Stream
                    } else {
                        SourceKind::Table
                    };
                    let entries: Vec<Value> = engine
                        .sources
                        .values()
                        .filter(|s| s.kind == kind)
                        .map(source_entry)
                        .collect();
                    let key = what.to_ascii_lowercase();
                    json!({"@type": key, "statementText": located.text, key.clone(): entries, "warnings": []})
                }
                "TOPICS" => {
                    let Some(options) = &self.kafka else {
                        return Err(bad(
                            "SHOW TOPICS needs Kafka: start serve with --bootstrap-servers".into(),
                        ));
                    };
                    let topics: Vec<Value> = crate::connector::kafka::list_topics(options)
                        .map_err(|e| bad(e.to_string()))?
                        .into_iter()
                        .map(|(name, partitions)| json!({"name": name, "replicaInfo": vec![1; partitions]}))
                        .collect();
                    json!({"@type": "kafka_topics", "statementText": located.text, "topics": topics, "warnings": []})
                }
                "QUERIES" => {
                    let queries: Vec<Value> = engine
                        .queries
                        .iter()
                        .map(|q| {
                            // As ksqlDB shows a query that failed: ERROR, with the reason.
                            let state = if q.stopped().is_some() {
                                "ERROR"
                            } else {
                                "RUNNING"
                            };
                            let mut entry = json!({
                                "queryString": q.sql,
                                "sinks": [q.sink.name],
                                "sinkKafkaTopics": [q.sink.topic],
                                "id": q.id,
                                "queryType": "PERSISTENT",
                                "state": state,
                                "statusCount": {state: 1},
                            });
                            if let Some(stopped) = q.stopped() {
                                entry["queryErrors"] = json!([{
                                    "timestamp": stopped.at_millis,
                                    "errorMessage": stopped.to_string(),
                                    "type": "USER",
                                }]);
                            }
                            entry
                        })
                        .collect();
                    json!({"@type": "queries", "statementText": located.text, "queries": queries, "warnings": []})
                }
                other => {
                    return Err(bad(format!(
                        "SHOW {other} is not supported by advisor-engine"
                    )))
                }
            }),
            Statement::Describe(name) => {
                let description = describe(&engine, name).ok_or_else(|| {
                    bad(format!(
                        "Could not find STREAM/TABLE '{name}' in the Metastore"
                    ))
                })?;
                Ok(
                    json!({"@type": "sourceDescription", "statementText": located.text, "sourceDescription": description, "warnings": []}),
                )
            }
            Statement::Terminate(id) => {
                let before = engine.queries.len();
                engine.queries.retain(|q| &q.id != id && id != "ALL");
                if engine.queries.len() == before {
                    return Err(bad(format!("Unknown queryId: {id}")));
                }
                Ok(self.status(
                    located,
                    "Query terminated.".into(),
                    format!("terminate/{id}/execute"),
                    None,
                ))
            }
            Statement::Drop {
                kind,
                name,
                if_exists,
                delete_topic,
            } => {
                if !engine.sources.contains_key(name) {
                    if *if_exists {
                        return Ok(self.status(
                            located,
                            format!("Source {name} does not exist."),
                            format!("drop/{name}"),
                            None,
                        ));
                    }
                    return Err(bad(format!("Source {name} does not exist.")));
                }
                if let Some(query) = engine
                    .queries
                    .iter()
                    .find(|q| &q.sink.name == name || q.reads_source(name))
                {
                    return Err(bad(format!(
                        "Cannot drop {name}. The following queries read from this source: [{}]. You need to terminate them before dropping {name}.",
                        query.id
                    )));
                }
                let topic = engine
                    .sources
                    .get(name)
                    .map(|s| s.topic.clone())
                    .unwrap_or_default();
                if *delete_topic {
                    let Some(options) = &self.kafka else {
                        return Err(bad(
                            "DELETE TOPIC needs Kafka: start serve with --bootstrap-servers".into(),
                        ));
                    };
                    crate::connector::kafka::delete_topic(options, &topic)
                        .map_err(|e| bad(e.to_string()))?;
                }
                engine.sources.remove(name);
                Ok(self.status(
                    located,
                    format!("Source `{name}` (topic: {topic}) was dropped."),
                    format!("{}/`{name}`/drop", kind.to_string().to_ascii_lowercase()),
                    None,
                ))
            }
            Statement::Select(_) => Err(bad("SELECT queries go to /query, not /ksql".to_string())),
        }
    }
}

async fn ksql(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let statements = match statements_of(&body) {
        Ok((_, statements)) => statements,
        Err(answer) => return *answer,
    };
    let mut entities = Vec::new();
    for located in &statements {
        match shared.run(located) {
            Ok(entity) => entities.push(entity),
            Err((status, code, message)) => {
                return error_response(status, code, message, &located.text)
            }
        }
        if changes_catalog(&located.statement) {
            if let Err(e) = shared.log_command(located) {
                return error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    50000,
                    format!("the statement ran but could not be saved for restarts: {e}"),
                    &located.text,
                );
            }
        }
    }
    (
        [(header::CONTENT_TYPE, "application/vnd.ksql.v1+json")],
        Json(Value::Array(entities)),
    )
        .into_response()
}

/// A pull query: the current rows of a table built by CREATE TABLE ... AS SELECT, filtered
/// by its WHERE clause (key columns, WINDOWSTART, WINDOWEND or values).
fn pull(
    engine: &Engine,
    query: &crate::sql::ast::Query,
) -> Result<(String, Columns, Vec<Vec<Value>>), String> {
    let view = TableView::plan(engine, query)?;
    let owner = engine
        .queries
        .iter()
        .find(|q| q.id == view.owner)
        .ok_or_else(|| format!("{} is not running", view.owner))?;
    let mut rows = Vec::new();
    for record in owner.table_rows() {
        if let Some(values) = view.evaluate(&record)? {
            rows.push(values);
        }
        if query.limit.is_some_and(|limit| rows.len() as u64 >= limit) {
            break;
        }
    }
    Ok((format!("query_{}", owner.id), view.columns, rows))
}

async fn query(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    run_query(&shared, &body, Style::Query)
}

async fn query_stream(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    run_query(&shared, &body, Style::Stream)
}

fn run_query(shared: &Arc<Shared>, body: &[u8], style: Style) -> Response {
    let (text, statements) = match statements_of(body) {
        Ok(parsed) => parsed,
        Err(answer) => return *answer,
    };
    let [located] = statements.as_slice() else {
        return error_response(
            StatusCode::BAD_REQUEST,
            40001,
            "a query request takes exactly one SELECT".into(),
            &text,
        );
    };
    let Statement::Select(select) = &located.statement else {
        return error_response(
            StatusCode::BAD_REQUEST,
            40001,
            "a query request takes a SELECT; other statements go to /ksql".into(),
            &located.text,
        );
    };
    if select.emit.is_some() {
        return push(shared, located, select, style);
    }
    let Ok(engine) = shared.engine.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match pull(&engine, select) {
        Ok((id, columns, rows)) => {
            let mut text = style.header(&id, &columns);
            for row in &rows {
                text.push_str(&style.row(row));
            }
            text.push_str(&style.end(false));
            ([(header::CONTENT_TYPE, style.content_type())], text).into_response()
        }
        Err(message) => error_response(StatusCode::BAD_REQUEST, 40001, message, &located.text),
    }
}

#[derive(Deserialize)]
struct CloseRequest {
    #[serde(rename = "queryId")]
    query_id: String,
}

/// Ends a push query early, as ksqlDB's /close-query does.
async fn close_query(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<CloseRequest>(&body) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            40000,
            "expected {\"queryId\": ...}".into(),
            "",
        );
    };
    let Ok(mut pushes) = shared.pushes.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match pushes
        .iter_mut()
        .find(|p| p.id == request.query_id && !p.done)
    {
        Some(push) => {
            push.end(push.style.end(false));
            StatusCode::OK.into_response()
        }
        None => error_response(
            StatusCode::BAD_REQUEST,
            40001,
            format!("No query with id {} exists", request.query_id),
            "",
        ),
    }
}

/// Starts a push query: rows stream back as they arrive (a stream's new records, or a
/// table's changes), until LIMIT rows (then a final message) or until the client goes away.
fn push(
    shared: &Arc<Shared>,
    located: &Located,
    select: &crate::sql::ast::Query,
    style: Style,
) -> Response {
    let planned = {
        let Ok(engine) = shared.engine.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let Some(source) = engine.sources.get(select.source_name()).cloned() else {
            return error_response(
                StatusCode::BAD_REQUEST,
                40001,
                format!("{} does not exist", select.source_name()),
                &located.text,
            );
        };
        let id = format!(
            "transient_{}_{}",
            source.name,
            shared.next_push.fetch_add(1, Ordering::SeqCst)
        );
        if source.kind == SourceKind::Table {
            TableView::plan(&engine, select).map(|view| {
                let columns = view.columns.clone();
                let owner = view.owner.clone();
                (id, columns, Feed::Table { owner, view })
            })
        } else {
            let mut transient = select.clone();
            transient.emit = None;
            transient.limit = None;
            crate::plan::plan(
                SourceKind::Stream,
                "PUSH",
                &Default::default(),
                &transient,
                &source,
                &engine.settings,
            )
            .map_err(|e| e.to_string())
            .map(|planned| {
                crate::query::PersistentQuery::new(
                    id.clone(),
                    located.text.clone(),
                    planned,
                    &[&source],
                    &engine.codecs,
                )
            })
            .map(|query| {
                let columns = Columns {
                    names: query
                        .sink
                        .schema
                        .columns
                        .iter()
                        .map(|c| c.name.clone())
                        .collect(),
                    types: query
                        .sink
                        .schema
                        .columns
                        .iter()
                        .map(|c| c.sql_type.to_string())
                        .collect(),
                    keys: vec![false; query.sink.schema.columns.len()],
                };
                let feed = Feed::Stream {
                    topic: source.topic.clone(),
                    query: Box::new(query),
                };
                (id, columns, feed)
            })
        }
    };
    let (id, columns, feed) = match planned {
        Ok(planned) => planned,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, 40001, e, &located.text),
    };
    let header = style.header(&id, &columns);
    // Unbounded as a channel, bounded by `queued`: the worker never waits on a client.
    let (chunks, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let push = Push {
        id,
        style,
        feed,
        chunks,
        queued: queued.clone(),
        remaining: select.limit,
        done: false,
    };
    push.enqueue(header);
    if let Ok(mut pushes) = shared.pushes.lock() {
        pushes.push(push);
    }
    let stream = futures_util::stream::poll_fn(move |context| {
        receiver.poll_recv(context).map(|chunk| {
            chunk.map(|text| {
                queued.fetch_sub(text.len() + CHUNK_OVERHEAD, Ordering::AcqRel);
                Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(text))
            })
        })
    });
    (
        [(header::CONTENT_TYPE, style.content_type())],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// Feeds one input record to the push queries on streams reading its topic.
fn feed_pushes(pushes: &mut [Push], topic: &str, record: &crate::query::InputRecord<'_>) {
    let mut out = crate::query::Outputs::new();
    let mut dead = Vec::new();
    for push in pushes.iter_mut().filter(|p| !p.done) {
        let Feed::Stream { topic: read, query } = &mut push.feed else {
            continue;
        };
        if read != topic {
            continue;
        }
        out.clear();
        dead.clear();
        query.process(record, &mut out, &mut dead);
        for output in &out {
            let mut columns: Vec<Value> = output.key.iter().map(|v| v.to_json()).collect();
            columns.extend(output.value.iter().flatten().map(|v| v.to_json()));
            if !push.send(&columns) {
                break;
            }
        }
    }
}

/// Feeds a change a persistent query made to its table to the push queries on that table.
fn feed_table_pushes(pushes: &mut [Push], query_id: &str, change: &crate::query::OutputRecord) {
    for push in pushes.iter_mut().filter(|p| !p.done) {
        let Feed::Table { owner, view } = &push.feed else {
            continue;
        };
        if owner != query_id {
            continue;
        }
        match view.evaluate(change) {
            Ok(Some(columns)) => {
                push.send(&columns);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("a push query skipped a row: {e}"),
        }
    }
}

/// ksqlDB's /inserts-stream: the first line names the target stream (`{"target": "S"}`),
/// each further line is a row. Each row is acknowledged on its own line with its sequence
/// number, `{"status":"ok","seq":0}`, or refused with the reason; the rows are delivered
/// to Kafka before the answer ends.
async fn inserts_stream(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let mut lines = body
        .split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace));
    let target_name = lines
        .next()
        .and_then(|line| serde_json::from_slice::<Value>(line).ok())
        .and_then(|first| first["target"].as_str().map(str::to_uppercase));
    let Some(target_name) = target_name else {
        return error_response(
            StatusCode::BAD_REQUEST,
            40000,
            "the first line must name the target stream: {\"target\": \"STREAM\"}".into(),
            "",
        );
    };
    let target = match shared.engine.lock() {
        Ok(engine) => engine.sources.get(&target_name).cloned(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let target = match target {
        Some(target) if target.kind == SourceKind::Stream => target,
        Some(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                40001,
                format!("{target_name} is a table: inserts go to streams"),
                "",
            )
        }
        None => {
            return error_response(
                StatusCode::BAD_REQUEST,
                40001,
                format!("Cannot insert into an unknown stream: {target_name}"),
                "",
            )
        }
    };
    let inserter = match inserter(&shared) {
        Ok(inserter) => inserter,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, 40001, message, ""),
    };
    let rows: Vec<Vec<u8>> = lines.map(<[u8]>::to_vec).collect();
    let answered = tokio::task::spawn_blocking(move || {
        let mut acks = String::new();
        for (seq, inserted) in inserter.insert(&target, &rows).into_iter().enumerate() {
            let ack = match inserted {
                Ok(()) => json!({"status": "ok", "seq": seq}),
                Err(message) => {
                    json!({"status": "error", "seq": seq, "error_code": 40000, "message": message})
                }
            };
            acks.push_str(&ack.to_string());
            acks.push('\n');
        }
        inserter.flush().map(|()| acks)
    })
    .await;
    match answered {
        Ok(Ok(acks)) => (
            [(header::CONTENT_TYPE, "application/vnd.ksqlapi.delimited.v1")],
            acks,
        )
            .into_response(),
        Ok(Err(e)) => error_response(StatusCode::INTERNAL_SERVER_ERROR, 50000, e.to_string(), ""),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn inserter(shared: &Shared) -> Result<Arc<crate::connector::kafka::Inserter>, String> {
    let Some(options) = &shared.kafka else {
        return Err("inserts need Kafka: start serve with --bootstrap-servers".into());
    };
    let mut slot = shared
        .inserter
        .lock()
        .map_err(|_| "the inserter is poisoned".to_string())?;
    if let Some(inserter) = slot.as_ref() {
        return Ok(inserter.clone());
    }
    let inserter = Arc::new(
        crate::connector::kafka::Inserter::new(options, &shared.codecs)
            .map_err(|e| e.to_string())?,
    );
    *slot = Some(inserter.clone());
    Ok(inserter)
}

async fn info(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({
        "KsqlServerInfo": {
            "version": KSQL_VERSION,
            "kafkaClusterId": shared.kafka.as_ref().map(|k| k.bootstrap_servers.clone()).unwrap_or_else(|| "none".into()),
            "ksqlServiceId": shared.service_id,
            "serverStatus": "RUNNING",
            "engine": format!("advisor-engine {}", env!("CARGO_PKG_VERSION")),
        }
    }))
}

async fn healthcheck(State(shared): State<Arc<Shared>>) -> Response {
    let error = shared
        .worker_error
        .lock()
        .ok()
        .and_then(|e| e.clone())
        .or_else(|| crate::connector::kafka::HEALTH.problem());
    let outage = shared.codecs.registry().and_then(|r| r.outage());
    let healthy = error.is_none() && outage.is_none();
    let mut details = json!({
        "metastore": {"isHealthy": true},
        "kafka": {"isHealthy": error.is_none(), "error": error},
    });
    if shared.codecs.registry().is_some() {
        details["schemaRegistry"] = json!({"isHealthy": outage.is_none(), "error": outage});
    }
    let body = json!({
        "isHealthy": healthy,
        "details": details,
        "serverState": "RUNNING",
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// A Prometheus metric: name, help text, and how to read it from a query.
type MetricFamily = (
    &'static str,
    &'static str,
    fn(&crate::query::PersistentQuery) -> u64,
);

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    use crate::query::FailureKind;
    // Before the engine's lock: the worker takes the pushes' lock while it holds that one.
    let (pushes, push_queued) = match shared.pushes.lock() {
        Ok(pushes) => (
            pushes.iter().filter(|p| !p.done).count(),
            pushes
                .iter()
                .map(|p| p.queued.load(Ordering::Acquire))
                .sum::<usize>(),
        ),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let Ok(engine) = shared.engine.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut text = String::new();
    for (name, kind, help, value) in [
        (
            "advisor_engine_push_queries",
            "gauge",
            "Push queries running.",
            pushes as u64,
        ),
        (
            "advisor_engine_push_queued_bytes",
            "gauge",
            "Bytes of push-query rows waiting for their clients to read them.",
            push_queued as u64,
        ),
        (
            "advisor_engine_push_slow_clients_closed_total",
            "counter",
            "Push queries closed because their client fell more than 4 MiB of rows behind.",
            SLOW_PUSHES_CLOSED.load(Ordering::Relaxed),
        ),
    ] {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    let families: [MetricFamily; 7] = [
        (
            "advisor_engine_events_in_total",
            "Records read by a query.",
            |q| q.stats.records_in,
        ),
        (
            "advisor_engine_events_out_total",
            "Records written by a query.",
            |q| q.stats.records_out,
        ),
        (
            "advisor_engine_dead_letters_total",
            "Records sent to the dead-letter output.",
            |q| q.counted().dead_letters,
        ),
        (
            "advisor_engine_late_events_total",
            "Events that arrived after their window closed.",
            |q| q.stats.late_events,
        ),
        (
            "advisor_engine_state_rows",
            "Rows held in state: groups and windows, sessions, rows of OVER windows and of MATCH_RECOGNIZE waiting for the watermark or for a match.",
            |q| q.state_size() as u64,
        ),
        (
            "advisor_engine_state_bytes",
            "Memory the query's state holds, estimated at most once a second, against --state-budget.",
            |q| q.stats.state_bytes,
        ),
        (
            "advisor_engine_state_budget_exceeded",
            "1 when the query was stopped for holding more state than --state-budget.",
            |q| u64::from(q.stopped().is_some()),
        ),
    ];
    for (name, help, read) in families {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for query in &engine.queries {
            text.push_str(&format!(
                "{name}{{query=\"{}\"}} {}\n",
                query.id,
                read(query)
            ));
        }
    }
    if let Some(budget) = engine.state_budget {
        let name = "advisor_engine_state_budget_bytes";
        text.push_str(&format!(
            "# HELP {name} The most state one query may hold (--state-budget).\n# TYPE {name} gauge\n{name} {budget}\n"
        ));
    }
    let name = "advisor_engine_dead_letters_by_type_total";
    text.push_str(&format!(
        "# HELP {name} Records sent to the dead-letter output, by ksqlDB's processing-log type.\n# TYPE {name} counter\n"
    ));
    for query in &engine.queries {
        let counts = query.counted().dead_letters_by_kind;
        for (kind, count) in FailureKind::ALL.iter().zip(counts) {
            text.push_str(&format!(
                "{name}{{query=\"{}\",type=\"{}\"}} {count}\n",
                query.id,
                kind.label()
            ));
        }
    }
    let name = "advisor_engine_dead_letters_by_reason_total";
    text.push_str(&format!(
        "# HELP {name} Records sent to the dead-letter output, by processing-log type and reason (the error's kind, not its text).\n# TYPE {name} counter\n"
    ));
    for query in &engine.queries {
        for (kind, reason, count) in query.counted().dead_letters_by_reason {
            text.push_str(&format!(
                "{name}{{query=\"{}\",type=\"{}\",reason=\"{reason}\"}} {count}\n",
                query.id,
                kind.label()
            ));
        }
    }
    text.push_str(&crate::checkpoint::metrics_text());
    text.push_str(&crate::runtime::latency::PROCESS_LATENCY.metrics_text());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// How the server guards its endpoints: the largest request body, and who may call them.
#[derive(Clone)]
pub struct HttpOptions {
    pub max_request_bytes: usize,
    /// None: anyone who reaches the port.
    pub auth: Option<Arc<auth::Auth>>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_request_bytes: limit::DEFAULT_MAX_REQUEST_BYTES,
            auth: None,
        }
    }
}

pub fn router(shared: Arc<Shared>, options: &HttpOptions) -> Router {
    let max = options.max_request_bytes;
    let router = Router::new()
        .route("/ksql", post(ksql))
        .route("/query", post(query))
        .route("/query-stream", post(query_stream))
        .route("/close-query", post(close_query))
        .route("/inserts-stream", post(inserts_stream))
        .route("/info", get(info))
        .route("/healthcheck", get(healthcheck))
        .route("/metrics", get(metrics))
        .with_state(shared)
        .layer(DefaultBodyLimit::max(max))
        .layer(axum::middleware::from_fn_with_state(max, limit::limit_body));
    // The outermost layer: credentials are checked before anything of the body is read, on
    // every path (an unknown one too, so the routes cannot be probed without them).
    match &options.auth {
        Some(auth) => router.layer(axum::middleware::from_fn_with_state(
            auth.clone(),
            auth::authenticate,
        )),
        None => router,
    }
}

/// Push queries reading along with the worker's drive loop.
struct PushTaps<'a> {
    pushes: &'a Mutex<Vec<Push>>,
    /// False when no push query runs: the loop then pays nothing for the taps.
    active: bool,
}

impl<'a> PushTaps<'a> {
    fn new(pushes: &'a Mutex<Vec<Push>>) -> PushTaps<'a> {
        let active = match pushes.lock() {
            Ok(mut pushes) => {
                pushes.retain(|p| !p.done && !p.chunks.is_closed());
                !pushes.is_empty()
            }
            Err(_) => false,
        };
        PushTaps { pushes, active }
    }
}

impl Taps for PushTaps<'_> {
    fn record(&mut self, topic: &str, record: &crate::query::InputRecord<'_>) {
        if self.active {
            if let Ok(mut pushes) = self.pushes.lock() {
                feed_pushes(&mut pushes, topic, record);
            }
        }
    }

    fn change(&mut self, query_id: &str, change: &crate::query::OutputRecord) {
        if self.active {
            if let Ok(mut pushes) = self.pushes.lock() {
                feed_table_pushes(&mut pushes, query_id, change);
            }
        }
    }

    fn topics(&self) -> std::collections::BTreeSet<String> {
        match self.pushes.lock() {
            Ok(pushes) => pushes
                .iter()
                .filter_map(|p| match &p.feed {
                    Feed::Stream { topic, .. } => Some(topic.clone()),
                    Feed::Table { .. } => None,
                })
                .collect(),
            Err(_) => Default::default(),
        }
    }
}

/// Runs the Kafka side on its own thread, through the drive loop every run shares: the
/// engine is locked only while a batch is processed, never while polling.
fn spawn_worker(shared: Arc<Shared>, options: KafkaOptions) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let report = |error: String| {
            tracing::error!("{error}");
            if let Ok(mut slot) = shared.worker_error.lock() {
                *slot = Some(error);
            }
        };
        let mut driver = match crate::connector::kafka::driver(&options) {
            Ok(driver) => driver,
            Err(e) => return report(e.to_string()),
        };
        // Without its state the worker would count again what the state holds: it waits for
        // the store (S3 may be unreachable for a while) rather than start empty.
        let mut retry_in = Duration::from_secs(1);
        loop {
            // The processing-log topic is made first, as ksqlDB makes it at start.
            let restored = crate::connector::kafka::create_processing_log_topic(&options)
                .map_err(RuntimeError::from)
                .and_then(|()| match shared.engine.lock() {
                    Ok(mut engine) => driver.restore(&mut engine),
                    Err(_) => Err(RuntimeError::Poisoned),
                });
            match restored {
                Ok(()) => break,
                Err(RuntimeError::Poisoned) => return,
                Err(e) => {
                    report(format!("{e} (retrying in {} s)", retry_in.as_secs()));
                    if shared.stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(retry_in);
                    retry_in = (retry_in * 2).min(Duration::from_secs(30));
                }
            }
        }
        loop {
            if shared.stopping.load(Ordering::SeqCst) {
                // Commit what was read; dropping the driver then leaves the consumer group,
                // so a restarted server gets the partitions at once.
                if let Err(e) = driver.checkpoint(&shared.engine) {
                    report(e.to_string());
                }
                return;
            }
            let mut taps = PushTaps::new(&shared.pushes);
            match driver.step(&shared.engine, &mut taps) {
                Ok(_) => {
                    if let Ok(mut slot) = shared.worker_error.lock() {
                        *slot = None;
                    }
                }
                Err(RuntimeError::Poisoned) => return report(RuntimeError::Poisoned.to_string()),
                Err(e) => {
                    report(e.to_string());
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    })
}

/// Serves the REST API until interrupted.
pub async fn serve(
    listen: SocketAddr,
    engine: Engine,
    service_id: String,
    kafka: Option<KafkaOptions>,
    http: HttpOptions,
) -> std::io::Result<()> {
    let codecs = engine.codecs.clone();
    let shared = Arc::new(Shared {
        codecs,
        engine: Mutex::new(engine),
        pushes: Mutex::new(Vec::new()),
        next_push: AtomicU64::new(0),
        service_id,
        kafka: kafka.clone(),
        command_sequence: AtomicU64::new(0),
        worker_error: Mutex::new(None),
        command_log: kafka
            .as_ref()
            .map(|options| options.state_dir.join("commands.sql")),
        stopping: std::sync::atomic::AtomicBool::new(false),
        inserter: Mutex::new(None),
    });
    let replayed = shared.replay_commands()?;
    if replayed > 0 {
        tracing::info!("{replayed} statements restored from the command log");
    }
    if let Some(options) = &kafka {
        shared.declare_processing_log(&options.dead_letter_topic)?;
    }
    let worker = kafka.map(|options| spawn_worker(shared.clone(), options));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    match &http.auth {
        Some(auth) => tracing::info!("authentication: {}", auth.describe()),
        None => tracing::info!("authentication: none (anyone who reaches the port)"),
    }
    let served = axum::serve(listener, router(shared.clone(), &http))
        .with_graceful_shutdown(shutdown_signal())
        .await;
    shared.stopping.store(true, Ordering::SeqCst);
    if let Some(worker) = worker {
        let joined = tokio::task::spawn_blocking(move || worker.join());
        if tokio::time::timeout(WORKER_STOP_WAIT, joined)
            .await
            .is_err()
        {
            // The worker is inside a batch it cannot finish (a record whose writer schema
            // waits out a Schema Registry that is down or refuses the credentials). Nothing
            // past the last checkpoint is committed, so that batch is read again on restart.
            tracing::warn!(
                "the worker did not stop within {WORKER_STOP_WAIT:?} (it waits on the Schema Registry or the broker): stopping without a final checkpoint; what was read since the last one is read again on restart"
            );
        }
    }
    served
}

/// How long a stop waits for the worker to finish its batch and checkpoint: well within the
/// 30 s ECS gives a task between SIGTERM and SIGKILL.
const WORKER_STOP_WAIT: Duration = Duration::from_secs(10);

/// Ctrl-C, or SIGTERM (what ECS sends a task it stops).
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
