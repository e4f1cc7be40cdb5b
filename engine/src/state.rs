//! Operator state: byte keys, the state table, and key groups.
//!
//! A key group is what moves between instances and what a checkpoint holds: the hash of a
//! state key's group bytes picks one of `KEY_GROUPS`. Aggregations split their state by
//! the GROUP BY key (the partition a repartition topic would route the key to), not by
//! input partition: one customer's events may arrive on several input partitions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
#[error("cannot restore state: {0}")]
pub struct RestoreError(pub String);

/// One of `KEY_GROUPS` slices of an operator's keyed state.
pub type KeyGroup = u16;

/// As many key groups as Flink's default maximum parallelism: enough to spread state over
/// as many instances as a query will run on.
pub const KEY_GROUPS: u16 = 128;

/// The key group of a key's group bytes (without any window suffix). Kafka's murmur2, so
/// the assignment never changes between versions or machines.
pub fn key_group(group_bytes: &[u8]) -> KeyGroup {
    (murmur2(group_bytes) & 0x7fff_ffff) as u16 % KEY_GROUPS
}

/// The partition Kafka's default partitioner (the Java client's, and librdkafka's
/// `murmur2_random`) gives a record with these key bytes.
pub fn default_partition(key: &[u8], partitions: u32) -> u32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// Kafka's murmur2 (the Java client's `Utils.murmur2`, seed 0x9747b28c).
pub fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// Next input offset per topic and partition: what a query's state already holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offsets(BTreeMap<String, BTreeMap<u32, u64>>);

impl Offsets {
    pub fn new() -> Offsets {
        Offsets::default()
    }

    pub fn get(&self, topic: &str, partition: u32) -> Option<u64> {
        self.0.get(topic)?.get(&partition).copied()
    }

    pub fn set(&mut self, topic: &str, partition: u32, next: u64) {
        match self.0.get_mut(topic) {
            Some(partitions) => {
                partitions.insert(partition, next);
            }
            None => {
                self.0
                    .insert(topic.to_string(), BTreeMap::from([(partition, next)]));
            }
        }
    }

