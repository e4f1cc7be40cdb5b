//! `advisor report`: the recommendation, the path, and the costs, as Markdown and as one
//! self-contained HTML page with its charts drawn inline.

use serde::Serialize;

use super::error_chain;

use super::svg::{self, Bar, Series};
use crate::cost::estimate::{Estimate, EstimateError};
use crate::cost::scenarios::{self, ScenarioRow};
use crate::cost::{self, Catalog, PricingOptions, Usage, BASELINE};
use crate::decide::{Approach, Recommendation};
use crate::money::{grouped, CostRange};
use crate::output::cost::{compare_rows, scenario_rows, COMPARE_HEADER, SCENARIO_HEADER};
use crate::output::markdown_table;
use crate::workload::LogicKind;

const MARKDOWN_TEMPLATE: &str = include_str!("../../templates/report.md.tera");
const HTML_TEMPLATE: &str = include_str!("../../templates/report.html.tera");

/// How many times the event rate the growth view prices.
pub const GROWTH: [f64; 3] = [1.0, 10.0, 100.0];
/// The approaches whose cost grows with the event rate, plus the dbt baseline.
const GROWTH_APPROACHES: [Approach; 4] = [
    Approach::Ksqldb,
    Approach::Engine,
    Approach::Flink,
    Approach::Dbt5Min,
];

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Estimate(#[from] EstimateError),
    #[error("cannot render the report template {template}: {message}")]
    Template {
        template: &'static str,
        message: String,
    },
}

/// One workload as the report needs it.
pub struct WorkloadInput {
    pub recommendation: Recommendation,
    pub options: PricingOptions,
    pub usage: Usage,
}

#[derive(Serialize)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    markdown: String,
}

impl Table {
    fn new(header: &[&str], rows: Vec<Vec<String>>) -> Table {
        Table {
            markdown: markdown_table(header, &rows),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows,
        }
    }
}

#[derive(Serialize)]
struct Section {
    title: String,
    approach: String,
    latency_row: Option<String>,
    region: String,
    path: Table,
    candidates: Table,
    warnings: Vec<String>,
    premium: Option<String>,
    compare: Table,
    compare_chart: String,
    split_title: String,
    split: Table,
    split_chart: String,
    growth: Table,
    growth_chart: String,
    growth_base: String,
    capacity: Vec<String>,
    sizing: Vec<String>,
    assumptions: Vec<String>,
}

#[derive(Serialize)]
struct Context {
    title: String,
    catalog_origin: String,
    catalog_as_of: String,
    generated_on: String,
    catalog_warnings: Vec<String>,
    sections: Vec<Section>,
    scenarios: Table,
}

pub struct Rendered {
    pub markdown: String,
    pub html: String,
}

fn star(assumed: bool) -> &'static str {
    if assumed {
        " *"
    } else {
        ""
    }
}

fn has_assumption(estimate: &Estimate) -> bool {
    estimate.lines.iter().any(|l| l.assumed)
}

