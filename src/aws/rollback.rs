//! Rollback, in the way of ecspresso: point a service back at the previous revision of its
//! own task definition family (or a named one); the caller then waits for the rollout as
//! deploy does. Choosing the revision is a pure function, tested without AWS.

use serde::Serialize;

use super::clients::Clients;
use super::error::{classify, AwsError};
use super::live;

/// One service to move from one revision to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub service: String,
    pub family: String,
    /// The task definition ARN the service runs now.
    pub from: String,
    /// The one it is pointed back at.
    pub to: String,
}

/// `(family, revision)` from a task definition ARN or a `family:revision`.
pub fn family_and_revision(task_definition: &str) -> Option<(&str, u32)> {
    let tail = super::rollout::short(task_definition);
    let (family, revision) = tail.rsplit_once(':')?;
    Some((family, revision.parse().ok()?))
}

/// The revision to roll back to: `to` when given, else the newest active revision of the
/// family older than the current one. `active` lists the family's ACTIVE task definitions.
pub fn choose(
    service: &str,
    family: &str,
    current: &str,
    active: &[String],
    to: Option<u32>,
) -> Result<Step, AwsError> {
    let refuse =
        |message: String| AwsError::Invalid(format!("cannot roll back {service}: {message}"));
    let Some((current_family, current_revision)) = family_and_revision(current) else {
        return Err(refuse(format!(
            "it runs {current:?}, which is not a task definition revision"
        )));
    };
    if current_family != family {
        return Err(refuse(format!(
            "it runs {}, which is not a revision of the stack's own family {family}",
            super::rollout::short(current)
        )));
    }
    let revisions: Vec<(u32, &String)> = active
        .iter()
        .filter_map(|arn| match family_and_revision(arn) {
            Some((f, revision)) if f == family => Some((revision, arn)),
            _ => None,
        })
        .collect();
    let target = match to {
        Some(wanted) if wanted == current_revision => {
            return Err(refuse(format!("it already runs {family}:{wanted}")))
        }
        Some(wanted) => revisions
            .iter()
            .find(|(revision, _)| *revision == wanted)
            .ok_or_else(|| {
                refuse(format!(
                    "{family}:{wanted} is not an active revision (active: {})",
                    list(&revisions)
                ))
            })?,
        None => revisions
            .iter()
            .filter(|(revision, _)| *revision < current_revision)
            .max_by_key(|(revision, _)| *revision)
            .ok_or_else(|| {
                refuse(format!(
                    "there is no active revision of {family} older than {current_revision} (active: {})",
                    list(&revisions)
                ))
            })?,
    };
    Ok(Step {
        service: service.to_string(),
        family: family.to_string(),
        from: current.to_string(),
        to: target.1.clone(),
    })
}

