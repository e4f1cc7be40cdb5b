//! Joins through repartition topics, through the library without a broker: a stream-stream
//! join where neither side is keyed by the join key re-keys each side through its own topic
//! (`-Join-left-repartition`, `-Join-right-repartition`), so instances that split those
//! partitions join what one instance joins (tests/message_keys.rs has the joins on message
//! keys, and those keyed on one side, whose other side alone is re-keyed); a replayed input is taken once; a partition's join state (the table's rows, the
//! stream-stream buffers) moves to another instance through its checkpoint. A multi-way
//! join, and a join's aggregation, go through a repartition topic per step, named as ksqlDB
//! names them, and so does a table's GROUP BY (the rows by primary key, then the groups).
//! A foreign-key join goes through three: its left rows by their key, its subscriptions
//! and right rows by the foreign key, its answers by the left key.

use std::collections::BTreeMap;

use advisor_engine::engine::Engine;
use advisor_engine::exchange::{Exchanged, PartitionSnapshot};
use advisor_engine::query::{InputRecord, OutputRecord, Outputs};
use advisor_engine::sql::parse;

const PARTITIONS: u32 = 3;

const SOURCES: &str =
    "CREATE STREAM orders (order_id BIGINT KEY, customer_id STRING, amount DOUBLE)
  WITH (KAFKA_TOPIC='orders', VALUE_FORMAT='JSON');
CREATE STREAM shipments (shipment_id BIGINT KEY, customer_id STRING, weight DOUBLE)
  WITH (KAFKA_TOPIC='shipments', VALUE_FORMAT='JSON');
CREATE TABLE customers (customer_id STRING PRIMARY KEY, name STRING)
  WITH (KAFKA_TOPIC='customers', VALUE_FORMAT='JSON');
CREATE TABLE accounts (customer_id STRING PRIMARY KEY, balance DOUBLE)
  WITH (KAFKA_TOPIC='accounts', VALUE_FORMAT='JSON');
CREATE TABLE regions (region STRING PRIMARY KEY, manager STRING)
  WITH (KAFKA_TOPIC='regions', VALUE_FORMAT='JSON');
CREATE TABLE branches (branch_id STRING PRIMARY KEY, region STRING)
  WITH (KAFKA_TOPIC='branches', VALUE_FORMAT='JSON');";

/// Orders joined on a value column, not their key: ksqlDB re-keys the stream alone for this,
/// into the partitions of the customers' topic.
const STREAM_TABLE: &str = "CREATE STREAM enriched AS
  SELECT o.customer_id, o.order_id, o.amount, c.name
  FROM orders o LEFT JOIN customers c ON o.customer_id = c.customer_id;";

const STREAM_STREAM: &str = "CREATE STREAM shipped AS
  SELECT o.customer_id, o.order_id, s.shipment_id, s.weight
  FROM orders o JOIN shipments s WITHIN 1 HOUR ON o.customer_id = s.customer_id;";

const TABLE_TABLE: &str = "CREATE TABLE customer_accounts AS
  SELECT ROWKEY AS customer_id, c.name, a.balance
  FROM customers c FULL OUTER JOIN accounts a ON c.customer_id = a.customer_id;";

/// A record of one of the inputs: topic, partition, offset, time, key, value.
#[derive(Clone)]
struct Record {
    topic: &'static str,
    partition: u32,
    offset: u64,
    time: i64,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
}

impl Record {
    fn input(&self) -> InputRecord<'_> {
        InputRecord {
            topic: self.topic,
            partition: self.partition,
            offset: self.offset,
            timestamp: self.time,
            key: Some(&self.key),
            value: self.value.as_deref(),
        }
    }
}

