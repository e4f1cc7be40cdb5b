//! Usage figures: how much a stack logs, stores and checkpoints. Each figure is taken from
//! the workload or `--usage FILE` when given, and otherwise from a stated default, so every
//! estimate line can say whether it rests on an assumption.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::decide::Approach;
use crate::workload::Workload;

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("cannot read usage file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("usage file {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("usage figure {name} must be {rule}, got {value}")]
    Invalid {
        name: &'static str,
        rule: &'static str,
        value: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum KafkaStorage {
    /// Amazon MSK broker storage.
    #[default]
    Msk,
    /// Any other Kafka, at the catalog's generic per-GB price.
    Generic,
}

/// What `--usage FILE` may set; every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageFile {
    pub events_per_sec: Option<f64>,
    pub event_bytes: Option<f64>,
    pub log_gb_month: Option<f64>,
    pub logs_free_tier: Option<bool>,
    pub output_ratio: Option<f64>,
    pub output_retention_days: Option<f64>,
    pub replication_factor: Option<f64>,
    pub output_topic_gb: Option<f64>,
    pub kafka_storage: Option<KafkaStorage>,
    pub checkpoint_gb: Option<f64>,
    pub checkpoint_versions_kept: Option<f64>,
    pub checkpoint_files: Option<f64>,
    pub state_bytes_per_key: Option<f64>,
}

impl UsageFile {
    pub fn load(path: &Path) -> Result<UsageFile, UsageError> {
        let text = std::fs::read_to_string(path).map_err(|source| UsageError::Read {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| UsageError::Parse {
            path: path.display().to_string(),
            message: e.to_string().trim_end().to_string(),
        })
    }
}

/// One usage figure with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub name: &'static str,
    pub value: f64,
    pub unit: &'static str,
    pub assumed: bool,
    pub source: String,
}

/// The usage an estimate reads, resolved from the workload, the usage file and defaults.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub workload: Workload,
    pub file: UsageFile,
}

fn given(name: &'static str, value: f64, unit: &'static str, source: &str) -> Figure {
    Figure {
        name,
        value,
        unit,
        assumed: false,
        source: source.to_string(),
    }
}

fn assumed(name: &'static str, value: f64, unit: &'static str, source: &str) -> Figure {
    Figure {
        name,
        value,
        unit,
        assumed: true,
        source: source.to_string(),
    }
}

impl Usage {
    pub fn new(workload: Workload, file: UsageFile) -> Result<Usage, UsageError> {
        let usage = Usage { workload, file };
        usage.validate()?;
        Ok(usage)
    }

    fn validate(&self) -> Result<(), UsageError> {
        let f = &self.file;
        let non_negative = [
            ("events_per_sec", f.events_per_sec),
            ("event_bytes", f.event_bytes),
            ("log_gb_month", f.log_gb_month),
            ("output_ratio", f.output_ratio),
            ("output_retention_days", f.output_retention_days),
            ("output_topic_gb", f.output_topic_gb),
            ("checkpoint_gb", f.checkpoint_gb),
            ("checkpoint_files", f.checkpoint_files),
            ("state_bytes_per_key", f.state_bytes_per_key),
        ];
        for (name, value) in non_negative {
            if let Some(v) = value {
                if !v.is_finite() || v < 0.0 {
                    return Err(UsageError::Invalid {
                        name,
                        rule: "zero or more",
                        value: v,
                    });
                }
            }
        }
        for (name, value) in [
            ("replication_factor", f.replication_factor),
            ("checkpoint_versions_kept", f.checkpoint_versions_kept),
        ] {
            if let Some(v) = value {
                if !v.is_finite() || v < 1.0 {
                    return Err(UsageError::Invalid {
                        name,
                        rule: "1 or more",
                        value: v,
                    });
                }
            }
        }
        Ok(())
    }

    /// A copy with the event rate multiplied, for the growth view of the report.
    pub fn scaled(&self, factor: f64) -> Usage {
        let mut scaled = self.clone();
        let base = self.events_per_sec().value;
        scaled.file.events_per_sec = Some(base * factor);
        scaled.workload.events_per_sec = None;
        scaled
    }

    pub fn events_per_sec_given(&self) -> Option<f64> {
        self.file.events_per_sec.or(self.workload.events_per_sec)
    }

    pub fn events_per_sec(&self) -> Figure {
        match self.events_per_sec_given() {
            Some(v) => given("events_per_sec", v, "events/s", "workload"),
            None => assumed(
                "events_per_sec",
                1000.0,
                "events/s",
                "assumed when no rate is given",
            ),
        }
    }

    pub fn event_bytes(&self) -> Figure {
        match self.file.event_bytes.or(self.workload.event_bytes) {
            Some(v) => given("event_bytes", v, "bytes", "workload"),
            None => assumed(
                "event_bytes",
                500.0,
                "bytes",
                "assumed: a typical JSON business event",
            ),
        }
    }

