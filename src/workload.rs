//! A workload: what a team tells us about its stream, from flags, a TOML file, or both.
//!
//! Every field is optional here because answers may also come from an interactive prompt;
//! the decision tree asks only for the answers its path needs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("cannot read workload file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("workload file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("workload file {path} has no workload named {name:?}; it has: {available}")]
    UnknownName {
        path: PathBuf,
        name: String,
        available: String,
    },
    #[error("workload file {path} defines no workload")]
    Empty { path: PathBuf },
    #[error("{0}")]
    Invalid(String),
}

/// A latency budget, parsed from `500ms`, `2s`, `15m`, `1h`, `1.5s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Latency(Duration);

impl Latency {
    pub fn from_duration(duration: Duration) -> Self {
        Latency(duration)
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }

    pub fn millis(ms: u64) -> Self {
        Latency(Duration::from_millis(ms))
    }

    pub fn secs(s: u64) -> Self {
        Latency(Duration::from_secs(s))
    }
}

impl FromStr for Latency {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        if trimmed.starts_with('-') {
            return Err(format!("latency must be positive, got {trimmed:?}"));
        }
        let duration = parse_duration(trimmed).ok_or_else(|| {
            format!("{trimmed:?} is not a latency; write a number and a unit: 500ms, 2s, 15m, 1h")
        })?;
        if duration.is_zero() {
            return Err("latency must be above zero".to_string());
        }
        Ok(Latency(duration))
    }
}

/// humantime does not take fractions such as `1.5s`, which people write for latency budgets.
fn parse_duration(text: &str) -> Option<Duration> {
    if let Ok(duration) = humantime::parse_duration(text) {
        return Some(duration);
    }
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let seconds_per_unit = match unit.trim() {
        "ms" => 0.001,
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" | "hr" | "hour" | "hours" => 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(value * seconds_per_unit).ok()
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            return write!(f, "{}us", self.0.as_micros());
        }
        let (value, unit) = if ms.is_multiple_of(3_600_000) {
            (ms / 3_600_000, "h")
        } else if ms.is_multiple_of(60_000) {
            (ms / 60_000, "m")
        } else if ms.is_multiple_of(1000) {
            (ms / 1000, "s")
        } else {
            (ms, "ms")
        };
        write!(f, "{value}{unit}")
    }
}

impl Serialize for Latency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The kinds of logic the decision tree distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LogicKind {
    Filter,
    Enrich,
    Aggregate,
    Join,
    Window,
    Session,
    Pattern,
    Ml,
    Custom,
}

impl LogicKind {
    pub fn name(self) -> &'static str {
        match self {
            LogicKind::Filter => "filter",
            LogicKind::Enrich => "enrich",
            LogicKind::Aggregate => "aggregate",
            LogicKind::Join => "join",
            LogicKind::Window => "window",
            LogicKind::Session => "session",
            LogicKind::Pattern => "pattern",
            LogicKind::Ml => "ml",
            LogicKind::Custom => "custom",
        }
    }

    /// Per-event logic keeps no state between events.
    pub fn is_stateless(self) -> bool {
        matches!(self, LogicKind::Filter | LogicKind::Enrich)
    }

    /// What ksqlDB's SQL (and the advisor engine) express directly.
    pub fn is_sql_expressible(self) -> bool {
        matches!(
            self,
            LogicKind::Filter
                | LogicKind::Enrich
                | LogicKind::Aggregate
                | LogicKind::Join
                | LogicKind::Window
                | LogicKind::Session
        )
    }

    /// The decision guide's "complex" branch: CEP, ML, custom state management.
    pub fn is_complex(self) -> bool {
        matches!(self, LogicKind::Pattern | LogicKind::Ml | LogicKind::Custom)
    }
}

/// One workload. Flags override the fields a file gives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stateless: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logic: Option<LogicKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql_based: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complex: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_bytes: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<u64>,
    /// Partitions of the input topics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partitions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_gb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_value_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Named workloads of a file (`[workload.NAME]`); only read at the top level.
    #[serde(default, rename = "workload", skip_serializing)]
    pub(crate) nested: BTreeMap<String, Workload>,
}

impl Workload {
    /// Fields set in `over` replace those in `self`.
    pub fn overlay(&mut self, over: &Workload) {
        macro_rules! take {
            ($($field:ident),*) => {
                $(if over.$field.is_some() { self.$field = over.$field.clone(); })*
            };
        }
        take!(
            name,
            latency,
            stateless,
            logic,
            sql_based,
            complex,
            events_per_sec,
            event_bytes,
            keys,
            partitions,
            state_gb,
            business_value_usd,
            region
        );
    }

