//! The plan: for every resource of the stack, create, update or leave alone, with why.

use serde::Serialize;

use super::desired::{deploy_count, Desired, EXECUTION_POLICY};
use super::live::Live;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Unchanged,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Unchanged => "=",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    LogGroup,
    IamRole,
    SecurityGroup,
    CheckpointBucket,
    Namespace,
    DiscoveryService,
    Cluster,
    TaskDefinition,
    Service,
    Autoscaling,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::LogGroup => "log group",
            Kind::IamRole => "IAM role",
            Kind::SecurityGroup => "security group",
            Kind::CheckpointBucket => "checkpoint bucket",
            Kind::Namespace => "Cloud Map namespace",
            Kind::DiscoveryService => "Cloud Map service",
            Kind::Cluster => "ECS cluster",
            Kind::TaskDefinition => "task definition",
            Kind::Service => "ECS service",
            Kind::Autoscaling => "autoscaling",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub kind: Kind,
    pub name: String,
    pub action: Action,
    pub details: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub stack: String,
    pub region: String,
    pub changes: Vec<Change>,
}

impl Plan {
    pub fn is_noop(&self) -> bool {
        self.changes.iter().all(|c| c.action == Action::Unchanged)
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

fn change(kind: Kind, name: &str, details: Vec<String>, exists: bool) -> Change {
    let action = match (exists, details.is_empty()) {
        (false, _) => Action::Create,
        (true, true) => Action::Unchanged,
        (true, false) => Action::Update,
    };
    Change {
        kind,
        name: name.to_string(),
        action,
        details,
    }
}

fn tag_details(
    desired: &std::collections::BTreeMap<String, String>,
    live: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let missing: Vec<&String> = desired
        .iter()
        .filter(|(k, v)| live.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .collect();
    if missing.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "tags {}",
            missing
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )]
    }
}

/// A service's Spot share to change, when ECS reports the live one (moto does not).
pub fn spot_detail(live: Option<f64>, wanted: f64) -> Option<String> {
    let live = live?;
    let percent = |share: f64| (share * 100.0).round() as i32;
    (percent(live) != percent(wanted))
        .then(|| format!("Spot share {}% -> {}%", percent(live), percent(wanted)))
}

