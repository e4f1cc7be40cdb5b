//! An AVRO stream-table join through a real Schema Registry (rivven-schema) and a real
//! broker (tansu): the tutorial's orders enriched with a customers table, both written by
//! Confluent's Python AvroSerializer, the INNER and LEFT joins' outputs read back by its
//! AvroDeserializer.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::registry::{consume_avro, latest_schema, order_schema, produce_avro, Registry};
use common::Tansu;
use serde_json::{json, Value};

/// Runs the queries of `sql` on the broker until its topics stay quiet for 3 s, keeping its
/// state in `state` (so that a later run with the same group picks up where this one left).
fn run_engine(tansu: &Tansu, registry: &str, sql: &str, group: &str, state: &Path) {
    common::registry::run_avro_engine(
        env!("CARGO_BIN_EXE_advisor-engine"),
        &tansu.bootstrap,
        registry,
        sql,
        group,
        state,
    );
}

fn customer_schema() -> Value {
    json!({"type": "record", "name": "CustomerEvent", "namespace": "shop", "fields": [
        {"name": "customer_id", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "tier", "type": "string"}
    ]})
}

const T0: i64 = 1_709_640_000_000;

fn order(id: i64, customer: &str, total: f64, at: i64) -> Value {
    json!({"timestamp": T0 + at, "key": format!("o{id}"), "value": {
        "order_id": id, "customer_id": customer, "order_status": "NEW",
        "order_total": total, "created_at": T0 + at, "channel": "web"
    }})
}

/// A customer row, or a tombstone (a null value) deleting it.
fn customer(id: &str, row: Option<(&str, &str)>, at: i64) -> Value {
    json!({"timestamp": T0 + at, "key": id, "value": row.map(|(name, tier)| json!({
        "customer_id": id, "name": name, "tier": tier
    }))})
}

/// The tutorial's streams, with an INNER and a LEFT join of the orders to the customers.
const SQL: &str = "CREATE STREAM order_events (
order_id BIGINT,
customer_id STRING,
order_status STRING,
order_total DOUBLE,
created_at BIGINT
) WITH (
KAFKA_TOPIC='order-events',
VALUE_FORMAT='AVRO'
);
CREATE TABLE customers (
customer_id STRING PRIMARY KEY,
name STRING,
tier STRING
) WITH (
KAFKA_TOPIC='customer-events',
VALUE_FORMAT='AVRO'
);
CREATE STREAM enriched_orders WITH (VALUE_FORMAT='AVRO') AS
SELECT o.customer_id AS customer_id, o.order_id, o.order_total, c.name, c.tier
FROM order_events o
INNER JOIN customers c ON o.customer_id = c.customer_id
EMIT CHANGES;
CREATE STREAM all_orders WITH (VALUE_FORMAT='AVRO') AS
SELECT o.customer_id AS customer_id, o.order_id, o.order_total, c.name, c.tier
FROM order_events o
LEFT JOIN customers c ON o.customer_id = c.customer_id
EMIT CHANGES;
";

/// (key, ORDER_ID, ORDER_TOTAL, NAME, TIER) of each output record, in the topic's order.
fn rows(outputs: &[Value]) -> Vec<(String, Value, Value, Value, Value)> {
    outputs
        .iter()
        .map(|output| {
            let key = output["key"].as_str().unwrap();
            let key = (0..key.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&key[i..i + 2], 16).unwrap())
                .collect();
            let value = &output["value"];
            let mut fields = value.as_object().unwrap().keys().collect::<Vec<_>>();
            fields.sort();
            assert_eq!(
                fields,
                ["NAME", "ORDER_ID", "ORDER_TOTAL", "TIER"],
                "{output}"
            );
            (
                String::from_utf8(key).unwrap(),
                value["ORDER_ID"].clone(),
                value["ORDER_TOTAL"].clone(),
                value["NAME"].clone(),
                value["TIER"].clone(),
            )
        })
        .collect()
}

