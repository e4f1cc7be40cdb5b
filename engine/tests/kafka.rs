//! advisor-engine against a real Kafka-protocol broker (tansu): the page's order totals end
//! to end through topics, ksqlDB's windowed key bytes, dead letters, and a restart with the
//! same group that does not count twice.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command as Cmd;
use common::{orders, Tansu};
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;

const SQL: &str = "CREATE STREAM order_events (
  order_id BIGINT, customer_id STRING, order_status STRING, order_total DOUBLE, created_at BIGINT
) WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON', TIMESTAMP='created_at');
CREATE TABLE customer_order_totals AS
SELECT customer_id, COUNT(*) AS order_count, SUM(order_total) AS total_spent,
       MAX(created_at) AS last_order_time
FROM order_events WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY customer_id EMIT CHANGES;";

/// Runs the queries of `sql` over the broker until its topics stay quiet for 3 s, in
/// consumer group `group` with state in `state`, plus `extra` flags.
fn run_until_idle(tansu: &Tansu, sql: &str, group: &str, state: &Path, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.sql"), sql).unwrap();
    Cmd::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args([
            "run",
            "--sql",
            "q.sql",
            "--bootstrap-servers",
            &tansu.bootstrap,
        ])
        .args(["--group-id", group])
        .arg("--state-dir")
        .arg(state)
        .args(["--stop-when-idle", "3s"])
        .args(extra)
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
}

fn run_engine(tansu: &Tansu, state: &Path) {
    run_until_idle(tansu, SQL, "orders-app", state, &[]);
}

/// The last value per (customer, window start) decoded from ksqlDB's windowed key bytes.
fn final_values(records: &[(Vec<u8>, Value)]) -> BTreeMap<(String, i64), Value> {
    let mut last = BTreeMap::new();
    for (key, value) in records {
        assert!(
            key.len() > 8,
            "a windowed key is the key then 8 bytes of window start"
        );
        let (customer, start) = key.split_at(key.len() - 8);
        let start = i64::from_be_bytes(start.try_into().unwrap());
        last.insert(
            (String::from_utf8(customer.to_vec()).unwrap(), start),
            value.clone(),
        );
    }
    last
}

fn expected(orders: &[(String, f64, i64, String)]) -> BTreeMap<(String, i64), (i64, f64)> {
    let mut expected = BTreeMap::new();
    for (customer, total, at, _) in orders {
        let entry = expected
            .entry((customer.clone(), at - at.rem_euclid(HOUR)))
            .or_insert((0i64, 0.0f64));
        entry.0 += 1;
        entry.1 += total;
    }
    expected
}

