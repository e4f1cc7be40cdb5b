//! `stack.toml`: what a team says about its AWS account, network and Kafka, and how it wants
//! the stack sized. Values keep their place in the file so errors can point at them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{Arch, StackError};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackConfig {
    pub name: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    pub arch: Option<Spanned<Arch>>,
    pub spot_share: Option<Spanned<f64>>,
    pub log_retention_days: Option<Spanned<u32>>,
    pub enable_execute_command: Option<bool>,
    pub cluster: Option<ClusterConfig>,
    pub network: Option<NetworkConfig>,
    pub kafka: Option<KafkaConfig>,
    #[serde(default)]
    pub services: BTreeMap<Spanned<String>, ServiceConfig>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Name or ARN of an ECS cluster to deploy into.
    pub existing: Option<Spanned<String>>,
    /// Name of a cluster for the stack to create.
    pub create: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    pub vpc_id: Spanned<String>,
    pub vpc_cidr: Spanned<String>,
    pub private_subnet_ids: Spanned<Vec<String>>,
    /// Where the tasks may connect out to (Kafka, AWS APIs); 0.0.0.0/0 by default.
    pub egress_cidrs: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KafkaAuthKind {
    #[default]
    None,
    SaslScram,
    MskIam,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    pub bootstrap_servers: Spanned<String>,
    pub auth: Option<Spanned<KafkaAuthKind>>,
    /// Secrets Manager secret holding the SASL/SCRAM JAAS line (auth = "sasl-scram").
    pub secret_arn: Option<Spanned<String>>,
    /// The MSK cluster the IAM policy grants access to (auth = "msk-iam").
    pub msk_cluster_arn: Option<Spanned<String>>,
    pub schema_registry_url: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub cpu: Option<Spanned<u32>>,
    pub memory: Option<Spanned<u32>>,
    pub count: Option<Spanned<u32>>,
    pub image: Option<Spanned<String>>,
    pub autoscaling: Option<Spanned<AutoscalingConfig>>,
}

/// `[services.<name>.autoscaling]`: target tracking on the service's average CPU.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscalingConfig {
    /// The most tasks the autoscaler may run.
    pub max: Spanned<u32>,
    /// The fewest; the service's sized count by default.
    pub min: Option<Spanned<u32>>,
    /// Average CPU to hold, in percent; the price catalog's planned utilization by default.
    pub target_cpu: Option<Spanned<f64>>,
    pub scale_out_cooldown: Option<Spanned<u32>>,
    pub scale_in_cooldown: Option<Spanned<u32>>,
}

/// Where a stack.toml came from, to turn byte offsets into lines and columns.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub path: String,
    pub text: String,
}

impl Source {
    /// `path:line:column` for a byte offset.
    pub fn locate(&self, offset: usize) -> String {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
        format!("{}:{line}:{column}", self.path)
    }

    pub fn error<T>(
        &self,
        value: &Spanned<T>,
        key: &str,
        message: impl Into<String>,
    ) -> StackError {
        StackError::Config {
            at: self.locate(value.span().start),
            key: key.to_string(),
            message: message.into(),
        }
    }
}

pub fn load(path: &Path) -> Result<(StackConfig, Source), StackError> {
    let text = std::fs::read_to_string(path).map_err(|source| StackError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&path.display().to_string(), text)
}

pub fn parse(path: &str, text: String) -> Result<(StackConfig, Source), StackError> {
    let source = Source {
        path: path.to_string(),
        text,
    };
    let config = toml::from_str(&source.text).map_err(|e| {
        let at = e
            .span()
            .map(|span| source.locate(span.start))
            .unwrap_or_else(|| source.path.clone());
        StackError::Parse {
            at,
            message: e.message().to_string(),
        }
    })?;
    Ok((config, source))
}