fn output_schema() -> Value {
    json!({
        "type": "record", "name": "KsqlDataSourceSchema",
        "namespace": "io.confluent.ksql.avro_schemas",
        "fields": [
            {"name": "ORDER_ID", "type": ["null", "long"], "default": null},
            {"name": "ORDER_TOTAL", "type": ["null", "double"], "default": null},
            {"name": "NAME", "type": ["null", "string"], "default": null},
            {"name": "TIER", "type": ["null", "string"], "default": null}
        ],
        "connect.name": "io.confluent.ksql.avro_schemas.KsqlDataSourceSchema"
    })
}

/// Each order meets the customer row as it stands when the order is processed: the table's
/// rows are produced and read before the orders that follow them (one run of the engine
/// per batch, the same group and state each time, as the engine reads its topics in no
/// fixed order). An update changes only later orders, a delete drops later orders from the
/// INNER join and leaves their customer columns null in the LEFT join, as does a customer
/// never seen.
#[test]
fn avro_orders_join_an_avro_customers_table_written_and_read_by_confluents_serdes() {
    let (tansu, registry_service) = (Tansu::start(), Registry::start());
    let registry = registry_service.url();
    tansu.create_topic("order-events", 1);
    tansu.create_topic("customer-events", 1);
    let state = tempfile::tempdir().unwrap();
    let batches = [
        (
            "customer-events",
            customer_schema(),
            vec![
                customer("cust_1", Some(("Ann", "gold")), 1_000),
                customer("cust_2", Some(("Bob", "silver")), 1_000),
            ],
        ),
        (
            "order-events",
            order_schema(),
            vec![
                order(1, "cust_1", 10.5, 2_000),
                order(2, "cust_2", 20.25, 3_000),
                order(3, "cust_3", 30.0, 4_000),
            ],
        ),
        (
            "customer-events",
            customer_schema(),
            vec![
                customer("cust_1", Some(("Ann B", "platinum")), 5_000),
                customer("cust_2", None, 5_000),
            ],
        ),
        (
            "order-events",
            order_schema(),
            vec![
                order(4, "cust_1", 40.0, 6_000),
                order(5, "cust_2", 50.0, 7_000),
            ],
        ),
    ];
    for (topic, schema, records) in &batches {
        produce_avro(
            &tansu.bootstrap,
            &registry,
            topic,
            &json!({"value_schema": schema, "records": records}),
        );
        run_engine(&tansu, &registry, SQL, "avro-joins", state.path());
    }

    let dead = tansu.read_all("avro-joins-dead", 0);
    assert!(dead.is_empty(), "{dead:?}");
    let s = |text: &str| json!(text);
    let inner = consume_avro(&tansu.bootstrap, &registry, "ENRICHED_ORDERS", 3);
    assert_eq!(
        rows(&inner),
        [
            ("cust_1".into(), json!(1), json!(10.5), s("Ann"), s("gold")),
            (
                "cust_2".into(),
                json!(2),
                json!(20.25),
                s("Bob"),
                s("silver")
            ),
            (
                "cust_1".into(),
                json!(4),
                json!(40.0),
                s("Ann B"),
                s("platinum")
            ),
        ],
        "{inner:?}"
    );
    let left = consume_avro(&tansu.bootstrap, &registry, "ALL_ORDERS", 5);
    assert_eq!(
        rows(&left),
        [
            ("cust_1".into(), json!(1), json!(10.5), s("Ann"), s("gold")),
            (
                "cust_2".into(),
                json!(2),
                json!(20.25),
                s("Bob"),
                s("silver")
            ),
            (
                "cust_3".into(),
                json!(3),
                json!(30.0),
                Value::Null,
                Value::Null
            ),
            (
                "cust_1".into(),
                json!(4),
                json!(40.0),
                s("Ann B"),
                s("platinum")
            ),
            (
                "cust_2".into(),
                json!(5),
                json!(50.0),
                Value::Null,
                Value::Null
            ),
        ],
        "{left:?}"
    );
    // The output schemas as ksqlDB registers them: its record name, the upper-case value
    // columns (the key column CUSTOMER_ID is in the KAFKA key), each nullable.
    for topic in ["ENRICHED_ORDERS", "ALL_ORDERS"] {
        assert_eq!(
            latest_schema(&registry, &format!("{topic}-value")),
            output_schema(),
            "{topic}"
        );
    }
}

