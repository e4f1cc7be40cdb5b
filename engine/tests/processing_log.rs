//! ksqlDB's processing log on a real broker (tansu), configured as the tutorial's ksqlDB
//! stack configures it (KSQL_KSQL_LOGGING_PROCESSING_TOPIC_AUTO_CREATE and
//! ..._STREAM_AUTO_CREATE, here as the engine's ENGINE_KSQL_* variables): the topic is made
//! at start under its configured name, dead letters go there, and `serve` declares the
//! KSQL_PROCESSING_LOG stream over it, which DESCRIBE, push and persistent queries read.

mod common;
// Starts the engine binary, which only the engine's own tests can name.
#[path = "common/server.rs"]
mod server;

use std::time::{Duration, Instant};

use assert_cmd::Command as Cmd;
use common::Tansu;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{json, Value};
use server::{request, Server};

/// The partition count of `topic`, or None while it does not exist.
fn partitions(tansu: &Tansu, topic: &str) -> Option<usize> {
    let consumer: BaseConsumer = tansu.config().create().unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len())
}

fn wait_for_topic(tansu: &Tansu, topic: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(count) = partitions(tansu, topic) {
            return count;
        }
        assert!(Instant::now() < deadline, "topic {topic} was never created");
        std::thread::sleep(Duration::from_millis(200));
    }
}

const ORDERS: &str = "CREATE STREAM orders (order_id BIGINT, total DOUBLE) \
     WITH (KAFKA_TOPIC='orders', VALUE_FORMAT='JSON');";

