//! Target-tracking autoscaling from stack.toml's `[services.<name>.autoscaling]`, checked
//! against what the stack was sized to: the task count the workload's rate needs is the
//! floor unless stack.toml sets a lower `min`, and the bounds must hold it.

use super::config::{Source, StackConfig};
use super::{AutoscalingSpec, Demand, Flavor, Role, ServiceSpec, StackError};

/// A new task needs time to start and catch up before its CPU says anything, so the
/// autoscaler waits this long after adding tasks before it adds more.
const SCALE_OUT_COOLDOWN_SECONDS: u32 = 60;
/// Removing a task moves its partitions, and their state, to the others: scale in slowly.
const SCALE_IN_COOLDOWN_SECONDS: u32 = 300;

/// Adds the autoscaling stack.toml asks for to the services it names. `utilization` is the
/// share of capacity the price catalog plans tasks to use, the default CPU target, so the
/// autoscaler holds the services where sizing put them.
pub(super) fn apply(
    flavor: Flavor,
    services: &mut [ServiceSpec],
    config: &StackConfig,
    source: &Source,
    demand: &Demand,
    utilization: f64,
) -> Result<(), StackError> {
    for (key, wanted) in &config.services {
        let Some(spanned) = &wanted.autoscaling else {
            continue;
        };
        let Some(service) = services.iter_mut().find(|s| &s.name == key.get_ref()) else {
            continue;
        };
        let at = |field: &str| format!("services.{}.autoscaling{field}", service.name);
        let autoscaling = spanned.get_ref();
        if service.role == Role::Coordinator {
            return Err(source.error(
                spanned,
                &at(""),
                "the coordinator runs exactly one task and cannot be autoscaled",
            ));
        }
        if flavor == Flavor::Flink {
            return Err(source.error(
                spanned,
                &at(""),
                "Flink jobs here run at the parallelism they were submitted with (reactive mode is not configured), so TaskManagers the autoscaler adds would sit idle; size them with count or the workload's rate",
            ));
        }
        let max = *autoscaling.max.get_ref();
        let min = autoscaling
            .min
            .as_ref()
            .map(|m| *m.get_ref())
            .unwrap_or(service.desired_count);
        if min == 0 {
            let span = autoscaling.min.as_ref().unwrap_or(&autoscaling.max);
            return Err(source.error(span, &at(".min"), "must be 1 or more"));
        }
        if autoscaling.min.is_none() && max < service.desired_count {
            return Err(source.error(
                &autoscaling.max,
                &at(".max"),
                format!(
                    "{max} is below the {} tasks the service is sized to; raise max or set a lower min",
                    service.desired_count
                ),
            ));
        }
        if max < min {
            return Err(source.error(
                &autoscaling.max,
                &at(".max"),
                format!("{max} is below min {min}"),
            ));
        }
        if let (Flavor::Engine, Some(partitions)) = (flavor, demand.input_partitions) {
            if max > partitions {
                return Err(source.error(
                    &autoscaling.max,
                    &at(".max"),
                    format!(
                        "the input topics have {partitions} partitions, and an engine task reads whole partitions, so tasks beyond {partitions} would sit idle; set max to {partitions} or less"
                    ),
                ));
            }
        }
        let target_cpu_percent = match &autoscaling.target_cpu {
            Some(target) => {
                let value = *target.get_ref();
                if !(value > 0.0 && value <= 100.0) {
                    return Err(source.error(
                        target,
                        &at(".target_cpu"),
                        format!("must be a percentage above 0 and at most 100, got {value}"),
                    ));
                }
                value
            }
            None => (utilization * 100.0).round(),
        };
        service.desired_count = service.desired_count.clamp(min, max);
        service.autoscaling = Some(AutoscalingSpec {
            min_count: min,
            max_count: max,
            target_cpu_percent,
            scale_out_cooldown_seconds: autoscaling
                .scale_out_cooldown
                .as_ref()
                .map(|c| *c.get_ref())
                .unwrap_or(SCALE_OUT_COOLDOWN_SECONDS),
            scale_in_cooldown_seconds: autoscaling
                .scale_in_cooldown
                .as_ref()
                .map(|c| *c.get_ref())
                .unwrap_or(SCALE_IN_COOLDOWN_SECONDS),
        });
    }
    Ok(())
}
