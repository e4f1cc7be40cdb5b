//! What the pricing commands share: the catalog, the usage file, and options per workload.

use anyhow::Context;

use crate::cli::PricingArgs;
use std::sync::Arc;

use crate::cost::{Catalog, PricingOptions, Usage, UsageFile};
use crate::stack::{Demand, Overrides, StackInput};
use crate::workload::Workload;

pub struct Pricing {
    pub catalog: Catalog,
    usage_file: UsageFile,
    stack: Arc<StackInput>,
    hours: Option<f64>,
    ops_rate: Option<f64>,
    dev_rate: Option<f64>,
    /// Warnings about the catalog itself (its age), shown once per run.
    pub warnings: Vec<String>,
}

impl Pricing {
    /// `region` is the --region flag: like the stack commands' --region, it overrides
    /// stack.toml.
    pub fn from_args(args: &PricingArgs, region: Option<&str>) -> anyhow::Result<Pricing> {
        let catalog = match &args.prices {
            Some(path) => Catalog::load(path)?,
            None => Catalog::embedded().context("the embedded price catalog is broken")?,
        };
        let usage_file = match &args.usage {
            Some(path) => UsageFile::load(path)?,
            None => UsageFile::default(),
        };
        let overrides = Overrides {
            name: None,
            region: region.map(str::to_string),
            arch: args.arch,
            spot_share: args.spot_share.or(args.spot.then_some(1.0)),
        };
        let stack = Arc::new(StackInput::load(args.config.as_deref(), overrides)?);
        let today = jiff::ZonedDateTime::now().date();
        let warnings = catalog
            .staleness_warning(today, args.max_catalog_age)
            .into_iter()
            .collect();
        Ok(Pricing {
            catalog,
            usage_file,
            stack,
            hours: args.hours,
            ops_rate: args.ops_rate,
            dev_rate: args.dev_rate,
            warnings,
        })
    }

    /// Pricing options for a workload: the stack input, and the region the stack runs in
    /// (--region, else stack.toml's, else the workload's, else us-east-1).
    pub fn options(&self, workload: &Workload) -> anyhow::Result<PricingOptions> {
        let demand = Demand {
            events_per_sec: workload.events_per_sec,
            region: workload.region.clone(),
            input_partitions: workload.partitions,
        };
        let region = self.stack.region(&demand);
        self.catalog.check_region(&region)?;
        Ok(PricingOptions {
            region,
            stack: Arc::clone(&self.stack),
            hours: self.hours,
            ops_rate: self.ops_rate,
            dev_rate: self.dev_rate,
        })
    }

    pub fn usage(&self, workload: &Workload) -> anyhow::Result<Usage> {
        Ok(Usage::new(workload.clone(), self.usage_file.clone())?)
    }

    /// Prints the catalog's warnings on stderr, where they do not spoil JSON on stdout.
    pub fn print_warnings(&self) {
        for warning in &self.warnings {
            eprintln!("warning: {warning}");
        }
    }
}
