//! `advisor deploy`, `status` and `destroy`: the StackSpec applied through the AWS SDK.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use anyhow::Context;

use super::runtime;
use indicatif::ProgressBar;
use serde::Serialize;

use super::generate::stack_and_input;
use crate::aws::apply::Progress;
use crate::aws::desired::Names;
use crate::aws::plan::{Action, Change, Plan};
use crate::aws::{self, Clients};
use crate::cli::{DeployArgs, DestroyArgs, StatusArgs};
use crate::cost::{self, Catalog, PricingOptions, Usage};
use crate::money::CostRange;
use crate::output::{markdown_table, table, OutputFormat, JSON_SCHEMA_VERSION};

/// Asks on the terminal; without one, `--yes` is required.
fn confirm(question: &str, yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("{question} needs confirmation: pass --yes to go ahead without a terminal");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

const PLAN_HEADER: [&str; 4] = ["", "Resource", "Name", "Change"];

fn plan_rows(plan: &Plan) -> Vec<Vec<String>> {
    plan.changes
        .iter()
        .map(|c| {
            vec![
                c.action.symbol().to_string(),
                c.kind.label().to_string(),
                c.name.clone(),
                match c.action {
                    Action::Create => "create".to_string(),
                    Action::Unchanged if c.details.is_empty() => "unchanged".to_string(),
                    _ => c.details.join("; "),
                },
            ]
        })
        .collect()
}

fn plan_text(plan: &Plan, format: OutputFormat) -> String {
    let summary = format!(
        "Plan for stack {} in {}: {} to create, {} to update, {} unchanged",
        plan.stack,
        plan.region,
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Unchanged)
    );
    match format {
        OutputFormat::Markdown => format!(
            "## {summary}\n\n{}",
            markdown_table(&PLAN_HEADER, &plan_rows(plan))
        ),
        _ => {
            let mut rows = table(&PLAN_HEADER);
            for row in plan_rows(plan) {
                rows.add_row(row);
            }
            format!("{summary}\n{rows}\n")
        }
    }
}

/// Spinners on a terminal, plain lines on stderr otherwise.
struct Bars {
    format: OutputFormat,
    current: Option<ProgressBar>,
}

impl Bars {
    fn new(format: OutputFormat) -> Bars {
        Bars {
            format,
            current: None,
        }
    }
}

impl Progress for Bars {
    fn start(&mut self, change: &Change) {
        let message = format!("{} {}", change.kind.label(), change.name);
        if super::spinners_shown(self.format) {
            let bar = super::spinner(self.format);
            bar.set_message(message);
            self.current = Some(bar);
        } else {
            tracing::info!("applying {message}");
        }
    }

    fn done(&mut self, change: &Change, outcome: &str) {
        let line = format!(
            "{} {} {}: {outcome}",
            change.action.symbol(),
            change.kind.label(),
            change.name
        );
        match self.current.take() {
            Some(bar) => bar.finish_with_message(line),
            None => eprintln!("{line}"),
        }
    }
}

#[derive(Serialize)]
struct DeployDocument<'a> {
    schema_version: u32,
    plan: &'a Plan,
    applied: bool,
    waited: bool,
}

pub fn deploy(args: &DeployArgs, format: OutputFormat) -> anyhow::Result<()> {
    let (spec, _) = stack_and_input(&args.stack)?;
    let runtime = runtime()?;
    runtime.block_on(async {
        let clients = Clients::load(args.aws.profile.as_deref(), &spec.region).await;
        let (desired, live, plan) = aws::plan(&clients, &spec).await?;
        let print_json = |applied: bool, waited: bool| -> anyhow::Result<()> {
            let document = DeployDocument {
                schema_version: JSON_SCHEMA_VERSION,
                plan: &plan,
                applied,
                waited,
            };
            println!("{}", serde_json::to_string_pretty(&document)?);
            Ok(())
        };
        if format != OutputFormat::Json {
            print!("{}", plan_text(&plan, format));
        }
        if args.dry_run {
            if format == OutputFormat::Json {
                print_json(false, false)?;
            } else {
                println!("Dry run: nothing was changed.");
            }
            return Ok(());
        }
        if plan.is_noop() {
            if format == OutputFormat::Json {
                print_json(false, false)?;
            } else {
                println!("No changes: stack {} is up to date.", spec.name);
            }
            return Ok(());
        }
        let changes = plan.count(Action::Create) + plan.count(Action::Update);
        if !confirm(&format!("Apply {changes} change(s) to stack {}?", spec.name), args.yes)? {
            anyhow::bail!("deploy cancelled; nothing was changed");
        }
        let mut bars = Bars::new(format);
        let deployed = aws::apply::apply(&clients, &spec, &desired, &live, &plan, &mut bars)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "{e}\nThe deploy stopped part way; what was created is tagged advisor:stack={}. Run `advisor deploy` again to resume.",
                    spec.name
                )
            })?;
        let waited = !args.no_wait;
        if waited && !deployed.is_empty() {
            let bar = super::spinner(format);
            let cluster = desired.names.cluster.clone();
            let result = aws::wait_for_rollouts(&clients, &cluster, &deployed, args.timeout, |pending| {
                bar.set_message(format!("waiting: {pending}"));
            })
            .await;
            bar.finish_and_clear();
            result?;
        }
        if format == OutputFormat::Json {
            print_json(true, waited)?;
        } else {
            println!(
                "Stack {} deployed{}.{}",
                spec.name,
                if waited { " and every service runs its new task definition" } else { " (not waiting for the rollout: see `advisor status`)" },
                spec.endpoint().map(|e| format!(" Endpoint: {e}")).unwrap_or_default()
            );
        }
        Ok(())
    })
}

