//! Event-time watermarks for the operators that follow Flink SQL (OVER windows,
//! MATCH_RECOGNIZE): after each row the watermark is the largest event time seen so far,
//! less the source's watermark delay, less one millisecond, as Flink's
//! `WATERMARK FOR ts AS ts - INTERVAL ...` with a watermark after every record
//! (engine/docs/flink-semantics.md, section 1). Such operators hold a row back until the
//! watermark reaches its time; at the end of a bounded input the watermark is `i64::MAX`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    delay: i64,
    /// The largest event time seen; `None` before the first row.
    max_time: Option<i64>,
    /// The current watermark. Flink emits none at or below zero, so it starts there.
    current: i64,
}

impl Watermark {
    pub fn new(delay: i64) -> Watermark {
        Watermark {
            delay: delay.max(0),
            max_time: None,
            current: 0,
        }
    }

    pub fn current(&self) -> i64 {
        self.current
    }

    /// Notes a row's event time (after the row itself was taken in, as Flink forwards a
    /// record before the watermark it raises); true when the watermark moved on.
    pub fn observe(&mut self, time: i64) -> bool {
        let max = self.max_time.map_or(time, |m| m.max(time));
        self.max_time = Some(max);
        let candidate = max.saturating_sub(self.delay).saturating_sub(1);
        if candidate > self.current {
            self.current = candidate;
            true
        } else {
            false
        }
    }

    /// Moves the watermark to `to` (the end of input: `i64::MAX`); true when it moved.
    pub fn advance_to(&mut self, to: i64) -> bool {
        if to > self.current {
            self.current = to;
            true
        } else {
            false
        }
    }

    /// Takes the later of two watermarks (restoring key groups saved apart).
    pub fn merge(&mut self, other: &Watermark) {
        self.max_time = match (self.max_time, other.max_time) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.current = self.current.max(other.current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_trails_the_newest_time_by_the_delay_and_a_millisecond() {
        let mut watermark = Watermark::new(2000);
        assert!(!watermark.observe(1500), "no watermark at or below zero");
        assert_eq!(watermark.current(), 0);
        assert!(watermark.observe(5000));
        assert_eq!(watermark.current(), 2999);
        assert!(!watermark.observe(4000), "an older row moves nothing");
        assert_eq!(watermark.current(), 2999);
        assert!(watermark.advance_to(i64::MAX));
        let mut none = Watermark::new(0);
        none.observe(1000);
        assert_eq!(
            none.current(),
            999,
            "rows at the newest time wait for a later one"
        );
    }
}
