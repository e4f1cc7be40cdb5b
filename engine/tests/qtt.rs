//! ksqlDB's own query-validation tests (QTT), transcribed as ksqlDB wrote them into
//! tests/qtt/*.json, run through the engine against a real broker (tansu): the measure of
//! how far the engine behaves as ksqlDB does (issue 25).
//!
//! One broker for the whole binary and as few engine processes as possible: every case gets
//! its own names (each source and topic the case declares is suffixed with `_QTT<n>`), the
//! statements of every case the engine accepts go into one queries file, the inputs are
//! produced with their keys, values and timestamps serialized as ksqlDB would for the
//! source's formats, one `advisor-engine run --cache-max-bytes 0 --stop-when-idle` processes
//! them all, and the records on each case's output topics are compared with the ones ksqlDB
//! produced. A case that expects an exception passes when the engine refuses one of its
//! statements.
//!
//! The test prints a pass rate per file and in total and every failing case with a reason
//! (also written to target/tmp/qtt-summary.txt and qtt-results.json), and fails when the
//! total pass rate drops below tests/qtt/threshold.txt. `QTT_FILTER=<file or name part>`
//! runs only the matching cases (the threshold is not checked then); `QTT_VERBOSE=1` also
//! prints each failing case's statements as run and the records it produced.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use advisor_engine::engine::Engine;
use advisor_engine::sql::ast::SqlType;
use common::wire::{self, WireRecord};
use common::Tansu;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

/// The formats the runner can write and read; cases for other formats (AVRO, PROTOBUF,
/// JSON_SR need a schema registry) are not transcribed, and a `format` list is cut to these.
const FORMATS: [&str; 3] = ["JSON", "DELIMITED", "KAFKA"];

/// One test as ksqlDB wrote it (after a `format` list is expanded).
#[derive(Debug, Clone)]
struct Case {
    file: String,
    name: String,
    statements: Vec<String>,
    inputs: Vec<Value>,
    outputs: Vec<Value>,
    expected_exception: Option<String>,
    properties: BTreeMap<String, Value>,
}

impl Case {
    fn id(&self) -> String {
        format!("{}/{}", self.file, self.name)
    }
}

fn qtt_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/qtt")
}

fn load_cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(qtt_dir())
        .expect("tests/qtt exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 file name")
            .to_string();
        let text = std::fs::read_to_string(&path).expect("a readable case file");
        let doc: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not valid JSON: {e}"));
        let tests = doc["tests"]
            .as_array()
            .unwrap_or_else(|| panic!("{file} has no \"tests\" list"));
        for test in tests {
            if test["enabled"] == json!(false) {
                continue;
            }
            let name = test["name"]
                .as_str()
                .unwrap_or_else(|| panic!("a test in {file} has no name"))
                .to_string();
            let strings = |field: &str| -> Vec<String> {
                test[field]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|s| s.as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let base = Case {
                file: file.clone(),
                name: name.clone(),
                statements: strings("statements"),
                inputs: test["inputs"].as_array().cloned().unwrap_or_default(),
                outputs: test["outputs"].as_array().cloned().unwrap_or_default(),
                expected_exception: test.get("expectedException").map(|e| {
                    e["message"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| e.to_string())
                }),
                properties: test["properties"]
                    .as_object()
                    .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            };
            match test["format"].as_array() {
                None => cases.push(base),
                Some(formats) => {
                    for format in formats.iter().filter_map(Value::as_str) {
                        if !FORMATS.contains(&format) {
                            continue;
                        }
                        let mut case = base.clone();
                        case.name = format!("{name} - {format}");
                        for statement in &mut case.statements {
                            *statement = statement.replace("{FORMAT}", format);
                        }
                        cases.push(case);
                    }
                }
            }
        }
    }
    cases
}

// ---------------------------------------------------------------------------------------
// Just enough of ksqlDB's SQL to rename a case's sources and topics and to know the formats
// and key types of each topic it reads and writes.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An unquoted word, as written.
    Word(String),
    /// A backquoted identifier, without the quotes.
    Quoted(String),
    /// A string literal, unescaped.
    Str(String),
    /// Anything else: numbers, one symbol at a time.
    Other(String),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

impl Token {
    fn word(&self) -> Option<String> {
        match &self.tok {
            Tok::Word(w) => Some(w.to_ascii_uppercase()),
            _ => None,
        }
    }

    fn is_word(&self, word: &str) -> bool {
        self.word().is_some_and(|w| w == word)
    }

    fn is(&self, symbol: &str) -> bool {
        matches!(&self.tok, Tok::Other(s) if s == symbol)
    }

    /// The name an identifier stands for: unquoted words are upper-cased, as ksqlDB does.
    fn name(&self) -> Option<String> {
        match &self.tok {
            Tok::Word(w) => Some(w.to_ascii_uppercase()),
            Tok::Quoted(q) => Some(q.clone()),
            _ => None,
        }
    }
}

fn tokenize(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if sql[i..].starts_with("--") {
            i = sql[i..].find('\n').map_or(bytes.len(), |p| i + p);
        } else if sql[i..].starts_with("/*") {
            i = sql[i + 2..]
                .find("*/")
                .map_or(bytes.len(), |p| i + 2 + p + 2);
        } else if c == b'\'' || c == b'`' {
            let quote = c;
            let mut text = String::new();
            i += 1;
            while i < bytes.len() {
                if bytes[i] == quote {
                    if bytes.get(i + 1) == Some(&quote) {
                        text.push(quote as char);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                let ch = sql[i..].chars().next().unwrap_or(' ');
                text.push(ch);
                i += ch.len_utf8();
            }
            let tok = if quote == b'\'' {
                Tok::Str(text)
            } else {
                Tok::Quoted(text)
            };
            tokens.push(Token { tok, start, end: i });
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            tokens.push(Token {
                tok: Tok::Word(sql[start..i].to_string()),
                start,
                end: i,
            });
        } else if c.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                i += 1;
            }
            tokens.push(Token {
                tok: Tok::Other(sql[start..i].to_string()),
                start,
                end: i,
            });
        } else {
            let ch = sql[i..].chars().next().unwrap_or(' ');
            i += ch.len_utf8();
            tokens.push(Token {
                tok: Tok::Other(ch.to_string()),
                start,
                end: i,
            });
        }
    }
    tokens
}

