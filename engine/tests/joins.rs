//! Joins over files (ksqlDB's semantics, engine/docs/ksqldb-joins.md): the tutorial's
//! orders enriched with a customers table built from `customer-events`, checked by hand and
//! against an independent plain-Python reference (tests/reference/ksql_joins.py, written
//! from the note and not from the engine's code), and ksqlDB's refusals.

mod common;

use std::path::Path;

use assert_cmd::Command;
use serde_json::{json, Value};

use common::Lcg;

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

/// Runs the statements over the named inputs (record envelopes), writing ENRICHED: the
/// output records and the dead letters.
fn run_inputs(sql: &str, inputs: &[(&str, &[Value])]) -> (Vec<Value>, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.sql"), sql).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_advisor-engine"));
    command
        .current_dir(dir.path())
        .args(["run", "--sql", "q.sql"]);
    for (name, records) in inputs {
        write_records(&dir.path().join(format!("{name}.jsonl")), records);
        command.args(["--input", &format!("{name}=records:{name}.jsonl")]);
    }
    command
        .args(["--output", "ENRICHED=file:out.jsonl"])
        .args(["--dead-letter", "dlq.jsonl"])
        .assert()
        .success();
    (
        read_lines(&dir.path().join("out.jsonl")),
        read_lines(&dir.path().join("dlq.jsonl")),
    )
}

/// Runs the engine on `sql`, which it must refuse to start, saying `message`.
fn assert_refused(sql: &str, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.sql"), sql).unwrap();
    Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args(["run", "--sql", "q.sql"])
        .assert()
        .failure()
        .stderr(predicates::str::contains(message));
}

