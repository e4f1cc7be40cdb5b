//! Operator state, kept per input partition behind one interface, snapshotted together with
//! the offset it reflects. Checkpoints (S3) and scale-out move whole partitions.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
#[error("cannot restore state: {0}")]
pub struct RestoreError(String);

/// One partition's state and the next input offset it has not yet seen.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Slot<S> {
    pub state: S,
    pub next_offset: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Partitioned<S> {
    slots: BTreeMap<u32, Slot<S>>,
}

impl<S: Default + Serialize + DeserializeOwned> Partitioned<S> {
    pub fn slot(&mut self, partition: u32) -> &mut Slot<S> {
        self.slots.entry(partition).or_default()
    }

    pub fn partitions(&self) -> impl Iterator<Item = (&u32, &Slot<S>)> {
        self.slots.iter()
    }

    /// Bytes for one partition, offset included.
    pub fn snapshot(&self, partition: u32) -> Option<Vec<u8>> {
        self.slots
            .get(&partition)
            .and_then(|slot| serde_json::to_vec(slot).ok())
    }

    /// Puts back a partition's state from a snapshot; processing resumes at its offset.
    pub fn restore(&mut self, partition: u32, bytes: &[u8]) -> Result<u64, RestoreError> {
        let slot: Slot<S> =
            serde_json::from_slice(bytes).map_err(|e| RestoreError(e.to_string()))?;
        let offset = slot.next_offset;
        self.slots.insert(partition, slot);
        Ok(offset)
    }

    /// Drops a partition handed to another worker.
    pub fn release(&mut self, partition: u32) -> Option<Slot<S>> {
        self.slots.remove(&partition)
    }
}
