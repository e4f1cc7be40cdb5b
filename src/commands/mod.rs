//! One module per subcommand; each turns parsed arguments into printed output.

mod recommend;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Recommend(args) => recommend::run(&args, cli.output),
    }
}
