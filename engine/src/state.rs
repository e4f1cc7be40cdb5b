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

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&u32, &mut S)> {
        self.partitions.iter_mut()
    }

    /// Drops a partition handed to another worker.
    pub fn release(&mut self, partition: u32) -> Option<S> {
        self.partitions.remove(&partition)
    }
}

/// Next input offset per input partition: what the state already holds.
pub type Offsets = BTreeMap<u32, u64>;

/// The byte key of a state entry (an aggregation's group bytes, then its window start).
/// Keys of up to 23 bytes, which most are (a short string key and a window start), sit
/// inline in the table slot: a lookup then reads no memory beyond the slot, and a million
/// keys cost no allocation each. Longer keys go to the heap.
#[derive(Clone, PartialEq, Eq)]
pub enum StateKey {
    Inline {
        len: InlineLen,
        bytes: [u8; INLINE_KEY_BYTES],
    },
    Heap(Box<[u8]>),
}

const INLINE_KEY_BYTES: usize = 23;

/// The length of an inline key: an enum rather than a `u8`, so that the values it cannot
/// take tell the two kinds of key apart without a tag byte of their own.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum InlineLen {
    L0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
    L16,
    L17,
    L18,
    L19,
    L20,
    L21,
    L22,
    L23,
}

const INLINE_LENS: [InlineLen; INLINE_KEY_BYTES + 1] = {
    use InlineLen::*;
    [
        L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15, L16, L17, L18, L19,
        L20, L21, L22, L23,
    ]
};

impl StateKey {
    pub fn new(key: &[u8]) -> StateKey {
        match INLINE_LENS.get(key.len()) {
            Some(&len) => {
                let mut bytes = [0; INLINE_KEY_BYTES];
                bytes[..key.len()].copy_from_slice(key);
                StateKey::Inline { len, bytes }
            }
            None => StateKey::Heap(key.into()),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            StateKey::Inline { len, bytes } => &bytes[..*len as usize],
            StateKey::Heap(bytes) => bytes,
        }
    }
}

impl std::hash::Hash for StateKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

/// Lookups by the key bytes a record builds, without making a key first.
impl std::borrow::Borrow<[u8]> for StateKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialOrd for StateKey {
    fn partial_cmp(&self, other: &StateKey) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StateKey {
    fn cmp(&self, other: &StateKey) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateKey({:?})", self.as_bytes())
    }
}

/// Saved as the byte sequence a boxed key saves as, so snapshots of earlier versions load.
impl Serialize for StateKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_bytes().serialize(s)
    }
}

impl<'de> Deserialize<'de> for StateKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StateKey, D::Error> {
        let bytes = Vec::<u8>::deserialize(d)?;
        Ok(StateKey::new(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_key_takes_24_bytes_and_keeps_its_bytes() {
        assert_eq!(std::mem::size_of::<StateKey>(), 24);
        for len in [0, 1, 8, 22, 23, 24, 100] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
            let key = StateKey::new(&bytes);
            assert_eq!(key.as_bytes(), bytes.as_slice());
            assert_eq!(matches!(key, StateKey::Inline { .. }), len <= 23);
            let saved = postcard::to_allocvec(&key).unwrap();
            assert_eq!(saved, postcard::to_allocvec(&bytes).unwrap());
            let back: StateKey = postcard::from_bytes(&saved).unwrap();
            assert_eq!(back, key);
        }
    }
}
