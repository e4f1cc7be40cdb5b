//! `advisor cost` output: one estimate line by line, a comparison, the decision guide's scenarios.

use serde::Serialize;

use super::{markdown_table, table, OutputFormat, JSON_SCHEMA_VERSION};
use crate::cost::estimate::{Estimate, LineItem, Quantity};
use crate::cost::scenarios::ScenarioRow;
use crate::cost::{premium, Catalog, BASELINE};
use crate::money::{usd, CostRange};

#[derive(Serialize)]
struct CatalogInfo<'a> {
    origin: &'a str,
    as_of: &'a str,
    currency: &'a str,
}

#[derive(Serialize)]
struct Document<'a, T: Serialize> {
    schema_version: u32,
    catalog: CatalogInfo<'a>,
    #[serde(flatten)]
    body: T,
    warnings: &'a [String],
}

fn json<T: Serialize>(catalog: &Catalog, body: T, warnings: &[String]) -> String {
    let document = Document {
        schema_version: JSON_SCHEMA_VERSION,
        catalog: CatalogInfo {
            origin: &catalog.origin,
            as_of: &catalog.header.as_of,
            currency: &catalog.header.currency,
        },
        body,
        warnings,
    };
    serde_json::to_string_pretty(&document).unwrap_or_default() + "\n"
}

fn quantity(q: Quantity) -> String {
    let show = |v: f64| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else if v >= 100.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.3}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        }
    };
    if q.low == q.high {
        show(q.low)
    } else {
        format!("{}-{}", show(q.low), show(q.high))
    }
}

/// Unit prices keep every digit the catalog gives (Fargate's $0.04048), with cents at least.
fn unit_price(line: &LineItem) -> String {
    let price = line.unit_price_usd;
    let text = if (price * 100.0).fract().abs() < 1e-9 {
        usd(price)
    } else {
        format!("${price}")
    };
    format!("{text} / {}", line.unit)
}

fn mark(assumed: bool) -> &'static str {
    if assumed {
        " *"
    } else {
        ""
    }
}

const LINE_HEADER: [&str; 5] = ["Component", "Quantity", "Unit price", "Monthly", "How"];

fn line_row(line: &LineItem) -> Vec<String> {
    vec![
        format!("{}{}", line.component, mark(line.assumed)),
        quantity(line.quantity),
        unit_price(line),
        line.monthly.to_string(),
        line.detail.clone(),
    ]
}

fn totals(estimate: &Estimate) -> Vec<(String, String)> {
    vec![
        (
            "Infrastructure a month".into(),
            estimate.infrastructure.to_string(),
        ),
        (
            format!(
                "Ops time ({} h a month)",
                quantity(estimate.ops_hours_month)
            ),
            estimate.ops.to_string(),
        ),
        ("Monthly total".into(), estimate.monthly_total.to_string()),
        (
            format!("Development, one-off ({} h)", quantity(estimate.dev_hours)),
            estimate.development_one_off.to_string(),
        ),
    ]
}

fn heading(estimate: &Estimate) -> String {
    format!(
        "{} in {} ({}, {}{} h a month)",
        estimate.approach_name,
        estimate.region,
        estimate.arch.id(),
        match estimate.spot_share {
            share if share >= 1.0 => "Spot, ".to_string(),
            share if share > 0.0 => format!("{:.0}% on Spot, ", share * 100.0),
            _ => String::new(),
        },
        estimate.hours_per_month
    )
}

fn assumptions(estimate: &Estimate) -> Vec<String> {
    estimate
        .usage
        .iter()
        .filter(|f| f.assumed)
        .map(|f| format!("{} = {} {} ({})", f.name, f.value, f.unit, f.source))
        .collect()
}

