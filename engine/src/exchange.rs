//! Repartitioning, so that several instances in one consumer group compute what one would:
//! a windowed or session aggregation whose GROUP BY key is not where its input's records
//! were partitioned sends each row, after the query's filters and projections, through a
//! repartition topic named as ksqlDB names it, to the partition that owns the row's key
//! group. The aggregation then reads that topic, so all of a key's state lives with the one
//! instance that owns its partition, and a partition's state moves with it (checkpointed and
//! restored per partition) when the group rebalances.
//!
//! A two-way join reads a side keyed by the join key in place, as ksqlDB does, and re-keys
//! each stream side that is not into a repartition topic of its own, to the partition Kafka's
//! default partitioner gives its key: a task per partition number then joins both sides
//! (`Exchange::local`). Where that cannot be (a side keyed in AVRO, whose bytes hold a schema
//! id; a join followed by another keyed step), both sides go through one repartition topic
//! (ksqlDB's `-Join-repartition`) by the join key, the state split by key group. Each record
//! of a join's repartition topic holds rows of one side, named by its key (the side's place
//! among the query's inputs), and says which rows are a table's tombstones.
//!
//! A query with several keyed steps (a multi-way join, a join then a windowed GROUP BY) has
//! a repartition topic per step, as ksqlDB has: what one step writes is routed by the next
//! step's key through the next topic. Each input enters at the step that joins it (the
//! first two at the first step).
//!
//! Delivery stays at least once without double counting: each row carries the record it
//! came from (the input's, or the previous step's repartition record's), and each
//! repartition partition remembers, per partition it reads from, the next offset it has
//! taken. A replay (after a crash, or on another instance after a rebalance) writes the
//! same rows again; the step skips those it already holds, as rows of one partition reach a
//! repartition partition in offset order. The rows one record gives travel together in one
//! repartition record, so they are taken or skipped together.

use serde::{Deserialize, Serialize};

use crate::state::{KeyGroup, Offsets, RestoreError, KEY_GROUPS};
use crate::value::Value;

/// A record for the repartition topic (the partition is chosen here): the partition it
/// goes to, its value and its time (the latest of its rows). An aggregation's records have
/// no key and hold `Vec<ExchangedRow>` in postcard; a join's have the side's input as a
/// one-byte key and hold `Vec<RoutedRow>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchanged {
    /// The query's step (`Query::exchanges`) whose repartition topic the record goes to.
    pub step: u8,
    pub partition: u32,
    pub input: Option<u8>,
    pub value: Vec<u8>,
    pub timestamp: i64,
}

/// One row in a join's repartition record: a table's tombstone carries its key columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutedRow {
    pub delete: bool,
    pub row: ExchangedRow,
}

/// One row in a repartition record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExchangedRow {
    /// The record the row came from: its partition and offset in the topic its input is
    /// read from at this step (`Exchange::source_topics`).
    pub source_partition: u32,
    pub source_offset: u64,
    pub time: i64,
    pub window: Option<(i64, i64)>,
    pub row: Vec<Value>,
}

/// What a query's keyed state is, which names its repartition topic's step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Aggregate,
    /// The rows of a table whose GROUP BY follows, by the table's primary key: the engine's
    /// own step (ksqlDB keeps these rows in the source's partitions, in its
    /// `-KsqlTopic-Reduce-changelog`), named after that store.
    SourceTable,
    /// A join, with the number of joins after it: ksqlDB names the steps of a multi-way
    /// join by their place in its nested plan, each join the left (`L_`) of the next.
    Join {
        later: usize,
    },
    /// One side of a two-way join re-keyed by its join key (its input's place, 0 for the
    /// left) into the partition of the other side's topic that holds the key: Kafka
    /// Streams names such a topic after the join and the side (`Join-left-repartition`).
    JoinSide(usize),
    /// One of the three steps of a foreign-key join.
    ForeignKey(ForeignKeyStep),
}

/// The steps of a foreign-key join (`ops::foreign_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignKeyStep {
    /// The left table's rows by their primary key: the engine's own step (ksqlDB reads them
    /// in the left topic's partitions), named as the table's source store is.
    Left,
    /// Subscriptions and the right table's rows by the foreign key: Kafka Streams'
    /// subscription registration topic.
    Subscription,
    /// The answers by the left primary key: Kafka Streams' subscription response topic.
    Response,
}