pub fn plan(desired: &Desired, live: &Live, region: &str) -> Plan {
    let names = &desired.names;
    let mut changes = Vec::new();

    let log_details = live
        .log_group
        .as_ref()
        .map(|group| {
            let mut details = tag_details(&desired.tags, &group.tags);
            if group.retention != Some(desired.log_retention_days) {
                details.push(format!(
                    "retention {} -> {} days",
                    group
                        .retention
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "forever".into()),
                    desired.log_retention_days
                ));
            }
            details
        })
        .unwrap_or_default();
    changes.push(change(
        Kind::LogGroup,
        &names.log_group,
        log_details,
        live.log_group.is_some(),
    ));

    for (role, inline, managed) in [
        (&names.execution_role, &desired.execution_inline, true),
        (&names.task_role, &desired.task_inline, false),
    ] {
        let live_role = live.roles.get(role).and_then(|r| r.as_ref());
        let details = live_role
            .map(|r| {
                let mut details = tag_details(&desired.tags, &r.tags);
                if managed && !r.attached.contains(EXECUTION_POLICY) {
                    details.push("attach AmazonECSTaskExecutionRolePolicy".into());
                }
                for (name, document) in inline {
                    match r.inline.get(name) {
                        None => details.push(format!("add policy {name}")),
                        Some(live) if live != document => {
                            details.push(format!("update policy {name}"))
                        }
                        _ => {}
                    }
                }
                for name in r.inline.keys() {
                    if !inline.contains_key(name) {
                        details.push(format!("remove policy {name}"));
                    }
                }
                details
            })
            .unwrap_or_default();
        changes.push(change(Kind::IamRole, role, details, live_role.is_some()));
    }

    let sg_details = live
        .security_group
        .as_ref()
        .map(|group| {
            let mut details = tag_details(&desired.tags, &group.tags);
            for rule in desired.rules.difference(&group.rules) {
                details.push(format!("allow {}", rule.describe()));
            }
            for rule in group.rules.difference(&desired.rules) {
                details.push(format!("revoke {}", rule.describe()));
            }
            details
        })
        .unwrap_or_default();
    changes.push(change(
        Kind::SecurityGroup,
        &names.security_group,
        sg_details,
        live.security_group.is_some(),
    ));

    if let Some(bucket) = &names.bucket {
        let details = live
            .bucket
            .as_ref()
            .map(|b| {
                let mut details = tag_details(&desired.tags, &b.tags);
                for (ok, what) in [
                    (b.versioned, "enable versioning"),
                    (b.encrypted, "enable KMS encryption"),
                    (b.public_access_blocked, "block public access"),
                    (b.lifecycle, "expire old checkpoint versions"),
                    (b.policy, "require TLS"),
                ] {
                    if !ok {
                        details.push(what.to_string());
                    }
                }
                details
            })
            .unwrap_or_default();
        changes.push(change(
            Kind::CheckpointBucket,
            bucket,
            details,
            live.bucket.is_some(),
        ));
    }

    let namespace_details = live
        .namespace
        .as_ref()
        .map(|n| tag_details(&desired.tags, &n.tags))
        .unwrap_or_default();
    changes.push(change(
        Kind::Namespace,
        &names.namespace,
        namespace_details,
        live.namespace.is_some(),
    ));
    for name in &desired.discovery {
        let exists = live
            .namespace
            .as_ref()
            .is_some_and(|n| n.services.contains_key(name));
        changes.push(change(
            Kind::DiscoveryService,
            &format!("{name}.{}", names.namespace),
            Vec::new(),
            exists,
        ));
    }

    if names.create_cluster {
        let details = live
            .cluster
            .as_ref()
            .map(|c| tag_details(&desired.tags, &c.tags))
            .unwrap_or_default();
        changes.push(change(
            Kind::Cluster,
            &names.cluster,
            details,
            live.cluster.is_some(),
        ));
    } else {
        changes.push(Change {
            kind: Kind::Cluster,
            name: names.cluster.clone(),
            action: Action::Unchanged,
            details: vec!["existing cluster, not managed by this stack".into()],
        });
    }

    for (service, shape) in &desired.tasks {
        let live_task = live
            .task_definitions
            .get(&shape.family)
            .and_then(|t| t.as_ref());
        let details = live_task
            .map(|(_, live_shape)| shape.differences(live_shape))
            .unwrap_or_default();
        let task_changes = live_task.is_none() || !details.is_empty();
        changes.push(change(
            Kind::TaskDefinition,
            &shape.family,
            if task_changes && live_task.is_some() {
                let mut d = vec!["register a new revision".to_string()];
                d.extend(details);
                d
            } else {
                Vec::new()
            },
            live_task.is_some(),
        ));
        let service_name = names.service(service);
        let live_service = live.services.get(&service_name).and_then(|s| s.as_ref());
        let service_details = live_service
            .map(|s| {
                let mut details = tag_details(&desired.tags, &s.tags);
                if task_changes {
                    details.push("deploy the new task definition revision".into());
                } else if live_task.is_some_and(|(arn, _)| *arn != s.task_definition) {
                    details.push(format!(
                        "deploy {}",
                        super::rollout::short(&live_task.map(|t| t.0.clone()).unwrap_or_default())
                    ));
                }
                if let Some(detail) = spot_detail(s.spot_share, desired.spot_share) {
                    details.push(detail);
                }
                let count = deploy_count(service, Some(s.desired_count));
                if s.desired_count != count as i32 {
                    details.push(format!("desired count {} -> {count}", s.desired_count));
                }
                details
            })
            .unwrap_or_default();
        changes.push(change(
            Kind::Service,
            &service_name,
            service_details,
            live_service.is_some(),
        ));
        let live_scaling = live.scaling.get(&service_name).and_then(|s| s.as_ref());
        match (&service.autoscaling, live_scaling) {
            (Some(wanted), live_scaling) => changes.push(change(
                Kind::Autoscaling,
                &service_name,
                live_scaling
                    .map(|l| super::scaling::differences(wanted, l))
                    .unwrap_or_default(),
                live_scaling.is_some(),
            )),
            (None, Some(live_scaling)) => changes.push(change(
                Kind::Autoscaling,
                &service_name,
                vec![format!(
                    "remove autoscaling ({} to {} tasks)",
                    live_scaling.min_count, live_scaling.max_count
                )],
                true,
            )),
            (None, None) => {}
        }
    }

    Plan {
        stack: names.stack.clone(),
        region: region.to_string(),
        changes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_spot_share_is_planned_only_when_ecs_reports_the_live_one() {
        assert_eq!(
            spot_detail(Some(0.0), 0.25).as_deref(),
            Some("Spot share 0% -> 25%")
        );
        assert_eq!(spot_detail(Some(0.25), 0.25), None);
        assert_eq!(spot_detail(None, 0.25), None);
    }
}
