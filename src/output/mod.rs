//! How results reach people and scripts: tables, Markdown, JSON.

pub mod cost;
pub mod recommend;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};

/// `--output` for every command that prints results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Tables for a terminal.
    #[default]
    Table,
    /// A stable JSON document for scripts (see docs/json-output.md).
    Json,
    /// Markdown to paste into a ticket or a wiki.
    Markdown,
}

/// Version of every JSON document the CLI prints; raised on any breaking change.
pub const JSON_SCHEMA_VERSION: u32 = 1;

pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    if let Some(width) = columns_env() {
        table.set_width(width);
    }
    table
}

/// comfy-table reads the terminal's width itself, but only when stdout is a terminal;
/// `COLUMNS` lets a pipe ask for a width too.
fn columns_env() -> Option<u16> {
    std::env::var("COLUMNS").ok()?.parse().ok()
}

/// A Markdown table; pipes in cells are escaped so they do not split columns.
pub fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let escape = |cell: &str| cell.replace('|', "\\|").replace('\n', " ");
    let mut out = String::new();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    out.push_str(&format!(
        "|{}\n",
        header.iter().map(|_| "---|").collect::<String>()
    ));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// Rows as a terminal table or Markdown; JSON documents are each command's own.
pub fn print_rows(format: OutputFormat, header: &[&str], rows: Vec<Vec<String>>) {
    if format == OutputFormat::Markdown {
        print!("{}", markdown_table(header, &rows));
        return;
    }
    let mut out = table(header);
    for row in rows {
        out.add_row(row);
    }
    println!("{out}");
}

/// Prints one JSON document on stdout, as `--output json` promises.
pub fn print_json<T: serde::Serialize>(document: &T) -> Result<(), serde_json::Error> {
    println!("{}", serde_json::to_string_pretty(document)?);
    Ok(())
}