/// Runs `query` over the orders and customers.
fn run(query: &str, orders: &[Value], customers: &[Value]) -> (Vec<Value>, Vec<Value>) {
    run_inputs(
        &format!("{SOURCES}\n{query}"),
        &[("orders", orders), ("customers", customers)],
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
                r["value"]["ORDER_ID"].clone(),
                r["value"]["NAME"].clone(),
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
    let ids: Vec<&Value> = got.iter().map(|r| &r["value"]["ORDER_ID"]).collect();
    assert_eq!(ids, [&json!("1"), &json!("2"), &json!("4")]);
}

/// Orders and customer changes at distinct, rising times across both inputs (so the
/// engine's timestamp order is the reference's processing order), with customers created,
/// renamed and deleted, orders for customers that never exist, and orders without one.
fn random_inputs(seed: u64) -> (Vec<Value>, Vec<Value>) {
    let mut rng = Lcg(seed);
    let (mut orders, mut customers) = (Vec::new(), Vec::new());
    let mut clock = 1_000;
    for i in 0..400 {
        clock += 1 + rng.next(50) as i64;
        let id = format!("c{}", rng.next(6));
        if rng.next(3) == 0 {
            let value = match rng.next(5) {
                0 => None,
                n => Some((
                    format!("name{i}"),
                    ["gold", "silver", "bronze"][n as usize % 3],
                )),
            };
            customers.push(customer(
                &id,
                value.as_ref().map(|(name, tier)| (name.as_str(), *tier)),
                clock,
            ));
        } else {
            let customer = (rng.next(10) != 0).then_some(id.as_str());
            orders.push(order(&format!("o{i}"), customer, i as f64, clock));
        }
    }
    (orders, customers)
}

/// The same records in processing order, as the reference takes them: each order keyed by
/// its customer id, each customer change by the customer's id.
fn reference_records(orders: &[Value], customers: &[Value]) -> Vec<Value> {
    let mut records: Vec<Value> = orders
        .iter()
        .map(|o| {
            let value = &o["value"];
            json!({
                "source": "left",
                "key": value["customer_id"],
                "value": {"ORDER_ID": o["key"], "CUSTOMER_ID": value["customer_id"], "AMOUNT": value["amount"]},
                "timestamp": o["timestamp"],
            })
        })
        .chain(customers.iter().map(|c| {
            let value = c["value"].as_object().map(|v| {
                json!({"ID": c["key"], "NAME": v["name"], "TIER": v["tier"]})
            });
            json!({"source": "right", "key": c["key"], "value": value, "timestamp": c["timestamp"]})
        }))
        .collect();
    records.sort_by_key(|r| r["timestamp"].as_i64());
    records
}

/// `SELECT *` over the join: the key is the orders' join column (O_CUSTOMER_ID, the first of
/// the join's key columns that the projection selects), every other column by its
/// ALIAS_COLUMN name, the table's null where it has no row.
#[test]
fn stream_table_joins_match_the_reference() {
    const COLUMNS: [&str; 5] = ["O_ORDER_ID", "O_AMOUNT", "C_ID", "C_NAME", "C_TIER"];
    for seed in [1, 2, 3] {
        let (orders, customers) = random_inputs(seed);
        for (sql, kind) in [("LEFT JOIN", "left"), ("JOIN", "inner")] {
            let query = format!(
                "CREATE STREAM enriched AS SELECT * FROM orders o {sql} customers c ON o.customer_id = c.id;"
            );
            let (got, dead) = run(&query, &orders, &customers);
            let (want, skipped) = common::reference::joins(
                &reference_records(&orders, &customers),
                &[
                    "--kind",
                    "stream-table",
                    "--type",
                    kind,
                    "--left-alias",
                    "O",
                    "--right-alias",
                    "C",
                ],
            );
            let expected: Vec<Value> = want
                .iter()
                .map(|w| {
                    let value: serde_json::Map<String, Value> = COLUMNS
                        .iter()
                        .map(|c| {
                            (
                                c.to_string(),
                                w["value"].get(*c).cloned().unwrap_or(Value::Null),
                            )
                        })
                        .collect();
                    json!({"key": w["key"], "value": value, "timestamp": w["timestamp"]})
                })
                .collect();
            assert!(
                expected.len() > 100,
                "seed {seed}: {} joined orders",
                expected.len()
            );
            assert_eq!(
                got.len(),
                expected.len(),
                "seed {seed} {kind}: as many outputs"
            );
            for (i, (g, w)) in got.iter().zip(&expected).enumerate() {
                assert_eq!(g, w, "seed {seed} {kind}: output {i}");
            }
            assert_eq!(
                dead.len(),
                skipped.len(),
                "seed {seed} {kind}: the orders without a customer id, which ksqlDB skips"
            );
        }
    }
}

/// The output key follows ksqlDB's buildJoinKey: the orders' join column when selected,
/// else the table's key column (which a LEFT join fills with the join key where the table
/// has no row); a bare or uniquely named column keeps its own name.
#[test]
fn the_key_is_the_first_selected_join_column() {
    let customers = [customer("c1", Some(("Ann", "gold")), 1000)];
    let orders = [
        order("1", Some("c1"), 10.0, 2000),
        order("2", Some("c9"), 20.0, 3000),
    ];
    let (got, _) = run(
        "CREATE STREAM enriched AS SELECT c.id AS customer, o.order_id, name FROM orders o LEFT JOIN customers c ON o.customer_id = c.id;",
        &orders,
        &customers,
    );
    assert_eq!(got[0]["key"], "c1");
    assert_eq!(got[0]["value"], json!({"ORDER_ID": "1", "NAME": "Ann"}));
    assert_eq!(
        got[1]["key"], "c9",
        "the join key, though the table has no c9"
    );
    assert_eq!(got[1]["value"], json!({"ORDER_ID": "2", "NAME": null}));
}

/// ksqlDB's refusals, with its messages (engine/docs/ksqldb-joins.md, sections 8 to 10).
#[test]
fn joins_ksqldb_refuses_are_refused_with_its_messages() {
    let cases = [
        (
            "SELECT o.order_id, amount FROM orders o JOIN customers c ON o.customer_id = c.id",
            "Key missing from projection (ie, SELECT). The query used to build `ENRICHED` must include the join expressions O.CUSTOMER_ID or C.ID in its projection (eg, SELECT O.CUSTOMER_ID...).",
        ),
        (
            "SELECT o.customer_id, o.customer_id AS k2, amount FROM orders o JOIN customers c ON o.customer_id = c.id",
            "The projection contains a key column (`O_CUSTOMER_ID`) more than once, aliased as: CUSTOMER_ID and K2.",
        ),
        (
            "SELECT * FROM orders o FULL OUTER JOIN customers c ON o.customer_id = c.id",
            "Invalid join type: full-outer join not supported for stream-table join. Got ORDERS [FULL] OUTER JOIN CUSTOMERS.",
        ),
        (
            "SELECT * FROM orders o RIGHT JOIN customers c ON o.customer_id = c.id",
            "Invalid join type encountered: RIGHT [OUTER] JOIN",
        ),
        (
            "SELECT * FROM customers c JOIN orders o ON o.customer_id = c.id",
            "Invalid join order: table-stream joins are not supported; only stream-table joins. Got CUSTOMERS [INNER] JOIN ORDERS.",
        ),
        (
            "SELECT * FROM orders o JOIN customers c ON o.customer_id = c.name",
            "Invalid join condition: stream-table joins require to join on the table's primary key. Got O.CUSTOMER_ID = C.NAME.",
        ),
        (
            "SELECT * FROM orders o JOIN customers c WITHIN 1 HOUR ON o.customer_id = c.id",
            "A window definition was provided for a Stream-Table join.",
        ),
        (
            "SELECT * FROM orders o JOIN customers c ON o.customer_id = c.id AND o.customer_id = c.id",
            "Invalid join condition: joins on multiple conditions are not yet supported. Got ((O.CUSTOMER_ID = C.ID) AND (O.CUSTOMER_ID = C.ID)).",
        ),
        (
            "SELECT * FROM orders o JOIN customers c ON o.customer_id = 'c1'",
            "Invalid comparison expression ''c1'' in join '(O.CUSTOMER_ID = 'c1')'. Each side of the join comparision must contain references from exactly one source.",
        ),
        (
            "SELECT * FROM orders o JOIN customers c ON o.amount = c.id",
            "Invalid join condition: types don't match. Got O.AMOUNT{DOUBLE} = C.ID{STRING}.",
        ),
        (
            "SELECT * FROM orders o JOIN customers c ON o.customer_iid = c.id",
            "Column 'O.CUSTOMER_IID' cannot be resolved.",
        ),
        (
            "SELECT * FROM orders o JOIN orders p ON o.customer_id = p.customer_id",
            "Can not join 'ORDERS' to 'ORDERS': self joins are not yet supported.",
        ),
    ];
    for (select, message) in cases {
        assert_refused(
            &format!("{SOURCES}\nCREATE STREAM enriched AS {select};"),
            message,
        );
    }
}

const TABLES: &str = "CREATE TABLE accounts (id STRING PRIMARY KEY, owner STRING, region STRING)
  WITH (KAFKA_TOPIC='accounts', VALUE_FORMAT='JSON');
CREATE TABLE limits (id STRING PRIMARY KEY, credit INT)
  WITH (KAFKA_TOPIC='limits', VALUE_FORMAT='JSON');";

const REGIONS: [&str; 2] = ["eu", "us"];

/// Changes to both tables at distinct, rising times: inserts, updates and deletes of a few
/// keys, some deleted before they ever existed.
fn table_changes(seed: u64) -> (Vec<Value>, Vec<Value>) {
    let mut rng = Lcg(seed);
    let (mut accounts, mut limits) = (Vec::new(), Vec::new());
    let mut clock = 1_000;
    for i in 0..300 {
        clock += 1 + rng.next(20) as i64;
        let key = format!("k{}", rng.next(5));
        let delete = rng.next(4) == 0;
        if rng.next(2) == 0 {
            let value =
                (!delete).then(|| json!({"owner": format!("owner{i}"), "region": REGIONS[i % 2]}));
            accounts.push(json!({"key": key, "value": value, "timestamp": clock}));
        } else {
            let value = (!delete).then(|| json!({"credit": i}));
            limits.push(json!({"key": key, "value": value, "timestamp": clock}));
        }
    }
    (accounts, limits)
}

/// Table-table joins of every type on the primary keys against the reference: `SELECT *`
/// keyed by the left key (ROWKEY for FULL OUTER), each update of either side giving the
/// joined row or a tombstone as the join type says, at the later of the two rows' times.
#[test]
fn table_table_joins_match_the_reference() {
    for seed in [4, 5, 6] {
        let (accounts, limits) = table_changes(seed);
        let mut records: Vec<Value> = accounts
            .iter()
            .map(|r| (r, "left"))
            .chain(limits.iter().map(|r| (r, "right")))
            .map(|(r, source)| {
                let value = r["value"].as_object().map(|v| {
                    let mut row = json!({"ID": r["key"]});
                    for (column, value) in v {
                        row[column.to_ascii_uppercase()] = value.clone();
                    }
                    row
                });
                json!({"source": source, "key": r["key"], "value": value, "timestamp": r["timestamp"]})
            })
            .collect();
        records.sort_by_key(|r| r["timestamp"].as_i64());
        for (sql, kind) in [
            ("JOIN", "inner"),
            ("LEFT JOIN", "left"),
            ("RIGHT JOIN", "right"),
            ("FULL OUTER JOIN", "outer"),
        ] {
            let query = format!(
                "{TABLES}\nCREATE TABLE enriched AS SELECT * FROM accounts a {sql} limits l ON a.id = l.id;"
            );
            let (got, dead) = run_inputs(&query, &[("accounts", &accounts), ("limits", &limits)]);
            assert!(dead.is_empty(), "{dead:?}");
            let (want, _) = common::reference::joins(
                &records,
                &[
                    "--kind",
                    "table-table",
                    "--type",
                    kind,
                    "--left-alias",
                    "A",
                    "--right-alias",
                    "L",
                ],
            );
            let mut columns = vec!["A_ID", "A_OWNER", "A_REGION", "L_ID", "L_CREDIT"];
            if kind != "outer" {
                // A_ID is the key; FULL OUTER's key is ROWKEY.
                columns.remove(0);
            }
            let expected: Vec<Value> = want
                .iter()
                .map(|w| {
                    let value = w["value"].as_object().map(|v| {
                        columns
                            .iter()
                            .map(|c| (c.to_string(), v.get(*c).cloned().unwrap_or(Value::Null)))
                            .collect::<serde_json::Map<String, Value>>()
                    });
                    json!({"key": w["key"], "value": value, "timestamp": w["timestamp"]})
                })
                .collect();
            assert!(
                expected.len() > 50,
                "seed {seed} {kind}: {} outputs",
                expected.len()
            );
            assert!(
                expected.iter().any(|e| e["value"].is_null()),
                "seed {seed} {kind}: the changes give tombstones"
            );
            assert_eq!(
                got.len(),
                expected.len(),
                "seed {seed} {kind}: as many outputs"
            );
            for (i, (g, w)) in got.iter().zip(&expected).enumerate() {
                assert_eq!(g, w, "seed {seed} {kind}: output {i}");
            }
        }
    }
}

/// A WHERE after a table-table join filters a table: a joined row that stops passing, or is
/// deleted after passing, gives a tombstone (ksqlDB's "table table join with where clause").
#[test]
fn a_filter_after_a_table_join_retracts_rows_that_stop_passing() {
    let accounts = [
        json!({"key": "k1", "value": {"owner": "ann", "region": "eu"}, "timestamp": 1}),
        json!({"key": "k1", "value": {"owner": "ann", "region": "us"}, "timestamp": 3}),
        json!({"key": "k2", "value": {"owner": "bob", "region": "eu"}, "timestamp": 4}),
        json!({"key": "k2", "value": null, "timestamp": 6}),
    ];
    let limits = [
        json!({"key": "k1", "value": {"credit": 10}, "timestamp": 2}),
        json!({"key": "k2", "value": {"credit": 20}, "timestamp": 5}),
    ];
    let query = format!(
        "{TABLES}\nCREATE TABLE enriched AS SELECT a.id, owner, credit FROM accounts a JOIN limits l ON a.id = l.id WHERE region = 'eu';"
    );
    let (got, _) = run_inputs(&query, &[("accounts", &accounts), ("limits", &limits)]);
    let shape: Vec<(Value, Value)> = got
        .iter()
        .map(|r| (r["key"].clone(), r["value"].clone()))
        .collect();
    assert_eq!(
        shape,
        [
            (json!("k1"), json!({"OWNER": "ann", "CREDIT": 10})),
            (json!("k1"), Value::Null),
            (json!("k2"), json!({"OWNER": "bob", "CREDIT": 20})),
            (json!("k2"), Value::Null),
        ]
    );
}

#[test]
fn table_joins_ksqldb_refuses_are_refused_with_its_messages() {
    let cases = [
        (
            "CREATE TABLE enriched AS SELECT * FROM accounts a JOIN limits l ON a.id = l.credit",
            "Invalid join condition: types don't match.",
        ),
        (
            "CREATE TABLE enriched AS SELECT * FROM accounts a RIGHT JOIN limits l ON a.owner = l.id",
            "RIGHT OUTER JOIN on a foreign key is not supported",
        ),
        (
            "CREATE TABLE enriched AS SELECT * FROM accounts a FULL OUTER JOIN limits l ON a.owner = l.id",
            "Invalid join type: full-outer join not supported for foreign-key table-table join. Got ACCOUNTS [FULL] OUTER JOIN LIMITS.",
        ),
        (
            "CREATE TABLE enriched AS SELECT owner, credit FROM accounts a JOIN limits l ON a.owner = l.id",
            "Primary key column missing in projection. For foreign-key table-table joins, the projection must include all primary key columns from the left input table (`ACCOUNTS`). Missing column: `ID`.",
        ),
        (
            "CREATE TABLE enriched AS SELECT a.id, a.id AS id2, credit FROM accounts a JOIN limits l ON a.owner = l.id",
            "The projection contains a key column (`A_ID`) more than once, aliased as: A_ID and ID2.",
        ),
        (
            "CREATE TABLE enriched AS SELECT * FROM accounts a JOIN limits l ON a.owner = CAST(l.credit AS STRING)",
            "Invalid join condition: table-table joins require to join on the primary key of the right input table. Got A.OWNER = CAST(L.CREDIT AS STRING).",
        ),
        (
            "CREATE TABLE enriched AS SELECT * FROM accounts a JOIN limits l WITHIN 1 HOUR ON a.id = l.id",
            "A window definition was provided for a Table-Table join.",
        ),
        (
            "CREATE STREAM enriched AS SELECT * FROM accounts a JOIN limits l ON a.id = l.id",
            "Invalid result type. Your SELECT query produces a TABLE.",
        ),
        (
            "CREATE TABLE enriched AS SELECT a.owner, credit FROM accounts a FULL OUTER JOIN limits l ON a.id = l.id",
            "must include the join expression ROWKEY in its projection",
        ),
    ];
    for (statement, message) in cases {
        assert_refused(&format!("{TABLES}\n{statement};"), message);
    }
}

const ORDER_TABLE: &str =
    "CREATE TABLE open_orders (id STRING PRIMARY KEY, customer STRING, amount DOUBLE)
  WITH (KAFKA_TOPIC='open-orders', VALUE_FORMAT='JSON');
CREATE TABLE customers (id STRING PRIMARY KEY, name STRING, tier STRING)
  WITH (KAFKA_TOPIC='customer-events', VALUE_FORMAT='JSON');";

/// Changes to an orders table whose rows name a customer (sometimes none, sometimes a new
/// one) and to the customers table, at distinct, rising times.
fn foreign_key_changes(seed: u64) -> (Vec<Value>, Vec<Value>) {
    let mut rng = Lcg(seed);
    let (mut orders, mut customers) = (Vec::new(), Vec::new());
    let mut clock = 1_000;
    for i in 0..400 {
        clock += 1 + rng.next(20) as i64;
        if rng.next(2) == 0 {
            let key = format!("o{}", rng.next(8));
            let value = match rng.next(8) {
                0 => Value::Null,
                1 => json!({"customer": null, "amount": i as f64}),
                _ => json!({"customer": format!("c{}", rng.next(5)), "amount": i as f64}),
            };
            orders.push(json!({"key": key, "value": value, "timestamp": clock}));
        } else {
            let key = format!("c{}", rng.next(5));
            let tier = ["gold", "silver"][i % 2];
            let value =
                (rng.next(5) != 0).then(|| json!({"name": format!("name{i}"), "tier": tier}));
            customers.push(json!({"key": key, "value": value, "timestamp": clock}));
        }
    }
    (orders, customers)
}

/// Foreign-key table-table joins against the reference (engine/docs/ksqldb-joins.md section
/// 6): keyed by the orders' key; a customer change updates every order that names it; an
/// order that names another customer leaves the old one (a tombstone for INNER when the new
/// one does not exist); orders without a customer are skipped as Kafka Streams skips them.
#[test]
fn foreign_key_joins_match_the_reference() {
    for seed in [7, 8, 9] {
        let (orders, customers) = foreign_key_changes(seed);
        let mut records: Vec<Value> = orders
            .iter()
            .map(|r| {
                let value = r["value"].as_object().map(
                    |v| json!({"ID": r["key"], "CUSTOMER": v["customer"], "AMOUNT": v["amount"]}),
                );
                let foreign_key = r["value"].get("customer").cloned().unwrap_or(Value::Null);
                json!({"source": "left", "key": r["key"], "value": value,
                       "foreign_key": foreign_key, "timestamp": r["timestamp"]})
            })
            .chain(customers.iter().map(|r| {
                let value = r["value"]
                    .as_object()
                    .map(|v| json!({"ID": r["key"], "NAME": v["name"], "TIER": v["tier"]}));
                json!({"source": "right", "key": r["key"], "value": value, "timestamp": r["timestamp"]})
            }))
            .collect();
        records.sort_by_key(|r| r["timestamp"].as_i64());
        for (sql, kind) in [("JOIN", "inner"), ("LEFT JOIN", "left")] {
            let query = format!(
                "{ORDER_TABLE}\nCREATE TABLE enriched AS SELECT * FROM open_orders o {sql} customers c ON o.customer = c.id;"
            );
            let (got, dead) = run_inputs(
                &query,
                &[("open_orders", &orders), ("customers", &customers)],
            );
            let (want, skipped) = common::reference::joins(
                &records,
                &[
                    "--kind",
                    "foreign-key",
                    "--type",
                    kind,
                    "--left-alias",
                    "O",
                    "--right-alias",
                    "C",
                ],
            );
            let columns = ["O_CUSTOMER", "O_AMOUNT", "C_ID", "C_NAME", "C_TIER"];
            let expected: Vec<Value> = want
                .iter()
                .map(|w| {
                    let value = w["value"].as_object().map(|v| {
                        columns
                            .iter()
                            .map(|c| (c.to_string(), v.get(*c).cloned().unwrap_or(Value::Null)))
                            .collect::<serde_json::Map<String, Value>>()
                    });
                    json!({"key": w["key"], "value": value, "timestamp": w["timestamp"]})
                })
                .collect();
            assert!(
                expected.len() > 100,
                "seed {seed} {kind}: {} outputs",
                expected.len()
            );
            assert!(
                expected.iter().any(|e| e["value"].is_null()),
                "seed {seed} {kind}: the changes give tombstones"
            );
            for (i, (g, w)) in got.iter().zip(&expected).enumerate() {
                assert_eq!(g, w, "seed {seed} {kind}: output {i}");
            }
            assert_eq!(
                got.len(),
                expected.len(),
                "seed {seed} {kind}: as many outputs"
            );
            assert!(!skipped.is_empty(), "seed {seed}: null foreign keys");
            assert_eq!(
                dead.len(),
                skipped.len(),
                "seed {seed} {kind}: the changes Kafka Streams skips for a null foreign key"
            );
        }
    }
}

/// ksqlDB's fk-join.json "Should support left join with left value-column expression", as
/// the tables' changes come in over files: the customer's delete gives each order that
/// names it with nulls, an order's delete a tombstone.
#[test]
fn a_foreign_key_join_follows_ksqldbs_case() {
    let orders = [
        json!({"key": "1", "value": {"customer": "0", "amount": 1.0}, "timestamp": 0}),
        json!({"key": "1", "value": {"customer": "0", "amount": 1.0}, "timestamp": 11000}),
        json!({"key": "0", "value": {"customer": "100", "amount": 2.0}, "timestamp": 13000}),
        json!({"key": "10", "value": {"customer": "0", "amount": 3.0}, "timestamp": 16000}),
        json!({"key": "1", "value": null, "timestamp": 18000}),
        json!({"key": "0", "value": null, "timestamp": 19000}),
    ];
    let customers = [
        json!({"key": "0", "value": {"name": "blah", "tier": "x"}, "timestamp": 10000}),
        json!({"key": "0", "value": {"name": "a", "tier": "x"}, "timestamp": 15000}),
        json!({"key": "0", "value": null, "timestamp": 17000}),
    ];
    let query = format!(
        "{ORDER_TABLE}\nCREATE TABLE enriched AS SELECT o.id, c.id AS c_id, amount, name FROM open_orders o LEFT JOIN customers c ON o.customer = c.id;"
    );
    let (got, dead) = run_inputs(
        &query,
        &[("open_orders", &orders), ("customers", &customers)],
    );
    assert!(dead.is_empty(), "{dead:?}");
    let shape: Vec<(Value, Value, Value, i64)> = got
        .iter()
        .map(|r| {
            (
                r["key"].clone(),
                r["value"]["C_ID"].clone(),
                r["value"]["NAME"].clone(),
                r["timestamp"].as_i64().unwrap(),
            )
        })
        .collect();
    let null = Value::Null;
    assert_eq!(
        shape,
        [
            (json!("1"), null.clone(), null.clone(), 0),
            (json!("1"), json!("0"), json!("blah"), 10000),
            (json!("1"), json!("0"), json!("blah"), 11000),
            (json!("0"), null.clone(), null.clone(), 13000),
            (json!("1"), json!("0"), json!("a"), 15000),
            (json!("10"), json!("0"), json!("a"), 16000),
            (json!("1"), null.clone(), null.clone(), 17000),
            (json!("10"), null.clone(), null.clone(), 17000),
            (json!("1"), null.clone(), null.clone(), 18000),
            (json!("0"), null.clone(), null.clone(), 19000),
        ]
    );
    assert!(got[8]["value"].is_null() && got[9]["value"].is_null());
    assert_eq!(got[6]["value"]["AMOUNT"], 1.0);
}

const THREE: &str = "CREATE STREAM orders (order_id STRING KEY, customer_id STRING, amount DOUBLE)
  WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON');
CREATE TABLE customers (id STRING PRIMARY KEY, name STRING, region STRING)
  WITH (KAFKA_TOPIC='customer-events', VALUE_FORMAT='JSON');
CREATE TABLE regions (rid STRING PRIMARY KEY, manager STRING)
  WITH (KAFKA_TOPIC='regions', VALUE_FORMAT='JSON');";

/// Orders, customer changes and region changes at distinct, rising times.
fn three_way_records(seed: u64) -> [Vec<Value>; 3] {
    let mut rng = Lcg(seed);
    let mut inputs: [Vec<Value>; 3] = Default::default();
    let mut clock = 1_000;
    for i in 0..400 {
        clock += 1 + rng.next(20) as i64;
        let region = ["eu", "us", "apac"][rng.next(3) as usize];
        match rng.next(4) {
            0 | 1 => inputs[0].push(json!({"key": format!("o{i}"),
                "value": {"customer_id": format!("c{}", rng.next(6)), "amount": i as f64},
                "timestamp": clock})),
            2 => {
                let value = (rng.next(6) != 0)
                    .then(|| json!({"name": format!("name{i}"), "region": region}));
                inputs[1].push(
                    json!({"key": format!("c{}", rng.next(6)), "value": value, "timestamp": clock}),
                );
            }
            _ => {
                let value = (rng.next(5) != 0).then(|| json!({"manager": format!("m{i}")}));
                inputs[2].push(json!({"key": region, "value": value, "timestamp": clock}));
            }
        }
    }
    inputs
}

/// The three inputs as the multi-way reference takes them, in processing order.
fn three_way_reference(inputs: &[Vec<Value>; 3]) -> Vec<Value> {
    let mut records: Vec<Value> = Vec::new();
    for (source, rows) in inputs.iter().enumerate() {
        for r in rows {
            let value = r["value"].as_object().map(|v| match source {
                0 => json!({"ORDER_ID": r["key"], "CUSTOMER_ID": v["customer_id"], "AMOUNT": v["amount"]}),
                1 => json!({"ID": r["key"], "NAME": v["name"], "REGION": v["region"]}),
                _ => json!({"RID": r["key"], "MANAGER": v["manager"]}),
            });
            let key = if source == 0 {
                r["value"]["customer_id"].clone()
            } else {
                r["key"].clone()
            };
            records.push(
                json!({"source": source, "key": key, "value": value, "timestamp": r["timestamp"]}),
            );
        }
    }
    records.sort_by_key(|r| r["timestamp"].as_i64());
    records
}

/// A three-way join (engine/docs/ksqldb-joins.md section 7) against the reference: orders
/// with their customer, then the customer's region (a condition on a column of the rows so
/// far, so the stream is keyed anew by it); each step follows its own stream-table rules and
/// the key is the first viable column selected (C_REGION), named as SELECT * names it.
#[test]
fn three_way_joins_match_the_reference() {
    for seed in [11, 12] {
        let inputs = three_way_records(seed);
        for (first, second) in [("LEFT JOIN", "left"), ("JOIN", "inner")] {
            for (then, then_kind) in [("LEFT JOIN", "left"), ("JOIN", "inner")] {
                let query = format!(
                    "{THREE}\nCREATE STREAM enriched AS SELECT * FROM orders o {first} customers c ON o.customer_id = c.id {then} regions r ON c.region = r.rid;"
                );
                let (got, dead) = run_inputs(
                    &query,
                    &[
                        ("orders", &inputs[0]),
                        ("customers", &inputs[1]),
                        ("regions", &inputs[2]),
                    ],
                );
                let steps = json!([
                    {"kind": "stream-table", "type": second, "alias": "C", "left_key": null},
                    {"kind": "stream-table", "type": then_kind, "alias": "R", "left_key": "C_REGION"},
                ])
                .to_string();
                let (want, skipped) = common::reference::joins(
                    &three_way_reference(&inputs),
                    &["--kind", "multi", "--left-alias", "O", "--steps", &steps],
                );
                let columns = [
                    "O_ORDER_ID",
                    "O_CUSTOMER_ID",
                    "O_AMOUNT",
                    "C_ID",
                    "C_NAME",
                    "R_RID",
                    "R_MANAGER",
                ];
                let expected: Vec<Value> = want
                    .iter()
                    .map(|w| {
                        let value: serde_json::Map<String, Value> = columns
                            .iter()
                            .map(|c| {
                                (
                                    c.to_string(),
                                    w["value"].get(*c).cloned().unwrap_or(Value::Null),
                                )
                            })
                            .collect();
                        json!({"key": w["key"], "value": value, "timestamp": w["timestamp"]})
                    })
                    .collect();
                let case = format!("seed {seed} {second}-{then_kind}");
                assert!(expected.len() > 50, "{case}: {} outputs", expected.len());
                for (i, (g, w)) in got.iter().zip(&expected).enumerate() {
                    assert_eq!(g, w, "{case}: output {i}");
                }
                assert_eq!(got.len(), expected.len(), "{case}: as many outputs");
                assert_eq!(
                    dead.len(),
                    skipped.len(),
                    "{case}: the rows without a join key"
                );
            }
        }
    }
}

/// Three tables joined on equivalent keys against the reference: the second condition
/// names the first table's key, which the rows so far are keyed by, and a FULL OUTER last
/// step keys the result by ROWKEY.
#[test]
fn three_tables_join_on_equivalent_keys() {
    let (accounts, limits) = table_changes(21);
    let (notes, _) = table_changes(22);
    let notes: Vec<Value> = notes
        .iter()
        .map(|r| json!({"key": r["key"], "value": r["value"].as_object().map(|v| json!({"note": v["owner"]})), "timestamp": r["timestamp"].as_i64().unwrap() * 3 + 2}))
        .collect();
    // Distinct times across the three inputs: the others at 3t and 3t + 1.
    let accounts: Vec<Value> = accounts
        .iter()
        .map(|r| json!({"key": r["key"], "value": r["value"], "timestamp": r["timestamp"].as_i64().unwrap() * 3}))
        .collect();
    let limits: Vec<Value> = limits
        .iter()
        .map(|r| json!({"key": r["key"], "value": r["value"], "timestamp": r["timestamp"].as_i64().unwrap() * 3 + 1}))
        .collect();
    let mut records = Vec::new();
    for (source, rows) in [&accounts, &limits, &notes].into_iter().enumerate() {
        for r in rows {
            let value = r["value"].as_object().map(|v| {
                let mut row = json!({"ID": r["key"]});
                for (column, value) in v {
                    row[column.to_ascii_uppercase()] = value.clone();
                }
                row
            });
            records.push(json!({"source": source, "key": r["key"], "value": value, "timestamp": r["timestamp"]}));
        }
    }
    records.sort_by_key(|r| r["timestamp"].as_i64());
    for (sql, kind, last_sql, last_kind) in [
        ("JOIN", "inner", "LEFT JOIN", "left"),
        ("LEFT JOIN", "left", "FULL OUTER JOIN", "outer"),
    ] {
        let query = format!(
            "{TABLES}\nCREATE TABLE notes (id STRING PRIMARY KEY, note STRING) WITH (KAFKA_TOPIC='notes', VALUE_FORMAT='JSON');\nCREATE TABLE enriched AS SELECT * FROM accounts a {sql} limits l ON a.id = l.id {last_sql} notes n ON l.id = n.id;"
        );
        let (got, dead) = run_inputs(
            &query,
            &[
                ("accounts", &accounts),
                ("limits", &limits),
                ("notes", &notes),
            ],
        );
        assert!(dead.is_empty(), "{dead:?}");
        let steps = json!([
            {"kind": "table-table", "type": kind, "alias": "L", "left_key": null},
            {"kind": "table-table", "type": last_kind, "alias": "N", "left_key": null},
        ])
        .to_string();
        let (want, _) = common::reference::joins(
            &records,
            &["--kind", "multi", "--left-alias", "A", "--steps", &steps],
        );
        let mut columns = vec![
            "A_ID", "A_OWNER", "A_REGION", "L_ID", "L_CREDIT", "N_ID", "N_NOTE",
        ];
        if last_kind != "outer" {
            columns.remove(0);
        }
        let expected: Vec<Value> = want
            .iter()
            .map(|w| {
                let value = w["value"].as_object().map(|v| {
                    columns
                        .iter()
                        .map(|c| (c.to_string(), v.get(*c).cloned().unwrap_or(Value::Null)))
                        .collect::<serde_json::Map<String, Value>>()
                });
                json!({"key": w["key"], "value": value, "timestamp": w["timestamp"]})
            })
            .collect();
        assert!(
            expected.len() > 50,
            "{kind}-{last_kind}: {} outputs",
            expected.len()
        );
        assert!(
            expected.iter().any(|e| e["value"].is_null()),
            "{kind}-{last_kind}: tombstones"
        );
        for (i, (g, w)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g, w, "{kind}-{last_kind}: output {i}");
        }
        assert_eq!(
            got.len(),
            expected.len(),
            "{kind}-{last_kind}: as many outputs"
        );
    }
}

