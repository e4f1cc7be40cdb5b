//! `advisor-engine run` over files: the page's queries end to end with results computed
//! independently, windows, late events, and bad records.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;

fn engine() -> Command {
    Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
}

/// A small deterministic generator, so the test needs no crate and repeats exactly.
use common::Lcg;

const ORDERS_STREAM: &str = "CREATE STREAM order_events (
  order_id BIGINT,
  customer_id STRING,
  order_status STRING,
  order_total DOUBLE,
  created_at BIGINT
) WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON', TIMESTAMP='created_at');
";

const PAGE_TABLE: &str = "CREATE TABLE customer_order_totals AS
SELECT
  customer_id,
  COUNT(*) AS order_count,
  SUM(order_total) AS total_spent,
  MAX(created_at) AS last_order_time
FROM order_events
WINDOW TUMBLING (SIZE 1 HOUR)
GROUP BY customer_id
EMIT CHANGES;
";

struct Order {
    id: i64,
    customer: String,
    total: f64,
    at: i64,
}

fn orders(count: usize) -> Vec<Order> {
    let mut rng = Lcg(42);
    let mut at = 1_709_640_000_000;
    (0..count)
        .map(|i| {
            at += rng.next(60_000) as i64;
            Order {
                id: i as i64,
                customer: format!("cust_{}", rng.next(20)),
                total: rng.next(100_000) as f64 / 100.0,
                at,
            }
        })
        .collect()
}

