//! StackSpec: one model of a deployment per flavor. The cost estimate, the Terraform and
//! the live deployment all read it, so they cannot disagree on a size, a port or an env
//! variable.

mod autoscaling;
pub mod config;
mod fargate;
mod flavors;
pub mod sizing;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use config::{KafkaAuthKind, StackConfig};
pub use fargate::check_size;
pub use flavors::ENGINE_IMAGE;
pub use sizing::{Capacities, Capacity, Demand, Sizing};

use crate::decide::Approach;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("cannot read stack config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{at}: {message}")]
    Parse { at: String, message: String },
    #[error("{at}: {key}: {message}")]
    Config {
        at: String,
        key: String,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("the price catalog has no throughput capacity for {0}, so it cannot be sized for --events-per-sec; add a [[capacity]] entry to the catalog")]
    NoCapacity(&'static str),
}

/// The flavors advisor can deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    Ksqldb,
    Flink,
    Engine,
}

impl Flavor {
    pub fn id(self) -> &'static str {
        match self {
            Flavor::Ksqldb => "ksqldb",
            Flavor::Flink => "flink",
            Flavor::Engine => "engine",
        }
    }

    pub fn approach(self) -> Approach {
        match self {
            Flavor::Ksqldb => Approach::Ksqldb,
            Flavor::Flink => Approach::Flink,
            Flavor::Engine => Approach::Engine,
        }
    }

    pub fn from_approach(approach: Approach) -> Option<Flavor> {
        match approach {
            Approach::Ksqldb => Some(Flavor::Ksqldb),
            Approach::Flink => Some(Flavor::Flink),
            Approach::Engine => Some(Flavor::Engine),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    #[default]
    X86,
    Arm64,
}

impl Arch {
    pub fn id(self) -> &'static str {
        match self {
            Arch::X86 => "x86",
            Arch::Arm64 => "arm64",
        }
    }

    /// The name ECS uses in a task definition's runtime platform.
    pub fn ecs_name(self) -> &'static str {
        match self {
            Arch::X86 => "X86_64",
            Arch::Arm64 => "ARM64",
        }
    }
}

/// What a service does in the stack; sizing by throughput scales the processing ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Runs the queries; scaled out with throughput.
    Processing,
    /// Coordinates (Flink's JobManager); one task whatever the load.
    Coordinator,
}

/// Who may connect to a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ingress {
    /// Anything in the VPC (clients of the REST API or web UI).
    Vpc,
    /// Only the stack's own tasks (Flink's RPC, blob and data ports).
    Stack,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortSpec {
    pub port: u16,
    pub name: String,
    pub ingress: Ingress,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthCheck {
    /// In ECS's form: `["CMD-SHELL", "..."]` or `["CMD", "..."]`.
    pub command: Vec<String>,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub retries: u32,
    pub start_period_seconds: u32,
    /// What the check asks, for people: e.g. "GET /healthcheck on 8088".
    pub describes: String,
}

/// One ECS service: a task definition and how many of it run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSpec {
    pub name: String,
    pub role: Role,
    pub image: String,
    /// Fargate CPU units: 1024 is one vCPU.
    pub cpu_units: u32,
    pub memory_mib: u32,
    pub desired_count: u32,
    pub command: Vec<String>,
    pub ports: Vec<PortSpec>,
    /// Values may hold placeholders such as `{kafka_bootstrap_servers}` or
    /// `{checkpoint_bucket}`, which each view fills in its own way (see [`PLACEHOLDERS`]).
    pub environment: BTreeMap<String, String>,
    /// Environment variables read from Secrets Manager: name to secret ARN.
    pub secrets: BTreeMap<String, String>,
    pub health_check: Option<HealthCheck>,
    /// Cloud Map service name, when the service must be found by name.
    pub discovery_name: Option<String>,
    /// Target-tracking autoscaling of the task count on CPU, when stack.toml asks for it.
    pub autoscaling: Option<AutoscalingSpec>,
}

/// Application Auto Scaling of an ECS service's desired count, tracking its average CPU.
/// `desired_count` is where a new service starts; the autoscaler moves it between
/// `min_count` and `max_count`, and a redeploy leaves the count it chose alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AutoscalingSpec {
    pub min_count: u32,
    pub max_count: u32,
    /// Average CPU utilization the autoscaler holds the service at, in percent.
    pub target_cpu_percent: f64,
    pub scale_out_cooldown_seconds: u32,
    pub scale_in_cooldown_seconds: u32,
}

impl AutoscalingSpec {
    /// The count a redeploy gives a service that runs `live` tasks: the autoscaler's choice
    /// when it lies within the bounds, else the nearest bound.
    pub fn keep(&self, live: u32) -> u32 {
        live.clamp(self.min_count, self.max_count)
    }
}

