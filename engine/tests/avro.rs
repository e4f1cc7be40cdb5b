//! AVRO through a real Schema Registry (rivven-schema) and a real broker (tansu): records
//! written by Confluent's Python AvroSerializer, outputs read back by its AvroDeserializer,
//! the tutorial's statements exactly as written, schema inference, bad records, and an
//! outage of the registry.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use common::registry::{
    consume_avro, latest_schema, order_schema, produce_avro, python_client, Registry,
};
use common::Tansu;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;

/// One broker and one registry for the tests of this file that run at the same time.
struct Services {
    tansu: Tansu,
    registry: Registry,
}

fn services() -> Arc<Services> {
    static SHARED: Mutex<Weak<Services>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(services) = shared.upgrade() {
        return services;
    }
    let services = Arc::new(Services {
        tansu: Tansu::start(),
        registry: Registry::start(),
    });
    *shared = Arc::downgrade(&services);
    services
}

/// Runs the queries of `sql` on the broker until its topics stay quiet for 3 s.
fn run_engine(tansu: &Tansu, registry: &str, sql: &str, group: &str) {
    let state = tempfile::tempdir().unwrap();
    common::registry::run_avro_engine(
        env!("CARGO_BIN_EXE_advisor-engine"),
        &tansu.bootstrap,
        registry,
        sql,
        group,
        state.path(),
    );
}

fn orders(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let at = 1_709_640_000_000 + i as i64 * 97_000;
            json!({
                "timestamp": at,
                "key": format!("o{i}"),
                "value": {
                    "order_id": i, "customer_id": format!("cust_{}", i % 4),
                    "order_status": "NEW", "order_total": (i % 9) as f64 + 0.25,
                    "created_at": at, "channel": "web"
                }
            })
        })
        .collect()
}

/// The tutorial's order_events and customer_order_totals, exactly as the page writes them.
const TUTORIAL: &str = "-- Define stream from order-events topic
CREATE STREAM order_events (
order_id BIGINT,
customer_id STRING,
order_status STRING,
order_total DOUBLE,
created_at BIGINT
) WITH (
KAFKA_TOPIC='order-events',
VALUE_FORMAT='AVRO'
);
-- Real-time aggregation: total orders and spend per customer
CREATE TABLE customer_order_totals AS
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

