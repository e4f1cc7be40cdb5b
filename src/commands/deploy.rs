//! `advisor deploy`, `status` and `destroy`: the StackSpec applied through the AWS SDK.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use super::runtime;
use indicatif::ProgressBar;
use serde::Serialize;

use super::stacks;
use crate::aws::apply::Progress;
use crate::aws::desired::Names;
use crate::aws::diff::ResourceDiff;
use crate::aws::drift::Drift;
use crate::aws::plan::{Action, Change, Plan};
use crate::aws::{self, Clients};
use crate::cli::{DeployArgs, DestroyArgs, DiffArgs, StatusArgs};
use crate::cost::{self, PricingOptions, Usage, UsageFile};
use crate::money::CostRange;
use crate::output::{markdown_table, table, OutputFormat, JSON_SCHEMA_VERSION};

/// Asks on the terminal; without one, `--yes` is required.
pub(super) fn confirm(question: &str, yes: bool) -> anyhow::Result<bool> {
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
    #[serde(skip_serializing_if = "Option::is_none")]
    diffs: Option<&'a [ResourceDiff]>,
    /// What --build-image built and pushed.
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a crate::image::Pushed>,
    applied: bool,
    waited: bool,
}

/// The diffs as text: a heading per resource, then its unified diff.
fn diff_text(plan: &Plan, diffs: &[ResourceDiff]) -> String {
    let mut out = format!(
        "Plan for stack {} in {}: {} to create, {} to update, {} unchanged\n",
        plan.stack,
        plan.region,
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Unchanged)
    );
    for diff in diffs {
        out.push_str(&format!(
            "\n{} {} {}\n{}",
            diff.action.symbol(),
            diff.kind.label(),
            diff.name,
            diff.diff
        ));
    }
    out
}

#[derive(Serialize)]
struct DiffDocument<'a> {
    schema_version: u32,
    plan: &'a Plan,
    diffs: &'a [ResourceDiff],
}

pub fn diff(args: &DiffArgs, format: OutputFormat) -> anyhow::Result<()> {
    let spec = stacks::build(&args.stack, Some(&args.sizing))?.spec;
    let runtime = runtime()?;
    runtime.block_on(async {
        let clients = Clients::load(args.aws.profile.as_deref(), &spec.region).await;
        let (desired, live, plan) = aws::plan(&clients, &spec).await?;
        let diffs = aws::diff::diff(&desired, &live, &plan);
        if format == OutputFormat::Json {
            let document = DiffDocument {
                schema_version: JSON_SCHEMA_VERSION,
                plan: &plan,
                diffs: &diffs,
            };
            println!("{}", serde_json::to_string_pretty(&document)?);
        } else {
            print!("{}", diff_text(&plan, &diffs));
            if diffs.is_empty() {
                println!("No changes: stack {} is up to date.", spec.name);
            }
        }
        Ok(())
    })
}