#[derive(Debug, Clone, PartialEq)]
struct Formats {
    key: String,
    value: String,
    delimiter: String,
    /// The sink's DECIMAL value columns and their scales, from the engine's schema of the
    /// sink: ksqlDB's harness reads a record through the sink's schema, so a DECIMAL column
    /// comes back as a BigDecimal of the column's scale, which its comparator matches
    /// against an expected string by `new BigDecimal(text).equals(actual)` (scale and all).
    decimals: BTreeMap<String, u8>,
}

/// What a case's statements say about one source or sink.
#[derive(Debug, Clone)]
struct Relation {
    /// The topic as the case names it (before renaming).
    topic: String,
    formats: Formats,
    /// Key columns and their types, in order (upper case); only known for declared sources.
    keys: Vec<String>,
    /// Value column types, in order; only known for declared sources.
    values: Vec<String>,
    declared: bool,
}

/// The `KEY=VALUE` pairs of a `WITH (...)` that starts at `open` (the parenthesis).
fn with_properties(tokens: &[Token], open: usize) -> (BTreeMap<String, String>, usize) {
    let mut props = BTreeMap::new();
    let mut i = open + 1;
    while i < tokens.len() && !tokens[i].is(")") {
        if let (Some(key), Some(eq), Some(value)) =
            (tokens[i].name(), tokens.get(i + 1), tokens.get(i + 2))
        {
            if eq.is("=") {
                let value = match &value.tok {
                    Tok::Str(s) | Tok::Word(s) | Tok::Quoted(s) | Tok::Other(s) => s.clone(),
                };
                props.insert(key.to_ascii_uppercase(), value);
                i += 3;
                continue;
            }
        }
        i += 1;
    }
    (props, i)
}

/// The index of the `)` that closes the `(` at `open`.
fn closing(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        if token.is("(") {
            depth += 1;
        } else if token.is(")") {
            depth -= 1;
            if depth == 0 {
                return i;
            }
        }
    }
    tokens.len()
}

/// A column list `(a INT KEY, b STRUCT<x INT, y INT>, ...)`: (key types, value types).
fn columns(tokens: &[Token], open: usize, close: usize) -> (Vec<String>, Vec<String>) {
    let mut keys = Vec::new();
    let mut values = Vec::new();
    let mut element: Vec<&Token> = Vec::new();
    let mut depth = 0;
    let mut finish = |element: &mut Vec<&Token>| {
        if element.is_empty() {
            return;
        }
        let mut parts: Vec<&Token> = std::mem::take(element);
        let is_key = parts.last().is_some_and(|t| t.is_word("KEY"));
        if is_key {
            parts.pop();
            if parts.last().is_some_and(|t| t.is_word("PRIMARY")) {
                parts.pop();
            }
        }
        let sql_type = parts
            .iter()
            .skip(1)
            .map(|t| match &t.tok {
                Tok::Word(w) => w.to_ascii_uppercase(),
                Tok::Quoted(q) | Tok::Str(q) | Tok::Other(q) => q.clone(),
            })
            .collect::<Vec<_>>()
            .join("");
        if is_key {
            keys.push(sql_type);
        } else {
            values.push(sql_type);
        }
    };
    for token in &tokens[open + 1..close] {
        if token.is("(") || token.is("<") {
            depth += 1;
        } else if token.is(")") || token.is(">") {
            depth -= 1;
        }
        if depth == 0 && token.is(",") {
            finish(&mut element);
        } else {
            element.push(token);
        }
    }
    finish(&mut element);
    (keys, values)
}

/// The relations a case's statements declare and write, by (original) name, and the names
/// they create. Properties give the default formats.
fn analyse(case: &Case) -> (BTreeMap<String, Relation>, BTreeSet<String>) {
    let prop = |name: &str| {
        case.properties
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_ascii_uppercase)
    };
    let default_key = prop("ksql.persistence.default.format.key").unwrap_or("KAFKA".into());
    let default_value = prop("ksql.persistence.default.format.value").unwrap_or("JSON".into());
    let mut relations: BTreeMap<String, Relation> = BTreeMap::new();
    let mut created = BTreeSet::new();
    for statement in &case.statements {
        let tokens = tokenize(statement);
        let insert = tokens.first().is_some_and(|t| t.is_word("INSERT"));
        let mut i;
        if tokens.first().is_some_and(|t| t.is_word("CREATE")) {
            i = 1;
            if tokens.get(i).is_some_and(|t| t.is_word("OR")) {
                i += 2;
            }
            if !tokens
                .get(i)
                .is_some_and(|t| t.is_word("STREAM") || t.is_word("TABLE"))
            {
                continue;
            }
            i += 1;
            if tokens.get(i).is_some_and(|t| t.is_word("IF")) {
                i += 3;
            }
        } else if insert {
            i = 2;
        } else {
            continue;
        }
        let Some(name) = tokens.get(i).and_then(Token::name) else {
            continue;
        };
        if !insert {
            created.insert(name.clone());
        }
        i += 1;
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        if tokens.get(i).is_some_and(|t| t.is("(")) {
            let close = closing(&tokens, i);
            (keys, values) = columns(&tokens, i, close);
            i = close + 1;
        }
        let mut props = BTreeMap::new();
        let mut source = None;
        while i < tokens.len() {
            if tokens[i].is_word("WITH") && tokens.get(i + 1).is_some_and(|t| t.is("(")) {
                let (found, close) = with_properties(&tokens, i + 1);
                props.extend(found);
                i = close;
            } else if tokens[i].is_word("SELECT") {
                let mut depth = 0;
                for (j, token) in tokens.iter().enumerate().skip(i) {
                    if token.is("(") {
                        depth += 1;
                    } else if token.is(")") {
                        depth -= 1;
                    } else if depth == 0 && token.is_word("FROM") {
                        source = tokens.get(j + 1).and_then(Token::name);
                        break;
                    }
                }
                break;
            }
            i += 1;
        }
        let upper = |key: &str| props.get(key).map(|v| v.to_ascii_uppercase());
        let inherited = source.as_ref().and_then(|s| relations.get(s)).cloned();
        if insert {
            continue;
        }
        let declared = source.is_none();
        let formats = Formats {
            key: upper("KEY_FORMAT")
                .or(upper("FORMAT"))
                .or(inherited.as_ref().map(|r| r.formats.key.clone()))
                .unwrap_or(default_key.clone()),
            value: upper("VALUE_FORMAT")
                .or(upper("FORMAT"))
                .or(inherited.as_ref().map(|r| r.formats.value.clone()))
                .unwrap_or(default_value.clone()),
            delimiter: props
                .get("VALUE_DELIMITER")
                .cloned()
                .or(inherited.as_ref().map(|r| r.formats.delimiter.clone()))
                .unwrap_or(",".into()),
            decimals: BTreeMap::new(),
        };
        let topic = props.get("KAFKA_TOPIC").cloned().unwrap_or(name.clone());
        relations.insert(
            name,
            Relation {
                topic,
                formats,
                keys,
                values,
                declared,
            },
        );
    }
    (relations, created)
}