#[test]
fn the_tutorials_order_totals_run_on_avro_written_and_read_by_confluents_serdes() {
    let services = services();
    let (tansu, registry) = (&services.tansu, services.registry.url());
    tansu.create_topic("order-events", 2);
    let records = orders(120);
    produce_avro(
        &tansu.bootstrap,
        &registry,
        "order-events",
        &json!({"value_schema": order_schema(), "records": records}),
    );
    run_engine(tansu, &registry, TUTORIAL, "tutorial");

    let mut expected: BTreeMap<(String, i64), (i64, f64, i64)> = BTreeMap::new();
    for record in &records {
        let value = &record["value"];
        let at = value["created_at"].as_i64().unwrap();
        let entry = expected
            .entry((
                value["customer_id"].as_str().unwrap().to_string(),
                at - at.rem_euclid(HOUR),
            ))
            .or_insert((0, 0.0, 0));
        entry.0 += 1;
        entry.1 += value["order_total"].as_f64().unwrap();
        entry.2 = entry.2.max(at);
    }
    let outputs = consume_avro(
        &tansu.bootstrap,
        &registry,
        "CUSTOMER_ORDER_TOTALS",
        expected.len(),
    );
    let mut last = BTreeMap::new();
    for output in &outputs {
        // A windowed KAFKA key: the customer, then the window start in 8 bytes.
        let key = hex(output["key"].as_str().unwrap());
        let (customer, start) = key.split_at(key.len() - 8);
        let start = i64::from_be_bytes(start.try_into().unwrap());
        last.insert(
            (String::from_utf8(customer.to_vec()).unwrap(), start),
            output["value"].clone(),
        );
    }
    assert_eq!(last.len(), expected.len(), "{outputs:?}");
    for (window, (count, total, latest)) in &expected {
        let value = &last[window];
        assert_eq!(value["ORDER_COUNT"], json!(count), "{window:?}");
        assert!((value["TOTAL_SPENT"].as_f64().unwrap() - total).abs() < 1e-9);
        assert_eq!(value["LAST_ORDER_TIME"], json!(latest));
    }
    // The output schema as ksqlDB registers it.
    assert_eq!(
        latest_schema(&registry, "CUSTOMER_ORDER_TOTALS-value"),
        json!({
            "type": "record", "name": "KsqlDataSourceSchema",
            "namespace": "io.confluent.ksql.avro_schemas",
            "fields": [
                {"name": "ORDER_COUNT", "type": ["null", "long"], "default": null},
                {"name": "TOTAL_SPENT", "type": ["null", "double"], "default": null},
                {"name": "LAST_ORDER_TIME", "type": ["null", "long"], "default": null}
            ],
            "connect.name": "io.confluent.ksql.avro_schemas.KsqlDataSourceSchema"
        })
    );
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_source_without_columns_takes_them_from_the_registry_with_avro_keys() {
    let services = services();
    let (tansu, registry) = (&services.tansu, services.registry.url());
    tansu.create_topic("inferred-events", 1);
    let value_schema = json!({"type": "record", "name": "blah", "fields": [
        {"name": "c1", "type": "boolean"},
        {"name": "c2", "type": "int"},
        {"name": "c3", "type": "long"},
        {"name": "c4", "type": "float"},
        {"name": "c5", "type": ["null", "string"]},
        {"name": "suit", "type": {"type": "enum", "name": "Suit", "symbols": ["SPADES", "HEARTS"]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "digest", "type": ["null", {"type": "fixed", "size": 2, "name": "md5"}]}
    ]});
    let records: Vec<Value> = (0..5)
        .map(|i| {
            json!({"key": format!("k{i}"), "timestamp": 1_000 + i, "value": {
                "c1": i % 2 == 0, "c2": i, "c3": 400_000_000_000i64 + i, "c4": 1.5,
                "c5": if i == 3 { Value::Null } else { json!(format!("s{i}")) },
                "suit": "HEARTS", "tags": ["a", format!("t{i}")], "digest": null
            }})
        })
        .collect();
    produce_avro(
        &tansu.bootstrap,
        &registry,
        "inferred-events",
        &json!({"value_schema": value_schema, "key_schema": "string", "records": records}),
    );
    run_engine(
        tansu,
        &registry,
        "CREATE STREAM inferred WITH (KAFKA_TOPIC='inferred-events', FORMAT='AVRO');
         CREATE STREAM inferred_copy AS SELECT * FROM inferred;",
        "inferred",
    );
    let outputs = consume_avro(&tansu.bootstrap, &registry, "INFERRED_COPY", 5);
    let dead = tansu.read_all("inferred-dead", 0);
    assert_eq!(outputs.len(), 5, "{outputs:?} {dead:?}");
    for (i, output) in outputs.iter().enumerate() {
        assert_eq!(output["key_value"], json!(format!("k{i}")), "{output}");
        assert_eq!(
            output["value"],
            json!({
                "C1": i % 2 == 0, "C2": i, "C3": 400_000_000_000i64 + i as i64, "C4": 1.5,
                "C5": if i == 3 { Value::Null } else { json!(format!("s{i}")) },
                "SUIT": "HEARTS", "TAGS": ["a", format!("t{i}")]
            }),
            "the fixed field is left out, the enum is a STRING, the float a DOUBLE"
        );
    }
    // A key of one column is its type alone, required, as ksqlDB's AvroSchemas makes the
    // root of a schema.
    let key_schema = latest_schema(&registry, "INFERRED_COPY-key");
    assert_eq!(key_schema, json!("string"));
}

/// KEY_FORMAT='AVRO' beside a JSON value, with a key of two columns: keys written by
/// Confluent's AvroSerializer are read by field, grouped on, and written back as a record
/// named after the output (`BigSalesKey`, as ksqlDB's AvroFormat.getKeySchemaName names it);
/// a source that declares no key columns infers one ROWKEY STRUCT from the key schema.
#[test]
fn a_multi_column_avro_key_beside_a_json_value_round_trips_as_ksqldb_names_it() {
    let services = services();
    let (tansu, registry) = (&services.tansu, services.registry.url());
    tansu.create_topic("shop-sales", 1);
    let key_schema = json!({"type": "record", "name": "SaleKey", "namespace": "shop", "fields": [
        {"name": "REGION", "type": "string"},
        {"name": "SHOP", "type": "int"}
    ]});
    let records: Vec<Value> = (0..12)
        .map(|i| {
            json!({
                "key": {"REGION": if i % 2 == 0 { "north" } else { "south" }, "SHOP": i % 3},
                "value": {"AMOUNT": i as f64 + 0.5},
                "timestamp": 1_000 + i,
            })
        })
        .collect();
    produce_avro(
        &tansu.bootstrap,
        &registry,
        "shop-sales",
        &json!({"key_schema": key_schema, "value_schema": null, "records": records}),
    );
    run_engine(
        tansu,
        &registry,
        "CREATE STREAM shop_sales (region STRING KEY, shop INT KEY, amount DOUBLE)
           WITH (KAFKA_TOPIC='shop-sales', KEY_FORMAT='AVRO', VALUE_FORMAT='JSON');
         CREATE STREAM big_sales AS SELECT * FROM shop_sales WHERE amount > 6;
         CREATE TABLE shop_counts AS
           SELECT region, shop, COUNT(*) AS sales FROM shop_sales GROUP BY region, shop;
         CREATE STREAM keyed_sales (amount DOUBLE)
           WITH (KAFKA_TOPIC='shop-sales', KEY_FORMAT='AVRO', VALUE_FORMAT='JSON');
         CREATE STREAM keyed_copy AS SELECT * FROM keyed_sales;",
        "multi-key",
    );
    let dead = tansu.read_all("multi-key-dead", 0);
    assert!(dead.is_empty(), "{dead:?}");

    let key_of =
        |i: i64| json!({"REGION": if i % 2 == 0 { "north" } else { "south" }, "SHOP": i % 3});
    let big = consume_avro(&tansu.bootstrap, &registry, "BIG_SALES", 6);
    let got: Vec<(Value, Value)> = big
        .iter()
        .map(|o| (o["key_value"].clone(), o["value"].clone()))
        .collect();
    let wanted: Vec<(Value, Value)> = (6..12)
        .map(|i| (key_of(i), json!({"AMOUNT": i as f64 + 0.5})))
        .collect();
    assert_eq!(got, wanted, "{big:?}");
    let key_record = |name: &str| {
        json!({
            "type": "record", "name": name, "namespace": "io.confluent.ksql.avro_schemas",
            "fields": [
                {"name": "REGION", "type": ["null", "string"], "default": null},
                {"name": "SHOP", "type": ["null", "int"], "default": null}
            ],
            "connect.name": format!("io.confluent.ksql.avro_schemas.{name}")
        })
    };
    assert_eq!(
        latest_schema(&registry, "BIG_SALES-key"),
        key_record("BigSalesKey")
    );

    // Two regions by three shops, two sales each; the last count of each key wins.
    let counts = consume_avro(&tansu.bootstrap, &registry, "SHOP_COUNTS", 12);
    let mut last = BTreeMap::new();
    for output in &counts {
        last.insert(output["key_value"].to_string(), output["value"].clone());
    }
    assert_eq!(last.len(), 6, "{counts:?}");
    assert!(last.values().all(|v| *v == json!({"SALES": 2})), "{last:?}");
    assert_eq!(
        latest_schema(&registry, "SHOP_COUNTS-key"),
        key_record("ShopCountsKey")
    );

    // Inferred, the key is one STRUCT column, written bare as a record of the output's name.
    let copies = consume_avro(&tansu.bootstrap, &registry, "KEYED_COPY", 12);
    let keys: Vec<Value> = copies.iter().map(|o| o["key_value"].clone()).collect();
    assert_eq!(keys, (0..12).map(key_of).collect::<Vec<_>>());
    let copy_key = latest_schema(&registry, "KEYED_COPY-key");
    assert_eq!(copy_key, key_record("KeyedCopyKey"));
}

/// A row the AVRO output's schema cannot hold (a DECIMAL(4,2) total past 99.99: ksqlDB's
/// serializer refuses it in DecimalUtil.ensureFit) is a SERIALIZATION_ERROR dead letter with
/// the row, and the other rows flow; nothing empty is written in its place.
#[test]
fn a_row_the_avro_schema_cannot_hold_is_a_serialization_error_and_the_rest_flow() {
    let services = services();
    let (tansu, registry) = (&services.tansu, services.registry.url());
    tansu.create_topic("till-events", 1);
    let records: Vec<Value> = [("a", "60.00"), ("b", "10.25"), ("a", "50.00"), ("b", "20.50")]
        .iter()
        .enumerate()
        .map(|(i, (till, amount))| {
            json!({"key": till, "value": {"amount": amount.parse::<f64>().unwrap()}, "timestamp": 1_000 + i})
        })
        .collect();
    produce_avro(
        &tansu.bootstrap,
        &registry,
        "till-events",
        &json!({"value_schema": null, "records": records}),
    );
    run_engine(
        tansu,
        &registry,
        "CREATE STREAM tills (till STRING KEY, amount DECIMAL(4,2))
           WITH (KAFKA_TOPIC='till-events', VALUE_FORMAT='JSON');
         CREATE TABLE till_totals WITH (VALUE_FORMAT='AVRO') AS
           SELECT till, SUM(amount) AS total FROM tills GROUP BY till;",
        "tills",
    );
    let dead = tansu.read_all("tills-dead", 1);
    let letters: Vec<&Value> = dead
        .iter()
        .map(|(_, letter)| letter)
        .filter(|letter| letter["message"]["type"] == 3)
        .collect();
    assert!(!letters.is_empty(), "{dead:?}");
    for letter in &letters {
        let error = &letter["message"]["serializationError"];
        assert_eq!(error["target"], "value", "{letter}");
        assert_eq!(error["topic"], "TILL_TOTALS", "{letter}");
        let message = error["errorMessage"].as_str().unwrap_or_default();
        assert!(
            message.contains("TILL_TOTALS-value") && message.contains("110"),
            "{message}"
        );
        let record: Value = serde_json::from_str(error["record"].as_str().unwrap()).unwrap();
        assert_eq!(record["TILL"], "a", "{record}");
        // The key was written before the value failed: the letter keeps it (base64 of "a").
        assert_eq!(letter["key_b64"], "YQ==", "{letter}");
        assert!(letter["logger"]
            .as_str()
            .unwrap()
            .ends_with(".KsqlTopic.Sink.serializer"));
    }
    // Every record written is a whole Avro value: b's totals, and a's only while it fit.
    let outputs = consume_avro(&tansu.bootstrap, &registry, "TILL_TOTALS", 1);
    let totals: Vec<(String, String)> = outputs
        .iter()
        .map(|o| {
            let key = String::from_utf8(hex(o["key"].as_str().unwrap())).unwrap();
            (
                key,
                o["value"]["TOTAL"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(totals.contains(&("b".into(), "30.75".into())), "{totals:?}");
    assert!(
        totals
            .iter()
            .all(|(till, total)| till == "b" || total == "60.00"),
        "{totals:?}"
    );
}

/// Sends raw values to a topic, with no serializer.
fn produce_raw(tansu: &Tansu, topic: &str, values: &[Vec<u8>]) {
    let producer: BaseProducer = tansu.config().create().unwrap();
    for value in values {
        producer
            .send(
                BaseRecord::<(), Vec<u8>>::to(topic)
                    .payload(value)
                    .timestamp(5_000),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn frames(registry: &str, topic: &str, schema: &Value, values: &[Value]) -> Vec<Vec<u8>> {
    let records: Vec<Value> = values.iter().map(|v| json!({"value": v})).collect();
    python_client(
        &["frame", registry, topic],
        &json!({"value_schema": schema, "records": records}).to_string(),
    )
    .lines()
    .map(hex)
    .collect()
}

#[test]
fn bad_avro_records_are_dead_lettered_with_the_reason_and_the_rest_flow() {
    let services = services();
    let (tansu, registry) = (&services.tansu, services.registry.url());
    tansu.create_topic("bad-avro", 1);
    let good_schema = json!({"type": "record", "name": "Reading", "fields": [
        {"name": "sensor", "type": "string"}, {"name": "level", "type": "int"}
    ]});
    let good = frames(
        &registry,
        "bad-avro",
        &good_schema,
        &[
            json!({"sensor": "a", "level": 1}),
            json!({"sensor": "b", "level": 2}),
        ],
    );
    // A writer schema whose level is text: it does not fit the INT column.
    let text_level = json!({"type": "record", "name": "Reading", "fields": [
        {"name": "sensor", "type": "string"}, {"name": "level", "type": "string"}
    ]});
    // Framed under another subject: the registry would refuse it as an incompatible
    // version of the first, and the engine goes by the id alone.
    let misfit = frames(
        &registry,
        "bad-avro-text",
        &text_level,
        &[json!({"sensor": "c", "level": "high"})],
    );
    let mut unknown_id = vec![0, 0, 0, 0x03, 0xe7];
    unknown_id.extend_from_slice(&good[0][5..]);
    let truncated = good[1][..good[1].len() - 1].to_vec();
    produce_raw(
        tansu,
        "bad-avro",
        &[
            good[0].clone(),
            unknown_id,
            truncated,
            misfit[0].clone(),
            b"{\"sensor\":\"json\"}".to_vec(),
            good[1].clone(),
        ],
    );
    run_engine(
        tansu,
        &registry,
        "CREATE STREAM readings (sensor STRING, level INT) WITH (KAFKA_TOPIC='bad-avro', VALUE_FORMAT='AVRO');
         CREATE STREAM levels AS SELECT sensor, level * 10 AS scaled FROM readings;",
        "bad",
    );
    let outputs = consume_avro(&tansu.bootstrap, &registry, "LEVELS", 2);
    let values: Vec<&Value> = outputs.iter().map(|o| &o["value"]).collect();
    assert_eq!(
        values,
        [
            &json!({"SENSOR": "a", "SCALED": 10}),
            &json!({"SENSOR": "b", "SCALED": 20})
        ]
    );
    let letters = tansu.read_all("bad-dead", 4);
    let dead: Vec<String> = letters
        .iter()
        .map(|(_, letter)| letter["reason"].as_str().unwrap().to_string())
        .collect();
    // ksqlDB's `cause`: what the registry said of the unknown id, and apache-avro's error
    // with the io error under it for the body that ends early.
    let causes: Vec<&Value> = letters
        .iter()
        .map(|(_, letter)| &letter["message"]["deserializationError"]["cause"])
        .collect();
    let registry_said = causes[0][0]
        .as_str()
        .unwrap_or_else(|| panic!("{causes:?}"));
    assert!(dead[0].contains(registry_said), "{dead:?} {causes:?}");
    assert_eq!(causes[1].as_array().map(Vec::len), Some(2), "{causes:?}");
    assert!(
        dead[1].ends_with(causes[1][0].as_str().unwrap_or("?")),
        "{dead:?} {causes:?}"
    );
    assert_eq!(causes[1][1], "failed to fill whole buffer", "{causes:?}");
    assert_eq!(causes[3], &json!([]), "{causes:?}");
    assert_eq!(dead.len(), 4, "{dead:?}");
    assert!(
        dead[0].contains("schema id 999 is not in the Schema Registry"),
        "{dead:?}"
    );
    assert!(dead[1].contains("the Avro body does not read"), "{dead:?}");
    assert!(
        dead[2].contains("field LEVEL") && dead[2].contains("does not fit the column type INTEGER"),
        "{dead:?}"
    );
    assert!(dead[3].contains("magic byte"), "{dead:?}");
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn healthy(&self) -> bool {
        Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
            .args(["healthcheck", "--url"])
            .arg(format!("http://127.0.0.1:{}/healthcheck", self.port))
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_registry_outage_is_waited_out_with_the_health_check_degraded() {
    // Its own registry: this test stops it.
    let services = services();
    let tansu = &services.tansu;
    let registry = Registry::start();
    let url = registry.url();
    tansu.create_topic("outage-events", 1);
    let dir = tempfile::tempdir().unwrap();
    let sql = "CREATE STREAM readings (sensor STRING, level INT) WITH (KAFKA_TOPIC='outage-events', VALUE_FORMAT='AVRO');
               CREATE STREAM outage_levels AS SELECT sensor, level FROM readings;";
    std::fs::write(dir.path().join("q.sql"), sql).unwrap();
    let port = common::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--sql",
            "q.sql",
        ])
        .args([
            "--bootstrap-servers",
            &tansu.bootstrap,
            "--group-id",
            "outage",
        ])
        .args(["--dead-letter-topic", "outage-dead", "--state-dir", "state"])
        .env("ENGINE_SCHEMA_REGISTRY_URL", &url)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let mut server = Server { child, port };
    common::wait_until_listening(&mut server.child, port, "serve", Duration::from_secs(30));
    assert!(server.healthy());

    // Values framed with a schema the engine has not seen, sent once the registry is down.
    let schema = json!({"type": "record", "name": "Reading", "fields": [
        {"name": "sensor", "type": "string"}, {"name": "level", "type": "int"}
    ]});
    let values: Vec<Value> = (0..3)
        .map(|i| json!({"sensor": format!("s{i}"), "level": i}))
        .collect();
    let framed = frames(&url, "outage-events", &schema, &values);
    // Frozen, the registry answers nothing (the engine's requests time out) and keeps
    // its in-memory schemas for when it comes back.
    registry.signal("STOP");
    produce_raw(tansu, "outage-events", &framed);
    wait_for(
        "/healthcheck reports the outage",
        Duration::from_secs(40),
        || !server.healthy(),
    );
    registry.signal("CONT");
    wait_for("/healthcheck recovers", Duration::from_secs(60), || {
        server.healthy()
    });
    let outputs = consume_avro(&tansu.bootstrap, &url, "OUTAGE_LEVELS", 3);
    let got: Vec<&Value> = outputs.iter().map(|o| &o["value"]).collect();
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    assert_eq!(
        got,
        [
            &json!({"SENSOR": "s0", "LEVEL": 0}),
            &json!({"SENSOR": "s1", "LEVEL": 1}),
            &json!({"SENSOR": "s2", "LEVEL": 2})
        ],
        "no record is lost to the outage; the server's log:\n{log}"
    );
    let dead = tansu.read_raw("outage-dead", 0);
    assert!(
        dead.is_empty(),
        "nothing is dead-lettered for an outage: {dead:?}"
    );
}

#[test]
fn every_column_type_goes_through_avro_as_ksqldb_reads_and_writes_it() {
    let services = services();
    let (tansu, registry) = (&services.tansu, services.registry.url());
    tansu.create_topic("typed-events", 1);
    // As an application writes it: logical types, a map, nested records, fields not
    // nullable, and a decimal wider than the column (its misfit is dead-lettered).
    let schema = json!({"type": "record", "name": "Reading", "namespace": "plant", "fields": [
        {"name": "flag", "type": "boolean"},
        {"name": "n", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "ratio", "type": "double"},
        {"name": "label", "type": "string"},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "due", "type": {"type": "int", "logicalType": "date"}},
        {"name": "clock", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "stamp", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "raw", "type": "bytes"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
        {"name": "place", "type": ["null", {"type": "record", "name": "Place", "fields": [
            {"name": "name", "type": "string"},
            {"name": "geo", "type": {"type": "record", "name": "Geo", "fields": [
                {"name": "lat", "type": "double"}, {"name": "lon", "type": "double"}
            ]}}
        ]}]},
        {"name": "maybe", "type": ["null", "long"]}
    ]});
    let reading = |price: &str, place: Value| {
        json!({
            "flag": true, "n": 7, "big": 9_000_000_000i64, "ratio": 2.5, "label": "x",
            "price": {"$decimal": price}, "due": 19_787, "clock": 5_000,
            "stamp": 1_709_643_845_067i64, "raw": {"$bytes": "00ff07"}, "tags": ["a", "b"],
            "attrs": {"z": 1, "a": 2}, "place": place, "maybe": null
        })
    };
    let records = [
        reading(
            "12.50",
            json!({"name": "Ann", "geo": {"lat": 51.5, "lon": -0.1}}),
        ),
        reading("12345.67", Value::Null),
        reading("-0.05", Value::Null),
    ];
    let framed = frames(&registry, "typed-events", &schema, &records);
    produce_raw(tansu, "typed-events", &framed);
    run_engine(
        tansu,
        &registry,
        "CREATE STREAM readings (
           flag BOOLEAN, n INT, big BIGINT, ratio DOUBLE, label STRING, price DECIMAL(6, 2),
           due DATE, clock TIME, stamp TIMESTAMP, raw BYTES, tags ARRAY<STRING>,
           attrs MAP<STRING, BIGINT>, place STRUCT<name STRING, geo STRUCT<lat DOUBLE, lon DOUBLE>>,
           maybe BIGINT
         ) WITH (KAFKA_TOPIC='typed-events', VALUE_FORMAT='AVRO');
         CREATE STREAM typed_copy AS SELECT *, price * 2 AS doubled, place->geo->lat AS lat,
           attrs['a'] AS a, tags[-1] AS last_tag, CAST(stamp AS DATE) AS stamp_day FROM readings;",
        "typed",
    );
    let outputs = consume_avro(&tansu.bootstrap, &registry, "TYPED_COPY", 2);
    let values: Vec<&Value> = outputs.iter().map(|o| &o["value"]).collect();
    let dead: Vec<String> = tansu
        .read_all("typed-dead", 1)
        .into_iter()
        .map(|(_, letter)| letter["reason"].as_str().unwrap().to_string())
        .collect();
    let expected = |price: &str, doubled: &str, place: Value, lat: Value| {
        json!({
            "FLAG": true, "N": 7, "BIG": 9_000_000_000i64, "RATIO": 2.5, "LABEL": "x",
            "PRICE": price, "DUE": "2024-03-05", "CLOCK": "00:00:05",
            "STAMP": "2024-03-05 13:04:05.067000+00:00", "RAW": "00ff07", "TAGS": ["a", "b"],
            "ATTRS": {"a": 2, "z": 1}, "PLACE": place, "MAYBE": null,
            "DOUBLED": doubled, "LAT": lat, "A": 2, "LAST_TAG": "b", "STAMP_DAY": "2024-03-05"
        })
    };
    assert_eq!(
        values,
        [
            &expected(
                "12.50",
                "25.00",
                json!({"NAME": "Ann", "GEO": {"LAT": 51.5, "LON": -0.1}}),
                json!(51.5)
            ),
            &expected("-0.05", "-0.10", Value::Null, Value::Null),
        ],
        "dead letters: {dead:?}"
    );
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(
        dead[0].contains(
            "field PRICE: Cannot fit decimal '12345.67' into DECIMAL(6, 2) without rounding"
        ),
        "{dead:?}"
    );
    // The schema as ksqlDB registers it: Connect's logical types, nested records named
    // after their parent and field, maps as Avro maps, every value nullable.
    let nullable = |t: Value| json!(["null", t]);
    let logical = |avro: &str, logical: &str, connect: &str| {
        json!({"type": avro, "connect.version": 1,
               "connect.name": format!("org.apache.kafka.connect.data.{connect}"),
               "logicalType": logical})
    };
    let field = |name: &str, t: Value| json!({"name": name, "type": nullable(t), "default": null});
    let decimal = |precision: u8, scale: u8| {
        json!({"type": "bytes", "scale": scale, "precision": precision, "connect.version": 1,
               "connect.parameters": {"scale": scale.to_string(),
                                      "connect.decimal.precision": precision.to_string()},
               "connect.name": "org.apache.kafka.connect.data.Decimal", "logicalType": "decimal"})
    };
    assert_eq!(
        latest_schema(&registry, "TYPED_COPY-value"),
        json!({
            "type": "record", "name": "KsqlDataSourceSchema",
            "namespace": "io.confluent.ksql.avro_schemas",
            "fields": [
                field("FLAG", json!("boolean")),
                field("N", json!("int")),
                field("BIG", json!("long")),
                field("RATIO", json!("double")),
                field("LABEL", json!("string")),
                field("PRICE", decimal(6, 2)),
                field("DUE", logical("int", "date", "Date")),
                field("CLOCK", logical("int", "time-millis", "Time")),
                field("STAMP", logical("long", "timestamp-millis", "Timestamp")),
                field("RAW", json!("bytes")),
                field("TAGS", json!({"type": "array", "items": ["null", "string"]})),
                field("ATTRS", json!({"type": "map", "values": ["null", "long"]})),
                field("PLACE", json!({
                    "type": "record", "name": "KsqlDataSourceSchema_PLACE",
                    "fields": [
                        field("NAME", json!("string")),
                        field("GEO", json!({
                            "type": "record", "name": "KsqlDataSourceSchema_PLACE_GEO",
                            "fields": [field("LAT", json!("double")), field("LON", json!("double"))],
                            "connect.name": "io.confluent.ksql.avro_schemas.KsqlDataSourceSchema_PLACE_GEO"
                        }))
                    ],
                    "connect.name": "io.confluent.ksql.avro_schemas.KsqlDataSourceSchema_PLACE"
                })),
                field("MAYBE", json!("long")),
                field("DOUBLED", decimal(17, 2)),
                field("LAT", json!("double")),
                field("A", json!("long")),
                field("LAST_TAG", json!("string")),
                field("STAMP_DAY", logical("int", "date", "Date")),
            ],
            "connect.name": "io.confluent.ksql.avro_schemas.KsqlDataSourceSchema"
        })
    );
}

/// The tutorial's sessionisation, exactly as the tutorial writes it.
const TUTORIAL_SESSIONS: &str = "-- Define clickstream events
CREATE STREAM clickstream (
user_id STRING,
page_url STRING,
event_time BIGINT
) WITH (
KAFKA_TOPIC='clickstream-events',
VALUE_FORMAT='AVRO'
);
-- Sessionise: group events into sessions (30-min timeout)
CREATE TABLE user_sessions AS
SELECT
user_id,
COUNT(*) AS event_count,
COLLECT_LIST(page_url) AS pages_visited,
MIN(event_time) AS session_start,
MAX(event_time) AS session_end
FROM clickstream
WINDOW SESSION (30 MINUTES)
GROUP BY user_id
EMIT CHANGES;
";

#[test]
fn the_tutorials_sessionisation_runs_on_avro_written_and_read_by_confluents_serdes() {
    const MINUTE: i64 = 60_000;
    let services = services();
    let (tansu, registry) = (&services.tansu, services.registry.url());
    tansu.create_topic("clickstream-events", 2);
    // Three users; clicks a few minutes apart make one session, a pause of two hours
    // starts another (well clear of the 30-minute gap's bounds).
    let start = 1_709_640_000_000i64;
    let mut clicks = Vec::new();
    let mut sessions: BTreeMap<(String, i64), Vec<(i64, String)>> = BTreeMap::new();
    for user in 0..3 {
        let user_id = format!("user-{user}");
        let mut at = start + user as i64 * MINUTE;
        let mut session_start = at;
        for click in 0..12 {
            if click > 0 {
                at += if click % 5 == 0 {
                    120 * MINUTE
                } else {
                    4 * MINUTE
                };
                if click % 5 == 0 {
                    session_start = at;
                }
            }
            let page = format!("/u{user}/page-{click}");
            sessions
                .entry((user_id.clone(), session_start))
                .or_default()
                .push((at, page.clone()));
            clicks.push(json!({
                "timestamp": at,
                "key": user_id,
                "value": {"user_id": user_id, "page_url": page, "event_time": at}
            }));
        }
    }
    let schema = json!({"type": "record", "name": "Click", "namespace": "web", "fields": [
        {"name": "user_id", "type": "string"},
        {"name": "page_url", "type": "string"},
        {"name": "event_time", "type": "long"}
    ]});
    produce_avro(
        &tansu.bootstrap,
        &registry,
        "clickstream-events",
        &json!({"value_schema": schema, "records": clicks}),
    );
    run_engine(tansu, &registry, TUTORIAL_SESSIONS, "tutorial-sessions");

    // The last record per session window (key, then its end and start, 8 bytes each); a
    // session merged into a later one ends as a tombstone.
    let outputs = consume_avro(&tansu.bootstrap, &registry, "USER_SESSIONS", sessions.len());
    let mut last: BTreeMap<(String, i64, i64), Value> = BTreeMap::new();
    for output in &outputs {
        let key = hex(output["key"].as_str().unwrap());
        let (user, window) = key.split_at(key.len() - 16);
        let end = i64::from_be_bytes(window[..8].try_into().unwrap());
        let begin = i64::from_be_bytes(window[8..].try_into().unwrap());
        last.insert(
            (String::from_utf8(user.to_vec()).unwrap(), begin, end),
            output["value"].clone(),
        );
    }
    let open: BTreeMap<_, _> = last.into_iter().filter(|(_, v)| !v.is_null()).collect();
    assert_eq!(open.len(), sessions.len(), "{outputs:?}");
    for ((user, session_start), clicks) in &sessions {
        let session_end = clicks.last().unwrap().0;
        let value = &open[&(user.clone(), *session_start, session_end)];
        let pages: Vec<&str> = clicks.iter().map(|(_, page)| page.as_str()).collect();
        assert_eq!(value["EVENT_COUNT"], json!(clicks.len()), "{user}");
        assert_eq!(value["PAGES_VISITED"], json!(pages), "{user}");
        assert_eq!(value["SESSION_START"], json!(session_start));
        assert_eq!(value["SESSION_END"], json!(session_end));
    }
}
