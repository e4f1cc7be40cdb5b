//! What the pricing commands share: the catalog, the usage file, and options per workload.

use anyhow::Context;

use crate::cli::PricingArgs;
use std::sync::Arc;

use crate::cost::estimate::StackInput;
use crate::cost::{Catalog, PricingOptions, Usage, UsageFile};
use crate::stack::Arch;
use crate::workload::Workload;

pub const DEFAULT_REGION: &str = "us-east-1";

pub struct Pricing {
    pub catalog: Catalog,
    usage_file: UsageFile,
    stack: Option<Arc<StackInput>>,
    args_arch: Option<Arch>,
    spot: bool,
    hours: Option<f64>,
    ops_rate: Option<f64>,
    dev_rate: Option<f64>,
    /// Warnings about the catalog itself (its age), shown once per run.
    pub warnings: Vec<String>,
}

impl Pricing {
    pub fn from_args(args: &PricingArgs) -> anyhow::Result<Pricing> {
        let catalog = match &args.prices {
            Some(path) => Catalog::load(path)?,
            None => Catalog::embedded().context("the embedded price catalog is broken")?,
        };
        let usage_file = match &args.usage {
            Some(path) => UsageFile::load(path)?,
            None => UsageFile::default(),
        };
        let stack = match &args.config {
            Some(path) => {
                let (config, source) = crate::stack::config::load(path)?;
                Some(Arc::new(StackInput { config, source }))
            }
            None => None,
        };
        let today = jiff::ZonedDateTime::now().date();
        let warnings = catalog
            .staleness_warning(today, args.max_catalog_age)
            .into_iter()
            .collect();
        Ok(Pricing {
            catalog,
            usage_file,
            stack,
            args_arch: args.arch,
            spot: args.spot,
            hours: args.hours,
            ops_rate: args.ops_rate,
            dev_rate: args.dev_rate,
            warnings,
        })
    }

    /// Pricing options for a workload: its region (or stack.toml's, or us-east-1) and the
    /// architecture of --arch (or stack.toml's, or x86).
    pub fn options(&self, workload: &Workload) -> anyhow::Result<PricingOptions> {
        let config = self.stack.as_ref().map(|s| &s.config);
        let region = workload
            .region
            .clone()
            .or_else(|| {
                config
                    .and_then(|c| c.region.as_ref())
                    .map(|r| r.get_ref().clone())
            })
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        self.catalog.check_region(&region)?;
        let arch = self
            .args_arch
            .or_else(|| config.and_then(|c| c.arch.as_ref()).map(|a| *a.get_ref()))
            .unwrap_or_default();
        Ok(PricingOptions {
            region,
            arch,
            spot: self.spot,
            stack: self.stack.clone(),
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