/// ksqlDB's refusals of multi-way shapes (engine/docs/ksqldb-joins.md sections 7 and 8).
#[test]
fn multi_way_refusals_have_ksqldbs_messages() {
    let cases = [
        (
            "CREATE STREAM enriched AS SELECT o.amount, c.name, r.manager FROM orders o JOIN customers c ON o.customer_id = c.id JOIN regions r ON o.customer_id = r.rid",
            "Key missing from projection (ie, SELECT). The query used to build `ENRICHED` must include the join expressions O.CUSTOMER_ID, C.ID or R.RID in its projection",
        ),
        (
            "CREATE STREAM enriched AS SELECT * FROM orders o JOIN customers c ON o.customer_id = c.id JOIN customers d ON o.customer_id = d.id",
            "N-way joins do not support multiple occurrences of the same source. Source: 'CUSTOMERS'",
        ),
        (
            "CREATE STREAM enriched AS SELECT * FROM orders o JOIN customers c ON o.customer_id = c.id JOIN regions r ON o.customer_id = c.region",
            "A join criteria is expected to reference the source (`R`) in the FROM clause, instead the right source references `C` and the left source references `O`",
        ),
        (
            "CREATE STREAM enriched AS SELECT * FROM orders o JOIN customers c ON o.customer_id = c.id FULL OUTER JOIN regions r ON c.region = r.rid",
            "Invalid join type: full-outer join not supported for stream-table join.",
        ),
        (
            "CREATE TABLE enriched AS SELECT * FROM customers c JOIN regions r ON c.id = r.rid JOIN orders o ON c.id = o.customer_id",
            "Invalid join order: table-stream joins are not supported; only stream-table joins. Got CUSTOMERS [INNER] JOIN ORDERS.",
        ),
        (
            "CREATE TABLE enriched AS SELECT * FROM customers c JOIN regions r ON c.id = r.rid JOIN regions2 q ON c.region = q.rid",
            "Invalid join condition: foreign-key table-table joins are not supported as part of n-way joins. Got C.REGION = Q.RID.",
        ),
    ];
    for (statement, message) in cases {
        assert_refused(
            &format!("{THREE}\nCREATE TABLE regions2 (rid STRING PRIMARY KEY, x STRING) WITH (KAFKA_TOPIC='r2', VALUE_FORMAT='JSON');\n{statement};"),
            message,
        );
    }
}

