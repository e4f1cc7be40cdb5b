//! What runs now: services, deployments, tasks, endpoint and recent events.

use serde::Serialize;

use super::clients::Clients;
use super::desired::Names;
use super::error::AwsError;
use super::live;
use super::rollout::{short, ServiceSnapshot};
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
    let services = service_names
        .iter()
        .map(|name| {
            match described
                .iter()
                .find(|s| s.service_name() == Some(name.as_str()))
                .map(ServiceSnapshot::from)
            {
                Some(snapshot) => ServiceStatus {
                    name: name.clone(),
                    status: snapshot.status.clone(),
                    running: snapshot.running_count,
                    desired: snapshot.desired_count,
                    task_definition: short(&snapshot.task_definition).to_string(),
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
                },
                None => ServiceStatus {
                    name: name.clone(),
                    status: "MISSING".into(),
                    running: 0,
                    desired: 0,
                    task_definition: "-".into(),
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