/// Records in the order one instance reads them, each topic's spread over its partitions
/// by something other than the join key (so one customer's rows arrive on every partition):
/// customers first, then orders, shipments and accounts among updates and deletes of
/// customers.
fn records() -> Vec<Record> {
    let mut next: BTreeMap<(&str, u32), u64> = BTreeMap::new();
    let mut out = Vec::new();
    let mut push =
        |topic: &'static str, spread: u64, time: i64, key: Vec<u8>, value: Option<String>| {
            let partition = (spread * 7 % u64::from(PARTITIONS)) as u32;
            let offset = next.entry((topic, partition)).or_default();
            out.push(Record {
                topic,
                partition,
                offset: *offset,
                time,
                key,
                value: value.map(String::into_bytes),
            });
            *offset += 1;
        };
    for c in 0..40u64 {
        let value = format!("{{\"name\": \"customer {c}\"}}");
        push(
            "customers",
            c * 5 + 1,
            1_000 + c as i64,
            format!("c{c}").into_bytes(),
            Some(value),
        );
    }
    for i in 0..600u64 {
        let time = 10_000 + i as i64 * 1_000;
        let customer = format!("c{}", i % 47);
        let order = format!(
            "{{\"customer_id\": \"{customer}\", \"amount\": {}.5}}",
            i % 13
        );
        push("orders", i, time, i.to_be_bytes().to_vec(), Some(order));
        if i % 3 == 0 {
            let shipment = format!("{{\"customer_id\": \"{customer}\", \"weight\": {}}}", i % 5);
            push(
                "shipments",
                i + 1,
                time + 10,
                (1_000 + i).to_be_bytes().to_vec(),
                Some(shipment),
            );
        }
        if i % 7 == 0 {
            let account = format!("{{\"balance\": {}}}", i);
            push(
                "accounts",
                i + 2,
                time + 20,
                customer.clone().into_bytes(),
                Some(account),
            );
        }
        if i % 11 == 0 {
            // Regions named as customers are (a join on a customer's name).
            let region = match i % 3 {
                0 => format!("customer {}", i % 40),
                _ => format!("renamed {}", i / 50 * 50 + 49),
            };
            let manager = format!("{{\"manager\": \"manager {i}\"}}");
            push(
                "regions",
                i + 5,
                time + 50,
                region.into_bytes(),
                Some(manager),
            );
        }
        if i % 9 == 0 {
            // Branches in regions (a foreign-key join on the region), moving between them.
            let region = match i % 4 {
                0 | 3 => format!("customer {}", (i / 9) % 40),
                _ => format!("renamed {}", i / 50 * 50 + 49),
            };
            let branch = format!("{{\"region\": \"{region}\"}}");
            push(
                "branches",
                i + 6,
                time + 60,
                format!("b{}", i % 23).into_bytes(),
                Some(branch),
            );
        }
        if i % 45 == 44 {
            push(
                "branches",
                i + 7,
                time + 70,
                format!("b{}", (i + 5) % 23).into_bytes(),
                None,
            );
        }
        if i % 50 == 49 {
            // A customer renamed, another deleted.
            let renamed = format!("c{}", i % 40);
            let value = format!("{{\"name\": \"renamed {i}\"}}");
            push(
                "customers",
                i + 3,
                time + 30,
                renamed.into_bytes(),
                Some(value),
            );
            push(
                "customers",
                i + 4,
                time + 40,
                format!("c{}", (i + 17) % 40).into_bytes(),
                None,
            );
        }
    }
    out
}

fn engine(query: &str) -> Engine {
    let mut engine = Engine::default();
    for statement in parse(&format!("{SOURCES}\n{query}")).unwrap() {
        engine.execute(&statement).unwrap();
    }
    engine
}

/// What the query writes, in a comparable form.
fn rendered(outputs: &[OutputRecord]) -> Vec<String> {
    outputs
        .iter()
        .map(|o| format!("{:?} {:?} {:?} {}", o.key, o.window, o.value, o.timestamp))
        .collect()
}

/// The records of the topics the query reads.
fn read_by(engine: &Engine, records: &[Record]) -> Vec<Record> {
    records
        .iter()
        .filter(|r| engine.queries[0].input_for(r.topic).is_some())
        .cloned()
        .collect()
}

/// One instance without a repartition topic, over every record as if each input had one
/// partition: a stream-stream join's buffers are per partition (a Kafka Streams task), so
/// this is the join by key that the repartition topic makes of inputs partitioned apart.
fn one_instance(query: &str) -> Vec<OutputRecord> {
    let mut whole = engine(query);
    let mut out = Outputs::new();
    let mut dead = Vec::new();
    let mut all = Vec::new();
    for record in &read_by(&whole, &records()) {
        out.clear();
        let mut input = record.input();
        input.partition = 0;
        whole.queries[0].process(&input, &mut out, &mut dead);
        all.extend(out.iter().cloned());
    }
    all
}

