//! Applies a plan in dependency order. Every step is idempotent, so a deploy that stopped
//! half way is resumed by running it again.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::types::{IpPermission, IpRange, UserIdGroupPair};

use super::clients::Clients;
use super::desired::{deploy_count, Desired, Rule, EXECUTION_POLICY};
use super::error::{classify, AwsError};
use super::live::{self, Live};
use super::plan::{Action, Change, Kind, Plan};
use crate::stack::StackSpec;

pub const LIFECYCLE_RULE: &str = "expire-old-checkpoint-versions";

/// Reports each step as it starts and ends (progress bars in a terminal).
pub trait Progress {
    fn start(&mut self, change: &Change);
    fn done(&mut self, change: &Change, outcome: &str);
}

/// What the services need from the steps before them.
#[derive(Default)]
struct Created {
    security_group: Option<String>,
    namespace_id: Option<String>,
    discovery_arns: BTreeMap<String, String>,
    cluster_arn: Option<String>,
    task_definitions: BTreeMap<String, String>,
}

/// The task definition ARN each service runs after the deploy, for waiting on rollouts.
pub type Deployed = BTreeMap<String, String>;

pub async fn apply(
    clients: &Clients,
    spec: &StackSpec,
    desired: &Desired,
    live: &Live,
    plan: &Plan,
    progress: &mut dyn Progress,
) -> Result<Deployed, AwsError> {
    let mut created = Created {
        security_group: live.security_group.as_ref().map(|g| g.id.clone()),
        namespace_id: live.namespace.as_ref().map(|n| n.id.clone()),
        discovery_arns: live
            .namespace
            .as_ref()
            .map(|n| {
                n.services
                    .iter()
                    .map(|(k, (_, arn))| (k.clone(), arn.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        cluster_arn: live.cluster.as_ref().map(|c| c.arn.clone()),
        task_definitions: live
            .task_definitions
            .iter()
            .filter_map(|(family, t)| t.as_ref().map(|(arn, _)| (family.clone(), arn.clone())))
            .collect(),
    };
    let mut deployed = Deployed::new();
    for change in &plan.changes {
        if change.action == Action::Unchanged {
            if change.kind == Kind::Service {
                if let Some(family) = family_of(desired, &change.name) {
                    if let Some(arn) = created.task_definitions.get(&family) {
                        deployed.insert(change.name.clone(), arn.clone());
                    }
                }
            }
            continue;
        }
        progress.start(change);
        let outcome = step(
            clients,
            spec,
            desired,
            live,
            change,
            &mut created,
            &mut deployed,
        )
        .await?;
        progress.done(change, &outcome);
    }
    Ok(deployed)
}

fn family_of(desired: &Desired, service_name: &str) -> Option<String> {
    desired
        .service_named(service_name)
        .map(|(_, shape)| shape.family.clone())
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Unchanged => "unchanged",
    }
}

async fn step(
    clients: &Clients,
    spec: &StackSpec,
    desired: &Desired,
    live: &Live,
    change: &Change,
    created: &mut Created,
    deployed: &mut Deployed,
) -> Result<String, AwsError> {
    let name = change.name.as_str();
    match change.kind {
        Kind::LogGroup => log_group(clients, desired, live, change).await?,
        Kind::IamRole => role(clients, desired, live, name).await?,
        Kind::SecurityGroup => security_group(clients, spec, desired, live, created).await?,
        Kind::CheckpointBucket => bucket(clients, spec, desired, name).await?,
        Kind::Namespace => namespace(clients, spec, desired, created).await?,
        Kind::DiscoveryService => discovery_service(clients, desired, name, created).await?,
        Kind::Cluster => cluster(clients, desired, change, created).await?,
        Kind::TaskDefinition => {
            let arn = task_definition(clients, desired, name).await?;
            created
                .task_definitions
                .insert(name.to_string(), arn.clone());
            return Ok(format!("registered {}", super::rollout::short(&arn)));
        }
        Kind::Service => {
            let arn = service(clients, spec, desired, live, name, created).await?;
            deployed.insert(name.to_string(), arn);
        }
        Kind::Autoscaling => {
            let wanted = desired
                .service_named(name)
                .and_then(|(service, _)| service.autoscaling.as_ref());
            let cluster = created
                .cluster_arn
                .clone()
                .unwrap_or_else(|| desired.names.cluster.clone());
            match wanted {
                Some(wanted) => {
                    super::scaling::put(clients, &cluster, name, wanted, &desired.tags).await?
                }
                None => {
                    super::scaling::remove(clients, &cluster, name).await?;
                    return Ok("removed".to_string());
                }
            }
        }
    }
    Ok(verb(change.action).to_string())
}

fn log_tags(desired: &Desired) -> BTreeMap<String, String> {
    desired.tags.clone()
}

async fn log_group(
    clients: &Clients,
    desired: &Desired,
    live: &Live,
    change: &Change,
) -> Result<(), AwsError> {
    let name = &desired.names.log_group;
    if change.action == Action::Create {
        clients
            .logs
            .create_log_group()
            .log_group_name(name)
            .set_tags(Some(log_tags(desired).into_iter().collect()))
            .send()
            .await
            .map_err(|e| classify(format!("create log group {name}"), e))?;
    } else {
        let arn = live
            .log_group
            .as_ref()
            .map(|g| g.arn.clone())
            .unwrap_or_default();
        clients
            .logs
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(log_tags(desired).into_iter().collect()))
            .send()
            .await
            .map_err(|e| classify(format!("tag log group {name}"), e))?;
    }
    clients
        .logs
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(desired.log_retention_days)
        .send()
        .await
        .map_err(|e| classify(format!("set the retention of log group {name}"), e))?;
    Ok(())
}

const ECS_TASKS_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

fn iam_tags(desired: &Desired) -> Result<Vec<aws_sdk_iam::types::Tag>, AwsError> {
    desired
        .tags
        .iter()
        .map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| AwsError::Invalid(e.to_string()))
        })
        .collect()
}

