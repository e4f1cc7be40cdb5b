//! advisor-engine's command line: the flags of each command, engine.toml, and how they
//! become the engine's settings (`RunArgs::config`, `ServeArgs::config`), then what the
//! commands do with those (`commands`).

mod args;
mod commands;
mod file;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use advisor_engine::connector::file::Endpoint;
use advisor_engine::connector::kafka::KafkaOptions;
use advisor_engine::format::Codecs;
use advisor_engine::rest::HttpOptions;
use advisor_engine::settings::Settings;

use args::{HttpArgs, KafkaArgs, KsqlArgs, RegistryArgs, StateArgs};
pub use commands::{healthcheck, run, serve};
use file::{FileConfig, FileKafka, FileRegistry};

#[derive(Parser)]
#[command(
    name = "advisor-engine",
    version,
    about = "Runs ksqlDB-dialect SQL over Kafka topics or local files, and serves a ksqlDB-compatible REST API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start; the size of the biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Run the persistent queries of a SQL file (like ksqlDB's queries file) over files or Kafka.
    #[command(after_help = "Example:
  advisor-engine run --sql examples/orders.sql \\
      --input order-events=file:orders.jsonl \\
      --output customer_order_totals=file:totals.jsonl --dead-letter dlq.jsonl

An input is NAME=file:PATH (one record value a line) or NAME=records:PATH (one envelope a
line: {\"key\", \"value\", \"timestamp\", \"partition\"}); NAME is a stream's name or topic.
Outputs without --output print to stdout. Bad records go to --dead-letter (default stderr)
with the reason; the run goes on.")]
    Run(RunArgs),
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
    Serve(ServeArgs),
    /// Exit 0 when the engine at URL answers its health check (for container health checks).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8088/healthcheck")]
        url: String,
    },
}

// The variants' doc comments are their help; these structs carry none, so that clap does not
// take a struct's over its variant's.
#[derive(clap::Args)]
pub struct RunArgs {
    /// SQL file with CREATE STREAM / TABLE and CREATE ... AS SELECT statements.
    #[arg(long, value_name = "FILE")]
    pub sql: PathBuf,
    /// NAME=file:PATH or NAME=records:PATH for each stream a query reads.
    #[arg(long, value_name = "NAME=file:PATH")]
    pub input: Vec<Endpoint>,
    /// NAME=file:PATH for a created stream or table.
    #[arg(long, value_name = "NAME=file:PATH")]
    pub output: Vec<Endpoint>,
    /// JSON-lines file for records that could not be processed, with the reason.
    #[arg(long, value_name = "PATH")]
    pub dead_letter: Option<PathBuf>,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub ksql: KsqlArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// engine.toml with listen, sql, max_request_bytes, [kafka] and [auth] settings; flags
    /// and ENGINE_* override it.
    #[arg(long, value_name = "FILE", env = "ENGINE_CONFIG")]
    pub config: Option<PathBuf>,
    /// IP address and port to listen on, e.g. 127.0.0.1:8088 or [::]:8088 [default:
    /// 0.0.0.0:8088].
    #[arg(long, value_name = "IP:PORT", env = "ENGINE_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,
    /// Statements to run at start (CREATE STREAM/TABLE ... ), like a queries file.
    #[arg(long, value_name = "FILE", env = "ENGINE_QUERIES_FILE")]
    pub sql: Option<PathBuf>,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub ksql: KsqlArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub http: HttpArgs,
}

/// What `run` runs: the flags resolved.
pub struct RunConfig {
    pub sql: PathBuf,
    pub settings: Settings,
    pub state_budget: Option<u64>,
    pub codecs: Codecs,
    pub inputs: Vec<Endpoint>,
    pub outputs: Vec<Endpoint>,
    pub dead_letter: Option<PathBuf>,
    /// None: files.
    pub kafka: Option<KafkaOptions>,
}

impl RunArgs {
    /// The flags (or ENGINE_*) resolved; `run` reads no engine.toml.
    pub fn config(self) -> anyhow::Result<RunConfig> {
        let settings = self.ksql.settings(&Default::default())?;
        let codecs = (self.registry).codecs(&settings.schema_registry, &FileRegistry::default())?;
        let kafka = self
            .kafka
            .options(&FileKafka::default(), &settings.processing_log)?;
        if settings.processing_log.stream_auto_create {
            // As ksqlDB's headless mode: the stream is a catalog entry for the REST API.
            tracing::warn!("ksql.logging.processing.stream.auto.create is for serve only; run declares no stream");
        }
        if kafka.is_some()
            && (!self.input.is_empty() || !self.output.is_empty() || self.dead_letter.is_some())
        {
            anyhow::bail!("--input, --output and --dead-letter are for files; with --bootstrap-servers the topics come from the SQL");
        }
        Ok(RunConfig {
            sql: self.sql,
            settings,
            state_budget: self.state.state_budget(None)?,
            codecs,
            inputs: self.input,
            outputs: self.output,
            dead_letter: self.dead_letter,
            kafka,
        })
    }
}

/// What `serve` serves: the flags over engine.toml, resolved.
pub struct ServeConfig {
    pub listen: std::net::SocketAddr,
    pub sql: Option<PathBuf>,
    pub settings: Settings,
    pub state_budget: Option<u64>,
    pub codecs: Codecs,
    pub service_id: String,
    /// None: no Kafka; queries cannot run, the API still answers.
    pub kafka: Option<KafkaOptions>,
    pub http: HttpOptions,
}

impl ServeArgs {
    /// engine.toml (--config), then the flags (or ENGINE_*) over it.
    pub fn config(self) -> anyhow::Result<ServeConfig> {
        let file = FileConfig::read(self.config.as_deref())?;
        let settings = self.ksql.settings(&file.ksql)?;
        let codecs = (self.registry).codecs(&settings.schema_registry, &file.schema_registry)?;
        let kafka = self.kafka.options(&file.kafka, &settings.processing_log)?;
        // Without Kafka there is no group, but /info still names the service by it.
        let service_id = self.kafka.group_id(&file.kafka);
        Ok(ServeConfig {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| ([0, 0, 0, 0], 8088).into()),
            sql: self.sql.or(file.sql),
            settings,
            state_budget: self.state.state_budget(file.state_budget.as_deref())?,
            codecs,
            service_id,
            kafka,
            http: self.http.options(file.max_request_bytes, &file.auth)?,
        })
    }
}
