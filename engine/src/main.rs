//! advisor-engine's command line: run a queries file over local files, check health.

use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use advisor_engine::engine::Engine;
use advisor_engine::files::{self, Endpoint};
use advisor_engine::sql;

#[derive(Parser)]
#[command(
    name = "advisor-engine",
    version,
    about = "Runs ksqlDB-dialect SQL over streams of records: local JSON-lines files now, Kafka and a ksqlDB-compatible REST API next"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

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
    let result = match cli.command {
        Command::Run {
            sql,
            input,
            output,
            dead_letter,
        } => run(&sql, &input, &output, dead_letter.as_deref()),
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

fn run(
    sql_path: &std::path::Path,
    inputs: &[Endpoint],
    outputs: &[Endpoint],
    dead: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(sql_path)
        .with_context(|| format!("cannot read {}", sql_path.display()))?;
    let statements =
        sql::parse(&text).with_context(|| format!("{} is not valid SQL", sql_path.display()))?;
    let mut engine = Engine::default();
    for statement in &statements {
        engine
            .execute(statement)
            .with_context(|| format!("{} cannot run", sql_path.display()))?;
    }
    if engine.queries.is_empty() {
        anyhow::bail!(
            "{} starts no query: add a CREATE STREAM/TABLE ... AS SELECT",
            sql_path.display()
        );
    }
    let summary = files::run(&mut engine, inputs, outputs, dead)?;
    for (id, stats) in &summary.queries {
        eprintln!(
            "{id}: {} records in, {} out, {} dead letters ({} late)",
            stats.records_in, stats.records_out, stats.dead_letters, stats.late_events
        );
    }
    Ok(())
}
