//! The flags that `run` and `serve` share, grouped by what they configure, and how each group
//! becomes the engine's settings over engine.toml's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use advisor_engine::checkpoint::Location;
use advisor_engine::connector::kafka::{KafkaOptions, LogTopic};
use advisor_engine::connector::schema_registry::{Backoff, HttpRegistry, RegistryConfig};
use advisor_engine::format::Codecs;
use advisor_engine::rest::auth::{Auth, AuthSettings, Methods};
use advisor_engine::rest::HttpOptions;
use advisor_engine::settings::{ProcessingLog, RegistryProperties, Settings};

use super::file::{FileAuth, FileKafka, FileRegistry};

/// Where Kafka is and how the engine uses it.
#[derive(clap::Args)]
pub struct KafkaArgs {
    /// The brokers to bootstrap from; without it `run` reads and writes files.
    #[arg(long, value_name = "HOST:PORT", env = "ENGINE_KAFKA_BOOTSTRAP_SERVERS")]
    bootstrap_servers: Option<String>,
    /// Consumer group of the input topics, and the service id /info reports [default: advisor-engine].
    #[arg(long, env = "ENGINE_SERVICE_ID")]
    group_id: Option<String>,
    /// Folder for each query's state and input offsets [default: advisor-engine-state].
    #[arg(long, env = "ENGINE_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Where checkpoints go instead of the state folder: s3://bucket/prefix (through the
    /// default AWS credential chain, honouring AWS_ENDPOINT_URL) or another folder.
    #[arg(long, value_name = "S3_URI|DIR", env = "ENGINE_CHECKPOINT_DIR")]
    checkpoint_dir: Option<String>,
    /// How often state is checkpointed with the input offsets it reflects; commits between
    /// checkpoints confirm outputs only [default: every commit for a folder, 60s for S3].
    #[arg(long, value_parser = humantime::parse_duration, env = "ENGINE_CHECKPOINT_INTERVAL")]
    checkpoint_interval: Option<std::time::Duration>,
    /// Topic for records that could not be processed, the same setting as
    /// ksql.logging.processing.topic.name [default: <group id>_ksql_processing_log when
    /// ksql.logging.processing.topic.auto.create or stream.auto.create is on, else
    /// advisor_engine_dead_letters].
    #[arg(long, env = "ENGINE_DEAD_LETTER_TOPIC")]
    dead_letter_topic: Option<String>,
    /// How often to confirm outputs, save state and commit input offsets.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration, env = "ENGINE_COMMIT_INTERVAL")]
    commit_interval: std::time::Duration,
    /// Bytes of table updates held between commits so that updates to one key collapse into
    /// one record (ksqlDB's cache.max.bytes.buffering); 0 sends every update.
    #[arg(long, default_value_t = 10_000_000, env = "ENGINE_CACHE_MAX_BYTES")]
    cache_max_bytes: usize,
    /// Stop after this long without a new record, e.g. 5s (backfills); default: run on.
    #[arg(long, value_parser = humantime::parse_duration)]
    stop_when_idle: Option<std::time::Duration>,
    /// This instance's fixed identity in the consumer group (static membership,
    /// group.instance.id): restarted with the same id it gets its partitions back at once
    /// [default: the ECS task's id when run on ECS, else none].
    #[arg(long, value_name = "ID", env = "ENGINE_INSTANCE_ID")]
    instance_id: Option<String>,
    /// How long the group waits for a silent instance before its partitions move to the
    /// others (session.timeout.ms).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, env = "ENGINE_SESSION_TIMEOUT")]
    session_timeout: std::time::Duration,
    /// Extra Kafka client settings, e.g. --kafka-config security.protocol=SASL_SSL; an
    /// ENGINE_KAFKA_<NAME> variable sets one too (ENGINE_KAFKA_SASL_MECHANISM=PLAIN is
    /// sasl.mechanism=PLAIN), below the flags.
    #[arg(long, value_name = "KEY=VALUE")]
    kafka_config: Vec<String>,
}

