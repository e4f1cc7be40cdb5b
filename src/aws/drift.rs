//! Drift: where what runs in ECS differs from what the stack file describes. A pure function
//! over the StackSpec and the status read from ECS, so it is tested without AWS.

use serde::Serialize;

use super::desired::Names;
use super::status::{ServiceStatus, StackStatus};
use crate::stack::{Arch, StackSpec};

/// One field of one service that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    pub service: String,
    pub field: String,
    /// What the stack file (with the flags and workload) describes.
    pub stack: String,
    /// What ECS reports.
    pub live: String,
}

fn live_service<'a>(status: &'a StackStatus, name: &str) -> Option<&'a ServiceStatus> {
    status
        .services
        .iter()
        .find(|s| s.name == name && s.status != "MISSING")
}

fn percent(share: f64) -> String {
    format!("{:.0}% on Spot", share * 100.0)
}

fn arch_of(ecs_name: &str) -> Option<Arch> {
    match ecs_name {
        "X86_64" => Some(Arch::X86),
        "ARM64" => Some(Arch::Arm64),
        _ => None,
    }
}

/// Every difference in task count, size, architecture and Spot share, service by service.
pub fn drift(spec: &StackSpec, names: &Names, status: &StackStatus) -> Vec<Drift> {
    let mut out = Vec::new();
    for service in &spec.services {
        let name = names.service(service);
        let mut differ = |field: &str, stack: String, live: String| {
            if stack != live {
                out.push(Drift {
                    service: name.clone(),
                    field: field.to_string(),
                    stack,
                    live,
                });
            }
        };
        let Some(live) = live_service(status, &name) else {
            differ("service", "present".into(), "missing".into());
            continue;
        };
        match &service.autoscaling {
            // The autoscaler owns the count: only a count outside the bounds, or bounds
            // that differ from the stack file's, are drift.
            Some(scaling) => {
                let bounds = |min: i64, max: i64| format!("{min} to {max}");
                differ(
                    "autoscaling",
                    bounds(scaling.min_count.into(), scaling.max_count.into()),
                    live.autoscaling.as_ref().map_or("none".to_string(), |l| {
                        bounds(l.min_count.into(), l.max_count.into())
                    }),
                );
                let count = u32::try_from(live.desired).unwrap_or(0);
                differ(
                    "desired count",
                    scaling.keep(count).to_string(),
                    live.desired.to_string(),
                );
            }
            None => {
                differ(
                    "desired count",
                    service.desired_count.to_string(),
                    live.desired.to_string(),
                );
                if let Some(l) = &live.autoscaling {
                    differ(
                        "autoscaling",
                        "none".to_string(),
                        format!("{} to {}", l.min_count, l.max_count),
                    );
                }
            }
        }
        if let Some(cpu) = live.cpu_units {
            differ("cpu", service.cpu_units.to_string(), cpu.to_string());
        }
        if let Some(memory) = live.memory_mib {
            differ("memory", service.memory_mib.to_string(), memory.to_string());
        }
        if let Some(arch) = &live.cpu_architecture {
            differ(
                "architecture",
                spec.arch.ecs_name().to_string(),
                arch.clone(),
            );
        }
        if let Some(share) = live.spot_share {
            differ("spot share", percent(spec.spot_share), percent(share));
        }
    }
    out
}

