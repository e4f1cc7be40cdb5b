//! `advisor submit ksql` and `advisor ksql query` against a real ksqlDB-compatible server:
//! advisor-engine's REST API (built by the same workspace).

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{advisor, json, write};
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
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "advisor-engine did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
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
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
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
