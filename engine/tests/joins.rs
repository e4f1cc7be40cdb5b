//! Joins over files (ksqlDB's semantics, engine/docs/ksqldb-joins.md): the tutorial's
//! orders enriched with a customers table built from `customer-events`.

use std::path::Path;

use assert_cmd::Command;
use serde_json::{json, Value};

const SOURCES: &str =
    "CREATE STREAM orders (order_id STRING KEY, customer_id STRING, amount DOUBLE)
  WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON');
CREATE TABLE customers (id STRING PRIMARY KEY, name STRING, tier STRING)
  WITH (KAFKA_TOPIC='customer-events', VALUE_FORMAT='JSON');";

fn write_records(path: &Path, records: &[Value]) {
    let lines: Vec<String> = records.iter().map(Value::to_string).collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `query` over the orders and customers; the output records and the dead letters.
fn run(query: &str, orders: &[Value], customers: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.sql"), format!("{SOURCES}\n{query}")).unwrap();
    write_records(&dir.path().join("orders.jsonl"), orders);
    write_records(&dir.path().join("customers.jsonl"), customers);
    Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args(["run", "--sql", "q.sql"])
        .args(["--input", "orders=records:orders.jsonl"])
        .args(["--input", "customers=records:customers.jsonl"])
        .args(["--output", "ENRICHED=file:out.jsonl"])
        .args(["--dead-letter", "dlq.jsonl"])
        .assert()
        .success();
    (
        read_lines(&dir.path().join("out.jsonl")),
        read_lines(&dir.path().join("dlq.jsonl")),
    )
}

fn order(id: &str, customer: Option<&str>, amount: f64, timestamp: i64) -> Value {
    json!({"key": id, "value": {"customer_id": customer, "amount": amount}, "timestamp": timestamp})
}

fn customer(id: &str, value: Option<(&str, &str)>, timestamp: i64) -> Value {
    json!({
        "key": id,
        "value": value.map(|(name, tier)| json!({"name": name, "tier": tier})),
        "timestamp": timestamp,
    })
}

/// Each order meets the customer row as it stood at the order's time (inputs are read in
/// timestamp order, as Kafka Streams does); a later update or a delete changes only later
/// orders, and no order is emitted again.
#[test]
fn orders_meet_the_customer_as_of_their_time() {
    let customers = [
        customer("c1", Some(("Ann", "gold")), 1000),
        customer("c2", Some(("Bob", "silver")), 1000),
        customer("c1", Some(("Ann B", "gold")), 3500),
        customer("c2", None, 4500),
    ];
    let orders = [
        order("1", Some("c1"), 10.0, 2000),
        order("2", Some("c2"), 20.0, 3000),
        order("3", Some("c3"), 30.0, 4000),
        order("4", Some("c1"), 40.0, 5000),
        order("5", Some("c2"), 50.0, 6000),
        order("6", None, 60.0, 7000),
    ];
    let left = "CREATE STREAM enriched AS SELECT o.customer_id, o.order_id, amount, c.name, tier
  FROM orders o LEFT JOIN customers c ON o.customer_id = c.id;";
    let (got, dead) = run(left, &orders, &customers);
    let rows: Vec<(Value, Value, Value, i64)> = got
        .iter()
        .map(|r| {
            (
                r["key"].clone(),
                r["value"]["O_ORDER_ID"].clone(),
                r["value"]["C_NAME"].clone(),
                r["timestamp"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (json!("c1"), json!("1"), json!("Ann"), 2000),
            (json!("c2"), json!("2"), json!("Bob"), 3000),
            (json!("c3"), json!("3"), Value::Null, 4000),
            (json!("c1"), json!("4"), json!("Ann B"), 5000),
            (json!("c2"), json!("5"), Value::Null, 6000),
        ]
    );
    assert_eq!(got[0]["value"]["AMOUNT"], 10.0);
    assert_eq!(got[0]["value"]["TIER"], "gold");
    assert_eq!(dead.len(), 1, "the order without a customer id");
    assert_eq!(dead[0]["offset"], 5);
    assert!(dead[0]["reason"]
        .as_str()
        .unwrap()
        .contains("join key is null"));

    let inner = left.replace("LEFT JOIN", "JOIN");
    let (got, _) = run(&inner, &orders, &customers);
    let ids: Vec<&Value> = got.iter().map(|r| &r["value"]["O_ORDER_ID"]).collect();
    assert_eq!(ids, [&json!("1"), &json!("2"), &json!("4")]);
}
