//! Cost: the price catalog, usage figures, the estimator, and the decision guide's own scenarios.

pub mod capacity;
pub mod catalog;
pub mod estimate;
pub mod scenarios;
pub mod usage;

pub use catalog::Catalog;
pub use estimate::{
    estimate, estimate_stack, stack_for, Estimate, EstimateError, PricingOptions, BASELINE, PRICED,
};
pub use usage::{Usage, UsageFile};

use crate::decide::{Recommendation, Warning, WarningKind};
use crate::money::{usd, CostRange};

/// Estimates for every priced approach, in the comparison's order.
pub fn compare(
    catalog: &Catalog,
    options: &PricingOptions,
    usage: &Usage,
) -> Result<Vec<Estimate>, EstimateError> {
    PRICED
        .iter()
        .map(|approach| estimate(*approach, catalog, options, usage))
        .collect()
}

/// What an approach costs a month beyond the dbt baseline.
pub fn premium(estimate: &Estimate, baseline: &Estimate) -> CostRange {
    estimate.monthly_total - baseline.monthly_total
}

/// Fills in each candidate's monthly cost and warns when the premium over dbt exceeds the
/// stated business value.
pub fn annotate(
    recommendation: &mut Recommendation,
    catalog: &Catalog,
    options: &PricingOptions,
    usage: &Usage,
) -> Result<(), EstimateError> {
    let estimates = compare(catalog, options, usage)?;
    for estimate in &estimates {
        if let Some(candidate) = recommendation.candidate_mut(estimate.approach) {
            candidate.monthly_cost = Some(estimate.monthly_total);
        }
    }
    let chosen = recommendation.approach;
    let baseline = estimates.iter().find(|e| e.approach == BASELINE);
    let picked = estimates.iter().find(|e| e.approach == chosen);
    if let (Some(baseline), Some(picked)) = (baseline, picked) {
        let extra = premium(picked, baseline);
        recommendation.premium_over_dbt = Some(extra);
        let value = usage.workload.business_value_usd;
        if let Some(value) = value.filter(|v| chosen.is_stream_processing() && extra.low_usd > *v) {
            recommendation.warnings.push(Warning {
                kind: WarningKind::PremiumExceedsValue,
                message: format!(
                    "{} costs {} a month more than {} while the lower latency is worth {} a month: the decision guide's key insight says add stream processing only when its value exceeds the premium",
                    chosen.title(),
                    extra,
                    BASELINE.title(),
                    usd(value)
                ),
            });
        }
    }
    Ok(())
}
