//! One module per subcommand; each turns parsed arguments into printed output.

mod cost;
mod deploy;
mod flink;
pub(crate) mod generate;
mod image;
mod logs;
mod pricing;
mod recommend;
mod report;
mod rollback;
mod stacks;
mod submit;

use std::io::IsTerminal;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{Cli, Command, FlinkCommand, ImageCommand, KsqlCommand, SubmitCommand};
use crate::output::OutputFormat;

/// Whether progress shows as spinners: not for JSON output, and only on a terminal.
fn spinners_shown(format: OutputFormat) -> bool {
    format != OutputFormat::Json && std::io::stderr().is_terminal()
}

/// A spinner on stderr while something long runs; hidden for JSON output or without a
/// terminal, so scripts and logs see only the result.
fn spinner(format: OutputFormat) -> ProgressBar {
    if !spinners_shown(format) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

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
        Command::Diff(args) => deploy::diff(&args, cli.output),
        Command::Logs(args) => logs::run(&args, cli.output),
        Command::Rollback(args) => rollback::run(&args, cli.output),
        Command::Destroy(args) => deploy::destroy(&args, cli.output),
        Command::Submit(SubmitCommand::Ksql(args)) => submit::ksql(&args, cli.output),
        Command::Submit(SubmitCommand::Flink(args)) => flink::submit(&args, cli.output),
        Command::Ksql(KsqlCommand::Query(args)) => submit::query(&args),
        Command::Flink(FlinkCommand::Jobs(args)) => flink::jobs(&args, cli.output),
        Command::Flink(FlinkCommand::Stop(args)) => flink::stop(&args, cli.output),
        Command::Flink(FlinkCommand::Upgrade(args)) => flink::upgrade(&args, cli.output),
        Command::Image(ImageCommand::Build(args)) => image::build(&args, cli.output),
        Command::Image(ImageCommand::Push(args)) => image::push(&args, cli.output),
        Command::Image(ImageCommand::List(args)) => image::list(&args, cli.output),
    }
}
