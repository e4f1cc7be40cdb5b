//! Operator state, split into partitions behind one interface. A query's state is
//! snapshotted together with the input offsets it reflects; checkpoints (S3) and scale-out
//! move whole partitions.
//!
//! Aggregations partition their state by the GROUP BY key (the partition a repartition topic
//! would route the key to), not by input partition: one customer's events may arrive on
//! several input partitions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
#[error("cannot restore state: {0}")]
pub struct RestoreError(pub String);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Partitioned<S> {
    partitions: BTreeMap<u32, S>,
}

impl<S: Default> Partitioned<S> {
    pub fn partition(&mut self, partition: u32) -> &mut S {
        self.partitions.entry(partition).or_default()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&u32, &S)> {
        self.partitions.iter()
    }

    /// Drops a partition handed to another worker.
    pub fn release(&mut self, partition: u32) -> Option<S> {
        self.partitions.remove(&partition)
    }
}

/// Next input offset per input partition: what the state already holds.
pub type Offsets = BTreeMap<u32, u64>;
