//! advisor-engine's command line: run a queries file over files or Kafka, serve the REST API,
//! check health. The flags and what they become live in `cli`; this parses and dispatches.

// The engine allocates small, short-lived buffers per record (decoded rows, outputs, Kafka
// payloads); mimalloc serves those far faster than the system allocator (scripts/bench).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;

use clap::Parser;

use cli::{Cli, Command};

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
        Command::Run(args) => args.config().and_then(cli::run),
        Command::Serve(args) => args.config().and_then(cli::serve),
        Command::Healthcheck { url } => cli::healthcheck(&url),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