/// Three streams joined within windows (a stream-stream step after a stream-stream step),
/// against the reference: the second step joins on the first's key, the rows the first
/// gives at once without GRACE (LEFT) included, and the second step's window is its own.
#[test]
fn three_streams_join_within_their_windows() {
    const SQL: &str = "CREATE STREAM clicks (k STRING KEY, id STRING, page STRING)
  WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON');
CREATE STREAM views (k STRING KEY, id STRING, ad STRING)
  WITH (KAFKA_TOPIC='views', VALUE_FORMAT='JSON');
CREATE STREAM buys (k STRING KEY, id STRING, item STRING)
  WITH (KAFKA_TOPIC='buys', VALUE_FORMAT='JSON');";
    let mut rng = Lcg(31);
    let mut inputs: [Vec<Value>; 3] = Default::default();
    let mut records = Vec::new();
    let mut clock = 10_000;
    let fields = ["PAGE", "AD", "ITEM"];
    for i in 0..300 {
        clock += 1 + rng.next(1500) as i64;
        let source = rng.next(3) as usize;
        let id = format!("u{}", rng.next(4));
        let field = fields[source].to_ascii_lowercase();
        let mut value = serde_json::Map::new();
        value.insert("id".into(), json!(id));
        value.insert(field, json!(format!("v{i}")));
        inputs[source].push(json!({"key": format!("k{i}"), "value": value, "timestamp": clock}));
        records.push(json!({"source": source, "key": id, "timestamp": clock,
            "value": {"K": format!("k{i}"), "ID": id, fields[source]: format!("v{i}")}}));
    }
    for (first, first_kind, second, second_kind) in [
        ("JOIN", "inner", "JOIN", "inner"),
        ("LEFT JOIN", "left", "JOIN", "inner"),
        ("JOIN", "inner", "FULL OUTER JOIN", "outer"),
    ] {
        let key = if second_kind == "outer" {
            "ROWKEY"
        } else {
            "c.id"
        };
        let query = format!(
            "{SQL}\nCREATE STREAM enriched AS SELECT {key} AS id, c.page, v.ad, b.item FROM clicks c {first} views v WITHIN 10 SECONDS ON c.id = v.id {second} buys b WITHIN 5 SECONDS ON c.id = b.id;"
        );
        let (got, dead) = run_inputs(
            &query,
            &[
                ("clicks", &inputs[0]),
                ("views", &inputs[1]),
                ("buys", &inputs[2]),
            ],
        );
        assert!(dead.is_empty(), "{dead:?}");
        let steps = json!([
            {"kind": "stream-stream", "type": first_kind, "alias": "V", "within_ms": 10_000, "left_key": null},
            {"kind": "stream-stream", "type": second_kind, "alias": "B", "within_ms": 5_000, "left_key": null},
        ])
        .to_string();
        let (want, _) = common::reference::joins(
            &records,
            &["--kind", "multi", "--left-alias", "C", "--steps", &steps],
        );
        let expected: Vec<Value> = want
            .iter()
            .map(|w| {
                let v = &w["value"];
                let get = |c: &str| v.get(c).cloned().unwrap_or(Value::Null);
                json!({"key": w["key"], "value": {"PAGE": get("C_PAGE"), "AD": get("V_AD"), "ITEM": get("B_ITEM")}, "timestamp": w["timestamp"]})
            })
            .collect();
        let case = format!("{first_kind}-{second_kind}");
        assert!(expected.len() > 30, "{case}: {} outputs", expected.len());
        for (i, (g, w)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g, w, "{case}: output {i}");
        }
        assert_eq!(got.len(), expected.len(), "{case}: as many outputs");
    }
}

