//! The decision guide's table "Use Cases by Latency Requirement", with the latency band each
//! row covers so a workload's budget finds its row.

use std::time::Duration;

use serde::Serialize;

use crate::workload::Latency;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LatencyRow {
    pub use_case: &'static str,
    pub acceptable_latency: &'static str,
    pub recommended_approach: &'static str,
    /// The band of budgets this row stands for: `[from, to)`.
    #[serde(skip)]
    from: Duration,
    #[serde(skip)]
    to: Duration,
}

const fn row(
    use_case: &'static str,
    acceptable_latency: &'static str,
    recommended_approach: &'static str,
    from_ms: u64,
    to_ms: u64,
) -> LatencyRow {
    LatencyRow {
        use_case,
        acceptable_latency,
        recommended_approach,
        from: Duration::from_millis(from_ms),
        to: Duration::from_millis(to_ms),
    }
}

const SECOND: u64 = 1000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;

/// The rows in the decision guide's order. The bands close the gaps the decision guide leaves between its rows:
/// each row reaches up to where the next slower one starts.
pub const ROWS: [LatencyRow; 6] = [
    row(
        "Daily dashboards",
        "Hours",
        "dbt batch (scheduled)",
        HOUR,
        u64::MAX,
    ),
    row(
        "Hourly reports",
        "5-15 minutes",
        "dbt micro-batching (every 5 min)",
        5 * MINUTE,
        HOUR,
    ),
    row(
        "Real-time dashboards",
        "30-60 seconds",
        "dbt + Snowflake auto-refresh",
        30 * SECOND,
        5 * MINUTE,
    ),
    row(
        "Operational alerts",
        "< 10 seconds",
        "ksqlDB or Flink",
        SECOND,
        30 * SECOND,
    ),
    row(
        "Fraud detection",
        "< 1 second",
        "Flink + in-memory state",
        100,
        SECOND,
    ),
    row(
        "High-frequency trading",
        "< 100ms",
        "Custom in-process (not Kafka)",
        0,
        100,
    ),
];

/// The row whose band holds the budget.
pub fn row_for(latency: Latency) -> &'static LatencyRow {
    let budget = latency.as_duration();
    ROWS.iter()
        .find(|row| budget >= row.from && budget < row.to)
        .unwrap_or(&ROWS[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_cover_every_budget_without_overlap() {
        for pair in ROWS.windows(2) {
            assert_eq!(pair[0].from, pair[1].to, "{:?}", pair);
        }
        assert_eq!(ROWS[5].from, Duration::ZERO);
    }

    #[test]
    fn budgets_find_their_rows() {
        assert_eq!(
            row_for(Latency::secs(2 * 3600)).use_case,
            "Daily dashboards"
        );
        assert_eq!(row_for(Latency::secs(600)).use_case, "Hourly reports");
        assert_eq!(row_for(Latency::secs(45)).use_case, "Real-time dashboards");
        assert_eq!(row_for(Latency::secs(5)).use_case, "Operational alerts");
        assert_eq!(row_for(Latency::millis(500)).use_case, "Fraud detection");
        assert_eq!(
            row_for(Latency::millis(50)).use_case,
            "High-frequency trading"
        );
    }
}