/// Placeholders an environment value may hold.
pub const PLACEHOLDERS: [&str; 7] = [
    "account_id",
    "kafka_bootstrap_servers",
    "kafka_secret_arn",
    "schema_registry_url",
    "checkpoint_bucket",
    "namespace",
    "region",
];

impl ServiceSpec {
    pub fn vcpu(&self) -> f64 {
        f64::from(self.cpu_units) / 1024.0
    }

    pub fn memory_gb(&self) -> f64 {
        f64::from(self.memory_mib) / 1024.0
    }
}

/// A versioned S3 bucket for checkpoints and savepoints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointSpec {
    /// The bucket is named `{stack name}-checkpoints-{account id}`.
    pub bucket_prefix: String,
    pub interval_minutes: f64,
    /// Noncurrent versions (old checkpoint files) expire after this many days ...
    pub noncurrent_days: u32,
    /// ... except the newest of them.
    pub newer_noncurrent_versions: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "mode", content = "name")]
pub enum ClusterRef {
    Create(String),
    Existing(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Network {
    pub vpc_id: String,
    pub vpc_cidr: String,
    pub private_subnet_ids: Vec<String>,
    pub egress_cidrs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kafka {
    pub bootstrap_servers: String,
    pub auth: KafkaAuthKind,
    pub secret_arn: Option<String>,
    pub msk_cluster_arn: Option<String>,
    pub schema_registry_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackSpec {
    pub flavor: Flavor,
    pub name: String,
    pub region: String,
    pub arch: Arch,
    /// Share of tasks on Fargate Spot, 0 to 1.
    pub spot_share: f64,
    pub log_retention_days: u32,
    pub enable_execute_command: bool,
    pub cluster: ClusterRef,
    /// `None` until stack.toml names the VPC and subnets (generate writes placeholders).
    pub network: Option<Network>,
    pub kafka: Kafka,
    /// Private DNS namespace the services register in, e.g. `advisor-ksqldb.internal`.
    pub namespace: String,
    pub services: Vec<ServiceSpec>,
    pub checkpoints: Option<CheckpointSpec>,
    pub tags: BTreeMap<String, String>,
    /// How the processing service was sized for the workload's rate, when one was given.
    pub sizing: Option<Sizing>,
}

/// Flags that override stack.toml.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub name: Option<String>,
    pub region: Option<String>,
    pub arch: Option<Arch>,
    pub spot_share: Option<f64>,
}

/// A stack.toml (or none) and the flags laid over it: everything a stack is built from
/// except the workload.
#[derive(Debug, Clone, Default)]
pub struct StackInput {
    pub config: StackConfig,
    pub source: config::Source,
    pub overrides: Overrides,
}

impl StackInput {
    /// Reads stack.toml when a path is given.
    pub fn load(path: Option<&Path>, overrides: Overrides) -> Result<StackInput, StackError> {
        let (config, source) = match path {
            Some(path) => config::load(path)?,
            None => (StackConfig::default(), config::Source::default()),
        };
        Ok(StackInput {
            config,
            source,
            overrides,
        })
    }

    /// Where the stack runs: the flag, else stack.toml's region, else the workload's,
    /// else us-east-1.
    pub fn region(&self, demand: &Demand) -> String {
        self.overrides
            .region
            .clone()
            .or_else(|| self.config.region.as_ref().map(|r| r.get_ref().clone()))
            .or_else(|| demand.region.clone())
            .unwrap_or_else(|| DEFAULT_REGION.to_string())
    }

    /// The task architecture: the flag, else stack.toml's, else x86.
    pub fn arch(&self) -> Arch {
        self.overrides
            .arch
            .or(self.config.arch.as_ref().map(|a| *a.get_ref()))
            .unwrap_or_default()
    }
}

pub const DEFAULT_REGION: &str = "us-east-1";

/// The one way to a StackSpec: the flavor's defaults (the decision guide's sizes), then
/// stack.toml, then the flags, then the processing service sized for the workload's rate
/// with the capacity the price catalog records. `cost`, `generate`, `deploy` and `status`
/// all build their stack here, so they price, write and apply the same task counts.
pub fn sized(
    flavor: Flavor,
    input: &StackInput,
    demand: &Demand,
    capacities: &Capacities,
) -> Result<StackSpec, StackError> {
    flavors::build(flavor, input, demand, capacities)
}

impl StackSpec {
    pub fn processing_vcpu(&self) -> f64 {
        self.services
            .iter()
            .filter(|s| s.role == Role::Processing)
            .map(|s| s.vcpu() * f64::from(s.desired_count))
            .sum()
    }

    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The address clients use: the first service reachable from the VPC.
    pub fn endpoint(&self) -> Option<String> {
        self.services.iter().find_map(|service| {
            let name = service.discovery_name.as_ref()?;
            let port = service.ports.iter().find(|p| p.ingress == Ingress::Vpc)?;
            Some(format!("http://{name}.{}:{}", self.namespace, port.port))
        })
    }
}
