//! What a StackSpec asks of AWS, with every placeholder resolved: names, tags, policies,
//! security group rules and task definitions. Plan compares this with what AWS has.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::error::AwsError;
use crate::stack::{ClusterRef, Ingress, KafkaAuthKind, ServiceSpec, StackSpec, PLACEHOLDERS};

pub const STACK_TAG: &str = "advisor:stack";
pub const EXECUTION_POLICY: &str =
    "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";

/// Names of every resource of a stack; found again by these and checked by tag.
#[derive(Debug, Clone)]
pub struct Names {
    pub stack: String,
    pub log_group: String,
    pub execution_role: String,
    pub task_role: String,
    pub security_group: String,
    pub bucket: Option<String>,
    pub namespace: String,
    pub cluster: String,
    pub create_cluster: bool,
}

impl Names {
    pub fn new(spec: &StackSpec, account_id: &str) -> Names {
        let (cluster, create_cluster) = match &spec.cluster {
            ClusterRef::Create(name) => (name.clone(), true),
            ClusterRef::Existing(name) => (name.clone(), false),
        };
        Names {
            stack: spec.name.clone(),
            log_group: format!("/ecs/{}", spec.name),
            execution_role: format!("{}-execution", spec.name),
            task_role: format!("{}-task", spec.name),
            security_group: spec.name.clone(),
            bucket: spec
                .checkpoints
                .as_ref()
                .map(|c| format!("{}-{account_id}", c.bucket_prefix)),
            namespace: spec.namespace.clone(),
            cluster,
            create_cluster,
        }
    }

    pub fn service(&self, service: &ServiceSpec) -> String {
        format!("{}-{}", self.stack, service.name)
    }
}

/// A security group rule, compared without its description.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    pub inbound: bool,
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    /// A CIDR block, or `None` for the group itself.
    pub cidr: Option<String>,
}

impl Rule {
    pub fn describe(&self) -> String {
        let direction = if self.inbound { "in" } else { "out" };
        let peer = self.cidr.clone().unwrap_or_else(|| "the stack".to_string());
        if self.protocol == "-1" {
            format!("{direction}: all traffic, {peer}")
        } else if self.from_port == self.to_port {
            format!("{direction}: {}/{}, {peer}", self.protocol, self.from_port)
        } else {
            format!(
                "{direction}: {}/{}-{}, {peer}",
                self.protocol, self.from_port, self.to_port
            )
        }
    }
}

/// What a task definition is made of, comparable between the spec and DescribeTaskDefinition.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskShape {
    pub family: String,
    pub cpu: String,
    pub memory: String,
    pub cpu_architecture: String,
    pub execution_role: String,
    pub task_role: String,
    pub container: String,
    pub image: String,
    pub command: Vec<String>,
    pub ports: Vec<i32>,
    pub environment: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub health_command: Vec<String>,
    pub health_timing: Option<(i32, i32, i32, i32)>,
    pub log_group: String,
    pub log_region: String,
    pub init_process: bool,
}

impl TaskShape {
    /// What differs from `other`, in words; empty when nothing does.
    pub fn differences(&self, live: &TaskShape) -> Vec<String> {
        let mut out = Vec::new();
        let mut field = |label: &str, want: String, have: String| {
            if want != have {
                out.push(format!("{label} {have} -> {want}"));
            }
        };
        field("cpu", self.cpu.clone(), live.cpu.clone());
        field("memory", self.memory.clone(), live.memory.clone());
        field(
            "architecture",
            self.cpu_architecture.clone(),
            live.cpu_architecture.clone(),
        );
        field("image", self.image.clone(), live.image.clone());
        field(
            "command",
            format!("{:?}", self.command),
            format!("{:?}", live.command),
        );
        field(
            "ports",
            format!("{:?}", self.ports),
            format!("{:?}", live.ports),
        );
        field(
            "execution role",
            self.execution_role.clone(),
            live.execution_role.clone(),
        );
        field("task role", self.task_role.clone(), live.task_role.clone());
        field("log group", self.log_group.clone(), live.log_group.clone());
        field(
            "log region",
            self.log_region.clone(),
            live.log_region.clone(),
        );
        for (name, want) in &self.environment {
            match live.environment.get(name) {
                None => out.push(format!("env {name} added")),
                Some(have) if have != want => out.push(format!("env {name} changed")),
                _ => {}
            }
        }
        for name in live.environment.keys() {
            if !self.environment.contains_key(name) {
                out.push(format!("env {name} removed"));
            }
        }
        if self.secrets != live.secrets {
            out.push("secrets changed".to_string());
        }
        if self.health_command != live.health_command || self.health_timing != live.health_timing {
            out.push("health check changed".to_string());
        }
        if self.init_process != live.init_process {
            out.push("init process changed".to_string());
        }
        out
    }
}

