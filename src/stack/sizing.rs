//! Sizing a stack for a workload: the processing service scales out to carry the event rate
//! at the share of capacity the price catalog plans for. This is the one place task counts
//! follow from a rate, so `cost`, `generate`, `deploy` and `status` all see the same counts.

use serde::Serialize;

use super::{Flavor, Role, ServiceSpec, StackError};

/// The size an engine task grows to when the partitions cap the task count: one vCPU, the
/// most its one processing thread uses.
const ENGINE_TASK_CPU_UNITS: u32 = 1024;
const ENGINE_TASK_MEMORY_MIB: u32 = 2048;

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
    /// Partitions of the input topics, when the workload gives them: the engine runs at most
    /// one task per partition.
    pub input_partitions: Option<u32>,
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
    /// The input topics' partitions held the task count below what the rate needs.
    pub capped_by_partitions: bool,
    pub capacity_assumed: bool,
    pub capacity_source: String,
    pub note: String,
}

/// Scales the processing service out for the rate; stack.toml's count (or the flavor's
/// default) is the floor. Without a rate the stack is left as it is.
pub(super) fn size(
    flavor: Flavor,
    services: &mut [ServiceSpec],
    demand: &Demand,
    capacities: &Capacities,
) -> Result<Option<Sizing>, StackError> {
    let Some(rate) = demand.events_per_sec else {
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
    let mut tasks = ((needed_vcpu / service.vcpu()).ceil() as u32).max(default_tasks);
    let mut partitions_note = String::new();
    let mut capped_by_partitions = false;
    if let (Flavor::Engine, Some(partitions)) = (flavor, demand.input_partitions) {
        if tasks > partitions {
            // An engine task reads whole partitions and processes them on one thread: tasks
            // beyond the partition count would idle, and a task gains nothing past one vCPU.
            if service.cpu_units < ENGINE_TASK_CPU_UNITS {
                service.cpu_units = ENGINE_TASK_CPU_UNITS;
                service.memory_mib = service.memory_mib.max(ENGINE_TASK_MEMORY_MIB);
            }
            let per_task = service.vcpu().min(1.0);
            tasks = ((needed_vcpu / per_task).ceil() as u32)
                .min(partitions)
                .max(default_tasks);
            let carried =
                f64::from(tasks) * per_task * capacity.events_per_sec_per_vcpu * utilization;
            capped_by_partitions = carried < rate;
            partitions_note = if capped_by_partitions {
                format!(
                    "; the input topics' {partitions} partitions allow at most {partitions} engine tasks, which carry about {carried:.0} events/s: add partitions to carry {rate}"
                )
            } else {
                format!(
                    "; the input topics' {partitions} partitions allow {partitions} engine tasks, so each has {} vCPU",
                    service.vcpu()
                )
            };
        }
    }
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
    let note = format!("{note}{partitions_note}");
    Ok(Some(Sizing {
        events_per_sec: rate,
        events_per_sec_per_vcpu: capacity.events_per_sec_per_vcpu,
        target_utilization: utilization,
        needed_vcpu,
        service: service.name.clone(),
        tasks,
        default_tasks,
        scaled_out,
        capped_by_partitions,
        capacity_assumed: capacity.assumed,
        capacity_source: capacity.source.clone(),
        note,
    }))
}