const STREAMS: &str = "CREATE STREAM orders (order_id STRING KEY, customer STRING)
  WITH (KAFKA_TOPIC='orders', VALUE_FORMAT='JSON');
CREATE STREAM shipments (shipment_id STRING KEY, order_id STRING, warehouse STRING)
  WITH (KAFKA_TOPIC='shipments', VALUE_FORMAT='JSON');";

/// Orders and shipments of a few order ids, some shipments late by more than the window
/// and its grace, at distinct times.
fn stream_records(seed: u64) -> (Vec<Value>, Vec<Value>) {
    let mut rng = Lcg(seed);
    let (mut orders, mut shipments) = (Vec::new(), Vec::new());
    let mut clock = 100_000;
    let mut used = std::collections::BTreeSet::new();
    for i in 0..300 {
        clock += 1 + rng.next(3000) as i64;
        let late = if rng.next(8) == 0 {
            1 + rng.next(30_000) as i64
        } else {
            0
        };
        let mut time = clock - late;
        while !used.insert(time) {
            time += 1;
        }
        let order_id = format!("o{}", rng.next(6));
        if rng.next(2) == 0 {
            orders.push(
                json!({"key": order_id, "value": {"customer": format!("c{i}")}, "timestamp": time}),
            );
        } else {
            shipments.push(json!({
                "key": format!("s{i}"),
                "value": {"order_id": order_id, "warehouse": format!("w{}", rng.next(3))},
                "timestamp": time,
            }));
        }
    }
    (orders, shipments)
}

