//! `advisor submit ksql` and `advisor ksql query` against a real ksqlDB-compatible server:
//! advisor-engine's REST API (built by the same workspace).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{advisor, free_port, json, wait_until_listening, write};
use predicates::prelude::*;

struct Engine {
    child: Child,
    endpoint: String,
}

impl Engine {
    fn start() -> Engine {
        let binary: PathBuf = PathBuf::from(env!("CARGO_BIN_EXE_advisor"))
            .parent()
            .unwrap()
            .join("advisor-engine");
        assert!(
            binary.exists(),
            "{} is missing: cargo test --workspace builds it",
            binary.display()
        );
        let port = free_port();
        let mut child = Command::new(binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until_listening(&mut child, port, "advisor-engine", Duration::from_secs(20));
        Engine {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const FILE: &str = "-- the page's statements; a ';' inside a string must not split them
CREATE STREAM order_events (order_id BIGINT, customer_id STRING, order_total DOUBLE, created_at BIGINT)
  WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON', TIMESTAMP='created_at');

CREATE TABLE customer_order_totals AS
  SELECT customer_id, COUNT(*) AS order_count, SUM(order_total) AS total_spent
  FROM order_events WINDOW TUMBLING (SIZE 1 HOUR)
  WHERE customer_id <> 'a;b'
  GROUP BY customer_id EMIT CHANGES;

SHOW STREAMS;
";

#[test]
fn statements_are_sent_in_order_and_their_results_listed() {
    let engine = Engine::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "orders.sql", FILE);
    let document = json(&[
        "submit",
        "ksql",
        file.to_str().unwrap(),
        "--endpoint",
        &engine.endpoint,
    ]);
    let statements = document["statements"].as_array().unwrap();
    let results: Vec<(u64, &str)> = statements
        .iter()
        .map(|s| (s["line"].as_u64().unwrap(), s["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [
            (2, "Stream created"),
            (5, "Created query with ID CTAS_CUSTOMER_ORDER_TOTALS_0"),
            (11, "1 streams")
        ]
    );
    assert!(
        statements[1]["command_sequence_number"].as_i64().unwrap()
            > statements[0]["command_sequence_number"].as_i64().unwrap()
    );

    // A pull query through `advisor ksql query` streams ksqlDB's header (no rows yet).
    advisor()
        .args([
            "ksql",
            "query",
            "SELECT * FROM customer_order_totals WHERE customer_id = 'cust_123';",
        ])
        .args(["--endpoint", &engine.endpoint])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "`CUSTOMER_ID` STRING KEY, `WINDOWSTART` BIGINT KEY",
        ));

    // The first refused statement stops the run with the server's message and its line.
    let bad = write(
        dir.path(),
        "bad.sql",
        "SHOW TABLES;\n\nCREATE TABLE t AS SELECT nope, COUNT(*) FROM order_events GROUP BY nope;\nSHOW STREAMS;\n",
    );
    advisor()
        .args(["submit", "ksql"])
        .arg(&bad)
        .args(["--endpoint", &engine.endpoint])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "line 3: the server refused the statement",
        ))
        .stderr(predicate::str::contains("column NOPE does not exist"));
}

#[test]
fn dry_runs_send_nothing_and_bad_files_or_endpoints_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "orders.sql", FILE);
    let closed = free_port();
    let endpoint = format!("http://127.0.0.1:{closed}");
    advisor()
        .args(["submit", "ksql"])
        .arg(&file)
        .args(["--endpoint", &endpoint, "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("not sent (dry run)"))
        .stdout(predicate::str::contains(
            "CREATE TABLE customer_order_totals AS",
        ));
    advisor()
        .args(["submit", "ksql"])
        .arg(&file)
        .args(["--endpoint", &endpoint])
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "cannot reach ksqlDB at {endpoint}"
        )));
    let unclosed = write(
        dir.path(),
        "unclosed.sql",
        "SHOW STREAMS;\nCREATE STREAM s (a STRING) WITH (KAFKA_TOPIC='t);\n",
    );
    advisor()
        .args(["submit", "ksql"])
        .arg(&unclosed)
        .arg("--dry-run")
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "line 2: a string opened here is never closed",
        ));
}

