//! The decision guide's own cost figures beside today's list prices, and why they differ.

use serde::Serialize;

use super::catalog::Catalog;
use super::estimate::{estimate, Category, Estimate, EstimateError, PricingOptions};
use super::usage::Usage;
use crate::decide::Approach;
use crate::money::{usd, CostRange};
use crate::stack::{Arch, Overrides, StackInput};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioRow {
    pub item: String,
    pub guide_figure: String,
    pub us_east_1: CostRange,
    pub eu_west_2: CostRange,
    pub why: String,
}

/// Regions the decision guide's figures are compared in: AWS's reference region and the decision guide's own.
pub const REGIONS: [&str; 2] = ["us-east-1", "eu-west-2"];

impl Estimate {
    /// Monthly cost of one service's lines (vCPU and memory).
    pub fn service_cost(&self, service: &str) -> CostRange {
        self.lines
            .iter()
            .filter(|l| l.category == Category::Compute && l.component.starts_with(service))
            .fold(CostRange::exact(0.0), |sum, l| sum + l.monthly)
    }
}

struct Pair {
    us: Estimate,
    eu: Estimate,
}

impl Pair {
    fn new(
        approach: Approach,
        catalog: &Catalog,
        arch: Arch,
        usage: &Usage,
    ) -> Result<Pair, EstimateError> {
        let at = |region: &str| {
            let overrides = Overrides {
                region: Some(region.to_string()),
                arch: Some(arch),
                ..Overrides::default()
            };
            let options = PricingOptions {
                region: region.to_string(),
                stack: Arc::new(StackInput {
                    overrides,
                    ..StackInput::default()
                }),
                ..PricingOptions::default()
            };
            estimate(approach, catalog, &options, usage)
        };
        Ok(Pair {
            us: at(REGIONS[0])?,
            eu: at(REGIONS[1])?,
        })
    }

    fn row(
        &self,
        item: &str,
        guide: &str,
        figure: impl Fn(&Estimate) -> CostRange,
        why: String,
    ) -> ScenarioRow {
        ScenarioRow {
            item: item.to_string(),
            guide_figure: guide.to_string(),
            us_east_1: figure(&self.us),
            eu_west_2: figure(&self.eu),
            why,
        }
    }
}

/// The decision guide's cost tables, line by line, priced with today's catalog and default usage.
pub fn guide_scenarios(catalog: &Catalog) -> Result<Vec<ScenarioRow>, EstimateError> {
    let usage = Usage::default();
    let ksql = Pair::new(Approach::Ksqldb, catalog, Arch::X86, &usage)?;
    let ksql_arm = Pair::new(Approach::Ksqldb, catalog, Arch::Arm64, &usage)?;
    let flink = Pair::new(Approach::Flink, catalog, Arch::X86, &usage)?;
    let dbt_hourly = Pair::new(Approach::DbtHourly, catalog, Arch::X86, &usage)?;
    let dbt_5min = Pair::new(Approach::Dbt5Min, catalog, Arch::X86, &usage)?;
    let hours = ksql.us.hours_per_month;
    let arm_task = ksql_arm.us.service_cost("ksqldb-server");
    let compute = |e: &Estimate| e.by_category(Category::Compute);
    let logs = |e: &Estimate| e.by_category(Category::Logs);
    let storage = |e: &Estimate| e.by_category(Category::Storage);
    Ok(vec![
        ksql.row(
            "ksqlDB: ECS Fargate (1 vCPU, 2 GB)",
            "$30",
            compute,
            format!(
                "{hours} h at today's on-demand x86 list price; the decision guide's $30 is close to Graviton (ARM), {} in us-east-1, or to fewer hours",
                usd(arm_task.low_usd)
            ),
        ),
        ksql.row(
            "ksqlDB: CloudWatch Logs",
            "$5",
            logs,
            "10 GB a month (what the decision guide's $5 buys at $0.50/GB) plus 7 days' storage; ingest costs more in eu-west-2".to_string(),
        ),
        ksql.row(
            "ksqlDB: Kafka storage for output topics",
            "$10",
            storage,
            "100 GB-month at about $0.10 (assumed from the decision guide's figure; give --events-per-sec to size it)".to_string(),
        ),
        ksql.row(
            "ksqlDB: infrastructure",
            "$45",
            |e| e.infrastructure,
            "the lines above".to_string(),
        ),
        ksql.row(
            "ksqlDB: monthly total, 2-4 ops hours at $60",
            "$165-285",
            |e| e.monthly_total,
            "infrastructure plus $120-240 of ops time, as in the decision guide".to_string(),
        ),
        flink.row(
            "Flink: JobManager (1 vCPU, 2 GB)",
            "$30",
            |e| e.service_cost("jobmanager"),
            format!("{hours} h at today's on-demand x86 list price"),
        ),
        flink.row(
            "Flink: TaskManagers (2 x 2 vCPU, 4 GB)",
            "$120",
            |e| e.service_cost("taskmanager"),
            format!("{hours} h at today's on-demand x86 list price; four times the JobManager's size"),
        ),
        flink.row(
            "Flink: S3 checkpoints",
            "$5",
            storage,
            "a 1 GB checkpoint (assumed) kept in 3 versions and one checkpoint every 5 minutes; the decision guide's $5 would pay for about 200 GB-month".to_string(),
        ),
        flink.row(
            "Flink: CloudWatch Logs",
            "$10",
            logs,
            "20 GB a month (what the decision guide's $10 buys at $0.50/GB) plus 7 days' storage".to_string(),
        ),
        flink.row(
            "Flink: infrastructure",
            "$165",
            |e| e.infrastructure,
            "the lines above; the decision guide's compute figures are below list price".to_string(),
        ),
        flink.row(
            "Flink: monthly total, 4-8 ops hours at $60",
            "$405-645",
            |e| e.monthly_total,
            "infrastructure plus $240-480 of ops time, as in the decision guide".to_string(),
        ),
        flink.row(
            "Flink: development, 40-80 hours at $60 (one-off)",
            "$2,400-4,800",
            |e| e.development_one_off,
            "the decision guide's hours and rate, unchanged".to_string(),
        ),
        dbt_hourly.row(
            "dbt hourly",
            "$50",
            |e| e.monthly_total,
            "the decision guide's figure, used as a stated assumption".to_string(),
        ),
        dbt_5min.row(
            "dbt every 5 minutes",
            "$100",
            |e| e.monthly_total,
            "the decision guide's figure, used as a stated assumption".to_string(),
        ),
    ])
}
