//! One module per subcommand; each turns parsed arguments into printed output.

mod cost;
mod deploy;
pub(crate) mod generate;
mod pricing;
mod recommend;
mod report;
mod submit;

use anyhow::Context;

use crate::cli::{Cli, Command};

/// The async runtime the AWS and HTTP clients run on; two workers match the machines.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Recommend(args) => recommend::run(&args, cli.output),
        Command::Cost(args) => cost::run(&args, cli.output),
        Command::Report(args) => report::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Deploy(args) => deploy::deploy(&args, cli.output),
        Command::Status(args) => deploy::status(&args, cli.output),
        Command::Destroy(args) => deploy::destroy(&args, cli.output),
        Command::Submit(crate::cli::SubmitCommand::Ksql(args)) => submit::ksql(&args, cli.output),
        Command::Ksql(crate::cli::KsqlCommand::Query(args)) => submit::query(&args),
    }
}