#[test]
fn order_totals_flow_through_kafka_and_a_restart_does_not_double_count() {
    let tansu = Tansu::start();
    tansu.create_topic("order-events", 3);
    let state = tempfile::tempdir().unwrap();

    let first = orders(0, 600);
    let mut lines: Vec<String> = first.iter().map(|o| o.3.clone()).collect();
    lines.push("{broken json".to_string());
    tansu.produce("order-events", &lines);
    run_engine(&tansu, state.path());
    let after_first = tansu.read_all("CUSTOMER_ORDER_TOTALS", 1).len();
    // Like ksqlDB's record cache, updates to one (customer, window) between two commits
    // collapse to the last: 600 orders touch 28 of them.
    assert!(
        (28..600).contains(&after_first),
        "{after_first} updates for 600 orders over 28 windowed keys"
    );

    // A restart with the same group and state: new records only are counted.
    let second = orders(600, 1000);
    tansu.produce(
        "order-events",
        &second.iter().map(|o| o.3.clone()).collect::<Vec<_>>(),
    );
    run_engine(&tansu, state.path());
    let after_second = tansu
        .read_all("CUSTOMER_ORDER_TOTALS", after_first + 1)
        .len();

    // A crash after the state was saved but before the offsets were committed replays
    // records; the saved offsets make the engine skip them instead of counting them again.
    tansu.rewind_group("orders-app", "order-events", 3);
    run_engine(&tansu, state.path());

    let all: Vec<_> = first.into_iter().chain(second).collect();
    let want = expected(&all);
    let records = tansu.read_all("CUSTOMER_ORDER_TOTALS", after_second);
    assert_eq!(
        records.len(),
        after_second,
        "the replay of records the state already holds sends nothing"
    );
    let got = final_values(&records);
    assert_eq!(got.len(), want.len());
    for ((customer, start), (count, sum)) in &want {
        let value = &got[&(customer.clone(), *start)];
        assert_eq!(value["ORDER_COUNT"], json!(count), "{customer} {start}");
        assert!((value["TOTAL_SPENT"].as_f64().unwrap() - sum).abs() < 1e-6);
    }
    // The rewind above did replay: without the saved state the same replay is processed again.
    tansu.rewind_group("orders-app", "order-events", 3);
    let fresh = tempfile::tempdir().unwrap();
    run_engine(&tansu, fresh.path());
    assert!(
        tansu
            .read_all("CUSTOMER_ORDER_TOTALS", after_second + 1)
            .len()
            > after_second
    );

    // The aggregation's first stage (before its repartition topic) holds no state, so each
    // of the three runs that read the broken record dead-letters it: at least once.
    let dead = tansu.read_all("advisor_engine_dead_letters", 1);
    assert_eq!(
        dead.len(),
        3,
        "the broken record, once per run that read it"
    );
    assert!(dead[0].1["reason"]
        .as_str()
        .unwrap()
        .contains("malformed JSON"));
    assert_eq!(dead[0].1["value"], "{broken json");
    // In ksqlDB's processing-log shape too, with the raw key and value in base64.
    use base64::Engine as _;
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let letter = &dead[0].1;
    assert_eq!(letter["key_b64"], b64("k0"), "{letter}");
    assert_eq!(letter["value_b64"], b64("{broken json"), "{letter}");
    assert_eq!(letter["level"], "ERROR");
    assert!(
        letter["time"]
            .as_i64()
            .is_some_and(|t| t > 1_700_000_000_000),
        "{letter}"
    );
    let query = letter["query"].as_str().unwrap();
    assert_eq!(
        letter["logger"],
        format!("processing.{query}.KsqlTopic.Source.deserializer")
    );
    let message = &letter["message"];
    assert_eq!(message["type"], 0, "DESERIALIZATION_ERROR: {letter}");
    let error = &message["deserializationError"];
    assert_eq!(error["recordB64"], b64("{broken json"));
    assert_eq!(error["topic"], "order-events");
    assert_eq!(error["target"], "value");
    assert!(error["errorMessage"]
        .as_str()
        .unwrap()
        .contains("malformed JSON"));
    for other in [
        "recordProcessingError",
        "productionError",
        "serializationError",
        "kafkaStreamsThreadError",
    ] {
        assert!(message[other].is_null(), "{other} in {letter}");
    }
}

/// EMIT FINAL, late events and hopping windows through the broker.
#[test]
fn windows_close_late_events_are_dead_lettered_and_hopping_windows_overlap() {
    let tansu = Tansu::start();
    tansu.create_topic("events", 1);
    let state = tempfile::tempdir().unwrap();
    let sql = "CREATE STREAM events (user_id STRING, at BIGINT) WITH (KAFKA_TOPIC='events', VALUE_FORMAT='JSON', TIMESTAMP='at');
         CREATE TABLE per_minute_final AS SELECT user_id, COUNT(*) AS n FROM events
           WINDOW TUMBLING (SIZE 1 MINUTE, GRACE PERIOD 10 SECONDS) GROUP BY user_id EMIT FINAL;
         CREATE TABLE hopping AS SELECT user_id, COUNT(*) AS n FROM events
           WINDOW HOPPING (SIZE 2 MINUTES, ADVANCE BY 1 MINUTE) GROUP BY user_id EMIT CHANGES;";
    let seconds: [i64; 5] = [0, 30, 70, 20, 200];
    let lines: Vec<String> = seconds
        .iter()
        .map(|s| json!({"user_id": "a", "at": s * 1000}).to_string())
        .collect();
    tansu.produce("events", &lines);
    // Without the record cache every update goes out, as in ksqlDB with
    // cache.max.bytes.buffering=0.
    run_until_idle(
        &tansu,
        sql,
        "windows-app",
        state.path(),
        &["--cache-max-bytes", "0"],
    );

    // EMIT FINAL: one row per window once stream time passes its end plus grace.
    let finals = tansu.read_all("PER_MINUTE_FINAL", 2);
    let finals: Vec<(i64, Value)> = finals
        .iter()
        .map(|(key, value)| {
            (
                i64::from_be_bytes(key[key.len() - 8..].try_into().unwrap()),
                value["N"].clone(),
            )
        })
        .collect();
    assert_eq!(finals, vec![(0, json!(2)), (60_000, json!(1))]);

    // The event at 20 s came after its minute had closed (stream time 70 s > 60 s + 10 s).
    let dead = tansu.read_all("advisor_engine_dead_letters", 1);
    assert_eq!(dead.len(), 1);
    assert!(dead[0].1["reason"]
        .as_str()
        .unwrap()
        .starts_with("late event"));
    assert_eq!(dead[0].1["query"], "CTAS_PER_MINUTE_FINAL_0");
    // A late event is a RECORD_PROCESSING_ERROR in ksqlDB's processing-log types.
    let message = &dead[0].1["message"];
    assert_eq!(message["type"], 1, "{message}");
    assert!(message["recordProcessingError"]["errorMessage"]
        .as_str()
        .unwrap()
        .starts_with("late event"));
    assert!(message["deserializationError"].is_null());

    // Hopping windows of 2 minutes every minute: each event counts in two windows.
    let updates = tansu.read_all("HOPPING", 7);
    assert_eq!(
        updates.len(),
        7,
        "one update per event and window it falls in"
    );
    let hops = final_values_by_start(&updates);
    let mut expected = BTreeMap::new();
    for s in seconds {
        let at = s * 1000;
        let mut start = at - at.rem_euclid(60_000);
        while start > at - 120_000 && start >= 0 {
            *expected.entry(start).or_insert(0) += 1;
            start -= 60_000;
        }
    }
    assert_eq!(hops, expected);
}

