//! advisor-engine: the streaming engine that the `engine` flavor deploys.
//!
//! This is the skeleton the engine issues grow: SQL planning, operators, state,
//! record formats and the Kafka and REST edges each get their own module.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "advisor-engine",
    version,
    about = "Runs ksqlDB-dialect SQL on Kafka or local files (in development: no query runs yet)"
)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    eprintln!(
        "advisor-engine {}: no mode is available yet; see --help",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