/// A case's statements with every name it creates and every topic it names suffixed, so
/// that many cases run side by side in one engine. Unquoted names become `NAME<suffix>`
/// (the engine upper-cases them, so a sink's default topic is the old one plus the suffix);
/// `KAFKA_TOPIC='t'` becomes `'t<suffix>'`.
fn rename(case: &Case, created: &BTreeSet<String>, suffix: &str) -> Vec<String> {
    case.statements
        .iter()
        .map(|statement| {
            let tokens = tokenize(statement);
            // The column list of a CREATE names columns and struct fields, not sources.
            let columns = tokens
                .iter()
                .position(|t| t.is("("))
                .filter(|&open| {
                    tokens[0].is_word("CREATE")
                        && open >= 2
                        && tokens[open - 1]
                            .name()
                            .is_some_and(|n| created.contains(&n))
                })
                .map(|open| open..closing(&tokens, open));
            let mut out = String::new();
            let mut at = 0;
            for (i, token) in tokens.iter().enumerate() {
                if columns.as_ref().is_some_and(|c| c.contains(&i)) {
                    continue;
                }
                let replacement = match &token.tok {
                    Tok::Word(w) if created.contains(&w.to_ascii_uppercase()) => {
                        // A struct field after `->` is not a source.
                        let field = i > 1 && tokens[i - 1].is(">") && tokens[i - 2].is("-");
                        (!field).then(|| format!("{w}{suffix}"))
                    }
                    Tok::Quoted(q) if created.contains(q) => Some(format!("`{q}{suffix}`")),
                    Tok::Str(s)
                        if i >= 2
                            && tokens[i - 1].is("=")
                            && tokens[i - 2].is_word("KAFKA_TOPIC") =>
                    {
                        Some(format!("'{}{suffix}'", s.replace('\'', "''")))
                    }
                    _ => None,
                };
                if let Some(replacement) = replacement {
                    out.push_str(&statement[at..token.start]);
                    out.push_str(&replacement);
                    at = token.end;
                }
            }
            out.push_str(&statement[at..]);
            let trimmed = out.trim_end();
            if trimmed.ends_with(';') {
                trimmed.to_string()
            } else {
                format!("{trimmed};")
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Serializing inputs as ksqlDB would, and reading outputs back.

fn as_i64(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_f64().map(|f| f as i64))
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

fn as_f64(value: &Value) -> Option<f64> {
    value
        .as_f64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One primitive in the KAFKA format: big-endian INT, BIGINT and DOUBLE, UTF-8 strings.
fn kafka_bytes(value: &Value, sql_type: Option<&str>) -> Vec<u8> {
    match sql_type.unwrap_or("") {
        "INT" | "INTEGER" => as_i64(value)
            .map(|i| (i as i32).to_be_bytes().to_vec())
            .unwrap_or_else(|| text(value).into_bytes()),
        "BIGINT" => as_i64(value)
            .map(|i| i.to_be_bytes().to_vec())
            .unwrap_or_else(|| text(value).into_bytes()),
        "DOUBLE" => as_f64(value)
            .map(|f| f.to_be_bytes().to_vec())
            .unwrap_or_else(|| text(value).into_bytes()),
        _ => text(value).into_bytes(),
    }
}

fn serialize(value: &Value, format: &str, types: &[String]) -> Option<Vec<u8>> {
    if value.is_null() {
        return None;
    }
    Some(match format {
        "KAFKA" => kafka_bytes(value, types.first().map(String::as_str)),
        "DELIMITED" => text(value).into_bytes(),
        _ => value.to_string().into_bytes(),
    })
}

/// Window bytes after a key: a time window's start; a session's end, then start.
fn window_bytes(window: &Value) -> Vec<u8> {
    let start = window["start"].as_i64().unwrap_or(0);
    let end = window["end"].as_i64().unwrap_or(0);
    let mut bytes = Vec::new();
    if window["type"].as_str() == Some("session") {
        bytes.extend(end.to_be_bytes());
    }
    bytes.extend(start.to_be_bytes());
    bytes
}

fn numbers_equal(expected: &Value, actual: &Value) -> bool {
    match (expected.as_i64(), actual.as_i64()) {
        (Some(e), Some(a)) => e == a,
        _ => match (expected.as_f64(), actual.as_f64()) {
            (Some(e), Some(a)) => e == a || (e - a).abs() <= 1e-9 * e.abs().max(a.abs()),
            _ => false,
        },
    }
}

/// JSON equality with numbers compared by value (1 == 1.0, as ksqlDB's expected values are
/// written by hand).
fn json_equal(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(_), Value::Number(_)) => numbers_equal(expected, actual),
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(e, a)| json_equal(e, a))
        }
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len()
                && e.iter()
                    .all(|(k, v)| a.get(k).is_some_and(|av| json_equal(v, av)))
        }
        _ => expected == actual,
    }
}