async fn role(
    clients: &Clients,
    desired: &Desired,
    live: &Live,
    name: &str,
) -> Result<(), AwsError> {
    let names = &desired.names;
    let (inline, managed) = if name == names.execution_role {
        (&desired.execution_inline, true)
    } else {
        (&desired.task_inline, false)
    };
    let existing = live.roles.get(name).and_then(|r| r.as_ref());
    if existing.is_none() {
        clients
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(ECS_TASKS_TRUST)
            .description(format!("advisor stack {}", names.stack))
            .set_tags(Some(iam_tags(desired)?))
            .send()
            .await
            .map_err(|e| classify(format!("create IAM role {name}"), e))?;
    } else {
        clients
            .iam
            .tag_role()
            .role_name(name)
            .set_tags(Some(iam_tags(desired)?))
            .send()
            .await
            .map_err(|e| classify(format!("tag IAM role {name}"), e))?;
    }
    if managed && !existing.is_some_and(|r| r.attached.contains(EXECUTION_POLICY)) {
        clients
            .iam
            .attach_role_policy()
            .role_name(name)
            .policy_arn(EXECUTION_POLICY)
            .send()
            .await
            .map_err(|e| classify(format!("attach the ECS task execution policy to {name}"), e))?;
    }
    for (policy, document) in inline {
        if existing.and_then(|r| r.inline.get(policy)) == Some(document) {
            continue;
        }
        clients
            .iam
            .put_role_policy()
            .role_name(name)
            .policy_name(policy)
            .policy_document(document.to_string())
            .send()
            .await
            .map_err(|e| classify(format!("put policy {policy} on {name}"), e))?;
    }
    if let Some(existing) = existing {
        for policy in existing.inline.keys().filter(|p| !inline.contains_key(*p)) {
            clients
                .iam
                .delete_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
                .await
                .map_err(|e| classify(format!("remove policy {policy} from {name}"), e))?;
        }
    }
    Ok(())
}

fn ec2_tags(desired: &Desired) -> Vec<aws_sdk_ec2::types::Tag> {
    desired
        .tags
        .iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

fn permission(rule: &Rule, group_id: &str, description: &str) -> IpPermission {
    let mut builder = IpPermission::builder().ip_protocol(&rule.protocol);
    if rule.protocol != "-1" {
        builder = builder.from_port(rule.from_port).to_port(rule.to_port);
    }
    match &rule.cidr {
        Some(cidr) => builder
            .ip_ranges(
                IpRange::builder()
                    .cidr_ip(cidr)
                    .description(description)
                    .build(),
            )
            .build(),
        None => builder
            .user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(group_id)
                    .description(description)
                    .build(),
            )
            .build(),
    }
}