#[test]
fn a_stream_table_join_re_keys_the_stream_alone() {
    let mut engine = engine(STREAM_TABLE);
    let topics = engine.queries[0].repartition("shop-app", PARTITIONS);
    assert_eq!(
        topics,
        [
            "_confluent-ksql-shop-appquery_CSAS_ENRICHED_0-Join-repartition",
            "customers"
        ]
    );
    assert!(engine.queries[0].exchanges()[0].rekeys(0));
}

/// A stream-stream join's sides, neither keyed by the join key, each re-keyed through its
/// own topic, as ksqlDB names them.
const SIDES: [&str; 2] = ["Join-left", "Join-right"];

#[test]
fn a_stream_stream_join_split_over_instances_joins_what_one_instance_joins() {
    steps_split_as_one_instance(STREAM_STREAM, &SIDES);
}

#[test]
fn a_table_table_join_on_primary_keys_reads_its_tables_in_place() {
    // Both tables keyed by the join key: ksqlDB makes no repartition topic for this join,
    // and neither does the engine (tests/message_keys.rs splits it over instances).
    let mut engine = engine(TABLE_TABLE);
    let topics = engine.queries[0].repartition("shop-app", PARTITIONS);
    assert_eq!(topics, ["customers", "accounts"]);
    assert!(engine.queries[0].exchanges()[0].local);
}

#[test]
fn a_replayed_join_input_is_taken_once() {
    let mut expected = rendered(&one_instance(STREAM_STREAM));
    let mut cluster = Cluster::new(STREAM_STREAM, 1, &SIDES);
    let records = read_by(&cluster.instances[0], &records());
    // The first stage crashed before committing and read both inputs again from the start:
    // every row reaches its repartition topic twice.
    for record in records.iter().chain(&records) {
        cluster.feed(record);
    }
    let mut got = rendered(&cluster.outputs);
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
}

#[test]
fn a_join_partition_moves_to_another_instance_with_its_checkpoint() {
    let mut expected = rendered(&one_instance(STREAM_STREAM));
    let mut cluster = Cluster::new(STREAM_STREAM, 2, &SIDES);
    let records = read_by(&cluster.instances[0], &records());
    let (first, rest) = records.split_at(records.len() / 2);
    for record in first {
        cluster.feed(record);
    }
    let saved = cluster.checkpoint(0, 1);
    for topic in &cluster.topics {
        assert!(saved.next_offset_of(topic).is_some(), "{topic}");
    }
    // The checkpoint alone holds the partition's buffered records.
    let mut fresh = engine_of(STREAM_STREAM);
    fresh.queries[0].restore_partition(&saved).unwrap();
    assert!(fresh.queries[0].state_size() > 0);
    let since = cluster.outputs.len();
    for record in rest {
        cluster.feed(record);
    }
    // Partition 1's owner dies: its new owner reads both sides' partition 1 again from
    // the checkpoint, writing again what came of them since (at least once).
    let written_again: Vec<OutputRecord> = cluster.outputs[since..]
        .iter()
        .zip(&cluster.output_from[since..])
        .filter(|(_, from)| from.1 == 1 && from.0 != usize::MAX)
        .map(|(output, _)| output.clone())
        .collect();
    assert!(!written_again.is_empty());
    cluster.take_over(0, 1, &saved);
    cluster.drain();
    expected.extend(rendered(&written_again));
    let mut got = rendered(&cluster.outputs);
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
}

/// Branches joined to their region's row on a foreign key, the region.
const FOREIGN_KEY: &str = "CREATE TABLE branch_managers AS SELECT b.branch_id, r.manager
  FROM branches b JOIN regions r ON b.region = r.region;";

const FOREIGN_KEY_LEFT: &str =
    "CREATE TABLE branch_regions AS SELECT b.branch_id, b.region, r.manager
  FROM branches b LEFT JOIN regions r ON b.region = r.region;";

/// A foreign-key join's steps: the left rows by their key, then the subscriptions and the
/// right rows by the foreign key, then the answers by the left key again.
const FOREIGN_KEY_STEPS: [&str; 3] = [
    "KsqlTopic-Reduce",
    "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-topic",
    "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-topic",
];

