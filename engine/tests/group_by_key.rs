//! An aggregation grouped by its stream's message key (ksqlDB's groupByKey), through the
//! library without a broker: it makes no repartition topic, since a key's records are all
//! in one input partition already; each input partition's state is a task of its own, so
//! instances that split the input partitions compute what one instance does, a partition's
//! state moves to another instance with its checkpoint, and each partition keeps its own
//! stream time, as Kafka Streams keeps it per task.

use std::collections::BTreeMap;

use advisor_engine::engine::Engine;
use advisor_engine::exchange::PartitionSnapshot;
use advisor_engine::query::{InputRecord, OutputRecord, Outputs};
use advisor_engine::sql::parse;
use advisor_engine::value::Value;

const STREAM: &str = "CREATE STREAM order_events (
  customer_id STRING KEY, order_id BIGINT, order_total DOUBLE, created_at BIGINT
) WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON', TIMESTAMP='created_at');";

const BY_KEY: &str = "CREATE TABLE customer_order_totals AS
SELECT customer_id, COUNT(*) AS order_count, SUM(order_total) AS total_spent
FROM order_events WINDOW TUMBLING (SIZE 1 MINUTE) WHERE order_total > 1 GROUP BY customer_id EMIT CHANGES;";

const PARTITIONS: u32 = 3;
const TOPIC: &str = "order-events";

fn engine_running(query: &str, split: bool) -> Engine {
    let mut engine = Engine::default();
    for statement in parse(&format!("{STREAM}\n{query}")).unwrap() {
        engine.execute(&statement).unwrap();
    }
    if split {
        engine.queries[0].repartition("orders-app", PARTITIONS);
    }
    engine
}

fn engine(split: bool) -> Engine {
    engine_running(BY_KEY, split)
}

/// Orders keyed by their customer, each customer's on one partition (as a producer's
/// partitioner puts them): (partition, offset, key, value).
fn orders() -> Vec<(u32, u64, Vec<u8>, Vec<u8>)> {
    let mut next = [0u64; PARTITIONS as usize];
    (0..600u64)
        .map(|i| {
            let customer = i % 11;
            let partition = (customer % u64::from(PARTITIONS)) as u32;
            let offset = next[partition as usize];
            next[partition as usize] += 1;
            let value = format!(
                "{{\"order_id\": {i}, \"order_total\": {}.5, \"created_at\": {}}}",
                i % 13,
                1_000_000 + i * 997
            );
            (
                partition,
                offset,
                format!("c{customer}").into_bytes(),
                value.into_bytes(),
            )
        })
        .collect()
}

fn input(record: &(u32, u64, Vec<u8>, Vec<u8>)) -> InputRecord<'_> {
    InputRecord {
        topic: TOPIC,
        partition: record.0,
        offset: record.1,
        timestamp: 0,
        key: Some(&record.2),
        value: Some(&record.3),
    }
}

/// The last row of each key and window: what the output table holds in the end.
fn table(outputs: &[OutputRecord]) -> BTreeMap<String, Option<Vec<Value>>> {
    outputs
        .iter()
        .map(|o| (format!("{:?} {:?}", o.key, o.window), o.value.clone()))
        .collect()
}

/// Feeds the orders `accept` takes to an instance, one batch each of `batch` records, and
/// returns what it wrote.
fn feed(
    engine: &mut Engine,
    orders: &[(u32, u64, Vec<u8>, Vec<u8>)],
    batch: usize,
    accept: impl Fn(&(u32, u64, Vec<u8>, Vec<u8>)) -> bool,
) -> Vec<OutputRecord> {
    let mut out = Outputs::new();
    let mut dead = Vec::new();
    let mut all = Vec::new();
    let records: Vec<InputRecord<'_>> = orders.iter().filter(|o| accept(o)).map(input).collect();
    for chunk in records.chunks(batch) {
        out.clear();
        engine.queries[0].process_batch(chunk, &mut out, &mut dead);
        assert!(
            out.exchanged.is_empty(),
            "nothing goes to a repartition topic"
        );
        all.extend(out.iter().cloned());
    }
    assert!(dead.is_empty(), "{dead:?}");
    all
}

fn one_instance() -> BTreeMap<String, Option<Vec<Value>>> {
    table(&feed(&mut engine(false), &orders(), 1, |_| true))
}

#[test]
fn grouping_by_the_message_key_reads_the_input_partitions_without_a_repartition_topic() {
    let mut engine = engine(false);
    let topics = engine.queries[0].repartition("orders-app", PARTITIONS);
    assert_eq!(topics, [TOPIC]);
    let steps = engine.queries[0].exchanges();
    assert_eq!(steps.len(), 1);
    assert!(steps[0].local);
    assert_eq!(engine.queries[0].step_reading(TOPIC), None);
    // Asked again (another statement started), it keeps its tasks and their state.
    feed(&mut engine, &orders(), 50, |_| true);
    let held = engine.queries[0].state_size();
    assert!(held > 0);
    engine.queries[0].repartition("orders-app", PARTITIONS);
    assert_eq!(engine.queries[0].state_size(), held);
}

#[test]
fn a_group_by_that_is_not_exactly_the_message_key_still_repartitions() {
    let by_value = "CREATE TABLE by_order AS SELECT order_id, COUNT(*) AS n FROM order_events GROUP BY order_id EMIT CHANGES;";
    let by_more = "CREATE TABLE by_both WITH (KEY_FORMAT='JSON') AS SELECT customer_id, order_id, COUNT(*) AS n FROM order_events GROUP BY customer_id, order_id EMIT CHANGES;";
    let by_expression = "CREATE TABLE by_upper AS SELECT UCASE(customer_id) AS c, COUNT(*) AS n FROM order_events GROUP BY UCASE(customer_id) EMIT CHANGES;";
    for (query, id) in [
        (by_value, "CTAS_BY_ORDER_0"),
        (by_more, "CTAS_BY_BOTH_0"),
        (by_expression, "CTAS_BY_UPPER_0"),
    ] {
        let mut engine = engine_running(query, false);
        let topics = engine.queries[0].repartition("orders-app", PARTITIONS);
        assert_eq!(
            topics,
            [format!(
                "_confluent-ksql-orders-appquery_{id}-Aggregate-GroupBy-repartition"
            )],
            "{query}"
        );
        assert!(!engine.queries[0].exchanges()[0].local);
    }
}

