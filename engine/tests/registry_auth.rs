//! The Schema Registry behind basic auth and TLS, as ksqlDB's
//! `ksql.schema.registry.basic.auth.user.info` and trust store settings reach it: a real
//! rivven-schema behind a TLS-terminating, Basic-auth-checking proxy
//! (tests/fixtures/registry_proxy.py) whose certificate a CA made at test time signs,
//! records written by Confluent's Python AvroSerializer through the same proxy, and a real
//! broker (tansu). The engine must send the credentials (the proxy answers 401 without
//! them) and verify the certificate against the CA it is given (and no other).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use assert_cmd::Command as Cmd;
use common::registry::python_client_with_env;
use common::secure_registry::SecureRegistry;
use common::Tansu;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

const USER_INFO: &str = "ksql:s3cret pass:with colon";

/// One broker and one guarded registry for the tests of this file that run at once.
struct Services {
    tansu: Tansu,
    registry: SecureRegistry,
}

fn services() -> Arc<Services> {
    static SHARED: Mutex<Weak<Services>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(services) = shared.upgrade() {
        return services;
    }
    let services = Arc::new(Services {
        tansu: Tansu::start(),
        registry: SecureRegistry::start(USER_INFO),
    });
    *shared = Arc::downgrade(&services);
    services
}

impl Services {
    /// avro_client.py through the proxy, with the right credentials and CA.
    fn client(&self, args: &[&str], stdin: &str) -> String {
        let env = self.registry.client_env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        python_client_with_env(args, stdin, &env)
    }

    /// `count` orders on a new topic, framed by the Python AvroSerializer.
    fn produce_orders(&self, topic: &str, count: usize) {
        self.tansu.create_topic(topic, 1);
        let schema = json!({"type": "record", "name": "Order", "namespace": "shop", "fields": [
            {"name": "order_id", "type": "long"},
            {"name": "customer_id", "type": "string"},
            {"name": "order_total", "type": "double"}
        ]});
        let records: Vec<Value> = (0..count)
            .map(|i| {
                json!({"key": format!("o{i}"), "timestamp": 1_709_640_000_000i64 + i as i64,
                       "value": {"order_id": i, "customer_id": format!("c{}", i % 3),
                                 "order_total": i as f64 + 0.5}})
            })
            .collect();
        let job = json!({"value_schema": schema, "records": records}).to_string();
        self.client(
            &[
                "produce",
                &self.tansu.bootstrap,
                &self.registry.url(),
                topic,
            ],
            &job,
        );
    }

    /// The values of an AVRO output as the Python AvroDeserializer reads them through the
    /// proxy.
    fn consume(&self, topic: &str, at_least: usize) -> Vec<Value> {
        self.client(
            &[
                "consume",
                &self.tansu.bootstrap,
                &self.registry.url(),
                topic,
                &at_least.to_string(),
            ],
            "",
        )
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["value"].clone())
        .collect()
    }

    /// A subject's latest schema, read back through the proxy.
    fn latest_schema(&self, subject: &str) -> Value {
        let text = self.client(&["latest", &self.registry.url(), subject], "");
        serde_json::from_str(&text).unwrap()
    }
}

/// The big orders of `topic` copied to `output`, in AVRO as its source is (so the
/// statement registers the output's schema, and every record's writer schema is fetched).
fn queries(topic: &str, output: &str) -> String {
    format!(
        "CREATE STREAM {output}_source (order_id BIGINT, customer_id STRING, order_total DOUBLE)
           WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='AVRO');
         CREATE STREAM {output} AS SELECT order_id, customer_id, order_total
           FROM {output}_source WHERE order_total > 2;"
    )
}

/// The big orders of `count` as the output holds them.
fn big_orders(count: usize) -> Vec<Value> {
    (0..count)
        .filter(|i| *i as f64 + 0.5 > 2.0)
        .map(|i| {
            json!({"ORDER_ID": i, "CUSTOMER_ID": format!("c{}", i % 3),
                   "ORDER_TOTAL": i as f64 + 0.5})
        })
        .collect()
}

/// The schema ksqlDB registers for the output.
fn output_schema() -> Value {
    let field = |name: &str, t: &str| json!({"name": name, "type": ["null", t], "default": null});
    json!({
        "type": "record", "name": "KsqlDataSourceSchema",
        "namespace": "io.confluent.ksql.avro_schemas",
        "fields": [
            field("ORDER_ID", "long"), field("CUSTOMER_ID", "string"),
            field("ORDER_TOTAL", "double")
        ],
        "connect.name": "io.confluent.ksql.avro_schemas.KsqlDataSourceSchema"
    })
}