/// What bounds the queries' state.
#[derive(clap::Args)]
pub struct StateArgs {
    /// The most memory one query's state may hold, e.g. 512MiB or 2GB: a query whose state
    /// passes it is stopped with an error before memory runs out, its state and offsets up
    /// to then kept (`run` exits non-zero, `serve` shows the query as ERROR) [default:
    /// none].
    #[arg(long, value_name = "SIZE", env = "ENGINE_STATE_BUDGET")]
    state_budget: Option<bytesize::ByteSize>,
}

impl StateArgs {
    /// The budget in bytes: the flag (or ENGINE_STATE_BUDGET) over engine.toml's.
    pub fn state_budget(&self, file: Option<&str>) -> anyhow::Result<Option<u64>> {
        if let Some(budget) = self.state_budget {
            return Ok(Some(budget.as_u64()));
        }
        file.map(|text| {
            text.parse::<bytesize::ByteSize>()
                .map(|b| b.as_u64())
                .map_err(|e| anyhow::anyhow!("engine.toml's state_budget {text:?}: {e}"))
        })
        .transpose()
    }
}

/// Where the Schema Registry of AVRO sources and outputs is (ksqlDB's
/// ksql.schema.registry.* settings).
#[derive(clap::Args)]
pub struct RegistryArgs {
    /// The Schema Registry's URL, e.g. http://schema-registry:8081 (ksql.schema.registry.url).
    #[arg(long, value_name = "URL", env = "ENGINE_SCHEMA_REGISTRY_URL")]
    schema_registry_url: Option<String>,
    /// USER:PASSWORD for the registry's basic auth (ksql.schema.registry.basic.auth.user.info).
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        env = "ENGINE_SCHEMA_REGISTRY_USER_INFO"
    )]
    schema_registry_user_info: Option<String>,
    /// PEM file of the CA certificates the registry's TLS certificate is signed by.
    #[arg(long, value_name = "FILE", env = "ENGINE_SCHEMA_REGISTRY_CA")]
    schema_registry_ca: Option<PathBuf>,
}

impl RegistryArgs {
    /// Where the registry is: each setting from the flags (or ENGINE_SCHEMA_REGISTRY_*),
    /// else the `ksql.schema.registry.*` properties (engine.toml's [ksql], ENGINE_KSQL_*,
    /// --ksql-config), else engine.toml's [schema_registry]. None: no registry.
    fn config(
        &self,
        properties: &RegistryProperties,
        file: &FileRegistry,
    ) -> Option<RegistryConfig> {
        let url = (self.schema_registry_url.clone())
            .or(properties.url.clone())
            .or(file.url.clone())?;
        Some(RegistryConfig {
            url,
            user_info: (self.schema_registry_user_info.clone())
                .or(properties.user_info.clone())
                .or(file.basic_auth_user_info.clone()),
            ca_file: (self.schema_registry_ca.clone())
                .or(properties.truststore.clone())
                .or(file.ca_file.clone()),
        })
    }

    /// The engine's codecs, with the registry of `config` when there is one.
    pub fn codecs(
        &self,
        properties: &RegistryProperties,
        file: &FileRegistry,
    ) -> anyhow::Result<Codecs> {
        let Some(config) = self.config(properties, file) else {
            return Ok(Codecs::default());
        };
        let registry = HttpRegistry::new(&config, Backoff::default())
            .context("the Schema Registry settings")?;
        Ok(Codecs::with_registry(Arc::new(registry)))
    }
}