impl ForeignKeyStep {
    /// The step an operator of a foreign-key join keys.
    pub fn of(operator: &str) -> Option<ForeignKeyStep> {
        match operator {
            "foreign_key_subscribe" => Some(ForeignKeyStep::Left),
            "foreign_key_join" => Some(ForeignKeyStep::Subscription),
            "foreign_key_latest" => Some(ForeignKeyStep::Response),
            _ => None,
        }
    }
}

/// ksqlDB's name for a query's repartition topic: the service id, `query_`, the query id,
/// then the step (an aggregation's GROUP BY, or the join its stream is re-keyed for).
pub fn repartition_topic(service_id: &str, query_id: &str, step: Step) -> String {
    let step = match step {
        Step::Aggregate => "Aggregate-GroupBy-repartition".to_string(),
        Step::SourceTable | Step::ForeignKey(ForeignKeyStep::Left) => {
            "KsqlTopic-Reduce-repartition".to_string()
        }
        Step::Join { later } => format!("{}Join-repartition", "L_".repeat(later)),
        Step::JoinSide(0) => "Join-left-repartition".to_string(),
        Step::JoinSide(_) => "Join-right-repartition".to_string(),
        // Kafka Streams numbers these after the processor that makes them; the engine's
        // topology has no such numbers.
        Step::ForeignKey(ForeignKeyStep::Subscription) => {
            "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-topic".to_string()
        }
        Step::ForeignKey(ForeignKeyStep::Response) => {
            "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-topic".to_string()
        }
    };
    format!("_confluent-ksql-{service_id}query_{query_id}-{step}")
}

/// The repartition partition that owns a key group: key groups spread evenly over the
/// partitions, so the state of one partition is exactly the key groups it owns.
pub fn owner(group: KeyGroup, partitions: u32) -> u32 {
    u32::from(group) % partitions.max(1)
}

/// Where a query's rows cross to one of its keyed steps: from its first stage (decoding,
/// filters, projections) or from the step before.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The operators of the step: the keyed one, then those up to the next step's.
    pub ops: std::ops::Range<usize>,
    pub topic: String,
    pub partitions: u32,
    /// By input, the topic its rows are read from before they come here: the source's
    /// topic, or the previous step's repartition topic; for a local step, the topic its
    /// rows are read from here (a re-keyed side's own repartition topic).
    pub source_topics: Vec<String>,
    /// By input, the topic whose records the rows name (`ExchangedRow::source_offset`),
    /// which `seen` is kept under: `source_topics`, except for a re-keyed side of a local
    /// step, whose rows name its source's records.
    seen_topics: Vec<String>,
    /// Per repartition partition, the next input offset per input partition it has taken.
    seen: std::collections::BTreeMap<u32, Offsets>,
    /// Repartition partitions whose state changed since their last checkpoint.
    dirty: std::collections::BTreeSet<u32>,
    /// Set for a step that reads its input's own partitions (an aggregation grouped by its
    /// stream's message key, ksqlDB's groupByKey): `topic` is the input's, no repartition
    /// topic is made, and each partition's state is a task of its own
    /// (`PersistentQuery::tasks`).
    pub local: bool,
}

impl Exchange {
    pub fn new(
        ops: std::ops::Range<usize>,
        topic: String,
        partitions: u32,
        source_topics: Vec<String>,
    ) -> Exchange {
        Exchange {
            ops,
            topic,
            partitions: partitions.max(1),
            seen_topics: source_topics.clone(),
            source_topics,
            seen: Default::default(),
            dirty: Default::default(),
            local: false,
        }
    }

    /// A step over the partitions of its inputs' topics themselves: `read` by input, the
    /// topic each is read from here, the source's own or, for a side re-keyed by its join
    /// key, its repartition topic; `sources` the sources' topics. The first input read in
    /// place names the step (and its checkpoints, which a repartition topic's of an earlier
    /// version then cannot pass for).
    pub fn local(
        ops: std::ops::Range<usize>,
        read: Vec<String>,
        sources: Vec<String>,
        partitions: u32,
    ) -> Exchange {
        let topic = read
            .iter()
            .zip(&sources)
            .find(|(read, source)| read == source)
            .or(read.iter().zip(&sources).next())
            .map(|(read, _)| read.clone())
            .unwrap_or_default();
        Exchange {
            local: true,
            seen_topics: sources,
            ..Exchange::new(ops, topic, partitions, read)
        }
    }