/// An actual JSON number read as ksqlDB's JSON deserializer reads a DECIMAL(_, scale):
/// rescaled to the column's scale, `None` when that would need rounding (ksqlDB refuses the
/// record then). Rendered as BigDecimal's plain text, so that two of them are equal exactly
/// when BigDecimal's `equals` (value and scale) says so.
fn decimal_text(actual: &Value, scale: u8) -> Option<String> {
    let number = actual.as_f64()?;
    let scale = usize::from(scale);
    let text = format!("{number:.scale$}");
    (text.parse::<f64>().ok()? == number).then_some(text)
}

/// ksqlDB's comparison of an expected string with a DECIMAL column (`compareText`):
/// `new BigDecimal(expected).equals(actual)`, so "3.40" matches 3.4 in a DECIMAL(3,2)
/// column and "3.4" does not.
fn decimal_matches(expected: &str, actual: &Value, scale: u8) -> bool {
    let Some(actual) = decimal_text(actual, scale) else {
        return false;
    };
    let expected = expected.strip_prefix('+').unwrap_or(expected);
    // BigDecimal keeps the scale as written; only the digits count otherwise.
    let decimals = |t: &str| t.split_once('.').map_or(0, |(_, d)| d.len());
    decimals(expected) == usize::from(scale)
        && expected.parse::<f64>().ok() == actual.parse::<f64>().ok()
}

/// A JSON value against the expected one, DECIMAL columns compared as ksqlDB's harness
/// does (see `Formats::decimals`); every other field by `json_equal`.
fn value_equal(expected: &Value, actual: &Value, decimals: &BTreeMap<String, u8>) -> bool {
    let (Value::Object(e), Value::Object(a)) = (expected, actual) else {
        return json_equal(expected, actual);
    };
    e.len() == a.len()
        && e.iter().all(|(k, v)| {
            let Some(av) = a.get(k) else {
                return false;
            };
            match (v, decimals.get(k)) {
                (Value::String(text), Some(&scale)) if av.is_number() => {
                    decimal_matches(text, av, scale)
                }
                _ => json_equal(v, av),
            }
        })
}

/// Whether bytes in `format` hold the expected (non-null) value.
fn matches(expected: &Value, bytes: &[u8], format: &str) -> bool {
    matches_with(expected, bytes, format, &BTreeMap::new())
}

/// `matches`, with the DECIMAL columns of a value (see `Formats::decimals`).
fn matches_with(
    expected: &Value,
    bytes: &[u8],
    format: &str,
    decimals: &BTreeMap<String, u8>,
) -> bool {
    match format {
        "KAFKA" => match expected {
            Value::String(s) => bytes == s.as_bytes(),
            Value::Number(n) => match bytes.len() {
                4 => {
                    n.as_i64()
                        == Some(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]).into())
                }
                8 => {
                    let array: [u8; 8] = bytes.try_into().unwrap_or([0; 8]);
                    n.as_i64() == Some(i64::from_be_bytes(array))
                        || n.as_f64() == Some(f64::from_be_bytes(array))
                }
                _ => false,
            },
            _ => false,
        },
        "DELIMITED" => {
            let Ok(actual) = std::str::from_utf8(bytes) else {
                return false;
            };
            let rendered = text(expected);
            actual == rendered
                || (expected.is_number()
                    && actual
                        .parse::<f64>()
                        .is_ok_and(|a| numbers_equal(expected, &json!(a))))
        }
        _ => serde_json::from_slice::<Value>(bytes)
            .is_ok_and(|a| value_equal(expected, &a, decimals)),
    }
}

fn show(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "null".into(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) if !s.chars().any(|c| c.is_control()) => format!("{s:?}"),
            _ => format!(
                "0x{}",
                b.iter().map(|x| format!("{x:02x}")).collect::<String>()
            ),
        },
    }
}

#[derive(Debug, Clone)]
struct Produced {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: Option<i64>,
}

impl Produced {
    fn show(&self) -> String {
        format!(
            "key {} value {} ts {}",
            show(self.key.as_deref()),
            show(self.value.as_deref()),
            self.timestamp.map_or("-".into(), |t| t.to_string())
        )
    }
}

