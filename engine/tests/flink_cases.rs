//! The engine against Apache Flink 2.3: every case of tests/flink/cases.json (OVER windows
//! and MATCH_RECOGNIZE: each quantifier, each skip strategy, late rows, WITHIN, measures,
//! ties) runs through Flink's reference runner (tests/flink/run_flink_sql.py, once for all
//! cases: one JVM, one job, about 40 s) and through `advisor-engine run` on the same file,
//! and the rows must be the same: in order within each partition, and as a multiset across
//! partitions, because Flink's order across partitions is its timer heap's
//! (engine/docs/flink-semantics.md, section 1). Values are compared by position; column
//! names too, ignoring case (the engine upper-cases unquoted names).
//!
//! How a case becomes an engine statement: the input table becomes
//! `CREATE STREAM input (...) WITH (..., TIMESTAMP='<event_time_column>',
//! WATERMARK_DELAY=<ms>)`, and Flink's rowtime attribute `ts` (the runner's
//! `TO_TIMESTAMP_LTZ(event_time, 3)`) becomes ROWTIME. The engine has no DECIMAL and no
//! TINYINT, so:
//! - a DECIMAL(p, s) column is declared DOUBLE, and a DECIMAL result is compared after
//!   rounding to Flink's scale s (over_aggregates_nulls, over_small_int_types,
//!   mr_null_partition_key, mr_null_values);
//! - `CAST(x AS TINYINT)` becomes `CAST(x AS INT)`: the same values, as the case's numbers
//!   are far from TINYINT's bounds (over_small_int_types).
//!
//! One deliberate difference: the engine's OVER window and MATCH_RECOGNIZE send a row whose
//! PARTITION BY key is NULL to the dead letters (issue 19's bad-input rule), where Flink makes
//! NULL a partition of its own. For over_aggregates_nulls and over_small_int_types the test
//! checks that each row Flink emitted for the NULL partition is a dead letter with that
//! reason instead; for mr_null_partition_key, that the NULL partition's rows are dead letters
//! and none of its matches comes out.
//!
//! The result types are checked through the values: where Flink's column is an integer type
//! (AVG of a BIGINT is a BIGINT), the engine's value must be a JSON integer too.
//!
//! tests/flink/rejected.json holds statements Flink refuses; the engine refuses them too,
//! with its own message, except alternation and quantified groups, which it runs beyond
//! Flink (tested against a plain-Python matcher in tests/match_recognize.rs), and ORDER BY
//! event_time, which names the engine stream's TIMESTAMP column, its time attribute (what
//! Flink calls ts), so there is nothing to refuse.

#[path = "common/process.rs"]
mod process;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

fn flink_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/flink")
}

fn read_cases(file: &str) -> Vec<Value> {
    let path = flink_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let job: Value = serde_json::from_str(&text).expect("a JSON job file");
    job["cases"].as_array().cloned().expect("a list of cases")
}

fn text(case: &Value, field: &str) -> String {
    match &case[field] {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        other => panic!("{}: {field} is {other}", case["name"]),
    }
}

/// The case's SQL with Flink's rowtime attribute `ts` as ROWTIME (outside string literals)
/// and TINYINT as INT.
fn engine_sql(flink_sql: &str) -> String {
    let mut out = String::with_capacity(flink_sql.len());
    let mut chars = flink_sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            out.push(c);
            for d in chars.by_ref() {
                out.push(d);
                if d == '\'' {
                    break;
                }
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut word = String::from(c);
            while let Some(&d) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' {
                    word.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push_str(match word.as_str() {
                "ts" => "ROWTIME",
                "TINYINT" => "INT",
                other => other,
            });
        } else {
            out.push(c);
        }
    }
    out
}

/// The engine's statements for a case: the input stream, then the query over it.
fn engine_script(case: &Value) -> String {
    let flink_sql = text(case, "sql");
    let columns: Vec<String> = case["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|column| {
            let name = column[0].as_str().expect("a column name");
            let flink_type = column[1].as_str().expect("a column type");
            let sql_type = if flink_type.starts_with("DECIMAL") {
                "DOUBLE"
            } else {
                flink_type
            };
            // A name the query quotes keeps its case in the engine, so it is declared so.
            if flink_sql.contains(&format!("`{name}`")) {
                format!("`{name}` {sql_type}")
            } else {
                format!("{name} {sql_type}")
            }
        })
        .collect();
    format!(
        "CREATE STREAM input ({}) WITH (KAFKA_TOPIC='input', VALUE_FORMAT='JSON', TIMESTAMP='{}', WATERMARK_DELAY={});\nCREATE STREAM out AS {};\n",
        columns.join(", "),
        case["event_time_column"].as_str().expect("event_time_column"),
        case["watermark_delay_ms"].as_i64().unwrap_or(0),
        engine_sql(&flink_sql),
    )
}