#[test]
fn run_creates_the_configured_topic_and_sends_dead_letters_there() {
    let tansu = Tansu::start();
    tansu.create_topic("orders", 3);
    // The bad record first, in a partition of its own choosing, so its place is known.
    let producer: BaseProducer = tansu.config().create().unwrap();
    producer
        .send(
            BaseRecord::to("orders")
                .key("bad-key")
                .payload("{not json")
                .partition(2),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    tansu.produce(
        "orders",
        &[
            json!({"order_id": 1, "total": 2.5}).to_string(),
            json!({"order_id": 2, "total": 4.0}).to_string(),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("q.sql"),
        format!(
            "{ORDERS}\nCREATE STREAM big AS SELECT order_id, total FROM orders WHERE total > 3;"
        ),
    )
    .unwrap();
    Cmd::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args([
            "run",
            "--sql",
            "q.sql",
            "--bootstrap-servers",
            &tansu.bootstrap,
        ])
        .args(["--group-id", "plog-run", "--state-dir", "state"])
        .args(["--stop-when-idle", "3s"])
        // As the tutorial's stack sets it, in the engine's spelling of KSQL_KSQL_*.
        .env("ENGINE_KSQL_LOGGING_PROCESSING_TOPIC_AUTO_CREATE", "true")
        .args([
            "--ksql-config",
            "ksql.logging.processing.topic.name=orders_plog",
            "--ksql-config",
            "ksql.logging.processing.topic.partitions=2",
        ])
        .timeout(Duration::from_secs(120))
        .assert()
        .success();

    assert_eq!(partitions(&tansu, "orders_plog"), Some(2));
    // Not the older default topic: the letters went to the processing log.
    assert_eq!(partitions(&tansu, "advisor_engine_dead_letters"), None);
    let letters = tansu.read_all("orders_plog", 1);
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0].1;
    // Where the record came from, and its raw bytes.
    assert_eq!(letter["query"], "CSAS_BIG_0");
    assert_eq!(letter["source"], "ORDERS");
    assert_eq!(letter["topic"], "orders");
    assert_eq!(letter["partition"], 2, "{letter}");
    assert_eq!(letter["offset"], 0, "{letter}");
    assert_eq!(letter["key_b64"], "YmFkLWtleQ==", "{letter}");
    assert_eq!(letter["value_b64"], "e25vdCBqc29u", "{letter}");
    assert_eq!(letter["level"], "ERROR");
    assert_eq!(
        letter["logger"],
        "processing.CSAS_BIG_0.KsqlTopic.Source.deserializer"
    );
    let message = &letter["message"];
    assert_eq!(message["type"], 0);
    let error = &message["deserializationError"];
    assert_eq!(error["topic"], "orders");
    assert_eq!(error["target"], "value");
    // base64 of "{not json": rows are included unless rows.include says otherwise.
    assert_eq!(error["recordB64"], "e25vdCBqc29u");
    // As ksqlDB's: the message says the parser's error, and `cause` lists it.
    let serde = serde_json::from_str::<Value>("{not json")
        .unwrap_err()
        .to_string();
    assert_eq!(error["errorMessage"], format!("malformed JSON: {serde}"));
    assert_eq!(error["cause"], json!([serde]), "{letter}");
    assert_eq!(message["recordProcessingError"], Value::Null);
    assert_eq!(tansu.read_all("BIG", 1).len(), 1);
}

/// An output record the producer refuses (larger than its `message.max.bytes`) goes to the
/// dead letters as ksqlDB's PRODUCTION_ERROR (type 2), and the records after it flow on.
#[test]
fn an_output_the_producer_refuses_is_dead_lettered_and_the_rest_flow() {
    let tansu = Tansu::start();
    tansu.create_topic("texts", 1);
    let producer: BaseProducer = tansu.config().create().unwrap();
    // The third text doubles into more than the engine's producer takes.
    let texts = ["short", "also short", &"x".repeat(600), "last"];
    for (i, text) in texts.iter().enumerate() {
        let value = json!({ "s": text }).to_string();
        producer
            .send(
                BaseRecord::to("texts")
                    .key(&format!("t{i}"))
                    .payload(&value)
                    .timestamp(1_000 + i as i64),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("q.sql"),
        "CREATE STREAM texts (id STRING KEY, s STRING) WITH (KAFKA_TOPIC='texts', VALUE_FORMAT='JSON');\n\
         CREATE STREAM doubled AS SELECT id, CONCAT(s, s) AS s FROM texts;",
    )
    .unwrap();
    Cmd::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args([
            "run",
            "--sql",
            "q.sql",
            "--bootstrap-servers",
            &tansu.bootstrap,
        ])
        .args(["--group-id", "plog-refused", "--state-dir", "state"])
        .args(["--dead-letter-topic", "refused_dlq"])
        .args(["--kafka-config", "message.max.bytes=1000"])
        .args(["--stop-when-idle", "3s"])
        .timeout(Duration::from_secs(120))
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "CSAS_DOUBLED_0: 4 records in, 4 out, 1 dead letters",
        ));

    let written: Vec<String> = tansu
        .read_all("DOUBLED", 3)
        .into_iter()
        .map(|(key, value)| format!("{}={}", String::from_utf8_lossy(&key), value["S"]))
        .collect();
    assert_eq!(
        written,
        [
            "t0=\"shortshort\"",
            "t1=\"also shortalso short\"",
            "t3=\"lastlast\""
        ]
    );
    let letters = tansu.read_all("refused_dlq", 1);
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0].1;
    assert_eq!(letter["query"], "CSAS_DOUBLED_0");
    assert_eq!(letter["topic"], "DOUBLED");
    // base64 of the output's key, t2; its value is not kept (it would be refused again).
    assert_eq!(letter["key_b64"], "dDI=", "{letter}");
    assert_eq!(letter["value_b64"], Value::Null, "{letter}");
    let message = &letter["message"];
    assert_eq!(message["type"], 2, "{letter}");
    let error = message["productionError"]["errorMessage"]
        .as_str()
        .unwrap_or_else(|| panic!("{letter}"));
    assert!(
        error.contains("refused by the Kafka producer") && error.contains("DOUBLED"),
        "{error}"
    );
    assert_eq!(message["deserializationError"], Value::Null);
}

