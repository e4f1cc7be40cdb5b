//! `advisor recommend` output.

use serde::Serialize;

use super::{markdown_table, table, OutputFormat, JSON_SCHEMA_VERSION};
use crate::decide::{Candidate, Recommendation, Step};

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    recommendations: &'a [Recommendation],
}

pub fn render(recommendations: &[Recommendation], format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => {
            let document = Document {
                schema_version: JSON_SCHEMA_VERSION,
                recommendations,
            };
            // Serializing plain data structures cannot fail.
            serde_json::to_string_pretty(&document).unwrap_or_default() + "\n"
        }
        OutputFormat::Table => recommendations
            .iter()
            .map(as_text)
            .collect::<Vec<_>>()
            .join("\n"),
        OutputFormat::Markdown => recommendations
            .iter()
            .map(as_markdown)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn step_row(index: usize, step: &Step) -> Vec<String> {
    vec![
        (index + 1).to_string(),
        step.question.to_string(),
        step.answer.clone(),
        step.reason.clone(),
        step.leads_to.clone(),
    ]
}

fn has_costs(rec: &Recommendation) -> bool {
    rec.candidates.iter().any(|c| c.monthly_cost.is_some())
}

fn candidate_row(candidate: &Candidate, with_cost: bool) -> Vec<String> {
    let mut row = vec![
        candidate.name.to_string(),
        candidate.verdict.label().to_string(),
        candidate.typical_latency.to_string(),
        candidate.why.clone(),
    ];
    if with_cost {
        row.push(
            candidate
                .monthly_cost
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".to_string()),
        );
    }
    row
}

const PATH_HEADER: [&str; 5] = ["#", "Question", "Answer", "Why", "Leads to"];

fn candidate_header(with_cost: bool) -> Vec<&'static str> {
    let mut header = vec!["Approach", "Verdict", "Latency", "Why"];
    if with_cost {
        header.push("Monthly cost");
    }
    header
}

fn title(rec: &Recommendation) -> String {
    match &rec.workload {
        Some(name) => format!("Workload {name}: {}", rec.approach_name),
        None => format!("Recommendation: {}", rec.approach_name),
    }
}

fn latency_line(rec: &Recommendation) -> Option<String> {
    rec.latency_row.map(|row| {
        format!(
            "{} ({}): {}",
            row.use_case, row.acceptable_latency, row.recommended_approach
        )
    })
}

fn premium_line(rec: &Recommendation) -> Option<String> {
    rec.premium_over_dbt.map(|premium| {
        format!(
            "Premium over {}: {premium} a month",
            crate::cost::BASELINE.title()
        )
    })
}

fn as_text(rec: &Recommendation) -> String {
    let mut out = format!("{}\n", title(rec));
    if let Some(line) = latency_line(rec) {
        out.push_str(&format!("Decision guide's latency table: {line}\n"));
    }
    if let Some(line) = premium_line(rec) {
        out.push_str(&format!("{line}\n"));
    }
    let mut path = table(&PATH_HEADER);
    for (i, step) in rec.path.iter().enumerate() {
        path.add_row(step_row(i, step));
    }
    out.push_str(&format!("\nPath through the decision tree\n{path}\n"));
    let with_cost = has_costs(rec);
    let mut candidates = table(&candidate_header(with_cost));
    for candidate in &rec.candidates {
        candidates.add_row(candidate_row(candidate, with_cost));
    }
    out.push_str(&format!("\nApproaches\n{candidates}\n"));
    if !rec.warnings.is_empty() {
        out.push_str("\nWarnings\n");
        for warning in &rec.warnings {
            out.push_str(&format!("  ! {}\n", warning.message));
        }
    }
    out
}

fn as_markdown(rec: &Recommendation) -> String {
    let mut out = format!("## {}\n\n", title(rec));
    if let Some(line) = latency_line(rec) {
        out.push_str(&format!("Decision guide's latency table: {line}\n\n"));
    }
    if let Some(line) = premium_line(rec) {
        out.push_str(&format!("{line}\n\n"));
    }
    out.push_str("### Path through the decision tree\n\n");
    let rows: Vec<Vec<String>> = rec
        .path
        .iter()
        .enumerate()
        .map(|(i, s)| step_row(i, s))
        .collect();
    out.push_str(&markdown_table(&PATH_HEADER, &rows));
    out.push_str("\n### Approaches\n\n");
    let with_cost = has_costs(rec);
    let rows: Vec<Vec<String>> = rec
        .candidates
        .iter()
        .map(|c| candidate_row(c, with_cost))
        .collect();
    out.push_str(&markdown_table(&candidate_header(with_cost), &rows));
    if !rec.warnings.is_empty() {
        out.push_str("\n### Warnings\n\n");
        for warning in &rec.warnings {
            out.push_str(&format!("- {}\n", warning.message));
        }
    }
    out
}