    /// CloudWatch log volume; the defaults are what the decision guide's log costs imply at $0.50/GB.
    pub fn log_gb_month(&self, approach: Approach) -> Figure {
        if let Some(v) = self.file.log_gb_month {
            return given("log_gb_month", v, "GB/month", "usage file");
        }
        let (value, source) = match approach {
            Approach::Ksqldb => (
                10.0,
                "the decision guide's ksqlDB table: $5 of CloudWatch Logs, 10 GB at $0.50",
            ),
            Approach::Flink => (
                20.0,
                "the decision guide's Flink table: $10 of CloudWatch Logs, 20 GB at $0.50",
            ),
            _ => (2.0, "assumed: one small process logging at info level"),
        };
        assumed("log_gb_month", value, "GB/month", source)
    }

    pub fn logs_free_tier(&self) -> bool {
        self.file.logs_free_tier.unwrap_or(false)
    }

    pub fn kafka_storage(&self) -> KafkaStorage {
        self.file.kafka_storage.unwrap_or_default()
    }

    pub fn replication_factor(&self) -> Figure {
        match self.file.replication_factor {
            Some(v) => given("replication_factor", v, "replicas", "usage file"),
            None => assumed(
                "replication_factor",
                3.0,
                "replicas",
                "assumed: the usual production replication factor",
            ),
        }
    }

    /// GB-month of output topics across all replicas, or `None` when the approach writes no
    /// topic of its own. With an event rate: rate x ratio x size x retention x replicas.
    pub fn output_topic_gb(&self, approach: Approach) -> Vec<Figure> {
        if let Some(v) = self.file.output_topic_gb {
            return vec![given(
                "output_topic_gb",
                v,
                "GB-month, all replicas",
                "usage file",
            )];
        }
        let Some(rate) = self.events_per_sec_given() else {
            let (value, source) = match approach {
                Approach::Ksqldb | Approach::Engine => (
                    100.0,
                    "the decision guide's ksqlDB table: $10 of additional Kafka storage, 100 GB-month at $0.10",
                ),
                _ => (
                    0.0,
                    "the decision guide's Flink table lists no Kafka storage (alerts only)",
                ),
            };
            return vec![assumed(
                "output_topic_gb",
                value,
                "GB-month, all replicas",
                source,
            )];
        };
        let ratio = match self.file.output_ratio {
            Some(v) => given(
                "output_ratio",
                v,
                "output events per input event",
                "usage file",
            ),
            None => assumed(
                "output_ratio",
                1.0,
                "output events per input event",
                "assumed: EMIT CHANGES writes one update per input event",
            ),
        };
        let retention = match self.file.output_retention_days {
            Some(v) => given("output_retention_days", v, "days", "usage file"),
            None => assumed(
                "output_retention_days",
                7.0,
                "days",
                "assumed: Kafka's default retention",
            ),
        };
        let bytes = self.event_bytes();
        let replicas = self.replication_factor();
        let gb =
            rate * ratio.value * bytes.value * retention.value * 86_400.0 * replicas.value / 1e9;
        let all_given = !(ratio.assumed || retention.assumed || bytes.assumed || replicas.assumed);
        let total = Figure {
            name: "output_topic_gb",
            value: gb,
            unit: "GB-month, all replicas",
            assumed: !all_given,
            source: format!(
                "{rate} events/s x {} x {} bytes x {} days x {} replicas",
                ratio.value, bytes.value, retention.value, replicas.value
            ),
        };
        vec![total, ratio, retention, bytes, replicas]
    }

    /// Size of one checkpoint: given, or the workload's state, or keys x bytes per key.
    pub fn checkpoint_gb(&self) -> Figure {
        if let Some(v) = self.file.checkpoint_gb {
            return given("checkpoint_gb", v, "GB", "usage file");
        }
        if let Some(v) = self.workload.state_gb {
            return given("checkpoint_gb", v, "GB", "workload state_gb");
        }
        if let Some(keys) = self.workload.keys {
            let per_key = self.file.state_bytes_per_key.unwrap_or(100.0);
            return Figure {
                name: "checkpoint_gb",
                value: keys as f64 * per_key / 1e9,
                unit: "GB",
                assumed: self.file.state_bytes_per_key.is_none(),
                source: format!("{keys} keys x {per_key} bytes of state per key"),
            };
        }
        assumed(
            "checkpoint_gb",
            1.0,
            "GB",
            "assumed when neither state_gb nor keys is given",
        )
    }

    pub fn checkpoint_versions_kept(&self) -> Figure {
        match self.file.checkpoint_versions_kept {
            Some(v) => given("checkpoint_versions_kept", v, "versions", "usage file"),
            None => assumed(
                "checkpoint_versions_kept",
                3.0,
                "versions",
                "assumed: the current checkpoint plus the noncurrent versions the bucket's lifecycle rule keeps (2)",
            ),
        }
    }

    pub fn checkpoint_files(&self) -> Figure {
        match self.file.checkpoint_files {
            Some(v) => given("checkpoint_files", v, "files per checkpoint", "usage file"),
            None => assumed(
                "checkpoint_files",
                10.0,
                "files per checkpoint",
                "assumed: a few state files and the metadata file per checkpoint",
            ),
        }
    }
}