async fn security_group(
    clients: &Clients,
    spec: &StackSpec,
    desired: &Desired,
    live: &Live,
    created: &mut Created,
) -> Result<(), AwsError> {
    let name = &desired.names.security_group;
    let vpc = spec
        .network
        .as_ref()
        .map(|n| n.vpc_id.clone())
        .unwrap_or_default();
    let (id, current) = match &live.security_group {
        Some(group) => {
            clients
                .ec2
                .create_tags()
                .resources(&group.id)
                .set_tags(Some(ec2_tags(desired)))
                .send()
                .await
                .map_err(|e| classify(format!("tag security group {name}"), e))?;
            (group.id.clone(), group.rules.clone())
        }
        None => {
            let output = clients
                .ec2
                .create_security_group()
                .group_name(name)
                .description(format!("Tasks of the {name} stream-processing stack"))
                .vpc_id(&vpc)
                .tag_specifications(
                    aws_sdk_ec2::types::TagSpecification::builder()
                        .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup)
                        .set_tags(Some(ec2_tags(desired)))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| classify(format!("create security group {name}"), e))?;
            let id = output.group_id().unwrap_or_default().to_string();
            // A new group starts with an allow-all egress rule; read it so it is revoked.
            let fresh = live::read_security_group(clients, name, &vpc)
                .await?
                .map(|g| g.rules)
                .unwrap_or_default();
            (id, fresh)
        }
    };
    for rule in desired.rules.difference(&current) {
        change_rule(clients, &id, name, rule, true).await?;
    }
    for rule in current.difference(&desired.rules) {
        change_rule(clients, &id, name, rule, false).await?;
    }
    created.security_group = Some(id);
    Ok(())
}

/// Allows (or revokes) one rule on the group.
async fn change_rule(
    clients: &Clients,
    group_id: &str,
    name: &str,
    rule: &Rule,
    allow: bool,
) -> Result<(), AwsError> {
    let permission = permission(rule, group_id, "advisor");
    let action = format!(
        "{} {} on {name}",
        if allow { "allow" } else { "revoke" },
        rule.describe()
    );
    let ec2 = &clients.ec2;
    match (allow, rule.inbound) {
        (true, true) => ec2
            .authorize_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(permission)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(action, e)),
        (true, false) => ec2
            .authorize_security_group_egress()
            .group_id(group_id)
            .ip_permissions(permission)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(action, e)),
        (false, true) => ec2
            .revoke_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(permission)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(action, e)),
        (false, false) => ec2
            .revoke_security_group_egress()
            .group_id(group_id)
            .ip_permissions(permission)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(action, e)),
    }
}

async fn bucket(
    clients: &Clients,
    spec: &StackSpec,
    desired: &Desired,
    name: &str,
) -> Result<(), AwsError> {
    use aws_sdk_s3::types::*;
    let exists = live::read_bucket(clients, name).await?.is_some();
    if !exists {
        let mut request = clients.s3.create_bucket().bucket(name);
        if spec.region != "us-east-1" {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(spec.region.as_str()))
                    .build(),
            );
        }
        request
            .send()
            .await
            .map_err(|e| classify(format!("create S3 bucket {name}"), e))?;
    }
    let invalid = |e: aws_sdk_s3::error::BuildError| AwsError::Invalid(e.to_string());
    let tags: Vec<Tag> = desired
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(invalid))
        .collect::<Result<_, _>>()?;
    clients
        .s3
        .put_bucket_tagging()
        .bucket(name)
        .tagging(
            Tagging::builder()
                .set_tag_set(Some(tags))
                .build()
                .map_err(invalid)?,
        )
        .send()
        .await
        .map_err(|e| classify(format!("tag S3 bucket {name}"), e))?;
    clients
        .s3
        .put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| classify(format!("enable versioning on {name}"), e))?;
    clients
        .s3
        .put_bucket_encryption()
        .bucket(name)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::AwsKms)
                                .build()
                                .map_err(invalid)?,
                        )
                        .bucket_key_enabled(true)
                        .build(),
                )
                .build()
                .map_err(invalid)?,
        )
        .send()
        .await
        .map_err(|e| classify(format!("enable encryption on {name}"), e))?;
    clients
        .s3
        .put_public_access_block()
        .bucket(name)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .block_public_policy(true)
                .ignore_public_acls(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| classify(format!("block public access to {name}"), e))?;
    let checkpoints = spec.checkpoints.as_ref();
    clients
        .s3
        .put_bucket_lifecycle_configuration()
        .bucket(name)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(
                    LifecycleRule::builder()
                        .id(LIFECYCLE_RULE)
                        .status(ExpirationStatus::Enabled)
                        .filter(LifecycleRuleFilter::builder().prefix("").build())
                        .noncurrent_version_expiration(
                            NoncurrentVersionExpiration::builder()
                                .noncurrent_days(
                                    checkpoints.map_or(1, |c| c.noncurrent_days as i32),
                                )
                                .newer_noncurrent_versions(
                                    checkpoints.map_or(2, |c| c.newer_noncurrent_versions as i32),
                                )
                                .build(),
                        )
                        .abort_incomplete_multipart_upload(
                            AbortIncompleteMultipartUpload::builder()
                                .days_after_initiation(1)
                                .build(),
                        )
                        .build()
                        .map_err(invalid)?,
                )
                .build()
                .map_err(invalid)?,
        )
        .send()
        .await
        .map_err(|e| classify(format!("set the lifecycle of {name}"), e))?;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:aws:s3:::{name}"), format!("arn:aws:s3:::{name}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }]
    });
    clients
        .s3
        .put_bucket_policy()
        .bucket(name)
        .policy(policy.to_string())
        .send()
        .await
        .map_err(|e| classify(format!("require TLS on {name}"), e))?;
    Ok(())
}