fn list(revisions: &[(u32, &String)]) -> String {
    if revisions.is_empty() {
        return "none".to_string();
    }
    let mut numbers: Vec<u32> = revisions.iter().map(|(r, _)| *r).collect();
    numbers.sort_unstable();
    numbers
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every ACTIVE revision ARN of one family (ListTaskDefinitions matches by prefix, so other
/// families that start the same way are dropped by [`choose`]).
pub async fn active_revisions(clients: &Clients, family: &str) -> Result<Vec<String>, AwsError> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let page = clients
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| classify(format!("list the revisions of {family}"), e))?;
        arns.extend(page.task_definition_arns().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(arns)
}

/// Plans the rollback of each named service (full ECS service name, task family).
pub async fn plan(
    clients: &Clients,
    cluster: &str,
    services: &[(String, String)],
    to: Option<u32>,
) -> Result<Vec<Step>, AwsError> {
    let names: Vec<String> = services.iter().map(|(name, _)| name.clone()).collect();
    let described = live::describe_services(clients, cluster, &names).await?;
    let mut steps = Vec::new();
    for (name, family) in services {
        let service = described
            .iter()
            .find(|s| s.service_name() == Some(name.as_str()) && s.status() == Some("ACTIVE"))
            .ok_or_else(|| {
                AwsError::Invalid(format!(
                    "cannot roll back {name}: the service does not exist in cluster {cluster} (deploy it first)"
                ))
            })?;
        let current = service.task_definition().unwrap_or_default();
        let active = active_revisions(clients, family).await?;
        steps.push(choose(name, family, current, &active, to)?);
    }
    Ok(steps)
}

/// Points each service at its step's revision; the desired count is left as it is.
pub async fn apply(clients: &Clients, cluster: &str, steps: &[Step]) -> Result<(), AwsError> {
    for step in steps {
        clients
            .ecs
            .update_service()
            .cluster(cluster)
            .service(&step.service)
            .task_definition(&step.to)
            .send()
            .await
            .map_err(|e| classify(format!("roll back ECS service {}", step.service), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arn(tail: &str) -> String {
        format!("arn:aws:ecs:eu-west-2:123456789012:task-definition/{tail}")
    }

    #[test]
    fn the_previous_active_revision_of_the_family_is_chosen() {
        let active = vec![
            arn("orders-engine:1"),
            arn("orders-engine:3"),
            arn("orders-engine:4"),
            arn("orders-engine2:9"),
        ];
        let step = choose(
            "orders-engine",
            "orders-engine",
            &arn("orders-engine:4"),
            &active,
            None,
        )
        .unwrap();
        assert_eq!(step.to, arn("orders-engine:3"));
        // Revision 2 was deregistered: from 3 the way back is 1.
        let step = choose(
            "orders-engine",
            "orders-engine",
            &arn("orders-engine:3"),
            &active,
            None,
        )
        .unwrap();
        assert_eq!(step.to, arn("orders-engine:1"));
    }

    #[test]
    fn a_named_revision_must_be_active_and_not_the_current_one() {
        let active = vec![arn("orders-engine:1"), arn("orders-engine:2")];
        let to_one = choose(
            "s",
            "orders-engine",
            &arn("orders-engine:2"),
            &active,
            Some(1),
        )
        .unwrap();
        assert_eq!(to_one.to, arn("orders-engine:1"));
        let forward = choose(
            "s",
            "orders-engine",
            &arn("orders-engine:1"),
            &active,
            Some(2),
        )
        .unwrap();
        assert_eq!(forward.to, arn("orders-engine:2"));
        let same = choose(
            "s",
            "orders-engine",
            &arn("orders-engine:2"),
            &active,
            Some(2),
        )
        .unwrap_err()
        .to_string();
        assert!(same.contains("already runs orders-engine:2"), "{same}");
        let gone = choose(
            "s",
            "orders-engine",
            &arn("orders-engine:2"),
            &active,
            Some(7),
        )
        .unwrap_err()
        .to_string();
        assert!(
            gone.contains("orders-engine:7 is not an active revision (active: 1, 2)"),
            "{gone}"
        );
    }

    #[test]
    fn no_earlier_revision_or_a_foreign_family_is_refused() {
        let only = vec![arn("orders-engine:1")];
        let first = choose("s", "orders-engine", &arn("orders-engine:1"), &only, None)
            .unwrap_err()
            .to_string();
        assert!(
            first.contains("no active revision of orders-engine older than 1"),
            "{first}"
        );
        let foreign = choose("s", "orders-engine", &arn("billing:5"), &only, None)
            .unwrap_err()
            .to_string();
        assert!(
            foreign.contains("not a revision of the stack's own family orders-engine"),
            "{foreign}"
        );
        // Another family that shares the prefix is never a way back.
        let prefixed = vec![arn("orders-engine-old:1"), arn("orders-engine:2")];
        assert!(choose(
            "s",
            "orders-engine",
            &arn("orders-engine:2"),
            &prefixed,
            None
        )
        .is_err());
    }
}