/// How the REST API guards itself: the request size limit, and authentication as ksqlDB's
/// authentication.* settings give it.
#[derive(clap::Args)]
pub struct HttpArgs {
    /// Largest request body in bytes; a bigger one is refused with 413 [default: 10485760,
    /// 10 MiB].
    #[arg(long, value_name = "BYTES", env = "ENGINE_MAX_REQUEST_BYTES")]
    max_request_bytes: Option<usize>,
    /// Who may call the API (ksqlDB's authentication.method): none, basic (the users of
    /// --auth-password-file), bearer (the tokens of --auth-token-file) or basic,bearer.
    /// /healthcheck stays open either way [default: none].
    #[arg(long, value_name = "METHOD", env = "ENGINE_AUTH")]
    auth: Option<Methods>,
    /// The users for --auth basic, one `user: password[,role...]` a line as in ksqlDB's
    /// (Jetty's) password file; a password is plain, OBF: or MD5:.
    #[arg(long, value_name = "FILE", env = "ENGINE_AUTH_PASSWORD_FILE")]
    auth_password_file: Option<PathBuf>,
    /// The tokens for --auth bearer (`Authorization: Bearer TOKEN`), one a line.
    #[arg(long, value_name = "FILE", env = "ENGINE_AUTH_TOKEN_FILE")]
    auth_token_file: Option<PathBuf>,
    /// The realm a 401 names in WWW-Authenticate (authentication.realm) [default:
    /// advisor-engine].
    #[arg(long, value_name = "NAME", env = "ENGINE_AUTH_REALM")]
    auth_realm: Option<String>,
    /// Roles of which a user needs one (authentication.roles), comma-separated [default:
    /// any user of the password file].
    #[arg(
        long,
        value_name = "ROLE,...",
        value_delimiter = ',',
        env = "ENGINE_AUTH_ROLES"
    )]
    auth_roles: Vec<String>,
    /// Paths served without credentials besides /healthcheck (authentication.skip.paths),
    /// comma-separated, `*` matching anything, e.g. /metrics.
    #[arg(
        long,
        value_name = "PATH,...",
        value_delimiter = ',',
        env = "ENGINE_AUTH_SKIP_PATHS"
    )]
    auth_skip_paths: Vec<String>,
}

impl HttpArgs {
    /// The flags (or ENGINE_*) over engine.toml's max_request_bytes and [auth].
    pub fn options(&self, file_max: Option<usize>, file: &FileAuth) -> anyhow::Result<HttpOptions> {
        let methods = match (&self.auth, &file.method) {
            (Some(methods), _) => *methods,
            (None, Some(text)) => text
                .parse()
                .context("[auth] method in the configuration file")?,
            (None, None) => Methods::default(),
        };
        let or_file = |flag: &Vec<String>, file: &Vec<String>| {
            if flag.is_empty() {
                file.clone()
            } else {
                flag.clone()
            }
        };
        let settings = AuthSettings {
            methods,
            password_file: self
                .auth_password_file
                .clone()
                .or(file.password_file.clone()),
            token_file: self.auth_token_file.clone().or(file.token_file.clone()),
            realm: self.auth_realm.clone().or(file.realm.clone()),
            roles: or_file(&self.auth_roles, &file.roles),
            skip_paths: or_file(&self.auth_skip_paths, &file.skip_paths),
        };
        let max_request_bytes = self
            .max_request_bytes
            .or(file_max)
            .unwrap_or(advisor_engine::rest::limit::DEFAULT_MAX_REQUEST_BYTES);
        if max_request_bytes == 0 {
            anyhow::bail!("--max-request-bytes must be above 0");
        }
        Ok(HttpOptions {
            max_request_bytes,
            auth: Auth::from_settings(&settings)
                .context("the authentication settings")?
                .map(Arc::new),
        })
    }
}

/// ksqlDB server properties the queries follow.
#[derive(clap::Args)]
pub struct KsqlArgs {
    /// A ksqlDB property, e.g. --ksql-config ksql.functions.collect_list.limit=1000 or
    /// ksql.logging.processing.topic.auto.create=true; an ENGINE_KSQL_<NAME> variable sets
    /// one too (ENGINE_KSQL_LOGGING_PROCESSING_STREAM_AUTO_CREATE=true), below the flags.
    #[arg(long, value_name = "KEY=VALUE")]
    ksql_config: Vec<String>,
}