    /// The topic an exchanged record of input `input` goes to: a local step's re-keyed
    /// side has its own.
    pub fn topic_for(&self, input: Option<u8>) -> &str {
        match input {
            Some(input) if self.local => self
                .source_topics
                .get(usize::from(input))
                .unwrap_or(&self.topic),
            _ => &self.topic,
        }
    }

    /// The topic whose records input `input`'s rows name.
    pub fn origin_topic(&self, input: usize) -> Option<&String> {
        self.seen_topics.get(input)
    }

    /// True when input `input` is read through a repartition topic of a local step.
    pub fn rekeys(&self, input: usize) -> bool {
        self.local && self.source_topics.get(input) != self.seen_topics.get(input)
    }

    /// Notes that a local step's partition took records, so its state changed.
    pub fn touched(&mut self, partition: u32) {
        self.dirty.insert(partition);
    }

    pub fn owner(&self, group: KeyGroup) -> u32 {
        owner(group, self.partitions)
    }

    /// True when partition `partition` already took this record of input `input`.
    pub fn already_taken(&self, partition: u32, input: usize, row: &ExchangedRow) -> bool {
        let Some(topic) = self.seen_topics.get(input) else {
            return false;
        };
        self.seen
            .get(&partition)
            .and_then(|seen| seen.get(topic, row.source_partition))
            .is_some_and(|next| row.source_offset < next)
    }

    pub fn take(&mut self, partition: u32, input: usize, row: &ExchangedRow) {
        let Some(topic) = self.seen_topics.get(input) else {
            return;
        };
        self.seen.entry(partition).or_default().set(
            topic,
            row.source_partition,
            row.source_offset + 1,
        );
        self.dirty.insert(partition);
    }

    pub fn dirty(&self) -> &std::collections::BTreeSet<u32> {
        &self.dirty
    }

    pub fn saved(&mut self) {
        self.dirty.clear();
    }

    pub fn seen(&self, partition: u32) -> Offsets {
        self.seen.get(&partition).cloned().unwrap_or_default()
    }

    pub fn set_seen(&mut self, partition: u32, seen: Offsets) {
        self.seen.insert(partition, seen);
    }

    pub fn forget(&mut self, partition: u32) {
        self.seen.remove(&partition);
        self.dirty.remove(&partition);
    }

    /// The key groups `partition` owns.
    pub fn groups_of(&self, partition: u32) -> impl Fn(KeyGroup) -> bool {
        let partitions = self.partitions;
        move |group| owner(group, partitions) == partition
    }
}

/// What a repartition partition's checkpoint starts with.
const PARTITION_MAGIC: &[u8] = b"advisor-engine partition snapshot 1\n";

/// One repartition partition's checkpoint: the second stage's state for the key groups the
/// partition owns, the next offset of the partition it reflects, and what the partition has
/// taken of each input partition.
#[derive(Debug, Serialize, Deserialize)]
pub struct PartitionSnapshot {
    pub topic: String,
    pub partition: u32,
    pub partitions: u32,
    pub next_offset: Option<u64>,
    /// What the partition has taken of each input partition; for a local step (`topic` its
    /// first input), the next offset of the same partition of each other input.
    pub seen: Offsets,
    /// Per operator of the second stage, its state by key group.
    pub operators: Vec<crate::ops::GroupSnapshot>,
}

