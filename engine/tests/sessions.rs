//! SESSION windows over files, checked against an independent plain-Python reference of
//! ksqlDB's session aggregation (engine/tests/reference/ksql_sessions.py, written from
//! engine/docs/ksqldb-sessions.md and not from the engine's code): the exact output records
//! with EMIT CHANGES (tombstones for replaced sessions, then the merged session), the set of
//! rows with EMIT FINAL, and the same late records.

mod common;

use std::path::Path;

use assert_cmd::Command;
use serde_json::{json, Value};

const MINUTE: i64 = 60_000;

fn engine() -> Command {
    Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
}

use common::Lcg;

/// A click: its record timestamp (ROWTIME, which sessions are cut on) and value.
struct Click {
    timestamp: i64,
    user: String,
    page: String,
    dwell: i64,
}

/// Clicks of a few users whose gaps are shorter than, exactly, and longer than 30 minutes,
/// with some clicks delivered late by up to 80 minutes: they land inside sessions, bridge
/// two, or miss the grace period.
fn clicks(seed: u64, count: usize) -> Vec<Click> {
    let mut rng = Lcg(seed);
    let gaps = [
        MINUTE,
        10 * MINUTE,
        29 * MINUTE,
        30 * MINUTE,
        31 * MINUTE,
        120 * MINUTE,
    ];
    let mut clock = 1_709_640_000_000i64;
    (0..count)
        .map(|_| {
            clock += gaps[rng.next(gaps.len() as u64) as usize] / 3 + rng.next(1000) as i64;
            let late = if rng.next(7) == 0 {
                rng.next(80) as i64 * MINUTE
            } else {
                0
            };
            Click {
                timestamp: clock - late,
                user: format!("u{}", rng.next(4)),
                page: format!("/p{}", rng.next(9)),
                dwell: rng.next(500) as i64,
            }
        })
        .collect()
}

const STREAM: &str = "CREATE STREAM clickstream (user_id STRING, page_url STRING, dwell BIGINT)
  WITH (KAFKA_TOPIC='clickstream-events', VALUE_FORMAT='JSON');";

/// The aggregates as the reference names them, and as SQL.
const AGGREGATES: &str = r#"[
  ["COUNT", null, "EVENT_COUNT"],
  ["COLLECT_LIST", "page_url", "PAGES_VISITED"],
  ["MIN", "dwell", "MIN_DWELL"],
  ["MAX", "dwell", "MAX_DWELL"],
  ["SUM", "dwell", "TOTAL_DWELL"],
  ["AVG", "dwell", "AVG_DWELL"],
  ["COLLECT_SET", "page_url", "PAGES"],
  ["COUNT_DISTINCT", "page_url", "DISTINCT_PAGES"],
  ["LATEST_BY_OFFSET", "page_url", "LAST_PAGE"],
  ["EARLIEST_BY_OFFSET", "page_url", "FIRST_PAGE"],
  ["TOPK", "dwell", "TOP_DWELL", 3]
]"#;

const SELECT: &str =
    "SELECT user_id, COUNT(*) AS event_count, COLLECT_LIST(page_url) AS pages_visited,
  MIN(dwell) AS min_dwell, MAX(dwell) AS max_dwell, SUM(dwell) AS total_dwell,
  AVG(dwell) AS avg_dwell, COLLECT_SET(page_url) AS pages,
  COUNT_DISTINCT(page_url) AS distinct_pages, LATEST_BY_OFFSET(page_url) AS last_page,
  EARLIEST_BY_OFFSET(page_url) AS first_page, TOPK(dwell, 3) AS top_dwell
FROM clickstream";

