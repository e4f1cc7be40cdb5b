//! StackSpec: one model of a deployment per flavor. The cost estimate, the Terraform and
//! the live deployment all read it, so they cannot disagree on a size or a count.

use serde::Serialize;

use crate::decide::Approach;

/// The flavors advisor can deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    Ksqldb,
    Flink,
    Engine,
}

impl Flavor {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
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

/// One ECS service: a task definition and how many of it run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSpec {
    pub name: String,
    pub role: Role,
    /// Fargate CPU units: 1024 is one vCPU.
    pub cpu_units: u32,
    pub memory_mib: u32,
    pub desired_count: u32,
}

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
    pub interval_minutes: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackSpec {
    pub flavor: Flavor,
    pub region: String,
    pub arch: Arch,
    /// Share of tasks on Fargate Spot, 0 to 1.
    pub spot_share: f64,
    pub log_retention_days: u32,
    pub services: Vec<ServiceSpec>,
    pub checkpoints: Option<CheckpointSpec>,
}

/// The choices that shape a stack before `stack.toml` adds the network and Kafka details.
#[derive(Debug, Clone, PartialEq)]
pub struct StackOptions {
    pub region: String,
    pub arch: Arch,
    pub spot_share: f64,
}

impl StackSpec {
    /// The page's sizes: ksqlDB 1 vCPU/2 GB; Flink a 1 vCPU/2 GB JobManager and two
    /// 2 vCPU/4 GB TaskManagers with 5-minute checkpoints; the engine one 0.5 vCPU/1 GB task.
    pub fn defaults(flavor: Flavor, options: &StackOptions) -> StackSpec {
        let service = |name: &str, role, cpu_units, memory_mib, desired_count| ServiceSpec {
            name: name.to_string(),
            role,
            cpu_units,
            memory_mib,
            desired_count,
        };
        let (services, checkpoints) = match flavor {
            Flavor::Ksqldb => (
                vec![service("ksqldb-server", Role::Processing, 1024, 2048, 1)],
                None,
            ),
            Flavor::Flink => (
                vec![
                    service("jobmanager", Role::Coordinator, 1024, 2048, 1),
                    service("taskmanager", Role::Processing, 2048, 4096, 2),
                ],
                Some(CheckpointSpec {
                    interval_minutes: 5.0,
                }),
            ),
            Flavor::Engine => (
                vec![service("engine", Role::Processing, 512, 1024, 1)],
                Some(CheckpointSpec {
                    interval_minutes: 5.0,
                }),
            ),
        };
        StackSpec {
            flavor,
            region: options.region.clone(),
            arch: options.arch,
            spot_share: options.spot_share,
            log_retention_days: 7,
            services,
            checkpoints,
        }
    }

    pub fn processing_vcpu(&self) -> f64 {
        self.services
            .iter()
            .filter(|s| s.role == Role::Processing)
            .map(|s| s.vcpu() * f64::from(s.desired_count))
            .sum()
    }
}