/// Why an output record is not the expected one; `None` when it is. Timestamps are
/// compared only when `timestamps` (and the expected record has one).
fn compare(
    expected: &Value,
    actual: &Produced,
    formats: &Formats,
    timestamps: bool,
) -> Option<String> {
    let mut key = actual.key.as_deref();
    if let Some(window) = expected.get("window").filter(|w| !w.is_null()) {
        let size = if window["type"].as_str() == Some("session") {
            16
        } else {
            8
        };
        let Some(bytes) = key.filter(|k| k.len() >= size) else {
            return Some(format!("key {} has no window", show(key)));
        };
        let (rest, window_part) = bytes.split_at(bytes.len() - size);
        if window_part != window_bytes(window).as_slice() {
            return Some(format!(
                "window {} != expected {window}",
                show(Some(window_part))
            ));
        }
        key = (!rest.is_empty()).then_some(rest);
    }
    let expected_key = expected.get("key").unwrap_or(&Value::Null);
    let key_ok = match (expected_key, key) {
        (Value::Null, None) => true,
        (Value::Null, Some(_)) | (_, None) => false,
        (e, Some(bytes)) => matches(e, bytes, &formats.key),
    };
    if !key_ok {
        return Some(format!(
            "key {} != expected {expected_key} ({})",
            show(key),
            formats.key
        ));
    }
    let expected_value = expected.get("value").unwrap_or(&Value::Null);
    let value_ok = match (expected_value, actual.value.as_deref()) {
        (Value::Null, None) => true,
        (Value::Null, Some(_)) | (_, None) => false,
        (e, Some(bytes)) => matches_with(e, bytes, &formats.value, &formats.decimals),
    };
    if !value_ok {
        return Some(format!(
            "value {} != expected {expected_value} ({})",
            show(actual.value.as_deref()),
            formats.value
        ));
    }
    if let (true, Some(expected_ts)) = (timestamps, expected["timestamp"].as_i64()) {
        if actual.timestamp != Some(expected_ts) {
            return Some(format!(
                "timestamp {} != expected {expected_ts}",
                actual.timestamp.map_or("-".into(), |t| t.to_string())
            ));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Running cases.

/// A case made ready to run: its renamed statements and what to produce and expect.
struct Prepared {
    index: usize,
    suffix: String,
    statements: Vec<String>,
    relations: BTreeMap<String, Relation>,
    /// Renamed topic -> formats of what writes it.
    sinks: BTreeMap<String, Formats>,
    /// Renamed input topics to create.
    topics: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct Outcome {
    pass: bool,
    /// Would pass if output timestamps were not compared.
    pass_without_timestamps: bool,
    reason: String,
}

fn fail(reason: impl Into<String>) -> Outcome {
    Outcome {
        pass: false,
        pass_without_timestamps: false,
        reason: reason.into(),
    }
}

/// A failure's reason without the case's particulars, to count failures by kind.
fn category(reason: &str) -> String {
    if let Some(refusal) = reason.strip_prefix("refused: ") {
        let mut text = refusal.to_string();
        // "line 2: ", "line 1:48: " and the names the runner gave.
        while let Some(at) = text.find("line ") {
            let rest = &text[at + 5..];
            let digits = rest
                .find(|c: char| !c.is_ascii_digit() && c != ':')
                .unwrap_or(0);
            if digits == 0 || !rest[digits..].starts_with(' ') {
                break;
            }
            text.replace_range(at..at + 5 + digits + 1, "");
        }
        while let Some(at) = text.find("_QTT") {
            let end = text[at + 4..]
                .find(|c: char| !c.is_ascii_alphanumeric())
                .map_or(text.len(), |e| at + 4 + e);
            text.replace_range(at..end, "");
        }
        return format!("refused: {}", text.chars().take(90).collect::<String>());
    }
    let kind = if reason.starts_with("accepted a statement") {
        "accepted a statement ksqlDB refuses"
    } else if reason.starts_with("the engine run failed") {
        "the engine run failed"
    } else if reason.contains(": timestamp ") {
        "output timestamp differs"
    } else if reason.contains(" records, expected ") {
        "wrong number of output records"
    } else if reason.contains(": window ") || reason.contains("has no window") {
        "wrong window bytes"
    } else if let Some(at) = reason.find(": key ") {
        return format!("wrong key{}", format_of(&reason[at..]));
    } else if let Some(at) = reason.find(": value ") {
        return format!("wrong value{}", format_of(&reason[at..]));
    } else {
        "other"
    };
    kind.to_string()
}

/// The "(FORMAT)" a comparison reason ends with.
fn format_of(reason: &str) -> String {
    reason
        .rfind(" (")
        .map(|at| reason[at..].to_string())
        .unwrap_or_default()
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    let mut short: String = line.chars().take(160).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}

/// Runs the case's statements through a fresh engine in this process: `Err` with the
/// engine's message when it refuses one.
fn validate(statements: &[String]) -> Result<(), String> {
    let text = statements.join("\n");
    let result = std::panic::catch_unwind(|| -> Result<(), String> {
        let parsed = advisor_engine::sql::parse(&text).map_err(|e| format!("parse: {e}"))?;
        let mut engine = Engine::default();
        for statement in &parsed {
            engine.execute(statement).map_err(|e| e.to_string())?;
        }
        Ok(())
    });
    match result {
        Ok(answer) => answer,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("PANIC: {message}"))
        }
    }
}

/// The DECIMAL value columns (name -> scale) of each source the statements create, by
/// topic, as the engine derives their schemas: the sink's schema that ksqlDB's harness
/// reads output records through. Empty where the engine refuses a statement (the case
/// fails on that anyway).
fn sink_decimals(statements: &[String]) -> BTreeMap<String, BTreeMap<String, u8>> {
    let text = statements.join("\n");
    let found = std::panic::catch_unwind(|| {
        let mut found = BTreeMap::new();
        let Ok(parsed) = advisor_engine::sql::parse(&text) else {
            return found;
        };
        let mut engine = Engine::default();
        for statement in &parsed {
            if engine.execute(statement).is_err() {
                break;
            }
        }
        for statement in statements {
            let tokens = tokenize(statement);
            let Some(name) = tokens
                .iter()
                .position(|t| t.is_word("STREAM") || t.is_word("TABLE"))
                .and_then(|i| tokens.get(i + 1))
                .and_then(Token::name)
            else {
                continue;
            };
            if let Some(source) = engine.source_for(&name) {
                let scales: BTreeMap<String, u8> = source
                    .schema
                    .columns
                    .iter()
                    .filter(|c| !c.key)
                    .filter_map(|c| match c.sql_type {
                        SqlType::Decimal { scale, .. } => Some((c.name.clone(), scale)),
                        _ => None,
                    })
                    .collect();
                found.insert(source.topic.clone(), scales);
            }
        }
        found
    });
    found.unwrap_or_default()
}

fn prepare(case: &Case, index: usize, generation: usize) -> Prepared {
    let suffix = format!("_QTT{index}G{generation}");
    let (relations, created) = analyse(case);
    let statements = rename(case, &created, &suffix);
    let mut sinks = BTreeMap::new();
    let mut topics = BTreeSet::new();
    let decimals = sink_decimals(&statements);
    for relation in relations.values() {
        let renamed = format!("{}{suffix}", relation.topic);
        if relation.declared {
            topics.insert(renamed.clone());
        } else {
            let mut formats = relation.formats.clone();
            formats.decimals = decimals.get(&renamed).cloned().unwrap_or_default();
            sinks.insert(renamed.clone(), formats);
        }
        // A declared source's topic may also be written (INSERT INTO): read as declared.
        sinks.entry(renamed).or_insert(relation.formats.clone());
    }
    for input in &case.inputs {
        if let Some(topic) = input["topic"].as_str() {
            topics.insert(format!("{topic}{suffix}"));
        }
    }
    Prepared {
        index,
        suffix,
        statements,
        relations,
        sinks,
        topics,
    }
}

fn admin(tansu: &Tansu) -> AdminClient<DefaultClientContext> {
    tansu.config().create().expect("an admin client")
}

fn create_topics(tansu: &Tansu, topics: &BTreeSet<String>) {
    let admin = admin(tansu);
    let list: Vec<String> = topics.iter().cloned().collect();
    for chunk in list.chunks(100) {
        let new: Vec<NewTopic<'_>> = chunk
            .iter()
            .map(|t| NewTopic::new(t, 1, TopicReplication::Fixed(1)))
            .collect();
        let results = futures_executor::block_on(admin.create_topics(&new, &AdminOptions::new()))
            .expect("topics are created");
        for result in results {
            if let Err((topic, code)) = result {
                assert_eq!(
                    code,
                    rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
                    "creating {topic}"
                );
            }
        }
    }
}

fn produce(tansu: &Tansu, cases: &[Case], prepared: &[Prepared]) {
    // Over the protocol itself: librdkafka would turn the many timestamps of 0 into now.
    let mut batches: BTreeMap<String, Vec<WireRecord>> = BTreeMap::new();
    for (case, prepared) in cases.iter().zip(prepared) {
        // Inputs go to the topic of the source that reads it, serialized for its formats.
        let by_topic: BTreeMap<&str, &Relation> = prepared
            .relations
            .values()
            .filter(|r| r.declared)
            .map(|r| (r.topic.as_str(), r))
            .collect();
        for input in &case.inputs {
            let topic = input["topic"].as_str().unwrap_or_default();
            let relation = by_topic.get(topic);
            let formats = relation.map(|r| r.formats.clone()).unwrap_or(Formats {
                key: "KAFKA".into(),
                value: "JSON".into(),
                delimiter: ",".into(),
                decimals: BTreeMap::new(),
            });
            let key_types = relation.map(|r| r.keys.clone()).unwrap_or_default();
            let value_types = relation.map(|r| r.values.clone()).unwrap_or_default();
            let mut key = serialize(&input["key"], &formats.key, &key_types);
            if let Some(window) = input.get("window").filter(|w| !w.is_null()) {
                let mut bytes = key.unwrap_or_default();
                bytes.extend(window_bytes(window));
                key = Some(bytes);
            }
            batches
                .entry(format!("{topic}{}", prepared.suffix))
                .or_default()
                .push(WireRecord {
                    key,
                    value: serialize(&input["value"], &formats.value, &value_types),
                    timestamp: input["timestamp"].as_i64().unwrap_or(0),
                });
        }
    }
    for (topic, records) in &batches {
        wire::produce(&tansu.bootstrap, topic, 0, records);
    }
}

/// Every record of the topics that exist among `topics`, in order.
fn read_topics(tansu: &Tansu, topics: &BTreeSet<String>) -> BTreeMap<String, Vec<Produced>> {
    let consumer: BaseConsumer = tansu
        .config()
        .set("group.id", "qtt-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("the cluster's metadata");
    let mut list = TopicPartitionList::new();
    let mut remaining: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for topic in metadata.topics() {
        if !topics.contains(topic.name()) {
            continue;
        }
        for partition in topic.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic.name(), partition.id(), Duration::from_secs(10))
                .expect("watermarks");
            if std::env::var("QTT_DEBUG").is_ok() {
                eprintln!(
                    "watermarks {} {}: {low}..{high}",
                    topic.name(),
                    partition.id()
                );
            }
            if high > low {
                list.add_partition_offset(topic.name(), partition.id(), Offset::Beginning)
                    .expect("an assignment");
                remaining.insert((topic.name().to_string(), partition.id()), high);
            }
        }
    }
    let mut records: BTreeMap<String, Vec<Produced>> = BTreeMap::new();
    if remaining.is_empty() {
        return records;
    }
    consumer
        .assign(&list)
        .expect("the output topics are assigned");
    // tansu's high watermark counts a batch of many records as one, so it is only a lower
    // bound: read until every partition reached it and nothing more came for a second.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                quiet_since = Instant::now();
                let place = (message.topic().to_string(), message.partition());
                records
                    .entry(message.topic().to_string())
                    .or_default()
                    .push(Produced {
                        key: message.key().map(<[u8]>::to_vec),
                        value: message.payload().map(<[u8]>::to_vec),
                        timestamp: message.timestamp().to_millis(),
                    });
                if remaining
                    .get(&place)
                    .is_some_and(|high| message.offset() + 1 >= *high)
                {
                    remaining.remove(&place);
                }
            }
            Some(Err(e)) => panic!("reading the output topics: {e}"),
            None if remaining.is_empty() && quiet_since.elapsed() > Duration::from_secs(1) => break,
            None => {}
        }
    }
    assert!(
        remaining.is_empty(),
        "output records not read: {remaining:?}"
    );
    records
}

