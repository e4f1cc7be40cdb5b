//! Benchmark helper for scripts/bench: how long a restore takes against how much state there
//! is. It builds the tutorial's tumbling aggregation over KEYS customers (one open window
//! each), checkpoints it to a local folder through the engine's checkpoint store, and times
//! putting it back into a fresh engine, both as one query's whole state and as the
//! partitions of its repartition topic (what an instance restores when they are assigned).
//!
//!   restore_load KEYS [PARTITIONS]     defaults 1000000 and 12
//!
//! It prints one JSON object: keys, partitions, and for each form the checkpoint's bytes
//! and the seconds to save and to restore it.

use std::collections::BTreeSet;
use std::time::Instant;

use advisor_engine::checkpoint::{LocalStore, Location, Store};
use advisor_engine::engine::Engine;
use advisor_engine::exchange::{unit_name, PartitionSnapshot};
use advisor_engine::query::{InputRecord, Outputs};
use advisor_engine::sql::parse;

const SQL: &str = "CREATE STREAM order_events (
  order_id BIGINT, customer_id STRING, order_status STRING, order_total DOUBLE, created_at BIGINT
) WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON', TIMESTAMP='created_at');
CREATE TABLE customer_order_totals AS
SELECT customer_id, COUNT(*) AS order_count, SUM(order_total) AS total_spent
FROM order_events WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY customer_id EMIT CHANGES;";

fn engine(partitions: Option<u32>) -> anyhow::Result<Engine> {
    let mut engine = Engine::default();
    for statement in parse(SQL)? {
        engine.execute(&statement)?;
    }
    if let Some(partitions) = partitions {
        engine.queries[0].repartition("bench", partitions);
    }
    Ok(engine)
}

fn order(i: u64) -> Vec<u8> {
    format!(
        "{{\"order_id\": {i}, \"customer_id\": \"customer-{i}\", \"order_status\": \"NEW\", \"order_total\": 12.5, \"created_at\": 1709640000000}}"
    )
    .into_bytes()
}

/// An order as the input topic's record at `offset`.
fn input(value: &[u8], offset: u64) -> InputRecord<'_> {
    InputRecord {
        topic: "order-events",
        partition: 0,
        offset,
        timestamp: 0,
        key: None,
        value: Some(value),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let keys: u64 = args.get(1).map_or(Ok(1_000_000), |a| a.parse())?;
    let partitions: u32 = args.get(2).map_or(Ok(12), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let store = Store::open(&Location::Local(dir.path().to_path_buf()))?;
    let mut out = Outputs::new();
    let mut dead = Vec::new();

    // One query holding every key, saved and restored whole.
    let mut whole = engine(None)?;
    for i in 0..keys {
        let value = order(i);
        let record = input(&value, i);
        out.clear();
        whole.queries[0].process(&record, &mut out, &mut dead);
    }
    anyhow::ensure!(dead.is_empty(), "dead letters: {dead:?}");
    let id = whole.queries[0].id.clone();
    let started = Instant::now();
    store.save(&whole, &BTreeSet::from([id.clone()]))?;
    let whole_save = started.elapsed().as_secs_f64();
    let whole_bytes =
        std::fs::metadata(LocalStore::new(dir.path()).dir().join(format!("{id}.json")))?.len();
    drop(whole);
    let mut restored = engine(None)?;
    let started = Instant::now();
    store.restore(&mut restored)?;
    let whole_restore = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        restored.queries[0].state_size() as u64 == keys,
        "restored {} of {keys} keys",
        restored.queries[0].state_size()
    );
    drop(restored);

    // The same keys behind a repartition topic, saved and restored partition by partition.
    let mut split = engine(Some(partitions))?;
    let mut routed = Vec::new();
    for i in 0..keys {
        let value = order(i);
        let record = input(&value, i);
        out.clear();
        split.queries[0].process(&record, &mut out, &mut dead);
        routed.append(&mut out.exchanged);
    }
    let topic = split.queries[0]
        .exchanges()
        .first()
        .map(|e| e.topic.clone())
        .unwrap_or_default();
    let mut next = vec![0u64; partitions as usize];
    for row in &routed {
        let offset = next[row.partition as usize];
        next[row.partition as usize] += 1;
        let record = InputRecord {
            topic: &topic,
            partition: row.partition,
            offset,
            timestamp: row.timestamp,
            key: None,
            value: Some(&row.value),
        };
        out.clear();
        split.queries[0].process(&record, &mut out, &mut dead);
    }
    drop(routed);
    anyhow::ensure!(dead.is_empty(), "dead letters: {dead:?}");
    let started = Instant::now();
    store.save(&split, &BTreeSet::from([id.clone()]))?;
    let split_save = started.elapsed().as_secs_f64();
    drop(split);
    let mut restored = engine(Some(partitions))?;
    let mut split_bytes = 0;
    let started = Instant::now();
    for partition in 0..partitions {
        let mut snapshot = None;
        split_bytes += store
            .load(&unit_name(&id, 0, partition), &mut |bytes| {
                snapshot = Some(PartitionSnapshot::decode(bytes)?);
                Ok(())
            })?
            .unwrap_or(0);
        if let Some(snapshot) = snapshot {
            restored.queries[0].restore_partition(&snapshot)?;
        }
    }
    let split_restore = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        restored.queries[0].state_size() as u64 == keys,
        "restored {} of {keys} keys from the partitions",
        restored.queries[0].state_size()
    );
    println!(
        "{}",
        serde_json::json!({
            "keys": keys,
            "partitions": partitions,
            "whole": {"bytes": whole_bytes, "save_seconds": whole_save, "restore_seconds": whole_restore},
            "partitioned": {"bytes": split_bytes, "save_seconds": split_save, "restore_seconds": split_restore},
        })
    );
    Ok(())
}
