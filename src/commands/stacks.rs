//! How the stack commands (generate, deploy, status, diff) get their StackSpec: stack.toml,
//! the flags over it and the workload, through [`stack::sized`], the same function `cost`
//! prices through.

use std::sync::Arc;

use anyhow::Context;

use super::recommend::workloads_in;
use crate::cli::{SizingArgs, StackArgs};
use crate::cost::Catalog;
use crate::stack::{self, Demand, StackInput, StackSpec};
use crate::workload::Workload;

/// A stack as the commands build it, with what it was built from.
pub struct Built {
    pub spec: StackSpec,
    pub input: Arc<StackInput>,
    pub workload: Workload,
    pub catalog: Catalog,
}

/// Builds the StackSpec for the flags, stack.toml and (when given) the workload.
pub fn build(args: &StackArgs, sizing: Option<&SizingArgs>) -> anyhow::Result<Built> {
    let input = StackInput::load(args.config.as_deref(), args.overrides())?;
    let catalog = Catalog::embedded().context("the embedded price catalog is broken")?;
    let workload = match sizing {
        Some(sizing) => one_workload(sizing)?,
        None => Workload::default(),
    };
    let demand = Demand {
        events_per_sec: workload.events_per_sec,
        region: workload.region.clone(),
        input_partitions: workload.partitions,
    };
    let spec = stack::sized(
        args.flavor,
        &input,
        &demand,
        &catalog.capacities_for(workload.logic),
    )?;
    Ok(Built {
        spec,
        input: Arc::new(input),
        workload,
        catalog,
    })
}

/// A stack is sized for one workload: a file of several needs --workload-name.
fn one_workload(args: &SizingArgs) -> anyhow::Result<Workload> {
    let mut workloads = workloads_in(
        args.workload.as_deref(),
        args.workload_name.as_deref(),
        &args.fields.as_overlay(),
    )?;
    if workloads.len() > 1 {
        let names: Vec<&str> = workloads.iter().filter_map(|w| w.name.as_deref()).collect();
        anyhow::bail!(
            "{} has {} workloads ({}); a stack is sized for one: pick it with --workload-name",
            args.workload
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            workloads.len(),
            names.join(", ")
        );
    }
    workloads
        .pop()
        .context("the workload file defines no workload")
}

/// The stack's services, or the one `--service` names (by its name in the stack, e.g.
/// `taskmanager`, or its ECS name, e.g. `orders-taskmanager`).
pub fn pick_services<'a>(
    spec: &'a StackSpec,
    service: Option<&str>,
) -> anyhow::Result<Vec<&'a crate::stack::ServiceSpec>> {
    let Some(wanted) = service else {
        return Ok(spec.services.iter().collect());
    };
    let found = spec
        .services
        .iter()
        .find(|s| s.name == wanted || format!("{}-{}", spec.name, s.name) == wanted);
    match found {
        Some(service) => Ok(vec![service]),
        None => anyhow::bail!(
            "the {} stack has no service {wanted:?}; its services are: {}",
            spec.flavor.id(),
            spec.services
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
