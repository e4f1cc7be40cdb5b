//! Repartitioning through the library, without a broker: a windowed aggregation whose key is
//! not where its input was partitioned, split over several instances by the partitions of
//! its repartition topic, computes what one instance computes; a replayed input counts once;
//! a partition's state moves to another instance through its checkpoint.

use std::collections::BTreeMap;

use advisor_engine::engine::Engine;
use advisor_engine::exchange::{Exchanged, PartitionSnapshot};
use advisor_engine::query::{InputRecord, OutputRecord, Outputs};
use advisor_engine::sql::parse;
use advisor_engine::value::Value;

const SQL: &str = "CREATE STREAM order_events (
  order_id BIGINT, customer_id STRING, order_total DOUBLE, created_at BIGINT
) WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON', TIMESTAMP='created_at');
CREATE TABLE customer_order_totals AS
SELECT customer_id, COUNT(*) AS order_count, SUM(order_total) AS total_spent
FROM order_events WINDOW TUMBLING (SIZE 1 MINUTE) WHERE order_total > 1 GROUP BY customer_id EMIT CHANGES;";

const PARTITIONS: u32 = 3;
const REPARTITION: &str =
    "_confluent-ksql-orders-appquery_CTAS_CUSTOMER_ORDER_TOTALS_0-Aggregate-GroupBy-repartition";

fn engine(split: bool) -> Engine {
    let mut engine = Engine::default();
    for statement in parse(SQL).unwrap() {
        engine.execute(&statement).unwrap();
    }
    if split {
        let topic = engine.queries[0].repartition("orders-app", PARTITIONS);
        assert_eq!(topic, [REPARTITION]);
    }
    engine
}

/// Orders spread over the input's partitions by order id, so one customer's orders arrive
/// on every partition, in the order each partition holds them: (partition, offset, value).
fn orders() -> Vec<(u32, u64, Vec<u8>)> {
    let mut next = [0u64; PARTITIONS as usize];
    (0..600u64)
        .map(|i| {
            let partition = (i * 7 % u64::from(PARTITIONS)) as u32;
            let offset = next[partition as usize];
            next[partition as usize] += 1;
            let value = format!(
                "{{\"order_id\": {i}, \"customer_id\": \"c{}\", \"order_total\": {}.5, \"created_at\": {}}}",
                i % 11,
                i % 13,
                1_000_000 + i * 997
            );
            (partition, offset, value.into_bytes())
        })
        .collect()
}

fn input(record: &(u32, u64, Vec<u8>)) -> InputRecord<'_> {
    InputRecord {
        topic: "order-events",
        partition: record.0,
        offset: record.1,
        timestamp: 0,
        key: None,
        value: Some(&record.2),
    }
}

/// The last row of each key and window: what the output table holds in the end.
fn table(outputs: &[OutputRecord]) -> BTreeMap<String, Option<Vec<Value>>> {
    outputs
        .iter()
        .map(|o| (format!("{:?} {:?}", o.key, o.window), o.value.clone()))
        .collect()
}

/// The first stage on one instance: the rows each repartition partition gets, in order,
/// as (offset in that partition, row).
fn first_stage(engine: &mut Engine, orders: &[(u32, u64, Vec<u8>)]) -> Vec<Vec<Exchanged>> {
    let mut out = Outputs::new();
    let mut dead = Vec::new();
    let mut partitions = vec![Vec::new(); PARTITIONS as usize];
    for order in orders {
        out.clear();
        engine.queries[0].process(&input(order), &mut out, &mut dead);
        assert_eq!(out.len(), 0, "the first stage writes no output");
        for row in out.exchanged.drain(..) {
            partitions[row.partition as usize].push(row);
        }
    }
    assert!(dead.is_empty(), "{dead:?}");
    partitions
}

/// Feeds repartition rows `from..to` of `partition` to an instance's second stage.
fn second_stage(
    engine: &mut Engine,
    partition: u32,
    rows: &[Exchanged],
    from: usize,
) -> Vec<OutputRecord> {
    let mut out = Outputs::new();
    let mut dead = Vec::new();
    let mut all = Vec::new();
    for (offset, row) in rows.iter().enumerate().skip(from) {
        out.clear();
        let record = InputRecord {
            topic: REPARTITION,
            partition,
            offset: offset as u64,
            timestamp: row.timestamp,
            key: None,
            value: Some(&row.value),
        };
        engine.queries[0].process(&record, &mut out, &mut dead);
        all.extend(out.iter().cloned());
    }
    assert!(dead.is_empty(), "{dead:?}");
    all
}