    pub fn remove(&mut self, topic: &str, partition: u32) {
        if let Some(partitions) = self.0.get_mut(topic) {
            partitions.remove(&partition);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u32, u64)> {
        self.0.iter().flat_map(|(topic, partitions)| {
            partitions
                .iter()
                .map(move |(partition, next)| (topic.as_str(), *partition, *next))
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.values().all(BTreeMap::is_empty)
    }
}

/// The byte key of a state entry (an aggregation's group bytes, then its window start).
/// Keys of up to 23 bytes, which most are (a short string key and a window start), sit
/// inline in the table slot: a lookup then reads no memory beyond the slot, and a million
/// keys cost no allocation each. Longer keys go to the heap.
#[derive(Clone, Eq)]
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

/// Inline keys compare as three words (their unused bytes are zero), not through memcmp.
impl PartialEq for StateKey {
    fn eq(&self, other: &StateKey) -> bool {
        match (self, other) {
            (
                StateKey::Inline { len, bytes },
                StateKey::Inline {
                    len: other_len,
                    bytes: other_bytes,
                },
            ) => {
                let word = |b: &[u8; INLINE_KEY_BYTES], at: usize| {
                    let mut chunk = [0u8; 8];
                    chunk.copy_from_slice(&b[at..at + 8]);
                    u64::from_le_bytes(chunk)
                };
                len == other_len
                    && word(bytes, 0) == word(other_bytes, 0)
                    && word(bytes, 8) == word(other_bytes, 8)
                    && word(bytes, 15) == word(other_bytes, 15)
            }
            (StateKey::Heap(a), StateKey::Heap(b)) => a == b,
            _ => false,
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
    fn murmur2_is_kafkas_and_places_keys_as_its_default_partitioner() {
        // Kafka's own UtilsTest values, Java's signed ints.
        for (key, java) in [
            ("21", -973_932_308i32),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("abc", 479_470_107),
        ] {
            assert_eq!(murmur2(key.as_bytes()) as i32, java, "{key}");
            assert_eq!(
                default_partition(key.as_bytes(), 7),
                (java & 0x7fff_ffff) as u32 % 7
            );
        }
    }

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

/// State entries by key: open addressing with linear probing, each key inline in its slot
/// next to its value. A lookup usually reads a single cache line (no control bytes, no key
/// on the heap), and `prefetch` lets a caller start that read while it works on something
/// else: with a hundred thousand groups the table is far bigger than the caches, and
/// waiting for memory was the largest single cost of an update.
#[derive(Clone)]
pub struct StateTable<V> {
    /// A power of two long, at most three quarters full.
    slots: Vec<Option<(StateKey, V)>>,
    len: usize,
    hasher: foldhash::fast::RandomState,
}

impl<V> Default for StateTable<V> {
    fn default() -> StateTable<V> {
        StateTable {
            slots: Vec::new(),
            len: 0,
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl<V> StateTable<V> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn hash(&self, key: &[u8]) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(key)
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    fn home(&self, hash: u64) -> usize {
        hash as usize & self.mask()
    }

    /// Starts reading the slot where a key of this hash would be, so that a lookup a little
    /// later finds it in cache. Only a hint: it changes nothing.
    pub fn prefetch(&self, hash: u64) {
        if let Some(slot) = self.slots.get(self.home(hash)) {
            prefetch_read(slot);
        }
    }

    fn find(&self, key: &StateKey, hash: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut at = self.home(hash);
        loop {
            match &self.slots[at] {
                None => return None,
                Some((held, _)) if held == key => return Some(at),
                Some(_) => at = (at + 1) & mask,
            }
        }
    }

    pub fn get(&self, key: &StateKey, hash: u64) -> Option<&V> {
        let at = self.find(key, hash)?;
        self.slots[at].as_ref().map(|(_, value)| value)
    }

    pub fn get_mut(&mut self, key: &StateKey, hash: u64) -> Option<&mut V> {
        let at = self.find(key, hash)?;
        self.slots[at].as_mut().map(|(_, value)| value)
    }

    /// The value for `key`, made by `make` when the key is new.
    pub fn get_or_insert_with(
        &mut self,
        key: &StateKey,
        hash: u64,
        make: impl FnOnce() -> V,
    ) -> &mut V {
        let at = match self.find(key, hash) {
            Some(at) => at,
            None => self.insert_new(key.clone(), hash, make()),
        };
        match &mut self.slots[at] {
            Some((_, value)) => value,
            // `find` and `insert_new` both return a filled slot.
            None => unreachable!("a found or inserted slot is filled"),
        }
    }

    /// Puts a key that is not in the table; returns its slot.
    fn insert_new(&mut self, key: StateKey, hash: u64, value: V) -> usize {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.mask();
        let mut at = self.home(hash);
        while self.slots[at].is_some() {
            at = (at + 1) & mask;
        }
        self.slots[at] = Some((key, value));
        self.len += 1;
        at
    }

    /// Takes a key's value out of the table.
    pub fn remove(&mut self, key: &StateKey, hash: u64) -> Option<V> {
        let at = self.find(key, hash)?;
        // `remove_at` never reads the slot it empties, only the run after it.
        let taken = self.slots[at].take().map(|(_, value)| value);
        self.remove_at(at);
        taken
    }

    pub fn insert(&mut self, key: StateKey, value: V) {
        let hash = self.hash(key.as_bytes());
        match self.get_mut(&key, hash) {
            Some(held) => *held = value,
            None => {
                self.insert_new(key, hash, value);
            }
        }
    }

    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(16);
        let old = std::mem::take(&mut self.slots);
        self.slots.resize_with(capacity, || None);
        let mask = self.mask();
        for (key, value) in old.into_iter().flatten() {
            let mut at = self.home(self.hash(key.as_bytes()));
            while self.slots[at].is_some() {
                at = (at + 1) & mask;
            }
            self.slots[at] = Some((key, value));
        }
    }

    /// Keeps the entries `keep` says yes to, in place.
    pub fn retain(&mut self, mut keep: impl FnMut(&StateKey, &mut V) -> bool) {
        let Some(start) = self.slots.iter().position(Option::is_none) else {
            return;
        };
        // Going round from an empty slot, no run of filled slots is cut in two, so a
        // removal only pulls entries back into the slot being looked at.
        let mask = self.mask();
        let mut step = 1;
        while step < self.slots.len() {
            let at = (start + step) & mask;
            let kept = match &mut self.slots[at] {
                None => true,
                Some((key, value)) => keep(key, value),
            };
            if kept {
                step += 1;
            } else {
                self.remove_at(at);
            }
        }
    }

    /// Empties a slot, moving later entries of its run back so every entry stays reachable
    /// from its home slot.
    fn remove_at(&mut self, at: usize) {
        let mask = self.mask();
        let mut hole = at;
        let mut next = at;
        loop {
            next = (next + 1) & mask;
            let home = match &self.slots[next] {
                None => break,
                Some((key, _)) => self.home(self.hash(key.as_bytes())),
            };
            // The entry may fill the hole unless its home lies after the hole, up to it.
            let home_distance = home.wrapping_sub(hole) & mask;
            let distance = next.wrapping_sub(hole) & mask;
            if home_distance == 0 || home_distance > distance {
                self.slots[hole] = self.slots[next].take();
                hole = next;
            }
        }
        self.slots[hole] = None;
        self.len -= 1;
    }

    /// Takes every entry out, leaving the table empty.
    pub fn drain(&mut self) -> impl Iterator<Item = (StateKey, V)> {
        self.len = 0;
        std::mem::take(&mut self.slots).into_iter().flatten()
    }

    /// How many entries the table has room for before it grows again, full or empty.
    pub fn slot_capacity(&self) -> usize {
        self.slots.capacity()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&StateKey, &V)> {
        self.slots
            .iter()
            .filter_map(|slot| slot.as_ref().map(|(key, value)| (key, value)))
    }
}

#[cfg(target_arch = "x86_64")]
fn prefetch_read<T>(value: &T) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: a prefetch is a hint that never faults and changes no memory; the address
    // is that of a live reference besides.
    unsafe { _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast::<i8>()) }
}

#[cfg(not(target_arch = "x86_64"))]
fn prefetch_read<T>(_: &T) {}

impl<V: std::fmt::Debug> std::fmt::Debug for StateTable<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Saved as a list of key and value pairs, as the map before it was.
impl<V: Serialize> Serialize for StateTable<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.len))?;
        for pair in self.iter() {
            seq.serialize_element(&pair)?;
        }
        seq.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for StateTable<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StateTable<V>, D::Error> {
        let pairs: Vec<(StateKey, V)> = Vec::deserialize(d)?;
        let mut table = StateTable::default();
        for (key, value) in pairs {
            table.insert(key, value);
        }
        Ok(table)
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;
    use std::collections::HashMap;

    fn key(i: u64) -> StateKey {
        // Short and long keys alike.
        if i.is_multiple_of(5) {
            StateKey::new(format!("a long key that goes to the heap {i}").as_bytes())
        } else {
            StateKey::new(&i.to_be_bytes())
        }
    }

    /// The table against the standard map, through growth, updates and removals.
    #[test]
    fn the_table_keeps_what_a_map_keeps() {
        let mut table: StateTable<u64> = StateTable::default();
        let mut map: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut seed = 7u64;
        for round in 0..20_000u64 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = key((seed >> 33) % 3_000);
            let hash = table.hash(k.as_bytes());
            *table.get_or_insert_with(&k, hash, || 0) += round;
            *map.entry(k.as_bytes().to_vec()).or_insert(0) += round;
            if round % 4_000 == 3_999 {
                let cut = round % 3;
                table.retain(|_, v| *v % 3 != cut);
                map.retain(|_, v| *v % 3 != cut);
            }
            assert_eq!(table.len(), map.len());
        }
        for (k, v) in &map {
            let hash = table.hash(k);
            assert_eq!(table.get(&StateKey::new(k), hash), Some(v));
        }
        assert_eq!(table.iter().count(), map.len());
        let absent = StateKey::new(b"absent");
        assert_eq!(table.get(&absent, table.hash(absent.as_bytes())), None);
        table.retain(|_, _| false);
        assert!(table.is_empty());
        assert_eq!(table.iter().count(), 0);
    }

    #[test]
    fn a_slot_takes_48_bytes_with_a_24_byte_value() {
        assert_eq!(std::mem::size_of::<Option<(StateKey, [u64; 3])>>(), 48);
    }

    #[test]
    fn tables_save_as_lists_of_pairs() {
        let mut table: StateTable<u32> = StateTable::default();
        table.insert(StateKey::new(b"k"), 5);
        let saved = postcard::to_allocvec(&table).unwrap();
        let pairs: Vec<(Vec<u8>, u32)> = postcard::from_bytes(&saved).unwrap();
        assert_eq!(pairs, vec![(b"k".to_vec(), 5)]);
        let back: StateTable<u32> = postcard::from_bytes(&saved).unwrap();
        assert_eq!(
            back.iter().collect::<Vec<_>>(),
            table.iter().collect::<Vec<_>>()
        );
    }
}