#[derive(Serialize)]
struct StatusDocument<'a> {
    schema_version: u32,
    #[serde(flatten)]
    status: &'a aws::status::StackStatus,
    monthly_cost: Option<CostRange>,
}

pub fn status(args: &StatusArgs, format: OutputFormat) -> anyhow::Result<()> {
    let (spec, input) = stack_and_input(&args.stack)?;
    let catalog = Catalog::embedded().context("the embedded price catalog is broken")?;
    let options = PricingOptions {
        region: spec.region.clone(),
        arch: spec.arch,
        spot: false,
        stack: Some(Arc::new(input)),
        ..PricingOptions::default()
    };
    let monthly_cost = cost::estimate(
        spec.flavor.approach(),
        &catalog,
        &options,
        &Usage::default(),
    )
    .map(|e| e.monthly_total)
    .ok();
    let runtime = runtime()?;
    let status = runtime.block_on(async {
        let clients = Clients::load(args.aws.profile.as_deref(), &spec.region).await;
        let account = aws::account_id(&clients).await?;
        let names = Names::new(&spec, &account);
        aws::status::status(&clients, &spec, &names).await
    })?;
    if format == OutputFormat::Json {
        let document = StatusDocument {
            schema_version: JSON_SCHEMA_VERSION,
            status: &status,
            monthly_cost,
        };
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(());
    }
    let header = [
        "Service",
        "Status",
        "Running / desired",
        "Task definition",
        "Deployments",
    ];
    let rows: Vec<Vec<String>> = status
        .services
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.status.clone(),
                format!("{} / {}", s.running, s.desired),
                s.task_definition.clone(),
                s.deployments
                    .iter()
                    .map(|d| {
                        format!(
                            "{} {} {} ({}/{})",
                            d.status, d.task_definition, d.rollout, d.running, d.desired
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            ]
        })
        .collect();
    let mut out = format!(
        "Stack {} in {} (cluster {})\nEndpoint: {}\nEstimated monthly cost: {}\n",
        status.stack,
        status.region,
        status.cluster,
        status.endpoint.clone().unwrap_or_else(|| "-".into()),
        monthly_cost
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into())
    );
    if format == OutputFormat::Markdown {
        out.push('\n');
        out.push_str(&markdown_table(&header, &rows));
    } else {
        let mut services = table(&header);
        for row in rows {
            services.add_row(row);
        }
        out.push_str(&format!("{services}\n"));
    }
    for service in &status.services {
        if !service.events.is_empty() {
            out.push_str(&format!("Recent events of {}:\n", service.name));
            for event in &service.events {
                out.push_str(&format!("  - {event}\n"));
            }
        }
    }
    print!("{out}");
    Ok(())
}

pub fn destroy(args: &DestroyArgs, format: OutputFormat) -> anyhow::Result<()> {
    let (spec, _) = stack_and_input(&args.stack)?;
    let question = format!(
        "Delete stack {} in {}{}?",
        spec.name,
        spec.region,
        if args.delete_data {
            " with its checkpoint bucket and every version in it"
        } else {
            ""
        }
    );
    if !confirm(&question, args.yes)? {
        anyhow::bail!("destroy cancelled; nothing was deleted");
    }
    let runtime = runtime()?;
    let removed = runtime.block_on(async {
        let clients = Clients::load(args.aws.profile.as_deref(), &spec.region).await;
        let account = aws::account_id(&clients).await?;
        let names = Names::new(&spec, &account);
        let quiet = format == OutputFormat::Json;
        aws::destroy::destroy(&clients, &spec, &names, args.delete_data, &mut |r| {
            if !quiet {
                eprintln!("- {} {}: {}", r.kind, r.name, r.outcome);
            }
        })
        .await
    })?;
    if format == OutputFormat::Json {
        #[derive(Serialize)]
        struct Document<'a> {
            schema_version: u32,
            removed: &'a [aws::destroy::Removed],
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&Document {
                schema_version: JSON_SCHEMA_VERSION,
                removed: &removed,
            })?
        );
    } else {
        let deleted = removed.iter().filter(|r| r.outcome != "absent").count();
        println!(
            "Stack {} destroyed: {deleted} resource(s) removed or kept as listed above.",
            spec.name
        );
    }
    Ok(())
}