struct EngineRun {
    ok: bool,
    stderr: String,
    /// Column names and values of each output row, in output order.
    rows: Vec<Vec<(String, Value)>>,
    dead_letters: Vec<Value>,
}

fn read_json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{path:?}: {e}: {l}")))
        .collect()
}

fn run_engine(case: &Value, dir: &Path) -> EngineRun {
    std::fs::create_dir_all(dir).expect("a folder for the case");
    std::fs::write(dir.join("q.sql"), engine_script(case)).expect("the SQL file");
    let input = flink_dir().join(case["input"].as_str().expect("input"));
    let output = Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir)
        .args(["run", "--sql", "q.sql", "--input"])
        .arg(format!("input=file:{}", input.display()))
        .args([
            "--output",
            "out=file:out.jsonl",
            "--dead-letter",
            "dlq.jsonl",
        ])
        .output()
        .expect("advisor-engine runs");
    let rows = read_json_lines(&dir.join("out.jsonl"))
        .into_iter()
        .map(|line| match &line["value"] {
            Value::Object(values) => values.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            other => panic!(
                "{}: an output value that is not an object: {other}",
                case["name"]
            ),
        })
        .collect();
    EngineRun {
        ok: output.status.success(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        rows,
        dead_letters: read_json_lines(&dir.join("dlq.jsonl")),
    }
}

/// What the reference runner said about one case.
struct FlinkResult {
    columns: Vec<(String, String)>,
    rows: Vec<Vec<Value>>,
}

/// Runs every case through Flink, into `out_dir`. The runner's summary names each case's
/// output file and result columns.
fn start_flink(out_dir: &Path) -> std::process::Child {
    let python = process::cached_tool("flink-venv/bin/python", "python3");
    Command::new(&python)
        .arg(flink_dir().join("run_flink_sql.py"))
        .arg(flink_dir().join("cases.json"))
        .arg("--out-dir")
        .arg(out_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start the Flink reference runner with {python:?} ({e}); install Flink with scripts/lib/test-deps.sh (apache-flink==2.3.0 in $ADVISOR_CACHE/flink-venv, Java 17)"
            )
        })
}

