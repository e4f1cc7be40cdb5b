//! A slow output pauses the input instead of buffering without limit: `advisor-engine run`
//! copies a topic of large records to an output topic while a proxy in front of the broker
//! holds every Produce request back (the output stalled, as a slow or overloaded broker
//! stalls it) and lets the Fetch requests through. While the output is stalled the engine
//! may read ahead only as far as its bounded queues go (the consumer's prefetch, the
//! producer's queue), however much input waits, and its memory stays bounded with it; once
//! the output moves again every record arrives, none lost, and the engine never left its
//! consumer group meanwhile.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Tansu;

/// Kafka's request API keys (the first field of every request).
const PRODUCE: i16 = 0;
const FETCH: i16 = 1;

/// A TCP proxy that understands Kafka's framing well enough to hold Produce requests back
/// while `stalled`, and counts the bytes the broker sends on connections that fetch.
struct StallingProxy {
    stalled: Arc<AtomicBool>,
    fetched_bytes: Arc<AtomicU64>,
}

impl StallingProxy {
    fn start(port: u16, target: String) -> StallingProxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("the proxy's port");
        let stalled = Arc::new(AtomicBool::new(false));
        let fetched_bytes = Arc::new(AtomicU64::new(0));
        let (stall, fetched) = (stalled.clone(), fetched_bytes.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let fetches = Arc::new(AtomicBool::new(false));
                let (Ok(client_reader), Ok(server_writer)) =
                    (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                let (stall, requests_fetch) = (stall.clone(), fetches.clone());
                std::thread::spawn(move || {
                    forward_requests(client_reader, server_writer, &stall, &requests_fetch)
                });
                let fetched = fetched.clone();
                std::thread::spawn(move || forward_responses(server, client, &fetches, &fetched));
            }
        });
        StallingProxy {
            stalled,
            fetched_bytes,
        }
    }

    fn stall(&self, on: bool) {
        self.stalled.store(on, Ordering::SeqCst);
    }

    fn fetched_bytes(&self) -> u64 {
        self.fetched_bytes.load(Ordering::SeqCst)
    }
}