fn one_instance() -> BTreeMap<String, Option<Vec<Value>>> {
    let mut whole = engine(false);
    let mut out = Outputs::new();
    let mut dead = Vec::new();
    let mut all = Vec::new();
    for order in &orders() {
        out.clear();
        whole.queries[0].process(&input(order), &mut out, &mut dead);
        all.extend(out.iter().cloned());
    }
    table(&all)
}

#[test]
fn instances_that_split_the_repartition_partitions_compute_what_one_does() {
    let expected = one_instance();
    assert!(expected.len() > 20, "{}", expected.len());
    let mut router = engine(true);
    let partitions = first_stage(&mut router, &orders());
    assert!(partitions.iter().all(|p| !p.is_empty()));
    // One instance owns partitions 0 and 1, another partition 2.
    let mut a = engine(true);
    let mut b = engine(true);
    let mut outputs = second_stage(&mut a, 0, &partitions[0], 0);
    outputs.extend(second_stage(&mut a, 1, &partitions[1], 0));
    outputs.extend(second_stage(&mut b, 2, &partitions[2], 0));
    assert_eq!(table(&outputs), expected);
}

#[test]
fn a_replayed_input_is_counted_once() {
    let expected = one_instance();
    let orders = orders();
    let mut router = engine(true);
    let mut partitions = first_stage(&mut router, &orders);
    // The first stage crashed before committing and read its input again from the start.
    let replayed = first_stage(&mut engine(true), &orders);
    for (partition, again) in partitions.iter_mut().zip(replayed) {
        partition.extend(again);
    }
    let mut instance = engine(true);
    let mut outputs = Vec::new();
    for (partition, rows) in partitions.iter().enumerate() {
        outputs.extend(second_stage(&mut instance, partition as u32, rows, 0));
    }
    assert_eq!(table(&outputs), expected);
}

#[test]
fn a_partition_moves_to_another_instance_with_its_checkpoint() {
    let expected = one_instance();
    let partitions = first_stage(&mut engine(true), &orders());
    let mut first = engine(true);
    let mut outputs = Vec::new();
    let half = partitions[1].len() / 2;
    for (partition, rows) in partitions.iter().enumerate() {
        let end = if partition == 1 { half } else { rows.len() };
        outputs.extend(second_stage(&mut first, partition as u32, &rows[..end], 0));
    }
    // Checkpoint every changed partition, then partition 1 goes to a new instance, which
    // reads it on from the checkpoint's offset.
    let snapshots = first.queries[0].partition_snapshots().unwrap();
    assert_eq!(
        snapshots.iter().map(|s| s.partition).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    first.queries[0].partitions_saved();
    assert!(first.queries[0].partition_snapshots().unwrap().is_empty());
    first.queries[0].forget_partition(REPARTITION, 1);
    let moved = PartitionSnapshot::decode(&snapshots[1].bytes).unwrap();
    assert_eq!(moved.next_offset, Some(half as u64));
    let mut second = engine(true);
    second.queries[0].restore_partition(&moved).unwrap();
    outputs.extend(second_stage(
        &mut second,
        1,
        &partitions[1],
        moved.next_offset.unwrap() as usize,
    ));
    assert_eq!(table(&outputs), expected);
    // The first instance kept only what its own partitions hold.
    let rows_left = first.queries[0].state_size();
    let rows_moved = second.queries[0].state_size();
    let mut whole = engine(true);
    for (partition, rows) in partitions.iter().enumerate() {
        second_stage(&mut whole, partition as u32, rows, 0);
    }
    assert_eq!(rows_left + rows_moved, whole.queries[0].state_size());
    assert!(rows_moved > 0 && rows_left > 0);
}

#[test]
fn a_checkpoint_of_another_partition_count_is_refused() {
    let partitions = first_stage(&mut engine(true), &orders());
    let mut instance = engine(true);
    second_stage(&mut instance, 0, &partitions[0], 0);
    let snapshots = instance.queries[0].partition_snapshots().unwrap();
    let mut other = Engine::default();
    for statement in parse(SQL).unwrap() {
        other.execute(&statement).unwrap();
    }
    other.queries[0].repartition("orders-app", PARTITIONS + 1);
    let snapshot = PartitionSnapshot::decode(&snapshots[0].bytes).unwrap();
    let error = other.queries[0]
        .restore_partition(&snapshot)
        .unwrap_err()
        .to_string();
    assert!(error.contains("with 3 partitions"), "{error}");
}