impl PartitionSnapshot {
    /// Where the state this checkpoint holds goes on in `topic`'s partition of its number:
    /// `next_offset` for its own topic, else what a local step noted of its other inputs.
    pub fn next_offset_of(&self, topic: &str) -> Option<u64> {
        if topic == self.topic {
            self.next_offset
        } else {
            self.seen.get(topic, self.partition)
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, RestoreError> {
        postcard::to_io(self, PARTITION_MAGIC.to_vec())
            .map_err(|e| RestoreError(format!("cannot write a partition snapshot: {e}")))
    }

    /// Reads a partition's checkpoint back; an error for anything else, or a torn one.
    pub fn decode(bytes: &[u8]) -> Result<PartitionSnapshot, RestoreError> {
        let body = bytes.strip_prefix(PARTITION_MAGIC).ok_or_else(|| {
            RestoreError("not a partition snapshot of this engine version".into())
        })?;
        let snapshot: PartitionSnapshot = postcard::from_bytes(body)
            .map_err(|e| RestoreError(format!("the partition snapshot does not read back: {e}")))?;
        if snapshot.partitions == 0 || u32::from(KEY_GROUPS) < snapshot.partitions {
            return Err(RestoreError(format!(
                "the partition snapshot says {} partitions; the engine splits state over 1 to {KEY_GROUPS}",
                snapshot.partitions
            )));
        }
        Ok(snapshot)
    }
}

/// A repartition partition's checkpoint as `Query::partition_snapshots` writes it.
#[derive(Debug, Clone)]
pub struct SavedPartition {
    /// The query's step whose repartition topic the partition is of.
    pub step: usize,
    pub partition: u32,
    pub bytes: Vec<u8>,
}

/// The checkpoint unit of one repartition partition of a query's step: the first step's
/// keeps the name it had when a query had one step at most.
pub fn unit_name(query_id: &str, step: usize, partition: u32) -> String {
    match step {
        0 => format!("{query_id}/partition-{partition}"),
        _ => format!("{query_id}/step-{step}/partition-{partition}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_re_keyed_join_side_is_named_after_its_side_as_kafka_streams_names_it() {
        assert_eq!(
            repartition_topic("default_", "CSAS_SHIPPED_ORDERS_3", Step::JoinSide(1)),
            "_confluent-ksql-default_query_CSAS_SHIPPED_ORDERS_3-Join-right-repartition"
        );
        assert_eq!(
            repartition_topic("default_", "CSAS_ENRICHED_0", Step::JoinSide(0)),
            "_confluent-ksql-default_query_CSAS_ENRICHED_0-Join-left-repartition"
        );
    }

    #[test]
    fn key_groups_spread_evenly_over_the_partitions() {
        let mut counts = [0u32; 3];
        for group in 0..KEY_GROUPS {
            counts[owner(group, 3) as usize] += 1;
        }
        assert_eq!(counts, [43, 43, 42]);
    }

    #[test]
    fn a_partition_snapshot_reads_back_and_a_torn_one_does_not() {
        let snapshot = PartitionSnapshot {
            topic: repartition_topic("default_", "CTAS_T_1", Step::Aggregate),
            partition: 2,
            partitions: 3,
            next_offset: Some(41),
            seen: Offsets::new(),
            operators: vec![Default::default()],
        };
        let bytes = snapshot.encode().unwrap();
        let back = PartitionSnapshot::decode(&bytes).unwrap();
        assert_eq!(
            back.topic,
            "_confluent-ksql-default_query_CTAS_T_1-Aggregate-GroupBy-repartition"
        );
        assert_eq!((back.partition, back.next_offset), (2, Some(41)));
        assert!(PartitionSnapshot::decode(&bytes[..bytes.len() - 3]).is_err());
        assert!(PartitionSnapshot::decode(b"something else").is_err());
    }

    #[test]
    fn a_replayed_input_record_is_taken_once_per_partition() {
        let mut exchange = Exchange::new(
            1..2,
            "r".into(),
            3,
            vec!["orders".into(), "customers".into()],
        );
        let row = |offset| ExchangedRow {
            source_partition: 0,
            source_offset: offset,
            time: 0,
            window: None,
            row: vec![],
        };
        assert!(!exchange.already_taken(1, 0, &row(5)));
        exchange.take(1, 0, &row(5));
        assert!(exchange.already_taken(1, 0, &row(5)));
        assert!(exchange.already_taken(1, 0, &row(4)));
        assert!(!exchange.already_taken(1, 0, &row(6)));
        assert!(!exchange.already_taken(2, 0, &row(5)));
        // The other input's partition 0 is another record altogether.
        assert!(!exchange.already_taken(1, 1, &row(5)));
        exchange.forget(1);
        assert!(!exchange.already_taken(1, 0, &row(5)));
    }

    #[test]
    fn a_join_repartition_topic_is_named_as_ksqldb_names_it() {
        assert_eq!(
            repartition_topic("default_", "CSAS_ENRICHED_3", Step::Join { later: 0 }),
            "_confluent-ksql-default_query_CSAS_ENRICHED_3-Join-repartition"
        );
        // ksqlDB's three-way join of orders, customers and items has these two.
        assert_eq!(
            repartition_topic(
                "default_",
                "CSAS_ORDERS_ENRICHED_5",
                Step::Join { later: 1 }
            ),
            "_confluent-ksql-default_query_CSAS_ORDERS_ENRICHED_5-L_Join-repartition"
        );
        assert_eq!(unit_name("CSAS_R_1", 0, 2), "CSAS_R_1/partition-2");
        assert_eq!(unit_name("CSAS_R_1", 1, 2), "CSAS_R_1/step-1/partition-2");
    }
}