fn section(input: &WorkloadInput, catalog: &Catalog) -> Result<Section, ReportError> {
    let rec = &input.recommendation;
    let estimates = cost::compare(catalog, &input.options, &input.usage)?;

    let path_rows = rec
        .path
        .iter()
        .enumerate()
        .map(|(i, s)| {
            vec![
                (i + 1).to_string(),
                s.question.to_string(),
                s.answer.clone(),
                s.reason.clone(),
                s.leads_to.clone(),
            ]
        })
        .collect();
    let candidate_rows = rec
        .candidates
        .iter()
        .map(|c| {
            vec![
                c.name.to_string(),
                c.verdict.label().to_string(),
                c.typical_latency.to_string(),
                c.why.clone(),
            ]
        })
        .collect();

    let mut compare = compare_rows(&estimates);
    for (row, estimate) in compare.iter_mut().zip(&estimates) {
        row[0] = format!("{}{}", row[0], star(has_assumption(estimate)));
    }
    let bars: Vec<Bar> = estimates
        .iter()
        .map(|e| Bar {
            label: e.approach_name.to_string(),
            low: e.monthly_total.low_usd,
            high: e.monthly_total.high_usd,
            highlight: e.approach == rec.approach,
        })
        .collect();
    let compare_chart = svg::bar_chart("Monthly cost of every approach, ops time included", &bars);

    // The split is shown for the recommendation, or for ksqlDB when the recommendation
    // has no price (custom in-process, reconsider).
    let split_estimate = estimates
        .iter()
        .find(|e| e.approach == rec.approach)
        .or_else(|| estimates.iter().find(|e| e.approach == Approach::Ksqldb));
    let (split_title, split_rows, split_bars) = match split_estimate {
        Some(estimate) => {
            let rows = estimate
                .lines
                .iter()
                .map(|l| {
                    vec![
                        format!("{}{}", l.component, star(l.assumed)),
                        l.detail.clone(),
                        l.monthly.to_string(),
                    ]
                })
                .collect();
            let mut bars: Vec<Bar> = estimate
                .lines
                .iter()
                .map(|l| Bar {
                    label: short_label(&l.component),
                    low: l.monthly.low_usd,
                    high: l.monthly.high_usd,
                    highlight: false,
                })
                .collect();
            bars.sort_by(|a, b| b.high.total_cmp(&a.high));
            (
                format!("Monthly cost of {} by component", estimate.approach_name),
                rows,
                bars,
            )
        }
        None => ("No priced approach".to_string(), Vec::new(), Vec::new()),
    };
    let split_chart = svg::bar_chart(&split_title, &split_bars);

    let base = input.usage.events_per_sec();
    let mut growth_rows = Vec::new();
    let mut series = Vec::new();
    for approach in GROWTH_APPROACHES {
        let mut row = vec![approach.title().to_string()];
        let mut values = Vec::new();
        for factor in GROWTH {
            let scaled = input.usage.scaled(factor);
            let estimate = cost::estimate(approach, catalog, &input.options, &scaled)?;
            let tasks = estimate
                .sizing
                .as_ref()
                .map(|s| format!(" ({} x {})", s.tasks, s.service))
                .unwrap_or_default();
            row.push(format!("{}{tasks}", estimate.monthly_total));
            values.push(estimate.monthly_total.low_usd);
        }
        growth_rows.push(row);
        series.push(Series {
            label: approach.title().to_string(),
            values,
        });
    }
    let steps: Vec<String> = GROWTH
        .iter()
        .map(|f| format!("{}x: {} events/s", f, base.value * f))
        .collect();
    let mut growth_header = vec!["Approach".to_string()];
    growth_header.extend(steps.iter().cloned());
    let growth_header_refs: Vec<&str> = growth_header.iter().map(String::as_str).collect();
    let growth_chart = svg::log_line_chart(
        "Monthly cost as the event rate grows (low end of ops time)",
        &steps,
        &series,
    );

    let capacity = capacity_lines(catalog, input.usage.workload.logic);

    let mut assumptions: Vec<String> = Vec::new();
    for line in estimates.iter().flat_map(|e| &e.lines) {
        for assumption in &line.assumptions {
            if !assumptions.contains(assumption) {
                assumptions.push(assumption.clone());
            }
        }
    }
    if base.assumed {
        assumptions.push(format!(
            "events_per_sec = {} for the growth view: {}",
            base.value, base.source
        ));
    }
    let sizing = estimates
        .iter()
        .filter_map(|e| {
            e.sizing
                .as_ref()
                .map(|s| format!("{}: {}", e.approach_name, s.note))
        })
        .collect();

    Ok(Section {
        title: rec
            .workload
            .clone()
            .unwrap_or_else(|| "Workload".to_string()),
        approach: rec.approach_name.to_string(),
        latency_row: rec.latency_row.map(|row| {
            format!(
                "{} ({}): {}",
                row.use_case, row.acceptable_latency, row.recommended_approach
            )
        }),
        region: input.options.region.clone(),
        path: Table::new(&["#", "Question", "Answer", "Why", "Leads to"], path_rows),
        candidates: Table::new(&["Approach", "Verdict", "Latency", "Why"], candidate_rows),
        warnings: rec.warnings.iter().map(|w| w.message.clone()).collect(),
        premium: rec
            .premium_over_dbt
            .map(|p: CostRange| format!("{p} a month over {}", BASELINE.title())),
        compare: Table::new(&COMPARE_HEADER, compare),
        compare_chart,
        split_title,
        split: Table::new(&["Component", "How", "Monthly"], split_rows),
        split_chart,
        growth: Table::new(&growth_header_refs, growth_rows),
        growth_chart,
        growth_base: format!(
            "{} events/s{}",
            base.value,
            if base.assumed {
                " (assumed: no rate was given)"
            } else {
                ""
            }
        ),
        capacity,
        sizing,
        assumptions,
    })
}

