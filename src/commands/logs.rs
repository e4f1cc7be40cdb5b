//! `advisor logs`: the stack's CloudWatch log streams, interleaved by time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::{runtime, stacks};
use crate::aws::desired::Names;
use crate::aws::logs::{self, LogEvent, Query, Seen};
use crate::aws::Clients;
use crate::cli::LogsArgs;
use crate::output::OutputFormat;

/// How often `--follow` asks for new events.
const POLL: Duration = Duration::from_secs(2);

#[derive(Serialize)]
struct Line<'a> {
    timestamp: i64,
    time: String,
    service: &'a str,
    stream: &'a str,
    message: &'a str,
}

fn print(events: &[LogEvent], format: OutputFormat, width: usize) -> anyhow::Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for event in events {
        let time = logs::format_time(event.timestamp);
        if format == OutputFormat::Json {
            let line = Line {
                timestamp: event.timestamp,
                time,
                service: &event.service,
                stream: &event.stream,
                message: &event.message,
            };
            writeln!(out, "{}", serde_json::to_string(&line)?)?;
        } else {
            writeln!(out, "{time} {:width$} {}", event.service, event.message)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

pub fn run(args: &LogsArgs, format: OutputFormat) -> anyhow::Result<()> {
    let spec = stacks::build(&args.stack, None)?.spec;
    let picked = stacks::pick_services(&spec, args.service.as_deref())?;
    let services: Vec<String> = picked.iter().map(|s| s.name.clone()).collect();
    let width = services.iter().map(String::len).max().unwrap_or(0);
    // Names needs the account only for the bucket; the log group is the stack's own.
    let names = Names::new(&spec, "");
    let query = Query {
        log_group: names.log_group.clone(),
        stream_prefix: (services.len() == 1).then(|| format!("{}/", services[0])),
        services,
        filter: args.filter.clone(),
    };
    let since = i64::try_from(args.since.as_millis()).unwrap_or(i64::MAX);
    let start = now_ms().saturating_sub(since);
    let runtime = runtime()?;
    runtime.block_on(async {
        let clients = Clients::load(args.aws.profile.as_deref(), &spec.region).await;
        let mut seen = Seen::default();
        let events = logs::read(&clients, &query, start).await?;
        print(&seen.fresh(events), format, width)?;
        if !args.follow {
            return Ok(());
        }
        tracing::info!("following {}; Ctrl-C stops", query.log_group);
        // One listener for the whole loop: a fresh ctrl_c() per turn would miss a Ctrl-C
        // that came while a poll was on its way, and --follow would not stop.
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            tokio::select! {
                _ = &mut ctrl_c => return Ok(()),
                _ = tokio::time::sleep(POLL) => {}
            }
            let events = tokio::select! {
                _ = &mut ctrl_c => return Ok(()),
                events = logs::read(&clients, &query, seen.resume_from(start)) => events?,
            };
            print(&seen.fresh(events), format, width)?;
        }
    })
}
