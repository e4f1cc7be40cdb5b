use std::path::Path;

use anyhow::Context;

use super::pricing::Pricing;
use super::recommend::workloads_from;
use crate::cli::ReportArgs;
use crate::cost;
use crate::decide::{self, NoInput};
use crate::render::report::{self, WorkloadInput};

pub const FILES: [&str; 2] = ["report.md", "report.html"];

pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let pricing = Pricing::from_args(&args.pricing, args.workload.region.as_deref())?;
    let workloads = workloads_from(&args.workload)?;
    let mut inputs = Vec::with_capacity(workloads.len());
    for workload in &workloads {
        let mut recommendation =
            decide::decide(workload, &mut NoInput).with_context(|| match &workload.name {
                Some(name) => format!("cannot report on workload {name:?}"),
                None => "cannot report on the workload".to_string(),
            })?;
        let options = pricing.options(workload)?;
        let usage = pricing.usage(workload)?;
        cost::annotate(&mut recommendation, &pricing.catalog, &options, &usage)?;
        inputs.push(WorkloadInput {
            recommendation,
            options,
            usage,
        });
    }
    let today = jiff::ZonedDateTime::now().date().to_string();
    let rendered = report::render(&inputs, &pricing.catalog, &pricing.warnings, &today)?;
    pricing.print_warnings();
    write_files(
        &args.out,
        args.force,
        &[(FILES[0], &rendered.markdown), (FILES[1], &rendered.html)],
    )?;
    for file in FILES {
        println!("{}", args.out.join(file).display());
    }
    Ok(())
}

/// Writes every file or none: existing files are refused before anything is written.
fn write_files(dir: &Path, force: bool, files: &[(&str, &String)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the report folder {}", dir.display()))?;
    if !force {
        for (name, _) in files {
            let path = dir.join(name);
            if path.exists() {
                anyhow::bail!(
                    "{} already exists; pass --force to overwrite it",
                    path.display()
                );
            }
        }
    }
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