fn write_records(path: &Path, clicks: &[Click]) {
    let lines: Vec<String> = clicks
        .iter()
        .map(|c| {
            json!({"timestamp": c.timestamp, "value": {"user_id": c.user, "page_url": c.page, "dwell": c.dwell}})
                .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n")).unwrap();
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The reference's outputs and the offsets of the records it found late.
fn reference(clicks: &[Click], window_args: &[&str], _dir: &Path) -> (Vec<Value>, Vec<u64>) {
    let records: Vec<Value> = clicks
        .iter()
        .enumerate()
        .map(|(offset, c)| {
            json!({"key": c.user, "timestamp": c.timestamp, "offset": offset,
                   "value": {"user_id": c.user, "page_url": c.page, "dwell": c.dwell}})
        })
        .collect();
    common::reference::sessions(&records, window_args, AGGREGATES)
}

/// Runs the engine on the clicks; its outputs and the offsets of its late dead letters.
fn run_engine(clicks: &[Click], window: &str, emit: &str, dir: &Path) -> (Vec<Value>, Vec<u64>) {
    run_engine_with(clicks, window, emit, dir, &[])
}

/// `run_engine` with more arguments for `advisor-engine run`.
fn run_engine_with(
    clicks: &[Click],
    window: &str,
    emit: &str,
    dir: &Path,
    args: &[&str],
) -> (Vec<Value>, Vec<u64>) {
    let sql = format!(
        "{STREAM}\nCREATE TABLE user_sessions AS {SELECT} WINDOW SESSION ({window}) GROUP BY user_id EMIT {emit};"
    );
    std::fs::write(dir.join("sessions.sql"), sql).unwrap();
    let input = dir.join("clicks.jsonl");
    write_records(&input, clicks);
    let out = dir.join("out.jsonl");
    let dead = dir.join("dlq.jsonl");
    engine()
        .arg("run")
        .arg("--sql")
        .arg(dir.join("sessions.sql"))
        .arg("--input")
        .arg(format!("clickstream-events=records:{}", input.display()))
        .arg("--output")
        .arg(format!("user_sessions=file:{}", out.display()))
        .arg("--dead-letter")
        .arg(&dead)
        .args(args)
        .assert()
        .success();
    let late = read_lines(&dead)
        .iter()
        .map(|d| {
            let reason = d["reason"].as_str().unwrap();
            assert!(reason.starts_with("late event"), "{reason}");
            d["offset"].as_u64().unwrap()
        })
        .collect();
    (read_lines(&out), late)
}

/// COUNT_DISTINCT is exact in the engine and in the reference (ksqlDB's HyperLogLog agrees
/// on sets this small); AVG is compared as a number.
fn assert_same_records(engine: &[Value], reference: &[Value]) {
    assert_eq!(engine.len(), reference.len(), "as many output records");
    for (i, (got, want)) in engine.iter().zip(reference).enumerate() {
        assert_eq!(got, want, "output record {i}");
    }
}

#[test]
fn emit_changes_gives_ksqldbs_records_for_gaps_merges_and_late_events() {
    for seed in [1, 7, 23] {
        let dir = tempfile::tempdir().unwrap();
        let clicks = clicks(seed, 400);
        let (got, got_late) = run_engine(
            &clicks,
            "30 MINUTES, GRACE PERIOD 10 MINUTES",
            "CHANGES",
            dir.path(),
        );
        let (want, want_late) = reference(
            &clicks,
            &["--gap-ms", "1800000", "--grace-ms", "600000"],
            dir.path(),
        );
        assert!(
            want.iter().any(|r| r["value"].is_null()),
            "sessions merge or grow"
        );
        assert!(!want_late.is_empty(), "some clicks miss the grace period");
        assert_same_records(&got, &want);
        assert_eq!(
            got_late, want_late,
            "the same clicks are late (seed {seed})"
        );
    }
}

#[test]
fn the_default_grace_is_a_day_less_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let mut clicks = clicks(5, 200);
    // A click 25 hours before the newest one is late; one 23 hours before is not.
    let newest = clicks.iter().map(|c| c.timestamp).max().unwrap();
    for (back, user) in [(25 * 60, "late"), (23 * 60, "kept")] {
        clicks.push(Click {
            timestamp: newest - back * MINUTE,
            user: user.into(),
            page: "/old".into(),
            dwell: 1,
        });
    }
    let (got, got_late) = run_engine(&clicks, "30 MINUTES", "CHANGES", dir.path());
    let (want, want_late) = reference(&clicks, &["--gap-ms", "1800000"], dir.path());
    assert_same_records(&got, &want);
    assert_eq!(got_late, want_late);
    assert_eq!(got_late, vec![200], "only the click 25 hours back is late");
}

#[test]
fn emit_final_gives_each_closed_session_once() {
    let dir = tempfile::tempdir().unwrap();
    let clicks = clicks(11, 400);
    let (mut got, got_late) = run_engine(
        &clicks,
        "30 MINUTES, GRACE PERIOD 5 MINUTES",
        "FINAL",
        dir.path(),
    );
    let (mut want, want_late) = reference(
        &clicks,
        &[
            "--gap-ms",
            "1800000",
            "--grace-ms",
            "300000",
            "--emit",
            "FINAL",
        ],
        dir.path(),
    );
    assert!(!want.is_empty());
    assert!(got.iter().all(|r| !r["value"].is_null()), "no tombstones");
    // Kafka Streams checks for closed sessions on a wall-clock timer, so only the set of
    // rows is fixed, not where they fall between other rows.
    let order = |r: &Value| {
        (
            r["window"]["end"].as_i64(),
            r["window"]["start"].as_i64(),
            r["key"].to_string(),
        )
    };
    got.sort_by_key(order);
    want.sort_by_key(order);
    assert_same_records(&got, &want);
    assert_eq!(got_late, want_late);
}

/// The tutorial's sessionisation statement, as written there (JSON in place of AVRO).
#[test]
fn the_tutorials_user_sessions_query_runs() {
    let dir = tempfile::tempdir().unwrap();
    let sql = "CREATE STREAM clickstream (user_id STRING, page_url STRING, event_time BIGINT)
  WITH (KAFKA_TOPIC='clickstream-events', VALUE_FORMAT='JSON');
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
EMIT CHANGES;";
    std::fs::write(dir.path().join("s.sql"), sql).unwrap();
    // Out of order: /e comes after /d but belongs to the first session.
    let events = [
        (1_000_000, "/a"),
        (1_600_000, "/b"),
        (9_000_000, "/c"),
        (5_000_000, "/d"),
        (3_000_000, "/e"),
    ];
    let lines: Vec<String> = events
        .iter()
        .map(|(t, page)| {
            json!({"timestamp": t, "value": {"user_id": "u1", "page_url": page, "event_time": t}})
                .to_string()
        })
        .collect();
    std::fs::write(dir.path().join("in.jsonl"), lines.join("\n")).unwrap();
    engine()
        .arg("run")
        .arg("--sql")
        .arg(dir.path().join("s.sql"))
        .arg("--input")
        .arg(format!(
            "clickstream=records:{}",
            dir.path().join("in.jsonl").display()
        ))
        .arg("--output")
        .arg(format!(
            "user_sessions=file:{}",
            dir.path().join("out.jsonl").display()
        ))
        .assert()
        .success();
    let out = read_lines(&dir.path().join("out.jsonl"));
    let windows: Vec<(i64, i64, bool)> = out
        .iter()
        .map(|r| {
            (
                r["window"]["start"].as_i64().unwrap(),
                r["window"]["end"].as_i64().unwrap(),
                r["value"].is_null(),
            )
        })
        .collect();
    assert_eq!(
        windows,
        [
            (1_000_000, 1_000_000, false),
            (1_000_000, 1_000_000, true),
            (1_000_000, 1_600_000, false),
            (9_000_000, 9_000_000, false),
            (5_000_000, 5_000_000, false),
            (1_000_000, 1_600_000, true),
            (1_000_000, 3_000_000, false),
        ]
    );
    let last = &out[6]["value"];
    assert_eq!(last["EVENT_COUNT"], 3);
    assert_eq!(last["PAGES_VISITED"], json!(["/a", "/b", "/e"]));
    assert_eq!(last["SESSION_START"], 1_000_000);
    assert_eq!(last["SESSION_END"], 3_000_000);
    assert_eq!(
        out[6]["timestamp"], 3_000_000,
        "ROWTIME is the session's end"
    );
}

#[test]
fn a_session_retention_below_gap_plus_grace_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sql = format!(
        "{STREAM}\nCREATE TABLE s AS SELECT user_id, COUNT(*) AS n FROM clickstream WINDOW SESSION (30 MINUTES, RETENTION 20 MINUTES, GRACE PERIOD 0 SECONDS) GROUP BY user_id;"
    );
    std::fs::write(dir.path().join("s.sql"), sql).unwrap();
    engine()
        .arg("run")
        .arg("--sql")
        .arg(dir.path().join("s.sql"))
        .assert()
        .failure()
        .stderr(predicates::str::contains("retention period"));
}

/// The close time is stream time minus grace minus gap, and a session ending exactly at it
/// still takes records: only an end before it is late.
#[test]
fn a_session_ending_at_the_close_time_still_takes_records() {
    let dir = tempfile::tempdir().unwrap();
    let t = 1_709_640_000_000i64;
    let click = |timestamp: i64, user: &str| Click {
        timestamp,
        user: user.into(),
        page: "/x".into(),
        dwell: 1,
    };
    // Gap 30 and grace 10 minutes: after a click at t + 40 minutes the close time is t.
    let clicks = [
        click(t, "a"),
        click(t + 40 * MINUTE, "b"),
        click(t, "a"),
        click(t + 40 * MINUTE + 1, "b"),
        click(t, "a"),
    ];
    let (got, got_late) = run_engine(
        &clicks,
        "30 MINUTES, GRACE PERIOD 10 MINUTES",
        "CHANGES",
        dir.path(),
    );
    let (want, want_late) = reference(
        &clicks,
        &["--gap-ms", "1800000", "--grace-ms", "600000"],
        dir.path(),
    );
    assert_eq!(
        got_late,
        vec![4],
        "the last click of a, one millisecond past, is late"
    );
    assert_eq!(got_late, want_late);
    assert_same_records(&got, &want);
}

/// A late click that falls between two sessions of its user, within the gap of both,
/// merges them: a tombstone for each, oldest first, then the merged session, whose
/// COLLECT_LIST holds the first session's pages, the second's, then the bridging click's,
/// as ksqlDB's merger orders them.
#[test]
fn a_click_between_two_sessions_merges_them() {
    let dir = tempfile::tempdir().unwrap();
    let t = 1_709_640_000_000i64;
    let click = |timestamp: i64, page: &str| Click {
        timestamp,
        user: "u".into(),
        page: page.into(),
        dwell: 1,
    };
    let clicks = [
        click(t, "/a"),
        click(t + 50 * MINUTE, "/b"),
        click(t + 25 * MINUTE, "/bridge"),
    ];
    let (got, late) = run_engine(&clicks, "30 MINUTES", "CHANGES", dir.path());
    assert!(late.is_empty());
    let shape: Vec<(i64, i64, bool)> = got
        .iter()
        .map(|r| {
            (
                r["window"]["start"].as_i64().unwrap() - t,
                r["window"]["end"].as_i64().unwrap() - t,
                r["value"].is_null(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (0, 0, false),
            (50 * MINUTE, 50 * MINUTE, false),
            (0, 0, true),
            (50 * MINUTE, 50 * MINUTE, true),
            (0, 50 * MINUTE, false),
        ]
    );
    assert_eq!(
        got[4]["value"]["PAGES_VISITED"],
        json!(["/a", "/b", "/bridge"])
    );
    assert_eq!(got[4]["value"]["EVENT_COUNT"], 3);
    let (want, _) = reference(&clicks, &["--gap-ms", "1800000"], dir.path());
    assert_same_records(&got, &want);
}

/// ksql.functions.collect_list.limit: a list stops growing at the limit, and when a click
/// bridges two sessions the merged list keeps the first session's entries, fills up from the
/// second's, and has no room left for the bridging click (ksqlDB merges the found sessions
/// first, then adds the record: engine/docs/ksqldb-sessions.md, section 3).
#[test]
fn collect_list_keeps_to_its_configured_limit_across_a_merge() {
    let t = 1_709_640_000_000i64;
    let click = |timestamp: i64, page: &str| Click {
        timestamp,
        user: "u".into(),
        page: page.into(),
        dwell: 1,
    };
    let clicks = [
        click(t, "/a"),
        click(t + MINUTE, "/a2"),
        click(t + 2 * MINUTE, "/a3"),
        click(t + 50 * MINUTE, "/b"),
        click(t + 25 * MINUTE, "/bridge"),
    ];
    let pages = |args: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let (got, late) = run_engine_with(&clicks, "30 MINUTES", "CHANGES", dir.path(), args);
        assert!(late.is_empty());
        let merged = got.last().unwrap();
        assert_eq!(merged["value"]["EVENT_COUNT"], 5);
        // Records 0, 2 and 4 are the first session after each of its clicks.
        (
            got[4]["value"]["PAGES_VISITED"].clone(),
            merged["value"]["PAGES_VISITED"].clone(),
        )
    };
    assert_eq!(
        pages(&["--ksql-config", "ksql.functions.collect_list.limit=2"]),
        (json!(["/a", "/a2"]), json!(["/a", "/a2"]))
    );
    assert_eq!(
        pages(&["--ksql-config", "ksql.functions.collect_list.limit=4"]),
        (
            json!(["/a", "/a2", "/a3"]),
            json!(["/a", "/a2", "/a3", "/b"])
        )
    );
    assert_eq!(
        pages(&[]),
        (
            json!(["/a", "/a2", "/a3"]),
            json!(["/a", "/a2", "/a3", "/b", "/bridge"])
        ),
        "no limit unless configured, as in ksqlDB"
    );
}

/// A property the engine does not take, or a limit that is not a number, stops the run
/// before it reads anything, naming the property.
#[test]
fn a_bad_ksql_property_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sql = format!(
        "{STREAM}\nCREATE TABLE user_sessions AS {SELECT} WINDOW SESSION (30 MINUTES) GROUP BY user_id;"
    );
    std::fs::write(dir.path().join("sessions.sql"), sql).unwrap();
    for (setting, message) in [
        (
            "ksql.functions.collect_list.limit=lots",
            "takes a whole number",
        ),
        (
            "ksql.streams.num.stream.threads=4",
            "not a property advisor-engine honours",
        ),
        ("collect_list", "is not KEY=VALUE"),
    ] {
        engine()
            .current_dir(dir.path())
            .args(["run", "--sql", "sessions.sql", "--ksql-config", setting])
            .assert()
            .failure()
            .stderr(predicates::str::contains(message));
    }
    std::fs::write(
        dir.path().join("engine.toml"),
        "[ksql]\n\"ksql.functions.collect_set.limit\" = \"some\"\n",
    )
    .unwrap();
    engine()
        .current_dir(dir.path())
        .args([
            "serve",
            "--config",
            "engine.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "[ksql] ksql.functions.collect_set.limit in the configuration file",
        ));
}

/// The plain-Python references pass their own tests (three of them transcribed from
/// ksqlDB's session-window query-validation tests), so the comparisons above lean on a
/// reference that is itself checked.
#[test]
fn the_references_pass_their_own_tests() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    let output = std::process::Command::new("python3")
        .args(["-m", "unittest", "discover", "-s"])
        .arg(&folder)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A stream declared over a session table's topic (`WINDOW_TYPE='SESSION'`) filters on its
/// rows' window bounds, as ksqlDB's session-windows.json `session start stream` does: the
/// window read from each key reaches the WHERE.
#[test]
fn a_windowed_stream_filters_on_the_window_bounds_its_keys_carry() {
    use advisor_engine::engine::Engine;
    use advisor_engine::query::{InputRecord, Outputs};
    let mut engine = Engine::default();
    let sql = "CREATE STREAM session_stream (user_id INT KEY, count BIGINT)
                 WITH (kafka_topic='sessions', value_format='JSON', window_type='Session');
               CREATE STREAM session_starts AS
                 SELECT * FROM session_stream WHERE WINDOWSTART = WINDOWEND;";
    for statement in advisor_engine::sql::parse(sql).unwrap() {
        engine.execute(&statement).unwrap();
    }
    // A session key: the user id, then the session's end and its start.
    let key = |end: i64, start: i64| -> Vec<u8> {
        let mut key = 5i32.to_be_bytes().to_vec();
        key.extend(end.to_be_bytes());
        key.extend(start.to_be_bytes());
        key
    };
    let keys = [key(0, 0), key(1000, 0), key(70_000, 70_000)];
    let mut out = Outputs::new();
    let mut dead = Vec::new();
    for (offset, key) in keys.iter().enumerate() {
        let record = InputRecord {
            topic: "sessions",
            partition: 0,
            offset: offset as u64,
            timestamp: 10,
            key: Some(key),
            value: Some(br#"{"COUNT": 1}"#),
        };
        engine.queries[0].process(&record, &mut out, &mut dead);
    }
    assert!(dead.is_empty(), "{dead:?}");
    let windows: Vec<Option<(i64, i64)>> = out.iter().map(|o| o.window).collect();
    assert_eq!(windows, [Some((0, 0)), Some((70_000, 70_000))]);
}
