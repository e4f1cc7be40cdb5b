//! The engine's own share of a record's latency: from its batch being handed over by the
//! source to the batch's outputs being handed to the sink (for Kafka, queued on the
//! producer), as Kafka Streams' process-latency metrics measure a task's. Broker hops and
//! the clients' waits are outside it, so beside an end-to-end figure it tells the engine's
//! part from the broker's. One engine runs per process, so the histogram is process-wide.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the histogram's buckets, in seconds (Prometheus' `le`).
const BOUNDS_SECONDS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];

pub struct ProcessLatency {
    /// Records per bucket (not cumulative), the last one past every bound.
    buckets: [AtomicU64; BOUNDS_SECONDS.len() + 1],
    sum_micros: AtomicU64,
}

pub static PROCESS_LATENCY: ProcessLatency = ProcessLatency {
    buckets: [const { AtomicU64::new(0) }; BOUNDS_SECONDS.len() + 1],
    sum_micros: AtomicU64::new(0),
};

impl ProcessLatency {
    /// Every one of the batch's `records` waited `took` for the batch to be done.
    pub fn observe(&self, took: Duration, records: usize) {
        if records == 0 {
            return;
        }
        let seconds = took.as_secs_f64();
        let bucket = BOUNDS_SECONDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BOUNDS_SECONDS.len());
        self.buckets[bucket].fetch_add(records as u64, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64 * records as u64, Ordering::Relaxed);
    }

    /// The histogram in Prometheus' text format.
    pub fn metrics_text(&self) -> String {
        let name = "advisor_engine_process_latency_seconds";
        let mut text = format!(
            "# HELP {name} Time from a record's batch being read to its outputs being handed to the output (Kafka: queued on the producer), one observation per record.\n# TYPE {name} histogram\n"
        );
        let mut cumulative = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = BOUNDS_SECONDS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |bound| bound.to_string());
            text.push_str(&format!("{name}_bucket{{le=\"{le}\"}} {cumulative}\n"));
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        text.push_str(&format!("{name}_sum {sum}\n{name}_count {cumulative}\n"));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_land_in_the_bucket_of_their_batch_and_buckets_are_cumulative() {
        let latency = ProcessLatency {
            buckets: [const { AtomicU64::new(0) }; BOUNDS_SECONDS.len() + 1],
            sum_micros: AtomicU64::new(0),
        };
        latency.observe(Duration::from_micros(300), 10);
        latency.observe(Duration::from_millis(40), 2);
        latency.observe(Duration::from_secs(3), 1);
        latency.observe(Duration::from_secs(3), 0);
        let text = latency.metrics_text();
        let count = |le: &str| -> u64 {
            let prefix = format!("advisor_engine_process_latency_seconds_bucket{{le=\"{le}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no bucket {le} in\n{text}"))
        };
        assert_eq!(count("0.00025"), 0);
        assert_eq!(count("0.0005"), 10);
        assert_eq!(count("0.025"), 10);
        assert_eq!(count("0.05"), 12);
        assert_eq!(count("1"), 12);
        assert_eq!(count("+Inf"), 13);
        assert!(
            text.contains("advisor_engine_process_latency_seconds_count 13\n"),
            "{text}"
        );
        assert!(
            text.contains("advisor_engine_process_latency_seconds_sum 3.083\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE advisor_engine_process_latency_seconds histogram"));
    }
}
