//! `advisor submit flink` and `advisor flink jobs|stop|upgrade`.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::submit::{first_line, resolve_endpoint};
use super::{runtime, spinner};
use crate::cli::{
    EndpointArgs, FlinkJobArgs, FlinkJobsArgs, FlinkStopArgs, FlinkUpgradeArgs, SubmitFlinkArgs,
};
use crate::output::{print_json, print_rows, OutputFormat, JSON_SCHEMA_VERSION};
use crate::stack::Flavor;
use crate::submit::flink::{
    sql_runner_args, Client, JobSummary, RunRequest, SQL_RUNNER_CLASS, SQL_RUNNER_FILE_NAME,
    SQL_RUNNER_JAR,
};
use crate::submit::split::split;

fn flink_endpoint(args: &EndpointArgs) -> anyhow::Result<String> {
    resolve_endpoint(
        args,
        "ADVISOR_FLINK_ENDPOINT",
        Flavor::Flink,
        "http://localhost:8081",
    )
}

/// A job ready to upload: the jar's bytes and how to run it.
struct PreparedJob {
    source: String,
    jar_name: String,
    jar: Vec<u8>,
    run: RunRequest,
    /// For SQL: (line, first line of the statement), shown by --dry-run.
    statements: Vec<(usize, String)>,
}

fn prepare(job: &FlinkJobArgs, savepoint: Option<String>) -> anyhow::Result<PreparedJob> {
    let mut run = RunRequest {
        entry_class: job.class.clone(),
        program_args: job.args.iter().chain(&job.trailing_args).cloned().collect(),
        parallelism: job.parallelism,
        savepoint_path: savepoint,
        allow_non_restored_state: job.allow_non_restored_state,
    };
    if let Some(path) = &job.jar {
        let jar = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        if !jar.starts_with(b"PK\x03\x04") {
            anyhow::bail!("{} is not a jar (no zip header)", path.display());
        }
        return Ok(PreparedJob {
            source: path.display().to_string(),
            jar_name: jar_file_name(path),
            jar,
            run,
            statements: Vec::new(),
        });
    }
    let path = job.sql.as_ref().context("give --jar FILE or --sql FILE")?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let pieces = split(&text)
        .with_context(|| format!("{} cannot be split into statements", path.display()))?;
    if pieces.is_empty() {
        anyhow::bail!("{} holds no statement", path.display());
    }
    let has_insert = pieces.iter().any(|p| {
        p.text
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .flat_map(str::split_whitespace)
            .any(|word| word.eq_ignore_ascii_case("INSERT"))
    });
    if !has_insert {
        anyhow::bail!(
            "{} has no INSERT statement, so there is no job to run (CREATE statements alone only declare tables)",
            path.display()
        );
    }
    let job_name = path
        .file_name()
        .map_or_else(|| "sql".into(), |n| n.to_string_lossy().into_owned());
    run.entry_class = Some(SQL_RUNNER_CLASS.to_string());
    run.program_args = sql_runner_args(&pieces, &job_name);
    Ok(PreparedJob {
        source: path.display().to_string(),
        jar_name: SQL_RUNNER_FILE_NAME.to_string(),
        jar: SQL_RUNNER_JAR.to_vec(),
        run,
        statements: pieces
            .iter()
            .map(|p| (p.line, first_line(&p.text)))
            .collect(),
    })
}

fn jar_file_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map_or_else(|| "job.jar".into(), |n| n.to_string_lossy().into_owned());
    if name.ends_with(".jar") {
        name
    } else {
        format!("{name}.jar")
    }
}

#[derive(Debug, Serialize)]
struct Started {
    job_id: String,
    name: String,
    state: String,
    restored_from: Option<String>,
}