fn write_orders(path: &Path, orders: &[Order]) {
    let lines: Vec<String> = orders
        .iter()
        .map(|o| {
            json!({"order_id": o.id, "customer_id": o.customer, "order_status": "NEW", "order_total": o.total, "created_at": o.at})
                .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// A temporary folder holding `count` generated orders in orders.jsonl, and the orders.
fn orders_in_dir(count: usize) -> (tempfile::TempDir, Vec<Order>) {
    let dir = tempfile::tempdir().unwrap();
    let orders = orders(count);
    write_orders(&dir.path().join("orders.jsonl"), &orders);
    (dir, orders)
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect()
}

fn run(dir: &Path, sql: &str, input: &str, output: &str) -> assert_cmd::assert::Assert {
    std::fs::write(dir.join("q.sql"), sql).unwrap();
    engine()
        .current_dir(dir)
        .args(["run", "--sql", "q.sql", "--input"])
        .arg(format!("order-events=file:{input}"))
        .arg("--output")
        .arg(format!("{output}=file:out.jsonl"))
        .args(["--dead-letter", "dlq.jsonl"])
        .assert()
}

#[test]
fn the_pages_order_totals_match_an_independent_computation() {
    let (dir, orders) = orders_in_dir(3000);
    run(
        dir.path(),
        &format!("{ORDERS_STREAM}\n{PAGE_TABLE}"),
        "orders.jsonl",
        "customer_order_totals",
    )
    .success()
    .stderr(predicate::str::contains(
        "3000 records in, 3000 out, 0 dead letters",
    ));

    // Expected: per customer and hour window, the count, sum and latest time.
    let mut expected: BTreeMap<(String, i64), (i64, f64, i64)> = BTreeMap::new();
    for o in &orders {
        let start = o.at - o.at.rem_euclid(HOUR);
        let e = expected
            .entry((o.customer.clone(), start))
            .or_insert((0, 0.0, 0));
        e.0 += 1;
        e.1 += o.total;
        e.2 = e.2.max(o.at);
    }
    // EMIT CHANGES: the last update per key and window is the final value.
    let mut last: HashMap<(String, i64), Value> = HashMap::new();
    let lines = read_lines(&dir.path().join("out.jsonl"));
    assert_eq!(lines.len(), 3000, "one update per input record");
    for line in lines {
        let key = line["key"].as_str().unwrap().to_string();
        let start = line["window"]["start"].as_i64().unwrap();
        assert_eq!(line["window"]["end"].as_i64().unwrap() - start, HOUR);
        last.insert((key, start), line["value"].clone());
    }
    assert_eq!(last.len(), expected.len());
    for ((customer, start), (count, sum, latest)) in &expected {
        let value = &last[&(customer.clone(), *start)];
        assert_eq!(value["ORDER_COUNT"], json!(count), "{customer} {start}");
        assert!(
            (value["TOTAL_SPENT"].as_f64().unwrap() - sum).abs() < 1e-6,
            "{customer} {start}"
        );
        assert_eq!(value["LAST_ORDER_TIME"], json!(latest));
        let names: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(
            names,
            ["ORDER_COUNT", "TOTAL_SPENT", "LAST_ORDER_TIME"],
            "ksqlDB's column order"
        );
    }
}

#[test]
fn emit_final_writes_one_row_per_closed_window() {
    let (dir, orders) = orders_in_dir(2000);
    let sql = format!(
        "{ORDERS_STREAM}\nCREATE TABLE hourly AS SELECT customer_id, COUNT(*) AS n FROM order_events \
         WINDOW TUMBLING (SIZE 1 HOUR, GRACE PERIOD 10 MINUTES) GROUP BY customer_id EMIT FINAL;"
    );
    run(dir.path(), &sql, "orders.jsonl", "hourly").success();
    let stream_time = orders.iter().map(|o| o.at).max().unwrap();
    let mut expected: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for o in &orders {
        let start = o.at - o.at.rem_euclid(HOUR);
        // Only windows closed by the end of the input are emitted.
        if start + HOUR + 10 * 60_000 <= stream_time {
            *expected.entry((o.customer.clone(), start)).or_default() += 1;
        }
    }
    let lines = read_lines(&dir.path().join("out.jsonl"));
    let mut seen = BTreeMap::new();
    for line in &lines {
        let key = (
            line["key"].as_str().unwrap().to_string(),
            line["window"]["start"].as_i64().unwrap(),
        );
        assert!(
            seen.insert(key, line["value"]["N"].as_i64().unwrap())
                .is_none(),
            "one row per window"
        );
    }
    assert_eq!(seen, expected);
    assert!(!expected.is_empty());
}

#[test]
fn late_events_go_to_the_dead_letter_output_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let base = 1_709_640_000_000i64;
    let lines = [
        json!({"customer_id": "a", "order_total": 1.0, "created_at": base + 1000}),
        json!({"customer_id": "a", "order_total": 1.0, "created_at": base + 2 * HOUR}),
        // Late: its hour closed at base + 1 hour + 1 minute of grace.
        json!({"customer_id": "a", "order_total": 1.0, "created_at": base + 5000}),
        json!({"customer_id": "a", "order_total": 1.0, "created_at": base + 2 * HOUR + 1}),
    ];
    std::fs::write(
        dir.path().join("orders.jsonl"),
        lines
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let sql = format!(
        "{ORDERS_STREAM}\nCREATE TABLE t AS SELECT customer_id, COUNT(*) AS n FROM order_events \
         WINDOW TUMBLING (SIZE 1 HOUR, GRACE PERIOD 1 MINUTE) GROUP BY customer_id;"
    );
    run(dir.path(), &sql, "orders.jsonl", "t")
        .success()
        .stderr(predicate::str::contains(
            "4 records in, 3 out, 1 dead letters (1 late)",
        ));
    let dead = read_lines(&dir.path().join("dlq.jsonl"));
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["offset"], 2);
    assert!(dead[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("late event"));
    let out = read_lines(&dir.path().join("out.jsonl"));
    assert_eq!(out.last().unwrap()["value"]["N"], 2);
}

#[test]
fn hopping_windows_count_each_event_in_every_window_it_falls_in() {
    let (dir, orders) = orders_in_dir(1000);
    let sql = format!(
        "{ORDERS_STREAM}\nCREATE TABLE hop AS SELECT customer_id, COUNT(*) AS n, WINDOWSTART AS ws FROM order_events \
         WINDOW HOPPING (SIZE 30 MINUTES, ADVANCE BY 10 MINUTES) GROUP BY customer_id;"
    );
    run(dir.path(), &sql, "orders.jsonl", "hop").success();
    let (size, advance) = (30 * 60_000i64, 10 * 60_000i64);
    let mut expected: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for o in &orders {
        let mut start = o.at - o.at.rem_euclid(advance);
        while start > o.at - size {
            *expected.entry((o.customer.clone(), start)).or_default() += 1;
            start -= advance;
        }
    }
    let mut last = BTreeMap::new();
    let lines = read_lines(&dir.path().join("out.jsonl"));
    assert_eq!(lines.len(), 3000, "each event updates three windows");
    for line in lines {
        let start = line["window"]["start"].as_i64().unwrap();
        assert_eq!(line["value"]["WS"], json!(start));
        last.insert(
            (line["key"].as_str().unwrap().to_string(), start),
            line["value"]["N"].as_i64().unwrap(),
        );
    }
    assert_eq!(last, expected);
}

#[test]
fn a_stream_query_filters_and_projects_with_ksqldb_names() {
    let (dir, _) = orders_in_dir(200);
    let sql = format!(
        "{ORDERS_STREAM}\nCREATE STREAM big AS SELECT order_id, UCASE(customer_id), order_total * 2 AS doubled, \
         CASE WHEN order_total > 900 THEN 'huge' ELSE 'big' END FROM order_events WHERE order_total > 500 EMIT CHANGES;"
    );
    run(dir.path(), &sql, "orders.jsonl", "BIG").success();
    let lines = read_lines(&dir.path().join("out.jsonl"));
    let expected = orders(200).iter().filter(|o| o.total > 500.0).count();
    assert_eq!(lines.len(), expected);
    let first = lines[0]["value"].as_object().unwrap();
    let names: Vec<&String> = first.keys().collect();
    assert_eq!(names, ["ORDER_ID", "KSQL_COL_0", "DOUBLED", "KSQL_COL_1"]);
    assert!(first["KSQL_COL_0"].as_str().unwrap().starts_with("CUST_"));
}

#[test]
fn date_functions_format_and_parse_epoch_times_as_ksqldb_does() {
    let dir = tempfile::tempdir().unwrap();
    // 2024-03-05T13:04:05.067Z and a string the pattern cannot read.
    std::fs::write(
        dir.path().join("orders.jsonl"),
        "{\"order_id\":1,\"customer_id\":\"2024-03-05\",\"order_total\":1.0,\"created_at\":1709643845067}\n\
         {\"order_id\":2,\"customer_id\":\"5 March\",\"order_total\":1.0,\"created_at\":1709643845067}\n",
    )
    .unwrap();
    let sql = format!(
        "{ORDERS_STREAM}\nCREATE STREAM dated AS SELECT order_id, \
         TIMESTAMPTOSTRING(created_at, 'yyyy-MM-dd''T''HH:mm:ss.SSS') AS at_utc, \
         TIMESTAMPTOSTRING(created_at, 'HH:mm XXX', 'America/New_York') AS at_new_york, \
         STRINGTOTIMESTAMP(TIMESTAMPTOSTRING(created_at, 'yyyyMMddHHmmssSSS'), 'yyyyMMddHHmmssSSS') AS round_trip, \
         STRINGTODATE(customer_id, 'yyyy-MM-dd') AS day, DATETOSTRING(19787, 'EEE d MMM yyyy') AS day_text, \
         UNIX_TIMESTAMP() > created_at AS after \
         FROM order_events EMIT CHANGES;"
    );
    run(dir.path(), &sql, "orders.jsonl", "DATED").success();
    let lines = read_lines(&dir.path().join("out.jsonl"));
    // ksqlDB: a function that fails on a row's values (StringToDate.java throws) is NULL in
    // that row, which goes on; the failure goes to the processing log, not the output.
    assert_eq!(
        lines.len(),
        2,
        "the second order is written with a NULL date"
    );
    assert_eq!(lines[1]["value"]["DAY"], Value::Null);
    assert_eq!(lines[1]["value"]["ORDER_ID"], 2);
    let row = &lines[0]["value"];
    assert_eq!(row["AT_UTC"], "2024-03-05T13:04:05.067");
    assert_eq!(row["AT_NEW_YORK"], "08:04 -05:00");
    assert_eq!(row["ROUND_TRIP"], 1_709_643_845_067i64);
    assert_eq!(row["DAY"], 19_787);
    assert_eq!(row["DAY_TEXT"], "Tue 5 Mar 2024");
    assert_eq!(row["AFTER"], true);
    assert!(read_lines(&dir.path().join("dlq.jsonl")).is_empty());
}

#[test]
fn bad_records_go_to_the_dead_letter_output_with_the_reason_and_the_query_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let oversize = format!(
        "{{\"customer_id\": \"x\", \"pad\": \"{}\"}}",
        "a".repeat(1 << 20)
    );
    let lines = [
        "{\"customer_id\": \"a\", \"order_total\": 1.5, \"created_at\": 1000}".to_string(),
        "{not json".to_string(),
        "{\"customer_id\": \"a\", \"order_total\": \"many\", \"created_at\": 2000}".to_string(),
        "{\"order_total\": 2.0, \"created_at\": 3000}".to_string(),
        "[1, 2, 3]".to_string(),
        "{\"customer_id\": \"a\", \"order_total\": 1.0}".to_string(),
        oversize,
        "{\"customer_id\": \"a\", \"order_total\": 2.5, \"created_at\": 4000}".to_string(),
    ];
    std::fs::write(dir.path().join("orders.jsonl"), lines.join("\n")).unwrap();
    run(
        dir.path(),
        &format!("{ORDERS_STREAM}\n{PAGE_TABLE}"),
        "orders.jsonl",
        "customer_order_totals",
    )
    .success()
    .stderr(predicate::str::contains(
        "8 records in, 2 out, 6 dead letters",
    ));
    let dead = read_lines(&dir.path().join("dlq.jsonl"));
    let reasons: Vec<(u64, String)> = dead
        .iter()
        .map(|d| {
            (
                d["offset"].as_u64().unwrap(),
                d["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        (1, "malformed JSON"),
        (
            2,
            "field ORDER_TOTAL: expected DOUBLE, got the string \"many\"",
        ),
        (3, "GROUP BY key is null"),
        (4, "not a JSON object"),
        (5, "timestamp column is null"),
        (6, "exceeds the 1048576-byte limit"),
    ];
    assert_eq!(reasons.len(), expect.len(), "{reasons:?}");
    for ((offset, reason), (want_offset, want)) in reasons.iter().zip(expect) {
        assert_eq!(*offset, want_offset);
        assert!(reason.contains(want), "{reason} should say {want}");
    }
    assert_eq!(dead[0]["value"], "{not json");
    let out = read_lines(&dir.path().join("out.jsonl"));
    assert_eq!(out.last().unwrap()["value"]["TOTAL_SPENT"], 4.0);
}

#[test]
fn sql_errors_name_the_line_and_column_and_unsupported_things_say_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("orders.jsonl"), "").unwrap();
    let cases = [
        (format!("{ORDERS_STREAM}\nCREATE TABLE t AS SELECT customer_id, COUNT(* FROM order_events GROUP BY customer_id;"), "line 9:47: expected ')' but found 'FROM'"),
        ("CREATE STREAM s (a INT) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='PROTOBUF');".into(), "VALUE_FORMAT 'PROTOBUF' is not supported by advisor-engine yet"),
        ("CREATE STREAM s (a INT) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='AVRO');".into(), "the AVRO format needs a Schema Registry: start the engine with --schema-registry-url"),
        ("CREATE STREAM s WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');".into(), "The statement does not define any columns."),
        (format!("{ORDERS_STREAM}\nCREATE TABLE t AS SELECT customer_id, order_total, COUNT(*) FROM order_events GROUP BY customer_id;"), "column ORDER_TOTAL must be in GROUP BY"),
        (format!("{ORDERS_STREAM}\nCREATE TABLE t AS SELECT COUNT(*) AS n FROM order_events GROUP BY customer_id;"), "Key missing from projection"),
        (format!("{ORDERS_STREAM}\nCREATE TABLE t AS SELECT customer_id, MEDIAN(order_total) FROM order_events GROUP BY customer_id;"), "function MEDIAN is not supported"),
        (format!("{ORDERS_STREAM}\nCREATE STREAM m AS SELECT * FROM order_events MATCH_RECOGNIZE (ORDER BY ROWTIME MEASURES A.order_id AS o ALL ROWS PER MATCH PATTERN (A) DEFINE A AS TRUE);"), "line 9:106: ALL ROWS PER MATCH is not supported (as in Flink 2.3); use ONE ROW PER MATCH"),
        (format!("{ORDERS_STREAM}\nCREATE STREAM o AS SELECT customer_id, COUNT(*) OVER (PARTITION BY customer_id ORDER BY ROWTIME RANGE BETWEEN INTERVAL '1' HOUR PRECEDING AND 1 FOLLOWING) AS n FROM order_events;"), "OVER windows end at the CURRENT ROW"),
        (format!("{ORDERS_STREAM}\nCREATE STREAM o AS SELECT customer_id, TOPK(order_total, 2) OVER (ORDER BY ROWTIME) AS n FROM order_events;"), "OVER windows take COUNT, SUM, MIN, MAX and AVG"),
        (format!("{ORDERS_STREAM}\nSELECT * FROM order_events EMIT CHANGES;"), "SELECT is not a statement a queries file can run"),
        (format!("{ORDERS_STREAM}\nCREATE STREAM x AS SELECT nope FROM order_events;"), "column NOPE does not exist"),
        (format!("{ORDERS_STREAM}\nCREATE TABLE t AS SELECT customer_id, order_status, COUNT(*) AS n FROM order_events GROUP BY customer_id, order_status;"), "The 'KAFKA' format only supports a single field. Got: [`CUSTOMER_ID` STRING KEY, `ORDER_STATUS` STRING KEY]"),
        ("CREATE STREAM s (a INT) WITH (KAFKA_TOPIC='t', FORMAT='JSON', KEY_FORMAT='KAFKA');".into(), "Cannot supply both 'FORMAT' and 'KEY_FORMAT'"),
        ("CREATE STREAM s (a INT, b INT) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='KAFKA');".into(), "The 'KAFKA' format only supports a single field"),
        ("CREATE STREAM s (k BOOLEAN KEY, a INT) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');".into(), "The 'KAFKA' format does not support type 'BOOLEAN'"),
    ];
    for (sql, message) in cases {
        std::fs::write(dir.path().join("q.sql"), &sql).unwrap();
        engine()
            .current_dir(dir.path())
            .args([
                "run",
                "--sql",
                "q.sql",
                "--input",
                "order-events=file:orders.jsonl",
            ])
            .assert()
            .failure()
            .stderr(predicate::str::contains(message));
    }
    std::fs::write(
        dir.path().join("q.sql"),
        format!("{ORDERS_STREAM}\n{PAGE_TABLE}"),
    )
    .unwrap();
    engine()
        .current_dir(dir.path())
        .args(["run", "--sql", "q.sql"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no --input for ORDER_EVENTS"));
    engine()
        .current_dir(dir.path())
        .args(["run", "--sql", "q.sql", "--input", "nowhere"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is not NAME=file:PATH"));
}

#[test]
fn the_readme_example_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    engine()
        .current_dir(&root)
        .args([
            "run",
            "--sql",
            "examples/orders.sql",
            "--input",
            "order-events=file:examples/orders.jsonl",
        ])
        .arg("--output")
        .arg(format!(
            "customer_order_totals=file:{}",
            dir.path().join("totals.jsonl").display()
        ))
        .arg("--dead-letter")
        .arg(dir.path().join("dead.jsonl"))
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "6 records in, 5 out, 1 dead letters",
        ));
    let totals = read_lines(&dir.path().join("totals.jsonl"));
    assert_eq!(totals[2]["key"], "cust_123");
    assert_eq!(totals[2]["value"]["ORDER_COUNT"], 2);
    assert!((totals[2]["value"]["TOTAL_SPENT"].as_f64().unwrap() - 220.49).abs() < 1e-9);
}

/// HAVING and expressions over aggregates: rows failing HAVING are tombstones (ksqlDB's
/// table filter forwards a null for them), the rest carry the computed columns.
#[test]
fn having_and_expressions_over_aggregates_match_an_independent_computation() {
    let (dir, orders) = orders_in_dir(3000);
    let sql = format!(
        "{ORDERS_STREAM}\nCREATE TABLE regulars AS SELECT customer_id, COUNT(*) AS n, \
         SUM(order_total) / COUNT(*) AS mean, COUNT(*) * 2 + 1 AS odd \
         FROM order_events GROUP BY customer_id HAVING COUNT(*) >= 100 EMIT CHANGES;"
    );
    run(dir.path(), &sql, "orders.jsonl", "regulars").success();

    // A row HAVING leaves out is a tombstone only if its key's previous row passed (ksqlDB's
    // table filter with old values): counts only grow, so no row here is ever a tombstone.
    let mut seen: BTreeMap<String, (i64, f64)> = BTreeMap::new();
    let mut expected_rows = 0;
    for o in &orders {
        let e = seen.entry(o.customer.clone()).or_insert((0, 0.0));
        e.0 += 1;
        e.1 += o.total;
        if e.0 >= 100 {
            expected_rows += 1;
        }
    }
    let lines = read_lines(&dir.path().join("out.jsonl"));
    assert_eq!(lines.len(), expected_rows);
    assert!(lines.iter().all(|l| !l["value"].is_null()));
    let mut last: BTreeMap<String, Value> = BTreeMap::new();
    for line in lines {
        last.insert(
            line["key"].as_str().unwrap().to_string(),
            line["value"].clone(),
        );
    }
    for (customer, (count, sum)) in &seen {
        if *count < 100 {
            assert!(
                !last.contains_key(customer),
                "{customer}: {count} orders fail HAVING"
            );
            continue;
        }
        let value = &last[customer];
        assert_eq!(value["N"], json!(count));
        assert!((value["MEAN"].as_f64().unwrap() - sum / *count as f64).abs() < 1e-9);
        assert_eq!(value["ODD"], json!(2 * count + 1));
    }
    assert!(seen.values().any(|(count, _)| *count >= 100));
}

/// `records:` inputs carry each record's timestamp, key and partition in an envelope: the
/// windows follow the envelopes' timestamps, blank lines keep their offsets, and a line that
/// is not an envelope is dead-lettered like any bad value.
#[test]
fn record_envelopes_give_the_event_time_and_bad_ones_are_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        json!({"key": "k", "value": {"customer_id": "a", "order_total": 1.0}, "timestamp": 1000, "partition": 1}).to_string(),
        String::new(),
        json!({"value": {"customer_id": "a", "order_total": 2.5}, "timestamp": 2000}).to_string(),
        json!({"value": {"customer_id": "b", "order_total": 3.0}, "timestamp": HOUR + 5}).to_string(),
        "{not an envelope".to_string(),
    ];
    std::fs::write(dir.path().join("events.jsonl"), lines.join("\n") + "\n").unwrap();
    std::fs::write(
        dir.path().join("q.sql"),
        "CREATE STREAM s (customer_id STRING, order_total DOUBLE) \
         WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON');\n\
         CREATE TABLE t AS SELECT customer_id, COUNT(*) AS n, SUM(order_total) AS total \
         FROM s WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY customer_id EMIT CHANGES;",
    )
    .unwrap();
    engine()
        .current_dir(dir.path())
        .args(["run", "--sql", "q.sql"])
        .args(["--input", "order-events=records:events.jsonl"])
        .args(["--output", "t=file:out.jsonl", "--dead-letter", "dlq.jsonl"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "4 records in, 3 out, 1 dead letters",
        ));
    let rows: Vec<(Value, i64, i64, f64, i64)> = read_lines(&dir.path().join("out.jsonl"))
        .iter()
        .map(|line| {
            (
                line["key"].clone(),
                line["window"]["start"].as_i64().unwrap(),
                line["value"]["N"].as_i64().unwrap(),
                line["value"]["TOTAL"].as_f64().unwrap(),
                line["timestamp"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (json!("a"), 0, 1, 1.0, 1000),
            (json!("a"), 0, 2, 3.5, 2000),
            (json!("b"), HOUR, 1, 3.0, HOUR + 5),
        ]
    );
    let dead = read_lines(&dir.path().join("dlq.jsonl"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["offset"], 4);
    assert!(dead[0]["reason"]
        .as_str()
        .unwrap()
        .contains("malformed JSON"));
}

/// A TIMESTAMP column written as text, read with TIMESTAMP_FORMAT (a Java pattern): the
/// events fall in the windows of the times the text says; text that does not parse is a
/// dead letter naming the pattern.
#[test]
fn a_string_timestamp_is_read_with_its_timestamp_format() {
    let dir = tempfile::tempdir().unwrap();
    let sql = "CREATE STREAM order_events (customer_id STRING, order_total DOUBLE, created STRING)
  WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON', TIMESTAMP='created',
        TIMESTAMP_FORMAT='yyyy-MM-dd''T''HH:mm:ssX');
CREATE TABLE per_hour AS SELECT customer_id, COUNT(*) AS n FROM order_events
  WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY customer_id EMIT CHANGES;";
    let lines = [
        json!({"customer_id": "a", "order_total": 1.0, "created": "2024-03-05T10:15:00Z"}),
        json!({"customer_id": "a", "order_total": 2.0, "created": "2024-03-05T10:59:59Z"}),
        json!({"customer_id": "a", "order_total": 3.0, "created": "2024-03-05T11:00:00+01:00"}),
        json!({"customer_id": "a", "order_total": 4.0, "created": "yesterday"}),
    ];
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(dir.path().join("orders.jsonl"), text.join("\n")).unwrap();
    run(dir.path(), sql, "orders.jsonl", "per_hour").success();
    let out = read_lines(&dir.path().join("out.jsonl"));
    let ten = 1_709_632_800_000i64; // 2024-03-05T10:00:00Z
    let windows: Vec<(i64, i64)> = out
        .iter()
        .map(|r| {
            (
                r["window"]["start"].as_i64().unwrap(),
                r["value"]["N"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        windows,
        [(ten, 1), (ten, 2), (ten, 3)],
        "11:00+01:00 is 10:00Z"
    );
    assert_eq!(
        out[2]["timestamp"],
        ten + 3_599_000,
        "ROWTIME is the newest time, 10:59:59Z"
    );
    let dead = read_lines(&dir.path().join("dlq.jsonl"));
    assert_eq!(dead.len(), 1);
    let reason = dead[0]["reason"].as_str().unwrap();
    assert!(reason.contains("TIMESTAMP_FORMAT"), "{reason}");
}

/// A table read by CREATE TABLE ... AS SELECT: each change to a row is a change of the
/// result under the same key; a row the WHERE leaves out, and a tombstone, write a tombstone
/// when the key's previous row was in the result, and nothing otherwise.
#[test]
fn a_table_read_by_a_query_passes_changes_and_tombstones_on() {
    let dir = tempfile::tempdir().unwrap();
    let sql = "CREATE TABLE users (id STRING PRIMARY KEY, name STRING, age INT)
  WITH (KAFKA_TOPIC='users', VALUE_FORMAT='JSON');
CREATE TABLE adults AS SELECT id, UCASE(name) AS name FROM users WHERE age >= 18;";
    std::fs::write(dir.path().join("q.sql"), sql).unwrap();
    let records = [
        json!({"key": "u1", "value": {"name": "ann", "age": 30}, "timestamp": 1}),
        json!({"key": "u2", "value": {"name": "bob", "age": 10}, "timestamp": 2}),
        json!({"key": "u1", "value": {"name": "ann", "age": 12}, "timestamp": 3}),
        json!({"key": "u3", "value": {"name": "cid", "age": 40}, "timestamp": 4}),
        json!({"key": "u3", "value": null, "timestamp": 5}),
        json!({"key": null, "value": {"name": "nobody", "age": 50}, "timestamp": 6}),
    ];
    let text: Vec<String> = records.iter().map(Value::to_string).collect();
    std::fs::write(dir.path().join("users.jsonl"), text.join("\n")).unwrap();
    engine()
        .current_dir(dir.path())
        .args([
            "run",
            "--sql",
            "q.sql",
            "--input",
            "users=records:users.jsonl",
        ])
        .args([
            "--output",
            "adults=file:out.jsonl",
            "--dead-letter",
            "dlq.jsonl",
        ])
        .assert()
        .success();
    let out: Vec<(Value, Value, i64)> = read_lines(&dir.path().join("out.jsonl"))
        .into_iter()
        .map(|r| {
            (
                r["key"].clone(),
                r["value"].clone(),
                r["timestamp"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        out,
        [
            (json!("u1"), json!({"NAME": "ANN"}), 1),
            (json!("u1"), Value::Null, 3),
            (json!("u3"), json!({"NAME": "CID"}), 4),
            (json!("u3"), Value::Null, 5),
        ]
    );
    let dead = read_lines(&dir.path().join("dlq.jsonl"));
    assert_eq!(dead.len(), 1);
    assert!(dead[0]["reason"]
        .as_str()
        .unwrap()
        .contains("PRIMARY KEY is null"));
}