/// A proxy in front of the registry that notes each request it forwards (method and path,
/// without the query), each on a connection of its own to the registry.
struct CountingProxy {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl CountingProxy {
    fn start(upstream: &str) -> CountingProxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, log) = (upstream.clone(), log.clone());
                std::thread::spawn(move || forward(client, &upstream, &log));
            }
        });
        CountingProxy { url, requests }
    }

    /// How many requests there were of each method and path.
    fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for request in self.requests.lock().unwrap().iter() {
            *counts.entry(request.clone()).or_insert(0) += 1;
        }
        counts
    }
}

/// Forwards the requests of one client connection, one by one, until the client closes it.
fn forward(client: TcpStream, upstream: &str, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let request_line = request_line.trim_end().to_string();
        let (mut headers, mut length) = (String::new(), 0);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            if !lower.starts_with("connection:") {
                headers.push_str(&line);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or_default();
        let path = parts
            .next()
            .unwrap_or_default()
            .split('?')
            .next()
            .unwrap_or_default();
        log.lock().unwrap().push(format!("{method} {path}"));
        let mut registry = TcpStream::connect(upstream)?;
        registry.write_all(
            format!("{request_line}\r\n{headers}Connection: close\r\n\r\n").as_bytes(),
        )?;
        registry.write_all(&body)?;
        let mut response = Vec::new();
        registry.read_to_end(&mut response)?;
        client.write_all(&response)?;
    }
}

/// The registry is asked for each writer schema once, however many records carry its id,
/// and the output's schema is registered once: records of two schema versions go through
/// a proxy that counts what the engine asks of the registry.
#[test]
fn writer_schemas_are_fetched_once_per_id_and_the_output_schema_registered_once() {
    let (tansu, registry_service) = (Tansu::start(), Registry::start());
    let registry = registry_service.url();
    tansu.create_topic("order-events", 1);
    // The second version adds a field with a default, which the registry accepts.
    let mut second = order_schema();
    second["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "coupon", "type": "string", "default": ""}));
    for (schema, from) in [(order_schema(), 0), (second, 40)] {
        let mut records: Vec<Value> = (from..from + 40)
            .map(|i| order(i, "cust_1", 1.0 + i as f64, 1_000 + i * 10))
            .collect();
        if from > 0 {
            for record in &mut records {
                record["value"]["coupon"] = json!("none");
            }
        }
        produce_avro(
            &tansu.bootstrap,
            &registry,
            "order-events",
            &json!({"value_schema": schema, "records": records}),
        );
    }
    let proxy = CountingProxy::start(&registry);
    let sql = "CREATE STREAM order_events (order_id BIGINT, customer_id STRING, order_total DOUBLE)
  WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='AVRO');
CREATE STREAM totals WITH (VALUE_FORMAT='AVRO') AS
  SELECT customer_id, order_id, order_total FROM order_events;";
    let state = tempfile::tempdir().unwrap();
    run_engine(&tansu, &proxy.url, sql, "avro-cache", state.path());
    assert_eq!(
        consume_avro(&tansu.bootstrap, &registry, "TOTALS", 80).len(),
        80
    );
    let counts = proxy.counts();
    let fetched: Vec<(&String, &usize)> = counts
        .iter()
        .filter(|(request, _)| request.starts_with("GET /schemas/ids/"))
        .collect();
    assert_eq!(fetched.len(), 2, "{counts:?}");
    assert!(fetched.iter().all(|(_, &n)| n == 1), "{counts:?}");
    assert_eq!(
        counts.get("POST /subjects/TOTALS-value/versions"),
        Some(&1),
        "{counts:?}"
    );
}

/// The value fields of each output record as (key, value) in the topic's order, the key as
/// text (a KAFKA key) and a tombstone's value null.
fn keyed_values(outputs: &[Value]) -> Vec<(String, Value)> {
    outputs
        .iter()
        .map(|output| {
            let key = output["key"].as_str().unwrap();
            let key: Vec<u8> = (0..key.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&key[i..i + 2], 16).unwrap())
                .collect();
            (String::from_utf8(key).unwrap(), output["value"].clone())
        })
        .collect()
}