/// Runs the prepared cases in one engine process; `Err` with the end of its stderr when it
/// fails.
fn run_engine(tansu: &Tansu, prepared: &[Prepared], generation: usize) -> Result<String, String> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let sql: String = prepared
        .iter()
        .flat_map(|p| p.statements.iter().cloned())
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("qtt.sql"), &sql).expect("the queries file is written");
    let output = Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args([
            "run",
            "--sql",
            "qtt.sql",
            "--bootstrap-servers",
            &tansu.bootstrap,
        ])
        .args([
            "--group-id",
            &format!("qtt-{}-{generation}", std::process::id()),
        ])
        .args(["--state-dir", "state", "--cache-max-bytes", "0"])
        .args(["--commit-interval", "500ms", "--stop-when-idle", "6s"])
        .env("ENGINE_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("advisor-engine runs");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    if output.status.success() {
        Ok(stderr)
    } else {
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        Err(tail.into_iter().rev().collect::<Vec<_>>().join(" | "))
    }
}

fn judge(
    case: &Case,
    prepared: &Prepared,
    records: &BTreeMap<String, Vec<Produced>>,
) -> (Outcome, String) {
    let mut expected: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    let mut order = Vec::new();
    for output in &case.outputs {
        let topic = format!(
            "{}{}",
            output["topic"].as_str().unwrap_or_default(),
            prepared.suffix
        );
        if !expected.contains_key(&topic) {
            order.push(topic.clone());
        }
        expected.entry(topic).or_default().push(output);
    }
    if case.outputs.is_empty() {
        for (topic, relation) in &prepared.relations {
            if !relation.declared {
                let topic = format!("{}{}", prepared.relations[topic].topic, prepared.suffix);
                order.push(topic.clone());
                expected.entry(topic).or_default();
            }
        }
    }
    let mut detail = String::new();
    let check = |timestamps: bool| -> Option<String> {
        for topic in &order {
            let want = &expected[topic];
            let got = records.get(topic).map(Vec::as_slice).unwrap_or_default();
            let formats = prepared.sinks.get(topic).cloned().unwrap_or(Formats {
                key: "KAFKA".into(),
                value: "JSON".into(),
                delimiter: ",".into(),
                decimals: BTreeMap::new(),
            });
            let shown = topic.trim_end_matches(&prepared.suffix);
            for i in 0..want.len().max(got.len()) {
                match (want.get(i), got.get(i)) {
                    (Some(e), Some(a)) => {
                        if let Some(why) = compare(e, a, &formats, timestamps) {
                            return Some(format!("{shown} record {i}: {why}"));
                        }
                    }
                    (Some(e), None) => {
                        return Some(format!(
                            "{shown}: {} records, expected {}; first missing: {}",
                            got.len(),
                            want.len(),
                            json!({"key": e.get("key"), "value": e.get("value")})
                        ))
                    }
                    (None, Some(a)) => {
                        return Some(format!(
                            "{shown}: {} records, expected {}; first extra: {}",
                            got.len(),
                            want.len(),
                            a.show()
                        ))
                    }
                    (None, None) => {}
                }
            }
        }
        None
    };
    let strict = check(true);
    let lenient = check(false);
    for topic in &order {
        let _ = writeln!(detail, "    {topic}:");
        for record in records.get(topic).map(Vec::as_slice).unwrap_or_default() {
            let _ = writeln!(detail, "      {}", record.show());
        }
    }
    let outcome = Outcome {
        pass: strict.is_none(),
        pass_without_timestamps: lenient.is_none(),
        reason: strict.unwrap_or_default(),
    };
    (outcome, detail)
}

