use super::pricing::Pricing;
use super::recommend::workloads_from;
use crate::cli::CostArgs;
use crate::cost::{self, scenarios};
use crate::output::{self, OutputFormat};

pub fn run(args: &CostArgs, format: OutputFormat) -> anyhow::Result<()> {
    let pricing = Pricing::from_args(&args.pricing, args.workload.region.as_deref())?;
    let workloads = workloads_from(&args.workload)?;
    pricing.print_warnings();
    if args.guide_scenarios {
        let rows = scenarios::guide_scenarios(&pricing.catalog)?;
        print!(
            "{}",
            output::cost::render_scenarios(&rows, &pricing.catalog, &pricing.warnings, format)
        );
        return Ok(());
    }
    for workload in &workloads {
        let options = pricing.options(workload)?;
        let usage = pricing.usage(workload)?;
        let text = match args.flavor {
            Some(approach) if !args.compare => {
                let estimate = cost::estimate(approach, &pricing.catalog, &options, &usage)?;
                output::cost::render_estimates(
                    &[estimate],
                    &pricing.catalog,
                    &pricing.warnings,
                    format,
                )
            }
            _ => {
                let estimates = cost::compare(&pricing.catalog, &options, &usage)?;
                output::cost::render_compare(
                    &estimates,
                    &pricing.catalog,
                    &pricing.warnings,
                    format,
                )
            }
        };
        if let Some(name) = &workload.name {
            if format != OutputFormat::Json {
                println!("Workload {name}");
            }
        }
        print!("{text}");
    }
    Ok(())
}
