//! The per-query state budget (`--state-budget`): a query whose state passes it stops with
//! a clear error before memory runs out, closed windows are evicted so a windowed query's
//! state stays bounded, nothing is lost across the stop, and `serve` shows the stopped query
//! as ERROR with the reason and a metric.

mod common;
#[path = "common/server.rs"]
mod server;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::Tansu;
use predicates::prelude::*;
use serde_json::{json, Value};
use server::Server;

const MINUTE: i64 = 60_000;

/// Every event adds a string to its user's list: state grows with the input.
const LISTS: &str = "CREATE STREAM clicks (user_id STRING, page STRING, at BIGINT)
  WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', TIMESTAMP='at');
CREATE TABLE pages_by_user AS
SELECT user_id, COUNT(*) AS clicks, COLLECT_LIST(page) AS pages
FROM clicks GROUP BY user_id EMIT CHANGES;";

fn click(i: usize, users: usize) -> String {
    json!({
        "user_id": format!("user-{:04}", i % users),
        "page": format!("/catalogue/item/{i:08}/details"),
        "at": 1_709_640_000_000i64 + i as i64 * 1000,
    })
    .to_string()
}

fn engine(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_advisor-engine"));
    cmd.current_dir(dir).timeout(Duration::from_secs(120));
    cmd
}

fn write_clicks(dir: &Path, count: usize, users: usize) {
    let lines: Vec<String> = (0..count).map(|i| click(i, users)).collect();
    std::fs::write(dir.join("clicks.jsonl"), lines.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("q.sql"), LISTS).unwrap();
}

fn run_files(dir: &Path, budget: &str) -> assert_cmd::assert::Assert {
    engine(dir)
        .args([
            "run",
            "--sql",
            "q.sql",
            "--input",
            "clicks=file:clicks.jsonl",
        ])
        .args(["--output", "PAGES_BY_USER=file:out.jsonl"])
        .args(["--state-budget", budget])
        .assert()
}

#[test]
fn a_run_whose_state_passes_its_budget_stops_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    // 20,000 pages of 30 bytes each over 500 users: well over a megabyte of lists.
    write_clicks(dir.path(), 20_000, 500);
    run_files(dir.path(), "256KiB")
        .failure()
        .stderr(predicate::str::contains("query CTAS_PAGES_BY_USER_"))
        .stderr(predicate::str::contains(
            "over the state budget of 256.0 KiB (--state-budget)",
        ))
        .stderr(predicate::str::contains(
            "was stopped before memory ran out",
        ));

    // The same input under a budget it fits in runs to the end.
    run_files(dir.path(), "64MiB").success();
    let out = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert_eq!(out.lines().count(), 20_000, "one update per click");

    // A budget that is not a size is refused before anything runs.
    run_files(dir.path(), "lots")
        .failure()
        .stderr(predicate::str::contains("--state-budget"));
}

#[test]
fn closed_windows_are_evicted_so_a_windowed_query_stays_within_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    // Minute windows over 40 hours of events from 50 users: 120,000 windows in all, of
    // which only the current minute's are open once the grace period has passed.
    let sql = "CREATE STREAM clicks (user_id STRING, page STRING, at BIGINT)
  WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', TIMESTAMP='at');
CREATE TABLE clicks_per_minute AS
SELECT user_id, COUNT(*) AS clicks FROM clicks
WINDOW TUMBLING (SIZE 1 MINUTE, GRACE PERIOD 0 SECONDS)
GROUP BY user_id EMIT CHANGES;";
    std::fs::write(dir.path().join("q.sql"), sql).unwrap();
    let lines: Vec<String> = (0..120_000)
        .map(|i: i64| {
            json!({"user_id": format!("user-{:02}", i % 50), "page": "/", "at": i / 50 * MINUTE})
                .to_string()
        })
        .collect();
    std::fs::write(dir.path().join("clicks.jsonl"), lines.join("\n") + "\n").unwrap();
    let run = |budget: &str| {
        engine(dir.path())
            .args([
                "run",
                "--sql",
                "q.sql",
                "--input",
                "clicks=file:clicks.jsonl",
            ])
            .args(["--output", "CLICKS_PER_MINUTE=file:out.jsonl"])
            .args(["--state-budget", budget])
            .assert()
    };
    // Kept, the 120,000 windows would take several megabytes; evicted as they close, the
    // state stays a small fraction of one.
    run("256KiB").success();
    let out = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert_eq!(out.lines().count(), 120_000);
    // The same query without a grace period keeps every window for 24 hours, which is
    // all of them here, and so passes the same budget: the budget measures what is held.
    std::fs::write(
        dir.path().join("q.sql"),
        sql.replace(", GRACE PERIOD 0 SECONDS", ""),
    )
    .unwrap();
    run("256KiB")
        .failure()
        .stderr(predicate::str::contains("over the state budget"));
}