pub fn deploy(args: &DeployArgs, format: OutputFormat) -> anyhow::Result<()> {
    let mut spec = stacks::build(&args.stack, Some(&args.sizing))?.spec;
    let runtime = runtime()?;
    // A dry run changes nothing, a registry included: the plan shows the stack's image.
    let image = if args.build_image && !args.dry_run {
        Some(super::image::build_and_push_for_deploy(
            &mut spec,
            args.image_repository.as_deref(),
            args.aws.profile.as_deref(),
            &runtime,
            format,
        )?)
    } else {
        None
    };
    runtime.block_on(async {
        let clients = Clients::load(args.aws.profile.as_deref(), &spec.region).await;
        let (desired, live, plan) = aws::plan(&clients, &spec).await?;
        let diffs = args.diff.then(|| aws::diff::diff(&desired, &live, &plan));
        let print_json = |applied: bool, waited: bool| -> anyhow::Result<()> {
            let document = DeployDocument {
                schema_version: JSON_SCHEMA_VERSION,
                plan: &plan,
                diffs: diffs.as_deref(),
                image: image.as_ref(),
                applied,
                waited,
            };
            println!("{}", serde_json::to_string_pretty(&document)?);
            Ok(())
        };
        match (&diffs, format) {
            (_, OutputFormat::Json) => {}
            (Some(diffs), _) => print!("{}", diff_text(&plan, diffs)),
            (None, _) => print!("{}", plan_text(&plan, format)),
        }
        if let Some(sizing) = &spec.sizing {
            if format != OutputFormat::Json {
                println!("Sizing: {}", sizing.note);
            }
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
    /// What the stack file (with the flags and workload) describes, priced.
    monthly_cost: Option<CostRange>,
    /// What runs in ECS (desired counts, task definition sizes, Spot share), priced.
    live_monthly_cost: Option<CostRange>,
    sizing: Option<&'a crate::stack::Sizing>,
    drift: &'a [Drift],
}

pub fn status(args: &StatusArgs, format: OutputFormat) -> anyhow::Result<()> {
    let built = stacks::build(&args.stack, Some(&args.sizing))?;
    let spec = &built.spec;
    let runtime = runtime()?;
    let (status, names) = runtime.block_on(async {
        let clients = Clients::load(args.aws.profile.as_deref(), &spec.region).await;
        let account = aws::account_id(&clients).await?;
        let names = Names::new(spec, &account);
        let status = aws::status::status(&clients, spec, &names).await?;
        anyhow::Ok((status, names))
    })?;
    let drift = aws::drift::drift(spec, &names, &status);
    let live = aws::drift::live_spec(spec, &names, &status);
    let options = PricingOptions {
        region: spec.region.clone(),
        stack: Arc::clone(&built.input),
        ..PricingOptions::default()
    };
    let usage = Usage::new(built.workload.clone(), UsageFile::default())?;
    let price = |stack: &crate::stack::StackSpec| {
        cost::estimate_stack(stack, &built.catalog, &options, &usage)
            .map(|e| e.monthly_total)
            .map_err(|e| tracing::warn!("cannot price the stack: {e}"))
            .ok()
    };
    let monthly_cost = price(spec);
    let live_monthly_cost = price(&live);
    if format == OutputFormat::Json {
        let document = StatusDocument {
            schema_version: JSON_SCHEMA_VERSION,
            status: &status,
            monthly_cost,
            live_monthly_cost,
            sizing: spec.sizing.as_ref(),
            drift: &drift,
        };
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(());
    }
    let header = [
        "Service",
        "Status",
        "Running / desired",
        "Size",
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
                match &s.autoscaling {
                    Some(scaling) => format!(
                        "{} / {} (autoscaled {} to {}{})",
                        s.running,
                        s.desired,
                        scaling.min_count,
                        scaling.max_count,
                        scaling
                            .policy
                            .as_ref()
                            .map(|p| format!(" at {}% CPU", p.target_cpu_percent))
                            .unwrap_or_default()
                    ),
                    None => format!("{} / {}", s.running, s.desired),
                },
                match (s.cpu_units, s.memory_mib) {
                    (Some(cpu), Some(memory)) => format!(
                        "{} vCPU / {} GB",
                        f64::from(cpu) / 1024.0,
                        f64::from(memory) / 1024.0
                    ),
                    _ => "-".into(),
                },
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
    let money = |c: Option<CostRange>| c.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
    let mut out = format!(
        "Stack {} in {} (cluster {})\nEndpoint: {}\nEstimated monthly cost: {} as the stack file describes it, {} as it runs (desired counts and sizes read from ECS)\n",
        status.stack,
        status.region,
        status.cluster,
        status.endpoint.clone().unwrap_or_else(|| "-".into()),
        money(monthly_cost),
        money(live_monthly_cost),
    );
    if let Some(sizing) = &spec.sizing {
        out.push_str(&format!("Sizing: {}\n", sizing.note));
    }
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
    if drift.is_empty() {
        out.push_str("No drift: ECS runs what the stack file describes.\n");
    } else {
        out.push_str(
            "Drift (the stack file vs ECS; `advisor deploy` brings ECS back to the file):\n",
        );
        for d in &drift {
            out.push_str(&format!(
                "  - {} {}: {} in the stack file, {} in ECS\n",
                d.service, d.field, d.stack, d.live
            ));
        }
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
    let spec = stacks::build(&args.stack, None)?.spec;
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