#[test]
fn a_dead_letter_topic_named_twice_is_refused() {
    // The settings are resolved before any broker is reached.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("q.sql"),
        format!("{ORDERS}\nCREATE STREAM big AS SELECT * FROM orders;"),
    )
    .unwrap();
    let output = Cmd::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args([
            "run",
            "--sql",
            "q.sql",
            "--bootstrap-servers",
            "127.0.0.1:9",
        ])
        .args(["--dead-letter-topic", "dlq"])
        .args(["--ksql-config", "ksql.logging.processing.topic.name=plog"])
        .timeout(Duration::from_secs(30))
        .assert()
        .failure()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"dlq\"") && stderr.contains("\"plog\""),
        "{stderr}"
    );
    // An unknown ENGINE_KSQL_* property is refused by the name of its variable.
    let output = Cmd::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args([
            "run",
            "--sql",
            "q.sql",
            "--bootstrap-servers",
            "127.0.0.1:9",
        ])
        .env("ENGINE_KSQL_LOGGING_PROCESSING_TOPIC_AUTO_CREAT", "true")
        .timeout(Duration::from_secs(30))
        .assert()
        .failure()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ENGINE_KSQL_LOGGING_PROCESSING_TOPIC_AUTO_CREAT"),
        "{stderr}"
    );
}

fn start(tansu: &Tansu, state: &std::path::Path) -> Server {
    Server::start_with_env(
        [
            "--bootstrap-servers",
            &tansu.bootstrap,
            "--group-id",
            "plog-app",
            "--state-dir",
            state.to_str().unwrap(),
        ],
        [
            ("ENGINE_KSQL_LOGGING_PROCESSING_TOPIC_AUTO_CREATE", "true"),
            ("ENGINE_KSQL_LOGGING_PROCESSING_STREAM_AUTO_CREATE", "true"),
        ],
    )
}

/// The fields of a DESCRIBE'd struct schema, by name.
fn struct_fields(schema: &Value) -> Vec<(String, Value)> {
    assert_eq!(schema["type"], "STRUCT", "{schema}");
    schema["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("{schema}"))
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_string(), f["schema"].clone()))
        .collect()
}

