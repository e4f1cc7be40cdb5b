//! The plain-Python references in tests/reference, run from tests: ksqlDB's session
//! aggregation and the tutorial's FraudDetector, written from their documented semantics and
//! not from the engine's code.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

fn script(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(name)
}

/// Runs a reference script with `args` over JSON lines; its output lines.
fn run(name: &str, args: &[&str], input: &[Value]) -> Vec<Value> {
    use std::io::Write;
    let mut child = Command::new("python3")
        .arg(script(name))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs the reference");
    let mut text = String::new();
    for line in input {
        text.push_str(&line.to_string());
        text.push('\n');
    }
    let mut stdin = child.stdin.take().expect("the reference's stdin");
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let output = child.wait_with_output().expect("the reference ends");
    writer
        .join()
        .expect("the writer thread")
        .expect("the reference reads its input");
    assert!(
        output.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8 output")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect()
}

/// ksqlDB's session aggregation over `records` ({key, timestamp, offset, value}): the output
/// records and the offsets of the records it found late.
pub fn sessions(
    records: &[Value],
    window_args: &[&str],
    aggregates: &str,
) -> (Vec<Value>, Vec<u64>) {
    let late = tempfile::NamedTempFile::new().expect("a temporary file");
    let late_path = late.path().display().to_string();
    let mut args: Vec<&str> = window_args.to_vec();
    args.extend(["--aggregates", aggregates, "--late", &late_path]);
    let outputs = run("ksql_sessions.py", &args, records);
    let late = std::fs::read_to_string(late.path())
        .expect("the late records")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let record: Value = serde_json::from_str(l).expect("JSON lines");
            record["record"]["offset"].as_u64().expect("an offset")
        })
        .collect();
    (outputs, late)
}

/// The tutorial's FraudDetector over login events ({user_id, ip_address, status,
/// event_time}): its alerts in order. It keeps failures newer than `window_ms` (300,000
/// in the tutorial).
pub fn fraud_alerts(events: &[Value], window_ms: i64) -> Vec<Value> {
    let window = window_ms.to_string();
    run("fraud_detector.py", &["--window-ms", &window], events)
}

/// ksqlDB's joins (tests/reference/ksql_joins.py) over `records` ({source: left|right, key,
/// value, timestamp} in processing order) with the script's options (`--kind`, `--type`,
/// `--within-ms`, ...): its output records ({key, value: {left, right} | null, timestamp})
/// and the records it skipped.
pub fn joins(records: &[Value], args: &[&str]) -> (Vec<Value>, Vec<Value>) {
    use std::io::Write;
    let skipped = tempfile::NamedTempFile::new().expect("a temporary file");
    let mut child = Command::new("python3")
        .arg(script("ksql_joins.py"))
        .args(args)
        .arg("--skipped")
        .arg(skipped.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs the reference");
    let text = Value::Array(records.to_vec()).to_string();
    let mut stdin = child.stdin.take().expect("the reference's stdin");
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let output = child.wait_with_output().expect("the reference ends");
    writer
        .join()
        .expect("the writer thread")
        .expect("the reference reads its input");
    assert!(
        output.status.success(),
        "ksql_joins.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let outputs: Value = serde_json::from_slice(&output.stdout).expect("a JSON list");
    let skipped: Value =
        serde_json::from_str(&std::fs::read_to_string(skipped.path()).expect("the skipped file"))
            .expect("a JSON list");
    let list = |v: Value| match v {
        Value::Array(items) => items,
        other => panic!("not a list: {other}"),
    };
    (list(outputs), list(skipped))
}
