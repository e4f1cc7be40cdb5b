//! A binary heap that behaves exactly as `java.util.PriorityQueue` (JDK 17) does: the same
//! sift-up on offer, sift-down on poll, array order for iteration, and compaction then
//! heapify for bulk removal. Flink's NFA keeps its partial and completed matches in such
//! queues ordered only by the row a match started at, so many entries tie; which of two
//! tied matches is emitted first, and in which order tied partial matches see the next row,
//! is whatever Java's heap layout gives. Reproducing the layout reproduces Flink's output
//! where a plain ordered container would pick differently.

use serde::{Deserialize, Serialize};

/// What a heap entry is ordered by (smaller first).
pub trait HeapKey {
    fn heap_key(&self) -> u64;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JavaHeap<T> {
    items: Vec<T>,
}

impl<T> Default for JavaHeap<T> {
    fn default() -> Self {
        JavaHeap { items: Vec::new() }
    }
}

impl<T: crate::heap::HeapBytes> crate::heap::HeapBytes for JavaHeap<T> {
    fn heap_bytes(&self) -> usize {
        self.items.heap_bytes()
    }
}

impl<T: HeapKey> JavaHeap<T> {
    pub fn new() -> JavaHeap<T> {
        JavaHeap::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn peek(&self) -> Option<&T> {
        self.items.first()
    }

    /// The entries in array order, as Java's iterator yields them.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// Moves the entries out in array order.
    pub fn into_items(self) -> Vec<T> {
        self.items
    }

    pub fn offer(&mut self, item: T) {
        let key = item.heap_key();
        let mut k = self.items.len();
        self.items.push(item);
        // siftUpUsingComparator: move up while strictly smaller than the parent.
        while k > 0 {
            let parent = (k - 1) >> 1;
            if key >= self.items[parent].heap_key() {
                break;
            }
            self.items.swap(k, parent);
            k = parent;
        }
    }

    pub fn add_all(&mut self, items: impl IntoIterator<Item = T>) {
        for item in items {
            self.offer(item);
        }
    }

    pub fn poll(&mut self) -> Option<T> {
        if self.items.is_empty() {
            return None;
        }
        let last = self.items.len() - 1;
        self.items.swap(0, last);
        let result = self.items.pop();
        if !self.items.is_empty() {
            self.sift_down(0);
        }
        result
    }

    /// Removes every entry `remove` picks: survivors keep their array order, then the
    /// array is heapified, as `PriorityQueue.removeAll` (`bulkRemove`) does. Nothing moves
    /// when nothing is removed.
    pub fn remove_all(&mut self, mut remove: impl FnMut(&T) -> bool) -> usize {
        let Some(first) = self.items.iter().position(&mut remove) else {
            return 0;
        };
        let before = self.items.len();
        let mut at = 0;
        self.items.retain(|item| {
            let keep = at < first || (at != first && !remove(item));
            at += 1;
            keep
        });
        self.heapify();
        before - self.items.len()
    }

    fn heapify(&mut self) {
        let n = self.items.len();
        let mut i = (n >> 1) as isize - 1;
        while i >= 0 {
            self.sift_down(i as usize);
            i -= 1;
        }
    }

    /// siftDownUsingComparator: the entry at `k` moves down while a child is strictly
    /// smaller; of two equal children the left one is taken.
    fn sift_down(&mut self, mut k: usize) {
        let n = self.items.len();
        let half = n >> 1;
        let key = self.items[k].heap_key();
        while k < half {
            let mut child = (k << 1) + 1;
            let right = child + 1;
            if right < n && self.items[child].heap_key() > self.items[right].heap_key() {
                child = right;
            }
            if key <= self.items[child].heap_key() {
                break;
            }
            self.items.swap(k, child);
            k = child;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Entry(u64, char);

    impl HeapKey for Entry {
        fn heap_key(&self) -> u64 {
            self.0
        }
    }

    fn layout(heap: &JavaHeap<Entry>) -> String {
        heap.iter().map(|e| e.1).collect()
    }

    /// Layouts and order checked against java.util.PriorityQueue on JDK 17 with the same
    /// operations, comparing the numbers only, so that the letters show where ties went.
    #[test]
    fn ties_land_where_javas_priority_queue_puts_them() {
        let mut heap = JavaHeap::new();
        for (key, name) in [(5, 'a'), (3, 'b'), (5, 'c'), (3, 'd'), (1, 'e'), (5, 'f')] {
            heap.offer(Entry(key, name));
        }
        // offer: a; b<a -> b a; c -> b a c; d(3) vs a(5) at parent 1 -> b d c a;
        // e(1) at 4, parent 1 (d) -> swap, parent 0 (b) -> swap: e b c a d; f(5) at 5,
        // parent 2 (c, 5): not smaller, stays.
        assert_eq!(layout(&heap), "ebcadf");
        assert_eq!(heap.poll(), Some(Entry(1, 'e')));
        // f moves to the root and sifts down: children b(3) and c(5): b; then children a(5)
        // and d(3): d; f ends at index 4.
        assert_eq!(layout(&heap), "bdcaf");
        heap.remove_all(|e| e.1 == 'd');
        // b c a f compacted; heapify moves nothing (no child is strictly smaller).
        assert_eq!(layout(&heap), "bcaf");
        assert_eq!(heap.remove_all(|e| e.1 == 'z'), 0);
        let order: Vec<char> = std::iter::from_fn(|| heap.poll()).map(|e| e.1).collect();
        assert_eq!(order, ['b', 'f', 'a', 'c']);
    }
}