fn flink_results(child: std::process::Child) -> BTreeMap<String, FlinkResult> {
    let output = child.wait_with_output().expect("the Flink runner ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Flink reference runner failed ({}); is Flink installed (scripts/lib/test-deps.sh)?\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("the runner's summary is not JSON ({e}):\n{stdout}"));
    let mut results = BTreeMap::new();
    for case in summary["cases"].as_array().expect("the summary's cases") {
        let name = case["name"].as_str().expect("a case name").to_string();
        assert!(
            case.get("error").is_none(),
            "Flink failed on {name}: {case}"
        );
        let columns: Vec<(String, String)> = case["columns"]
            .as_array()
            .expect("result columns")
            .iter()
            .map(|c| {
                (
                    c[0].as_str().unwrap_or_default().to_string(),
                    c[1].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let rows = read_json_lines(Path::new(case["output"].as_str().expect("an output")))
            .into_iter()
            .map(|row| match row {
                Value::Object(values) => values.into_iter().map(|(_, v)| v).collect(),
                other => panic!("{name}: a Flink row that is not an object: {other}"),
            })
            .collect();
        results.insert(name, FlinkResult { columns, rows });
    }
    results
}

fn is_integer_type(flink_type: &str) -> bool {
    ["BIGINT", "INT", "SMALLINT", "TINYINT"]
        .iter()
        .any(|t| flink_type == *t || flink_type.starts_with(&format!("{t} ")))
}

/// The scale of a DECIMAL(p, s) type.
fn decimal_scale(flink_type: &str) -> Option<i32> {
    let inner = flink_type.strip_prefix("DECIMAL(")?;
    inner.split([',', ')']).nth(1)?.trim().parse().ok()
}

/// Why an engine value differs from Flink's, if it does.
fn value_difference(engine: &Value, flink: &Value, flink_type: &str) -> Option<String> {
    if is_integer_type(flink_type) && !(engine.is_null() || engine.is_i64()) {
        return Some(format!(
            "{engine} where Flink's {flink_type} column has {flink}: not an integer"
        ));
    }
    let same = match (engine, flink) {
        (Value::Number(e), Value::Number(f)) => match (e.as_i64(), f.as_i64()) {
            (Some(e), Some(f)) => e == f,
            _ => {
                let (e, f) = (
                    e.as_f64().unwrap_or(f64::NAN),
                    f.as_f64().unwrap_or(f64::NAN),
                );
                match decimal_scale(flink_type) {
                    // The engine's DOUBLE stands for Flink's DECIMAL: equal at its scale.
                    Some(scale) => (e - f).abs() <= 0.5 * 10f64.powi(-scale) + 1e-9,
                    None => e == f || (e - f).abs() <= 1e-12 * e.abs().max(f.abs()),
                }
            }
        },
        (e, f) => e == f,
    };
    (!same).then(|| format!("{engine} where Flink has {flink}"))
}

/// Rows by partition (the values of the partition columns), each partition's rows in order.
fn by_partition(rows: &[Vec<Value>], partition: &[usize]) -> BTreeMap<String, Vec<Vec<Value>>> {
    let mut groups: BTreeMap<String, Vec<Vec<Value>>> = BTreeMap::new();
    for row in rows {
        let key: Vec<&Value> = partition.iter().filter_map(|&i| row.get(i)).collect();
        groups
            .entry(serde_json::to_string(&key).unwrap_or_default())
            .or_default()
            .push(row.clone());
    }
    groups
}

/// Cases whose NULL-partition rows the engine's OVER window dead-letters (see the top).
const NULL_KEY_DEAD_LETTERED: [&str; 2] = ["over_aggregates_nulls", "over_small_int_types"];

/// The MATCH_RECOGNIZE case whose NULL-partition rows the engine dead-letters.
const NULL_KEY_MATCHES: &str = "mr_null_partition_key";

/// Compares one case; returns what differs.
fn compare(case: &Value, flink: &FlinkResult, engine: &EngineRun) -> Vec<String> {
    let name = case["name"].as_str().unwrap_or_default();
    let mut problems = Vec::new();
    if !engine.ok {
        return vec![format!(
            "the engine refused or failed: {}",
            engine.stderr.trim()
        )];
    }
    let engine_names: Vec<&str> = engine
        .rows
        .first()
        .map(|row| row.iter().map(|(n, _)| n.as_str()).collect())
        .unwrap_or_default();
    if !engine_names.is_empty() {
        let flink_names: Vec<String> = flink
            .columns
            .iter()
            .map(|(n, _)| {
                if n == "ts" {
                    "ROWTIME".into()
                } else {
                    n.clone()
                }
            })
            .collect();
        let same = engine_names.len() == flink_names.len()
            && engine_names
                .iter()
                .zip(&flink_names)
                .all(|(e, f)| e.eq_ignore_ascii_case(f));
        if !same {
            problems.push(format!(
                "columns {engine_names:?} where Flink has {flink_names:?}"
            ));
            return problems;
        }
    }
    let partition: Vec<usize> = case["partition_columns"]
        .as_array()
        .map(|cols| {
            cols.iter()
                .filter_map(|c| {
                    flink
                        .columns
                        .iter()
                        .position(|(n, _)| Some(n.as_str()) == c.as_str())
                })
                .collect()
        })
        .unwrap_or_default();
    let engine_rows: Vec<Vec<Value>> = engine
        .rows
        .iter()
        .map(|row| row.iter().map(|(_, v)| v.clone()).collect())
        .collect();
    let mut expected = by_partition(&flink.rows, &partition);
    if NULL_KEY_DEAD_LETTERED.contains(&name) {
        let null_key =
            serde_json::to_string(&vec![Value::Null; partition.len()]).unwrap_or_default();
        let null_rows = expected.remove(&null_key).map_or(0, |rows| rows.len());
        let dead = engine
            .dead_letters
            .iter()
            .filter(|d| {
                d["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("PARTITION BY key is null"))
            })
            .count();
        if dead != null_rows || null_rows == 0 {
            problems.push(format!(
                "{dead} dead letters for a null PARTITION BY key where Flink emitted {null_rows} rows for the NULL partition"
            ));
        }
    }
    if name == NULL_KEY_MATCHES {
        let null_key =
            serde_json::to_string(&vec![Value::Null; partition.len()]).unwrap_or_default();
        let matches = expected.remove(&null_key).map_or(0, |rows| rows.len());
        let dead = engine
            .dead_letters
            .iter()
            .filter(|d| {
                d["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("PARTITION BY key is null"))
            })
            .count();
        if matches == 0 || dead == 0 {
            problems.push(format!(
                "{dead} dead letters for a null PARTITION BY key where Flink matched {matches} times in the NULL partition"
            ));
        }
    }
    let actual = by_partition(&engine_rows, &partition);
    let keys: std::collections::BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    for key in keys {
        let (want, got) = (
            expected.get(key).map(Vec::as_slice).unwrap_or_default(),
            actual.get(key).map(Vec::as_slice).unwrap_or_default(),
        );
        let mut differs = want.len() != got.len();
        for (w, g) in want.iter().zip(got) {
            for ((f, e), (_, flink_type)) in w.iter().zip(g).zip(&flink.columns) {
                if let Some(why) = value_difference(e, f, flink_type) {
                    problems.push(format!("partition {key}: {why}"));
                    differs = true;
                }
            }
            if w.len() != g.len() {
                differs = true;
            }
        }
        if differs {
            problems.push(format!(
                "partition {key}: the engine's rows {got:?}\n      Flink's rows      {want:?}"
            ));
        }
    }
    problems
}

#[test]
fn every_case_gives_the_rows_flink_gives() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let flink_out = dir.path().join("flink");
    let flink = start_flink(&flink_out);
    // The engine's runs take well under a second all told: they go while Flink starts.
    let cases = read_cases("cases.json");
    let engine: Vec<EngineRun> = cases
        .iter()
        .map(|case| {
            let name = case["name"].as_str().expect("a case name");
            run_engine(case, &dir.path().join("engine").join(name))
        })
        .collect();
    let results = flink_results(flink);
    let mut failures = Vec::new();
    for (case, engine) in cases.iter().zip(&engine) {
        let name = case["name"].as_str().unwrap_or_default();
        let Some(flink) = results.get(name) else {
            failures.push(format!("{name}: the Flink runner reported nothing"));
            continue;
        };
        for problem in compare(case, flink, engine) {
            failures.push(format!("{name}: {problem}"));
        }
    }
    assert_eq!(results.len(), cases.len(), "a Flink result for every case");
    assert!(
        failures.is_empty(),
        "the engine and Flink disagree on {} point(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// What the engine says when it refuses each statement of rejected.json; `None` for the
/// statements it runs (see the top).
fn refusal(name: &str) -> Option<&'static str> {
    Some(match name {
        "refuse_greedy_last" | "refuse_greedy_last_range" => {
            "greedy quantifiers are not allowed as the last element"
        }
        "refuse_empty_match" => "patterns that can produce empty matches are not supported",
        "refuse_reluctant_optional" => "reluctant optional variables (??) are not supported",
        "refuse_upto_m" => "{,m} is not supported",
        "refuse_prev" => "PREV with a physical offset is not supported",
        "refuse_repeated_variable" => "pattern variables must be unique",
        "refuse_all_rows" => "ALL ROWS PER MATCH is not supported",
        "refuse_classifier" => "CLASSIFIER() is not supported",
        // The parser stops at DISTINCT's argument: COUNT(DISTINCT x) is not SQL it knows.
        "refuse_distinct_aggregate" => "is not valid SQL: line 7:27",
        "refuse_order_desc" => "orders rows by ascending time first",
        "refuse_within_months" => "MONTH intervals are not supported",
        "refuse_over_desc" => "can only be ordered in ascending time",
        "refuse_over_following" => "OVER windows end at the CURRENT ROW",
        "refuse_over_two_windows" => "must use the same window",
        "refuse_alternation"
        | "refuse_group_quantifier"
        | "refuse_order_not_time"
        | "refuse_over_not_time" => return None,
        other => {
            panic!("rejected.json has a new statement, {other}: say what the engine does with it")
        }
    })
}

#[test]
fn what_flink_refuses_the_engine_refuses_with_a_reason() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut failures = Vec::new();
    for case in read_cases("rejected.json") {
        let name = case["name"].as_str().expect("a case name");
        let run = run_engine(&case, &dir.path().join(name));
        match refusal(name) {
            Some(says) => {
                if run.ok || !run.stderr.contains(says) {
                    failures.push(format!(
                        "{name}: expected a refusal saying {says:?}; the engine said {:?} (ok: {})",
                        run.stderr.trim(),
                        run.ok
                    ));
                }
            }
            None => {
                if !run.ok {
                    failures.push(format!(
                        "{name}: the engine runs this beyond Flink, but said {:?}",
                        run.stderr.trim()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_sql_mapping_renames_only_the_rowtime_attribute() {
    assert_eq!(
        engine_sql("SELECT ts, tsx, 'ts' FROM t ORDER BY ts, CAST(a AS TINYINT)"),
        "SELECT ROWTIME, tsx, 'ts' FROM t ORDER BY ROWTIME, CAST(a AS INT)"
    );
    assert_eq!(decimal_scale("DECIMAL(38, 6)"), Some(6));
    assert!(value_difference(
        &serde_json::json!(1.2833333333),
        &serde_json::json!(1.283333),
        "DECIMAL(38, 6)"
    )
    .is_none());
    assert!(value_difference(&serde_json::json!(8.5), &serde_json::json!(8), "BIGINT").is_some());
    assert!(value_difference(&serde_json::json!("a"), &serde_json::json!("b"), "STRING").is_some());
}