/// The final COUNT per user in the output topic.
fn final_counts(records: &[(Vec<u8>, Value)]) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for (key, value) in records {
        counts.insert(
            String::from_utf8(key.clone()).unwrap(),
            value["CLICKS"].as_i64().unwrap(),
        );
    }
    counts
}

#[test]
fn a_query_stopped_for_its_budget_loses_nothing_when_restarted_with_a_larger_one() {
    let tansu = Tansu::start();
    tansu.create_topic("clicks", 3);
    let state = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.sql"), LISTS).unwrap();
    let run = |budget: &str| {
        engine(dir.path())
            .args(["run", "--sql", "q.sql"])
            .args(["--bootstrap-servers", &tansu.bootstrap])
            .args(["--group-id", "budget-app", "--stop-when-idle", "3s"])
            .arg("--state-dir")
            .arg(state.path())
            .args(["--state-budget", budget])
            .assert()
    };
    let users = 300;
    let first: Vec<String> = (0..12_000).map(|i| click(i, users)).collect();
    tansu.produce("clicks", &first);
    run("128KiB").failure().stderr(predicate::str::contains(
        "over the state budget of 128.0 KiB",
    ));

    let second: Vec<String> = (12_000..15_000).map(|i| click(i, users)).collect();
    tansu.produce("clicks", &second);
    run("256MiB").success();

    // Every click counted once: none lost at the stop, none counted again after it. A read
    // that stops at a quiet spell of tansu's (it can pause a partition's fetches for
    // seconds) sees older counts, so the topic is read again until every count is final;
    // a count past 50 fails at once.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let counts = final_counts(&tansu.read_all("PAGES_BY_USER", users));
        for (user, count) in &counts {
            assert!(
                *count <= 50,
                "{user} counted {count} of 50 clicks: some twice"
            );
        }
        let done = counts.len() == users && counts.values().all(|&count| count == 50);
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every user has its 50 clicks: {counts:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn serve_shows_a_query_over_its_budget_as_error_with_the_reason_and_a_metric() {
    let tansu = Tansu::start();
    tansu.create_topic("clicks", 1);
    let state = tempfile::tempdir().unwrap();
    let server = Server::start_with([
        "--bootstrap-servers",
        tansu.bootstrap.as_str(),
        "--group-id",
        "budget-serve",
        "--state-dir",
        state.path().to_str().unwrap(),
        "--state-budget",
        "128KiB",
    ]);
    let (status, body) = server.ksql(LISTS);
    assert_eq!(status, 200, "{body}");
    let clicks: Vec<String> = (0..12_000).map(|i| click(i, 300)).collect();
    tansu.produce("clicks", &clicks);

    let deadline = Instant::now() + Duration::from_secs(60);
    let query = loop {
        let (_, shown) = server.ksql("SHOW QUERIES;");
        let query = shown[0]["queries"][0].clone();
        if query["state"] == "ERROR" {
            break query;
        }
        assert_eq!(query["state"], "RUNNING", "{shown}");
        assert!(
            Instant::now() < deadline,
            "the query was not stopped: {shown}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(query["statusCount"], json!({"ERROR": 1}));
    let message = query["queryErrors"][0]["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("over the state budget of 128.0 KiB"),
        "{message}"
    );
    assert!(query["queryErrors"][0]["timestamp"].as_i64().unwrap() > 0);

    let (status, metrics) = server.request("GET", "/metrics", None);
    assert_eq!(status, 200);
    let id = query["id"].as_str().unwrap();
    assert!(
        metrics.contains(&format!(
            "advisor_engine_state_budget_exceeded{{query=\"{id}\"}} 1"
        )),
        "{metrics}"
    );
    assert!(metrics.contains("advisor_engine_state_budget_bytes 131072"));
    let held: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("advisor_engine_state_bytes{{query=\"{id}\"}} ")))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(held > 131_072, "{held} bytes held by the stopped query");
    // The server itself goes on answering.
    let (status, _) = server.request("GET", "/healthcheck", None);
    assert_eq!(status, 200);
}

#[test]
fn serve_takes_the_budget_from_engine_toml_and_refuses_one_that_is_not_a_size() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("engine.toml");
    std::fs::write(&config, "state_budget = \"96KiB\"\n").unwrap();
    let server = Server::start_with(["--config", config.to_str().unwrap()]);
    let (status, metrics) = server.request("GET", "/metrics", None);
    assert_eq!(status, 200);
    assert!(
        metrics.contains("advisor_engine_state_budget_bytes 98304"),
        "{metrics}"
    );

    std::fs::write(&config, "state_budget = \"lots\"\n").unwrap();
    engine(dir.path())
        .args(["serve", "--config", "engine.toml"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "engine.toml's state_budget \"lots\"",
        ));
}