fn final_values_by_start(records: &[(Vec<u8>, Value)]) -> BTreeMap<i64, i64> {
    let mut last = BTreeMap::new();
    for (key, value) in records {
        let start = i64::from_be_bytes(key[key.len() - 8..].try_into().unwrap());
        last.insert(start, value["N"].as_i64().unwrap());
    }
    last
}

/// The tutorial's sessionisation through the broker: records with ksqlDB's session key bytes
/// (key, then window end, then start), the exact sequence of updates and tombstones the
/// reference of ksqlDB's session aggregation gives (the record cache off), across a restart
/// in the middle, and no duplicate after a replay the saved state already holds.
#[test]
fn sessions_flow_through_kafka_with_session_key_bytes_across_a_restart() {
    const SESSIONS: &str =
        "CREATE STREAM clickstream (user_id STRING, page_url STRING, event_time BIGINT)
  WITH (KAFKA_TOPIC='clickstream-events', VALUE_FORMAT='JSON');
CREATE TABLE user_sessions AS
SELECT user_id, COUNT(*) AS event_count, COLLECT_LIST(page_url) AS pages_visited,
  MIN(event_time) AS session_start, MAX(event_time) AS session_end
FROM clickstream WINDOW SESSION (30 MINUTES) GROUP BY user_id EMIT CHANGES;";
    let tansu = Tansu::start();
    tansu.create_topic("clickstream-events", 1);
    let state = tempfile::tempdir().unwrap();
    let run = || {
        run_until_idle(
            &tansu,
            SESSIONS,
            "sessions-app",
            state.path(),
            &["--cache-max-bytes", "0"],
        )
    };
    // Three users; gaps of 10, 29, 31 and 50 minutes, and some clicks a little out of order.
    let minute = 60_000i64;
    let mut clicks = Vec::new();
    let mut clock = 1_709_640_000_000i64;
    for i in 0..240i64 {
        clock += [10, 29, 31, 50][(i % 4) as usize] * minute / 3;
        let at = if i % 9 == 4 {
            clock - 25 * minute
        } else {
            clock
        };
        let user = format!("u{}", i % 3);
        let value = json!({"user_id": user, "page_url": format!("/p{}", i % 5), "event_time": at});
        clicks.push((at, user, value));
    }
    let lines: Vec<(i64, String)> = clicks.iter().map(|(t, _, v)| (*t, v.to_string())).collect();
    tansu.produce_at("clickstream-events", &lines[..120]);
    run();
    tansu.produce_at("clickstream-events", &lines[120..]);
    run();
    // A replay of records the saved state already holds sends nothing more.
    tansu.rewind_group("sessions-app", "clickstream-events", 1);
    run();

    let records: Vec<Value> = clicks
        .iter()
        .enumerate()
        .map(|(offset, (t, user, value))| json!({"key": user, "timestamp": t, "offset": offset, "value": value}))
        .collect();
    let (want, late) = common::reference::sessions(
        &records,
        &["--gap-ms", "1800000"],
        r#"[["COUNT", null, "EVENT_COUNT"], ["COLLECT_LIST", "page_url", "PAGES_VISITED"],
            ["MIN", "event_time", "SESSION_START"], ["MAX", "event_time", "SESSION_END"]]"#,
    );
    assert!(late.is_empty(), "a day's grace: nothing is late");
    assert!(
        want.iter().any(|r| r["value"].is_null()),
        "sessions grow and merge"
    );
    let got = tansu.read_all("USER_SESSIONS", want.len());
    assert_eq!(
        got.len(),
        want.len(),
        "every update once, nothing lost or doubled"
    );
    for (i, ((key, value), want)) in got.iter().zip(&want).enumerate() {
        let user = want["key"].as_str().unwrap();
        let mut bytes = user.as_bytes().to_vec();
        bytes.extend(want["window"]["end"].as_i64().unwrap().to_be_bytes());
        bytes.extend(want["window"]["start"].as_i64().unwrap().to_be_bytes());
        assert_eq!(key, &bytes, "record {i}: key, end, start");
        assert_eq!(value, &want["value"], "record {i}");
    }
}

