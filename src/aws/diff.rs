//! The plan as unified diffs, in the way of ecspresso's `diff`: each resource deploy would
//! create or change, as JSON of what AWS has against JSON of what the stack file asks, with
//! task definitions in ECS's own shape. A pure function over what plan already read.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Value};

use super::desired::{Desired, TaskShape, EXECUTION_POLICY};
use super::live::Live;
use super::plan::{Action, Change, Kind, Plan};
use super::rollout::short;

/// One resource's diff.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceDiff {
    pub kind: Kind,
    pub name: String,
    pub action: Action,
    /// A unified diff, `---` what AWS has (or /dev/null), `+++` what the stack file asks.
    pub diff: String,
}

/// A task definition as RegisterTaskDefinition takes it (the fields advisor manages).
pub fn task_json(shape: &TaskShape) -> Value {
    let mut container = json!({
        "name": shape.container,
        "image": shape.image,
        "command": shape.command,
        "portMappings": shape.ports.iter().map(|p| json!({"containerPort": p, "protocol": "tcp"})).collect::<Vec<_>>(),
        "environment": shape.environment.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
        "secrets": shape.secrets.iter().map(|(k, v)| json!({"name": k, "valueFrom": v})).collect::<Vec<_>>(),
    });
    if let Some((interval, timeout, retries, start_period)) = shape.health_timing {
        container["healthCheck"] = json!({
            "command": shape.health_command,
            "interval": interval,
            "timeout": timeout,
            "retries": retries,
            "startPeriod": start_period,
        });
    }
    container["logConfiguration"] = json!({
        "logDriver": "awslogs",
        "options": {"awslogs-group": shape.log_group, "awslogs-region": shape.log_region},
    });
    container["linuxParameters"] = json!({"initProcessEnabled": shape.init_process});
    json!({
        "family": shape.family,
        "cpu": shape.cpu,
        "memory": shape.memory,
        "runtimePlatform": {"cpuArchitecture": shape.cpu_architecture, "operatingSystemFamily": "LINUX"},
        "executionRoleArn": shape.execution_role,
        "taskRoleArn": shape.task_role,
        "containerDefinitions": [container],
    })
}