/// Stream-stream joins (INNER, and LEFT with a GRACE PERIOD, whose null-padded rows come
/// when the window closes), a table-table LEFT join and a foreign-key join, every record
/// written by Confluent's
/// AvroSerializer and every output read by its AvroDeserializer, on tansu. The stream joins
/// are on a value column, so they go through the join's repartition topic.
#[test]
fn avro_stream_stream_and_table_table_joins_run_on_confluents_serdes() {
    let (tansu, registry_service) = (Tansu::start(), Registry::start());
    let registry = registry_service.url();
    for topic in [
        "ss-orders",
        "ss-shipments",
        "tt-customers",
        "tt-tiers",
        "tt-accounts",
    ] {
        tansu.create_topic(topic, 1);
    }
    let record =
        |name: &str, fields: Value| json!({"type": "record", "name": name, "fields": fields});
    let orders = record(
        "Order",
        json!([{"name": "order_id", "type": "long"}, {"name": "order_total", "type": "double"}]),
    );
    let shipments = record(
        "Shipment",
        json!([{"name": "order_id", "type": "long"}, {"name": "carrier", "type": "string"}]),
    );
    let customers = record("Customer", json!([{"name": "name", "type": "string"}]));
    let tiers = record("Tier", json!([{"name": "tier", "type": "string"}]));
    let accounts = record(
        "Account",
        json!([{"name": "customer_id", "type": "string"}]),
    );
    let minute = 60_000;
    let at =
        |t: i64, key: &str, value: Value| json!({"timestamp": T0 + t, "key": key, "value": value});
    let sql = "CREATE STREAM ss_orders (order_id BIGINT, order_total DOUBLE)
                 WITH (KAFKA_TOPIC='ss-orders', VALUE_FORMAT='AVRO');
               CREATE STREAM ss_shipments (order_id BIGINT, carrier STRING)
                 WITH (KAFKA_TOPIC='ss-shipments', VALUE_FORMAT='AVRO');
               CREATE STREAM shipped WITH (VALUE_FORMAT='AVRO') AS
                 SELECT o.order_id AS order_id, o.order_total, s.carrier FROM ss_orders o
                 INNER JOIN ss_shipments s WITHIN 1 HOUR ON o.order_id = s.order_id;
               CREATE STREAM maybe_shipped WITH (VALUE_FORMAT='AVRO') AS
                 SELECT o.order_id AS order_id, o.order_total, s.carrier FROM ss_orders o
                 LEFT JOIN ss_shipments s WITHIN 1 HOUR GRACE PERIOD 0 SECONDS
                 ON o.order_id = s.order_id;
               CREATE TABLE tt_customers (customer_id STRING PRIMARY KEY, name STRING)
                 WITH (KAFKA_TOPIC='tt-customers', VALUE_FORMAT='AVRO');
               CREATE TABLE tt_tiers (customer_id STRING PRIMARY KEY, tier STRING)
                 WITH (KAFKA_TOPIC='tt-tiers', VALUE_FORMAT='AVRO');
               CREATE TABLE customer_tiers WITH (VALUE_FORMAT='AVRO') AS
                 SELECT c.customer_id AS customer_id, c.name, t.tier FROM tt_customers c
                 LEFT JOIN tt_tiers t ON c.customer_id = t.customer_id;
               CREATE TABLE tt_accounts (account_id STRING PRIMARY KEY, customer_id STRING)
                 WITH (KAFKA_TOPIC='tt-accounts', VALUE_FORMAT='AVRO');
               CREATE TABLE account_owners WITH (VALUE_FORMAT='AVRO') AS
                 SELECT a.account_id AS account_id, a.customer_id, c.name FROM tt_accounts a
                 JOIN tt_customers c ON a.customer_id = c.customer_id;";
    // One run per batch, the same group and state each time, so that each batch is read
    // after the one before it.
    let batches = [
        vec![
            (
                "ss-orders",
                &orders,
                vec![
                    at(0, "o1", json!({"order_id": 1, "order_total": 10.5})),
                    at(1_000, "o2", json!({"order_id": 2, "order_total": 20.0})),
                    at(2_000, "o3", json!({"order_id": 3, "order_total": 30.0})),
                ],
            ),
            (
                "tt-customers",
                &customers,
                vec![
                    at(0, "cust_1", json!({"name": "Ann"})),
                    at(0, "cust_2", json!({"name": "Bob"})),
                ],
            ),
            (
                "tt-accounts",
                &accounts,
                vec![
                    at(0, "acc_1", json!({"customer_id": "cust_1"})),
                    at(0, "acc_2", json!({"customer_id": "cust_2"})),
                ],
            ),
        ],
        vec![
            (
                "ss-shipments",
                &shipments,
                vec![at(
                    10 * minute,
                    "s1",
                    json!({"order_id": 1, "carrier": "ups"}),
                )],
            ),
            (
                "tt-tiers",
                &tiers,
                vec![at(minute, "cust_1", json!({"tier": "gold"}))],
            ),
        ],
        vec![
            // Past every window's end and grace: orders 2 and 3 close unmatched.
            (
                "ss-shipments",
                &shipments,
                vec![at(
                    120 * minute,
                    "s2",
                    json!({"order_id": 2, "carrier": "dhl"}),
                )],
            ),
            (
                "tt-tiers",
                &tiers,
                vec![at(2 * minute, "cust_2", json!({"tier": "silver"}))],
            ),
            (
                "tt-customers",
                &customers,
                vec![at(3 * minute, "cust_1", Value::Null)],
            ),
        ],
    ];
    let state = tempfile::tempdir().unwrap();
    for topics in &batches {
        for (topic, schema, records) in topics {
            produce_avro(
                &tansu.bootstrap,
                &registry,
                topic,
                &json!({"value_schema": schema, "records": records}),
            );
        }
        run_engine(&tansu, &registry, sql, "avro-more-joins", state.path());
    }
    let dead = tansu.read_all("avro-more-joins-dead", 0);
    assert!(dead.is_empty(), "{dead:?}");

    let by_order = |topic: &str, at_least: usize| {
        let mut rows: Vec<Value> = consume_avro(&tansu.bootstrap, &registry, topic, at_least)
            .into_iter()
            .map(|o| o["value"].clone())
            .collect();
        rows.sort_by_key(|v| v["ORDER_TOTAL"].as_f64().map(|t| (t * 100.0) as i64));
        rows
    };
    assert_eq!(
        by_order("SHIPPED", 1),
        [json!({"ORDER_TOTAL": 10.5, "CARRIER": "ups"})]
    );
    assert_eq!(
        by_order("MAYBE_SHIPPED", 3),
        [
            json!({"ORDER_TOTAL": 10.5, "CARRIER": "ups"}),
            json!({"ORDER_TOTAL": 20.0, "CARRIER": null}),
            json!({"ORDER_TOTAL": 30.0, "CARRIER": null}),
        ]
    );
    // A table's last record per key.
    let last_by_key = |topic: &str, at_least: usize| -> BTreeMap<String, Value> {
        keyed_values(&consume_avro(&tansu.bootstrap, &registry, topic, at_least))
            .into_iter()
            .collect()
    };
    // Bob with his tier, Ann deleted with her row.
    assert_eq!(
        last_by_key("CUSTOMER_TIERS", 3),
        BTreeMap::from([
            ("cust_1".to_string(), Value::Null),
            (
                "cust_2".to_string(),
                json!({"NAME": "Bob", "TIER": "silver"})
            ),
        ])
    );
    // The foreign-key join: acc_1's owner deleted takes its row with it. CUSTOMER_ID is
    // on both sides, so the left one selected is A_CUSTOMER_ID.
    assert_eq!(
        last_by_key("ACCOUNT_OWNERS", 3),
        BTreeMap::from([
            ("acc_1".to_string(), Value::Null),
            (
                "acc_2".to_string(),
                json!({"A_CUSTOMER_ID": "cust_2", "NAME": "Bob"})
            ),
        ])
    );
}
