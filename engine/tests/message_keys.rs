//! An aggregation grouped by its stream's message key (ksqlDB's groupByKey), through the
//! library without a broker: it makes no repartition topic, since a key's records are all
//! in one input partition already; each input partition's state is a task of its own, so
//! instances that split the input partitions compute what one instance does, a partition's
//! state moves to another instance with its checkpoint, and each partition keeps its own
//! stream time, as Kafka Streams keeps it per task.

use std::collections::BTreeMap;

use advisor_engine::engine::Engine;
use advisor_engine::exchange::{PartitionSnapshot, RoutedRow};
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

/// An engine over `sources` running `query`, split over the input's partitions or not.
fn engine_with(sources: &str, query: &str, split: bool) -> Engine {
    let mut engine = Engine::default();
    for statement in parse(&format!("{sources}\n{query}")).unwrap() {
        engine.execute(&statement).unwrap();
    }
    if split {
        engine.queries[0].repartition("orders-app", PARTITIONS);
    }
    engine
}

fn engine_running(query: &str, split: bool) -> Engine {
    engine_with(STREAM, query, split)
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
    // A pull query sees every task's rows.
    let mut whole = engine(false);
    feed(&mut whole, &orders(), 100, |_| true);
    let rows = |engine: &Engine| {
        let rows = engine.queries[0].table_rows();
        rows.iter()
            .map(|r| format!("{:?} {:?} {:?}", r.key, r.window, r.value))
            .collect::<Vec<_>>()
    };
    assert_eq!(rows(&split), rows(&whole));
    assert_eq!(rows(&split).len(), expected.len());
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
    // After the input grew a partition, a partition's checkpoint still restores: its
    // state is that partition's whatever their number.
    let mut grown = engine_running(BY_KEY, false);
    grown.queries[0].repartition("orders-app", PARTITIONS + 1);
    grown.queries[0].restore_partition(&moved).unwrap();
    assert!(grown.queries[0].already_processed(TOPIC, moved_partition, half - 1));
}

#[test]
fn a_partition_added_to_the_input_gets_a_task_of_its_own() {
    let mut split = engine(true);
    feed(&mut split, &orders(), 50, |_| true);
    // A fourth partition, made after the query started, with a customer of its own.
    let added = [(
        PARTITIONS,
        0,
        b"c_new".to_vec(),
        b"{\"order_id\": 1, \"order_total\": 5.5, \"created_at\": 1000000}".to_vec(),
    )];
    let outputs = feed(&mut split, &added, 1, |_| true);
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert_eq!(outputs[0].key, [Value::String("c_new".into())]);
    let saved: Vec<u32> = split.queries[0]
        .partition_snapshots()
        .unwrap()
        .iter()
        .map(|s| s.partition)
        .collect();
    assert_eq!(saved, [0, 1, 2, PARTITIONS]);
    assert_eq!(split.queries[0].exchanges()[0].partitions, PARTITIONS + 1);
}

#[test]
fn a_checkpoint_from_the_repartition_topic_an_earlier_version_used_is_refused_clearly() {
    let mut earlier = engine(true);
    feed(&mut earlier, &orders(), 50, |_| true);
    // Unit 0 as a version that routed this query through its repartition topic wrote it.
    let old = earlier.queries[0].partition_snapshots().unwrap();
    let mut snapshot = PartitionSnapshot::decode(&old[0].bytes).unwrap();
    snapshot.topic = "_confluent-ksql-orders-appquery_CTAS_CUSTOMER_ORDER_TOTALS_0-Aggregate-GroupBy-repartition".into();
    let mut now = engine(true);
    let error = now.queries[0]
        .restore_partition(&snapshot)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("an earlier engine version")
            && error.contains("delete the query's checkpoints"),
        "{error}"
    );
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

const JOIN_SOURCES: &str =
    "CREATE STREAM orders (customer_id STRING KEY, order_id BIGINT, amount DOUBLE)
  WITH (KAFKA_TOPIC='orders', VALUE_FORMAT='JSON');
CREATE STREAM shipments (customer_id STRING KEY, shipment_id BIGINT, weight DOUBLE)
  WITH (KAFKA_TOPIC='shipments', VALUE_FORMAT='JSON');
