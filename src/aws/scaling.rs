//! Target-tracking autoscaling of a service's task count through Application Auto Scaling:
//! a scalable target (the bounds) and one policy holding the service's average CPU.

use std::collections::HashMap;

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use serde::Serialize;

use super::clients::Clients;
use super::error::{classify, AwsError};
use crate::stack::AutoscalingSpec;

/// What Application Auto Scaling holds for one service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalingLive {
    pub min_count: i32,
    pub max_count: i32,
    /// The CPU target and cooldowns of the stack's policy, when the policy exists.
    pub policy: Option<PolicyLive>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyLive {
    pub target_cpu_percent: f64,
    pub scale_out_cooldown_seconds: Option<i32>,
    pub scale_in_cooldown_seconds: Option<i32>,
}

/// Application Auto Scaling names an ECS service `service/<cluster name>/<service name>`;
/// stack.toml may name an existing cluster by its ARN.
pub fn resource_id(cluster: &str, service: &str) -> String {
    let cluster = cluster
        .rsplit_once(":cluster/")
        .map_or(cluster, |(_, name)| name);
    format!("service/{cluster}/{service}")
}

pub fn policy_name(service: &str) -> String {
    format!("{service}-cpu")
}

/// What differs between the wanted autoscaling and the live one, in words; empty when
/// nothing does.
pub fn differences(wanted: &AutoscalingSpec, live: &ScalingLive) -> Vec<String> {
    let mut out = Vec::new();
    let (min, max) = (wanted.min_count as i32, wanted.max_count as i32);
    if (live.min_count, live.max_count) != (min, max) {
        out.push(format!(
            "tasks {} to {} -> {min} to {max}",
            live.min_count, live.max_count
        ));
    }
    match &live.policy {
        None => out.push(format!(
            "add the CPU policy (target {}%)",
            wanted.target_cpu_percent
        )),
        Some(policy) => {
            if (policy.target_cpu_percent - wanted.target_cpu_percent).abs() > 1e-9 {
                out.push(format!(
                    "CPU target {}% -> {}%",
                    policy.target_cpu_percent, wanted.target_cpu_percent
                ));
            }
            let cooldowns = (
                policy.scale_out_cooldown_seconds,
                policy.scale_in_cooldown_seconds,
            );
            let wanted_cooldowns = (
                Some(wanted.scale_out_cooldown_seconds as i32),
                Some(wanted.scale_in_cooldown_seconds as i32),
            );
            if cooldowns != wanted_cooldowns {
                let seconds =
                    |s: Option<i32>| s.map_or("default".to_string(), |s| format!("{s} s"));
                out.push(format!(
                    "cooldowns out {} / in {} -> {} s / {} s",
                    seconds(cooldowns.0),
                    seconds(cooldowns.1),
                    wanted.scale_out_cooldown_seconds,
                    wanted.scale_in_cooldown_seconds
                ));
            }
        }
    }
    out
}

pub async fn read(
    clients: &Clients,
    cluster: &str,
    service: &str,
) -> Result<Option<ScalingLive>, AwsError> {
    let id = resource_id(cluster, service);
    let targets = clients
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(&id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .map_err(|e| classify(format!("describe the autoscaling of {service}"), e))?;
    let Some(target) = targets
        .scalable_targets()
        .iter()
        .find(|t| t.resource_id() == id)
    else {
        return Ok(None);
    };
    let policies = clients
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .policy_names(policy_name(service))
        .send()
        .await
        .map_err(|e| classify(format!("describe the scaling policy of {service}"), e))?;
    let policy = policies
        .scaling_policies()
        .iter()
        .find(|p| p.policy_name() == policy_name(service))
        .and_then(|p| p.target_tracking_scaling_policy_configuration())
        .map(|config| PolicyLive {
            target_cpu_percent: config.target_value(),
            scale_out_cooldown_seconds: config.scale_out_cooldown(),
            scale_in_cooldown_seconds: config.scale_in_cooldown(),
        });
    Ok(Some(ScalingLive {
        min_count: target.min_capacity(),
        max_count: target.max_capacity(),
        policy,
    }))
}

/// Registers the bounds and puts the CPU policy; both calls replace what is there.
pub async fn put(
    clients: &Clients,
    cluster: &str,
    service: &str,
    wanted: &AutoscalingSpec,
    tags: &std::collections::BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let id = resource_id(cluster, service);
    clients
        .autoscaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(wanted.min_count as i32)
        .max_capacity(wanted.max_count as i32)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        ))
        .send()
        .await
        .map_err(|e| classify(format!("register the autoscaling of {service}"), e))?;
    let invalid =
        |e: aws_sdk_applicationautoscaling::error::BuildError| AwsError::Invalid(e.to_string());
    let configuration = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(wanted.target_cpu_percent)
        .predefined_metric_specification(
            PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::EcsServiceAverageCpuUtilization)
                .build()
                .map_err(invalid)?,
        )
        .scale_out_cooldown(wanted.scale_out_cooldown_seconds as i32)
        .scale_in_cooldown(wanted.scale_in_cooldown_seconds as i32)
        .build()
        .map_err(invalid)?;
    clients
        .autoscaling
        .put_scaling_policy()
        .policy_name(policy_name(service))
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(configuration)
        .send()
        .await
        .map_err(|e| classify(format!("put the scaling policy of {service}"), e))?;
    Ok(())
}

/// Deregisters the scalable target, which deletes its policies with it. False when there
/// was none.
pub async fn remove(clients: &Clients, cluster: &str, service: &str) -> Result<bool, AwsError> {
    if read(clients, cluster, service).await?.is_none() {
        return Ok(false);
    }
    clients
        .autoscaling
        .deregister_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id(cluster, service))
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .map_err(|e| classify(format!("remove the autoscaling of {service}"), e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_id_names_the_cluster_even_when_given_its_arn() {
        assert_eq!(
            resource_id("orders", "orders-engine"),
            "service/orders/orders-engine"
        );
        assert_eq!(
            resource_id(
                "arn:aws:ecs:eu-west-2:123456789012:cluster/shared",
                "orders-engine"
            ),
            "service/shared/orders-engine"
        );
    }

    #[test]
    fn differences_name_bounds_target_and_cooldowns() {
        let wanted = AutoscalingSpec {
            min_count: 2,
            max_count: 6,
            target_cpu_percent: 70.0,
            scale_out_cooldown_seconds: 60,
            scale_in_cooldown_seconds: 300,
        };
        let same = ScalingLive {
            min_count: 2,
            max_count: 6,
            policy: Some(PolicyLive {
                target_cpu_percent: 70.0,
                scale_out_cooldown_seconds: Some(60),
                scale_in_cooldown_seconds: Some(300),
            }),
        };
        assert!(differences(&wanted, &same).is_empty());
        let other = ScalingLive {
            min_count: 1,
            max_count: 4,
            policy: Some(PolicyLive {
                target_cpu_percent: 50.0,
                scale_out_cooldown_seconds: None,
                scale_in_cooldown_seconds: Some(300),
            }),
        };
        assert_eq!(
            differences(&wanted, &other),
            [
                "tasks 1 to 4 -> 2 to 6",
                "CPU target 50% -> 70%",
                "cooldowns out default / in 300 s -> 60 s / 300 s"
            ]
        );
        let no_policy = ScalingLive {
            policy: None,
            ..same
        };
        assert_eq!(
            differences(&wanted, &no_policy),
            ["add the CPU policy (target 70%)"]
        );
    }
}
