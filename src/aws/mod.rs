//! A StackSpec applied straight to AWS through the SDK: plan, apply, wait, status, destroy.
//! One file per verb, in the way of ecspresso.

pub mod apply;
pub mod clients;
pub mod desired;
pub mod destroy;
pub mod diff;
pub mod drift;
pub mod error;
pub mod live;
pub mod logs;
pub mod plan;
pub mod rollback;
pub mod rollout;
pub mod scaling;
pub mod status;

use std::time::{Duration, Instant};

pub use clients::Clients;
pub use error::AwsError;

use desired::Desired;
use rollout::{assess, Rollout, ServiceSnapshot};

use crate::stack::StackSpec;

/// The account the credentials belong to; bucket names and role ARNs need it.
pub async fn account_id(clients: &Clients) -> Result<String, AwsError> {
    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| error::classify("read the caller's identity (sts:GetCallerIdentity)", e))?;
    identity
        .account()
        .map(str::to_string)
        .ok_or_else(|| AwsError::Invalid("STS returned no account id".into()))
}

/// Reads the live state and plans the changes.
pub async fn plan(
    clients: &Clients,
    spec: &StackSpec,
) -> Result<(Desired, live::Live, plan::Plan), AwsError> {
    let account = account_id(clients).await?;
    let desired = Desired::new(spec, &account)?;
    let vpc = spec
        .network
        .as_ref()
        .map(|n| n.vpc_id.clone())
        .unwrap_or_default();
    let live = live::read(clients, &desired, &vpc).await?;
    let plan = plan::plan(&desired, &live, &spec.region);
    Ok((desired, live, plan))
}

/// Why recently stopped tasks of a service stopped.
async fn stopped_reasons(clients: &Clients, cluster: &str, service: &str) -> Vec<String> {
    let Ok(list) = clients
        .ecs
        .list_tasks()
        .cluster(cluster)
        .service_name(service)
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .send()
        .await
    else {
        return Vec::new();
    };
    if list.task_arns().is_empty() {
        return Vec::new();
    }
    let Ok(tasks) = clients
        .ecs
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(list.task_arns().to_vec()))
        .send()
        .await
    else {
        return Vec::new();
    };
    tasks
        .tasks()
        .iter()
        .flat_map(|t| {
            let mut reasons: Vec<String> =
                t.stopped_reason().map(str::to_string).into_iter().collect();
            reasons.extend(t.containers().iter().filter_map(|c| {
                c.reason()
                    .map(|r| format!("{}: {r}", c.name().unwrap_or("container")))
            }));
            reasons
        })
        .collect()
}

/// Polls until every service runs its new task definition, one fails, or time runs out.
pub async fn wait_for_rollouts(
    clients: &Clients,
    cluster: &str,
    deployed: &apply::Deployed,
    timeout: Duration,
    mut on_poll: impl FnMut(&str),
) -> Result<(), AwsError> {
    let started = Instant::now();
    let names: Vec<String> = deployed.keys().cloned().collect();
    loop {
        let services = live::describe_services(clients, cluster, &names).await?;
        let mut pending = Vec::new();
        for name in &names {
            let Some(service) = services
                .iter()
                .find(|s| s.service_name() == Some(name.as_str()))
            else {
                return Err(AwsError::Other {
                    action: format!("wait for ECS service {name}"),
                    message: "the service disappeared".into(),
                });
            };
            let snapshot = ServiceSnapshot::from(service);
            let stopped = stopped_reasons(clients, cluster, name).await;
            match assess(&snapshot, &deployed[name], &stopped) {
                Rollout::Completed => {}
                Rollout::InProgress { detail } => pending.push(detail),
                Rollout::Failed { reasons } => {
                    return Err(AwsError::Other {
                        action: format!("deploy ECS service {name}"),
                        message: reasons.join("; "),
                    })
                }
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        on_poll(&pending.join("; "));
        if started.elapsed() >= timeout {
            return Err(AwsError::Other {
                action: "finish the rollout".into(),
                message: format!(
                    "not done after {}: {}. The deployment goes on in AWS; watch it with `advisor status`, or run the command again with a longer --timeout",
                    humantime::format_duration(timeout),
                    pending.join("; ")
                ),
            });
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}