CREATE TABLE customers (customer_id STRING PRIMARY KEY, name STRING)
  WITH (KAFKA_TOPIC='customers', VALUE_FORMAT='JSON');
CREATE TABLE accounts (customer_id STRING PRIMARY KEY, balance DOUBLE)
  WITH (KAFKA_TOPIC='accounts', VALUE_FORMAT='JSON');";

const ENRICHED: &str = "CREATE STREAM enriched AS
  SELECT o.customer_id, o.order_id, o.amount, c.name
  FROM orders o LEFT JOIN customers c ON o.customer_id = c.customer_id;";

const CUSTOMER_ACCOUNTS: &str = "CREATE TABLE customer_accounts AS
  SELECT ROWKEY AS customer_id, c.name, a.balance
  FROM customers c FULL OUTER JOIN accounts a ON c.customer_id = a.customer_id;";

const SHIPPED: &str = "CREATE STREAM shipped AS
  SELECT o.customer_id, o.order_id, s.shipment_id, s.weight
  FROM orders o JOIN shipments s WITHIN 1 HOUR ON o.customer_id = s.customer_id;";

fn join_engine(query: &str, split: bool) -> Engine {
    engine_with(JOIN_SOURCES, query, split)
}

/// A record of one of the join's inputs: topic, partition, offset, time, key, value.
type Keyed = (&'static str, u32, u64, i64, Vec<u8>, Vec<u8>);

/// Customers, their orders and shipments, and customers renamed midway, in the order one
/// instance reads them; every topic keyed by the customer, each customer on the same
/// partition of every topic (the sides are co-partitioned).
fn join_records() -> Vec<Keyed> {
    let mut next: BTreeMap<(&str, u32), u64> = BTreeMap::new();
    let mut out = Vec::new();
    let mut push = |topic: &'static str, customer: u64, time: i64, value: String| {
        let partition = (customer % u64::from(PARTITIONS)) as u32;
        let offset = next.entry((topic, partition)).or_default();
        out.push((
            topic,
            partition,
            *offset,
            time,
            format!("c{customer}").into_bytes(),
            value.into_bytes(),
        ));
        *offset += 1;
    };
    for customer in 0..8 {
        push(
            "customers",
            customer,
            0,
            format!("{{\"name\": \"n{customer}\"}}"),
        );
    }
    for i in 0..120u64 {
        let customer = i % 9;
        let time = 1_000 + i as i64 * 1_000;
        push(
            "orders",
            customer,
            time,
            format!("{{\"order_id\": {i}, \"amount\": {}.5}}", i % 7),
        );
        push(
            "shipments",
            customer,
            time + 500,
            format!("{{\"shipment_id\": {}, \"weight\": 2.0}}", 1000 + i),
        );
        if i % 4 == 0 {
            push(
                "accounts",
                customer,
                time + 700,
                format!("{{\"balance\": {i}}}"),
            );
        }
        if i == 60 {
            for customer in 0..9 {
                push(
                    "customers",
                    customer,
                    time,
                    format!("{{\"name\": \"m{customer}\"}}"),
                );
            }
        }
    }
    out
}

fn keyed_input(record: &Keyed) -> InputRecord<'_> {
    InputRecord {
        topic: record.0,
        partition: record.1,
        offset: record.2,
        timestamp: record.3,
        key: Some(&record.4),
        value: Some(&record.5),
    }
}

/// Feeds the records `accept` takes to an instance, a batch per run of one topic, and
/// returns what it wrote, each as "key value".
fn feed_join(
    engine: &mut Engine,
    records: &[Keyed],
    accept: impl Fn(&Keyed) -> bool,
) -> Vec<String> {
    let mut out = Outputs::new();
    let mut dead = Vec::new();
    let mut all = Vec::new();
    let taken: Vec<&Keyed> = records.iter().filter(|r| accept(r)).collect();
    for run in taken.chunk_by(|a, b| a.0 == b.0) {
        let inputs: Vec<InputRecord<'_>> = run.iter().map(|r| keyed_input(r)).collect();
        out.clear();
        engine.queries[0].process_batch(&inputs, &mut out, &mut dead);
        assert!(
            out.exchanged.is_empty(),
            "nothing goes to a repartition topic"
        );
        all.extend(out.iter().map(|o| format!("{:?} {:?}", o.key, o.value)));
    }
    assert!(dead.is_empty(), "{dead:?}");
    all.sort();
    all
}

