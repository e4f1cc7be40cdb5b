//! Throughput capacity: the events per second one vCPU of each engine carries, by the kind of
//! query it runs (`data/capacity.toml`, each figure with its source and date). Sizing reads
//! the figure for the workload's query kind, else the engine's figure for any kind.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::decide::Approach;
use crate::workload::LogicKind;

/// The capacity table compiled into the binary.
pub const EMBEDDED: &str = include_str!("../../data/capacity.toml");

/// Where the embedded table comes from, as errors name it.
pub const EMBEDDED_ORIGIN: &str = "data/capacity.toml (embedded)";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    pub approach: Approach,
    /// The kind of query the figure holds for; none: the engine's figure for any other kind.
    #[serde(default)]
    pub query: Option<LogicKind>,
    pub events_per_sec_per_vcpu: f64,
    /// True when the figure is our assumption rather than a published or measured one.
    #[serde(default)]
    pub assumed: bool,
    pub source: String,
    /// The day the figure was measured or read (`read_on` in older price catalogs).
    #[serde(alias = "read_on")]
    pub date: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CapacityFile {
    #[serde(default)]
    capacity: Vec<Capacity>,
}

/// Parses a capacity table (`[[capacity]]` entries) and checks it.
pub fn parse(text: &str) -> Result<Vec<Capacity>, String> {
    let file: CapacityFile =
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
    validate(&file.capacity)?;
    Ok(file.capacity)
}

/// Every figure above zero with a date; one entry per engine and query kind; and for each
/// engine listed, a figure for any kind, so that every workload can be sized.
pub fn validate(entries: &[Capacity]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for entry in entries {
        let what = describe(entry.approach, entry.query);
        if !(entry.events_per_sec_per_vcpu > 0.0 && entry.events_per_sec_per_vcpu.is_finite()) {
            return Err(format!(
                "capacity for {what}: events_per_sec_per_vcpu must be above zero, got {}",
                entry.events_per_sec_per_vcpu
            ));
        }
        entry.date.parse::<jiff::civil::Date>().map_err(|e| {
            format!(
                "capacity for {what}: date {:?} is not a date (YYYY-MM-DD): {e}",
                entry.date
            )
        })?;
        if entry.source.trim().is_empty() {
            return Err(format!("capacity for {what}: the source is empty"));
        }
        if !seen.insert((entry.approach.id(), entry.query.map(LogicKind::name))) {
            return Err(format!("capacity for {what} is listed twice"));
        }
    }
    for approach in entries.iter().map(|e| e.approach) {
        if !seen.contains(&(approach.id(), None)) {
            return Err(format!(
                "capacity for {}: no figure for any query kind (an entry without `query`)",
                approach.id()
            ));
        }
    }
    Ok(())
}

/// The figure for `approach` running `query`: the one measured on that kind of query, else
/// the approach's figure for any kind.
pub fn pick(
    entries: &[Capacity],
    approach: Approach,
    query: Option<LogicKind>,
) -> Option<&Capacity> {
    let of = |kind: Option<LogicKind>| {
        entries
            .iter()
            .find(|e| e.approach == approach && e.query == kind)
    };
    query.and_then(|kind| of(Some(kind))).or_else(|| of(None))
}

fn describe(approach: Approach, query: Option<LogicKind>) -> String {
    match query {
        Some(kind) => format!("{} ({} queries)", approach.id(), kind.name()),
        None => format!("{} (any query)", approach.id()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = r#"
[[capacity]]
approach = "engine"
events_per_sec_per_vcpu = 100.0
source = "any kind"
date = "2026-12-01"

[[capacity]]
approach = "engine"
query = "window"
events_per_sec_per_vcpu = 300.0
source = "windows"
date = "2026-12-01"
"#;

    #[test]
    fn the_query_kind_picks_its_figure_else_the_figure_for_any_kind() {
        let table = parse(TABLE).expect("a valid table");
        let window = pick(&table, Approach::Engine, Some(LogicKind::Window));
        assert_eq!(window.map(|c| c.events_per_sec_per_vcpu), Some(300.0));
        let session = pick(&table, Approach::Engine, Some(LogicKind::Session));
        assert_eq!(session.map(|c| c.events_per_sec_per_vcpu), Some(100.0));
        let unknown = pick(&table, Approach::Engine, None);
        assert_eq!(unknown.map(|c| c.events_per_sec_per_vcpu), Some(100.0));
        assert!(pick(&table, Approach::Flink, Some(LogicKind::Window)).is_none());
    }

    #[test]
    fn a_table_without_a_figure_for_any_kind_or_with_a_duplicate_is_refused() {
        let only_window = TABLE
            .split("[[capacity]]")
            .nth(2)
            .expect("the window entry");
        let err = parse(&format!("[[capacity]]{only_window}")).expect_err("no figure for any kind");
        assert!(err.contains("no figure for any query kind"), "{err}");
        let twice = format!("{TABLE}\n[[capacity]]{only_window}");
        let err = parse(&twice).expect_err("listed twice");
        assert!(
            err.contains("engine (window queries) is listed twice"),
            "{err}"
        );
        let bad_date = TABLE.replace("2026-12-01", "December");
        assert!(parse(&bad_date)
            .expect_err("a bad date")
            .contains("is not a date"));
        let zero = TABLE.replace("300.0", "0.0");
        assert!(parse(&zero)
            .expect_err("zero")
            .contains("must be above zero"));
    }

    #[test]
    fn the_embedded_table_is_valid_and_sizes_every_engine() {
        let table = parse(EMBEDDED).expect("data/capacity.toml is valid");
        for approach in [Approach::Ksqldb, Approach::Flink, Approach::Engine] {
            assert!(pick(&table, approach, None).is_some(), "{}", approach.id());
        }
    }
}