#[test]
fn a_foreign_key_join_goes_through_its_subscriptions_and_answers_split_over_instances() {
    steps_split_as_one_instance(FOREIGN_KEY, &FOREIGN_KEY_STEPS);
    steps_split_as_one_instance(FOREIGN_KEY_LEFT, &FOREIGN_KEY_STEPS);
}

/// A three-way join whose second step joins on the first's key: a repartition per step all
/// the same, as the engine's state splits by step.
const THREE_WAY_SAME_KEY: &str = "CREATE STREAM rich AS
  SELECT o.customer_id, o.order_id, c.name, a.balance
  FROM orders o LEFT JOIN customers c ON o.customer_id = c.customer_id
  JOIN accounts a ON o.customer_id = a.customer_id;";

/// A three-way join whose second step joins on a column of the first step's table.
const THREE_WAY_OTHER_KEY: &str = "CREATE STREAM managed AS
  SELECT o.customer_id, o.order_id, c.name, r.manager
  FROM orders o JOIN customers c ON o.customer_id = c.customer_id
  LEFT JOIN regions r ON c.name = r.region;";

/// A stream-stream join, then a table.
const STREAMS_THEN_TABLE: &str = "CREATE STREAM shipped_to AS
  SELECT o.customer_id, o.order_id, s.weight, c.name
  FROM orders o JOIN shipments s WITHIN 1 HOUR ON o.customer_id = s.customer_id
  LEFT JOIN customers c ON o.customer_id = c.customer_id;";

/// A join's aggregation, by a column of the table joined.
const JOINED_THEN_COUNTED: &str = "CREATE TABLE orders_per_name AS
  SELECT c.name, COUNT(*) AS n, SUM(o.amount) AS spent
  FROM orders o JOIN customers c ON o.customer_id = c.customer_id GROUP BY c.name;";

/// A table's GROUP BY: customers renamed move from one group to another, and deleted ones
/// leave theirs.
const TABLE_GROUPED: &str = "CREATE TABLE customers_per_name AS
  SELECT name, COUNT(*) AS n, COLLECT_LIST(customer_id) AS ids
  FROM customers GROUP BY name;";

/// Instances that split every repartition partition between them (partition `p` on
/// instance `p % instances`), with each topic's records kept in order as a broker would.
/// Each input record is read, then every step drains what it was sent, as one instance
/// would go through its records one by one.
struct Cluster {
    instances: Vec<Engine>,
    /// The repartition topics, by the step each is of: a step's, or each re-keyed side's of
    /// a join that reads its inputs' partitions.
    topics: Vec<String>,
    steps: Vec<usize>,
    /// By topic and partition, the repartition records written and how far they were read.
    logs: Vec<Vec<Vec<Exchanged>>>,
    read: Vec<Vec<usize>>,
    outputs: Vec<OutputRecord>,
    /// The step and partition each output came from.
    output_from: Vec<(usize, u32)>,
}

impl Cluster {
    fn new(query: &str, instances: usize, topics: &[&str]) -> Cluster {
        let instances: Vec<Engine> = (0..instances).map(|_| engine_of(query)).collect();
        let id = instances[0].queries[0].id.clone();
        let made = instances[0].queries[0].exchanges();
        let (names, steps): (Vec<String>, Vec<usize>) = made
            .iter()
            .enumerate()
            .flat_map(|(step, e)| match e.local {
                true => (0..e.source_topics.len())
                    .filter(|&input| e.rekeys(input))
                    .map(|input| (e.source_topics[input].clone(), step))
                    .collect::<Vec<_>>(),
                false => vec![(e.topic.clone(), step)],
            })
            .unzip();
        let expected: Vec<String> = topics
            .iter()
            .map(|step| match step.ends_with("-topic") {
                true => format!("_confluent-ksql-shop-appquery_{id}-{step}"),
                false => format!("_confluent-ksql-shop-appquery_{id}-{step}-repartition"),
            })
            .collect();
        assert_eq!(names, expected, "{query}");
        let partitions = PARTITIONS as usize;
        Cluster {
            instances,
            logs: vec![vec![Vec::new(); partitions]; names.len()],
            read: vec![vec![0; partitions]; names.len()],
            topics: names,
            steps,
            outputs: Vec::new(),
            output_from: Vec::new(),
        }
    }

    fn owner(&self, partition: u32) -> usize {
        partition as usize % self.instances.len()
    }