pub fn render_estimates(
    estimates: &[Estimate],
    catalog: &Catalog,
    warnings: &[String],
    format: OutputFormat,
) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        estimates: &'a [Estimate],
    }
    match format {
        OutputFormat::Json => json(catalog, Body { estimates }, warnings),
        OutputFormat::Table => estimates
            .iter()
            .map(|e| estimate_text(e, catalog))
            .collect::<Vec<_>>()
            .join("\n"),
        OutputFormat::Markdown => estimates
            .iter()
            .map(|e| estimate_markdown(e, catalog))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn catalog_line(catalog: &Catalog) -> String {
    format!(
        "Prices: catalog {} as of {}; * marks a line that rests on an assumption",
        catalog.origin, catalog.header.as_of
    )
}

fn estimate_text(estimate: &Estimate, catalog: &Catalog) -> String {
    let mut out = format!("{}\n", heading(estimate));
    let mut lines = table(&LINE_HEADER);
    for line in &estimate.lines {
        lines.add_row(line_row(line));
    }
    out.push_str(&format!("{lines}\n"));
    let mut sums = table(&["Total", "USD"]);
    for (label, value) in totals(estimate) {
        sums.add_row(vec![label, value]);
    }
    out.push_str(&format!("{sums}\n"));
    if let Some(sizing) = &estimate.sizing {
        out.push_str(&format!("Sizing: {}\n", sizing.note));
    }
    let assumed = assumptions(estimate);
    if !assumed.is_empty() {
        out.push_str("Assumed usage (override with --usage FILE or workload flags):\n");
        for line in assumed {
            out.push_str(&format!("  * {line}\n"));
        }
    }
    out.push_str(&format!("{}\n", catalog_line(catalog)));
    out
}

fn estimate_markdown(estimate: &Estimate, catalog: &Catalog) -> String {
    let mut out = format!("## {}\n\n", heading(estimate));
    let rows: Vec<Vec<String>> = estimate.lines.iter().map(line_row).collect();
    out.push_str(&markdown_table(&LINE_HEADER, &rows));
    out.push('\n');
    let rows: Vec<Vec<String>> = totals(estimate)
        .into_iter()
        .map(|(a, b)| vec![a, b])
        .collect();
    out.push_str(&markdown_table(&["Total", "USD"], &rows));
    if let Some(sizing) = &estimate.sizing {
        out.push_str(&format!("\nSizing: {}\n", sizing.note));
    }
    let assumed = assumptions(estimate);
    if !assumed.is_empty() {
        out.push_str("\nAssumed usage:\n\n");
        for line in assumed {
            out.push_str(&format!("- {line}\n"));
        }
    }
    out.push_str(&format!("\n{}\n", catalog_line(catalog)));
    out
}

pub const COMPARE_HEADER: [&str; 7] = [
    "Approach",
    "Infrastructure",
    "Ops hours",
    "Monthly total",
    "Premium over dbt every 5 minutes",
    "Development (one-off)",
    "Sizing",
];

pub fn compare_rows(estimates: &[Estimate]) -> Vec<Vec<String>> {
    let baseline = estimates.iter().find(|e| e.approach == BASELINE);
    estimates
        .iter()
        .map(|e| {
            vec![
                e.approach_name.to_string(),
                e.infrastructure.to_string(),
                quantity(e.ops_hours_month),
                e.monthly_total.to_string(),
                baseline
                    .map(|b| premium(e, b).to_string())
                    .unwrap_or_else(|| "-".into()),
                e.development_one_off.to_string(),
                e.sizing
                    .as_ref()
                    .map(|s| {
                        format!(
                            "{} x {}{}",
                            s.tasks,
                            s.service,
                            if s.scaled_out { " (scaled out)" } else { "" }
                        )
                    })
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect()
}

pub fn render_compare(
    estimates: &[Estimate],
    catalog: &Catalog,
    warnings: &[String],
    format: OutputFormat,
) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        baseline: &'static str,
        estimates: &'a [Estimate],
        premiums: Vec<(String, CostRange)>,
    }
    let rows = compare_rows(estimates);
    match format {
        OutputFormat::Json => {
            let baseline = estimates.iter().find(|e| e.approach == BASELINE);
            let premiums = baseline
                .map(|b| {
                    estimates
                        .iter()
                        .map(|e| (e.approach.id().to_string(), premium(e, b)))
                        .collect()
                })
                .unwrap_or_default();
            json(
                catalog,
                Body {
                    baseline: BASELINE.id(),
                    estimates,
                    premiums,
                },
                warnings,
            )
        }
        OutputFormat::Table => {
            let mut out = table(&COMPARE_HEADER);
            for row in rows {
                out.add_row(row);
            }
            let region = estimates.first().map(|e| e.region.as_str()).unwrap_or("");
            format!(
                "Monthly cost of every approach in {region}\n{out}\n{}\n",
                catalog_line(catalog)
            )
        }
        OutputFormat::Markdown => format!(
            "## Monthly cost of every approach\n\n{}\n{}\n",
            markdown_table(&COMPARE_HEADER, &rows),
            catalog_line(catalog)
        ),
    }
}

pub const SCENARIO_HEADER: [&str; 5] = [
    "Item",
    "Decision guide",
    "us-east-1 today",
    "eu-west-2 today",
    "Why they differ",
];

pub fn scenario_rows(rows: &[ScenarioRow]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            vec![
                r.item.clone(),
                r.guide_figure.clone(),
                r.us_east_1.to_string(),
                r.eu_west_2.to_string(),
                r.why.clone(),
            ]
        })
        .collect()
}

pub fn render_scenarios(
    rows: &[ScenarioRow],
    catalog: &Catalog,
    warnings: &[String],
    format: OutputFormat,
) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        scenarios: &'a [ScenarioRow],
    }
    match format {
        OutputFormat::Json => json(catalog, Body { scenarios: rows }, warnings),
        OutputFormat::Table => {
            let mut out = table(&SCENARIO_HEADER);
            for row in scenario_rows(rows) {
                out.add_row(row);
            }
            format!(
                "The decision guide's cost figures beside today's list prices\n{out}\n{}\n",
                catalog_line(catalog)
            )
        }
        OutputFormat::Markdown => format!(
            "## The decision guide's cost figures beside today's list prices\n\n{}\n{}\n",
            markdown_table(&SCENARIO_HEADER, &scenario_rows(rows)),
            catalog_line(catalog)
        ),
    }
}