/// `advisor-engine run` over `sql` with these registry flags, until its topics stay quiet
/// for 3 s; its output, whether it succeeded or not.
fn run_engine(tansu: &Tansu, sql: &str, group: &str, registry_flags: &[&str]) -> Output {
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
        .args(["--dead-letter-topic", &format!("{group}-dead")])
        .args(registry_flags)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(["--stop-when-idle", "3s"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

/// `advisor-engine serve` on a free port, run in `dir` (which holds q.sql), its log in
/// dir/serve.log.
struct Serve {
    child: Child,
    port: u16,
}

impl Serve {
    fn start(dir: &Path, args: &[&str]) -> Serve {
        let port = common::free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
            .current_dir(dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
            .spawn()
            .unwrap();
        common::wait_until_listening(&mut child, port, "serve", Duration::from_secs(30));
        Serve { child, port }
    }

    /// GET /healthcheck: (status, body).
    fn healthcheck(&self) -> (u16, Value) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .write_all(b"GET /healthcheck HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer[9..12].parse().unwrap();
        let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
        (status, serde_json::from_str(body).unwrap())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn avro_flows_through_a_registry_behind_basic_auth_and_a_private_ca() {
    let services = services();
    let (tansu, registry) = (&services.tansu, &services.registry);
    services.produce_orders("auth-orders", 8);
    let ca = registry.ca();
    let output = run_engine(
        tansu,
        &queries("auth-orders", "AUTH_BIG_ORDERS"),
        "auth-flags",
        &[
            "--schema-registry-url",
            &registry.url(),
            "--schema-registry-user-info",
            USER_INFO,
            "--schema-registry-ca",
            ca.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(services.consume("AUTH_BIG_ORDERS", 6), big_orders(8));
    assert_eq!(
        services.latest_schema("AUTH_BIG_ORDERS-value"),
        output_schema()
    );
    let dead = tansu.read_raw("auth-flags-dead", 0);
    assert!(dead.is_empty(), "{dead:?}");
}

/// The tutorial's stack gives the registry as ksqlDB properties (KSQL_KSQL_SCHEMA_REGISTRY_*,
/// here --ksql-config, which ENGINE_KSQL_* variables map to): they reach the same registry.
#[test]
fn ksqldb_schema_registry_properties_configure_the_registry_as_the_flags_do() {
    let services = services();
    let (tansu, registry) = (&services.tansu, &services.registry);
    services.produce_orders("props-orders", 8);
    let ca = registry.ca();
    let property = |name: &str, value: &str| format!("{name}={value}");
    let properties = [
        property("ksql.schema.registry.url", &registry.url()),
        property(
            "ksql.schema.registry.basic.auth.credentials.source",
            "USER_INFO",
        ),
        property("ksql.schema.registry.basic.auth.user.info", USER_INFO),
        property(
            "ksql.schema.registry.ssl.truststore.location",
            ca.to_str().unwrap(),
        ),
        property("ksql.schema.registry.ssl.truststore.type", "PEM"),
    ];
    let flags: Vec<&str> = properties
        .iter()
        .flat_map(|p| ["--ksql-config", p.as_str()])
        .collect();
    let output = run_engine(
        tansu,
        &queries("props-orders", "PROPS_BIG_ORDERS"),
        "props",
        &flags,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(services.consume("PROPS_BIG_ORDERS", 6), big_orders(8));
    assert_eq!(
        services.latest_schema("PROPS_BIG_ORDERS-value"),
        output_schema()
    );
    // Without the truststore the registry's certificate is not trusted.
    let untrusted = run_engine(
        tansu,
        &queries("props-orders", "PROPS_UNTRUSTED"),
        "props-untrusted",
        &flags[..flags.len() - 4],
    );
    assert!(!untrusted.status.success());
}

#[test]
fn a_wrong_or_missing_password_stops_the_statement_with_the_registrys_401() {
    let services = services();
    let (tansu, registry) = (&services.tansu, &services.registry);
    services.produce_orders("wrong-orders", 6);
    let ca = registry.ca();
    let (url, ca) = (registry.url(), ca.to_str().unwrap());
    let sql = queries("wrong-orders", "WRONG_BIG_ORDERS");
    // The output's schema is registered when the statement runs, so a refused password
    // stops the engine at start, before it reads (and commits) a record.
    let wrong = run_engine(
        tansu,
        &sql,
        "wrong",
        &[
            "--schema-registry-url",
            &url,
            "--schema-registry-user-info",
            "ksql:not the password",
            "--schema-registry-ca",
            ca,
        ],
    );
    assert!(!wrong.status.success());
    let words = stderr(&wrong);
    assert!(
        words.contains(
            "cannot register the output schema under subject WRONG_BIG_ORDERS-value: \
             the Schema Registry refused the request: Unauthorized (status 401, error code 40101): \
             the registry does not accept the basic auth credentials of --schema-registry-user-info"
        ),
        "{words}"
    );
    let missing = run_engine(
        tansu,
        &sql,
        "wrong",
        &["--schema-registry-url", &url, "--schema-registry-ca", ca],
    );
    assert!(!missing.status.success());
    let words = stderr(&missing);
    assert!(
        words.contains(
            "Unauthorized (status 401, error code 40101): the registry wants basic auth \
             credentials: give them with --schema-registry-user-info USER:PASSWORD"
        ),
        "{words}"
    );
    // With the password, the same group reads every record from the start.
    let right = run_engine(
        tansu,
        &sql,
        "wrong",
        &[
            "--schema-registry-url",
            &url,
            "--schema-registry-user-info",
            USER_INFO,
            "--schema-registry-ca",
            ca,
        ],
    );
    assert!(right.status.success(), "{}", stderr(&right));
    assert_eq!(services.consume("WRONG_BIG_ORDERS", 4), big_orders(6));
    let dead = tansu.read_raw("wrong-dead", 0);
    assert!(dead.is_empty(), "{dead:?}");
}

#[test]
fn a_refused_password_holds_records_back_with_healthcheck_degraded_not_dead_lettered() {
    let services = services();
    let (tansu, registry) = (&services.tansu, &services.registry);
    services.produce_orders("held-orders", 5);
    let ca = registry.ca();
    let (url, ca) = (registry.url(), ca.to_str().unwrap());
    // A JSON output registers nothing: the first registry call is a record's writer schema.
    let sql = "CREATE STREAM held_source (order_id BIGINT, order_total DOUBLE)
                 WITH (KAFKA_TOPIC='held-orders', VALUE_FORMAT='AVRO');
               CREATE STREAM HELD_COPY WITH (VALUE_FORMAT='JSON') AS
                 SELECT order_id, order_total FROM held_source;";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.sql"), sql).unwrap();
    let kafka = [
        "--sql",
        "q.sql",
        "--bootstrap-servers",
        &tansu.bootstrap,
        "--group-id",
        "held",
        "--dead-letter-topic",
        "held-dead",
        "--state-dir",
        "state",
        "--schema-registry-url",
        &url,
        "--schema-registry-ca",
        ca,
        "--schema-registry-user-info",
    ];
    let mut args = kafka.to_vec();
    args.push("ksql:not the password");
    let serve = Serve::start(dir.path(), &args);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (status, health) = loop {
        let (status, health) = serve.healthcheck();
        if status != 200 || std::time::Instant::now() > deadline {
            break (status, health);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status, 503, "{health}");
    let error = health["details"]["schemaRegistry"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("/schemas/ids/")
            && error.contains(
                "Unauthorized (status 401, error code 40101): the registry does not accept \
                 the basic auth credentials of --schema-registry-user-info"
            ),
        "{health}"
    );
    // Stopped as ECS stops a task: the worker is inside a batch whose writer schema waits
    // out the registry, so the stop gives up on its final checkpoint after a while and the
    // process exits (before ECS's SIGKILL 30 s later) without committing that batch.
    let mut serve = serve;
    let stopping = std::time::Instant::now();
    let signalled = Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let exit = loop {
        if let Some(exit) = serve.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(25),
            "serve did not stop within 25 s of SIGTERM while waiting on the registry"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "{exit}");
    drop(serve);
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    assert!(
        log.contains("stopping without a final checkpoint"),
        "the refused run's log:\n{log}"
    );
    let dead = tansu.read_raw("held-dead", 0);
    assert!(dead.is_empty(), "{dead:?}\nthe refused run's log:\n{log}");
    // Nothing was committed past the records held back.
    let group: BaseConsumer = tansu.config().set("group.id", "held").create().unwrap();
    let mut partitions = TopicPartitionList::new();
    partitions.add_partition("held-orders", 0);
    let committed = group
        .committed_offsets(partitions, Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        committed.elements()[0].offset(),
        Offset::Invalid,
        "the refused run's log:\n{log}"
    );
    // With the password, every record comes through. (A new group: the killed member of
    // "held" keeps its partitions until its session times out.)
    let right = run_engine(
        tansu,
        sql,
        "held-again",
        &[
            "--schema-registry-url",
            &url,
            "--schema-registry-user-info",
            USER_INFO,
            "--schema-registry-ca",
            ca,
        ],
    );
    assert!(right.status.success(), "{}", stderr(&right));
    let copied: Vec<Value> = tansu
        .read_all("HELD_COPY", 5)
        .into_iter()
        .map(|(_, value)| value)
        .collect();
    let expected: Vec<Value> = (0..5)
        .map(|i| json!({"ORDER_ID": i, "ORDER_TOTAL": i as f64 + 0.5}))
        .collect();
    assert_eq!(
        copied,
        expected,
        "the refused run's log:\n{log}\nthe next run's:\n{}",
        stderr(&right)
    );
    let dead = tansu.read_raw("held-again-dead", 0);
    assert!(dead.is_empty(), "{dead:?}");
}

#[test]
fn the_registrys_certificate_is_checked_against_the_given_ca_and_no_other() {
    let services = services();
    let (tansu, registry) = (&services.tansu, &services.registry);
    services.produce_orders("tls-orders", 3);
    let url = registry.url();
    let other = registry.other_ca();
    let sql = queries("tls-orders", "TLS_BIG_ORDERS");
    let base = [
        "--schema-registry-url",
        &url,
        "--schema-registry-user-info",
        USER_INFO,
    ];
    // Without a CA the machine's roots are the trust store; with another CA, only it is.
    for extra in [
        vec![],
        vec!["--schema-registry-ca", other.to_str().unwrap()],
    ] {
        let flags: Vec<&str> = base.iter().copied().chain(extra.clone()).collect();
        let output = run_engine(tansu, &sql, "tls", &flags);
        assert!(!output.status.success(), "{extra:?}");
        let words = stderr(&output);
        assert!(
            words.contains(&format!(
                "cannot register the output schema under subject TLS_BIG_ORDERS-value: \
                 the Schema Registry is unavailable: POST {url}/subjects/TLS_BIG_ORDERS-value/versions: \
                 io: invalid peer certificate: UnknownIssuer (the registry's TLS certificate is \
                 not signed by a CA the engine trusts: give the CA's PEM file with \
                 --schema-registry-ca"
            )),
            "{extra:?}: {words}"
        );
    }
}

#[test]
fn engine_tomls_schema_registry_keys_reach_the_registry_as_the_flags_do() {
    let services = services();
    let (tansu, registry) = (&services.tansu, &services.registry);
    services.produce_orders("toml-orders", 5);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("q.sql"),
        queries("toml-orders", "TOML_BIG_ORDERS"),
    )
    .unwrap();
    let toml = format!(
        "sql = \"q.sql\"\n\
         [kafka]\nbootstrap_servers = {bootstrap:?}\ngroup_id = \"toml\"\n\
         state_dir = \"state\"\ndead_letter_topic = \"toml-dead\"\n\
         [schema_registry]\nurl = {url:?}\nbasic_auth_user_info = {USER_INFO:?}\nca_file = {ca:?}\n",
        bootstrap = tansu.bootstrap,
        url = registry.url(),
        ca = registry.ca().display().to_string(),
    );
    std::fs::write(dir.path().join("engine.toml"), toml).unwrap();
    let serve = Serve::start(dir.path(), &["--config", "engine.toml"]);
    let got = services.consume("TOML_BIG_ORDERS", 3);
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    assert_eq!(got, big_orders(5), "{log}");
    assert_eq!(
        services.latest_schema("TOML_BIG_ORDERS-value"),
        output_schema()
    );
    assert_eq!(serve.healthcheck().0, 200);
    let dead = tansu.read_raw("toml-dead", 0);
    assert!(dead.is_empty(), "{dead:?}");
}
