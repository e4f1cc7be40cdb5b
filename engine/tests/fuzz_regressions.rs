//! The fuzz targets' inputs, replayed in CI through the targets' own bodies
//! (engine/fuzz/src/lib.rs): every input a fuzzer found that made the engine panic, kept in
//! engine/fuzz/regressions/<target>/ once fixed, and the seed corpora, real statements
//! and records, in engine/fuzz/corpus/<target>/. Fuzzing itself is `scripts/fuzz`.

use std::path::{Path, PathBuf};

#[path = "../fuzz/src/lib.rs"]
mod fuzz;

fn inputs(folder: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(folder)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every input of `folder` through its target; the names of those that panic.
fn replay(folder: &str) -> (usize, Vec<String>) {
    let mut count = 0;
    let mut panicked = Vec::new();
    for (target, run) in fuzz::TARGETS {
        for path in inputs(folder, target) {
            let data = std::fs::read(&path).expect("the input reads");
            count += 1;
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                panicked.push(format!("{target}: {}", path.display()));
            }
        }
    }
    (count, panicked)
}

#[test]
fn inputs_that_once_panicked_are_refused_with_errors() {
    let (count, panicked) = replay("regressions");
    assert!(count > 0, "no regression inputs found");
    assert!(
        panicked.is_empty(),
        "these panic again:\n{}",
        panicked.join("\n")
    );
}

#[test]
fn seed_corpora_run_without_panics() {
    let (count, panicked) = replay("corpus");
    for (target, _) in fuzz::TARGETS {
        assert!(
            !inputs("corpus", target).is_empty(),
            "engine/fuzz/corpus/{target} has no seeds"
        );
    }
    assert!(count > 0);
    assert!(panicked.is_empty(), "these panic:\n{}", panicked.join("\n"));
}

/// The snapshots this version saves, restored through the snapshot_restore target; with
/// ADVISOR_WRITE_FUZZ_SEEDS=1 they are written as its `made-*` seeds too.
#[test]
fn snapshots_of_this_version_restore_through_the_target() {
    let seeds = fuzz::snapshot_seeds();
    assert!(seeds.len() >= 5, "every stateful query saves a snapshot");
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/snapshot_restore");
    for (name, bytes) in seeds {
        if std::env::var_os("ADVISOR_WRITE_FUZZ_SEEDS").is_some() {
            std::fs::write(folder.join(format!("made-{name}")), &bytes).unwrap();
        }
        fuzz::snapshot_restore(&bytes);
    }
}

/// What the fuzzer's session-emit-final-before-the-first-close input showed, with ordinary
/// times: an EMIT FINAL session window fed event times within gap plus grace of the epoch
/// has a negative close time, which once made its sweep ask a BTreeSet for a range that
/// ends before it starts (a panic in release builds too). Nothing closes until stream time
/// passes gap plus grace; then the session comes out once.
#[test]
fn a_final_session_window_over_early_event_times_waits_for_its_close() {
    use advisor_engine::engine::Engine;
    use advisor_engine::query::{InputRecord, Outputs};
    let mut engine = Engine::default();
    let sql = "CREATE STREAM clicks (user_id STRING, at BIGINT)
        WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', TIMESTAMP='at');
      CREATE TABLE sessions AS SELECT user_id, COUNT(*) AS n FROM clicks
        WINDOW SESSION (30 MINUTES, GRACE PERIOD 1 MINUTE) GROUP BY user_id EMIT FINAL;";
    for statement in advisor_engine::sql::parse(sql).unwrap() {
        engine.execute(&statement).unwrap();
    }
    let query = &mut engine.queries[0];
    let mut out = Outputs::new();
    let mut dead = Vec::new();
    for (offset, at) in [1_000i64, 2_000, 10_000_000].into_iter().enumerate() {
        let value = format!("{{\"USER_ID\": \"u\", \"AT\": {at}}}");
        let record = InputRecord {
            topic: "clicks",
            partition: 0,
            offset: offset as u64,
            timestamp: at,
            key: None,
            value: Some(value.as_bytes()),
        };
        query.process(&record, &mut out, &mut dead);
    }
    assert!(dead.is_empty(), "{dead:?}");
    let windows: Vec<_> = out.iter().map(|r| r.window).collect();
    assert_eq!(windows, [Some((1_000, 2_000))], "the first session, once");
}

/// The window-size-past-i64 input: a duration whose milliseconds do not fit an i64 is a
/// parse error naming it, where its product once overflowed.
#[test]
fn a_duration_past_i64_is_a_parse_error() {
    let error = advisor_engine::sql::parse(
        "CREATE TABLE T AS SELECT K, COUNT(*) FROM S WINDOW TUMBLING (SIZE 9223372036854775807 DAYS) GROUP BY K;",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error
            .contains("9223372036854775807 DAYS is too long a duration: at most 106751991167 days"),
        "{error}"
    );
}