/// Runs a batch in one engine process; when the process fails, each half again (with new
/// names), down to the case that makes it fail.
fn run_batch(
    tansu: &Tansu,
    cases: &[(usize, Case)],
    generation: &mut usize,
    outcomes: &mut BTreeMap<usize, (Outcome, String)>,
) {
    if cases.is_empty() {
        return;
    }
    *generation += 1;
    let gen = *generation;
    let prepared: Vec<Prepared> = cases.iter().map(|(i, c)| prepare(c, *i, gen)).collect();
    let topics: BTreeSet<String> = prepared.iter().flat_map(|p| p.topics.clone()).collect();
    create_topics(tansu, &topics);
    let plain: Vec<Case> = cases.iter().map(|(_, c)| c.clone()).collect();
    produce(tansu, &plain, &prepared);
    match run_engine(tansu, &prepared, gen) {
        Ok(_) => {
            let wanted: BTreeSet<String> = prepared
                .iter()
                .flat_map(|p| p.sinks.keys().cloned())
                .chain(cases.iter().zip(&prepared).flat_map(|((_, c), p)| {
                    c.outputs
                        .iter()
                        .map(|o| format!("{}{}", o["topic"].as_str().unwrap_or_default(), p.suffix))
                }))
                .collect();
            let records = read_topics(tansu, &wanted);
            for ((index, case), prepared) in cases.iter().zip(&prepared) {
                let (outcome, records) = judge(case, prepared, &records);
                let detail = format!(
                    "  statements:\n{}\n  records:\n{records}",
                    prepared
                        .statements
                        .iter()
                        .map(|s| format!("    {s}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                outcomes.insert(*index, (outcome, detail));
                debug_assert_eq!(prepared.index, *index);
            }
        }
        Err(error) if cases.len() == 1 => {
            outcomes.insert(
                cases[0].0,
                (
                    fail(format!("the engine run failed: {}", first_line(&error))),
                    error,
                ),
            );
        }
        Err(_) => {
            let (left, right) = cases.split_at(cases.len() / 2);
            run_batch(tansu, left, generation, outcomes);
            run_batch(tansu, right, generation, outcomes);
        }
    }
}

#[test]
fn ksqldb_query_validation_tests() {
    let started = Instant::now();
    let filter = std::env::var("QTT_FILTER")
        .ok()
        .filter(|f| !f.is_empty())
        .map(|f| f.to_lowercase());
    let verbose = std::env::var("QTT_VERBOSE").is_ok_and(|v| v == "1");
    let cases: Vec<Case> = load_cases()
        .into_iter()
        .filter(|c| {
            filter
                .as_ref()
                .is_none_or(|f| c.id().to_lowercase().contains(f))
        })
        .collect();
    assert!(!cases.is_empty(), "no case matches QTT_FILTER={filter:?}");

    // Statements first, in this process: the engine's answer decides which cases run.
    let mut outcomes: BTreeMap<usize, (Outcome, String)> = BTreeMap::new();
    let mut to_run = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let prepared = prepare(case, index, 0);
        let answer = validate(&prepared.statements);
        let detail = format!(
            "  statements:\n    {}\n",
            prepared.statements.join("\n    ")
        );
        match (&case.expected_exception, answer) {
            (Some(_), Err(refusal)) if !refusal.starts_with("PANIC") => {
                outcomes.insert(
                    index,
                    (
                        Outcome {
                            pass: true,
                            pass_without_timestamps: true,
                            reason: format!("refused: {}", first_line(&refusal)),
                        },
                        detail,
                    ),
                );
            }
            (Some(expected), Ok(())) => {
                outcomes.insert(
                    index,
                    (
                        fail(format!(
                            "accepted a statement ksqlDB refuses: {}",
                            first_line(expected)
                        )),
                        detail,
                    ),
                );
            }
            (_, Err(refusal)) => {
                outcomes.insert(
                    index,
                    (fail(format!("refused: {}", first_line(&refusal))), detail),
                );
            }
            (None, Ok(())) => to_run.push((index, case.clone())),
        }
    }

    if !to_run.is_empty() {
        let tansu = Tansu::start();
        let mut generation = 0;
        run_batch(&tansu, &to_run, &mut generation, &mut outcomes);
    }

    // The report: per file, in total, and every failure with its reason.
    let mut per_file: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    let mut report = String::new();
    let mut failures = String::new();
    let mut results = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let (outcome, detail) = &outcomes[&index];
        let entry = per_file.entry(&case.file).or_default();
        entry.0 += 1;
        entry.1 += usize::from(outcome.pass);
        entry.2 += usize::from(outcome.pass_without_timestamps);
        if !outcome.pass {
            let _ = writeln!(failures, "FAIL {}: {}", case.id(), outcome.reason);
            if verbose {
                let _ = writeln!(failures, "{detail}");
            }
        }
        results.push(json!({
            "file": case.file, "name": case.name, "pass": outcome.pass,
            "pass_without_timestamps": outcome.pass_without_timestamps,
            "reason": outcome.reason,
        }));
    }
    let total = cases.len();
    let passed: usize = per_file.values().map(|v| v.1).sum();
    let lenient: usize = per_file.values().map(|v| v.2).sum();
    let rate = |n: usize, of: usize| 100.0 * n as f64 / of.max(1) as f64;
    let _ = writeln!(report, "ksqlDB QTT conformance (tests/qtt):");
    for (file, (count, pass, without)) in &per_file {
        let _ = writeln!(
            report,
            "  {file:<32} {pass:>4}/{count:<4} {:>5.1}%   (ignoring timestamps {without})",
            rate(*pass, *count)
        );
    }
    let _ = writeln!(
        report,
        "  {:<32} {passed:>4}/{total:<4} {:>5.1}%   (ignoring timestamps {lenient}, {:.1}%)",
        "TOTAL",
        rate(passed, total),
        rate(lenient, total)
    );
    let _ = writeln!(report, "  ({:.0} s)", started.elapsed().as_secs_f64());
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for (outcome, _) in outcomes.values().filter(|(o, _)| !o.pass) {
        *kinds.entry(category(&outcome.reason)).or_default() += 1;
    }
    let mut kinds: Vec<(String, usize)> = kinds.into_iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let _ = writeln!(report, "\nFailures by kind:");
    for (kind, count) in &kinds {
        let _ = writeln!(report, "  {count:>4}  {kind}");
    }
    let summary = format!("{report}\n{failures}");
    println!("{summary}");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::create_dir_all(out);
    std::fs::write(out.join("qtt-summary.txt"), &summary).expect("the summary is written");
    std::fs::write(
        out.join("qtt-results.json"),
        serde_json::to_string_pretty(&results).unwrap_or_default(),
    )
    .expect("the results are written");
    println!("summary: {}", out.join("qtt-summary.txt").display());

    if filter.is_none() {
        let threshold: f64 = std::fs::read_to_string(qtt_dir().join("threshold.txt"))
            .expect("tests/qtt/threshold.txt")
            .trim()
            .parse()
            .expect("threshold.txt holds a whole percent");
        let measured = rate(passed, total);
        assert!(
            measured >= threshold,
            "the QTT pass rate fell to {measured:.1}%, below the {threshold}% of tests/qtt/threshold.txt"
        );
    }
}

#[test]
fn names_and_topics_are_renamed_per_case() {
    let case = Case {
        file: "f.json".into(),
        name: "n".into(),
        statements: vec![
            "CREATE STREAM test (K STRING KEY, s STRUCT<test INT>) WITH (kafka_topic='test_topic', value_format='DELIMITED');".into(),
            "CREATE TABLE `Out` AS SELECT K, s->test, COUNT(*) FROM TEST GROUP BY K".into(),
        ],
        inputs: vec![],
        outputs: vec![],
        expected_exception: None,
        properties: BTreeMap::new(),
    };
    let (relations, created) = analyse(&case);
    assert_eq!(
        created,
        BTreeSet::from(["TEST".to_string(), "Out".to_string()])
    );
    assert_eq!(relations["TEST"].keys, vec!["STRING"]);
    assert_eq!(relations["TEST"].values, vec!["STRUCT<TESTINT>"]);
    assert_eq!(relations["Out"].formats.value, "DELIMITED");
    assert_eq!(relations["Out"].topic, "Out");
    assert_eq!(
        rename(&case, &created, "_QTT1"),
        vec![
            "CREATE STREAM test_QTT1 (K STRING KEY, s STRUCT<test INT>) WITH (kafka_topic='test_topic_QTT1', value_format='DELIMITED');",
            "CREATE TABLE `Out_QTT1` AS SELECT K, s->test, COUNT(*) FROM TEST_QTT1 GROUP BY K;",
        ]
    );
}

#[test]
fn records_keep_their_timestamps_even_zero() {
    let tansu = Tansu::start();
    let topics = BTreeSet::from(["stamps".to_string()]);
    create_topics(&tansu, &topics);
    let record = |key: Option<&str>, timestamp| WireRecord {
        key: key.map(|k| k.as_bytes().to_vec()),
        value: Some(b"x".to_vec()),
        timestamp,
    };
    let records = [
        record(Some("a"), 0),
        record(None, 12345),
        record(Some("c"), 7),
    ];
    wire::produce(&tansu.bootstrap, "stamps", 0, &records);
    let read = read_topics(&tansu, &topics);
    let got: Vec<(Option<Vec<u8>>, Option<i64>)> = read["stamps"]
        .iter()
        .map(|r| (r.key.clone(), r.timestamp))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(b"a".to_vec()), Some(0)),
            (None, Some(12345)),
            (Some(b"c".to_vec()), Some(7))
        ]
    );
}
