//! How much memory a query's state holds, for the per-query state budget
//! (`--state-budget`). A live count would cost every update a few instructions on the hot
//! path; instead the state is measured at most once a second. Figures are estimates: they
//! count what each structure owns (its own slots and everything reached from them) as the
//! standard collections lay it out, not the allocator's rounding. A large collection is
//! measured from a sample of its entries: reaching every entry's heap would cost a cache
//! miss each, a tenth of a second a second for a million open windows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::mem::size_of;

use crate::aggregate::Acc;
use crate::state::{StateKey, StateTable};
use crate::value::{Text, Value};

/// Bytes a value owns on the heap, beyond its own size.
pub trait HeapBytes {
    fn heap_bytes(&self) -> usize;
}

/// A B-tree's nodes hold up to eleven entries and are about two thirds full: each entry
/// costs half as much again as itself, plus the nodes' links.
fn btree_entry<T>() -> usize {
    size_of::<T>() * 3 / 2 + 8
}

/// A hash table's slots with their control byte each.
fn hash_slots<T>(capacity: usize) -> usize {
    capacity * (size_of::<T>() + 1)
}

/// Entries measured in a large collection; beyond it, the rest are taken to own as much
/// on average as those measured. Entries that own from one to eight times as much as each
/// other put the estimate within 1% (one standard deviation) at this size, where 512 missed
/// by over 5% in about one run in a hundred.
const SAMPLE: usize = 4096;

/// What the entries of a collection of `len` own, measured over at most `SAMPLE` of them
/// (the first the iterator gives: hash tables give them in hash order, which is as good as
/// random).
fn entries_heap<T>(
    len: usize,
    entries: impl Iterator<Item = T>,
    owns: impl Fn(T) -> usize,
) -> usize {
    if len <= SAMPLE {
        return entries.map(owns).sum();
    }
    let sampled: usize = entries.take(SAMPLE).map(owns).sum();
    (sampled as f64 * len as f64 / SAMPLE as f64) as usize
}

macro_rules! owns_nothing {
    ($($t:ty),*) => {
        $(impl HeapBytes for $t {
            fn heap_bytes(&self) -> usize {
                0
            }
        })*
    };
}

owns_nothing!(bool, u8, u32, u64, i32, i64, f64, usize);

impl HeapBytes for Text {
    fn heap_bytes(&self) -> usize {
        if self.is_heap_allocated() {
            self.capacity()
        } else {
            0
        }
    }
}

impl HeapBytes for Value {
    fn heap_bytes(&self) -> usize {
        match self {
            Value::String(text) => text.heap_bytes(),
            Value::Array(items) => items.heap_bytes(),
            Value::Decimal(_) => size_of::<crate::decimal::Decimal>(),
            Value::Bytes(bytes) => bytes.capacity(),
            Value::Map(entries) | Value::Struct(entries) => entries.heap_bytes(),
            Value::Null
            | Value::Boolean(_)
            | Value::Integer(_)
            | Value::Double(_)
            | Value::Date(_)
            | Value::Time(_)
            | Value::Timestamp(_) => 0,
        }
    }
}

impl HeapBytes for Acc {
    fn heap_bytes(&self) -> usize {
        match self {
            Acc::Count(_)
            | Acc::SumInt(_)
            | Acc::SumDouble(_)
            | Acc::Empty
            | Acc::Int(_)
            | Acc::Double(_) => 0,
            Acc::Other(value) => value.heap_bytes(),
            Acc::Avg(average) => size_of_val(&**average),
            Acc::Distinct(set) => set.heap_bytes(),
            Acc::Many(items) => items.heap_bytes(),
        }
    }
}

impl HeapBytes for StateKey {
    fn heap_bytes(&self) -> usize {
        match self {
            StateKey::Inline { .. } => 0,
            StateKey::Heap(bytes) => bytes.len(),
        }
    }
}

impl<T: HeapBytes> HeapBytes for Vec<T> {
    fn heap_bytes(&self) -> usize {
        self.capacity() * size_of::<T>() + entries_heap(self.len(), self.iter(), T::heap_bytes)
    }
}

impl<T: HeapBytes> HeapBytes for Box<[T]> {
    fn heap_bytes(&self) -> usize {
        self.len() * size_of::<T>() + entries_heap(self.len(), self.iter(), T::heap_bytes)
    }
}

impl<T: HeapBytes> HeapBytes for Box<T> {
    fn heap_bytes(&self) -> usize {
        size_of::<T>() + (**self).heap_bytes()
    }
}

