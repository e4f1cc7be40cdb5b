//! The broker going away for 30 s under a running server: the engine retries with
//! back-off, /healthcheck says it is degraded meanwhile, and once the broker is back the
//! output is what it would have been, nothing lost.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::{orders, Tansu};

const SQL: &str = "CREATE STREAM order_events (
  order_id BIGINT, customer_id STRING, order_status STRING, order_total DOUBLE, created_at BIGINT
) WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON', TIMESTAMP='created_at');
CREATE TABLE customer_order_totals AS
SELECT customer_id, COUNT(*) AS order_count FROM order_events
WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY customer_id EMIT CHANGES;";

const HOUR: i64 = 3_600_000;

/// /healthcheck's status code and body.
fn healthcheck(port: u16) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = write!(
        stream,
        "GET /healthcheck HTTP/1.0\r\nHost: localhost\r\n\r\n"
    );
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Waits until /healthcheck answers `status`; panics with the last answer otherwise.
fn wait_for_health(port: u16, status: u16, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let (got, body) = healthcheck(port);
        if got == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/healthcheck said {got} {body}, not {status}, for {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_broker_away_for_30_seconds_degrades_the_healthcheck_and_loses_nothing() {
    let proxy_port = common::free_port();
    let broker_port = common::free_port();
    let tansu = Tansu::start_at(broker_port, proxy_port);
    let proxy = Proxy::start(proxy_port, format!("127.0.0.1:{broker_port}"));
    tansu.create_topic("order-events", 3);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.sql"), SQL).unwrap();
    let port = common::free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
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
            "outage-app",
        ])
        .args(["--state-dir", "state", "--commit-interval", "500ms"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = common::process::follow_lines(server.stderr.take().unwrap());
    log.wait_for("partitions assigned", Duration::from_secs(60));
    let first = orders(0, 300);
    tansu.produce(
        "order-events",
        &first.iter().map(|o| o.3.clone()).collect::<Vec<_>>(),
    );
    tansu.read_all("CUSTOMER_ORDER_TOTALS", 1);
    wait_for_health(port, 200, Duration::from_secs(30));

    proxy.down();
    let degraded = wait_for_health(port, 503, Duration::from_secs(30));
    assert!(degraded.contains("\"isHealthy\":false"), "{degraded}");
    std::thread::sleep(Duration::from_secs(30));
    let (status, _) = healthcheck(port);
    assert_eq!(status, 503, "degraded for as long as the broker is away");
    proxy.up();

    let second = orders(300, 600);
    tansu.produce(
        "order-events",
        &second.iter().map(|o| o.3.clone()).collect::<Vec<_>>(),
    );
    wait_for_health(port, 200, Duration::from_secs(60));
    let all: Vec<_> = first.iter().chain(&second).collect();
    let mut want: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for (customer, _, at, _) in &all {
        *want
            .entry((customer.clone(), at - at.rem_euclid(HOUR)))
            .or_default() += 1;
    }
    // The last count per customer and window, once the output has caught up.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut got: BTreeMap<(String, i64), i64> = BTreeMap::new();
        for (key, value) in tansu.read_all("CUSTOMER_ORDER_TOTALS", 1) {
            let (customer, start) = key.split_at(key.len() - 8);
            let start = i64::from_be_bytes(start.try_into().unwrap());
            got.insert(
                (String::from_utf8(customer.to_vec()).unwrap(), start),
                value["ORDER_COUNT"].as_i64().unwrap(),
            );
        }
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the totals after the outage: {got:?}\nwant {want:?}\n{}",
            log.text()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(log.text().contains("retrying in"), "{}", log.text());
    let _ = server.kill();
    let _ = server.wait();
}