impl KsqlArgs {
    /// The settings from engine.toml's `[ksql]` table, then ENGINE_KSQL_* variables, then
    /// these flags over them.
    pub fn settings(&self, file: &BTreeMap<String, toml::Value>) -> anyhow::Result<Settings> {
        let mut settings = Settings::default();
        for (name, value) in file {
            let text = match value {
                toml::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            settings
                .set(name, &text)
                .with_context(|| format!("[ksql] {name} in the configuration file"))?;
        }
        for (variable, name, value) in ksql_settings_from_env(std::env::vars()) {
            settings
                .set(&name, &value)
                .with_context(|| format!("{variable} ({name})"))?;
        }
        for setting in &self.ksql_config {
            let (name, value) = setting
                .split_once('=')
                .with_context(|| format!("--ksql-config {setting:?} is not KEY=VALUE"))?;
            settings
                .set(name.trim(), value)
                .with_context(|| format!("--ksql-config {setting}"))?;
        }
        Ok(settings)
    }
}

/// `ENGINE_KSQL_<NAME>` variables as ksqlDB properties, the way Confluent's ksqlDB image maps
/// `KSQL_KSQL_<NAME>`: the prefix's `KSQL` is the property's `ksql`, `_` is a dot, `__` a dash
/// and `___` an underscore, so the tutorial's KSQL_KSQL_LOGGING_PROCESSING_TOPIC_AUTO_CREATE
/// is ENGINE_KSQL_LOGGING_PROCESSING_TOPIC_AUTO_CREATE, and
/// ENGINE_KSQL_FUNCTIONS_COLLECT___LIST_LIMIT is ksql.functions.collect_list.limit.
/// (variable, property, value) each.
fn ksql_settings_from_env(
    vars: impl Iterator<Item = (String, String)>,
) -> Vec<(String, String, String)> {
    let mut found: Vec<(String, String, String)> = vars
        .filter_map(|(variable, value)| {
            let rest = variable.strip_prefix("ENGINE_KSQL_")?;
            if rest.is_empty() {
                return None;
            }
            let name = rest
                .to_lowercase()
                .replace("___", "\u{0}")
                .replace("__", "-")
                .replace('_', ".")
                .replace('\u{0}', "_");
            Some((variable.clone(), format!("ksql.{name}"), value))
        })
        .collect();
    // The environment's order is arbitrary; an error should name the same variable each run.
    found.sort();
    found
}

/// Variables the engine's own flags read, which are not client settings.
const ENGINE_KAFKA_FLAGS: [&str; 1] = ["ENGINE_KAFKA_BOOTSTRAP_SERVERS"];

/// `ENGINE_KAFKA_<NAME>` variables as Kafka client settings, the way Confluent's images map
/// `KAFKA_*`: ENGINE_KAFKA_SASL_MECHANISM=PLAIN is sasl.mechanism=PLAIN. A container gets
/// its SASL settings (and the secrets ECS injects) this way.
fn client_settings_from_env(
    vars: impl Iterator<Item = (String, String)>,
) -> BTreeMap<String, String> {
    vars.filter(|(name, _)| !ENGINE_KAFKA_FLAGS.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            let rest = name.strip_prefix("ENGINE_KAFKA_")?;
            (!rest.is_empty()).then(|| (rest.to_lowercase().replace('_', "."), value))
        })
        .collect()
}

impl KafkaArgs {
    /// The consumer group, which is also the service id /info reports with or without Kafka.
    pub fn group_id(&self, file: &FileKafka) -> String {
        self.group_id
            .clone()
            .or(file.group_id.clone())
            .unwrap_or_else(|| "advisor-engine".into())
    }