/// Under the growth chart: the capacity each engine is sized with, for the workload's kind
/// of query, with where the figure comes from and when it was measured or read.
fn capacity_lines(catalog: &Catalog, query: Option<LogicKind>) -> Vec<String> {
    GROWTH_APPROACHES
        .iter()
        .filter_map(|&approach| {
            let capacity = catalog.capacity_for(approach, query)?;
            let kind = match capacity.query {
                Some(kind) => format!("{} queries", kind.name()),
                None => "any query".to_string(),
            };
            Some(format!(
                "{}: {} events/s per vCPU ({kind}){}; {} ({})",
                approach.title(),
                grouped(capacity.events_per_sec_per_vcpu.max(0.0).round() as u64),
                if capacity.assumed { ", assumed" } else { "" },
                capacity.source,
                capacity.date
            ))
        })
        .collect()
}

/// Chart labels keep the service and the resource, not the sizes.
fn short_label(component: &str) -> String {
    match component.split_once(" (") {
        Some((name, rest)) => match rest.rsplit_once("): ") {
            Some((_, resource)) => format!("{name}: {resource}"),
            None => name.to_string(),
        },
        None => component.to_string(),
    }
}

fn render_template(
    name: &'static str,
    template: &str,
    context: &tera::Context,
) -> Result<String, ReportError> {
    let mut tera = tera::Tera::default();
    tera.add_raw_template(name, template)
        .and_then(|_| tera.render(name, context))
        .map_err(|e| ReportError::Template {
            template: name,
            message: error_chain(&e),
        })
}

pub fn render(
    inputs: &[WorkloadInput],
    catalog: &Catalog,
    catalog_warnings: &[String],
    generated_on: &str,
) -> Result<Rendered, ReportError> {
    let sections = inputs
        .iter()
        .map(|input| section(input, catalog))
        .collect::<Result<Vec<_>, _>>()?;
    let scenarios: Vec<ScenarioRow> = scenarios::guide_scenarios(catalog)?;
    let context = Context {
        title: "Stream processing: recommendation and cost".to_string(),
        catalog_origin: catalog.origin.clone(),
        catalog_as_of: catalog.header.as_of.clone(),
        generated_on: generated_on.to_string(),
        catalog_warnings: catalog_warnings.to_vec(),
        sections,
        scenarios: Table::new(&SCENARIO_HEADER, scenario_rows(&scenarios)),
    };
    let context = tera::Context::from_serialize(&context).map_err(|e| ReportError::Template {
        template: "context",
        message: error_chain(&e),
    })?;
    Ok(Rendered {
        // Tera escapes HTML only for templates whose name ends in .html.
        markdown: render_template("report.md", MARKDOWN_TEMPLATE, &context)?,
        html: render_template("report.html", HTML_TEMPLATE, &context)?,
    })
}
