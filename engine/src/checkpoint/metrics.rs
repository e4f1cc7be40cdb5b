//! Checkpoint figures for /metrics: one engine runs per process, so they are process-wide.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub struct CheckpointMetrics {
    saved: AtomicU64,
    failures: AtomicU64,
    last_save_micros: AtomicU64,
    last_save_bytes: AtomicU64,
    restore_micros: AtomicU64,
    restored_bytes: AtomicU64,
}

pub static METRICS: CheckpointMetrics = CheckpointMetrics {
    saved: AtomicU64::new(0),
    failures: AtomicU64::new(0),
    last_save_micros: AtomicU64::new(0),
    last_save_bytes: AtomicU64::new(0),
    restore_micros: AtomicU64::new(0),
    restored_bytes: AtomicU64::new(0),
};

impl CheckpointMetrics {
    pub fn saved(&self, bytes: u64, took: Duration) {
        self.saved.fetch_add(1, Ordering::Relaxed);
        self.last_save_bytes.store(bytes, Ordering::Relaxed);
        self.last_save_micros
            .store(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn restored(&self, bytes: u64, took: Duration) {
        self.restored_bytes.store(bytes, Ordering::Relaxed);
        self.restore_micros
            .store(took.as_micros() as u64, Ordering::Relaxed);
    }
}

/// The checkpoint families in Prometheus' text format.
pub fn metrics_text() -> String {
    let seconds = |micros: &AtomicU64| micros.load(Ordering::Relaxed) as f64 / 1e6;
    let families: [(&str, &str, &str, String); 6] = [
        (
            "advisor_engine_checkpoints_total",
            "counter",
            "Checkpoints written (state and the input offsets it reflects).",
            METRICS.saved.load(Ordering::Relaxed).to_string(),
        ),
        (
            "advisor_engine_checkpoint_failures_total",
            "counter",
            "Checkpoints that failed; the input offsets stay uncommitted until one succeeds.",
            METRICS.failures.load(Ordering::Relaxed).to_string(),
        ),
        (
            "advisor_engine_checkpoint_duration_seconds",
            "gauge",
            "How long the last checkpoint took to write.",
            seconds(&METRICS.last_save_micros).to_string(),
        ),
        (
            "advisor_engine_checkpoint_bytes",
            "gauge",
            "Bytes of state the last checkpoint wrote.",
            METRICS.last_save_bytes.load(Ordering::Relaxed).to_string(),
        ),
        (
            "advisor_engine_restore_duration_seconds",
            "gauge",
            "How long restoring the state took at start.",
            seconds(&METRICS.restore_micros).to_string(),
        ),
        (
            "advisor_engine_restored_bytes",
            "gauge",
            "Bytes of state restored at start.",
            METRICS.restored_bytes.load(Ordering::Relaxed).to_string(),
        ),
    ];
    let mut text = String::new();
    for (name, kind, help, value) in families {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    text
}