    /// Rejects numbers that cannot be true and answers that contradict each other.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        let label = self
            .name
            .as_deref()
            .map(|n| format!("workload {n:?}: "))
            .unwrap_or_default();
        let non_negative = [
            ("events-per-sec", self.events_per_sec),
            ("event-bytes", self.event_bytes),
            ("state-gb", self.state_gb),
            ("business-value-usd", self.business_value_usd),
        ];
        for (flag, value) in non_negative {
            if let Some(v) = value {
                if !v.is_finite() || v < 0.0 {
                    return Err(WorkloadError::Invalid(format!(
                        "{label}--{flag} must be a number of zero or more, got {v}"
                    )));
                }
            }
        }
        if self.partitions == Some(0) {
            return Err(WorkloadError::Invalid(format!(
                "{label}partitions must be 1 or more, got 0"
            )));
        }
        if let Some(logic) = self.logic {
            let contradiction = |flag: &str, given: bool, implied: bool| {
                WorkloadError::Invalid(format!(
                    "{label}contradictory answers: {flag} {} but --logic {} means {}",
                    if given { "yes" } else { "no" },
                    logic.name(),
                    if implied { "yes" } else { "no" },
                ))
            };
            if let Some(stateless) = self.stateless {
                if stateless != logic.is_stateless() {
                    let flag = if stateless {
                        "--stateless"
                    } else {
                        "--stateful"
                    };
                    return Err(WorkloadError::Invalid(format!(
                        "{label}contradictory answers: {flag} but --logic {} is {}",
                        logic.name(),
                        if logic.is_stateless() {
                            "stateless"
                        } else {
                            "stateful"
                        }
                    )));
                }
            }
            if let Some(sql) = self.sql_based {
                if sql != logic.is_sql_expressible() {
                    return Err(contradiction(
                        "--sql-based",
                        sql,
                        logic.is_sql_expressible(),
                    ));
                }
            }
            if let Some(complex) = self.complex {
                if complex != logic.is_complex() {
                    return Err(contradiction("--complex", complex, logic.is_complex()));
                }
            }
        }
        if let Some(region) = &self.region {
            if region.trim().is_empty() {
                return Err(WorkloadError::Invalid(format!(
                    "{label}--region must not be empty"
                )));
            }
        }
        Ok(())
    }
}

/// Reads every workload in a file: one at the top level, several under `[workload.NAME]`
/// tables, or both (the top-level one first, then the named ones in name order).
pub fn load_file(path: &Path) -> Result<Vec<Workload>, WorkloadError> {
    let text = std::fs::read_to_string(path).map_err(|source| WorkloadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_file(path, &text)
}

pub fn parse_file(path: &Path, text: &str) -> Result<Vec<Workload>, WorkloadError> {
    let parse_error = |message: String| WorkloadError::Parse {
        path: path.to_path_buf(),
        message,
    };
    // Deserializing straight from the text keeps toml's line and column in every error.
    let mut top: Workload =
        toml::from_str(text).map_err(|e| parse_error(e.to_string().trim_end().to_string()))?;
    let named = std::mem::take(&mut top.nested);
    let mut workloads = Vec::new();
    if top != Workload::default() {
        workloads.push(top);
    }
    for (name, mut workload) in named {
        if !workload.nested.is_empty() {
            return Err(parse_error(format!(
                "workload {name:?} contains further workloads; nest them one level only"
            )));
        }
        workload.name = Some(name);
        workloads.push(workload);
    }
    if workloads.is_empty() {
        return Err(WorkloadError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(workloads)
}

/// Picks the workloads to decide for: the named one, or all of them.
pub fn select(
    path: &Path,
    workloads: Vec<Workload>,
    name: Option<&str>,
) -> Result<Vec<Workload>, WorkloadError> {
    let Some(name) = name else {
        return Ok(workloads);
    };
    let available: Vec<String> = workloads.iter().filter_map(|w| w.name.clone()).collect();
    let chosen: Vec<Workload> = workloads
        .into_iter()
        .filter(|w| w.name.as_deref() == Some(name))
        .collect();
    if chosen.is_empty() {
        return Err(WorkloadError::UnknownName {
            path: path.to_path_buf(),
            name: name.to_string(),
            available: if available.is_empty() {
                "no named workloads".to_string()
            } else {
                available.join(", ")
            },
        });
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_parses_units_and_fractions() {
        assert_eq!("500ms".parse::<Latency>().unwrap(), Latency::millis(500));
        assert_eq!("2s".parse::<Latency>().unwrap(), Latency::secs(2));
        assert_eq!("1.5s".parse::<Latency>().unwrap(), Latency::millis(1500));
        assert_eq!("15m".parse::<Latency>().unwrap(), Latency::secs(900));
        assert_eq!("1h".parse::<Latency>().unwrap(), Latency::secs(3600));
        assert!("-2s".parse::<Latency>().is_err());
        assert!("0s".parse::<Latency>().is_err());
        assert!("fast".parse::<Latency>().is_err());
    }

    #[test]
    fn latency_displays_in_its_largest_whole_unit() {
        assert_eq!(Latency::millis(500).to_string(), "500ms");
        assert_eq!(Latency::secs(120).to_string(), "2m");
        assert_eq!(Latency::secs(7200).to_string(), "2h");
        assert_eq!(Latency::millis(1500).to_string(), "1500ms");
    }

    #[test]
    fn named_workloads_keep_their_names_and_top_level_stays_unnamed() {
        let text = "latency = \"2s\"\n[workload.orders]\nlatency = \"5s\"\nlogic = \"aggregate\"\n";
        let all = parse_file(Path::new("w.toml"), text).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].name, None);
        assert_eq!(all[1].name.as_deref(), Some("orders"));
        assert_eq!(all[1].logic, Some(LogicKind::Aggregate));
    }

    #[test]
    fn unknown_key_in_named_workload_is_located() {
        let text = "[workload.orders]\nlatency = \"5s\"\n  speed = 3\n";
        let err = parse_file(Path::new("w.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3, column 3"), "{err}");
        assert!(err.contains("speed"), "{err}");
    }
}
