//! When is a deploy done? A pure function over what DescribeServices (and the stopped
//! tasks) say, so it can be tested on the shapes AWS returns: moto never starts tasks.
//!
//! ECS's "services stable" waiter also succeeds after a circuit breaker rolled a deployment
//! back, so stability is not enough: the primary deployment must run the task definition
//! this deploy registered, with rolloutState COMPLETED, and every desired task running.

use serde::{Deserialize, Serialize};

/// One deployment of a service, in DescribeServices' JSON shape.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentSnapshot {
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    pub task_definition: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub failed_tasks: i32,
    /// COMPLETED, IN_PROGRESS or FAILED.
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EventSnapshot {
    pub message: String,
}

/// A service as DescribeServices returns it (the fields the decision needs).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceSnapshot {
    pub service_name: String,
    pub status: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub task_definition: String,
    pub deployments: Vec<DeploymentSnapshot>,
    /// Newest first, as ECS lists them.
    pub events: Vec<EventSnapshot>,
}

/// Why recently stopped tasks stopped (DescribeTasks' stoppedReason and container reasons).
pub type StoppedReasons = Vec<String>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Rollout {
    /// The new task definition runs everywhere it should.
    Completed,
    /// Still rolling; `detail` says what it waits for.
    InProgress { detail: String },
    /// The deployment failed or was rolled back; the reasons come from ECS.
    Failed { reasons: Vec<String> },
}

const EVENTS_TO_QUOTE: usize = 3;

fn event_reasons(service: &ServiceSnapshot) -> Vec<String> {
    service
        .events
        .iter()
        .filter(|e| {
            let m = e.message.to_ascii_lowercase();
            m.contains("circuit breaker")
                || m.contains("rolling back")
                || m.contains("unable")
                || m.contains("failed")
                || m.contains("unhealthy")
        })
        .take(EVENTS_TO_QUOTE)
        .map(|e| format!("event: {}", e.message))
        .collect()
}

fn failure(
    service: &ServiceSnapshot,
    headline: String,
    deployment: Option<&DeploymentSnapshot>,
    stopped: &[String],
) -> Rollout {
    let mut reasons = vec![headline];
    if let Some(reason) = deployment.and_then(|d| d.rollout_state_reason.clone()) {
        reasons.push(format!("ECS: {reason}"));
    }
    reasons.extend(event_reasons(service));
    reasons.extend(
        stopped
            .iter()
            .take(EVENTS_TO_QUOTE)
            .map(|r| format!("stopped task: {r}")),
    );
    Rollout::Failed { reasons }
}

/// Judges a service against the task definition this deploy registered.
pub fn assess(
    service: &ServiceSnapshot,
    expected_task_definition: &str,
    stopped: &[String],
) -> Rollout {
    let name = &service.service_name;
    if service.status != "ACTIVE" {
        return failure(
            service,
            format!("service {name} is {}, not ACTIVE", service.status),
            None,
            stopped,
        );
    }
    let primary = service.deployments.iter().find(|d| d.status == "PRIMARY");
    let ours = service
        .deployments
        .iter()
        .find(|d| d.task_definition == expected_task_definition);
    let Some(primary) = primary else {
        return Rollout::InProgress {
            detail: format!("service {name} has no primary deployment yet"),
        };
    };
    if primary.task_definition != expected_task_definition {
        // The circuit breaker made the old task definition primary again, or our
        // deployment vanished: either way this deploy did not land.
        let rolled_back = ours.is_none_or(|d| d.rollout_state.as_deref() == Some("FAILED"))
            || event_reasons(service)
                .iter()
                .any(|e| e.contains("circuit breaker") || e.contains("rolling back"));
        if rolled_back {
            return failure(
                service,
                format!(
                    "service {name} was rolled back to {} instead of running {expected_task_definition}",
                    short(&primary.task_definition)
                ),
                ours,
                stopped,
            );
        }
        return Rollout::InProgress {
            detail: format!(
                "service {name} has not started deploying {} yet",
                short(expected_task_definition)
            ),
        };
    }
    match primary.rollout_state.as_deref() {
        Some("FAILED") => failure(
            service,
            format!(
                "the deployment of {} failed",
                short(expected_task_definition)
            ),
            Some(primary),
            stopped,
        ),
        Some("COMPLETED") if service.running_count >= service.desired_count => Rollout::Completed,
        state => {
            let mut detail = format!(
                "service {name}: {} of {} tasks running, rollout {}",
                primary.running_count,
                primary.desired_count,
                state
                    .unwrap_or("not reported")
                    .to_ascii_lowercase()
                    .replace('_', " ")
            );
            if primary.failed_tasks > 0 {
                detail.push_str(&format!(
                    "; {} task(s) failed to start{}",
                    primary.failed_tasks,
                    stopped
                        .first()
                        .map(|r| format!(" (last: {r})"))
                        .unwrap_or_default()
                ));
            }
            Rollout::InProgress { detail }
        }
    }
}

