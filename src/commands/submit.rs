use std::io::Write;

use anyhow::Context;

use super::runtime;
use serde::Serialize;

use crate::cli::{EndpointArgs, KsqlQueryArgs, StackArgs, SubmitKsqlArgs};
use crate::output::{print_rows, OutputFormat, JSON_SCHEMA_VERSION};
use crate::stack::Flavor;
use crate::submit::check::{self, Severity};
use crate::submit::ksql::{Client, Outcome};
use crate::submit::split::split;

/// The server to talk to: --endpoint, else the environment variable, else the endpoint of
/// the stack --config describes (the same StackSpec `deploy` applied), else `fallback`.
pub(super) fn resolve_endpoint(
    args: &EndpointArgs,
    variable: &str,
    flavor: Flavor,
    fallback: &str,
) -> anyhow::Result<String> {
    if let Some(endpoint) = &args.endpoint {
        return Ok(endpoint.clone());
    }
    if let Some(endpoint) = std::env::var(variable)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        return Ok(endpoint);
    }
    let Some(config) = &args.config else {
        return Ok(fallback.to_string());
    };
    let spec = super::stacks::build(
        &StackArgs {
            flavor,
            config: Some(config.clone()),
            name: args.name.clone(),
            region: None,
            arch: None,
            spot_share: None,
            spot: false,
        },
        None,
    )?
    .spec;
    let endpoint = spec.endpoint().with_context(|| {
        format!(
            "the {} stack of {} has no endpoint reachable from its VPC",
            flavor.id(),
            config.display()
        )
    })?;
    eprintln!(
        "using the {} stack's endpoint {endpoint} (a Cloud Map name: it resolves inside the \
         stack's VPC, e.g. over a VPN or from a bastion)",
        spec.name
    );
    Ok(endpoint)
}

pub(super) fn ksql_endpoint(args: &EndpointArgs, flavor: Flavor) -> anyhow::Result<String> {
    resolve_endpoint(
        args,
        "ADVISOR_KSQL_ENDPOINT",
        flavor,
        "http://localhost:8088",
    )
}

/// The first line of a statement, shortened for a table cell.
pub(super) fn first_line(statement: &str) -> String {
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
    let endpoint = ksql_endpoint(&args.endpoint, args.flavor)?;
    let outcomes: Vec<Outcome> = if args.dry_run {
        if format != OutputFormat::Json {
            eprintln!(
                "dry run: every statement is parsed with advisor-engine's ksqlDB parser; nothing is sent to {endpoint}"
            );
        }
        let checks = check::check(&text, &pieces);
        pieces
            .iter()
            .zip(checks)
            .map(|(p, check)| Outcome {
                line: p.line,
                statement: p.text.clone(),
                result: match (&check.severity, &check.message) {
                    (Severity::Ok, _) | (_, None) => "parsed; not sent (dry run)".into(),
                    (Severity::Warning, Some(message)) => format!(
                        "warning at line {}, column {}: {message} (ksqlDB accepts it; not sent)",
                        check.line, check.column
                    ),
                    (Severity::Error, Some(message)) => format!(
                        "syntax error at line {}, column {}: {message}",
                        check.line, check.column
                    ),
                },
                command_sequence_number: None,
                check: Some(check),
            })
            .collect()
    } else {
        let client = Client::new(&endpoint);
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
                    endpoint: &endpoint,
                    statements: &outcomes,
                })?
            );
        }
        OutputFormat::Markdown | OutputFormat::Table => print_rows(format, &header, rows),
    }
    let errors = outcomes
        .iter()
        .filter(|o| {
            o.check
                .as_ref()
                .is_some_and(|c| c.severity == Severity::Error)
        })
        .count();
    if errors > 0 {
        anyhow::bail!(
            "{}: {errors} statement(s) have syntax errors (listed above); nothing was sent",
            args.file.display()
        );
    }
    Ok(())
}

pub fn query(args: &KsqlQueryArgs) -> anyhow::Result<()> {
    let client = Client::new(&ksql_endpoint(&args.endpoint, args.flavor)?);
    let stdout = std::io::stdout();
    runtime()?.block_on(client.query(&args.sql, &mut |chunk| {
        let mut lock = stdout.lock();
        let _ = lock.write_all(chunk.as_bytes());
        let _ = lock.flush();
    }))?;
    println!();
    Ok(())
}