async fn wait_for_operation(
    clients: &Clients,
    operation: &str,
    what: &str,
) -> Result<(), AwsError> {
    for _ in 0..120 {
        let output = clients
            .discovery
            .get_operation()
            .operation_id(operation)
            .send()
            .await
            .map_err(|e| classify(format!("follow the creation of {what}"), e))?;
        match output
            .operation()
            .and_then(|o| o.status())
            .map(|s| s.as_str())
        {
            Some("SUCCESS") => return Ok(()),
            Some("FAIL") => {
                let reason = output
                    .operation()
                    .and_then(|o| o.error_message())
                    .unwrap_or("no reason given");
                return Err(AwsError::Other {
                    action: format!("create {what}"),
                    message: reason.to_string(),
                });
            }
            _ => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
    Err(AwsError::Other {
        action: format!("create {what}"),
        message: "Cloud Map did not finish within 4 minutes; run deploy again to resume".into(),
    })
}

fn discovery_tags(
    desired: &Desired,
) -> Result<Vec<aws_sdk_servicediscovery::types::Tag>, AwsError> {
    desired
        .tags
        .iter()
        .map(|(k, v)| {
            aws_sdk_servicediscovery::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| AwsError::Invalid(e.to_string()))
        })
        .collect()
}

async fn namespace(
    clients: &Clients,
    spec: &StackSpec,
    desired: &Desired,
    created: &mut Created,
) -> Result<(), AwsError> {
    let name = &desired.names.namespace;
    if let Some(existing) = live::read_namespace(clients, name).await? {
        clients
            .discovery
            .tag_resource()
            .resource_arn(&existing.arn)
            .set_tags(Some(discovery_tags(desired)?))
            .send()
            .await
            .map_err(|e| classify(format!("tag namespace {name}"), e))?;
        created.namespace_id = Some(existing.id);
        return Ok(());
    }
    let vpc = spec
        .network
        .as_ref()
        .map(|n| n.vpc_id.clone())
        .unwrap_or_default();
    let output = clients
        .discovery
        .create_private_dns_namespace()
        .name(name)
        .vpc(vpc)
        .description(format!("advisor stack {}", desired.names.stack))
        .set_tags(Some(discovery_tags(desired)?))
        .send()
        .await
        .map_err(|e| classify(format!("create Cloud Map namespace {name}"), e))?;
    if let Some(operation) = output.operation_id() {
        wait_for_operation(clients, operation, &format!("namespace {name}")).await?;
    }
    let namespace = live::read_namespace(clients, name)
        .await?
        .ok_or_else(|| AwsError::Other {
            action: format!("create Cloud Map namespace {name}"),
            message: "the namespace was created but cannot be found".into(),
        })?;
    created.namespace_id = Some(namespace.id);
    Ok(())
}

async fn discovery_service(
    clients: &Clients,
    desired: &Desired,
    full_name: &str,
    created: &mut Created,
) -> Result<(), AwsError> {
    use aws_sdk_servicediscovery::types::{DnsConfig, DnsRecord, RecordType, RoutingPolicy};
    let short = full_name
        .strip_suffix(&format!(".{}", desired.names.namespace))
        .unwrap_or(full_name);
    let namespace_id = created.namespace_id.clone().ok_or_else(|| {
        AwsError::Invalid(format!("the namespace for {full_name} does not exist yet"))
    })?;
    let record = DnsRecord::builder()
        .r#type(RecordType::A)
        .ttl(10)
        .build()
        .map_err(|e| AwsError::Invalid(e.to_string()))?;
    let output = clients
        .discovery
        .create_service()
        .name(short)
        .namespace_id(&namespace_id)
        .dns_config(
            DnsConfig::builder()
                .routing_policy(RoutingPolicy::Multivalue)
                .dns_records(record)
                .build()
                .map_err(|e| AwsError::Invalid(e.to_string()))?,
        )
        .set_tags(Some(discovery_tags(desired)?))
        .send()
        .await
        .map_err(|e| classify(format!("create Cloud Map service {full_name}"), e))?;
    let arn = output
        .service()
        .and_then(|s| s.arn())
        .unwrap_or_default()
        .to_string();
    created.discovery_arns.insert(short.to_string(), arn);
    Ok(())
}

fn ecs_tags(desired: &Desired) -> Vec<aws_sdk_ecs::types::Tag> {
    desired
        .tags
        .iter()
        .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
        .collect()
}

async fn cluster(
    clients: &Clients,
    desired: &Desired,
    change: &Change,
    created: &mut Created,
) -> Result<(), AwsError> {
    let name = &desired.names.cluster;
    if change.action == Action::Create {
        let output = clients
            .ecs
            .create_cluster()
            .cluster_name(name)
            .settings(
                aws_sdk_ecs::types::ClusterSetting::builder()
                    .name(aws_sdk_ecs::types::ClusterSettingName::ContainerInsights)
                    .value("enabled")
                    .build(),
            )
            .capacity_providers("FARGATE")
            .capacity_providers("FARGATE_SPOT")
            .set_tags(Some(ecs_tags(desired)))
            .send()
            .await
            .map_err(|e| classify(format!("create ECS cluster {name}"), e))?;
        created.cluster_arn = output
            .cluster()
            .and_then(|c| c.cluster_arn())
            .map(str::to_string);
    } else if let Some(arn) = &created.cluster_arn {
        clients
            .ecs
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(ecs_tags(desired)))
            .send()
            .await
            .map_err(|e| classify(format!("tag ECS cluster {name}"), e))?;
    }
    Ok(())
}

