//! engine.toml, the configuration file of `serve`: the same settings as its flags, which
//! override it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// engine.toml: the same settings as the flags of `serve`.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<std::net::SocketAddr>,
    pub sql: Option<PathBuf>,
    #[serde(default)]
    pub kafka: FileKafka,
    /// ksqlDB properties, e.g. "ksql.functions.collect_list.limit" = 1000.
    #[serde(default)]
    pub ksql: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub schema_registry: FileRegistry,
    /// Bytes, as --max-request-bytes.
    pub max_request_bytes: Option<usize>,
    /// A size such as "512MiB", as --state-budget.
    pub state_budget: Option<String>,
    #[serde(default)]
    pub auth: FileAuth,
}

/// engine.toml's [auth], as ksqlDB's authentication.* settings.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAuth {
    /// "none", "basic", "bearer" or "basic,bearer".
    pub method: Option<String>,
    pub password_file: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
    pub realm: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub skip_paths: Vec<String>,
}

/// engine.toml's [schema_registry], as ksqlDB's ksql.schema.registry.* settings.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRegistry {
    pub url: Option<String>,
    /// "user:password" for basic auth.
    pub basic_auth_user_info: Option<String>,
    /// PEM file of the registry's CA certificates.
    pub ca_file: Option<PathBuf>,
}

#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileKafka {
    pub bootstrap_servers: Option<String>,
    pub group_id: Option<String>,
    pub state_dir: Option<PathBuf>,
    /// As --instance-id.
    pub instance_id: Option<String>,
    /// s3://bucket/prefix or a folder, as --checkpoint-dir.
    pub checkpoint_dir: Option<String>,
    pub dead_letter_topic: Option<String>,
    /// Extra client settings, e.g. "security.protocol" = "SASL_SSL".
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

impl FileConfig {
    /// The file at `path`, or every setting unset without one.
    pub fn read(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{} is not valid: {e}", path.display()))
    }
}