    fn keep(&mut self, out: &mut Outputs, from: (usize, u32)) {
        self.outputs.extend(out.iter().cloned());
        self.output_from.extend(out.iter().map(|_| from));
        let query = &self.instances[0].queries[0];
        for routed in out.exchanged.drain(..) {
            let exchange = &query.exchanges()[usize::from(routed.step)];
            let topic = exchange.topic_for(routed.input);
            let at = self.topics.iter().position(|t| t == topic).unwrap();
            self.logs[at][routed.partition as usize].push(routed);
        }
        out.clear();
    }

    fn feed(&mut self, record: &Record) {
        let mut out = Outputs::new();
        let mut dead = Vec::new();
        let owner = self.owner(record.partition);
        self.instances[owner].queries[0].process(&record.input(), &mut out, &mut dead);
        assert_eq!(out.len(), 0, "the first stage writes no output");
        assert!(dead.is_empty(), "{dead:?}");
        self.keep(&mut out, (usize::MAX, record.partition));
        self.drain();
    }

    fn drain(&mut self) {
        let mut out = Outputs::new();
        let mut dead = Vec::new();
        loop {
            let mut moved = false;
            for step in 0..self.topics.len() {
                for partition in 0..PARTITIONS {
                    let p = partition as usize;
                    while self.read[step][p] < self.logs[step][p].len() {
                        let offset = self.read[step][p];
                        let routed = self.logs[step][p][offset].clone();
                        self.read[step][p] += 1;
                        let key = routed.input.map(|input| [input]);
                        let record = InputRecord {
                            topic: &self.topics[step],
                            partition,
                            offset: offset as u64,
                            timestamp: routed.timestamp,
                            key: key.as_ref().map(|k| &k[..]),
                            value: Some(&routed.value),
                        };
                        let owner = self.owner(partition);
                        self.instances[owner].queries[0].process(&record, &mut out, &mut dead);
                        assert!(dead.is_empty(), "{dead:?}");
                        self.keep(&mut out, (step, partition));
                        moved = true;
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// The checkpoint of one partition of one step, as its owner would save it now.
    fn checkpoint(&mut self, step: usize, partition: u32) -> PartitionSnapshot {
        let owner = self.owner(partition);
        let query = &mut self.instances[owner].queries[0];
        let saved = query.partition_snapshots().unwrap();
        query.partitions_saved();
        let bytes = &saved
            .iter()
            .find(|s| (s.step, s.partition) == (step, partition))
            .expect("the partition changed since its last checkpoint")
            .bytes;
        PartitionSnapshot::decode(bytes).unwrap()
    }

    /// The owner of a step's partition died: a new instance takes that partition over from
    /// its checkpoint and reads it again from the offset the checkpoint reflects, writing
    /// what it wrote since to the next step once more.
    /// The owner of partition `partition` of step `step` died: a new instance takes the
    /// partition over from its checkpoint and reads every topic of the step from the
    /// offset the checkpoint reflects.
    fn take_over(&mut self, step: usize, partition: u32, checkpoint: &PartitionSnapshot) {
        let owner = self.owner(partition);
        let query = &mut self.instances[owner].queries[0];
        let at = self.steps.iter().position(|s| *s == step).unwrap();
        query.forget_partition(&self.topics[at], partition);
        query.restore_partition(checkpoint).unwrap();
        for ((topic, read), _) in self
            .topics
            .iter()
            .zip(&mut self.read)
            .zip(&self.steps)
            .filter(|(_, s)| **s == step)
        {
            if let Some(next) = checkpoint.next_offset_of(topic) {
                read[partition as usize] = next as usize;
            }
        }
    }
}

fn engine_of(query: &str) -> Engine {
    let mut engine = Engine::default();
    for statement in parse(&format!("{SOURCES}\n{query}")).unwrap() {
        engine.execute(&statement).unwrap();
    }
    engine.queries[0].repartition("shop-app", PARTITIONS);
    engine
}

/// Every step of `query` through its own repartition topic: two instances splitting each
/// topic's partitions write what one instance without repartition topics writes.
fn steps_split_as_one_instance(query: &str, topics: &[&str]) {
    let mut expected = rendered(&one_instance(query));
    assert!(expected.len() > 50, "{query}: {}", expected.len());
    let mut cluster = Cluster::new(query, 2, topics);
    for record in &read_by(&cluster.instances[0], &records()) {
        cluster.feed(record);
    }
    for (step, logs) in cluster.logs.iter().enumerate() {
        assert!(logs.iter().all(|p| !p.is_empty()), "{query}: step {step}");
    }
    let mut got = rendered(&cluster.outputs);
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "{query}");
    for instance in &cluster.instances {
        assert!(instance.queries[0].state_size() > 0, "{query}");
    }
}

#[test]
fn a_three_way_join_goes_through_a_repartition_topic_per_step_named_as_ksqldb_names_them() {
    steps_split_as_one_instance(THREE_WAY_SAME_KEY, &["L_Join", "Join"]);
    steps_split_as_one_instance(THREE_WAY_OTHER_KEY, &["L_Join", "Join"]);
    steps_split_as_one_instance(STREAMS_THEN_TABLE, &["L_Join", "Join"]);
}

/// A join on a computed expression of one stream: rows go by the expression's value.
const COMPUTED_KEY: &str = "CREATE STREAM shipped_by_expression AS
  SELECT s.customer_id, o.order_id, s.shipment_id
  FROM orders o JOIN shipments s WITHIN 1 HOUR ON LCASE(o.customer_id) = s.customer_id;";

#[test]
fn a_join_on_a_computed_expression_goes_by_its_value() {
    steps_split_as_one_instance(COMPUTED_KEY, &SIDES);
}

#[test]
fn a_joins_aggregation_goes_through_its_own_repartition_topic() {
    steps_split_as_one_instance(JOINED_THEN_COUNTED, &["Join", "Aggregate-GroupBy"]);
}

#[test]
fn a_tables_group_by_goes_through_its_rows_by_key_then_its_groups() {
    steps_split_as_one_instance(TABLE_GROUPED, &["KsqlTopic-Reduce", "Aggregate-GroupBy"]);
}

/// The owner of a partition of the first step, then of one of the last, dies after a
/// checkpoint and its partition is read again from there by a new owner. The step after it takes each record it was sent once, so nothing
/// it writes comes out twice; what the last step wrote since the checkpoint comes out again
/// (at least once), and nothing else does.
#[test]
fn a_step_read_again_from_its_checkpoint_sends_the_next_step_nothing_twice() {
    for (query, topics) in [
        (THREE_WAY_OTHER_KEY, &["L_Join", "Join"][..]),
        (JOINED_THEN_COUNTED, &["Join", "Aggregate-GroupBy"][..]),
        (
            TABLE_GROUPED,
            &["KsqlTopic-Reduce", "Aggregate-GroupBy"][..],
        ),
        (FOREIGN_KEY_LEFT, &FOREIGN_KEY_STEPS[..]),
    ] {
        let mut expected = rendered(&one_instance(query));
        let mut cluster = Cluster::new(query, 2, topics);
        let records = read_by(&cluster.instances[0], &records());
        let (first, rest) = records.split_at(records.len() / 3);
        let (second, third) = rest.split_at(rest.len() / 2);
        for record in first {
            cluster.feed(record);
        }
        let early = cluster.checkpoint(0, 1);
        for record in second {
            cluster.feed(record);
        }
        let sent = cluster.logs[1].iter().map(Vec::len).sum::<usize>();
        cluster.take_over(0, 1, &early);
        cluster.drain();
        let again = cluster.logs[1].iter().map(Vec::len).sum::<usize>();
        assert!(again > sent, "{query}: the first step wrote nothing again");
        let last = topics.len() - 1;
        let late = cluster.checkpoint(last, 2);
        let since = cluster.outputs.len();
        for record in third {
            cluster.feed(record);
        }
        let written_again: Vec<OutputRecord> = cluster.outputs[since..]
            .iter()
            .zip(&cluster.output_from[since..])
            .filter(|(_, from)| **from == (last, 2))
            .map(|(output, _)| output.clone())
            .collect();
        assert!(!written_again.is_empty(), "{query}");
        cluster.take_over(last, 2, &late);
        cluster.drain();
        expected.extend(rendered(&written_again));
        let mut got = rendered(&cluster.outputs);
        expected.sort();
        got.sort();
        assert_eq!(got.len(), expected.len(), "{query}");
        assert_eq!(got, expected, "{query}");
    }
}
