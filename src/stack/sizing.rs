//! Sizing a stack for a workload: the processing service scales out to carry the event rate
//! at the share of capacity the price catalog plans for. This is the one place task counts
//! follow from a rate, so `cost`, `generate`, `deploy` and `status` all see the same counts.

use serde::Serialize;

use super::{Flavor, Role, ServiceSpec, StackError};

/// What one vCPU of an engine carries, as the price catalog records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Capacity {
    pub events_per_sec_per_vcpu: f64,
    /// True when the figure is our assumption rather than a published or measured one.
    pub assumed: bool,
    pub source: String,
}

/// What the price catalog tells a stack: the regions it prices, the share of their
/// capacity tasks are planned to use, and each engine's capacity.
#[derive(Debug, Clone, Default)]
pub struct Capacities {
    pub regions: Vec<String>,
    pub target_utilization: f64,
    pub engines: Vec<(Flavor, Capacity)>,
}

impl Capacities {
    pub fn of(&self, flavor: Flavor) -> Option<&Capacity> {
        self.engines
            .iter()
            .find(|(f, _)| *f == flavor)
            .map(|(_, capacity)| capacity)
    }
}

/// The workload a stack is sized for: the rate it must carry and where it would run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Demand {
    /// Average events per second on the input topics, when the workload gives one.
    pub events_per_sec: Option<f64>,
    /// The workload's region, used when neither a flag nor stack.toml names one.
    pub region: Option<String>,
}

/// How the processing service was sized, and the note that explains it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sizing {
    pub events_per_sec: f64,
    pub events_per_sec_per_vcpu: f64,
    pub target_utilization: f64,
    pub needed_vcpu: f64,
    pub service: String,
    pub tasks: u32,
    /// The count before sizing: the flavor's default or stack.toml's `count`.
    pub default_tasks: u32,
    pub scaled_out: bool,
    pub capacity_assumed: bool,
    pub capacity_source: String,
    pub note: String,
}

/// Scales the processing service out for the rate; stack.toml's count (or the flavor's
/// default) is the floor. Without a rate the stack is left as it is.
pub(super) fn size(
    flavor: Flavor,
    services: &mut [ServiceSpec],
    events_per_sec: Option<f64>,
    capacities: &Capacities,
) -> Result<Option<Sizing>, StackError> {
    let Some(rate) = events_per_sec else {
        return Ok(None);
    };
    if !rate.is_finite() || rate < 0.0 {
        return Err(StackError::Invalid(format!(
            "events_per_sec must be zero or more, got {rate}"
        )));
    }
    let capacity = capacities
        .of(flavor)
        .ok_or_else(|| StackError::NoCapacity(flavor.id()))?;
    let utilization = capacities.target_utilization;
    if capacity.events_per_sec_per_vcpu <= 0.0 || utilization <= 0.0 {
        return Err(StackError::NoCapacity(flavor.id()));
    }
    let needed_vcpu = rate / (capacity.events_per_sec_per_vcpu * utilization);
    let Some(service) = services.iter_mut().find(|s| s.role == Role::Processing) else {
        return Ok(None);
    };
    let default_tasks = service.desired_count;
    let tasks = ((needed_vcpu / service.vcpu()).ceil() as u32).max(default_tasks);
    service.desired_count = tasks;
    let scaled_out = tasks > default_tasks;
    let note = if scaled_out {
        format!(
            "{rate} events/s needs {needed_vcpu:.1} vCPU at {} events/s per vCPU and {:.0}% utilization: scaled out from {default_tasks} to {tasks} {} tasks of {} vCPU",
            capacity.events_per_sec_per_vcpu,
            utilization * 100.0,
            service.name,
            service.vcpu()
        )
    } else {
        format!(
            "{rate} events/s needs {needed_vcpu:.2} vCPU at {} events/s per vCPU and {:.0}% utilization: the default {default_tasks} {} task(s) suffice",
            capacity.events_per_sec_per_vcpu,
            utilization * 100.0,
            service.name
        )
    };
    Ok(Some(Sizing {
        events_per_sec: rate,
        events_per_sec_per_vcpu: capacity.events_per_sec_per_vcpu,
        target_utilization: utilization,
        needed_vcpu,
        service: service.name.clone(),
        tasks,
        default_tasks,
        scaled_out,
        capacity_assumed: capacity.assumed,
        capacity_source: capacity.source.clone(),
        note,
    }))
}