#[test]
fn joins_on_both_sides_message_keys_read_the_input_partitions_in_place() {
    for (query, id) in [
        (ENRICHED, "CSAS_ENRICHED_0"),
        (SHIPPED, "CSAS_SHIPPED_0"),
        (CUSTOMER_ACCOUNTS, "CTAS_CUSTOMER_ACCOUNTS_0"),
    ] {
        let records = join_records();
        let whole = feed_join(&mut join_engine(query, false), &records, |_| true);
        assert!(whole.len() > 40, "{query}: {}", whole.len());
        let mut split = join_engine(query, true);
        let topics = split.queries[0].repartition("orders-app", PARTITIONS);
        assert_eq!(topics.len(), 2, "{query}: {topics:?}");
        assert!(split.queries[0].exchanges()[0].local, "{query}");
        assert!(topics.iter().all(|t| !t.contains(id)), "{topics:?}");
        // Instances that split the partitions join what one instance joins.
        let mut a = join_engine(query, true);
        let mut b = join_engine(query, true);
        let mut outputs = feed_join(&mut a, &records, |r| r.1 != 2);
        outputs.extend(feed_join(&mut b, &records, |r| r.1 == 2));
        outputs.sort();
        assert_eq!(outputs, whole, "{query}");
    }
}

#[test]
fn a_join_on_a_value_column_re_keys_that_side_only() {
    let by_value = "CREATE STREAM by_order AS
  SELECT c.customer_id, o.order_id, c.name
  FROM orders o JOIN customers c ON CAST(o.order_id AS STRING) = c.customer_id;";
    let mut engine = join_engine(by_value, false);
    let topics = engine.queries[0].repartition("orders-app", PARTITIONS);
    // ksqlDB names a stream-table join's re-keyed stream `-Join-repartition`.
    assert_eq!(
        topics,
        [
            "_confluent-ksql-orders-appquery_CSAS_BY_ORDER_0-Join-repartition",
            "customers"
        ]
    );
    assert!(engine.queries[0].exchanges()[0].local);
    // A stream-stream join names the re-keyed side: here the right.
    let parcels = format!(
        "{JOIN_SOURCES}\nCREATE STREAM parcels (parcel_id BIGINT KEY, customer_id STRING)
  WITH (KAFKA_TOPIC='parcels', VALUE_FORMAT='JSON');"
    );
    let sent = "CREATE STREAM sent AS
  SELECT o.customer_id, o.order_id, p.parcel_id FROM orders o JOIN parcels p WITHIN 1 HOUR
  ON o.customer_id = p.customer_id;";
    let mut engine = engine_with(&parcels, sent, false);
    let topics = engine.queries[0].repartition("orders-app", PARTITIONS);
    assert_eq!(
        topics,
        [
            "orders",
            "_confluent-ksql-orders-appquery_CSAS_SENT_0-Join-right-repartition"
        ]
    );
    assert!(engine.queries[0].exchanges()[0].rekeys(1));
    // Neither side keyed by the join key: each is re-keyed through its own topic.
    let neither = "CREATE STREAM by_amount AS
  SELECT o.order_id, s.shipment_id FROM orders o JOIN shipments s WITHIN 1 HOUR
  ON o.order_id = s.shipment_id;";
    let mut engine = join_engine(neither, false);
    let topics = engine.queries[0].repartition("orders-app", PARTITIONS);
    assert_eq!(
        topics,
        [
            "_confluent-ksql-orders-appquery_CSAS_BY_AMOUNT_0-Join-left-repartition",
            "_confluent-ksql-orders-appquery_CSAS_BY_AMOUNT_0-Join-right-repartition"
        ]
    );
    let step = &engine.queries[0].exchanges()[0];
    assert!(step.local && step.rekeys(0) && step.rekeys(1));
    // A join followed by another keyed step still goes through the join's shared topic.
    let counted = "CREATE TABLE per_shipment AS
  SELECT s.shipment_id, COUNT(*) AS n FROM orders o JOIN shipments s WITHIN 1 HOUR
  ON o.order_id = s.shipment_id GROUP BY s.shipment_id;";
    let mut engine = join_engine(counted, false);
    let topics = engine.queries[0].repartition("orders-app", PARTITIONS);
    assert_eq!(
        topics,
        [
            "_confluent-ksql-orders-appquery_CTAS_PER_SHIPMENT_0-Join-repartition",
            "_confluent-ksql-orders-appquery_CTAS_PER_SHIPMENT_0-Aggregate-GroupBy-repartition"
        ]
    );
}

