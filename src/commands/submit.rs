use std::io::Write;

use anyhow::Context;

use super::runtime;
use serde::Serialize;

use crate::cli::{KsqlQueryArgs, SubmitKsqlArgs};
use crate::output::{markdown_table, table, OutputFormat, JSON_SCHEMA_VERSION};
use crate::submit::ksql::{Client, Outcome};
use crate::submit::split::split;

fn first_line(statement: &str) -> String {
    let line = statement
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
        .unwrap_or("");
    let line = line.trim();
    if line.chars().count() > 70 {
        format!("{}...", line.chars().take(67).collect::<String>())
    } else {
        line.to_string()
    }
}

pub fn ksql(args: &SubmitKsqlArgs, format: OutputFormat) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let pieces = split(&text)
        .with_context(|| format!("{} cannot be split into statements", args.file.display()))?;
    if pieces.is_empty() {
        anyhow::bail!("{} holds no statement", args.file.display());
    }
    let outcomes: Vec<Outcome> = if args.dry_run {
        pieces
            .iter()
            .map(|p| Outcome {
                line: p.line,
                statement: p.text.clone(),
                result: "not sent (dry run)".into(),
                command_sequence_number: None,
            })
            .collect()
    } else {
        let client = Client::new(&args.endpoint);
        let quiet = format == OutputFormat::Json;
        runtime()?
            .block_on(client.submit(&pieces, &mut |o| {
                if !quiet {
                    eprintln!("line {}: {}", o.line, o.result);
                }
            }))
            .with_context(|| format!("{} stopped", args.file.display()))?
    };
    let header = ["Line", "Statement", "Result"];
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            vec![
                o.line.to_string(),
                first_line(&o.statement),
                o.result.clone(),
            ]
        })
        .collect();
    match format {
        OutputFormat::Json => {
            #[derive(Serialize)]
            struct Document<'a> {
                schema_version: u32,
                endpoint: &'a str,
                statements: &'a [Outcome],
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&Document {
                    schema_version: JSON_SCHEMA_VERSION,
                    endpoint: &args.endpoint,
                    statements: &outcomes,
                })?
            );
        }
        OutputFormat::Markdown => print!("{}", markdown_table(&header, &rows)),
        OutputFormat::Table => {
            let mut out = table(&header);
            for row in rows {
                out.add_row(row);
            }
            println!("{out}");
        }
    }
    Ok(())
}

pub fn query(args: &KsqlQueryArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.endpoint);
    let stdout = std::io::stdout();
    runtime()?.block_on(client.query(&args.sql, &mut |chunk| {
        let mut lock = stdout.lock();
        let _ = lock.write_all(chunk.as_bytes());
        let _ = lock.flush();
    }))?;
    println!();
    Ok(())
}
