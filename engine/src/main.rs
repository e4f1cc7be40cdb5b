//! advisor-engine's command line: run a queries file over files or Kafka, serve the REST API,
//! check health.

// The engine allocates small, short-lived buffers per record (decoded rows, outputs, Kafka
// payloads); mimalloc serves those far faster than the system allocator (scripts/bench).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use advisor_engine::checkpoint::Location;
use advisor_engine::connector::file::{self as files, Endpoint};
use advisor_engine::connector::kafka::{self, KafkaOptions};
use advisor_engine::connector::schema_registry::{Backoff, HttpRegistry, RegistryConfig};
use advisor_engine::engine::Engine;
use advisor_engine::format::Codecs;
use advisor_engine::rest::auth::{Auth, AuthSettings, Methods};
use advisor_engine::rest::HttpOptions;
use advisor_engine::settings::Settings;
use advisor_engine::{rest, sql};

#[derive(Parser)]
#[command(
    name = "advisor-engine",
    version,
    about = "Runs ksqlDB-dialect SQL over Kafka topics or local files, and serves a ksqlDB-compatible REST API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where Kafka is and how the engine uses it.
#[derive(clap::Args)]
struct KafkaArgs {
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
    /// Topic for records that could not be processed [default: advisor_engine_dead_letters].
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

/// Where the Schema Registry of AVRO sources and outputs is (ksqlDB's
/// ksql.schema.registry.* settings).
#[derive(clap::Args)]
struct RegistryArgs {
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
    /// The engine's codecs: the flags (or ENGINE_*) over engine.toml's [schema_registry].
    fn codecs(&self, file: &FileRegistry) -> anyhow::Result<Codecs> {
        let Some(url) = self.schema_registry_url.clone().or(file.url.clone()) else {
            return Ok(Codecs::default());
        };
        let config = RegistryConfig {
            url,
            user_info: self
                .schema_registry_user_info
                .clone()
                .or(file.basic_auth_user_info.clone()),
            ca_file: self.schema_registry_ca.clone().or(file.ca_file.clone()),
        };
        let registry = HttpRegistry::new(&config, Backoff::default())
            .context("the Schema Registry settings")?;
        Ok(Codecs::with_registry(Arc::new(registry)))
    }
}

/// How the REST API guards itself: the request size limit, and authentication as ksqlDB's
/// authentication.* settings give it.
#[derive(clap::Args)]
struct HttpArgs {
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
    fn options(&self, file_max: Option<usize>, file: &FileAuth) -> anyhow::Result<HttpOptions> {
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
struct KsqlArgs {
    /// A ksqlDB property, e.g. --ksql-config ksql.functions.collect_list.limit=1000 (the
    /// engine takes ksql.functions.collect_list.limit and collect_set.limit).
    #[arg(long, value_name = "KEY=VALUE")]
    ksql_config: Vec<String>,
}

impl KsqlArgs {
    /// The settings from engine.toml's `[ksql]` table, then these flags over them.
    fn settings(&self, file: &BTreeMap<String, toml::Value>) -> anyhow::Result<Settings> {
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

// Parsed once at start; the size of the biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the persistent queries of a SQL file (like ksqlDB's queries file) over files.
    #[command(after_help = "Example:
  advisor-engine run --sql examples/orders.sql \\
      --input order-events=file:orders.jsonl \\
      --output customer_order_totals=file:totals.jsonl --dead-letter dlq.jsonl

An input is NAME=file:PATH (one record value a line) or NAME=records:PATH (one envelope a
line: {\"key\", \"value\", \"timestamp\", \"partition\"}); NAME is a stream's name or topic.
Outputs without --output print to stdout. Bad records go to --dead-letter (default stderr)
with the reason; the run goes on.")]
    Run {
        /// SQL file with CREATE STREAM / TABLE and CREATE ... AS SELECT statements.
        #[arg(long, value_name = "FILE")]
        sql: PathBuf,
        /// NAME=file:PATH or NAME=records:PATH for each stream a query reads.
        #[arg(long, value_name = "NAME=file:PATH")]
        input: Vec<Endpoint>,
        /// NAME=file:PATH for a created stream or table.
        #[arg(long, value_name = "NAME=file:PATH")]
        output: Vec<Endpoint>,
        /// JSON-lines file for records that could not be processed, with the reason.
        #[arg(long, value_name = "PATH")]
        dead_letter: Option<PathBuf>,
        #[command(flatten)]
        kafka: KafkaArgs,
        #[command(flatten)]
        ksql: KsqlArgs,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Serve the ksqlDB-compatible REST API (/ksql, /info, /healthcheck, /metrics) and run
    /// the queries created through it on Kafka.
    #[command(after_help = "Example, with ksqlDB's BASIC authentication:
  advisor-engine serve --listen 127.0.0.1:8088 --bootstrap-servers localhost:9092 \\
      --auth basic --auth-password-file passwords --auth-roles admin,developer

where passwords holds `fred: letmein,admin` lines. --listen takes an IP address and port:
0.0.0.0:8088 (every IPv4 address), [::]:8088 (every address), 127.0.0.1:8088 or [::1]:8088
(this machine only). A request without valid credentials gets 401 with WWW-Authenticate and
{\"@type\":\"generic_error\",\"error_code\":40100,\"message\":\"Unauthorized\"}; a
user without an allowed role 403 (40300); a body over --max-request-bytes 413 (41300).
/healthcheck never needs credentials, so load balancers and `advisor-engine healthcheck`
reach it.")]
    Serve {
        /// engine.toml with listen, sql, max_request_bytes, [kafka] and [auth] settings; flags
        /// and ENGINE_* override it.
        #[arg(long, value_name = "FILE", env = "ENGINE_CONFIG")]
        config: Option<PathBuf>,
        /// IP address and port to listen on, e.g. 127.0.0.1:8088 or [::]:8088 [default:
        /// 0.0.0.0:8088].
        #[arg(long, value_name = "IP:PORT", env = "ENGINE_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// Statements to run at start (CREATE STREAM/TABLE ... ), like a queries file.
        #[arg(long, value_name = "FILE", env = "ENGINE_QUERIES_FILE")]
        sql: Option<PathBuf>,
        #[command(flatten)]
        kafka: KafkaArgs,
        #[command(flatten)]
        ksql: KsqlArgs,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        http: HttpArgs,
    },
    /// Exit 0 when the engine at URL answers its health check (for container health checks).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8088/healthcheck")]
        url: String,
    },
}

fn healthcheck(url: &str) -> anyhow::Result<()> {
    let rest = url
        .strip_prefix("http://")
        .context("the health check URL must start with http://")?;
    let (authority, path) = rest
        .split_once('/')
        .map(|(a, p)| (a, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let address = authority
        .parse()
        .or_else(|_| {
            use std::net::ToSocketAddrs;
            authority
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or(())
        })
        .map_err(|_| anyhow::anyhow!("cannot resolve {authority}"))?;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(3))
        .with_context(|| format!("nothing answers at {authority}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    use std::io::Write;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n")?;
    let mut response = String::new();
    stream.take(4096).read_to_string(&mut response)?;
    let status = response.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        anyhow::bail!("health check answered {status:?}")
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr; ENGINE_LOG takes tracing's filter syntax (e.g. debug, or
    // advisor_engine::runtime=debug).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ENGINE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let result = match cli.command {
        Command::Run {
            sql,
            input,
            output,
            dead_letter,
            kafka,
            ksql,
            registry,
        } => kafka_options(&kafka, &FileKafka::default()).and_then(|options| {
            if options.is_some() && (!input.is_empty() || !output.is_empty() || dead_letter.is_some()) {
                anyhow::bail!("--input, --output and --dead-letter are for files; with --bootstrap-servers the topics come from the SQL");
            }
            let settings = ksql.settings(&BTreeMap::new())?;
            let codecs = registry.codecs(&FileRegistry::default())?;
            run(&sql, settings, codecs, &input, &output, dead_letter.as_deref(), options.as_ref())
        }),
        Command::Serve {
            config,
            listen,
            sql,
            kafka,
            ksql,
            registry,
            http,
        } => serve_command(
            config.as_deref(),
            listen,
            sql,
            &kafka,
            &ksql,
            &registry,
            &http,
        ),
        Command::Healthcheck { url } => healthcheck(&url),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn load(sql_path: &std::path::Path, settings: Settings, codecs: Codecs) -> anyhow::Result<Engine> {
    let text = std::fs::read_to_string(sql_path)
        .with_context(|| format!("cannot read {}", sql_path.display()))?;
    let statements =
        sql::parse(&text).with_context(|| format!("{} is not valid SQL", sql_path.display()))?;
    let mut engine = Engine::with_settings(settings).with_codecs(codecs);
    for statement in &statements {
        engine
            .execute(statement)
            .with_context(|| format!("{} cannot run", sql_path.display()))?;
    }
    Ok(engine)
}

fn serve(
    listen: std::net::SocketAddr,
    sql_path: Option<&std::path::Path>,
    settings: Settings,
    codecs: Codecs,
    service_id: String,
    kafka_settings: Option<KafkaOptions>,
    http: HttpOptions,
) -> anyhow::Result<()> {
    let engine = match sql_path {
        Some(path) => load(path, settings, codecs)?,
        None => Engine::with_settings(settings).with_codecs(codecs),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime
        .block_on(rest::serve(
            listen,
            engine,
            service_id,
            kafka_settings,
            http,
        ))
        .with_context(|| format!("cannot serve on {listen}"))
}

/// engine.toml: the same settings as the flags of `serve`.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<std::net::SocketAddr>,
    sql: Option<PathBuf>,
    #[serde(default)]
    kafka: FileKafka,
    /// ksqlDB properties, e.g. "ksql.functions.collect_list.limit" = 1000.
    #[serde(default)]
    ksql: BTreeMap<String, toml::Value>,
    #[serde(default)]
    schema_registry: FileRegistry,
    /// Bytes, as --max-request-bytes.
    max_request_bytes: Option<usize>,
    #[serde(default)]
    auth: FileAuth,
}

/// engine.toml's [auth], as ksqlDB's authentication.* settings.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAuth {
    /// "none", "basic", "bearer" or "basic,bearer".
    method: Option<String>,
    password_file: Option<PathBuf>,
    token_file: Option<PathBuf>,
    realm: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    skip_paths: Vec<String>,
}

/// engine.toml's [schema_registry], as ksqlDB's ksql.schema.registry.* settings.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRegistry {
    url: Option<String>,
    /// "user:password" for basic auth.
    basic_auth_user_info: Option<String>,
    /// PEM file of the registry's CA certificates.
    ca_file: Option<PathBuf>,
}

#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKafka {
    bootstrap_servers: Option<String>,
    group_id: Option<String>,
    state_dir: Option<PathBuf>,
    /// As --instance-id.
    instance_id: Option<String>,
    /// s3://bucket/prefix or a folder, as --checkpoint-dir.
    checkpoint_dir: Option<String>,
    dead_letter_topic: Option<String>,
    /// Extra client settings, e.g. "security.protocol" = "SASL_SSL".
    #[serde(default)]
    config: BTreeMap<String, String>,
}

fn serve_command(
    config: Option<&std::path::Path>,
    listen: Option<std::net::SocketAddr>,
    sql: Option<PathBuf>,
    kafka: &KafkaArgs,
    ksql: &KsqlArgs,
    registry: &RegistryArgs,
    http: &HttpArgs,
) -> anyhow::Result<()> {
    let file: FileConfig = match config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{} is not valid: {e}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let listen = listen
        .or(file.listen)
        .unwrap_or_else(|| ([0, 0, 0, 0], 8088).into());
    let sql = sql.or(file.sql);
    let options = kafka_options(kafka, &file.kafka)?;
    let service_id = options
        .as_ref()
        .map(|o| o.group_id.clone())
        .unwrap_or_else(|| {
            kafka
                .group_id
                .clone()
                .or(file.kafka.group_id.clone())
                .unwrap_or_else(|| "advisor-engine".into())
        });
    let settings = ksql.settings(&file.ksql)?;
    let codecs = registry.codecs(&file.schema_registry)?;
    let http = http.options(file.max_request_bytes, &file.auth)?;
    serve(
        listen,
        sql.as_deref(),
        settings,
        codecs,
        service_id,
        options,
        http,
    )
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

fn kafka_options(kafka: &KafkaArgs, file: &FileKafka) -> anyhow::Result<Option<KafkaOptions>> {
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
        group_id: kafka
            .group_id
            .clone()
            .or(file.group_id.clone())
            .unwrap_or_else(|| "advisor-engine".into()),
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
        dead_letter_topic: kafka
            .dead_letter_topic
            .clone()
            .or(file.dead_letter_topic.clone())
            .unwrap_or_else(|| "advisor_engine_dead_letters".into()),
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

fn run(
    sql_path: &std::path::Path,
    settings: Settings,
    codecs: Codecs,
    inputs: &[Endpoint],
    outputs: &[Endpoint],
    dead: Option<&std::path::Path>,
    kafka_settings: Option<&KafkaOptions>,
) -> anyhow::Result<()> {
    let mut engine = load(sql_path, settings, codecs)?;
    if engine.queries.is_empty() {
        anyhow::bail!(
            "{} starts no query: add a CREATE STREAM/TABLE ... AS SELECT",
            sql_path.display()
        );
    }
    let summary = match kafka_settings {
        Some(options) => kafka::run(&mut engine, options)?,
        None => files::run(&mut engine, inputs, outputs, dead)?,
    };
    for (id, stats) in &summary.queries {
        eprintln!(
            "{id}: {} records in, {} out, {} dead letters ({} late)",
            stats.records_in, stats.records_out, stats.dead_letters, stats.late_events
        );
    }
    // The process ends here: freeing every open window one by one would only delay the exit.
    std::mem::forget(engine);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::client_settings_from_env;

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