/// The records in the order a file run hands them over (and a Kafka Streams task picks
/// them): the input whose next record has the lower time first, orders on ties; each keyed
/// by the order id it joins on.
fn stream_join_records(orders: &[Value], shipments: &[Value]) -> Vec<Value> {
    let (mut o, mut s) = (0, 0);
    let mut records = Vec::new();
    while o < orders.len() || s < shipments.len() {
        let take_order = match (orders.get(o), shipments.get(s)) {
            (Some(a), Some(b)) => a["timestamp"].as_i64() <= b["timestamp"].as_i64(),
            (Some(_), None) => true,
            _ => false,
        };
        if take_order {
            let r = &orders[o];
            o += 1;
            records.push(json!({
                "source": "left",
                "key": r["key"],
                "value": {"ORDER_ID": r["key"], "CUSTOMER": r["value"]["customer"]},
                "timestamp": r["timestamp"],
            }));
        } else {
            let r = &shipments[s];
            s += 1;
            records.push(json!({
                "source": "right",
                "key": r["value"]["order_id"],
                "value": {"SHIPMENT_ID": r["key"], "ORDER_ID": r["value"]["order_id"], "WAREHOUSE": r["value"]["warehouse"]},
                "timestamp": r["timestamp"],
            }));
        }
    }
    records
}