#[test]
fn a_joined_partition_moves_with_the_offsets_of_both_its_sides() {
    let records = join_records();
    let whole = feed_join(&mut join_engine(ENRICHED, false), &records, |_| true);
    // The first instance reads partition 1 of both topics up to the renaming, then the
    // partition goes to a second instance with its checkpoint.
    let cut = records
        .iter()
        .position(|r| r.0 == "customers" && r.2 == 3 && r.1 == 1)
        .unwrap();
    let mut first = join_engine(ENRICHED, true);
    let mut outputs = feed_join(&mut first, &records[..cut], |_| true);
    outputs.extend(feed_join(&mut first, &records[cut..], |r| r.1 != 1));
    let snapshots = first.queries[0].partition_snapshots().unwrap();
    let moved = snapshots.iter().find(|s| s.partition == 1).unwrap();
    let moved = PartitionSnapshot::decode(&moved.bytes).unwrap();
    let orders_taken = records[..cut]
        .iter()
        .filter(|r| r.0 == "orders" && r.1 == 1)
        .count() as u64;
    assert_eq!(moved.next_offset_of("orders"), Some(orders_taken));
    assert_eq!(moved.next_offset_of("customers"), Some(3));
    first.queries[0].forget_partition("customers", 1);
    assert!(!first.queries[0].already_processed("orders", 1, 0));
    let mut second = join_engine(ENRICHED, true);
    second.queries[0].restore_partition(&moved).unwrap();
    assert!(second.queries[0].already_processed("customers", 1, 2));
    assert!(second.queries[0].already_processed("orders", 1, orders_taken - 1));
    // The new owner reads both topics' partition 1 again from where the checkpoint is; the
    // records it holds already are skipped, as the runtime skips them.
    outputs.extend(feed_join(&mut second, &records, |r| {
        r.1 == 1 && !second_holds(r, orders_taken)
    }));
    outputs.sort();
    assert_eq!(outputs, whole);
}

/// True for a record of partition 1 the moved checkpoint reflects.
fn second_holds(record: &Keyed, orders_taken: u64) -> bool {
    match record.0 {
        "orders" => record.2 < orders_taken,
        "customers" => record.2 < 3,
        _ => false,
    }
}

const LINES: &str =
    "CREATE STREAM order_lines (order_id BIGINT KEY, customer_id STRING, amount DOUBLE)
  WITH (KAFKA_TOPIC='order-lines', VALUE_FORMAT='JSON');
CREATE TABLE customers (customer_id STRING PRIMARY KEY, name STRING)
  WITH (KAFKA_TOPIC='customers', VALUE_FORMAT='JSON');";

const LINES_ENRICHED: &str = "CREATE STREAM lines_enriched AS
  SELECT l.customer_id, l.order_id, l.amount, c.name
  FROM order_lines l LEFT JOIN customers c ON l.customer_id = c.customer_id;";

/// The same join on an expression of the stream's column (the lines' customers are lower
/// case already): the stream is re-keyed by the expression's value.
const LINES_ENRICHED_BY_EXPRESSION: &str = "CREATE STREAM lines_enriched AS
  SELECT c.customer_id, l.order_id, l.amount, c.name
  FROM order_lines l LEFT JOIN customers c ON LCASE(l.customer_id) = c.customer_id;";

const LINES_REPARTITION: &str =
    "_confluent-ksql-orders-appquery_CSAS_LINES_ENRICHED_0-Join-repartition";

/// A topic's partitions as a broker keeps them: what is appended, in order.
#[derive(Default)]
struct Topics(BTreeMap<(String, u32), Vec<Keyed>>);