#[test]
fn instances_that_split_the_input_partitions_compute_what_one_does() {
    let expected = one_instance();
    assert!(expected.len() > 20, "{}", expected.len());
    // One instance owns partitions 0 and 1, another partition 2; batches mix partitions.
    let mut a = engine(true);
    let mut b = engine(true);
    let mut outputs = feed(&mut a, &orders(), 64, |o| o.0 != 2);
    outputs.extend(feed(&mut b, &orders(), 64, |o| o.0 == 2));
    assert_eq!(table(&outputs), expected);
    // The whole run, in batches across the partitions, on one split instance.
    let mut split = engine(true);
    assert_eq!(table(&feed(&mut split, &orders(), 100, |_| true)), expected);
    assert!(split.queries[0].already_processed(TOPIC, 2, 0));
}

#[test]
fn a_partition_moves_to_another_instance_with_its_checkpoint() {
    let expected = one_instance();
    let orders = orders();
    let moved_partition = 1;
    let in_moved: Vec<u64> = orders
        .iter()
        .filter(|o| o.0 == moved_partition)
        .map(|o| o.1)
        .collect();
    let half = in_moved[in_moved.len() / 2];
    let mut first = engine(true);
    let mut outputs = feed(&mut first, &orders, 32, |o| {
        o.0 != moved_partition || o.1 < half
    });
    let snapshots = first.queries[0].partition_snapshots().unwrap();
    assert_eq!(
        snapshots.iter().map(|s| s.partition).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    first.queries[0].partitions_saved();
    assert!(first.queries[0].partition_snapshots().unwrap().is_empty());
    let held = first.queries[0].state_size();
    first.queries[0].forget_partition(TOPIC, moved_partition);
    let rows_left = first.queries[0].state_size();
    assert!(rows_left < held && rows_left > 0);
    let moved = PartitionSnapshot::decode(&snapshots[1].bytes).unwrap();
    assert_eq!(moved.topic, TOPIC);
    assert_eq!(moved.next_offset, Some(half));
    let mut second = engine(true);
    second.queries[0].restore_partition(&moved).unwrap();
    assert!(second.queries[0].already_processed(TOPIC, moved_partition, half - 1));
    outputs.extend(feed(&mut second, &orders, 32, |o| {
        o.0 == moved_partition && o.1 >= half
    }));
    assert_eq!(table(&outputs), expected);
    let rows_moved = second.queries[0].state_size();
    assert_eq!(rows_left + rows_moved, engine_state_size(&orders));
    // A checkpoint of a partition count the input no longer has is refused.
    let mut other = engine_running(BY_KEY, false);
    other.queries[0].repartition("orders-app", PARTITIONS + 1);
    let error = other.queries[0]
        .restore_partition(&moved)
        .unwrap_err()
        .to_string();
    assert!(error.contains("with 3 partitions"), "{error}");
}

fn engine_state_size(orders: &[(u32, u64, Vec<u8>, Vec<u8>)]) -> usize {
    let mut whole = engine(true);
    feed(&mut whole, orders, 100, |_| true);
    whole.queries[0].state_size()
}

#[test]
fn each_input_partition_keeps_its_own_stream_time() {
    // Kafka Streams closes a task's windows by that task's stream time: a partition far
    // ahead closes none of another partition's windows.
    let query = "CREATE TABLE customer_order_totals AS
SELECT customer_id, COUNT(*) AS order_count FROM order_events
WINDOW TUMBLING (SIZE 1 MINUTE, GRACE PERIOD 0 SECONDS) GROUP BY customer_id EMIT CHANGES;";
    let order = |partition: u32, offset: u64, customer: &str, at: i64| {
        (
            partition,
            offset,
            customer.as_bytes().to_vec(),
            format!("{{\"order_id\": {offset}, \"order_total\": 2.5, \"created_at\": {at}}}")
                .into_bytes(),
        )
    };
    let late = [
        order(0, 0, "c0", 60_000),
        order(1, 0, "c1", 600_000),
        // Behind partition 1's stream time, not partition 0's: counted.
        order(0, 1, "c0", 61_000),
        // Behind partition 1's own window end: late, and dropped.
        order(1, 1, "c1", 60_000),
    ];
    let mut split = engine_running(query, true);
    let mut out = Outputs::new();
    let mut dead = Vec::new();
    let records: Vec<InputRecord<'_>> = late.iter().map(input).collect();
    split.queries[0].process_batch(&records, &mut out, &mut dead);
    let counts: Vec<(String, Value)> = out
        .iter()
        .map(|o| (format!("{:?}", o.key), o.value.clone().unwrap()[0].clone()))
        .collect();
    assert_eq!(
        counts,
        [
            (
                format!("{:?}", [Value::String("c0".into())]),
                Value::Integer(1)
            ),
            (
                format!("{:?}", [Value::String("c1".into())]),
                Value::Integer(1)
            ),
            (
                format!("{:?}", [Value::String("c0".into())]),
                Value::Integer(2)
            ),
        ],
        "{dead:?}"
    );
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!((dead[0].partition, dead[0].offset), (1, 1));
    assert!(dead[0].reason.contains("late"), "{}", dead[0].reason);
}
