//! StackSpec: one model of a deployment per flavor. The cost estimate, the Terraform and
//! the live deployment all read it, so they cannot disagree on a size, a port or an env
//! variable.

pub mod config;
mod fargate;
mod flavors;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use config::{KafkaAuthKind, StackConfig};
pub use fargate::check_size;

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
}

/// Flags that override stack.toml.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub name: Option<String>,
    pub region: Option<String>,
    pub arch: Option<Arch>,
    pub spot_share: Option<f64>,
}

impl StackSpec {
    /// Builds and checks a stack: defaults for the flavor, then stack.toml, then flags.
    /// `regions` are those the price catalog knows.
    pub fn build(
        flavor: Flavor,
        config: &StackConfig,
        source: &config::Source,
        overrides: &Overrides,
        regions: &[String],
    ) -> Result<StackSpec, StackError> {
        flavors::build(flavor, config, source, overrides, regions)
    }

    /// The page's sizes with no stack.toml: what the cost model prices by default.
    pub fn defaults(
        flavor: Flavor,
        region: &str,
        arch: Arch,
        spot_share: f64,
    ) -> Result<StackSpec, StackError> {
        let overrides = Overrides {
            region: Some(region.to_string()),
            arch: Some(arch),
            spot_share: Some(spot_share),
            ..Overrides::default()
        };
        // Engine images are x86-only; price ARM anyway by naming a placeholder image.
        let mut config = StackConfig::default();
        if flavor == Flavor::Engine && arch == Arch::Arm64 {
            config.services.insert(
                toml::Spanned::new(0..0, "engine".to_string()),
                config::ServiceConfig {
                    image: Some(toml::Spanned::new(0..0, "advisor-engine:arm64".to_string())),
                    ..config::ServiceConfig::default()
                },
            );
        }
        flavors::build(
            flavor,
            &config,
            &config::Source::default(),
            &overrides,
            &[region.to_string()],
        )
    }

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