impl Topics {
    fn append(
        &mut self,
        topic: &'static str,
        partition: u32,
        time: i64,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> Keyed {
        let log = self.0.entry((topic.to_string(), partition)).or_default();
        let record = (topic, partition, log.len() as u64, time, key, value);
        log.push(record.clone());
        record
    }
}

/// Order lines keyed by their order and partitioned by it, then customers keyed by their
/// id and placed as Kafka's default partitioner places them, renamed midway between lines.
fn lines_and_customers(topics: &mut Topics) -> (Vec<Keyed>, Vec<Keyed>) {
    let kafka_partition = |customer: u64| {
        advisor_engine::state::default_partition(format!("c{customer}").as_bytes(), PARTITIONS)
    };
    let customers: Vec<Keyed> = (0..8u64)
        .chain(0..4)
        .enumerate()
        .map(|(i, customer)| {
            let name = if i < 8 { "n" } else { "m" };
            topics.append(
                "customers",
                kafka_partition(customer),
                0,
                format!("c{customer}").into_bytes(),
                format!("{{\"name\": \"{name}{customer}\"}}").into_bytes(),
            )
        })
        .collect();
    let lines: Vec<Keyed> = (0..90u64)
        .map(|i| {
            topics.append(
                "order-lines",
                (i % u64::from(PARTITIONS)) as u32,
                1_000 + i as i64,
                (i as i64).to_be_bytes().to_vec(),
                format!("{{\"customer_id\": \"c{}\", \"amount\": {i}.5}}", i % 9).into_bytes(),
            )
        })
        .collect();
    (customers, lines)
}

/// Hands records to an instance as the runtime does, a batch per run of one topic and
/// partition, skipping those its state holds; what goes to the repartition topic is
/// appended to `topics`, and what comes out is returned as "key value".
fn run_lines(engine: &mut Engine, topics: &mut Topics, records: &[Keyed]) -> Vec<String> {
    let mut out = Outputs::new();
    let mut dead = Vec::new();
    let mut all = Vec::new();
    for run in records.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let query = &mut engine.queries[0];
        let inputs: Vec<InputRecord<'_>> = run
            .iter()
            .filter(|r| !query.already_processed(r.0, r.1, r.2))
            .map(keyed_input)
            .collect();
        if inputs.is_empty() {
            continue;
        }
        out.clear();
        query.process_batch(&inputs, &mut out, &mut dead);
        for exchanged in &out.exchanged {
            let exchange = &query.exchanges()[usize::from(exchanged.step)];
            assert_eq!(exchange.topic_for(exchanged.input), LINES_REPARTITION);
            topics.append(
                LINES_REPARTITION,
                exchanged.partition,
                exchanged.timestamp,
                exchanged.input.into_iter().collect(),
                exchanged.value.clone(),
            );
        }
        all.extend(out.iter().map(|o| format!("{:?} {:?}", o.key, o.value)));
    }
    assert!(dead.is_empty(), "{dead:?}");
    all.sort();
    all
}

/// How many records each partition of the repartition topic holds.
fn repartition_counts(topics: &Topics) -> BTreeMap<u32, usize> {
    topics
        .0
        .iter()
        .filter(|((topic, _), _)| topic == LINES_REPARTITION)
        .map(|((_, partition), log)| (*partition, log.len()))
        .collect()
}

/// The repartition topic's records appended since `counts` were taken.
fn appended_since(topics: &Topics, counts: &BTreeMap<u32, usize>) -> Vec<Keyed> {
    topics
        .0
        .iter()
        .filter(|((topic, _), _)| topic == LINES_REPARTITION)
        .flat_map(|((_, partition), log)| {
            log.iter()
                .skip(counts.get(partition).copied().unwrap_or(0))
                .cloned()
        })
        .collect()
}

#[test]
fn a_join_keyed_on_one_side_re_keys_the_other_to_the_partitions_of_the_keyed_one() {
    for query in [LINES_ENRICHED, LINES_ENRICHED_BY_EXPRESSION] {
        re_keyed_to_the_partitions_of_the_keyed_side(query);
    }
}