/// Uploads the jar, runs it, removes the upload, and waits until the job's tasks run.
async fn start(
    client: &Client,
    job: PreparedJob,
    timeout: std::time::Duration,
    format: OutputFormat,
) -> anyhow::Result<Started> {
    let bar = spinner(format);
    bar.set_message(format!("checking Flink at {}", client.endpoint()));
    let version = client.version().await?;
    tracing::info!("Flink {version} at {}", client.endpoint());
    bar.set_message(format!("uploading {}", job.jar_name));
    let jar_id = client.upload_jar(&job.jar_name, job.jar).await?;
    bar.set_message(format!("starting {}", job.source));
    let run = client.run_jar(&jar_id, &job.run).await;
    if let Err(e) = client.delete_jar(&jar_id).await {
        tracing::warn!("the uploaded jar {jar_id} stays on the cluster: {e}");
    }
    let job_id = run.with_context(|| format!("{} did not start", job.source))?;
    let status = client
        .wait_running(&job_id, timeout, &mut |state| {
            bar.set_message(format!("job {job_id}: {state}"));
        })
        .await;
    bar.finish_and_clear();
    let status = status?;
    let restored_from = if job.run.savepoint_path.is_some() {
        client.restored_from(&job_id).await?
    } else {
        None
    };
    Ok(Started {
        job_id,
        name: status.name,
        state: status.state,
        restored_from,
    })
}

fn print_started(started: &Started, endpoint: &str, format: OutputFormat) -> anyhow::Result<()> {
    if format == OutputFormat::Json {
        #[derive(Serialize)]
        struct Document<'a> {
            schema_version: u32,
            endpoint: &'a str,
            #[serde(flatten)]
            job: &'a Started,
        }
        print_json(&Document {
            schema_version: JSON_SCHEMA_VERSION,
            endpoint,
            job: started,
        })?;
        return Ok(());
    }
    print_rows(
        format,
        &["Job", "Name", "State", "Restored from"],
        vec![vec![
            started.job_id.clone(),
            started.name.clone(),
            started.state.clone(),
            started.restored_from.clone().unwrap_or_else(|| "-".into()),
        ]],
    );
    Ok(())
}

pub fn submit(args: &SubmitFlinkArgs, format: OutputFormat) -> anyhow::Result<()> {
    let endpoint = flink_endpoint(&args.endpoint)?;
    let job = prepare(&args.job, args.from_savepoint.clone())?;
    if args.dry_run {
        return print_dry_run(&job, &endpoint, format);
    }
    let client = Client::new(&endpoint);
    let started = runtime()?.block_on(start(&client, job, args.job.timeout, format))?;
    print_started(&started, &endpoint, format)
}

fn print_dry_run(job: &PreparedJob, endpoint: &str, format: OutputFormat) -> anyhow::Result<()> {
    if format == OutputFormat::Json {
        let statements: Vec<serde_json::Value> = job
            .statements
            .iter()
            .map(|(line, text)| serde_json::json!({"line": line, "statement": text}))
            .collect();
        print_json(&serde_json::json!({
            "schema_version": JSON_SCHEMA_VERSION,
            "endpoint": endpoint,
            "dry_run": true,
            "jar": job.jar_name,
            "entry_class": job.run.entry_class,
            "program_args": job.run.program_args,
            "parallelism": job.run.parallelism,
            "savepoint_path": job.run.savepoint_path,
            "statements": statements,
        }))?;
        return Ok(());
    }
    eprintln!("dry run: nothing is sent to {endpoint}");
    let mut rows = vec![
        vec!["jar".to_string(), job.jar_name.clone()],
        vec![
            "entry class".to_string(),
            job.run
                .entry_class
                .clone()
                .unwrap_or_else(|| "the manifest's Main-Class".into()),
        ],
    ];
    if let Some(savepoint) = &job.run.savepoint_path {
        rows.push(vec!["from savepoint".into(), savepoint.clone()]);
    }
    if job.statements.is_empty() {
        rows.push(vec!["arguments".into(), job.run.program_args.join(" ")]);
    }
    for (line, text) in &job.statements {
        rows.push(vec![format!("line {line}"), text.clone()]);
    }
    print_rows(format, &[&job.source, ""], rows);
    Ok(())
}