/// The count a deploy sets: the spec's, except that an autoscaled service that runs keeps
/// the count its autoscaler chose, brought within the bounds.
pub fn deploy_count(service: &ServiceSpec, live: Option<i32>) -> u32 {
    match (&service.autoscaling, live) {
        (Some(scaling), Some(count)) => scaling.keep(u32::try_from(count).unwrap_or(0)),
        _ => service.desired_count,
    }
}

/// Placeholder values for the live deployment.
pub struct Resolver {
    values: BTreeMap<&'static str, String>,
}

impl Resolver {
    pub fn new(spec: &StackSpec, account_id: &str, names: &Names) -> Result<Resolver, AwsError> {
        if spec.kafka.bootstrap_servers.is_empty() {
            return Err(AwsError::Invalid(
                "deploy needs the Kafka bootstrap servers: add [kafka] bootstrap_servers to stack.toml".into(),
            ));
        }
        let mut values = BTreeMap::new();
        values.insert("account_id", account_id.to_string());
        values.insert(
            "kafka_bootstrap_servers",
            spec.kafka.bootstrap_servers.clone(),
        );
        values.insert(
            "kafka_secret_arn",
            spec.kafka.secret_arn.clone().unwrap_or_default(),
        );
        values.insert(
            "schema_registry_url",
            spec.kafka.schema_registry_url.clone().unwrap_or_default(),
        );
        values.insert(
            "checkpoint_bucket",
            names.bucket.clone().unwrap_or_default(),
        );
        values.insert("namespace", names.namespace.clone());
        values.insert("region", spec.region.clone());
        debug_assert!(PLACEHOLDERS.iter().all(|p| values.contains_key(p)));
        Ok(Resolver { values })
    }

    pub fn resolve(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, value) in &self.values {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }
}

/// Everything a stack wants to exist.
pub struct Desired {
    pub names: Names,
    pub tags: BTreeMap<String, String>,
    pub log_retention_days: i32,
    pub execution_inline: BTreeMap<String, Value>,
    pub task_inline: BTreeMap<String, Value>,
    pub rules: BTreeSet<Rule>,
    pub discovery: Vec<String>,
    pub tasks: Vec<(ServiceSpec, TaskShape)>,
    /// The services' capacity provider weights (see [`capacity_weights`]).
    pub capacity: Vec<(&'static str, i32)>,
    pub spot_share: f64,
}

/// Weights out of 100 between FARGATE and FARGATE_SPOT; a provider without weight is left
/// out, as the Terraform module does.
pub fn capacity_weights(spot_share: f64) -> Vec<(&'static str, i32)> {
    let spot = (spot_share * 100.0).round() as i32;
    [("FARGATE", 100 - spot), ("FARGATE_SPOT", spot)]
        .into_iter()
        .filter(|(_, weight)| *weight > 0)
        .collect()
}

fn policy(statements: Vec<Value>) -> Value {
    json!({ "Version": "2012-10-17", "Statement": statements })
}

impl Desired {
    /// The service (and its task shape) whose ECS service is named `name`.
    pub fn service_named(&self, name: &str) -> Option<&(ServiceSpec, TaskShape)> {
        self.tasks
            .iter()
            .find(|(service, _)| self.names.service(service) == name)
    }

