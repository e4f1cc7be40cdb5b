//! One module per subcommand; each turns parsed arguments into printed output.

mod cost;
mod generate;
mod pricing;
mod recommend;
mod report;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Recommend(args) => recommend::run(&args, cli.output),
        Command::Cost(args) => cost::run(&args, cli.output),
        Command::Report(args) => report::run(&args),
        Command::Generate(args) => generate::run(&args),
    }
}
