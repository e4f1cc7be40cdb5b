//! A query's state snapshotted with its offset and restored elsewhere carries on exactly
//! where it stopped: the seam checkpoints and scale-out build on.

use advisor_engine::engine::Engine;
use advisor_engine::query::{InputRecord, OutputRecord, Outputs};
use advisor_engine::sql::parse;

const SQL: &str = "CREATE STREAM clicks (user_id STRING, at BIGINT)
  WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', TIMESTAMP='at');
CREATE TABLE per_minute AS SELECT user_id, COUNT(*) AS n, COLLECT_SET(at % 7) AS residues
  FROM clicks WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY user_id EMIT CHANGES;";

fn engine() -> Engine {
    let mut engine = Engine::default();
    for statement in parse(SQL).unwrap() {
        engine.execute(&statement).unwrap();
    }
    engine
}

fn records() -> Vec<Vec<u8>> {
    (0..400)
        .map(|i| {
            format!(
                "{{\"user_id\": \"u{}\", \"at\": {}}}",
                i % 7,
                1_000_000 + i * 731
            )
            .into_bytes()
        })
        .collect()
}

fn feed(engine: &mut Engine, records: &[Vec<u8>], from: usize) -> Vec<OutputRecord> {
    let mut out = Outputs::new();
    let mut dead = Vec::new();
    for (i, value) in records.iter().enumerate().skip(from) {
        let record = InputRecord {
            topic: "clicks",
            partition: 0,
            offset: i as u64,
            timestamp: 0,
            key: None,
            value: Some(value),
        };
        engine.queries[0].process(&record, &mut out, &mut dead);
    }
    assert!(dead.is_empty());
    out.take()
}

/// Every output of the whole input in one go; the outputs of its first 250 records and the
/// engine that made them.
fn whole_and_first_part() -> (Vec<Vec<u8>>, Vec<OutputRecord>, Vec<OutputRecord>, Engine) {
    let records = records();
    let mut whole = engine();
    let expected = feed(&mut whole, &records, 0);
    let mut first = engine();
    let got = feed(&mut first, &records[..250], 0);
    (records, expected, got, first)
}

#[test]
fn restored_state_continues_the_same_results() {
    let (records, expected, mut got, first) = whole_and_first_part();
    let snapshot = first.queries[0].snapshot().unwrap();
    assert!(snapshot.starts_with(b"advisor-engine snapshot 3\n"));
    drop(first);

    let mut second = engine();
    let offsets = second.queries[0].restore(&snapshot).unwrap();
    assert_eq!(
        offsets.get("clicks", 0),
        Some(250),
        "the snapshot carries the next offset"
    );
    assert!(second.queries[0].already_processed("clicks", 0, 249));
    assert!(!second.queries[0].already_processed("clicks", 0, 250));
    assert!(
        !second.queries[0].already_processed("other", 0, 10),
        "offsets are per topic"
    );
    got.extend(feed(&mut second, &records, 250));
    assert_eq!(got, expected);
    assert!(second.queries[0].state_size() > 0);
    assert!(second.queries[0]
        .restore(b"advisor-engine snapshot 3\n\xff\xff")
        .is_err());
    assert!(second.queries[0]
        .restore(b"advisor-engine snapshot 9\n")
        .is_err());
}

/// State is split by key group: restoring only some groups brings back exactly the keys of
/// those groups, which is what moves between instances when a query scales out.
#[test]
fn snapshots_split_the_state_by_key_group() {
    let (_, _, _, first) = whole_and_first_part();
    let snapshot = first.queries[0].snapshot().unwrap();
    let rows = first.queries[0].table_rows();
    let mut restored = engine();
    restored.queries[0].restore(&snapshot).unwrap();
    assert_eq!(restored.queries[0].table_rows(), rows);
    // Seven users: they fall in more than one key group, and each group holds whole users.
    let groups: std::collections::BTreeSet<u16> = (0..7)
        .map(|u| {
            let mut key = Vec::new();
            advisor_engine::value::Value::String(format!("u{u}").into()).write_key(&mut key);
            advisor_engine::state::key_group(&key)
        })
        .collect();
    assert!(groups.len() > 1, "seven users spread over key groups");
}