/// `family:revision` from a task definition ARN.
pub fn short(task_definition: &str) -> &str {
    task_definition
        .rsplit_once('/')
        .map(|(_, tail)| tail)
        .unwrap_or(task_definition)
}

impl From<&aws_sdk_ecs::types::Service> for ServiceSnapshot {
    fn from(service: &aws_sdk_ecs::types::Service) -> Self {
        ServiceSnapshot {
            service_name: service.service_name().unwrap_or_default().to_string(),
            status: service.status().unwrap_or_default().to_string(),
            desired_count: service.desired_count(),
            running_count: service.running_count(),
            task_definition: service.task_definition().unwrap_or_default().to_string(),
            deployments: service
                .deployments()
                .iter()
                .map(|d| DeploymentSnapshot {
                    id: d.id().unwrap_or_default().to_string(),
                    status: d.status().unwrap_or_default().to_string(),
                    task_definition: d.task_definition().unwrap_or_default().to_string(),
                    desired_count: d.desired_count(),
                    running_count: d.running_count(),
                    failed_tasks: d.failed_tasks(),
                    rollout_state: d.rollout_state().map(|s| s.as_str().to_string()),
                    rollout_state_reason: d.rollout_state_reason().map(str::to_string),
                })
                .collect(),
            events: service
                .events()
                .iter()
                .map(|e| EventSnapshot {
                    message: e.message().unwrap_or_default().to_string(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> ServiceSnapshot {
        let path = format!(
            "{}/tests/fixtures/ecs/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    const V7: &str = "arn:aws:ecs:eu-west-2:123456789012:task-definition/orders-ksqldb-server:7";

    #[test]
    fn a_completed_rollout_of_the_new_revision_is_done() {
        assert_eq!(assess(&fixture("completed"), V7, &[]), Rollout::Completed);
    }

    #[test]
    fn a_completed_rollout_of_another_revision_is_not_ours() {
        let older = "arn:aws:ecs:eu-west-2:123456789012:task-definition/orders-ksqldb-server:8";
        assert!(matches!(
            assess(&fixture("completed"), older, &[]),
            Rollout::Failed { .. } | Rollout::InProgress { .. }
        ));
    }

    #[test]
    fn a_circuit_breaker_rollback_is_a_failure_with_ecs_reasons() {
        let stopped = vec!["Essential container in task exited".to_string()];
        let Rollout::Failed { reasons } = assess(&fixture("rolled_back"), V7, &stopped) else {
            panic!("a rollback must fail the deploy");
        };
        let all = reasons.join("\n");
        assert!(
            all.contains("rolled back to orders-ksqldb-server:6"),
            "{all}"
        );
        assert!(all.contains("circuit breaker"), "{all}");
        assert!(
            all.contains("stopped task: Essential container in task exited"),
            "{all}"
        );
    }

    #[test]
    fn a_stuck_deployment_is_still_in_progress_and_says_why() {
        let expected = "arn:aws:ecs:eu-west-2:123456789012:task-definition/orders-taskmanager:3";
        let stopped =
            vec!["CannotPullContainerError: pull image manifest has been retried".to_string()];
        let Rollout::InProgress { detail } = assess(&fixture("stuck"), expected, &stopped) else {
            panic!("stuck is not done yet");
        };
        assert!(detail.contains("0 of 2 tasks running"), "{detail}");
        assert!(detail.contains("1 task(s) failed to start"), "{detail}");
        assert!(detail.contains("CannotPullContainerError"), "{detail}");
    }

    #[test]
    fn tasks_failing_health_checks_fail_the_deploy() {
        let expected = "arn:aws:ecs:eu-west-2:123456789012:task-definition/orders-engine:2";
        let stopped = vec!["Task failed container health checks".to_string()];
        let Rollout::Failed { reasons } =
            assess(&fixture("health_check_failing"), expected, &stopped)
        else {
            panic!("failed health checks must fail the deploy");
        };
        let all = reasons.join("\n");
        assert!(all.contains("failed container health checks"), "{all}");
        assert!(
            all.contains("stopped task: Task failed container health checks"),
            "{all}"
        );
    }

    #[test]
    fn a_service_still_starting_its_tasks_is_in_progress() {
        let mut service = fixture("completed");
        service.running_count = 1;
        service.deployments[0].rollout_state = Some("IN_PROGRESS".into());
        assert!(matches!(
            assess(&service, V7, &[]),
            Rollout::InProgress { .. }
        ));
    }
}