/// The tutorial's fraud detection through the broker: the OVER-window alerts equal the
/// tutorial's FraudDetector over the same logins, across a restart in the middle (rows the
/// first run held back for the watermark are in its saved state and come out in the
/// second), with nothing lost or doubled, also after a replay the saved state holds.
#[test]
fn fraud_alerts_flow_through_kafka_across_a_restart() {
    const FRAUD: &str = "CREATE STREAM login_events (user_id STRING, ip_address STRING, status STRING, event_time BIGINT)
  WITH (KAFKA_TOPIC='login-events', VALUE_FORMAT='JSON', TIMESTAMP='event_time');
CREATE STREAM fraud_alerts WITH (KAFKA_TOPIC='fraud-alerts') AS
SELECT 'SUSPECTED_FRAUD' AS `alert_type`, ip_address AS `ip_address`,
       failure_count AS `failure_count`, '5_minutes' AS `time_window`, event_time AS `timestamp`
FROM (
  SELECT ip_address, event_time,
         COUNT(*) OVER (PARTITION BY ip_address ORDER BY ROWTIME
           RANGE BETWEEN INTERVAL '4:59.999' MINUTE TO SECOND PRECEDING AND CURRENT ROW) AS failure_count
  FROM login_events WHERE status = 'FAILED'
) WHERE failure_count >= 3;";
    let tansu = Tansu::start();
    tansu.create_topic("login-events", 1);
    let state = tempfile::tempdir().unwrap();
    let run = || run_until_idle(&tansu, FRAUD, "fraud-detection", state.path(), &[]);
    let mut events = Vec::new();
    let mut clock = 1_709_640_000_000i64;
    for i in 0..600i64 {
        clock += 7_000 + (i * 7919) % 30_000;
        let status = if (i * 31) % 10 < 5 {
            "FAILED"
        } else {
            "SUCCESS"
        };
        events.push(
            json!({"user_id": format!("u{}", i % 9), "ip_address": format!("10.0.0.{}", i % 4),
                           "status": status, "event_time": clock}),
        );
    }
    // A last login after the others: its time moves the watermark past every failure.
    events.push(json!({"user_id": "x", "ip_address": "10.0.0.9", "status": "SUCCESS", "event_time": clock + 1000}));
    let lines: Vec<(i64, String)> = events
        .iter()
        .map(|e| (e["event_time"].as_i64().unwrap(), e.to_string()))
        .collect();
    tansu.produce_at("login-events", &lines[..300]);
    run();
    tansu.produce_at("login-events", &lines[300..]);
    run();
    tansu.rewind_group("fraud-detection", "login-events", 1);
    run();

    let want = common::reference::fraud_alerts(&events, 300_000);
    assert!(want.len() > 10, "the logins raise alerts");
    let got: Vec<Value> = tansu
        .read_all("fraud-alerts", want.len())
        .into_iter()
        .map(|(_, value)| value)
        .collect();
    assert_eq!(got, want);
}

