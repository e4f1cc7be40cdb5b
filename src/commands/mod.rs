//! One module per subcommand; each turns parsed arguments into printed output.

mod cost;
mod deploy;
pub(crate) mod generate;
mod pricing;
mod recommend;
mod report;
mod submit;

use crate::cli::{Cli, Command};

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