/// Client to broker, one request at a time: a Produce request waits while the proxy is
/// stalled; a Fetch request marks the connection as one that fetches.
fn forward_requests(
    mut from: TcpStream,
    mut to: TcpStream,
    stalled: &AtomicBool,
    fetches: &AtomicBool,
) {
    let mut frame = Vec::new();
    loop {
        let mut size = [0u8; 4];
        if from.read_exact(&mut size).is_err() {
            break;
        }
        frame.clear();
        frame.extend_from_slice(&size);
        frame.resize(4 + i32::from_be_bytes(size).max(0) as usize, 0);
        if from.read_exact(&mut frame[4..]).is_err() {
            break;
        }
        let api_key = frame
            .get(4..6)
            .map_or(-1, |key| i16::from_be_bytes([key[0], key[1]]));
        if api_key == FETCH {
            fetches.store(true, Ordering::SeqCst);
        }
        while api_key == PRODUCE && stalled.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if to.write_all(&frame).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// Broker to client, as it comes; what goes to a fetching connection is counted.
fn forward_responses(
    mut from: TcpStream,
    mut to: TcpStream,
    fetches: &AtomicBool,
    fetched: &AtomicU64,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if fetches.load(Ordering::SeqCst) {
                    fetched.fetch_add(n as u64, Ordering::SeqCst);
                }
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// The resident memory of a process, in bytes.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

const SQL: &str = "CREATE STREAM documents (id BIGINT, body STRING)
  WITH (KAFKA_TOPIC='documents', VALUE_FORMAT='JSON');
CREATE STREAM documents_copy AS SELECT id, body FROM documents EMIT CHANGES;";

const RECORDS: usize = 20_000;
const BODY_BYTES: usize = 10_000;
const MB: u64 = 1 << 20;

#[test]
fn a_stalled_output_pauses_the_input_and_loses_nothing() {
    let proxy_port = common::free_port();
    let broker_port = common::free_port();
    let tansu = Tansu::start_at(broker_port, proxy_port);
    let proxy = StallingProxy::start(proxy_port, format!("127.0.0.1:{broker_port}"));
    tansu.create_topic("documents", 1);
    let body = "x".repeat(BODY_BYTES);
    let values: Vec<String> = (0..RECORDS)
        .map(|id| serde_json::json!({"id": id, "body": body}).to_string())
        .collect();
    let input_bytes: u64 = values.iter().map(|v| v.len() as u64).sum();
    let started = Instant::now();
    tansu.produce("documents", &values);
    eprintln!(
        "produced {} MB in {:?}",
        input_bytes / MB,
        started.elapsed()
    );
    drop(values);

    // The output is stalled before the engine starts: everything it reads from here on
    // can only pile up inside it.
    proxy.stall(true);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.sql"), SQL).unwrap();
    let mut engine = Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args([
            "run",
            "--sql",
            "q.sql",
            "--bootstrap-servers",
            &tansu.bootstrap,
        ])
        .args(["--group-id", "backpressure-app", "--state-dir", "state"])
        .args(["--stop-when-idle", "5s"])
        // A stall longer than the consumer may go without a poll (librdkafka's
        // max.poll.interval.ms, 300 s by default): the engine stays in its group all along.
        .args(["--session-timeout", "6s"])
        .args(["--kafka-config", "max.poll.interval.ms=6000"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = common::process::follow_lines(engine.stderr.take().unwrap());
    log.wait_for("partitions assigned", Duration::from_secs(60));
    let idle_rss = rss_bytes(engine.id());

    // Wait until the engine has read as far ahead as it will (nothing more fetched for
    // three seconds), or the time the output may stay stalled has passed.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut fetched, mut since) = (proxy.fetched_bytes(), Instant::now());
    let mut peak_rss = idle_rss;
    while Instant::now() < deadline && since.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(200));
        peak_rss = peak_rss.max(rss_bytes(engine.id()));
        let now = proxy.fetched_bytes();
        if now != fetched {
            (fetched, since) = (now, Instant::now());
        }
    }
    eprintln!(
        "with the output stalled: {} MB of {} MB input fetched, RSS {} MB -> {} MB",
        fetched / MB,
        input_bytes / MB,
        idle_rss / MB,
        peak_rss / MB
    );
    assert!(
        fetched > 4 * MB,
        "the engine read {fetched} bytes: the test stalls nothing if the engine reads nothing\n{}",
        log.text()
    );
    // The consumer's prefetch (16 MB) and the producer's queue (32 MB), with room for a
    // fetch response's overshoot and the framing: well under the input's 190 MB.
    assert!(
        fetched < 80 * MB,
        "with its output stalled the engine read {} MB of the {} MB input ahead",
        fetched / MB,
        input_bytes / MB
    );
    assert!(
        peak_rss < idle_rss + 120 * MB,
        "with its output stalled the engine grew from {} MB to {} MB",
        idle_rss / MB,
        peak_rss / MB
    );

    // An output stalled this long (the queue full, or a commit waiting for acknowledgements)
    // is reported, not waited out in silence.
    log.wait_for("the output topics take no records", Duration::from_secs(30));

    proxy.stall(false);
    log.wait_for(
        "the output topics take records again",
        Duration::from_secs(60),
    );
    let status = engine.wait().unwrap();
    assert!(status.success(), "{}", log.text());
    let text = log.text();
    // Its partitions were assigned once: no rejoin after leaving (the revocation when the
    // run ends is its own).
    assert!(
        !text.contains("poll interval") && text.matches("partitions assigned").count() == 1,
        "the stalled engine left its group\n{text}"
    );
    let copies = tansu.read_all("DOCUMENTS_COPY", RECORDS);
    let ids: BTreeSet<i64> = copies
        .iter()
        .map(|(_, value)| value["ID"].as_i64().unwrap())
        .collect();
    let missing: Vec<i64> = (0..RECORDS as i64).filter(|id| !ids.contains(id)).collect();
    assert_eq!(
        copies.len(),
        RECORDS,
        "each record once; missing {} from {:?} to {:?}\n{}",
        missing.len(),
        missing.first(),
        missing.last(),
        log.text()
    );
    assert_eq!(ids, (0..RECORDS as i64).collect::<BTreeSet<_>>());
    assert!(copies
        .iter()
        .all(|(_, value)| value["BODY"].as_str().map(str::len) == Some(BODY_BYTES)));
}
