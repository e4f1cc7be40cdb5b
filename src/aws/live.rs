//! What exists in AWS for a stack, read by name and checked by the `advisor:stack` tag: a
//! resource with the stack's name but without its tag belongs to something else, and is
//! never touched.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::clients::Clients;
use super::desired::{Desired, Rule, TaskShape, STACK_TAG};
use super::error::{classify, code_of, AwsError};

#[derive(Debug, Clone)]
pub struct LogGroupLive {
    pub arn: String,
    pub retention: Option<i32>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct RoleLive {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
    pub attached: BTreeSet<String>,
    pub inline: BTreeMap<String, Value>,
}

#[derive(Debug, Clone)]
pub struct SecurityGroupLive {
    pub id: String,
    pub tags: BTreeMap<String, String>,
    pub rules: BTreeSet<Rule>,
}

#[derive(Debug, Clone)]
pub struct BucketLive {
    pub tags: BTreeMap<String, String>,
    pub versioned: bool,
    pub encrypted: bool,
    pub public_access_blocked: bool,
    pub lifecycle: bool,
    pub policy: bool,
}

#[derive(Debug, Clone)]
pub struct NamespaceLive {
    pub id: String,
    pub arn: String,
    pub tags: BTreeMap<String, String>,
    /// Cloud Map service name to (id, ARN).
    pub services: BTreeMap<String, (String, String)>,
}

#[derive(Debug, Clone)]
pub struct ClusterLive {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct ServiceLive {
    pub arn: String,
    pub task_definition: String,
    pub desired_count: i32,
    pub tags: BTreeMap<String, String>,
    /// Share on FARGATE_SPOT, when ECS reports the capacity provider strategy or FARGATE.
    pub spot_share: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Live {
    pub log_group: Option<LogGroupLive>,
    pub roles: BTreeMap<String, Option<RoleLive>>,
    pub security_group: Option<SecurityGroupLive>,
    pub bucket: Option<BucketLive>,
    pub namespace: Option<NamespaceLive>,
    pub cluster: Option<ClusterLive>,
    /// Family to its latest active revision.
    pub task_definitions: BTreeMap<String, Option<(String, TaskShape)>>,
    pub services: BTreeMap<String, Option<ServiceLive>>,
    /// Service name to its autoscaling, for the services that exist.
    pub scaling: BTreeMap<String, Option<super::scaling::ScalingLive>>,
}

/// Refuses a resource that has the stack's name but not its tag.
pub fn check_owner(
    kind: &str,
    name: &str,
    tags: &BTreeMap<String, String>,
    stack: &str,
) -> Result<(), AwsError> {
    match tags.get(STACK_TAG) {
        Some(owner) if owner == stack => Ok(()),
        Some(owner) => Err(AwsError::Conflict(format!(
            "{kind} {name} already exists and belongs to advisor stack {owner:?}, not {stack:?}: choose another --name or stack name"
        ))),
        None => Err(AwsError::Conflict(format!(
            "{kind} {name} already exists and is not part of stack {stack:?} (it has no {STACK_TAG} tag): it belongs to something else, so advisor leaves it alone. Choose another --name, or remove it if it is a leftover"
        ))),
    }
}

/// IAM returns policy documents URL-encoded.
pub fn decode_policy(document: &str) -> Value {
    let decoded = if document.trim_start().starts_with('{') {
        document.to_string()
    } else {
        percent_decode(document)
    };
    serde_json::from_str(&decoded).unwrap_or(Value::String(decoded))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&text[i + 1..i + 3], 16) {
                Ok(byte) => {
                    out.push(byte);
                    i += 3;
                }
                Err(_) => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

pub fn ecs_tags(tags: &[aws_sdk_ecs::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

pub async fn read_log_group(
    clients: &Clients,
    name: &str,
) -> Result<Option<LogGroupLive>, AwsError> {
    let groups = clients
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(|e| classify(format!("describe log group {name}"), e))?;
    let Some(group) = groups
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name))
    else {
        return Ok(None);
    };
    let arn = group
        .arn()
        .unwrap_or_default()
        .trim_end_matches(":*")
        .to_string();
    let tags = clients
        .logs
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(|e| classify(format!("list the tags of log group {name}"), e))?
        .tags()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    Ok(Some(LogGroupLive {
        arn,
        retention: group.retention_in_days(),
        tags,
    }))
}

pub async fn read_role(clients: &Clients, name: &str) -> Result<Option<RoleLive>, AwsError> {
    let role = match clients.iam.get_role().role_name(name).send().await {
        Ok(output) => output,
        Err(e) if code_of(&e) == "NoSuchEntity" => return Ok(None),
        Err(e) => return Err(classify(format!("read IAM role {name}"), e)),
    };
    let arn = role.role().map(|r| r.arn().to_string()).unwrap_or_default();
    let tags = clients
        .iam
        .list_role_tags()
        .role_name(name)
        .send()
        .await
        .map_err(|e| classify(format!("list the tags of IAM role {name}"), e))?
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    let attached = clients
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| classify(format!("list the policies of IAM role {name}"), e))?
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect();
    let names = clients
        .iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| classify(format!("list the inline policies of IAM role {name}"), e))?
        .policy_names()
        .to_vec();
    let mut inline = BTreeMap::new();
    for policy in names {
        let document = clients
            .iam
            .get_role_policy()
            .role_name(name)
            .policy_name(&policy)
            .send()
            .await
            .map_err(|e| classify(format!("read policy {policy} of IAM role {name}"), e))?
            .policy_document()
            .to_string();
        inline.insert(policy, decode_policy(&document));
    }
    Ok(Some(RoleLive {
        arn,
        tags,
        attached,
        inline,
    }))
}

fn rules_of(group: &aws_sdk_ec2::types::SecurityGroup) -> BTreeSet<Rule> {
    let own_id = group.group_id().unwrap_or_default();
    let mut rules = BTreeSet::new();
    for (inbound, permissions) in [
        (true, group.ip_permissions()),
        (false, group.ip_permissions_egress()),
    ] {
        for permission in permissions {
            let protocol = permission.ip_protocol().unwrap_or("-1").to_string();
            let (from, to) = if protocol == "-1" {
                (-1, -1)
            } else {
                (
                    permission.from_port().unwrap_or(-1),
                    permission.to_port().unwrap_or(-1),
                )
            };
            for range in permission.ip_ranges() {
                rules.insert(Rule {
                    inbound,
                    protocol: protocol.clone(),
                    from_port: from,
                    to_port: to,
                    cidr: range.cidr_ip().map(str::to_string),
                });
            }
            for pair in permission.user_id_group_pairs() {
                if pair.group_id() == Some(own_id) {
                    rules.insert(Rule {
                        inbound,
                        protocol: protocol.clone(),
                        from_port: from,
                        to_port: to,
                        cidr: None,
                    });
                }
            }
        }
    }
    rules
}

pub async fn read_security_group(
    clients: &Clients,
    name: &str,
    vpc_id: &str,
) -> Result<Option<SecurityGroupLive>, AwsError> {
    use aws_sdk_ec2::types::Filter;
    let groups = clients
        .ec2
        .describe_security_groups()
        .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
        .filters(Filter::builder().name("group-name").values(name).build())
        .send()
        .await
        .map_err(|e| classify(format!("describe security group {name}"), e))?;
    Ok(groups
        .security_groups()
        .first()
        .map(|group| SecurityGroupLive {
            id: group.group_id().unwrap_or_default().to_string(),
            tags: ec2_tags(group.tags()),
            rules: rules_of(group),
        }))
}

pub async fn read_bucket(clients: &Clients, name: &str) -> Result<Option<BucketLive>, AwsError> {
    match clients.s3.head_bucket().bucket(name).send().await {
        Ok(_) => {}
        Err(e) => {
            let code = code_of(&e);
            let not_found = code == "NotFound"
                || code == "NoSuchBucket"
                || e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
            if not_found {
                return Ok(None);
            }
            let forbidden = e.raw_response().is_some_and(|r| r.status().as_u16() == 403);
            if forbidden {
                return Err(AwsError::Conflict(format!(
                    "S3 bucket {name} exists and belongs to another account: bucket names are global; choose another --name"
                )));
            }
            return Err(classify(format!("look up S3 bucket {name}"), e));
        }
    }
    let tags = match clients.s3.get_bucket_tagging().bucket(name).send().await {
        Ok(output) => output
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        Err(e) if code_of(&e) == "NoSuchTagSet" => BTreeMap::new(),
        Err(e) => return Err(classify(format!("read the tags of S3 bucket {name}"), e)),
    };
    let versioned = clients
        .s3
        .get_bucket_versioning()
        .bucket(name)
        .send()
        .await
        .map_err(|e| classify(format!("read the versioning of S3 bucket {name}"), e))?
        .status()
        .is_some_and(|s| s.as_str() == "Enabled");
    let encrypted = clients
        .s3
        .get_bucket_encryption()
        .bucket(name)
        .send()
        .await
        .ok()
        .and_then(|o| o.server_side_encryption_configuration().cloned())
        .is_some_and(|c| {
            c.rules().iter().any(|r| {
                r.apply_server_side_encryption_by_default()
                    .is_some_and(|d| d.sse_algorithm().as_str() == "aws:kms")
            })
        });
    let public_access_blocked = clients
        .s3
        .get_public_access_block()
        .bucket(name)
        .send()
        .await
        .ok()
        .and_then(|o| o.public_access_block_configuration().cloned())
        .is_some_and(|c| {
            c.block_public_acls() == Some(true)
                && c.block_public_policy() == Some(true)
                && c.ignore_public_acls() == Some(true)
                && c.restrict_public_buckets() == Some(true)
        });
    let lifecycle = clients
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket(name)
        .send()
        .await
        .ok()
        .is_some_and(|o| {
            o.rules()
                .iter()
                .any(|r| r.id() == Some(super::apply::LIFECYCLE_RULE))
        });
    let policy = clients
        .s3
        .get_bucket_policy()
        .bucket(name)
        .send()
        .await
        .ok()
        .and_then(|o| o.policy().map(str::to_string))
        .is_some_and(|p| p.contains("aws:SecureTransport"));
    Ok(Some(BucketLive {
        tags,
        versioned,
        encrypted,
        public_access_blocked,
        lifecycle,
        policy,
    }))
}

pub async fn read_namespace(
    clients: &Clients,
    name: &str,
) -> Result<Option<NamespaceLive>, AwsError> {
    let mut token = None;
    let mut found = None;
    loop {
        let page = clients
            .discovery
            .list_namespaces()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| classify("list Cloud Map namespaces", e))?;
        if let Some(namespace) = page.namespaces().iter().find(|n| n.name() == Some(name)) {
            found = Some((
                namespace.id().unwrap_or_default().to_string(),
                namespace.arn().unwrap_or_default().to_string(),
            ));
            break;
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let Some((id, arn)) = found else {
        return Ok(None);
    };
    let tags = clients
        .discovery
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(|e| classify(format!("list the tags of namespace {name}"), e))?
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    let services = clients
        .discovery
        .list_services()
        .filters(
            aws_sdk_servicediscovery::types::ServiceFilter::builder()
                .name(aws_sdk_servicediscovery::types::ServiceFilterName::NamespaceId)
                .values(&id)
                .build()
                .map_err(|e| AwsError::Invalid(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| classify(format!("list the services of namespace {name}"), e))?
        .services()
        .iter()
        .filter_map(|s| {
            Some((
                s.name()?.to_string(),
                (s.id()?.to_string(), s.arn()?.to_string()),
            ))
        })
        .collect();
    Ok(Some(NamespaceLive {
        id,
        arn,
        tags,
        services,
    }))
}

pub async fn read_cluster(clients: &Clients, name: &str) -> Result<Option<ClusterLive>, AwsError> {
    let output = clients
        .ecs
        .describe_clusters()
        .clusters(name)
        .include(aws_sdk_ecs::types::ClusterField::Tags)
        .send()
        .await
        .map_err(|e| classify(format!("describe ECS cluster {name}"), e))?;
    Ok(output
        .clusters()
        .iter()
        .find(|c| c.status() == Some("ACTIVE"))
        .map(|c| ClusterLive {
            arn: c.cluster_arn().unwrap_or_default().to_string(),
            tags: ecs_tags(c.tags()),
        }))
}

pub fn shape_of(task: &aws_sdk_ecs::types::TaskDefinition) -> TaskShape {
    let container = task.container_definitions().first();
    let log_options = container
        .and_then(|c| c.log_configuration())
        .and_then(|l| l.options())
        .cloned()
        .unwrap_or_default();
    let health = container.and_then(|c| c.health_check());
    TaskShape {
        family: task.family().unwrap_or_default().to_string(),
        cpu: task.cpu().unwrap_or_default().to_string(),
        memory: task.memory().unwrap_or_default().to_string(),
        cpu_architecture: task
            .runtime_platform()
            .and_then(|p| p.cpu_architecture())
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| "X86_64".to_string()),
        execution_role: task.execution_role_arn().unwrap_or_default().to_string(),
        task_role: task.task_role_arn().unwrap_or_default().to_string(),
        container: container
            .and_then(|c| c.name())
            .unwrap_or_default()
            .to_string(),
        image: container
            .and_then(|c| c.image())
            .unwrap_or_default()
            .to_string(),
        command: container.map(|c| c.command().to_vec()).unwrap_or_default(),
        ports: container
            .map(|c| {
                c.port_mappings()
                    .iter()
                    .filter_map(|p| p.container_port())
                    .collect()
            })
            .unwrap_or_default(),
        environment: container
            .map(|c| {
                c.environment()
                    .iter()
                    .filter_map(|kv| Some((kv.name()?.to_string(), kv.value()?.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
        secrets: container
            .map(|c| {
                c.secrets()
                    .iter()
                    .map(|s| (s.name().to_string(), s.value_from().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        health_command: health.map(|h| h.command().to_vec()).unwrap_or_default(),
        health_timing: health.map(|h| {
            (
                h.interval().unwrap_or(30),
                h.timeout().unwrap_or(5),
                h.retries().unwrap_or(3),
                h.start_period().unwrap_or(0),
            )
        }),
        log_group: log_options
            .get("awslogs-group")
            .cloned()
            .unwrap_or_default(),
        log_region: log_options
            .get("awslogs-region")
            .cloned()
            .unwrap_or_default(),
        init_process: container
            .and_then(|c| c.linux_parameters())
            .and_then(|l| l.init_process_enabled())
            .unwrap_or(false),
    }
}

pub async fn read_task_definition(
    clients: &Clients,
    family: &str,
) -> Result<Option<(String, TaskShape)>, AwsError> {
    match clients
        .ecs
        .describe_task_definition()
        .task_definition(family)
        .send()
        .await
    {
        Ok(output) => Ok(output
            .task_definition()
            .filter(|t| t.status().is_none_or(|s| s.as_str() == "ACTIVE"))
            .map(|t| {
                (
                    t.task_definition_arn().unwrap_or_default().to_string(),
                    shape_of(t),
                )
            })),
        Err(e) if code_of(&e) == "ClientException" => Ok(None),
        Err(e) => Err(classify(format!("describe task definition {family}"), e)),
    }
}

/// The shape of one task definition revision (a family:revision or an ARN), whatever its
/// status: a service may still run a deregistered revision.
pub async fn describe_task_definition(
    clients: &Clients,
    task_definition: &str,
) -> Result<Option<TaskShape>, AwsError> {
    match clients
        .ecs
        .describe_task_definition()
        .task_definition(task_definition)
        .send()
        .await
    {
        Ok(output) => Ok(output.task_definition().map(shape_of)),
        Err(e) if code_of(&e) == "ClientException" => Ok(None),
        Err(e) => Err(classify(
            format!("describe task definition {task_definition}"),
            e,
        )),
    }
}

pub async fn describe_services(
    clients: &Clients,
    cluster: &str,
    names: &[String],
) -> Result<Vec<aws_sdk_ecs::types::Service>, AwsError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let output = clients
        .ecs
        .describe_services()
        .cluster(cluster)
        .set_services(Some(names.to_vec()))
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await;
    match output {
        Ok(output) => Ok(output.services().to_vec()),
        Err(e) if code_of(&e) == "ClusterNotFoundException" => Ok(Vec::new()),
        Err(e) => Err(classify(
            format!("describe the services of cluster {cluster}"),
            e,
        )),
    }
}

/// Reads everything the desired stack names; refuses resources that are not the stack's.
pub async fn read(clients: &Clients, desired: &Desired, vpc_id: &str) -> Result<Live, AwsError> {
    let names = &desired.names;
    let stack = &names.stack;
    let log_group = read_log_group(clients, &names.log_group).await?;
    if let Some(group) = &log_group {
        check_owner("log group", &names.log_group, &group.tags, stack)?;
    }
    let mut roles = BTreeMap::new();
    for role in [&names.execution_role, &names.task_role] {
        let live = read_role(clients, role).await?;
        if let Some(live) = &live {
            check_owner("IAM role", role, &live.tags, stack)?;
        }
        roles.insert(role.clone(), live);
    }
    let security_group = read_security_group(clients, &names.security_group, vpc_id).await?;
    if let Some(group) = &security_group {
        check_owner(
            "security group",
            &format!("{} ({})", names.security_group, group.id),
            &group.tags,
            stack,
        )?;
    }
    let bucket = match &names.bucket {
        Some(bucket) => {
            let live = read_bucket(clients, bucket).await?;
            if let Some(live) = &live {
                check_owner("S3 bucket", bucket, &live.tags, stack)?;
            }
            live
        }
        None => None,
    };
    let namespace = read_namespace(clients, &names.namespace).await?;
    if let Some(namespace) = &namespace {
        check_owner(
            "Cloud Map namespace",
            &names.namespace,
            &namespace.tags,
            stack,
        )?;
    }
    let cluster = read_cluster(clients, &names.cluster).await?;
    match (&cluster, names.create_cluster) {
        (Some(cluster), true) => check_owner("ECS cluster", &names.cluster, &cluster.tags, stack)?,
        (None, false) => {
            return Err(AwsError::Invalid(format!(
                "the existing ECS cluster {} named in stack.toml was not found in {}",
                names.cluster, clients.region
            )))
        }
        _ => {}
    }
    let mut task_definitions = BTreeMap::new();
    let mut service_names = Vec::new();
    for (service, shape) in &desired.tasks {
        task_definitions.insert(
            shape.family.clone(),
            read_task_definition(clients, &shape.family).await?,
        );
        service_names.push(names.service(service));
    }
    let mut services: BTreeMap<String, Option<ServiceLive>> =
        service_names.iter().map(|n| (n.clone(), None)).collect();
    if cluster.is_some() {
        for service in describe_services(clients, &names.cluster, &service_names).await? {
            if service.status() != Some("ACTIVE") {
                continue;
            }
            let name = service.service_name().unwrap_or_default().to_string();
            let tags = ecs_tags(service.tags());
            check_owner("ECS service", &name, &tags, stack)?;
            services.insert(
                name,
                Some(ServiceLive {
                    arn: service.service_arn().unwrap_or_default().to_string(),
                    task_definition: service.task_definition().unwrap_or_default().to_string(),
                    desired_count: service.desired_count(),
                    tags,
                    spot_share: super::status::spot_share(
                        service.capacity_provider_strategy(),
                        service.launch_type().map(|t| t.as_str()) == Some("FARGATE"),
                    ),
                }),
            );
        }
    }
    let mut scaling = BTreeMap::new();
    for (name, service) in &services {
        if service.is_some() {
            scaling.insert(
                name.clone(),
                super::scaling::read(clients, &names.cluster, name).await?,
            );
        }
    }
    Ok(Live {
        log_group,
        roles,
        security_group,
        bucket,
        namespace,
        cluster,
        task_definitions,
        services,
        scaling,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_decoded_whether_or_not_iam_encoded_them() {
        let plain = decode_policy("{\"Version\":\"2012-10-17\"}");
        let encoded = decode_policy("%7B%22Version%22%3A%222012-10-17%22%7D");
        assert_eq!(plain, encoded);
    }

    #[test]
    fn foreign_resources_are_refused() {
        let mut tags = BTreeMap::new();
        assert!(check_owner("log group", "/ecs/x", &tags, "x").is_err());
        tags.insert(STACK_TAG.to_string(), "other".to_string());
        let err = check_owner("log group", "/ecs/x", &tags, "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("belongs to advisor stack \"other\""), "{err}");
        tags.insert(STACK_TAG.to_string(), "x".to_string());
        assert!(check_owner("log group", "/ecs/x", &tags, "x").is_ok());
    }
}