/// Stream-stream joins of every type within 10 seconds, without GRACE PERIOD (outer rows at
/// once, a day's grace) and with 5 seconds' grace (outer rows once the window and grace
/// have passed, none for a record matched in time), against the reference, with late
/// records in both streams.
#[test]
fn stream_stream_joins_match_the_reference() {
    for seed in [7, 8] {
        let (orders, shipments) = stream_records(seed);
        let records = stream_join_records(&orders, &shipments);
        for grace in [None, Some(5_000)] {
            for (sql, kind) in [
                ("JOIN", "inner"),
                ("LEFT JOIN", "left"),
                ("RIGHT JOIN", "right"),
                ("FULL OUTER JOIN", "outer"),
            ] {
                let grace_sql = grace.map_or(String::new(), |g| {
                    format!(" GRACE PERIOD {} SECONDS", g / 1000)
                });
                let query = format!(
                    "{STREAMS}\nCREATE STREAM enriched AS SELECT * FROM orders o {sql} shipments s WITHIN 10 SECONDS{grace_sql} ON o.order_id = s.order_id;"
                );
                let (got, dead) =
                    run_inputs(&query, &[("orders", &orders), ("shipments", &shipments)]);
                assert!(dead.is_empty(), "{dead:?}");
                let mut args = vec![
                    "--kind",
                    "stream-stream",
                    "--type",
                    kind,
                    "--within-ms",
                    "10000",
                ];
                let grace_text = grace.map(|g| g.to_string());
                if let Some(g) = &grace_text {
                    args.extend(["--grace-ms", g.as_str()]);
                }
                args.extend(["--left-alias", "O", "--right-alias", "S"]);
                let (want, _) = common::reference::joins(&records, &args);
                let mut columns = vec![
                    "O_ORDER_ID",
                    "O_CUSTOMER",
                    "S_SHIPMENT_ID",
                    "S_ORDER_ID",
                    "S_WAREHOUSE",
                ];
                if kind != "outer" {
                    // O_ORDER_ID is the key; FULL OUTER's key is ROWKEY.
                    columns.remove(0);
                }
                let expected: Vec<Value> = want
                    .iter()
                    .map(|w| {
                        let value: serde_json::Map<String, Value> = columns
                            .iter()
                            .map(|c| {
                                (
                                    c.to_string(),
                                    w["value"].get(*c).cloned().unwrap_or(Value::Null),
                                )
                            })
                            .collect();
                        json!({"key": w["key"], "value": value, "timestamp": w["timestamp"]})
                    })
                    .collect();
                let case = format!("seed {seed} {kind} grace {grace:?}");
                assert!(expected.len() > 50, "{case}: {} outputs", expected.len());
                if kind != "inner" {
                    assert!(
                        expected.iter().any(|e| e["value"]
                            .as_object()
                            .is_some_and(|v| v.values().any(Value::is_null))),
                        "{case}: some rows are null-padded"
                    );
                }
                assert_eq!(got.len(), expected.len(), "{case}: as many outputs");
                for (i, (g, w)) in got.iter().zip(&expected).enumerate() {
                    assert_eq!(g, w, "{case}: output {i}");
                }
            }
        }
    }
}