async fn task_definition(
    clients: &Clients,
    desired: &Desired,
    family: &str,
) -> Result<String, AwsError> {
    use aws_sdk_ecs::types::*;
    let (_, shape) = desired
        .tasks
        .iter()
        .find(|(_, shape)| shape.family == family)
        .ok_or_else(|| AwsError::Invalid(format!("no task definition {family} in the stack")))?;
    let invalid = |e: aws_sdk_ecs::error::BuildError| AwsError::Invalid(e.to_string());
    let mut container = ContainerDefinition::builder()
        .name(&shape.container)
        .image(&shape.image)
        .essential(true)
        .set_command((!shape.command.is_empty()).then(|| shape.command.clone()))
        .set_port_mappings(Some(
            shape
                .ports
                .iter()
                .map(|p| {
                    PortMapping::builder()
                        .container_port(*p)
                        .protocol(TransportProtocol::Tcp)
                        .build()
                })
                .collect(),
        ))
        .set_environment(Some(
            shape
                .environment
                .iter()
                .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                .collect(),
        ))
        .set_secrets(Some(
            shape
                .secrets
                .iter()
                .map(|(k, v)| {
                    Secret::builder()
                        .name(k)
                        .value_from(v)
                        .build()
                        .map_err(invalid)
                })
                .collect::<Result<Vec<_>, _>>()?,
        ))
        .readonly_root_filesystem(false)
        .linux_parameters(
            LinuxParameters::builder()
                .init_process_enabled(shape.init_process)
                .build(),
        )
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", &shape.log_group)
                .options("awslogs-region", &shape.log_region)
                .options("awslogs-stream-prefix", &shape.container)
                .build()
                .map_err(invalid)?,
        );
    if let Some((interval, timeout, retries, start_period)) = shape.health_timing {
        container = container.health_check(
            HealthCheck::builder()
                .set_command(Some(shape.health_command.clone()))
                .interval(interval)
                .timeout(timeout)
                .retries(retries)
                .start_period(start_period)
                .build()
                .map_err(invalid)?,
        );
    }
    let output = clients
        .ecs
        .register_task_definition()
        .family(family)
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu(&shape.cpu)
        .memory(&shape.memory)
        .execution_role_arn(&shape.execution_role)
        .task_role_arn(&shape.task_role)
        .runtime_platform(
            RuntimePlatform::builder()
                .operating_system_family(OsFamily::Linux)
                .cpu_architecture(CpuArchitecture::from(shape.cpu_architecture.as_str()))
                .build(),
        )
        .container_definitions(container.build())
        .set_tags(Some(ecs_tags(desired)))
        .send()
        .await
        .map_err(|e| classify(format!("register task definition {family}"), e))?;
    Ok(output
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .unwrap_or_default()
        .to_string())
}

