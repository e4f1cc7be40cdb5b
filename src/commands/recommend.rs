use std::io::IsTerminal;

use anyhow::Context;

use super::pricing::Pricing;
use crate::cli::{RecommendArgs, WorkloadArgs};
use crate::cost;
use crate::decide::prompt::Prompter;
use crate::decide::{self, Asker, NoInput};
use crate::output::{self, OutputFormat};
use crate::workload::{self, Workload};

/// The workloads the flags and the file describe, flags laid over every file workload.
pub fn workloads_from(args: &WorkloadArgs) -> anyhow::Result<Vec<Workload>> {
    workloads_in(
        args.workload.as_deref(),
        args.name.as_deref(),
        &args.as_overlay(),
    )
}

/// The workloads of a file (or one empty workload), `overlay` laid over each, checked.
pub fn workloads_in(
    path: Option<&std::path::Path>,
    name: Option<&str>,
    overlay: &Workload,
) -> anyhow::Result<Vec<Workload>> {
    let mut workloads = match path {
        Some(path) => {
            let all = workload::load_file(path)?;
            workload::select(path, all, name)?
        }
        None => vec![Workload::default()],
    };
    for workload in &mut workloads {
        workload.overlay(overlay);
        workload.validate()?;
    }
    Ok(workloads)
}

pub fn run(args: &RecommendArgs, format: OutputFormat) -> anyhow::Result<()> {
    let workloads = workloads_from(&args.workload)?;
    let pricing = Pricing::from_args(&args.pricing, args.workload.region.as_deref())?;
    let interactive = !args.no_input && std::io::stdin().is_terminal();
    let mut asker: Box<dyn Asker> = if interactive {
        Box::new(Prompter::new(std::io::stdin().lock(), std::io::stderr()))
    } else {
        Box::new(NoInput)
    };
    let mut recommendations = Vec::with_capacity(workloads.len());
    for workload in &workloads {
        let mut recommendation =
            decide::decide(workload, asker.as_mut()).with_context(|| match &workload.name {
                Some(name) => format!("cannot recommend for workload {name:?}"),
                None => "cannot recommend".to_string(),
            })?;
        let options = pricing.options(workload)?;
        let usage = pricing.usage(workload)?;
        cost::annotate(&mut recommendation, &pricing.catalog, &options, &usage)?;
        recommendations.push(recommendation);
    }
    pricing.print_warnings();
    print!("{}", output::recommend::render(&recommendations, format));
    Ok(())
}