fn re_keyed_to_the_partitions_of_the_keyed_side(query: &str) {
    let mut topics = Topics::default();
    let (customers, lines) = lines_and_customers(&mut topics);
    let (before, renamed) = customers.split_at(8);
    let mut records: Vec<Keyed> = before.to_vec();
    records.extend(lines[..45].iter().cloned());
    records.extend(renamed.iter().cloned());
    records.extend(lines[45..].iter().cloned());
    // One instance reading its inputs whole.
    let whole = {
        let mut engine = engine_with(LINES, query, false);
        run_lines(&mut engine, &mut Topics::default(), &records)
    };
    assert_eq!(whole.len(), 90);
    assert!(
        whole.iter().filter(|o| o.contains("\"m")).count() > 10,
        "{whole:?}"
    );

    let mut engine = engine_with(LINES, query, false);
    let read = engine.queries[0].repartition("orders-app", PARTITIONS);
    assert_eq!(read, [LINES_REPARTITION, "customers"]);
    let step = &engine.queries[0].exchanges()[0];
    assert!(step.local && step.rekeys(0) && !step.rekeys(1));
    // Its checkpoints are named by the customers, so a checkpoint of the repartition topic
    // an earlier version sent both sides through is refused, not read as the stream's.
    assert_eq!(step.topic, "customers");
    // Routing writes each line to the partition Kafka's partitioner gives its customer.
    let mut routed = Topics::default();
    let written = run_lines(&mut engine, &mut routed, &lines);
    assert!(
        written.is_empty(),
        "the first stage writes nothing out: {written:?}"
    );
    let mut rows = 0;
    for record in appended_since(&routed, &BTreeMap::new()) {
        for routed in postcard::from_bytes::<Vec<RoutedRow>>(&record.5).unwrap() {
            let Value::String(customer) = &routed.row.row[1] else {
                panic!("{routed:?}");
            };
            assert_eq!(
                advisor_engine::state::default_partition(customer.as_bytes(), PARTITIONS),
                record.1
            );
            rows += 1;
        }
    }
    assert_eq!(rows, 90);

    // Two instances split the partitions of the customers and of the repartition topic;
    // the first stage runs where the lines' partitions are, either instance.
    let mut a = engine_with(LINES, query, false);
    let mut b = engine_with(LINES, query, false);
    for engine in [&mut a, &mut b] {
        engine.queries[0].repartition("orders-app", PARTITIONS);
    }
    let of_b = |r: &Keyed| r.1 == 2;
    let mut split = Topics::default();
    let mut outputs = Vec::new();
    let deliver = |a: &mut Engine, b: &mut Engine, records: Vec<Keyed>| {
        let (to_b, to_a): (Vec<Keyed>, Vec<Keyed>) = records.into_iter().partition(of_b);
        let mut out = run_lines(a, &mut Topics::default(), &to_a);
        out.extend(run_lines(b, &mut Topics::default(), &to_b));
        out
    };
    outputs.extend(deliver(&mut a, &mut b, before.to_vec()));
    assert!(run_lines(&mut a, &mut split, &lines[..45]).is_empty());
    outputs.extend(deliver(
        &mut a,
        &mut b,
        appended_since(&split, &BTreeMap::new()),
    ));
    outputs.extend(deliver(&mut a, &mut b, renamed.to_vec()));
    let counts = repartition_counts(&split);
    assert!(run_lines(&mut b, &mut split, &lines[45..]).is_empty());
    outputs.extend(deliver(&mut a, &mut b, appended_since(&split, &counts)));
    outputs.sort();
    assert_eq!(outputs, whole);
}

#[test]
fn a_checkpoint_of_the_join_repartition_topic_both_sides_went_through_is_refused() {
    let mut engine = engine_with(LINES, LINES_ENRICHED, false);
    engine.queries[0].repartition("orders-app", PARTITIONS);
    let snapshot = PartitionSnapshot {
        topic: LINES_REPARTITION.into(),
        partition: 1,
        partitions: PARTITIONS,
        next_offset: Some(7),
        seen: Default::default(),
        operators: vec![Default::default(); 2],
    };
    let error = engine.queries[0]
        .restore_partition(&snapshot)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("an earlier engine version") && error.contains("reads customers in place"),
        "{error}"
    );
}

