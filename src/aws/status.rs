//! What runs now: services, deployments, tasks, endpoint and recent events.

use serde::Serialize;

use super::clients::Clients;
use super::desired::Names;
use super::error::AwsError;
use super::live;
use super::rollout::{short, ServiceSnapshot};
use super::scaling::ScalingLive;
use crate::stack::StackSpec;

#[derive(Debug, Clone, Serialize)]
pub struct DeploymentStatus {
    pub status: String,
    pub task_definition: String,
    pub rollout: String,
    pub running: i32,
    pub desired: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    pub name: String,
    /// ACTIVE, DRAINING, INACTIVE, or MISSING when it does not exist.
    pub status: String,
    pub running: i32,
    pub desired: i32,
    pub task_definition: String,
    /// The size of the task definition the service runs, read from ECS.
    pub cpu_units: Option<u32>,
    pub memory_mib: Option<u32>,
    /// X86_64 or ARM64, from the task definition's runtime platform.
    pub cpu_architecture: Option<String>,
    /// Share of the service's capacity provider weight on FARGATE_SPOT.
    pub spot_share: Option<f64>,
    /// Its target-tracking autoscaling, when Application Auto Scaling holds one.
    pub autoscaling: Option<ScalingLive>,
    pub deployments: Vec<DeploymentStatus>,
    pub events: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StackStatus {
    pub stack: String,
    pub region: String,
    pub cluster: String,
    pub endpoint: Option<String>,
    pub services: Vec<ServiceStatus>,
}

const EVENTS: usize = 5;

pub async fn status(
    clients: &Clients,
    spec: &StackSpec,
    names: &Names,
) -> Result<StackStatus, AwsError> {
    let service_names: Vec<String> = spec.services.iter().map(|s| names.service(s)).collect();
    let described = live::describe_services(clients, &names.cluster, &service_names).await?;
    let mut sizes = Vec::new();
    let mut scaling = Vec::new();
    for service in &described {
        let name = service.service_name().unwrap_or_default();
        scaling.push(super::scaling::read(clients, &names.cluster, name).await?);
        let arn = service.task_definition().unwrap_or_default();
        let shape = match arn {
            "" => None,
            arn => live::describe_task_definition(clients, arn).await?,
        };
        sizes.push(shape);
    }
    let services = service_names
        .iter()
        .map(|name| {
            let found = described
                .iter()
                .position(|s| s.service_name() == Some(name.as_str()));
            match found {
                Some(index) => {
                    let service = &described[index];
                    let snapshot = ServiceSnapshot::from(service);
                    let shape = sizes[index].as_ref();
                    ServiceStatus {
                        name: name.clone(),
                        status: snapshot.status.clone(),
                        running: snapshot.running_count,
                        desired: snapshot.desired_count,
                        task_definition: short(&snapshot.task_definition).to_string(),
                        cpu_units: shape.and_then(|t| t.cpu.parse().ok()),
                        memory_mib: shape.and_then(|t| t.memory.parse().ok()),
                        cpu_architecture: shape.map(|t| t.cpu_architecture.clone()),
                        spot_share: spot_share(
                            service.capacity_provider_strategy(),
                            service.launch_type().map(|t| t.as_str()) == Some("FARGATE"),
                        ),
                        autoscaling: scaling[index].clone(),
                        deployments: snapshot
                            .deployments
                            .iter()
                            .map(|d| DeploymentStatus {
                                status: d.status.clone(),
                                task_definition: short(&d.task_definition).to_string(),
                                rollout: d.rollout_state.clone().unwrap_or_else(|| "-".into()),
                                running: d.running_count,
                                desired: d.desired_count,
                            })
                            .collect(),
                        events: snapshot
                            .events
                            .iter()
                            .take(EVENTS)
                            .map(|e| e.message.clone())
                            .collect(),
                    }
                }
                None => ServiceStatus {
                    name: name.clone(),
                    status: "MISSING".into(),
                    running: 0,
                    desired: 0,
                    task_definition: "-".into(),
                    cpu_units: None,
                    memory_mib: None,
                    cpu_architecture: None,
                    spot_share: None,
                    autoscaling: None,
                    deployments: Vec::new(),
                    events: Vec::new(),
                },
            }
        })
        .collect();
    Ok(StackStatus {
        stack: names.stack.clone(),
        region: spec.region.clone(),
        cluster: names.cluster.clone(),
        endpoint: spec.endpoint(),
        services,
    })
}

/// The share of a capacity provider strategy's weight on FARGATE_SPOT. A service without a
/// strategy on the FARGATE launch type runs on demand; one that reports neither has an
/// unknown share (moto keeps no strategy and reports the EC2 launch type).
pub fn spot_share(
    strategy: &[aws_sdk_ecs::types::CapacityProviderStrategyItem],
    fargate_launch_type: bool,
) -> Option<f64> {
    let total: i32 = strategy.iter().map(|item| item.weight()).sum();
    if total <= 0 {
        return fargate_launch_type.then_some(0.0);
    }
    let spot: i32 = strategy
        .iter()
        .filter(|item| item.capacity_provider() == "FARGATE_SPOT")
        .map(|item| item.weight())
        .sum();
    Some(f64::from(spot) / f64::from(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::CapacityProviderStrategyItem;

    fn item(provider: &str, weight: i32) -> CapacityProviderStrategyItem {
        CapacityProviderStrategyItem::builder()
            .capacity_provider(provider)
            .weight(weight)
            .build()
            .unwrap()
    }

    #[test]
    fn the_spot_share_is_read_from_the_strategy_or_the_launch_type() {
        let quarter = [item("FARGATE", 75), item("FARGATE_SPOT", 25)];
        assert_eq!(spot_share(&quarter, false), Some(0.25));
        assert_eq!(spot_share(&[item("FARGATE_SPOT", 1)], false), Some(1.0));
        assert_eq!(spot_share(&[], true), Some(0.0));
        assert_eq!(spot_share(&[], false), None);
    }
}