impl<T: HeapBytes> HeapBytes for VecDeque<T> {
    fn heap_bytes(&self) -> usize {
        self.capacity() * size_of::<T>() + entries_heap(self.len(), self.iter(), T::heap_bytes)
    }
}

impl<T: HeapBytes> HeapBytes for Option<T> {
    fn heap_bytes(&self) -> usize {
        self.as_ref().map_or(0, T::heap_bytes)
    }
}

impl<A: HeapBytes, B: HeapBytes> HeapBytes for (A, B) {
    fn heap_bytes(&self) -> usize {
        self.0.heap_bytes() + self.1.heap_bytes()
    }
}

impl<A: HeapBytes, B: HeapBytes, C: HeapBytes> HeapBytes for (A, B, C) {
    fn heap_bytes(&self) -> usize {
        self.0.heap_bytes() + self.1.heap_bytes() + self.2.heap_bytes()
    }
}

impl<K: HeapBytes, V: HeapBytes, S> HeapBytes for HashMap<K, V, S> {
    fn heap_bytes(&self) -> usize {
        hash_slots::<(K, V)>(self.capacity())
            + entries_heap(self.len(), self.iter(), |(k, v)| {
                k.heap_bytes() + v.heap_bytes()
            })
    }
}

impl<K: HeapBytes, S> HeapBytes for HashSet<K, S> {
    fn heap_bytes(&self) -> usize {
        hash_slots::<K>(self.capacity()) + entries_heap(self.len(), self.iter(), K::heap_bytes)
    }
}

impl<K: HeapBytes, V: HeapBytes> HeapBytes for BTreeMap<K, V> {
    fn heap_bytes(&self) -> usize {
        self.len() * btree_entry::<(K, V)>()
            + entries_heap(self.len(), self.iter(), |(k, v)| {
                k.heap_bytes() + v.heap_bytes()
            })
    }
}

impl<K: HeapBytes> HeapBytes for BTreeSet<K> {
    fn heap_bytes(&self) -> usize {
        self.len() * btree_entry::<K>() + entries_heap(self.len(), self.iter(), K::heap_bytes)
    }
}

impl<V: HeapBytes> HeapBytes for StateTable<V> {
    fn heap_bytes(&self) -> usize {
        self.slot_capacity() * size_of::<Option<(StateKey, V)>>()
            + entries_heap(self.len(), self.iter(), |(k, v)| {
                k.heap_bytes() + v.heap_bytes()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_count_only_past_their_inline_room() {
        assert_eq!(Value::String("short".into()).heap_bytes(), 0);
        let long = "x".repeat(100);
        assert!(Value::String(long.as_str().into()).heap_bytes() >= 100);
        assert_eq!(Value::Integer(7).heap_bytes(), 0);
    }

    #[test]
    fn nested_values_count_every_level() {
        let inner = Value::Array(vec![Value::Integer(1); 10]);
        let outer = Value::Array(vec![inner.clone(), inner.clone()]);
        assert!(outer.heap_bytes() >= 2 * inner.heap_bytes() + 2 * size_of::<Value>());
        assert!(inner.heap_bytes() >= 10 * size_of::<Value>());
    }

    #[test]
    fn a_state_table_counts_its_slots_and_what_they_own() {
        let mut table: StateTable<Vec<Value>> = StateTable::default();
        let empty = table.heap_bytes();
        for i in 0..1000u32 {
            let key = format!("key-{i:040}");
            table.insert(
                StateKey::new(key.as_bytes()),
                vec![Value::Integer(i.into()); 4],
            );
        }
        let full = table.heap_bytes();
        // Each entry owns at least its long key and four values.
        assert!(full - empty >= 1000 * (44 + 4 * size_of::<Value>()));
    }

    #[test]
    fn a_large_table_is_measured_from_a_sample_within_a_few_percent() {
        let mut table: StateTable<Vec<Value>> = StateTable::default();
        let mut exact = 0;
        for i in 0..100_000u32 {
            // Lists of 1 to 8 values: entries own different amounts.
            let list = vec![Value::Integer(i.into()); 1 + (i % 8) as usize];
            exact += list.heap_bytes();
            table.insert(StateKey::new(&i.to_be_bytes()), list);
        }
        let slots = table.slot_capacity() * size_of::<Option<(StateKey, Vec<Value>)>>();
        let estimate = table.heap_bytes() - slots;
        let error = (estimate as f64 - exact as f64).abs() / exact as f64;
        assert!(error < 0.05, "estimate {estimate}, exact {exact}");
    }
}