#[test]
fn serve_declares_the_processing_log_stream_and_queries_read_it() {
    let tansu = Tansu::start();
    tansu.create_topic("orders", 1);
    let state = tempfile::tempdir().unwrap();
    let mut server = start(&tansu, state.path());
    // ksqlDB's default name, <service id>ksql_processing_log, made at start with no query.
    let topic = "plog-app_ksql_processing_log";
    assert_eq!(wait_for_topic(&tansu, topic), 1);

    let (status, shown) = server.ksql("SHOW STREAMS; DESCRIBE KSQL_PROCESSING_LOG;");
    assert_eq!(status, 200, "{shown}");
    let streams = shown[0]["streams"].as_array().unwrap();
    let log = streams
        .iter()
        .find(|s| s["name"] == "KSQL_PROCESSING_LOG")
        .unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(log["topic"], topic);
    assert_eq!(log["valueFormat"], "JSON");
    let fields = shown[1]["sourceDescription"]["fields"].as_array().unwrap();
    let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["LOGGER", "LEVEL", "TIME", "MESSAGE"]);
    assert_eq!(fields[2]["schema"]["type"], "BIGINT");
    let message = struct_fields(&fields[3]["schema"]);
    let message_names: Vec<&str> = message.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        message_names,
        [
            "TYPE",
            "DESERIALIZATIONERROR",
            "RECORDPROCESSINGERROR",
            "PRODUCTIONERROR",
            "SERIALIZATIONERROR",
            "KAFKASTREAMSTHREADERROR"
        ]
    );
    assert_eq!(message[0].1["type"], "INTEGER");
    let deserialization: Vec<(String, String)> = struct_fields(&message[1].1)
        .into_iter()
        .map(|(n, s)| (n, s["type"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        deserialization,
        [
            ("TARGET", "STRING"),
            ("ERRORMESSAGE", "STRING"),
            ("RECORDB64", "STRING"),
            ("CAUSE", "ARRAY"),
            ("topic", "STRING"),
        ]
        .map(|(n, t)| (n.to_string(), t.to_string()))
    );

    // A query with a source to fail on, and a persistent query over the log itself.
    let (status, created) = server.ksql(&format!(
        "{ORDERS}\nCREATE STREAM big AS SELECT order_id, total FROM orders WHERE total > 3;\n\
         CREATE STREAM bad_reads AS SELECT message->deserializationError->errorMessage AS error, \
           message->deserializationError->`topic` AS source_topic \
           FROM KSQL_PROCESSING_LOG WHERE message->type = 0 EMIT CHANGES;"
    ));
    assert_eq!(status, 200, "{created}");

    let port = server.port;
    let push = std::thread::spawn(move || {
        request(
            port,
            "POST",
            "/query",
            Some(
                &json!({"ksql": "SELECT message->deserializationError->errorMessage FROM KSQL_PROCESSING_LOG EMIT CHANGES LIMIT 1;"}),
            ),
        )
    });
    // A push query reads from the moment it has joined: bad records go in until it answers.
    let deadline = Instant::now() + Duration::from_secs(90);
    while !push.is_finished() {
        assert!(Instant::now() < deadline, "the push query never answered");
        tansu.produce("orders", &["{not json".to_string()]);
        std::thread::sleep(Duration::from_secs(2));
    }
    let (status, streamed) = push.join().unwrap();
    assert_eq!(status, 200, "{streamed}");
    assert!(streamed.contains("Limit Reached"), "{streamed}");

    // What the log holds, as a plain consumer reads it, is what the stream gave.
    let letters = tansu.read_all(topic, 1);
    let reason = letters[0].1["message"]["deserializationError"]["errorMessage"]
        .as_str()
        .unwrap_or_else(|| panic!("{letters:?}"))
        .to_string();
    assert!(!reason.is_empty());
    assert!(
        streamed.contains(&format!("{{\"row\":{{\"columns\":[{}]}}}}", json!(reason))),
        "{reason}: {streamed}"
    );
    let errors = tansu.read_all("BAD_READS", 1);
    assert_eq!(errors[0].1["ERROR"], json!(reason), "{errors:?}");
    assert_eq!(errors[0].1["SOURCE_TOPIC"], "orders", "{errors:?}");

    // A restart brings the stream and the query over it back from the command log, and
    // declares the stream no second time.
    server.stop();
    server = start(&tansu, state.path());
    let (_, shown) = server.ksql("SHOW STREAMS; SHOW QUERIES;");
    let names: Vec<&str> = shown[0]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"KSQL_PROCESSING_LOG"), "{shown}");
    assert_eq!(shown[1]["queries"].as_array().unwrap().len(), 2, "{shown}");
    let commands = std::fs::read_to_string(state.path().join("commands.sql")).unwrap();
    assert_eq!(
        commands
            .matches("CREATE STREAM KSQL_PROCESSING_LOG")
            .count(),
        1,
        "{commands}"
    );
}

/// engine.toml's [ksql] table takes the same properties, TOML booleans and numbers as they
/// are, and names the topic and the stream.
#[test]
fn engine_toml_names_the_processing_log_topic_and_stream() {
    let tansu = Tansu::start();
    let state = tempfile::tempdir().unwrap();
    let config = state.path().join("engine.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbootstrap_servers = \"{}\"\ngroup_id = \"plog-toml\"\nstate_dir = \"{}\"\n\n\
             [ksql]\n\"ksql.logging.processing.topic.auto.create\" = true\n\
             \"ksql.logging.processing.stream.auto.create\" = true\n\
             \"ksql.logging.processing.topic.name\" = \"errors_topic\"\n\
             \"ksql.logging.processing.topic.partitions\" = 3\n\
             \"ksql.logging.processing.stream.name\" = \"errors_log\"\n",
            tansu.bootstrap,
            state.path().join("state").display()
        ),
    )
    .unwrap();
    let server = Server::start_with(["--config", config.to_str().unwrap()]);
    assert_eq!(wait_for_topic(&tansu, "errors_topic"), 3);
    let (status, shown) = server.ksql("SHOW STREAMS;");
    assert_eq!(status, 200, "{shown}");
    let streams = shown[0]["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "{shown}");
    assert_eq!(streams[0]["name"], "ERRORS_LOG");
    assert_eq!(streams[0]["topic"], "errors_topic");
}
