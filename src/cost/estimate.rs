//! The estimator: monthly cost of one approach, line by line, from a StackSpec (or the
//! decision guide's flat figures for dbt), the price catalog and the usage figures.

use serde::Serialize;

use super::catalog::{Catalog, CatalogError, Price};
use super::usage::{Figure, KafkaStorage, Usage};
use crate::decide::Approach;
use crate::money::CostRange;
use std::sync::Arc;

use crate::stack::{self, Arch, Demand, Flavor, Sizing, StackInput, StackSpec};

/// Options that change how an estimate is priced. The stack's own shape (region, arch,
/// Spot share, sizes) comes from `stack`, the same input `generate` and `deploy` read.
#[derive(Debug, Clone)]
pub struct PricingOptions {
    /// Where the flat-priced approaches (dbt) are priced; a stack is priced in its own
    /// region, which is the same one.
    pub region: String,
    /// stack.toml and the flags over it.
    pub stack: Arc<StackInput>,
    /// Hours a month each task runs (730 by default).
    pub hours: Option<f64>,
    pub ops_rate: Option<f64>,
    pub dev_rate: Option<f64>,
}

impl Default for PricingOptions {
    fn default() -> Self {
        PricingOptions {
            region: stack::DEFAULT_REGION.to_string(),
            stack: Arc::new(StackInput::default()),
            hours: None,
            ops_rate: None,
            dev_rate: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Stack(#[from] crate::stack::StackError),
    #[error("{approach} is not priced: {why}")]
    NotPriced {
        approach: &'static str,
        why: &'static str,
    },
    #[error("{what} must be {rule}, got {value}")]
    Option {
        what: &'static str,
        rule: &'static str,
        value: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Compute,
    Logs,
    Storage,
    Service,
    People,
}

/// A quantity that may be a range (ops hours are).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quantity {
    pub low: f64,
    pub high: f64,
}

impl Quantity {
    fn exact(value: f64) -> Self {
        Quantity {
            low: value,
            high: value,
        }
    }
}

impl Quantity {
    fn times(self, factor: f64) -> Quantity {
        Quantity {
            low: self.low * factor,
            high: self.high * factor,
        }
    }
}

impl From<f64> for Quantity {
    fn from(value: f64) -> Self {
        Quantity::exact(value)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineItem {
    pub component: String,
    pub category: Category,
    /// How the quantity was worked out.
    pub detail: String,
    pub quantity: Quantity,
    pub unit: String,
    pub unit_price_usd: f64,
    pub monthly: CostRange,
    /// True when the line rests on an assumed price or usage figure.
    pub assumed: bool,
    pub sources: Vec<String>,
    /// The assumed prices and usage figures the line rests on, each with its source.
    pub assumptions: Vec<String>,
}

fn price_assumption(price: &Price) -> String {
    format!(
        "{} = {} per {}: {}",
        price.key, price.usd, price.unit, price.source
    )
}

fn figure_assumption(figure: &Figure) -> String {
    format!(
        "{} = {} {}: {}",
        figure.name, figure.value, figure.unit, figure.source
    )
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub approach: Approach,
    pub approach_name: &'static str,
    pub region: String,
    pub arch: Arch,
    pub spot: bool,
    /// Share of the tasks on Fargate Spot, 0 to 1.
    pub spot_share: f64,
    pub hours_per_month: f64,
    pub lines: Vec<LineItem>,
    pub infrastructure: CostRange,
    pub ops_hours_month: Quantity,
    pub ops: CostRange,
    pub monthly_total: CostRange,
    pub dev_hours: Quantity,
    pub development_one_off: CostRange,
    pub sizing: Option<Sizing>,
    pub usage: Vec<Figure>,
    pub stack: Option<StackSpec>,
}

impl Estimate {
    pub fn by_category(&self, category: Category) -> CostRange {
        self.lines
            .iter()
            .filter(|l| l.category == category)
            .fold(CostRange::exact(0.0), |sum, l| sum + l.monthly)
    }
}

struct Pricer<'a> {
    catalog: &'a Catalog,
    region: &'a str,
    lines: Vec<LineItem>,
    usage: Vec<Figure>,
}

impl Pricer<'_> {
    fn price(&self, key: &str) -> Result<Price, CatalogError> {
        self.catalog.price(key, self.region)
    }

    fn note_usage(&mut self, figure: &Figure) {
        if !self.usage.iter().any(|f| f.name == figure.name) {
            self.usage.push(figure.clone());
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn line(
        &mut self,
        component: impl Into<String>,
        category: Category,
        detail: String,
        quantity: impl Into<Quantity>,
        price: &Price,
        extra_factor: f64,
        figures: &[&Figure],
    ) {
        let quantity = quantity.into();
        let monthly = CostRange::range(
            quantity.low * price.usd * extra_factor,
            quantity.high * price.usd * extra_factor,
        );
        let mut sources = vec![format!("{}: {}", price.key, price.source)];
        let mut assumptions = Vec::new();
        if price.assumed {
            assumptions.push(price_assumption(price));
        }
        for figure in figures {
            self.note_usage(figure);
            sources.push(format!("{}: {}", figure.name, figure.source));
            if figure.assumed {
                assumptions.push(figure_assumption(figure));
            }
        }
        self.lines.push(LineItem {
            component: component.into(),
            category,
            detail,
            quantity,
            unit: price.unit.clone(),
            unit_price_usd: price.usd,
            monthly,
            assumed: !assumptions.is_empty(),
            sources,
            assumptions,
        });
    }
}

fn check_options(options: &PricingOptions) -> Result<(), EstimateError> {
    let checks = [
        ("--hours", options.hours, "between 0 and 744"),
        ("--ops-rate", options.ops_rate, "zero or more"),
        ("--dev-rate", options.dev_rate, "zero or more"),
    ];
    for (what, value, rule) in checks {
        if let Some(v) = value {
            let bad = !v.is_finite() || v < 0.0 || (what == "--hours" && v > 744.0);
            if bad {
                return Err(EstimateError::Option {
                    what,
                    rule,
                    value: v,
                });
            }
        }
    }
    Ok(())
}

/// The stack a flavor runs for this usage, built and sized by [`stack::sized`]: the same
/// StackSpec `generate` writes and `deploy` applies for the same stack.toml, flags and
/// workload.
pub fn stack_for(
    flavor: Flavor,
    catalog: &Catalog,
    options: &PricingOptions,
    usage: &Usage,
) -> Result<StackSpec, EstimateError> {
    let demand = Demand {
        events_per_sec: usage.events_per_sec_given(),
        region: usage.workload.region.clone(),
        input_partitions: usage.workload.partitions,
    };
    let input = priceable(flavor, &options.stack);
    Ok(stack::sized(
        flavor,
        &input,
        &demand,
        &catalog.capacities_for(usage.workload.logic),
    )?)
}

/// The engine image is built for x86 only, so an ARM64 engine stack needs an image named in
/// stack.toml before it can be deployed; its price does not depend on the image, so pricing
/// names a placeholder rather than refusing.
fn priceable(flavor: Flavor, input: &Arc<StackInput>) -> Arc<StackInput> {
    let named = input
        .config
        .services
        .iter()
        .any(|(name, service)| name.get_ref() == "engine" && service.image.is_some());
    if flavor != Flavor::Engine || input.arch() != Arch::Arm64 || named {
        return Arc::clone(input);
    }
    let mut input = StackInput::clone(input);
    let placeholder = toml::Spanned::new(0..0, "advisor-engine:arm64".to_string());
    match input
        .config
        .services
        .iter_mut()
        .find(|(name, _)| name.get_ref() == "engine")
    {
        Some((_, service)) => service.image = Some(placeholder),
        None => {
            input.config.services.insert(
                toml::Spanned::new(0..0, "engine".to_string()),
                stack::config::ServiceConfig {
                    image: Some(placeholder),
                    ..stack::config::ServiceConfig::default()
                },
            );
        }
    }
    Arc::new(input)
}

/// Prices one approach: a stack approach through the StackSpec [`stack_for`] builds, the
/// others (dbt, a producer transform) from the catalog's flat figures.
pub fn estimate(
    approach: Approach,
    catalog: &Catalog,
    options: &PricingOptions,
    usage: &Usage,
) -> Result<Estimate, EstimateError> {
    check_options(options)?;
    if let Some(flavor) = Flavor::from_approach(approach) {
        let spec = stack_for(flavor, catalog, options, usage)?;
        return estimate_stack(&spec, catalog, options, usage);
    }
    catalog.check_region(&options.region)?;
    let mut pricer = Pricer {
        catalog,
        region: &options.region,
        lines: Vec::new(),
        usage: Vec::new(),
    };
    match approach {
        Approach::DbtHourly | Approach::Dbt5Min => {
            let key = if approach == Approach::DbtHourly {
                "dbt.hourly.month"
            } else {
                "dbt.every_5min.month"
            };
            let price = pricer.price(key)?;
            pricer.line(
                format!("{} (warehouse time and scheduler)", approach.title()),
                Category::Service,
                "the decision guide's monthly figure".to_string(),
                1.0,
                &price,
                1.0,
                &[],
            );
        }
        Approach::Producer => {}
        Approach::CustomInProcess => return Err(EstimateError::NotPriced {
            approach: approach.title(),
            why: "custom in-process systems are built to order; the decision guide gives no figure",
        }),
        Approach::Reconsider => {
            return Err(EstimateError::NotPriced {
                approach: approach.title(),
                why: "there is nothing to run",
            })
        }
        Approach::Ksqldb | Approach::Flink | Approach::Engine => {
            return Err(EstimateError::NotPriced {
                approach: approach.title(),
                why: "it runs a stack",
            })
        }
    }
    finish(approach, pricer, options, None)
}

/// Prices a StackSpec as it is: its services' counts and sizes, its region, architecture
/// and Spot share, its logs and checkpoints.
pub fn estimate_stack(
    stack: &StackSpec,
    catalog: &Catalog,
    options: &PricingOptions,
    usage: &Usage,
) -> Result<Estimate, EstimateError> {
    check_options(options)?;
    catalog.check_region(&stack.region)?;
    let hours = options.hours.unwrap_or(catalog.header.hours_per_month);
    let mut pricer = Pricer {
        catalog,
        region: &stack.region,
        lines: Vec::new(),
        usage: Vec::new(),
    };
    price_stack(&mut pricer, stack, hours, usage)?;
    finish(stack.flavor.approach(), pricer, options, Some(stack))
}

/// Adds the people's time to the priced lines and totals them up.
fn finish(
    approach: Approach,
    mut pricer: Pricer<'_>,
    options: &PricingOptions,
    stack: Option<&StackSpec>,
) -> Result<Estimate, EstimateError> {
    let catalog = pricer.catalog;
    let hours = options.hours.unwrap_or(catalog.header.hours_per_month);
    let region = pricer.region.to_string();
    let infrastructure = pricer
        .lines
        .iter()
        .fold(CostRange::exact(0.0), |sum, l| sum + l.monthly);

    let effort = catalog.effort(approach)?;
    let ops_price = rate_price(
        pricer.price("people.ops_hour")?,
        options.ops_rate,
        "--ops-rate",
    );
    let dev_price = rate_price(
        pricer.price("people.dev_hour")?,
        options.dev_rate,
        "--dev-rate",
    );
    let [ops_low, ops_high] = effort.ops_hours_month;
    let ops = CostRange::range(ops_low * ops_price.usd, ops_high * ops_price.usd);
    if ops_high > 0.0 {
        pricer.lines.push(LineItem {
            component: "Ops time".to_string(),
            category: Category::People,
            detail: format!("{ops_low}-{ops_high} hours a month"),
            quantity: Quantity {
                low: ops_low,
                high: ops_high,
            },
            unit: ops_price.unit.clone(),
            unit_price_usd: ops_price.usd,
            monthly: ops,
            assumed: effort.assumed || ops_price.assumed,
            sources: vec![
                format!("hours: {}", effort.source),
                format!("{}: {}", ops_price.key, ops_price.source),
            ],
            assumptions: [
                effort.assumed.then(|| {
                    format!(
                        "ops hours for {} = {ops_low}-{ops_high} a month: {}",
                        approach.id(),
                        effort.source
                    )
                }),
                ops_price.assumed.then(|| price_assumption(&ops_price)),
            ]
            .into_iter()
            .flatten()
            .collect(),
        });
    }
    let [dev_low, dev_high] = effort.dev_hours;
    let Pricer {
        lines,
        usage: figures,
        ..
    } = pricer;
    Ok(Estimate {
        approach,
        approach_name: approach.title(),
        region,
        arch: stack.map(|s| s.arch).unwrap_or_default(),
        spot: stack.is_some_and(|s| s.spot_share > 0.0),
        spot_share: stack.map(|s| s.spot_share).unwrap_or(0.0),
        hours_per_month: hours,
        lines,
        infrastructure,
        ops_hours_month: Quantity {
            low: ops_low,
            high: ops_high,
        },
        ops,
        monthly_total: infrastructure + ops,
        dev_hours: Quantity {
            low: dev_low,
            high: dev_high,
        },
        development_one_off: CostRange::range(dev_low * dev_price.usd, dev_high * dev_price.usd),
        sizing: stack.and_then(|s| s.sizing.clone()),
        usage: figures,
        stack: stack.cloned(),
    })
}

/// A rate from the command line replaces the catalog's and is no longer an assumption.
fn rate_price(mut price: Price, given: Option<f64>, flag: &str) -> Price {
    if let Some(usd) = given {
        price.usd = usd;
        price.assumed = false;
        price.source = format!("given with {flag}");
    }
    price
}

fn price_stack(
    pricer: &mut Pricer<'_>,
    stack: &StackSpec,
    hours: f64,
    usage: &Usage,
) -> Result<(), EstimateError> {
    let arch = stack.arch.id();
    let vcpu_price = pricer.price(&format!("fargate.{arch}.vcpu_hour"))?;
    let gb_price = pricer.price(&format!("fargate.{arch}.gb_hour"))?;
    let spot_discount = pricer.price("fargate.spot_discount")?;
    let spot_factor = 1.0 - spot_discount.usd * stack.spot_share;
    let spot_note = if stack.spot_share > 0.0 {
        format!(
            ", {:.0}% on Spot at {:.0}% off",
            stack.spot_share * 100.0,
            spot_discount.usd * 100.0
        )
    } else {
        String::new()
    };
    for service in &stack.services {
        // An autoscaled service costs its starting count at least and its max at most.
        let (tasks, most_tasks) = match &service.autoscaling {
            Some(scaling) => (service.desired_count, scaling.max_count),
            None => (service.desired_count, service.desired_count),
        };
        let task_hours = Quantity {
            low: f64::from(tasks) * hours,
            high: f64::from(most_tasks) * hours,
        };
        let counted = if most_tasks > tasks {
            format!("{tasks} to {most_tasks}")
        } else {
            tasks.to_string()
        };
        let tasks = match &service.autoscaling {
            Some(scaling) => format!(
                "{counted} tasks (autoscaled at {}% CPU)",
                scaling.target_cpu_percent
            ),
            None => format!("{counted} tasks"),
        };
        let label = format!(
            "{} ({counted} x {} vCPU, {} GB, {arch})",
            service.name,
            service.vcpu(),
            service.memory_gb()
        );
        let with_spot = |price: &Price| {
            let mut price = price.clone();
            if stack.spot_share > 0.0 {
                price.assumed |= spot_discount.assumed;
                price.source = format!("{}; {}", price.source, spot_discount.source);
            }
            price
        };
        pricer.line(
            format!("{label}: vCPU"),
            Category::Compute,
            format!("{tasks} x {} vCPU x {hours} h{spot_note}", service.vcpu()),
            task_hours.times(service.vcpu()),
            &with_spot(&vcpu_price),
            spot_factor,
            &[],
        );
        pricer.line(
            format!("{label}: memory"),
            Category::Compute,
            format!(
                "{tasks} x {} GB x {hours} h{spot_note}",
                service.memory_gb()
            ),
            task_hours.times(service.memory_gb()),
            &with_spot(&gb_price),
            spot_factor,
            &[],
        );
    }

    let approach = stack.flavor.approach();
    let log_gb = usage.log_gb_month(approach);
    let free = if usage.logs_free_tier() {
        pricer.price("logs.free_ingest_gb")?.usd
    } else {
        0.0
    };
    let billable = (log_gb.value - free).max(0.0);
    let ingest = pricer.price("logs.ingest_gb")?;
    let free_note = if usage.logs_free_tier() {
        format!(" less {free} GB free tier")
    } else {
        " (free tier assumed used by other workloads)".to_string()
    };
    pricer.line(
        "CloudWatch Logs ingest",
        Category::Logs,
        format!("{} GB a month{free_note}", log_gb.value),
        billable,
        &ingest,
        1.0,
        &[&log_gb],
    );
    let stored = log_gb.value * f64::from(stack.log_retention_days.min(30)) / 30.0;
    let storage = pricer.price("logs.storage_gb_month")?;
    pricer.line(
        "CloudWatch Logs storage",
        Category::Logs,
        format!(
            "{} days of {} GB a month kept",
            stack.log_retention_days, log_gb.value
        ),
        stored,
        &storage,
        1.0,
        &[&log_gb],
    );

    let output = usage.output_topic_gb(approach);
    if let Some(total) = output.first() {
        if total.value > 0.0 {
            let key = match usage.kafka_storage() {
                KafkaStorage::Msk => "kafka.msk.storage_gb_month",
                KafkaStorage::Generic => "kafka.generic.storage_gb_month",
            };
            let price = pricer.price(key)?;
            let figures: Vec<&Figure> = output.iter().collect();
            pricer.line(
                "Kafka storage for output topics",
                Category::Storage,
                total.source.clone(),
                total.value,
                &price,
                1.0,
                &figures,
            );
        }
    }

    if let Some(checkpoints) = &stack.checkpoints {
        let size = usage.checkpoint_gb();
        let versions = usage.checkpoint_versions_kept();
        let files = usage.checkpoint_files();
        let per_month = hours * 60.0 / checkpoints.interval_minutes;
        let s3 = pricer.price("s3.storage_gb_month")?;
        pricer.line(
            "S3 checkpoints: storage",
            Category::Storage,
            format!(
                "{:.3} GB checkpoint x {} versions kept",
                size.value, versions.value
            ),
            size.value * versions.value,
            &s3,
            1.0,
            &[&size, &versions],
        );
        let puts = pricer.price("s3.put_1000")?;
        pricer.line(
            "S3 checkpoints: PUT requests",
            Category::Storage,
            format!(
                "{per_month:.0} checkpoints a month (every {} min) x {} files",
                checkpoints.interval_minutes, files.value
            ),
            per_month * files.value / 1000.0,
            &puts,
            1.0,
            &[&files],
        );
    }
    Ok(())
}

/// Approaches that can be priced, in the order the comparison shows them.
pub const PRICED: [Approach; 6] = [
    Approach::DbtHourly,
    Approach::Dbt5Min,
    Approach::Producer,
    Approach::Ksqldb,
    Approach::Engine,
    Approach::Flink,
];

/// The approach that the premium of stream processing is measured against.
pub const BASELINE: Approach = Approach::Dbt5Min;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::round_cents;

    fn one_task(region: &str, arch: Arch) -> f64 {
        let catalog = Catalog::embedded().unwrap();
        let overrides = stack::Overrides {
            region: Some(region.to_string()),
            arch: Some(arch),
            ..stack::Overrides::default()
        };
        let options = PricingOptions {
            region: region.to_string(),
            stack: Arc::new(StackInput {
                overrides,
                ..StackInput::default()
            }),
            ..PricingOptions::default()
        };
        let estimate = estimate(Approach::Ksqldb, &catalog, &options, &Usage::default()).unwrap();
        round_cents(estimate.by_category(Category::Compute).low_usd)
    }

    #[test]
    fn one_vcpu_two_gb_for_a_month_matches_the_worked_checks() {
        assert_eq!(one_task("us-east-1", Arch::X86), 36.04);
        assert_eq!(one_task("eu-west-2", Arch::X86), 41.45);
    }
}