    /// The Kafka settings: these flags (or ENGINE_*) over engine.toml's [kafka], and the
    /// processing log's topic; none without bootstrap servers.
    pub fn options(
        &self,
        file: &FileKafka,
        log: &ProcessingLog,
    ) -> anyhow::Result<Option<KafkaOptions>> {
        let kafka = self;
        let Some(bootstrap_servers) = kafka
            .bootstrap_servers
            .clone()
            .or(file.bootstrap_servers.clone())
        else {
            return Ok(None);
        };
        // engine.toml's [kafka.config], then ENGINE_KAFKA_* variables, then --kafka-config flags.
        let mut client_config = file.config.clone();
        client_config.extend(client_settings_from_env(std::env::vars()));
        for setting in &kafka.kafka_config {
            let (key, value) = setting
                .split_once('=')
                .with_context(|| format!("--kafka-config {setting:?} is not KEY=VALUE"))?;
            client_config.insert(key.to_string(), value.to_string());
        }
        let state_dir: PathBuf = kafka
            .state_dir
            .clone()
            .or(file.state_dir.clone())
            .unwrap_or_else(|| "advisor-engine-state".into());
        Ok(Some(KafkaOptions {
            bootstrap_servers,
            group_id: self.group_id(file),
            checkpoints: match kafka
                .checkpoint_dir
                .as_ref()
                .or(file.checkpoint_dir.as_ref())
            {
                Some(location) => Location::parse(location)?,
                None => Location::Local(state_dir.clone()),
            },
            checkpoint_interval: kafka.checkpoint_interval,
            state_dir,
            dead_letter_topic: log.topic(
                kafka
                    .dead_letter_topic
                    .as_deref()
                    .or(file.dead_letter_topic.as_deref()),
                &self.group_id(file),
            )?,
            processing_log_topic: log.topic_auto_create.then_some(LogTopic {
                partitions: log.topic_partitions,
                replication_factor: log.topic_replication_factor,
            }),
            stop_when_idle: kafka.stop_when_idle,
            batch_size: 10_000,
            commit_interval: kafka.commit_interval,
            cache_max_bytes: kafka.cache_max_bytes,
            client_config: client_config.into_iter().collect(),
            instance_id: kafka
                .instance_id
                .clone()
                .or(file.instance_id.clone())
                .or_else(advisor_engine::connector::kafka::ecs_task_id),
            session_timeout: kafka.session_timeout,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::{client_settings_from_env, ksql_settings_from_env};
    use super::{FileRegistry, RegistryArgs, RegistryConfig, RegistryProperties};

    #[test]
    fn registry_settings_take_flags_then_ksql_properties_then_the_file_table() {
        let flags = |url: Option<&str>| RegistryArgs {
            schema_registry_url: url.map(String::from),
            schema_registry_user_info: None,
            schema_registry_ca: None,
        };
        let properties = RegistryProperties {
            url: Some("http://property:8081".into()),
            user_info: Some("property:pw".into()),
            truststore: None,
        };
        let file = FileRegistry {
            url: Some("http://file:8081".into()),
            basic_auth_user_info: Some("file:pw".into()),
            ca_file: Some("file-ca.pem".into()),
        };
        assert_eq!(
            flags(Some("http://flag:8081")).config(&properties, &file),
            Some(RegistryConfig {
                url: "http://flag:8081".into(),
                user_info: Some("property:pw".into()),
                ca_file: Some("file-ca.pem".into()),
            })
        );
        let from_properties = flags(None).config(&properties, &file);
        assert_eq!(
            from_properties.map(|c| c.url),
            Some("http://property:8081".into())
        );
        let none = RegistryProperties::default();
        assert_eq!(
            flags(None).config(&none, &file).map(|c| c.url),
            Some("http://file:8081".into())
        );
        assert_eq!(flags(None).config(&none, &FileRegistry::default()), None);
    }

    #[test]
    fn engine_ksql_variables_become_ksqldb_properties() {
        let vars = [
            ("ENGINE_KSQL_LOGGING_PROCESSING_TOPIC_AUTO_CREATE", "true"),
            ("ENGINE_KSQL_FUNCTIONS_COLLECT___LIST_LIMIT", "10"),
            ("ENGINE_KSQL_A__B", "x"),
            ("ENGINE_KSQL_", "ignored"),
            ("ENGINE_KAFKA_SASL_MECHANISM", "PLAIN"),
            (
                "ENGINE_KSQL_SCHEMA_REGISTRY_URL",
                "http://schema-registry:8081",
            ),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let found: Vec<(String, String)> = ksql_settings_from_env(vars.into_iter())
            .into_iter()
            .map(|(_, name, value)| (name, value))
            .collect();
        assert_eq!(
            found,
            [
                ("ksql.a-b", "x"),
                ("ksql.functions.collect_list.limit", "10"),
                ("ksql.logging.processing.topic.auto.create", "true"),
                ("ksql.schema.registry.url", "http://schema-registry:8081"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn engine_kafka_variables_become_client_settings() {
        let vars = [
            ("ENGINE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
            ("ENGINE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("ENGINE_KAFKA_BOOTSTRAP_SERVERS", "b-1:9092"),
            ("ENGINE_KAFKA_", "x"),
            ("ENGINE_LISTEN", "0.0.0.0:8088"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(
            client_settings_from_env(vars.into_iter()),
            [
                ("sasl.mechanism".to_string(), "SCRAM-SHA-512".to_string()),
                ("security.protocol".to_string(), "SASL_SSL".to_string()),
            ]
            .into()
        );
    }
}
