//! What each command does with its resolved settings.

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use advisor_engine::connector::{file as files, kafka};
use advisor_engine::engine::Engine;
use advisor_engine::format::Codecs;
use advisor_engine::settings::Settings;
use advisor_engine::{rest, sql};

use super::{RunConfig, ServeConfig};

/// Runs the persistent queries of a SQL file over files or Kafka until the input ends (or
/// --stop-when-idle), then prints each query's counts.
pub fn run(config: RunConfig) -> anyhow::Result<()> {
    let mut engine =
        load(&config.sql, config.settings, config.codecs)?.with_state_budget(config.state_budget);
    if engine.queries.is_empty() {
        anyhow::bail!(
            "{} starts no query: add a CREATE STREAM/TABLE ... AS SELECT",
            config.sql.display()
        );
    }
    let summary = match &config.kafka {
        Some(options) => kafka::run(&mut engine, options)?,
        None => files::run(
            &mut engine,
            &config.inputs,
            &config.outputs,
            config.dead_letter.as_deref(),
        )?,
    };
    for (id, stats) in &summary.queries {
        eprintln!(
            "{id}: {} records in, {} out, {} dead letters ({} late)",
            stats.records_in, stats.records_out, stats.dead_letters, stats.late_events
        );
    }
    // The process ends here: freeing every open window one by one would only delay the exit.
    std::mem::forget(engine);
    Ok(())
}

/// Serves the REST API until stopped, running the queries of --sql first.
pub fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let engine = match &config.sql {
        Some(path) => load(path, config.settings, config.codecs)?,
        None => Engine::with_settings(config.settings).with_codecs(config.codecs),
    }
    .with_state_budget(config.state_budget);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let listen = config.listen;
    let served = runtime.block_on(rest::serve(
        listen,
        engine,
        config.service_id,
        config.kafka,
        config.http,
    ));
    // A worker that did not stop in time (rest::serve says so) is left behind with the
    // process rather than waited on for ever.
    runtime.shutdown_background();
    served.with_context(|| format!("cannot serve on {listen}"))
}

fn load(sql_path: &Path, settings: Settings, codecs: Codecs) -> anyhow::Result<Engine> {
    let text = std::fs::read_to_string(sql_path)
        .with_context(|| format!("cannot read {}", sql_path.display()))?;
    let statements =
        sql::parse(&text).with_context(|| format!("{} is not valid SQL", sql_path.display()))?;
    let mut engine = Engine::with_settings(settings).with_codecs(codecs);
    for statement in &statements {
        engine
            .execute(statement)
            .with_context(|| format!("{} cannot run", sql_path.display()))?;
    }
    Ok(engine)
}

/// Succeeds when the engine at `url` answers its health check with 200; a plain HTTP/1.0
/// GET, so a container's health check needs no HTTP client in the image.
pub fn healthcheck(url: &str) -> anyhow::Result<()> {
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