pub fn jobs(args: &FlinkJobsArgs, format: OutputFormat) -> anyhow::Result<()> {
    let endpoint = flink_endpoint(&args.endpoint)?;
    let jobs: Vec<JobSummary> = runtime()?.block_on(Client::new(&endpoint).jobs())?;
    if format == OutputFormat::Json {
        print_json(&serde_json::json!({
            "schema_version": JSON_SCHEMA_VERSION,
            "endpoint": endpoint,
            "jobs": jobs,
        }))?;
        return Ok(());
    }
    if jobs.is_empty() {
        eprintln!("no jobs on {endpoint}");
        return Ok(());
    }
    let rows = jobs
        .iter()
        .map(|job| {
            vec![
                job.id.clone(),
                job.name.clone(),
                job.state.clone(),
                started_at(job.start_time),
                humantime::format_duration(std::time::Duration::from_secs(
                    u64::try_from(job.duration_ms / 1000).unwrap_or(0),
                ))
                .to_string(),
            ]
        })
        .collect();
    print_rows(
        format,
        &["Job", "Name", "State", "Started", "Ran for"],
        rows,
    );
    Ok(())
}

fn started_at(epoch_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(epoch_ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| "-".into())
}

/// Where to put a savepoint: "" (the flag without a value) means the cluster's default.
fn savepoint_directory(flag: &str) -> Option<&str> {
    Some(flag).filter(|d| !d.is_empty())
}

pub fn stop(args: &FlinkStopArgs, format: OutputFormat) -> anyhow::Result<()> {
    let endpoint = flink_endpoint(&args.endpoint)?;
    let client = Client::new(&endpoint);
    let savepoint = match &args.savepoint {
        Some(directory) => {
            let bar = spinner(format);
            bar.set_message(format!("taking a savepoint of job {}", args.job_id));
            let location = runtime()?.block_on(client.stop_with_savepoint(
                &args.job_id,
                savepoint_directory(directory),
                args.drain,
                args.timeout,
            ));
            bar.finish_and_clear();
            Some(location.with_context(|| {
                format!(
                    "job {} was not stopped (it runs on unless the savepoint was taken)",
                    args.job_id
                )
            })?)
        }
        None => {
            runtime()?.block_on(client.cancel(&args.job_id))?;
            None
        }
    };
    if format == OutputFormat::Json {
        print_json(&serde_json::json!({
            "schema_version": JSON_SCHEMA_VERSION,
            "endpoint": endpoint,
            "job_id": args.job_id,
            "stopped": if savepoint.is_some() { "stop-with-savepoint" } else { "cancel" },
            "savepoint": savepoint,
        }))?;
        return Ok(());
    }
    match savepoint {
        Some(location) => {
            eprintln!("job {} stopped with a savepoint", args.job_id);
            println!("{location}");
        }
        None => eprintln!("job {} cancelled (no savepoint)", args.job_id),
    }
    Ok(())
}

pub fn upgrade(args: &FlinkUpgradeArgs, format: OutputFormat) -> anyhow::Result<()> {
    let endpoint = flink_endpoint(&args.endpoint)?;
    // Check the new job before stopping the old one: a typo must not stop production.
    let prepared = prepare(&args.job, None)?;
    let client = Client::new(&endpoint);
    let runtime = runtime()?;
    let bar = spinner(format);
    bar.set_message(format!("taking a savepoint of job {}", args.job_id));
    let location = runtime.block_on(client.stop_with_savepoint(
        &args.job_id,
        args.savepoint.as_deref(),
        false,
        args.job.timeout,
    ));
    bar.finish_and_clear();
    let location = location.with_context(|| {
        format!(
            "job {} was not stopped, so nothing was upgraded",
            args.job_id
        )
    })?;
    if format != OutputFormat::Json {
        eprintln!("job {} stopped with a savepoint at {location}", args.job_id);
    }
    let prepared = PreparedJob {
        run: RunRequest {
            savepoint_path: Some(location.clone()),
            ..prepared.run
        },
        ..prepared
    };
    let started = runtime
        .block_on(start(&client, prepared, args.job.timeout, format))
        .with_context(|| {
            format!(
                "the new version did not start; the old job's state is in {location}: \
                 fix the job and run `advisor submit flink ... --from-savepoint {location}`"
            )
        })?;
    print_started(&started, &endpoint, format)
}