fn capacity_strategy(desired: &Desired) -> Vec<aws_sdk_ecs::types::CapacityProviderStrategyItem> {
    desired
        .capacity
        .iter()
        .filter_map(|(provider, weight)| {
            aws_sdk_ecs::types::CapacityProviderStrategyItem::builder()
                .capacity_provider(*provider)
                .weight(*weight)
                .build()
                .ok()
        })
        .collect()
}

async fn service(
    clients: &Clients,
    spec: &StackSpec,
    desired: &Desired,
    live: &Live,
    name: &str,
    created: &Created,
) -> Result<String, AwsError> {
    use aws_sdk_ecs::types::*;
    let (service_spec, shape) = desired
        .service_named(name)
        .ok_or_else(|| AwsError::Invalid(format!("no service {name} in the stack")))?;
    let task_definition = created
        .task_definitions
        .get(&shape.family)
        .cloned()
        .ok_or_else(|| {
            AwsError::Invalid(format!(
                "task definition {} was not registered",
                shape.family
            ))
        })?;
    let cluster = created
        .cluster_arn
        .clone()
        .unwrap_or_else(|| desired.names.cluster.clone());
    let invalid = |e: aws_sdk_ecs::error::BuildError| AwsError::Invalid(e.to_string());
    let circuit_breaker = DeploymentConfiguration::builder()
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(true)
                .rollback(true)
                .build(),
        )
        .build();
    if let Some(existing) = live.services.get(name).and_then(|s| s.as_ref()) {
        // A changed strategy takes effect only with a new deployment.
        let new_capacity =
            super::plan::spot_detail(existing.spot_share, desired.spot_share).is_some();
        clients
            .ecs
            .update_service()
            .cluster(&cluster)
            .service(name)
            .task_definition(&task_definition)
            .desired_count(deploy_count(service_spec, Some(existing.desired_count)) as i32)
            .deployment_configuration(circuit_breaker)
            .enable_execute_command(spec.enable_execute_command)
            .set_capacity_provider_strategy(new_capacity.then(|| capacity_strategy(desired)))
            .set_force_new_deployment(new_capacity.then_some(true))
            .send()
            .await
            .map_err(|e| classify(format!("update ECS service {name}"), e))?;
        return Ok(task_definition);
    }
    let network = spec
        .network
        .as_ref()
        .ok_or_else(|| AwsError::Invalid("deploy needs [network] in stack.toml".into()))?;
    let security_group = created
        .security_group
        .clone()
        .ok_or_else(|| AwsError::Invalid("the security group was not created".into()))?;
    let mut request = clients
        .ecs
        .create_service()
        .cluster(&cluster)
        .service_name(name)
        .task_definition(&task_definition)
        .desired_count(service_spec.desired_count as i32)
        .set_capacity_provider_strategy(Some(capacity_strategy(desired)))
        .platform_version("LATEST")
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(
                    AwsVpcConfiguration::builder()
                        .set_subnets(Some(network.private_subnet_ids.clone()))
                        .security_groups(security_group)
                        .assign_public_ip(AssignPublicIp::Disabled)
                        .build()
                        .map_err(invalid)?,
                )
                .build(),
        )
        .deployment_configuration(circuit_breaker)
        .enable_execute_command(spec.enable_execute_command)
        .propagate_tags(PropagateTags::Service)
        .set_tags(Some(ecs_tags(desired)));
    if let Some(discovery) = &service_spec.discovery_name {
        let arn = created
            .discovery_arns
            .get(discovery)
            .cloned()
            .ok_or_else(|| {
                AwsError::Invalid(format!("Cloud Map service {discovery} was not created"))
            })?;
        request = request.service_registries(ServiceRegistry::builder().registry_arn(arn).build());
    }
    request
        .send()
        .await
        .map_err(|e| classify(format!("create ECS service {name}"), e))?;
    Ok(task_definition)
}