/// State saved by version 2 (binary, and the JSON it could also write), made by that version
/// from the first 250 records: restored and carried on, it counts on exactly as an engine
/// that saw every record.
#[test]
fn version_2_snapshots_restore() {
    let (records, expected, got, _) = whole_and_first_part();
    for fixture in ["v2-snapshot.bin", "v2-snapshot.json"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture);
        let saved = std::fs::read(&path).unwrap();
        let mut second = engine();
        let offsets = second.queries[0].restore(&saved).unwrap();
        assert_eq!(offsets.get("clicks", 0), Some(250), "{fixture}");
        let mut carried = got.clone();
        carried.extend(feed(&mut second, &records, 250));
        assert_eq!(carried, expected, "{fixture}");
    }
}

/// Snapshots that version 1 of the engine saved (four-byte key lengths), binary and JSON:
/// made by that version from the first 250 records, here restored and carried on. The
/// restored state must count on exactly as an engine that saw every record.
#[test]
fn version_1_snapshots_restore_with_their_keys_upgraded() {
    const SQL_V1: &str = "CREATE STREAM clicks (user_id STRING, at BIGINT)
      WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', TIMESTAMP='at');
    CREATE TABLE per_minute AS SELECT user_id, COUNT(*) AS n, COUNT_DISTINCT(at % 5) AS residues
      FROM clicks WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY user_id EMIT CHANGES;";
    let engine_v1 = || {
        let mut engine = Engine::default();
        for statement in parse(SQL_V1).unwrap() {
            engine.execute(&statement).unwrap();
        }
        engine
    };
    let records = records();
    let mut whole = engine_v1();
    feed(&mut whole, &records, 0);
    let expected = whole.queries[0].table_rows();
    for fixture in ["v1-snapshot.bin", "v1-snapshot.json"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture);
        let saved = std::fs::read(&path).unwrap();
        let mut restored = engine_v1();
        let offsets = restored.queries[0].restore(&saved).unwrap();
        assert_eq!(offsets.get("clicks", 0), Some(250), "{fixture}");
        feed(&mut restored, &records, 250);
        assert_eq!(restored.queries[0].table_rows(), expected, "{fixture}");
    }
}

/// Records processed in batches (decoded one ahead, state prefetched) give exactly the
/// outputs and dead letters that records processed one by one give, bad and late ones
/// included.
#[test]
fn batches_give_what_single_records_give() {
    const SQL_FINAL: &str = "CREATE STREAM clicks (user_id STRING, at BIGINT)
      WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', TIMESTAMP='at');
    CREATE TABLE per_minute AS SELECT user_id, COUNT(*) AS n, MAX(at) AS last
      FROM clicks WINDOW HOPPING (SIZE 1 MINUTE, ADVANCE BY 20 SECONDS, GRACE PERIOD 5 SECONDS)
      WHERE at % 11 <> 3 GROUP BY user_id EMIT FINAL;";
    let mut records = records();
    records.insert(17, b"{\"user_id\": \"u1\", \"at\": \"soon\"}".to_vec());
    records.insert(40, b"not json".to_vec());
    records.insert(41, b"{\"user_id\": null, \"at\": 1000000}".to_vec());
    records.insert(90, b"{\"user_id\": \"u2\", \"at\": 1000000}".to_vec());
    records.insert(91, b"{\"at\": 1100000}".to_vec());
    for sql in [SQL, SQL_FINAL] {
        let build = || {
            let mut engine = Engine::default();
            for statement in parse(sql).unwrap() {
                engine.execute(&statement).unwrap();
            }
            engine
        };
        let inputs: Vec<InputRecord<'_>> = records
            .iter()
            .enumerate()
            .map(|(i, value)| InputRecord {
                topic: "clicks",
                partition: 0,
                offset: i as u64,
                timestamp: 0,
                key: None,
                value: Some(value),
            })
            .collect();
        let mut single = build();
        let (mut out, mut dead) = (Outputs::new(), Vec::new());
        for record in &inputs {
            single.queries[0].process(record, &mut out, &mut dead);
        }
        let expected = (out.take(), dead);
        assert!(expected.1.len() >= 4, "the bad records are dead letters");
        for batch in [1, 2, 3, 64, 1000] {
            let mut batched = build();
            let (mut out, mut dead) = (Outputs::new(), Vec::new());
            for chunk in inputs.chunks(batch) {
                batched.queries[0].process_batch(chunk, &mut out, &mut dead);
            }
            assert_eq!((out.take(), dead), expected, "batches of {batch}");
            assert_eq!(batched.queries[0].stats, single.queries[0].stats);
        }
    }
}