/// The window's edges, worked by hand from engine/docs/ksqldb-joins.md 4.2 and 4.5 and
/// checked against the reference too: WITHIN 10 SECONDS GRACE PERIOD 5 SECONDS, LEFT.
/// - a: the order waits; stream time reaching exactly its time + window + grace (115000)
///   does not release it, one millisecond more does, with nulls at its own time;
/// - b: a shipment exactly 10 s after the order joins (both bounds inclusive);
/// - c: one 10.001 s after does not, and the order comes out with nulls at 315001;
/// - d: a late order whose window has already ended comes out with nulls at once, and
///   still joins the late shipment that follows;
/// - e: waits until the next record at stream time past its window and grace (sg);
/// - g: a late order joins a shipment exactly 10 s after it (the upper bound);
/// - f: a late order whose window ends exactly at stream time still waits (after h's
///   joined row), and comes out once stream time passes its grace.
#[test]
fn a_stream_join_window_has_inclusive_bounds_and_waits_out_its_grace() {
    let order = |id: &str, time: i64| json!({"key": id, "value": {"customer": format!("c-{id}")}, "timestamp": time});
    let shipment = |id: &str, order: &str, time: i64| json!({"key": id, "value": {"order_id": order, "warehouse": "w"}, "timestamp": time});
    let orders = [
        order("a", 100_000),
        order("b", 200_000),
        order("c", 300_000),
        order("e", 400_001),
        order("d", 380_000),
        order("h", 500_001),
        order("g", 490_000),
        order("f", 490_001),
    ];
    let shipments = [
        shipment("sx", "x", 115_000),
        shipment("sy", "y", 115_001),
        shipment("sb", "b", 210_000),
        shipment("sc", "c", 310_001),
        shipment("sz", "z", 315_000),
        shipment("sz2", "z2", 315_001),
        shipment("sw", "w", 400_000),
        shipment("sv", "v", 400_002),
        shipment("sd", "d", 385_000),
        shipment("sg", "g", 500_000),
        shipment("sh", "h", 500_003),
        shipment("sy2", "y2", 505_002),
    ];
    let query = format!(
        "{STREAMS}\nCREATE STREAM enriched AS SELECT * FROM orders o LEFT JOIN shipments s WITHIN 10 SECONDS GRACE PERIOD 5 SECONDS ON o.order_id = s.order_id;"
    );
    let (got, _) = run_inputs(&query, &[("orders", &orders), ("shipments", &shipments)]);
    let rows: Vec<(Value, Value, Value, i64)> = got
        .iter()
        .map(|r| {
            (
                r["key"].clone(),
                r["value"]["O_CUSTOMER"].clone(),
                r["value"]["S_SHIPMENT_ID"].clone(),
                r["timestamp"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (json!("a"), json!("c-a"), Value::Null, 100_000),
            (json!("b"), json!("c-b"), json!("sb"), 210_000),
            (json!("c"), json!("c-c"), Value::Null, 300_000),
            (json!("d"), json!("c-d"), Value::Null, 380_000),
            (json!("d"), json!("c-d"), json!("sd"), 385_000),
            (json!("e"), json!("c-e"), Value::Null, 400_001),
            (json!("g"), json!("c-g"), json!("sg"), 500_000),
            (json!("h"), json!("c-h"), json!("sh"), 500_003),
            (json!("f"), json!("c-f"), Value::Null, 490_001),
        ]
    );
    let (want, _) = common::reference::joins(
        &stream_join_records(&orders, &shipments),
        &[
            "--kind",
            "stream-stream",
            "--type",
            "left",
            "--within-ms",
            "10000",
            "--grace-ms",
            "5000",
        ],
    );
    let reference: Vec<(Value, i64)> = want
        .iter()
        .map(|w| (w["key"].clone(), w["timestamp"].as_i64().unwrap()))
        .collect();
    let engine: Vec<(Value, i64)> = rows.iter().map(|r| (r.0.clone(), r.3)).collect();
    assert_eq!(engine, reference);
}

/// Without GRACE PERIOD the deprecated windows apply: an unmatched order comes out with
/// nulls at once, and again joined when its shipment comes (ksqlDB's eager outer rows).
/// Without WITHIN a stream-stream join is refused.
#[test]
fn without_grace_outer_rows_come_at_once() {
    let orders = [json!({"key": "a", "value": {"customer": "ann"}, "timestamp": 1_000})];
    let shipments =
        [json!({"key": "s1", "value": {"order_id": "a", "warehouse": "w"}, "timestamp": 5_000})];
    let query = format!(
        "{STREAMS}\nCREATE STREAM enriched AS SELECT o.order_id, customer, shipment_id FROM orders o LEFT JOIN shipments s WITHIN 10 SECONDS ON o.order_id = s.order_id;"
    );
    let (got, _) = run_inputs(&query, &[("orders", &orders), ("shipments", &shipments)]);
    assert_eq!(
        got,
        [
            json!({"key": "a", "value": {"CUSTOMER": "ann", "SHIPMENT_ID": null}, "timestamp": 1_000}),
            json!({"key": "a", "value": {"CUSTOMER": "ann", "SHIPMENT_ID": "s1"}, "timestamp": 5_000}),
        ]
    );
    assert_refused(
        &format!("{STREAMS}\nCREATE STREAM enriched AS SELECT * FROM orders o JOIN shipments s ON o.order_id = s.order_id;"),
        "Stream-Stream joins must have a WITHIN clause specified. None was provided.",
    );
}

/// ksqlDB's windowing rules for the sources of a join (Analyzer's
/// throwOnIncompatibleSourceWindowing), and the engine's refusal of joins between windowed
/// sources, whose state it would key without the window.
#[test]
fn joins_of_windowed_sources_are_refused_as_ksqldb_and_the_engine_say() {
    const SOURCES: &str = "CREATE STREAM clicks (user_id STRING KEY, page STRING)
  WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON');
CREATE TABLE users (user_id STRING PRIMARY KEY, name STRING)
  WITH (KAFKA_TOPIC='users', VALUE_FORMAT='JSON');
CREATE TABLE sessions (user_id STRING PRIMARY KEY, n BIGINT)
  WITH (KAFKA_TOPIC='sessions', VALUE_FORMAT='JSON', WINDOW_TYPE='SESSION');
CREATE TABLE per_minute (user_id STRING PRIMARY KEY, n BIGINT)
  WITH (KAFKA_TOPIC='per-minute', VALUE_FORMAT='JSON', WINDOW_TYPE='TUMBLING', WINDOW_SIZE='1 MINUTE');
CREATE TABLE per_hour (user_id STRING PRIMARY KEY, n BIGINT)
  WITH (KAFKA_TOPIC='per-hour', VALUE_FORMAT='JSON', WINDOW_TYPE='HOPPING', WINDOW_SIZE='1 HOUR');";
    let cases = [
        (
            "CREATE STREAM joined AS SELECT c.user_id, c.page, s.n FROM clicks c JOIN sessions s ON c.user_id = s.user_id",
            "Can not join windowed source to non-windowed source.\nC is not windowed\nS is SESSION windowed",
        ),
        (
            "CREATE TABLE joined AS SELECT m.user_id, m.n, u.name FROM per_minute m JOIN users u ON m.user_id = u.user_id",
            "Can not join windowed source to non-windowed source.\nM is TUMBLING windowed\nU is not windowed",
        ),
        (
            "CREATE TABLE joined AS SELECT s.user_id, s.n, m.n AS m_n FROM sessions s JOIN per_minute m ON s.user_id = m.user_id",
            "Incompatible windowed sources.\nLeft source: SESSION\nRight source: TUMBLING\nSession windowed sources can only be joined to other session windowed sources",
        ),
        (
            "CREATE TABLE joined AS SELECT m.user_id, m.n, h.n AS h_n FROM per_minute m JOIN per_hour h ON m.user_id = h.user_id",
            "Joins of windowed sources are not supported yet: M and H are both TUMBLING windowed",
        ),
        (
            "CREATE STREAM joined AS SELECT c.user_id, c.page, u.name, s.n FROM clicks c JOIN users u ON c.user_id = u.user_id JOIN sessions s ON u.user_id = s.user_id",
            "Can not join windowed source to non-windowed source.\nC is not windowed\nS is SESSION windowed",
        ),
    ];
    for (statement, message) in cases {
        assert_refused(&format!("{SOURCES}\n{statement};"), message);
    }
}

/// A stream-stream join holds each record only for its window and grace period (Kafka
/// Streams' window stores: a retention of the window, both ways, plus GRACE, 130 s here, kept
/// in segments of 65 s dropped whole): fed a record a second on each side for 2,000
/// seconds, it never holds more than the records of the last 195 seconds, and a record far
/// later on each side leaves it holding almost nothing. Its held rows are what `advisor_engine_state_rows`
/// shows (`PersistentQuery::state_size`).
#[test]
fn a_stream_stream_joins_buffers_expire_after_within_and_grace() {
    use advisor_engine::engine::Engine;
    use advisor_engine::query::{InputRecord, Outputs};
    let sql = "CREATE STREAM orders (order_id STRING KEY, customer STRING)
  WITH (KAFKA_TOPIC='orders', VALUE_FORMAT='JSON');
CREATE STREAM shipments (shipment_id STRING KEY, customer STRING)
  WITH (KAFKA_TOPIC='shipments', VALUE_FORMAT='JSON');
CREATE STREAM shipped AS SELECT o.customer, o.order_id, s.shipment_id
  FROM orders o LEFT JOIN shipments s WITHIN 1 MINUTE GRACE PERIOD 10 SECONDS
  ON o.customer = s.customer;";
    let mut engine = Engine::default();
    for statement in advisor_engine::sql::parse(sql).unwrap() {
        engine.execute(&statement).unwrap();
    }
    let query = &mut engine.queries[0];
    let (mut out, mut dead) = (Outputs::new(), Vec::new());
    let mut feed = |query: &mut advisor_engine::query::PersistentQuery, topic, i: u64, time| {
        let key = format!("{topic}-{i}");
        let value = format!("{{\"customer\": \"c{}\"}}", i % 10);
        let record = InputRecord {
            topic,
            partition: 0,
            offset: i,
            timestamp: time,
            key: Some(key.as_bytes()),
            value: Some(value.as_bytes()),
        };
        out.clear();
        query.process(&record, &mut out, &mut dead);
    };
    let mut most = 0;
    for i in 0..2_000u64 {
        let time = i as i64 * 1_000;
        feed(query, "orders", i, time);
        feed(query, "shipments", i, time + 500);
        most = most.max(query.state_size());
    }
    assert!(
        (260..=2 * 195).contains(&most),
        "held at most {most} of 4,000 records"
    );
    // Each side's store drops its old segments when a record of that side comes, as each
    // Kafka Streams window store does on a put.
    feed(query, "orders", 2_000, 10_000_000);
    feed(query, "shipments", 2_000, 10_000_000);
    let left = query.state_size();
    assert!(left <= 2, "{left} records held after the windows closed");
    assert!(dead.is_empty(), "{dead:?}");
}