    pub fn new(spec: &StackSpec, account_id: &str) -> Result<Desired, AwsError> {
        let names = Names::new(spec, account_id);
        let resolver = Resolver::new(spec, account_id, &names)?;
        let network = spec.network.as_ref().ok_or_else(|| {
            AwsError::Invalid(
                "deploy needs the network: add [network] vpc_id, vpc_cidr and private_subnet_ids to stack.toml".into(),
            )
        })?;

        let mut execution_inline = BTreeMap::new();
        if let (KafkaAuthKind::SaslScram, Some(arn)) = (spec.kafka.auth, &spec.kafka.secret_arn) {
            execution_inline.insert(
                "read-kafka-secret".to_string(),
                policy(vec![json!({
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue"],
                    "Resource": [arn],
                })]),
            );
        }
        let mut task_inline = BTreeMap::new();
        if let Some(bucket) = &names.bucket {
            let arn = format!("arn:aws:s3:::{bucket}");
            task_inline.insert(
                "checkpoints".to_string(),
                policy(vec![
                    json!({"Sid": "ListCheckpoints", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": [arn]}),
                    json!({"Sid": "ReadWriteCheckpoints", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"], "Resource": [format!("{arn}/*")]}),
                    json!({"Sid": "EncryptCheckpoints", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": ["arn:aws:kms:*:*:key/*"], "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}}),
                ]),
            );
        }
        if let (KafkaAuthKind::MskIam, Some(arn)) = (spec.kafka.auth, &spec.kafka.msk_cluster_arn) {
            task_inline.insert(
                "msk-iam-auth".to_string(),
                policy(vec![
                    json!({"Sid": "ConnectToCluster", "Effect": "Allow", "Action": ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"], "Resource": [arn]}),
                    json!({"Sid": "UseTopics", "Effect": "Allow", "Action": ["kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic", "kafka-cluster:ReadData", "kafka-cluster:WriteData"], "Resource": [format!("{}/*", arn.replace(":cluster/", ":topic/"))]}),
                    json!({"Sid": "UseConsumerGroups", "Effect": "Allow", "Action": ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"], "Resource": [format!("{}/*", arn.replace(":cluster/", ":group/"))]}),
                ]),
            );
        }
        if spec.enable_execute_command {
            task_inline.insert(
                "ecs-exec".to_string(),
                policy(vec![json!({
                    "Effect": "Allow",
                    "Action": ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"],
                    "Resource": ["*"],
                })]),
            );
        }

        let mut rules = BTreeSet::new();
        let tcp = |inbound: bool, from: i32, to: i32, cidr: Option<String>| Rule {
            inbound,
            protocol: "tcp".to_string(),
            from_port: from,
            to_port: to,
            cidr,
        };
        for service in &spec.services {
            for port in &service.ports {
                let p = i32::from(port.port);
                match port.ingress {
                    Ingress::Vpc => {
                        rules.insert(tcp(true, p, p, Some(network.vpc_cidr.clone())));
                    }
                    Ingress::Stack => {
                        rules.insert(tcp(true, p, p, None));
                        rules.insert(tcp(false, p, p, None));
                    }
                }
            }
        }
        for cidr in &network.egress_cidrs {
            rules.insert(tcp(false, 443, 443, Some(cidr.clone())));
            rules.insert(tcp(false, 9092, 9098, Some(cidr.clone())));
            if spec.kafka.schema_registry_url.is_some() {
                rules.insert(tcp(false, 8081, 8081, Some(cidr.clone())));
            }
        }

        let role_arn = |role: &str| format!("arn:aws:iam::{account_id}:role/{role}");
        let tasks = spec
            .services
            .iter()
            .map(|service| {
                let shape = TaskShape {
                    family: names.service(service),
                    cpu: service.cpu_units.to_string(),
                    memory: service.memory_mib.to_string(),
                    cpu_architecture: spec.arch.ecs_name().to_string(),
                    execution_role: role_arn(&names.execution_role),
                    task_role: role_arn(&names.task_role),
                    container: service.name.clone(),
                    image: resolver.resolve(&service.image),
                    command: service.command.clone(),
                    ports: service.ports.iter().map(|p| i32::from(p.port)).collect(),
                    environment: service
                        .environment
                        .iter()
                        .map(|(k, v)| (k.clone(), resolver.resolve(v)))
                        .collect(),
                    secrets: service
                        .secrets
                        .iter()
                        .map(|(k, v)| (k.clone(), resolver.resolve(v)))
                        .collect(),
                    health_command: service
                        .health_check
                        .as_ref()
                        .map(|h| h.command.clone())
                        .unwrap_or_default(),
                    health_timing: service.health_check.as_ref().map(|h| {
                        (
                            h.interval_seconds as i32,
                            h.timeout_seconds as i32,
                            h.retries as i32,
                            h.start_period_seconds as i32,
                        )
                    }),
                    log_group: names.log_group.clone(),
                    log_region: spec.region.clone(),
                    init_process: spec.enable_execute_command,
                };
                (service.clone(), shape)
            })
            .collect();

        Ok(Desired {
            discovery: spec
                .services
                .iter()
                .filter_map(|s| s.discovery_name.clone())
                .collect(),
            tags: spec.tags.clone(),
            log_retention_days: spec.log_retention_days as i32,
            names,
            execution_inline,
            task_inline,
            rules,
            tasks,
            capacity: capacity_weights(spec.spot_share),
            spot_share: spec.spot_share,
        })
    }
}
