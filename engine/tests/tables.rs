//! Tables as sources, checked against an independent plain-Python reference of ksqlDB's table
//! queries (engine/tests/reference/ksql_tables.py, written from engine/docs/ksqldb-tables.md
//! and not from the engine's code): CREATE TABLE ... AS SELECT over a table with WHERE, and
//! GROUP BY over a table, where each change takes the old row's contribution out of its group
//! and adds the new one (ksqlDB's undo), with the exact output records.

mod common;

use std::path::Path;
use std::process::Command as Process;

use assert_cmd::Command;
use serde_json::{json, Value};

use common::Lcg;

const SOURCE: &str =
    "CREATE TABLE accounts (id STRING PRIMARY KEY, region STRING, balance INT, owner STRING)
  WITH (KAFKA_TOPIC='accounts', VALUE_FORMAT='JSON');";

/// Changes to twenty accounts: new rows, updates that move an account between regions or
/// change its balance (sometimes to null), and tombstones.
fn changes(seed: u64) -> Vec<Value> {
    let mut rng = Lcg(seed);
    (0..300)
        .map(|i| {
            let key = format!("a{}", rng.next(20));
            let value = if rng.next(8) == 0 {
                Value::Null
            } else {
                let balance = if rng.next(10) == 0 {
                    Value::Null
                } else {
                    json!(rng.next(200) as i64 - 50)
                };
                let region = ["north", "south", "east"][rng.next(3) as usize];
                json!({"region": region, "balance": balance, "owner": format!("o{}", rng.next(4))})
            };
            json!({"key": key, "value": value, "timestamp": 1000 + i * 10 + rng.next(5) as i64})
        })
        .collect()
}

fn run_engine(sql: &str, records: &[Value], output: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.sql"), format!("{SOURCE}\n{sql}")).unwrap();
    let lines: Vec<String> = records.iter().map(Value::to_string).collect();
    std::fs::write(dir.path().join("accounts.jsonl"), lines.join("\n")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args([
            "run",
            "--sql",
            "q.sql",
            "--input",
            "accounts=records:accounts.jsonl",
        ])
        .arg("--output")
        .arg(format!("{output}=file:out.jsonl"))
        .args(["--dead-letter", "dlq.jsonl"])
        .assert()
        .success();
    let dead = std::fs::read_to_string(dir.path().join("dlq.jsonl")).unwrap();
    assert!(dead.is_empty(), "{dead}");
    std::fs::read_to_string(dir.path().join("out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let record: Value = serde_json::from_str(l).unwrap();
            json!({"key": record["key"], "value": record["value"], "timestamp": record["timestamp"]})
        })
        .collect()
}

/// Runs `call` (Python over the reference's module, with `records` bound) and reads back
/// the outputs it prints as JSON lines.
fn reference(records: &[Value], call: &str) -> Vec<Value> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    let program = format!(
        "import json, sys\nsys.path.insert(0, {folder:?})\nfrom ksql_tables import *\n\
         records = json.load(sys.stdin)\noutputs, skipped = {call}\n\
         for o in outputs:\n    key = o['key'][0] if isinstance(o['key'], (list, tuple)) and len(o['key']) == 1 else o['key']\n    print(json.dumps({{'key': key, 'value': o['value'], 'timestamp': o['timestamp']}}))\n",
        folder = folder.display().to_string()
    );
    let mut child = Process::new("python3")
        .args(["-c", &program])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::Array(records.to_vec()).to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn assert_same(got: &[Value], want: &[Value]) {
    assert_eq!(got.len(), want.len(), "as many records");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "record {i}");
    }
}

#[test]
fn group_by_over_a_table_undoes_and_redoes_each_change() {
    for seed in [3, 8] {
        let records = changes(seed);
        let got = run_engine(
            "CREATE TABLE by_region AS SELECT region, COUNT(*) AS n, SUM(balance) AS total,
               AVG(balance) AS mean, COUNT(balance) AS known, COLLECT_LIST(owner) AS owners
             FROM accounts WHERE balance IS NULL OR balance < 120 GROUP BY region;",
            &records,
            "by_region",
        );
        let want = reference(
            &records,
            "table_aggregate(records, ['region'], [('COUNT', None, 'N'), ('SUM', 'balance', 'TOTAL'), \
             ('AVG', 'balance', 'MEAN'), ('COUNT', 'balance', 'KNOWN'), ('COLLECT_LIST', 'owner', 'OWNERS')], \
             where=lambda r: r.get('balance') is None or r['balance'] < 120)",
        );
        assert!(
            want.iter().any(|r| r["value"]["N"] == 0),
            "some region empties and stays at COUNT 0"
        );
        assert_same(&got, &want);
    }
}

#[test]
fn having_over_a_table_aggregation_writes_tombstones_only_for_rows_it_showed() {
    let records = changes(5);
    let got = run_engine(
        "CREATE TABLE busy AS SELECT region, COUNT(*) AS n FROM accounts GROUP BY region HAVING COUNT(*) > 5;",
        &records,
        "busy",
    );
    let want = reference(
        &records,
        "table_aggregate(records, ['region'], [('COUNT', None, 'N')], having=lambda k, r: r['N'] > 5)",
    );
    assert!(
        want.iter().any(|r| r["value"].is_null()),
        "a region drops below"
    );
    assert_same(&got, &want);
}

#[test]
fn a_table_filter_writes_tombstones_only_for_rows_that_passed() {
    let records = changes(13);
    let got = run_engine(
        "CREATE TABLE rich AS SELECT id, region, balance FROM accounts WHERE balance > 100;",
        &records,
        "rich",
    );
    let want = reference(
        &records,
        "table_select(records, projection=lambda k, r: {'REGION': r.get('region'), 'BALANCE': r.get('balance')}, \
         where=lambda r: r.get('balance') is not None and r['balance'] > 100)",
    );
    assert!(want.iter().any(|r| r["value"].is_null()));
    assert_same(&got, &want);
}

#[test]
fn aggregates_that_cannot_undo_are_refused_on_tables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("q.sql"),
        format!("{SOURCE}\nCREATE TABLE t AS SELECT region, LATEST_BY_OFFSET(owner) AS o, MIN(balance) AS lo, MAX(balance) AS hi FROM accounts GROUP BY region;"),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args(["run", "--sql", "q.sql"])
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "The aggregation functions LATEST_BY_OFFSET, MIN and MAX cannot be applied to a table source, only to a stream source.",
        ));
}
