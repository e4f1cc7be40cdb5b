//! `advisor rollback`: services back to their previous task definition revision, then the
//! same wait as deploy.

use serde::Serialize;

use super::deploy::confirm;
use super::{runtime, spinner, stacks};
use crate::aws::apply::Deployed;
use crate::aws::desired::Names;
use crate::aws::rollback::{self, Step};
use crate::aws::rollout::short;
use crate::aws::{self, Clients};
use crate::cli::RollbackArgs;
use crate::output::{OutputFormat, JSON_SCHEMA_VERSION};

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    stack: &'a str,
    rollback: &'a [Step],
    applied: bool,
    waited: bool,
}

pub fn run(args: &RollbackArgs, format: OutputFormat) -> anyhow::Result<()> {
    let spec = stacks::build(&args.stack, None)?.spec;
    let picked = stacks::pick_services(&spec, args.service.as_deref())?;
    let runtime = runtime()?;
    runtime.block_on(async {
        let clients = Clients::load(args.aws.profile.as_deref(), &spec.region).await;
        let account = aws::account_id(&clients).await?;
        let names = Names::new(&spec, &account);
        // A service's task definition family is its ECS name (see desired.rs).
        let services: Vec<(String, String)> = picked
            .iter()
            .map(|s| (names.service(s), names.service(s)))
            .collect();
        let steps = rollback::plan(&clients, &names.cluster, &services, args.to).await?;
        let print_json = |applied: bool, waited: bool| -> anyhow::Result<()> {
            let document = Document {
                schema_version: JSON_SCHEMA_VERSION,
                stack: &spec.name,
                rollback: &steps,
                applied,
                waited,
            };
            println!("{}", serde_json::to_string_pretty(&document)?);
            Ok(())
        };
        if format != OutputFormat::Json {
            println!("Rollback of stack {} in {}:", spec.name, spec.region);
            for step in &steps {
                println!(
                    "  ~ {}: {} -> {}",
                    step.service,
                    short(&step.from),
                    short(&step.to)
                );
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
        if !confirm(
            &format!(
                "Roll back {} service(s) of stack {}?",
                steps.len(),
                spec.name
            ),
            args.yes,
        )? {
            anyhow::bail!("rollback cancelled; nothing was changed");
        }
        rollback::apply(&clients, &names.cluster, &steps).await?;
        let waited = !args.no_wait;
        if waited {
            let deployed: Deployed = steps
                .iter()
                .map(|s| (s.service.clone(), s.to.clone()))
                .collect();
            let bar = spinner(format);
            let result = aws::wait_for_rollouts(
                &clients,
                &names.cluster,
                &deployed,
                args.timeout,
                |pending| {
                    bar.set_message(format!("waiting: {pending}"));
                },
            )
            .await;
            bar.finish_and_clear();
            result?;
        }
        if format == OutputFormat::Json {
            print_json(true, waited)?;
        } else {
            println!(
                "Stack {} rolled back{}.",
                spec.name,
                if waited {
                    " and every service runs the revision it was pointed at"
                } else {
                    " (not waiting for the rollout: see `advisor status`)"
                }
            );
        }
        Ok(())
    })
}