#[test]
fn a_record_of_the_other_side_in_the_re_keyed_topic_is_dead_lettered_not_joined() {
    let mut engine = engine_with(LINES, LINES_ENRICHED, false);
    engine.queries[0].repartition("orders-app", PARTITIONS);
    // A customer's row as an earlier version wrote it to the topic both sides shared.
    let value = postcard::to_allocvec(&Vec::<RoutedRow>::new()).unwrap();
    let record = InputRecord {
        topic: LINES_REPARTITION,
        partition: 1,
        offset: 4,
        timestamp: 0,
        key: Some(&[1]),
        value: Some(&value),
    };
    let mut out = Outputs::new();
    let mut dead = Vec::new();
    engine.queries[0].process_batch(&[record], &mut out, &mut dead);
    assert!(out.is_empty());
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        (dead[0].topic.as_str(), dead[0].partition, dead[0].offset),
        (LINES_REPARTITION, 1, 4)
    );
    assert!(
        dead[0].reason.contains("an earlier engine version"),
        "{}",
        dead[0].reason
    );
}

#[test]
fn a_re_keyed_side_replayed_into_its_repartition_topic_is_joined_once() {
    let mut topics = Topics::default();
    let (customers, lines) = lines_and_customers(&mut topics);
    let mut engine = engine_with(LINES, LINES_ENRICHED, false);
    engine.queries[0].repartition("orders-app", PARTITIONS);
    let mut outputs = run_lines(&mut engine, &mut topics, &customers[..8]);
    // The first stage crashed after writing its rows and before committing the lines'
    // offsets: it routes them all again, to later offsets of the repartition topic.
    run_lines(&mut engine, &mut topics, &lines);
    run_lines(&mut engine, &mut topics, &lines);
    let rows = appended_since(&topics, &BTreeMap::new());
    outputs.extend(run_lines(&mut engine, &mut Topics::default(), &rows));
    assert_eq!(outputs.len(), 90, "{outputs:?}");
    // A partition's checkpoint holds the repartition topic's offset, the customers' offset
    // and what it took of each lines partition; another instance goes on from it.
    let snapshots = engine.queries[0].partition_snapshots().unwrap();
    let saved = snapshots.iter().find(|s| s.partition == 1).unwrap();
    let saved = PartitionSnapshot::decode(&saved.bytes).unwrap();
    let counts = repartition_counts(&topics);
    let held = counts[&1] as u64;
    assert_eq!(saved.next_offset_of(LINES_REPARTITION), Some(held));
    let customers_1 = customers[..8].iter().filter(|r| r.1 == 1).count() as u64;
    assert_eq!(saved.next_offset_of("customers"), Some(customers_1));
    let mut next = engine_with(LINES, LINES_ENRICHED, false);
    next.queries[0].repartition("orders-app", PARTITIONS);
    next.queries[0].restore_partition(&saved).unwrap();
    assert!(next.queries[0].already_processed(LINES_REPARTITION, 1, held - 1));
    assert!(!next.queries[0].already_processed(LINES_REPARTITION, 1, held));
    assert!(next.queries[0].already_processed("customers", 1, customers_1 - 1));
    // The lines routed a third time reach it at new offsets and are skipped as taken.
    run_lines(&mut engine, &mut topics, &lines);
    let again: Vec<Keyed> = appended_since(&topics, &counts)
        .into_iter()
        .filter(|r| r.1 == 1)
        .collect();
    assert!(!again.is_empty());
    let replayed = run_lines(&mut next, &mut Topics::default(), &again);
    assert!(replayed.is_empty(), "{replayed:?}");
    // Lines it has not seen are joined with the customers the checkpoint holds.
    let fresh: Vec<Keyed> = lines
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.2 += 1_000;
            r
        })
        .collect();
    let counts = repartition_counts(&topics);
    run_lines(&mut engine, &mut topics, &fresh);
    let new_rows: Vec<Keyed> = appended_since(&topics, &counts)
        .into_iter()
        .filter(|r| r.1 == 1)
        .collect();
    let joined = run_lines(&mut next, &mut Topics::default(), &new_rows);
    assert!(joined.iter().any(|o| o.contains("\"n")), "{joined:?}");
}