/// The stack as it runs: the spec with each service's count and size replaced by what ECS
/// reports (a missing service runs no task), priced the same way as the stack file.
pub fn live_spec(spec: &StackSpec, names: &Names, status: &StackStatus) -> StackSpec {
    let mut live = spec.clone();
    live.sizing = None;
    let mut shares = Vec::new();
    for service in &mut live.services {
        let name = names.service(service);
        match live_service(status, &name) {
            Some(found) => {
                service.desired_count = u32::try_from(found.desired).unwrap_or(0);
                service.cpu_units = found.cpu_units.unwrap_or(service.cpu_units);
                service.memory_mib = found.memory_mib.unwrap_or(service.memory_mib);
                if let Some(arch) = found.cpu_architecture.as_deref().and_then(arch_of) {
                    live.arch = arch;
                }
                if let Some(share) = found.spot_share {
                    shares.push((share, service.desired_count));
                }
            }
            None => service.desired_count = 0,
        }
    }
    // One share for the stack: the services' shares weighted by their task counts.
    let tasks: u32 = shares.iter().map(|(_, count)| count).sum();
    if tasks > 0 {
        live.spot_share = shares
            .iter()
            .map(|(share, count)| share * f64::from(*count))
            .sum::<f64>()
            / f64::from(tasks);
    } else if !shares.is_empty() {
        live.spot_share = shares[0].0;
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{self, Capacities, Capacity, Demand, Flavor, StackInput};

    fn spec(rate: Option<f64>) -> StackSpec {
        let capacities = Capacities {
            regions: vec!["eu-west-2".into()],
            target_utilization: 0.5,
            engines: vec![(
                Flavor::Flink,
                Capacity {
                    events_per_sec_per_vcpu: 1000.0,
                    assumed: true,
                    source: "test".into(),
                },
            )],
        };
        let input = StackInput {
            overrides: stack::Overrides {
                name: Some("orders".into()),
                region: Some("eu-west-2".into()),
                ..stack::Overrides::default()
            },
            ..StackInput::default()
        };
        let demand = Demand {
            events_per_sec: rate,
            region: None,
            input_partitions: None,
        };
        stack::sized(Flavor::Flink, &input, &demand, &capacities).unwrap()
    }

    fn running(spec: &StackSpec, names: &Names) -> StackStatus {
        StackStatus {
            stack: spec.name.clone(),
            region: spec.region.clone(),
            cluster: names.cluster.clone(),
            endpoint: None,
            services: spec
                .services
                .iter()
                .map(|s| ServiceStatus {
                    name: names.service(s),
                    status: "ACTIVE".into(),
                    running: 0,
                    desired: s.desired_count as i32,
                    task_definition: format!("{}:1", names.service(s)),
                    cpu_units: Some(s.cpu_units),
                    memory_mib: Some(s.memory_mib),
                    cpu_architecture: Some("X86_64".into()),
                    spot_share: Some(0.0),
                    autoscaling: None,
                    deployments: Vec::new(),
                    events: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_stack_that_runs_as_described_has_no_drift() {
        let spec = spec(None);
        let names = Names::new(&spec, "123456789012");
        let status = running(&spec, &names);
        assert!(drift(&spec, &names, &status).is_empty());
        assert_eq!(live_spec(&spec, &names, &status).services, spec.services);
    }

    #[test]
    fn a_workload_that_scales_out_shows_the_live_count_as_drift() {
        let small = spec(None);
        let names = Names::new(&small, "123456789012");
        let status = running(&small, &names);
        // 20,000 events/s at 1,000 per vCPU and 50%: 40 vCPU, 20 TaskManagers of 2 vCPU.
        let busy = spec(Some(20_000.0));
        assert_eq!(busy.service("taskmanager").unwrap().desired_count, 20);
        let found = drift(&busy, &names, &status);
        assert_eq!(
            found,
            vec![Drift {
                service: "orders-taskmanager".into(),
                field: "desired count".into(),
                stack: "20".into(),
                live: "2".into(),
            }]
        );
        let live = live_spec(&busy, &names, &status);
        assert_eq!(live.service("taskmanager").unwrap().desired_count, 2);
        assert!(live.sizing.is_none());
    }

    #[test]
    fn sizes_spot_and_missing_services_are_drift_and_priced_as_found() {
        let spec = spec(None);
        let names = Names::new(&spec, "123456789012");
        let mut status = running(&spec, &names);
        status.services[0].status = "MISSING".into();
        status.services[1].cpu_units = Some(4096);
        status.services[1].memory_mib = Some(8192);
        status.services[1].spot_share = Some(0.5);
        let found = drift(&spec, &names, &status);
        let fields: Vec<(&str, &str, &str)> = found
            .iter()
            .map(|d| (d.field.as_str(), d.stack.as_str(), d.live.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("service", "present", "missing"),
                ("cpu", "2048", "4096"),
                ("memory", "4096", "8192"),
                ("spot share", "0% on Spot", "50% on Spot"),
            ]
        );
        let live = live_spec(&spec, &names, &status);
        assert_eq!(live.services[0].desired_count, 0);
        assert_eq!(live.services[1].cpu_units, 4096);
        assert_eq!(live.spot_share, 0.5);
    }
}