/// ksqlDB's formats through the broker: a DELIMITED source with a KAFKA key; a GROUP BY of
/// two columns written with a JSON key (an object of the key columns) and with a DELIMITED
/// key (`a,b`), the value in DELIMITED and as a bare JSON value (WRAP_SINGLE_VALUE=false);
/// a KAFKA value of one column.
#[test]
fn delimited_json_and_kafka_formats_carry_keys_and_values_as_ksqldb_writes_them() {
    const FORMATS: &str =
        "CREATE STREAM trades (sym STRING KEY, venue STRING, side STRING, qty BIGINT, price DOUBLE)
  WITH (KAFKA_TOPIC='trades', VALUE_FORMAT='DELIMITED');
CREATE TABLE by_venue_side WITH (KEY_FORMAT='JSON', VALUE_FORMAT='JSON', WRAP_SINGLE_VALUE=false) AS
  SELECT venue, side, SUM(qty) AS total FROM trades GROUP BY venue, side;
CREATE TABLE by_venue_side_csv WITH (FORMAT='DELIMITED') AS
  SELECT venue, side, COUNT(*) AS n, MAX(price) AS top FROM trades GROUP BY venue, side;
CREATE STREAM prices WITH (VALUE_FORMAT='KAFKA') AS SELECT sym, price FROM trades WHERE qty > 1;";
    let tansu = Tansu::start();
    tansu.create_topic("trades", 1);
    let state = tempfile::tempdir().unwrap();
    let producer: rdkafka::producer::BaseProducer = tansu.config().create().unwrap();
    let trades = [
        ("ABC", "XNYS,BUY,3,10.5"),
        ("ABC", "XNYS,BUY,2,11.25"),
        ("DEF", "\"X,LON\",SELL,1,7.0"),
        ("ABC", "XNYS,SELL,5,9.0"),
        ("DEF", "bad,row"),
    ];
    for (key, value) in trades {
        producer
            .send(
                rdkafka::producer::BaseRecord::to("trades")
                    .key(key)
                    .payload(value),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    rdkafka::producer::Producer::flush(&producer, Duration::from_secs(30)).unwrap();
    run_until_idle(
        &tansu,
        FORMATS,
        "formats",
        state.path(),
        &["--cache-max-bytes", "0"],
    );

    let raw = |topic: &str, at_least: usize| -> Vec<(String, String)> {
        tansu
            .read_raw(topic, at_least)
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8(k).unwrap(),
                    String::from_utf8(v.unwrap_or_default()).unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        raw("BY_VENUE_SIDE", 4),
        [
            (
                "{\"VENUE\":\"XNYS\",\"SIDE\":\"BUY\"}".to_string(),
                "3".to_string()
            ),
            ("{\"VENUE\":\"XNYS\",\"SIDE\":\"BUY\"}".into(), "5".into()),
            ("{\"VENUE\":\"X,LON\",\"SIDE\":\"SELL\"}".into(), "1".into()),
            ("{\"VENUE\":\"XNYS\",\"SIDE\":\"SELL\"}".into(), "5".into()),
        ]
    );
    assert_eq!(
        raw("BY_VENUE_SIDE_CSV", 4),
        [
            ("XNYS,BUY".to_string(), "1,10.5".to_string()),
            ("XNYS,BUY".into(), "2,11.25".into()),
            ("\"X,LON\",SELL".into(), "1,7.0".into()),
            ("XNYS,SELL".into(), "1,9.0".into()),
        ]
    );
    let prices = tansu.read_raw("PRICES", 3);
    let values: Vec<(String, f64)> = prices
        .iter()
        .map(|(k, v)| {
            let bytes: [u8; 8] = v.as_deref().unwrap().try_into().unwrap();
            (
                String::from_utf8(k.clone()).unwrap(),
                f64::from_be_bytes(bytes),
            )
        })
        .collect();
    assert_eq!(
        values,
        [
            ("ABC".to_string(), 10.5),
            ("ABC".into(), 11.25),
            ("ABC".into(), 9.0)
        ],
        "a KAFKA value is the double's 8 bytes; the key stays the KAFKA string"
    );
    let dead = tansu.read_all("advisor_engine_dead_letters", 1);
    assert_eq!(dead.len(), 3, "the bad row, once for each query: {dead:?}");
    assert!(
        dead.iter().all(|(_, d)| d["reason"]
            .as_str()
            .unwrap()
            .contains("Column count mismatch")),
        "{dead:?}"
    );
}

/// Sends (key, value, timestamp) records to partition 0 of a topic, in order.
fn send_keyed(tansu: &Tansu, topic: &str, records: &[(&str, Option<String>, i64)]) {
    let producer: rdkafka::producer::BaseProducer = tansu.config().create().unwrap();
    for (key, value, timestamp) in records {
        let mut record = rdkafka::producer::BaseRecord::<str, String>::to(topic)
            .key(*key)
            .partition(0)
            .timestamp(*timestamp);
        if let Some(value) = value {
            record = record.payload(value);
        }
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    rdkafka::producer::Producer::flush(&producer, Duration::from_secs(30)).unwrap();
}

/// The tutorial's orders enriched with the customers table built from `customer-events`,
/// through Kafka: the table's state survives restarts between the customer changes and
/// the orders, each order is written once with the customer as of its time and the join
/// key as its KAFKA key bytes, and a deleted customer leaves nulls.
#[test]
fn orders_join_the_customers_table_through_kafka_across_a_restart() {
    const JOIN: &str =
        "CREATE STREAM order_events (order_id STRING KEY, customer_id STRING, amount DOUBLE)
  WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON');
CREATE TABLE customers (customer_id STRING PRIMARY KEY, name STRING, tier STRING)
  WITH (KAFKA_TOPIC='customer-events', VALUE_FORMAT='JSON');
CREATE STREAM enriched_orders AS
  SELECT o.customer_id, o.order_id, o.amount, c.name, c.tier
  FROM order_events o LEFT JOIN customers c ON o.customer_id = c.customer_id;";
    let tansu = Tansu::start();
    tansu.create_topic("order-events", 1);
    tansu.create_topic("customer-events", 1);
    let state = tempfile::tempdir().unwrap();
    let customer = |name: &str, tier: &str| Some(json!({"name": name, "tier": tier}).to_string());
    send_keyed(
        &tansu,
        "customer-events",
        &[
            ("c1", customer("Ann", "gold"), 1_000),
            ("c2", customer("Bob", "silver"), 1_100),
            ("c3", customer("Cy", "bronze"), 1_200),
        ],
    );
    run_until_idle(&tansu, JOIN, "join-app", state.path(), &[]);

    let order = |customer: &str, amount: f64| {
        Some(json!({"customer_id": customer, "amount": amount}).to_string())
    };
    send_keyed(
        &tansu,
        "order-events",
        &[
            ("o1", order("c1", 10.0), 2_000),
            ("o2", order("c2", 20.0), 2_100),
            ("o3", order("c9", 30.0), 2_200),
        ],
    );
    // Each step runs on its own: the engine orders records by time only within what one
    // poll brings, not across topics it has not fetched yet (Kafka Streams'
    // max.task.idle.ms wait is not implemented).
    run_until_idle(&tansu, JOIN, "join-app", state.path(), &[]);
    send_keyed(
        &tansu,
        "customer-events",
        &[
            ("c1", customer("Ann B", "gold"), 2_300),
            ("c2", None, 2_400),
        ],
    );
    run_until_idle(&tansu, JOIN, "join-app", state.path(), &[]);
    send_keyed(
        &tansu,
        "order-events",
        &[
            ("o4", order("c1", 40.0), 2_500),
            ("o5", order("c2", 50.0), 2_600),
        ],
    );
    run_until_idle(&tansu, JOIN, "join-app", state.path(), &[]);

    let out = tansu.read_all("ENRICHED_ORDERS", 5);
    let rows: Vec<(String, Value, Value)> = out
        .iter()
        .map(|(key, value)| {
            (
                String::from_utf8(key.clone()).unwrap(),
                value["ORDER_ID"].clone(),
                value["NAME"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("c1".to_string(), json!("o1"), json!("Ann")),
            ("c2".into(), json!("o2"), json!("Bob")),
            ("c9".into(), json!("o3"), Value::Null),
            ("c1".into(), json!("o4"), json!("Ann B")),
            ("c2".into(), json!("o5"), Value::Null),
        ]
    );
    assert_eq!(out[0].1["AMOUNT"], 10.0);
    assert_eq!(out[0].1["TIER"], "gold");
}

/// A three-way join through Kafka across restarts (engine/docs/ksqldb-joins.md section 7):
/// orders meet their customer, then the customer's region; both tables' state (and the
/// second step's key, the customer's region) come back from the state folder, so the
/// orders after each restart meet the rows written before it.
#[test]
fn a_three_way_join_goes_on_through_kafka_across_restarts() {
    const JOIN: &str =
        "CREATE STREAM order_events (order_id STRING KEY, customer_id STRING, amount DOUBLE)
  WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON');
CREATE TABLE customers (customer_id STRING PRIMARY KEY, name STRING, region STRING)
  WITH (KAFKA_TOPIC='customer-events', VALUE_FORMAT='JSON');
CREATE TABLE regions (region_id STRING PRIMARY KEY, manager STRING)
  WITH (KAFKA_TOPIC='regions', VALUE_FORMAT='JSON');
CREATE STREAM routed_orders AS
  SELECT c.region, o.order_id, c.name, r.manager
  FROM order_events o JOIN customers c ON o.customer_id = c.customer_id
  LEFT JOIN regions r ON c.region = r.region_id;";
    let tansu = Tansu::start();
    for topic in ["order-events", "customer-events", "regions"] {
        tansu.create_topic(topic, 1);
    }
    let state = tempfile::tempdir().unwrap();
    let customer =
        |name: &str, region: &str| Some(json!({"name": name, "region": region}).to_string());
    let region = |manager: &str| Some(json!({"manager": manager}).to_string());
    let order = |customer: &str| Some(json!({"customer_id": customer, "amount": 1.0}).to_string());
    send_keyed(
        &tansu,
        "customer-events",
        &[
            ("c1", customer("Ann", "eu"), 1_000),
            ("c2", customer("Bob", "us"), 1_100),
        ],
    );
    send_keyed(&tansu, "regions", &[("eu", region("Eve"), 1_200)]);
    run_until_idle(&tansu, JOIN, "three-app", state.path(), &[]);
    send_keyed(
        &tansu,
        "order-events",
        &[
            ("o1", order("c1"), 2_000),
            ("o2", order("c2"), 2_100),
            ("o3", order("c9"), 2_200),
        ],
    );
    run_until_idle(&tansu, JOIN, "three-app", state.path(), &[]);
    send_keyed(
        &tansu,
        "regions",
        &[("us", region("Uma"), 2_300), ("eu", None, 2_400)],
    );
    run_until_idle(&tansu, JOIN, "three-app", state.path(), &[]);
    send_keyed(
        &tansu,
        "order-events",
        &[("o4", order("c1"), 2_500), ("o5", order("c2"), 2_600)],
    );
    run_until_idle(&tansu, JOIN, "three-app", state.path(), &[]);

    let out = tansu.read_all("ROUTED_ORDERS", 4);
    let rows: Vec<(String, Value, Value, Value)> = out
        .iter()
        .map(|(key, value)| {
            (
                String::from_utf8(key.clone()).unwrap(),
                value["ORDER_ID"].clone(),
                value["NAME"].clone(),
                value["MANAGER"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("eu".to_string(), json!("o1"), json!("Ann"), json!("Eve")),
            ("us".into(), json!("o2"), json!("Bob"), Value::Null),
            ("eu".into(), json!("o4"), json!("Ann"), Value::Null),
            ("us".into(), json!("o5"), json!("Bob"), json!("Uma")),
        ]
    );
}

/// A foreign-key table join through Kafka across a restart (engine/docs/ksqldb-joins.md
/// section 6): the subscriptions come back with the state, so a customer renamed after the
/// restart updates every order that names it, keyed by the order's id.
#[test]
fn a_foreign_key_join_goes_on_through_kafka_across_a_restart() {
    const JOIN: &str =
        "CREATE TABLE orders (order_id STRING PRIMARY KEY, customer_id STRING, amount DOUBLE)
  WITH (KAFKA_TOPIC='orders', VALUE_FORMAT='JSON');
CREATE TABLE customers (customer_id STRING PRIMARY KEY, name STRING)
  WITH (KAFKA_TOPIC='customer-events', VALUE_FORMAT='JSON');
CREATE TABLE order_customers AS
  SELECT o.order_id, amount, name FROM orders o JOIN customers c ON o.customer_id = c.customer_id;";
    let tansu = Tansu::start();
    tansu.create_topic("orders", 1);
    tansu.create_topic("customer-events", 1);
    let state = tempfile::tempdir().unwrap();
    let customer = |name: &str| Some(json!({"name": name}).to_string());
    let order = |customer: &str, amount: f64| {
        Some(json!({"customer_id": customer, "amount": amount}).to_string())
    };
    send_keyed(&tansu, "customer-events", &[("c1", customer("Ann"), 1_000)]);
    send_keyed(
        &tansu,
        "orders",
        &[
            ("o1", order("c1", 10.0), 1_100),
            ("o2", order("c1", 20.0), 1_200),
        ],
    );
    run_until_idle(&tansu, JOIN, "fk-app", state.path(), &[]);
    send_keyed(
        &tansu,
        "customer-events",
        &[("c1", customer("Ann B"), 2_000)],
    );
    run_until_idle(&tansu, JOIN, "fk-app", state.path(), &[]);
    send_keyed(&tansu, "orders", &[("o2", order("c2", 20.0), 2_100)]);
    run_until_idle(&tansu, JOIN, "fk-app", state.path(), &[]);

    let out = tansu.read_all("ORDER_CUSTOMERS", 5);
    let rows: Vec<(String, Value)> = out
        .iter()
        .map(|(key, value)| {
            (
                String::from_utf8(key.clone()).unwrap(),
                value["NAME"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("o1".to_string(), json!("Ann")),
            ("o2".into(), json!("Ann")),
            ("o1".into(), json!("Ann B")),
            ("o2".into(), json!("Ann B")),
            // o2 moves to a customer that does not exist: INNER retracts it.
            ("o2".into(), Value::Null),
        ]
    );
}

/// A table's GROUP BY through Kafka across restarts: the accounts' rows go by their key
/// through the query's `-KsqlTopic-Reduce-repartition` topic and the changes by region
/// through its `-Aggregate-GroupBy-repartition` topic; an account that moves region leaves
/// the old one and joins the new, a deleted one leaves its region, each after a restart
/// that restores both halves' state.
#[test]
fn a_tables_group_by_goes_through_both_its_repartition_topics_across_restarts() {
    const TOTALS: &str =
        "CREATE TABLE accounts (account_id STRING PRIMARY KEY, region STRING, balance DOUBLE)
  WITH (KAFKA_TOPIC='accounts', VALUE_FORMAT='JSON');
CREATE TABLE region_totals AS
  SELECT region, COUNT(*) AS n, SUM(balance) AS total FROM accounts GROUP BY region;";
    // Every update goes out, as in ksqlDB with cache.max.bytes.buffering=0.
    const NO_CACHE: &[&str] = &["--cache-max-bytes", "0"];
    let tansu = Tansu::start();
    tansu.create_topic("accounts", 2);
    let state = tempfile::tempdir().unwrap();
    let account = |region: &str, balance: f64| {
        Some(json!({"region": region, "balance": balance}).to_string())
    };
    send_keyed(
        &tansu,
        "accounts",
        &[
            ("a1", account("east", 10.0), 1_000),
            ("a2", account("east", 20.0), 1_100),
            ("a3", account("west", 5.0), 1_200),
        ],
    );
    run_until_idle(&tansu, TOTALS, "totals-app", state.path(), NO_CACHE);
    send_keyed(
        &tansu,
        "accounts",
        &[("a1", account("west", 10.0), 2_000), ("a2", None, 2_100)],
    );
    run_until_idle(&tansu, TOTALS, "totals-app", state.path(), NO_CACHE);
    send_keyed(&tansu, "accounts", &[("a3", account("west", 7.0), 3_000)]);
    run_until_idle(&tansu, TOTALS, "totals-app", state.path(), NO_CACHE);

    let mut by_region: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for (key, value) in tansu.read_all("REGION_TOTALS", 8) {
        let count = value["N"].as_i64().unwrap();
        let total = value["TOTAL"].as_f64().unwrap();
        by_region
            .entry(String::from_utf8(key).unwrap())
            .or_default()
            .push((count, total));
    }
    assert_eq!(
        by_region,
        BTreeMap::from([
            (
                "east".to_string(),
                vec![(1, 10.0), (2, 30.0), (1, 20.0), (0, 0.0)]
            ),
            ("west".to_string(), vec![(1, 5.0), (2, 15.0), (2, 17.0)]),
        ])
    );
    for step in ["KsqlTopic-Reduce", "Aggregate-GroupBy"] {
        let topic =
            format!("_confluent-ksql-totals-appquery_CTAS_REGION_TOTALS_0-{step}-repartition");
        assert!(!tansu.read_raw(&topic, 1).is_empty(), "{topic}");
    }
}

#[test]
fn joins_refuse_inputs_partitioned_differently_except_on_a_foreign_key() {
    let tansu = Tansu::start();
    tansu.create_topic("copart-s1", 2);
    tansu.create_topic("copart-t2", 2);
    tansu.create_topic("copart-t3", 3);
    let dir = tempfile::tempdir().unwrap();
    // The third source of a multi-way join is checked too, against the first.
    let three_way = "CREATE STREAM s1 (id STRING KEY, v INT) WITH (KAFKA_TOPIC='copart-s1', VALUE_FORMAT='JSON');
CREATE TABLE t2 (id STRING PRIMARY KEY, w INT) WITH (KAFKA_TOPIC='copart-t2', VALUE_FORMAT='JSON');
CREATE TABLE t3 (id STRING PRIMARY KEY, x INT) WITH (KAFKA_TOPIC='copart-t3', VALUE_FORMAT='JSON');
CREATE STREAM joined AS SELECT s1.id, v, w, x FROM s1 JOIN t2 ON s1.id = t2.id JOIN t3 ON s1.id = t3.id;";
    std::fs::write(dir.path().join("q.sql"), three_way).unwrap();
    Cmd::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args(["run", "--sql", "q.sql", "--bootstrap-servers", &tansu.bootstrap])
        .args(["--group-id", "copart-app", "--stop-when-idle", "2s"])
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .timeout(Duration::from_secs(60))
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "Can't join `S1` with `T3` since the number of partitions don't match. `S1` partitions = 2; `T3` partitions = 3.",
        ));

    // A foreign-key join reads each side by its own key: ksqlDB does not ask for the same
    // partition count, and neither does the engine.
    let foreign_key =
        "CREATE TABLE orders (order_id STRING PRIMARY KEY, customer_id STRING, amount DOUBLE)
  WITH (KAFKA_TOPIC='copart-t2', VALUE_FORMAT='JSON');
CREATE TABLE customers (customer_id STRING PRIMARY KEY, name STRING)
  WITH (KAFKA_TOPIC='copart-t3', VALUE_FORMAT='JSON');
CREATE TABLE order_names AS
  SELECT o.order_id, amount, name FROM orders o JOIN customers c ON o.customer_id = c.customer_id;";
    send_keyed(
        &tansu,
        "copart-t3",
        &[("c1", Some(json!({"name": "Ann"}).to_string()), 1_000)],
    );
    send_keyed(
        &tansu,
        "copart-t2",
        &[(
            "o1",
            Some(json!({"customer_id": "c1", "amount": 5.0}).to_string()),
            1_100,
        )],
    );
    let state = tempfile::tempdir().unwrap();
    run_until_idle(&tansu, foreign_key, "copart-fk", state.path(), &[]);
    let out = tansu.read_all("ORDER_NAMES", 1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1["NAME"], json!("Ann"));
}