/// Tags as deploy leaves them: the live ones with the stack's laid over.
fn tags_after(
    desired: &BTreeMap<String, String>,
    live: Option<&BTreeMap<String, String>>,
) -> Value {
    let mut tags = live.cloned().unwrap_or_default();
    tags.extend(desired.iter().map(|(k, v)| (k.clone(), v.clone())));
    json!(tags)
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

/// A unified diff of two JSON documents; `None` for what does not exist yet.
pub fn unified(
    live: Option<&Value>,
    wanted: &Value,
    live_label: &str,
    wanted_label: &str,
) -> String {
    let old = live.map(pretty).unwrap_or_default();
    let new = pretty(wanted);
    let old_label = if live.is_some() {
        live_label
    } else {
        "/dev/null"
    };
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(old_label, wanted_label)
        .to_string()
}

/// The live and wanted documents of one change.
fn documents(
    desired: &Desired,
    live: &Live,
    plan: &Plan,
    change: &Change,
) -> (Option<Value>, Value, String) {
    let names = &desired.names;
    let tags = &desired.tags;
    match change.kind {
        Kind::LogGroup => {
            let doc = |retention: Option<i32>, tags: Value| json!({"logGroupName": names.log_group, "retentionInDays": retention, "tags": tags});
            let group = live.log_group.as_ref();
            (
                group.map(|g| doc(g.retention, json!(g.tags))),
                doc(
                    Some(desired.log_retention_days),
                    tags_after(tags, group.map(|g| &g.tags)),
                ),
                names.log_group.clone(),
            )
        }
        Kind::IamRole => {
            let role = live.roles.get(&change.name).and_then(|r| r.as_ref());
            let execution = change.name == names.execution_role;
            let inline = if execution {
                &desired.execution_inline
            } else {
                &desired.task_inline
            };
            let mut attached: BTreeSet<String> =
                role.map(|r| r.attached.clone()).unwrap_or_default();
            let live_doc = role.map(|r| {
                json!({"roleName": change.name, "attachedPolicies": r.attached, "inlinePolicies": r.inline, "tags": r.tags})
            });
            if execution {
                attached.insert(EXECUTION_POLICY.to_string());
            }
            (
                live_doc,
                json!({"roleName": change.name, "attachedPolicies": attached, "inlinePolicies": inline, "tags": tags_after(tags, role.map(|r| &r.tags))}),
                format!("role/{}", change.name),
            )
        }
        Kind::SecurityGroup => {
            let rules = |set: &BTreeSet<super::desired::Rule>| -> Vec<String> {
                set.iter().map(|r| r.describe()).collect()
            };
            let group = live.security_group.as_ref();
            (
                group.map(|g| json!({"groupName": names.security_group, "rules": rules(&g.rules), "tags": g.tags})),
                json!({"groupName": names.security_group, "rules": rules(&desired.rules), "tags": tags_after(tags, group.map(|g| &g.tags))}),
                format!("security-group/{}", names.security_group),
            )
        }
        Kind::CheckpointBucket => {
            let doc = |b: [bool; 5], tags: Value| {
                json!({
                    "bucket": change.name,
                    "versioning": b[0],
                    "kmsEncryption": b[1],
                    "publicAccessBlocked": b[2],
                    "expireOldVersions": b[3],
                    "tlsOnly": b[4],
                    "tags": tags,
                })
            };
            let bucket = live.bucket.as_ref();
            (
                bucket.map(|b| {
                    doc(
                        [
                            b.versioned,
                            b.encrypted,
                            b.public_access_blocked,
                            b.lifecycle,
                            b.policy,
                        ],
                        json!(b.tags),
                    )
                }),
                doc([true; 5], tags_after(tags, bucket.map(|b| &b.tags))),
                format!("s3://{}", change.name),
            )
        }
        Kind::Namespace => {
            let namespace = live.namespace.as_ref();
            (
                namespace.map(|n| json!({"name": names.namespace, "tags": n.tags})),
                json!({"name": names.namespace, "tags": tags_after(tags, namespace.map(|n| &n.tags))}),
                format!("namespace/{}", names.namespace),
            )
        }
        Kind::DiscoveryService => (
            None,
            json!({"name": change.name, "dns": "A, TTL 10 s, multivalue"}),
            change.name.clone(),
        ),
        Kind::Cluster => {
            let cluster = live.cluster.as_ref();
            let wanted = match cluster {
                Some(c) => {
                    json!({"clusterName": names.cluster, "tags": tags_after(tags, Some(&c.tags))})
                }
                None => {
                    json!({"clusterName": names.cluster, "capacityProviders": ["FARGATE", "FARGATE_SPOT"], "tags": tags})
                }
            };
            (
                cluster.map(|c| json!({"clusterName": names.cluster, "tags": c.tags})),
                wanted,
                format!("cluster/{}", names.cluster),
            )
        }
        Kind::TaskDefinition => {
            let current = live
                .task_definitions
                .get(&change.name)
                .and_then(|t| t.as_ref());
            let wanted = desired
                .tasks
                .iter()
                .find(|(_, shape)| shape.family == change.name)
                .map(|(_, shape)| task_json(shape))
                .unwrap_or_default();
            (
                current.map(|(_, shape)| task_json(shape)),
                wanted,
                current
                    .map(|(arn, _)| short(arn).to_string())
                    .unwrap_or_else(|| change.name.clone()),
            )
        }
        Kind::Service => {
            let current = live.services.get(&change.name).and_then(|s| s.as_ref());
            let (service, shape) = match desired.service_named(&change.name) {
                Some((service, shape)) => (Some(service), Some(shape)),
                None => (None, None),
            };
            let family = shape.map(|s| s.family.clone()).unwrap_or_default();
            let registered = live.task_definitions.get(&family).and_then(|t| t.as_ref());
            let task_action = plan
                .changes
                .iter()
                .find(|c| c.kind == Kind::TaskDefinition && c.name == family)
                .map(|c| c.action);
            let revision = |arn: &str| {
                super::rollback::family_and_revision(arn)
                    .map(|(_, r)| r)
                    .unwrap_or(0)
            };
            let wanted_task = match (task_action, registered) {
                (Some(Action::Unchanged), Some((arn, _))) => short(arn).to_string(),
                (_, Some((arn, _))) => format!("{family}:{} (new revision)", revision(arn) + 1),
                _ => format!("{family}:1 (new)"),
            };
            let mut wanted = json!({
                "serviceName": change.name,
                "taskDefinition": wanted_task,
                "desiredCount": service
                    .map(|s| super::desired::deploy_count(s, current.map(|c| c.desired_count)))
                    .unwrap_or(0),
            });
            // The capacity providers are set when the service is created, and changed when
            // ECS reports the live ones.
            if current.is_none_or(|s| s.spot_share.is_some()) {
                wanted["capacityProviderStrategy"] = desired
                    .capacity
                    .iter()
                    .map(|(provider, weight)| json!({"capacityProvider": provider, "weight": weight}))
                    .collect();
            }
            wanted["tags"] = tags_after(tags, current.map(|s| &s.tags));
            let strategy = |weights: Vec<(&str, i32)>| -> Value {
                weights
                    .iter()
                    .map(|(provider, weight)| json!({"capacityProvider": provider, "weight": weight}))
                    .collect()
            };
            (
                current.map(|s| {
                    let mut doc = json!({"serviceName": change.name, "taskDefinition": short(&s.task_definition), "desiredCount": s.desired_count});
                    if let Some(share) = s.spot_share {
                        doc["capacityProviderStrategy"] = strategy(super::desired::capacity_weights(share));
                    }
                    doc["tags"] = json!(s.tags);
                    doc
                }),
                wanted,
                format!("service/{}", change.name),
            )
        }
        Kind::Autoscaling => {
            let current = live.scaling.get(&change.name).and_then(|s| s.as_ref());
            let wanted = desired
                .service_named(&change.name)
                .and_then(|(service, _)| service.autoscaling.as_ref());
            let id = super::scaling::resource_id(&names.cluster, &change.name);
            (
                current.map(|c| json!({"resourceId": id, "minCapacity": c.min_count, "maxCapacity": c.max_count, "policy": c.policy})),
                wanted
                    .map(|w| json!({"resourceId": id, "minCapacity": w.min_count, "maxCapacity": w.max_count, "policy": {
                        "target_cpu_percent": w.target_cpu_percent,
                        "scale_out_cooldown_seconds": w.scale_out_cooldown_seconds,
                        "scale_in_cooldown_seconds": w.scale_in_cooldown_seconds,
                    }}))
                    .unwrap_or(Value::Null),
                format!("autoscaling/{id}"),
            )
        }
    }
}

/// A diff for every resource the plan creates or changes, in the plan's order.
pub fn diff(desired: &Desired, live: &Live, plan: &Plan) -> Vec<ResourceDiff> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .map(|change| {
            let (current, wanted, label) = documents(desired, live, plan, change);
            let wanted_label = format!("{} (stack file)", change.name);
            ResourceDiff {
                kind: change.kind,
                name: change.name.clone(),
                action: change.action,
                diff: unified(
                    current.as_ref(),
                    &wanted,
                    &format!("{label} (AWS)"),
                    &wanted_label,
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> TaskShape {
        TaskShape {
            family: "orders-ksqldb-server".into(),
            cpu: "1024".into(),
            memory: "2048".into(),
            cpu_architecture: "X86_64".into(),
            container: "ksqldb-server".into(),
            image: "confluentinc/ksqldb-server:0.29.0".into(),
            environment: BTreeMap::from([("A".to_string(), "1".to_string())]),
            ..TaskShape::default()
        }
    }

    #[test]
    fn a_changed_size_shows_as_removed_and_added_lines() {
        let live = task_json(&shape());
        let mut bigger = shape();
        bigger.cpu = "2048".into();
        bigger.environment.insert("B".into(), "2".into());
        let text = unified(
            Some(&live),
            &task_json(&bigger),
            "td:1 (AWS)",
            "td (stack file)",
        );
        assert!(
            text.starts_with("--- td:1 (AWS)\n+++ td (stack file)\n"),
            "{text}"
        );
        assert!(
            text.contains("\n-  \"cpu\": \"1024\",\n+  \"cpu\": \"2048\",\n"),
            "{text}"
        );
        assert!(text.contains("+          \"name\": \"B\","), "{text}");
        assert!(!text.contains("-  \"memory\""), "{text}");
    }

    #[test]
    fn a_new_resource_is_diffed_against_nothing() {
        let text = unified(None, &task_json(&shape()), "td (AWS)", "td (stack file)");
        assert!(
            text.starts_with("--- /dev/null\n+++ td (stack file)\n"),
            "{text}"
        );
        assert!(text.lines().skip(3).all(|l| l.starts_with('+')), "{text}");
    }

    #[test]
    fn identical_documents_have_no_hunk() {
        let doc = task_json(&shape());
        assert_eq!(unified(Some(&doc), &doc, "a", "b"), "");
    }
}
