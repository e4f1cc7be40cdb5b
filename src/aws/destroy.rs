//! Tears a stack down in reverse order. Each step skips what is already gone, so destroy is
//! safe to run twice. The checkpoint bucket is emptied and deleted only when asked.

use std::time::Duration;

use serde::Serialize;

use super::clients::Clients;
use super::desired::Names;
use super::error::{classify, code_of, AwsError};
use super::live::{self, check_owner};
use super::scaling;
use crate::stack::StackSpec;

#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub kind: &'static str,
    pub name: String,
    /// deleted, absent, or kept (with why).
    pub outcome: String,
}

fn removed(kind: &'static str, name: &str, outcome: impl Into<String>) -> Removed {
    Removed {
        kind,
        name: name.to_string(),
        outcome: outcome.into(),
    }
}

pub async fn destroy(
    clients: &Clients,
    spec: &StackSpec,
    names: &Names,
    delete_data: bool,
    report: &mut dyn FnMut(&Removed),
) -> Result<Vec<Removed>, AwsError> {
    let mut done = Vec::new();
    let mut note = |r: Removed, done: &mut Vec<Removed>| {
        report(&r);
        done.push(r);
    };
    let stack = &names.stack;

    // Services first: scale to zero, delete, and wait until ECS lets them go.
    let service_names: Vec<String> = spec.services.iter().map(|s| names.service(s)).collect();
    let cluster = live::read_cluster(clients, &names.cluster).await?;
    let mut scaled_down = Vec::new();
    if cluster.is_some() {
        for service in live::describe_services(clients, &names.cluster, &service_names).await? {
            let name = service.service_name().unwrap_or_default().to_string();
            if service.status() != Some("ACTIVE") {
                continue;
            }
            let tags = live::ecs_tags(service.tags());
            check_owner("ECS service", &name, &tags, stack)?;
            // The autoscaler would otherwise start tasks for a service being deleted.
            if scaling::remove(clients, &names.cluster, &name).await? {
                note(removed("autoscaling", &name, "deleted"), &mut done);
                scaled_down.push(name.clone());
            }
            clients
                .ecs
                .delete_service()
                .cluster(&names.cluster)
                .service(&name)
                .force(true)
                .send()
                .await
                .map_err(|e| classify(format!("delete ECS service {name}"), e))?;
            wait_drained(clients, &names.cluster, &name).await?;
            note(removed("ECS service", &name, "deleted"), &mut done);
        }
    }
    for service in spec.services.iter().filter(|s| s.autoscaling.is_some()) {
        let name = names.service(service);
        if scaled_down.contains(&name) {
            continue;
        }
        // A target whose service is gone is a leftover of this stack's.
        let outcome = if scaling::remove(clients, &names.cluster, &name).await? {
            "deleted"
        } else {
            "absent"
        };
        note(removed("autoscaling", &name, outcome), &mut done);
    }
    for service in &spec.services {
        let family = names.service(service);
        let mut deregistered = 0;
        let mut token = None;
        loop {
            let page = clients
                .ecs
                .list_task_definitions()
                .family_prefix(&family)
                .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify(format!("list task definitions {family}"), e))?;
            for arn in page.task_definition_arns() {
                // family_prefix matches prefixes: only this exact family is ours.
                if super::rollout::short(arn).rsplit_once(':').map(|(f, _)| f) != Some(&family) {
                    continue;
                }
                clients
                    .ecs
                    .deregister_task_definition()
                    .task_definition(arn)
                    .send()
                    .await
                    .map_err(|e| classify(format!("deregister {arn}"), e))?;
                deregistered += 1;
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let outcome = if deregistered > 0 {
            format!("deregistered {deregistered} revision(s)")
        } else {
            "absent".to_string()
        };
        note(removed("task definition", &family, outcome), &mut done);
    }
    if names.create_cluster {
        match cluster {
            Some(cluster) => {
                check_owner("ECS cluster", &names.cluster, &cluster.tags, stack)?;
                clients
                    .ecs
                    .delete_cluster()
                    .cluster(&names.cluster)
                    .send()
                    .await
                    .map_err(|e| classify(format!("delete ECS cluster {}", names.cluster), e))?;
                note(removed("ECS cluster", &names.cluster, "deleted"), &mut done);
            }
            None => note(removed("ECS cluster", &names.cluster, "absent"), &mut done),
        }
    }

    match live::read_namespace(clients, &names.namespace).await? {
        Some(namespace) => {
            check_owner(
                "Cloud Map namespace",
                &names.namespace,
                &namespace.tags,
                stack,
            )?;
            for (service, (id, _)) in &namespace.services {
                clients
                    .discovery
                    .delete_service()
                    .id(id)
                    .send()
                    .await
                    .map_err(|e| classify(format!("delete Cloud Map service {service}"), e))?;
                note(
                    removed(
                        "Cloud Map service",
                        &format!("{service}.{}", names.namespace),
                        "deleted",
                    ),
                    &mut done,
                );
            }
            clients
                .discovery
                .delete_namespace()
                .id(&namespace.id)
                .send()
                .await
                .map_err(|e| {
                    classify(format!("delete Cloud Map namespace {}", names.namespace), e)
                })?;
            note(
                removed("Cloud Map namespace", &names.namespace, "deleted"),
                &mut done,
            );
        }
        None => note(
            removed("Cloud Map namespace", &names.namespace, "absent"),
            &mut done,
        ),
    }

    if let Some(bucket) = &names.bucket {
        match live::read_bucket(clients, bucket).await? {
            Some(live_bucket) if delete_data => {
                check_owner("S3 bucket", bucket, &live_bucket.tags, stack)?;
                let versions = empty_bucket(clients, bucket).await?;
                clients
                    .s3
                    .delete_bucket()
                    .bucket(bucket)
                    .send()
                    .await
                    .map_err(|e| classify(format!("delete S3 bucket {bucket}"), e))?;
                note(
                    removed("checkpoint bucket", bucket, format!("deleted with {versions} object version(s) and delete marker(s)")),
                    &mut done,
                );
            }
            Some(_) => note(
                removed(
                    "checkpoint bucket",
                    bucket,
                    "kept: it holds checkpoints and savepoints; run destroy --delete-data to delete every version",
                ),
                &mut done,
            ),
            None => note(removed("checkpoint bucket", bucket, "absent"), &mut done),
        }
    }

    if let Some(network) = &spec.network {
        match live::read_security_group(clients, &names.security_group, &network.vpc_id).await? {
            Some(group) => {
                check_owner("security group", &names.security_group, &group.tags, stack)?;
                delete_security_group(clients, &group.id).await?;
                note(
                    removed("security group", &names.security_group, "deleted"),
                    &mut done,
                );
            }
            None => note(
                removed("security group", &names.security_group, "absent"),
                &mut done,
            ),
        }
    }

    for role in [&names.task_role, &names.execution_role] {
        match live::read_role(clients, role).await? {
            Some(live_role) => {
                check_owner("IAM role", role, &live_role.tags, stack)?;
                for policy in live_role.inline.keys() {
                    clients
                        .iam
                        .delete_role_policy()
                        .role_name(role)
                        .policy_name(policy)
                        .send()
                        .await
                        .map_err(|e| classify(format!("remove policy {policy} from {role}"), e))?;
                }
                for arn in &live_role.attached {
                    clients
                        .iam
                        .detach_role_policy()
                        .role_name(role)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map_err(|e| classify(format!("detach {arn} from {role}"), e))?;
                }
                clients
                    .iam
                    .delete_role()
                    .role_name(role)
                    .send()
                    .await
                    .map_err(|e| classify(format!("delete IAM role {role}"), e))?;
                note(removed("IAM role", role, "deleted"), &mut done);
            }
            None => note(removed("IAM role", role, "absent"), &mut done),
        }
    }

    match live::read_log_group(clients, &names.log_group).await? {
        Some(group) => {
            check_owner("log group", &names.log_group, &group.tags, stack)?;
            clients
                .logs
                .delete_log_group()
                .log_group_name(&names.log_group)
                .send()
                .await
                .map_err(|e| classify(format!("delete log group {}", names.log_group), e))?;
            note(removed("log group", &names.log_group, "deleted"), &mut done);
        }
        None => note(removed("log group", &names.log_group, "absent"), &mut done),
    }
    Ok(done)
}

/// A deleted service drains before its tasks' network interfaces free the security group.
async fn wait_drained(clients: &Clients, cluster: &str, name: &str) -> Result<(), AwsError> {
    for _ in 0..90 {
        let services = live::describe_services(clients, cluster, &[name.to_string()]).await?;
        let draining = services
            .iter()
            .any(|s| s.status() == Some("DRAINING") || (s.status() == Some("ACTIVE")));
        if !draining {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    Err(AwsError::Other {
        action: format!("wait for ECS service {name} to drain"),
        message: "still draining after 7.5 minutes; run destroy again later".into(),
    })
}

/// Security groups stay in use a while after their tasks stop; retry for a few minutes.
async fn delete_security_group(clients: &Clients, id: &str) -> Result<(), AwsError> {
    let mut attempts = 0;
    loop {
        match clients
            .ec2
            .delete_security_group()
            .group_id(id)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if code_of(&e) == "DependencyViolation" && attempts < 36 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => return Err(classify(format!("delete security group {id}"), e)),
        }
    }
}

/// Deletes every object version and delete marker; returns how many.
async fn empty_bucket(clients: &Clients, bucket: &str) -> Result<usize, AwsError> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let mut total = 0;
    loop {
        let page = clients
            .s3
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| classify(format!("list the versions in {bucket}"), e))?;
        let mut identifiers = Vec::new();
        for version in page.versions() {
            if let Some(key) = version.key() {
                identifiers.push(
                    ObjectIdentifier::builder()
                        .key(key)
                        .set_version_id(version.version_id().map(str::to_string))
                        .build()
                        .map_err(|e| AwsError::Invalid(e.to_string()))?,
                );
            }
        }
        for marker in page.delete_markers() {
            if let Some(key) = marker.key() {
                identifiers.push(
                    ObjectIdentifier::builder()
                        .key(key)
                        .set_version_id(marker.version_id().map(str::to_string))
                        .build()
                        .map_err(|e| AwsError::Invalid(e.to_string()))?,
                );
            }
        }
        if identifiers.is_empty() {
            return Ok(total);
        }
        for chunk in identifiers.chunks(1000) {
            total += chunk.len();
            clients
                .s3
                .delete_objects()
                .bucket(bucket)
                .delete(
                    Delete::builder()
                        .set_objects(Some(chunk.to_vec()))
                        .quiet(true)
                        .build()
                        .map_err(|e| AwsError::Invalid(e.to_string()))?,
                )
                .send()
                .await
                .map_err(|e| classify(format!("delete object versions in {bucket}"), e))?;
        }
    }
}