/// Without --endpoint, the endpoint is the one of the stack that --config describes: the
/// StackSpec's Cloud Map name, the same one `generate` and `deploy` use.
#[test]
fn the_endpoint_defaults_to_the_stack_that_config_describes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = root.join("examples/stack.toml");
    let config = config.to_str().unwrap();
    let sql = root.join("examples/orders.sql");
    let sql = sql.to_str().unwrap();
    for (flavor, port) in [("ksqldb", 8088), ("engine", 8088)] {
        let spec = json(&[
            "generate", "--flavor", flavor, "--config", config, "--format", "json",
        ]);
        let service = spec["stack"]["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["discovery_name"].is_string())
            .unwrap();
        let expected = format!(
            "http://{}.{}:{port}",
            service["discovery_name"].as_str().unwrap(),
            spec["stack"]["namespace"].as_str().unwrap()
        );
        let plan = json(&[
            "submit",
            "ksql",
            sql,
            "--config",
            config,
            "--flavor",
            flavor,
            "--dry-run",
        ]);
        assert_eq!(plan["endpoint"], expected.as_str(), "{flavor}");
    }
    // --endpoint wins over the variable, the variable over the stack.
    let output = advisor()
        .args(["submit", "ksql", sql, "--config", config, "--dry-run"])
        .args(["--output", "json"])
        .env("ADVISOR_KSQL_ENDPOINT", "http://from-env:8088")
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(plan["endpoint"], "http://from-env:8088");
    let plan = json(&[
        "submit",
        "ksql",
        sql,
        "--config",
        config,
        "--dry-run",
        "--endpoint",
        "http://flag:1",
    ]);
    assert_eq!(plan["endpoint"], "http://flag:1");
    advisor()
        .args([
            "submit", "ksql", sql, "--config", config, "--flavor", "flink",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("does not speak ksqlDB's API"));
}

/// The example files split into the statements they hold.
#[test]
fn the_ksql_examples_split_into_their_statements() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for (file, first_lines) in [
        ("orders.sql", vec![7, 19]),
        ("ksql/sessions.sql", vec![7, 18]),
        ("ksql/pull_query.sql", vec![3]),
    ] {
        let plan = json(&[
            "submit",
            "ksql",
            root.join(file).to_str().unwrap(),
            "--dry-run",
        ]);
        let lines: Vec<u64> = plan["statements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["line"].as_u64().unwrap())
            .collect();
        assert_eq!(lines, first_lines, "{file}");
    }
}

#[test]
fn a_dry_run_parses_every_statement_and_places_syntax_errors() {
    let dir = tempfile::tempdir().unwrap();
    // The examples parse: nothing to report, nothing sent, exit 0.
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/orders.sql");
    let document = json(&[
        "submit",
        "ksql",
        examples,
        "--dry-run",
        "--endpoint",
        "http://127.0.0.1:9",
    ]);
    for statement in document["statements"].as_array().unwrap() {
        assert_eq!(statement["check"]["severity"], "ok", "{statement}");
    }
    let bad = write(
        dir.path(),
        "bad.sql",
        "CREATE STREAM s (id STRING, amount DOUBLE)\n  WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');\n\nCREATE TABLE t AS SELECT id, SUM(amount) AS total\n  FROM s GROUP BY id id EMIT CHANGES;\nINSERT INTO s (id, amount) VALUES ('a', 1.0);\n",
    );
    let output = advisor()
        .args(["submit", "ksql"])
        .arg(&bad)
        .args([
            "--dry-run",
            "--endpoint",
            "http://127.0.0.1:9",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success(), "a syntax error fails the dry run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("1 statement(s) have syntax errors"),
        "{stderr}"
    );
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let checks: Vec<&serde_json::Value> = document["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["check"])
        .collect();
    assert_eq!(checks[0]["severity"], "ok");
    assert_eq!(checks[1]["severity"], "error", "{checks:?}");
    assert_eq!(checks[1]["line"], 5, "{checks:?}");
    assert_eq!(checks[1]["column"], 22, "{checks:?}");
    // INSERT ... VALUES is ksqlDB's but not the engine's: a warning.
    assert_eq!(checks[2]["severity"], "warning", "{checks:?}");
    advisor()
        .args(["submit", "ksql"])
        .arg(&bad)
        .args(["--dry-run", "--endpoint", "http://127.0.0.1:9"])
        .assert()
        .failure()
        .stdout(predicate::str::contains(
            "syntax error at line 5, column 22",
        ))
        .stdout(predicate::str::contains("warning at line 6, column 1"));
}
