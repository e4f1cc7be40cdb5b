//! A Flink REST client for what `advisor submit flink` and `advisor flink` do: upload a jar
//! and run it (detached), list jobs, stop one with a savepoint, start one from a savepoint.
//! SQL runs through the SQL runner jar embedded in advisor (flink-sql-runner/ in the repo).

use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;
use serde_json::{json, Value};

use super::split::Piece;

/// The SQL runner job: built by scripts/build-flink-sql-runner from flink-sql-runner/src.
pub const SQL_RUNNER_JAR: &[u8] = include_bytes!("../../data/flink-sql-runner.jar");
pub const SQL_RUNNER_CLASS: &str = "advisor.flink.SqlRunner";
pub const SQL_RUNNER_FILE_NAME: &str = "advisor-flink-sql-runner.jar";

#[derive(Debug, thiserror::Error)]
pub enum FlinkError {
    #[error("cannot reach Flink at {endpoint}: {message}")]
    Unreachable { endpoint: String, message: String },
    #[error("Flink refused {what}: {message}")]
    Refused { what: String, message: String },
    #[error("job {job_id} {state}: {message}")]
    JobFailed {
        job_id: String,
        state: String,
        message: String,
    },
    #[error("{what} did not finish within {waited:?} (last state {state})")]
    Timeout {
        what: String,
        waited: Duration,
        state: String,
    },
    #[error("Flink answered {what} with an unexpected body: {body}")]
    Unexpected { what: String, body: String },
}

/// What to start: a jar's entry class with its arguments, where the job starts from.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub entry_class: Option<String>,
    pub program_args: Vec<String>,
    pub parallelism: Option<u32>,
    pub savepoint_path: Option<String>,
    pub allow_non_restored_state: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JobSummary {
    pub id: String,
    pub name: String,
    pub state: String,
    /// Milliseconds since the epoch, as Flink reports it.
    pub start_time: i64,
    pub duration_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub name: String,
    pub state: String,
    pub all_tasks_running: bool,
}

pub struct Client {
    endpoint: String,
    http: reqwest::Client,
}

/// The statements of a SQL file as the runner's arguments: `LINE:BASE64(statement)`.
/// `EXECUTE STATEMENT SET BEGIN` / `BEGIN STATEMENT SET;` and their `END;` only group
/// INSERTs, which the runner does for the whole file anyway, so they are dropped here; a
/// `pipeline.name` names the job after the file unless the file sets one.
pub fn sql_runner_args(pieces: &[Piece], job_name: &str) -> Vec<String> {
    let encode = |line: usize, text: &str| {
        format!(
            "{line}:{}",
            base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
        )
    };
    let mut args = Vec::new();
    let names_itself = pieces
        .iter()
        .any(|p| normalized(&strip_comments(&p.text)).contains("'PIPELINE.NAME'"));
    if !names_itself {
        args.push(encode(
            0,
            &format!("SET 'pipeline.name' = '{}'", job_name.replace('\'', "''")),
        ));
    }
    for piece in pieces {
        let text = strip_comments(&piece.text);
        let upper = normalized(&text);
        if upper == "END" || upper == "BEGIN STATEMENT SET" {
            continue;
        }
        let (body, line) = if upper.starts_with("EXECUTE STATEMENT SET BEGIN ") {
            // The first INSERT shares the piece; its own line is after the words dropped.
            let rest = skip_words(&text, 4);
            let dropped = &text[..text.len() - rest.len()];
            let inner = rest.trim_start();
            let blank_lines = rest[..rest.len() - inner.len()].matches('\n').count();
            (
                inner.to_string(),
                piece.line + dropped.trim_start().matches('\n').count() + blank_lines,
            )
        } else {
            (text, piece.line)
        };
        args.push(encode(line, body.trim()));
    }
    args
}

/// Upper case, one space between words, no trailing `;` (of text without comments).
fn normalized(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(';')
        .trim()
        .to_uppercase()
}

/// Drops `--` comments that start a line (the splitter keeps comments inside a piece).
fn strip_comments(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What follows the first `words` words of `text`.
fn skip_words(text: &str, words: usize) -> &str {
    let mut rest = text.trim_start();
    for _ in 0..words {
        rest = rest
            .trim_start()
            .split_once(char::is_whitespace)
            .map_or("", |(_, after)| after);
    }
    rest
}

/// The useful part of Flink's `{"errors": [...]}`. When a job's main method threw, its own
/// message is the answer (for the SQL runner: the statement's line and Flink's reason);
/// otherwise the first line of each error and the "Caused by:" lines, without the frames.
pub fn error_message(body: &str) -> String {
    const MAIN_THREW: &str = "The main method caused an error: ";
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let Some(errors) = parsed["errors"].as_array() else {
        return body.trim().to_string();
    };
    let errors: Vec<&str> = errors.iter().filter_map(Value::as_str).collect();
    let causes = || {
        errors.iter().flat_map(|error| {
            error
                .lines()
                .filter_map(|l| l.trim().strip_prefix("Caused by: "))
        })
    };
    if let Some(thrown) = causes().find_map(|cause| {
        cause
            .find(MAIN_THREW)
            .map(|at| cause[at + MAIN_THREW.len()..].to_string())
    }) {
        return thrown;
    }
    let mut lines: Vec<String> = Vec::new();
    for error in &errors {
        let first = error.lines().next().unwrap_or("").trim();
        if !first.is_empty() && !first.starts_with("<Exception on server side") {
            lines.push(first.to_string());
        }
        lines.extend(
            error
                .lines()
                .filter_map(|l| l.trim().strip_prefix("Caused by: "))
                .map(str::to_string),
        );
    }
    lines.dedup();
    if lines.is_empty() {
        body.trim().to_string()
    } else {
        lines.join("\n  ")
    }
}

/// The innermost "Caused by:" of a Java stack trace, where the reason usually is.
fn deepest_cause(trace: &str) -> Option<&str> {
    trace
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("Caused by: "))
}

impl Client {
    pub fn new(endpoint: &str) -> Client {
        Client {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn unreachable(&self, e: reqwest::Error) -> FlinkError {
        FlinkError::Unreachable {
            endpoint: self.endpoint.clone(),
            message: e.to_string(),
        }
    }

    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, FlinkError> {
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| self.unreachable(e))?;
        if !status.is_success() {
            return Err(FlinkError::Refused {
                what: what.to_string(),
                message: format!("{} ({status})", error_message(&body)),
            });
        }
        if body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body).map_err(|_| FlinkError::Unexpected {
            what: what.to_string(),
            body,
        })
    }

    async fn get(&self, path: &str) -> Result<Value, FlinkError> {
        self.send(
            &format!("GET {path}"),
            self.http.get(format!("{}{path}", self.endpoint)),
        )
        .await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, FlinkError> {
        self.send(
            &format!("POST {path}"),
            self.http
                .post(format!("{}{path}", self.endpoint))
                .json(&body),
        )
        .await
    }

    /// The cluster's version, to check it answers before uploading anything.
    pub async fn version(&self) -> Result<String, FlinkError> {
        let overview = self.get("/overview").await?;
        Ok(overview["flink-version"]
            .as_str()
            .unwrap_or("unknown")
            .to_string())
    }

    /// Uploads a jar and returns its id on the cluster.
    pub async fn upload_jar(&self, file_name: &str, bytes: Vec<u8>) -> Result<String, FlinkError> {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(file_name.to_string())
            .mime_str("application/x-java-archive")
            .map_err(|e| self.unreachable(e))?;
        let form = reqwest::multipart::Form::new().part("jarfile", part);
        let answer = self
            .send(
                "the jar upload",
                self.http
                    .post(format!("{}/jars/upload", self.endpoint))
                    .multipart(form),
            )
            .await?;
        let stored = answer["filename"]
            .as_str()
            .ok_or_else(|| FlinkError::Unexpected {
                what: "the jar upload".into(),
                body: answer.to_string(),
            })?;
        Ok(stored.rsplit('/').next().unwrap_or(stored).to_string())
    }

    /// Runs an uploaded jar; returns the job id. Flink runs the jar's main() to build the
    /// job, so errors in it (bad SQL for the runner) come back here with the server's message.
    pub async fn run_jar(&self, jar_id: &str, run: &RunRequest) -> Result<String, FlinkError> {
        let mut body = json!({ "programArgsList": run.program_args });
        if let Some(class) = &run.entry_class {
            body["entryClass"] = json!(class);
        }
        if let Some(parallelism) = run.parallelism {
            body["parallelism"] = json!(parallelism);
        }
        if let Some(savepoint) = &run.savepoint_path {
            body["savepointPath"] = json!(savepoint);
            body["allowNonRestoredState"] = json!(run.allow_non_restored_state);
        }
        let answer = self
            .send(
                "the job",
                self.http
                    .post(format!("{}/jars/{jar_id}/run", self.endpoint))
                    .json(&body),
            )
            .await?;
        answer["jobid"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| FlinkError::Unexpected {
                what: "the job start".into(),
                body: answer.to_string(),
            })
    }

    /// Removes an uploaded jar; the cluster keeps uploads until told.
    pub async fn delete_jar(&self, jar_id: &str) -> Result<(), FlinkError> {
        self.send(
            &format!("DELETE /jars/{jar_id}"),
            self.http.delete(format!("{}/jars/{jar_id}", self.endpoint)),
        )
        .await
        .map(|_| ())
    }

    pub async fn jobs(&self) -> Result<Vec<JobSummary>, FlinkError> {
        let overview = self.get("/jobs/overview").await?;
        let mut jobs: Vec<JobSummary> = overview["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|job| JobSummary {
                id: job["jid"].as_str().unwrap_or("").to_string(),
                name: job["name"].as_str().unwrap_or("").to_string(),
                state: job["state"].as_str().unwrap_or("").to_string(),
                start_time: job["start-time"].as_i64().unwrap_or(0),
                duration_ms: job["duration"].as_i64().unwrap_or(0),
            })
            .collect();
        jobs.sort_by_key(|job| std::cmp::Reverse(job.start_time));
        Ok(jobs)
    }

    /// A job's name and state, and whether all of its tasks run.
    pub async fn job(&self, job_id: &str) -> Result<JobStatus, FlinkError> {
        let job = self.get(&format!("/jobs/{job_id}")).await?;
        let vertices = job["vertices"].as_array().cloned().unwrap_or_default();
        Ok(JobStatus {
            name: job["name"].as_str().unwrap_or("").to_string(),
            state: job["state"].as_str().unwrap_or("UNKNOWN").to_string(),
            all_tasks_running: !vertices.is_empty()
                && vertices
                    .iter()
                    .all(|v| matches!(v["status"].as_str(), Some("RUNNING" | "FINISHED"))),
        })
    }

    /// The savepoint or checkpoint a job started from, if any.
    pub async fn restored_from(&self, job_id: &str) -> Result<Option<String>, FlinkError> {
        let checkpoints = self.get(&format!("/jobs/{job_id}/checkpoints")).await?;
        Ok(checkpoints["latest"]["restored"]["external_path"]
            .as_str()
            .map(str::to_string))
    }

    /// The root exception of a failed job, as Flink's web UI shows it.
    pub async fn root_exception(&self, job_id: &str) -> String {
        match self.get(&format!("/jobs/{job_id}/exceptions")).await {
            Ok(answer) => answer["exceptionHistory"]["entries"][0]["stacktrace"]
                .as_str()
                .or(answer["root-exception"].as_str())
                .map(|trace| {
                    deepest_cause(trace)
                        .unwrap_or_else(|| trace.lines().next().unwrap_or(""))
                        .to_string()
                })
                .unwrap_or_else(|| "no exception recorded".into()),
            Err(e) => e.to_string(),
        }
    }

    /// Waits until the job and all of its tasks run; a job that fails or ends first is an
    /// error with its root exception.
    pub async fn wait_running(
        &self,
        job_id: &str,
        timeout: Duration,
        progress: &mut dyn FnMut(&str),
    ) -> Result<JobStatus, FlinkError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let job = self.job(job_id).await?;
            progress(&job.state);
            let state = job.state.clone();
            match state.as_str() {
                "RUNNING" if job.all_tasks_running => return Ok(job),
                "FINISHED" => return Ok(job),
                "FAILED" | "CANCELED" | "FAILING" => {
                    return Err(FlinkError::JobFailed {
                        job_id: job_id.to_string(),
                        message: self.root_exception(job_id).await,
                        state,
                    })
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(FlinkError::Timeout {
                    what: format!("starting job {job_id}"),
                    waited: timeout,
                    state,
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Stops a job with a savepoint (Flink's "stop"), waits for it, returns its location.
    /// Without a directory the cluster's `state.savepoints.dir` is used.
    pub async fn stop_with_savepoint(
        &self,
        job_id: &str,
        directory: Option<&str>,
        drain: bool,
        timeout: Duration,
    ) -> Result<String, FlinkError> {
        let mut body = json!({ "drain": drain });
        if let Some(directory) = directory {
            body["targetDirectory"] = json!(directory);
        }
        let answer = self.post(&format!("/jobs/{job_id}/stop"), body).await?;
        let trigger = answer["request-id"]
            .as_str()
            .ok_or_else(|| FlinkError::Unexpected {
                what: "the stop request".into(),
                body: answer.to_string(),
            })?
            .to_string();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self
                .get(&format!("/jobs/{job_id}/savepoints/{trigger}"))
                .await?;
            let state = status["status"]["id"].as_str().unwrap_or("UNKNOWN");
            if state == "COMPLETED" {
                let operation = &status["operation"];
                if let Some(location) = operation["location"].as_str() {
                    return Ok(location.to_string());
                }
                let cause = &operation["failure-cause"];
                let message = cause["stack-trace"]
                    .as_str()
                    .and_then(deepest_cause)
                    .or(cause["class"].as_str())
                    .unwrap_or("no reason given")
                    .to_string();
                return Err(FlinkError::Refused {
                    what: format!("the savepoint of job {job_id}"),
                    message,
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(FlinkError::Timeout {
                    what: format!("the savepoint of job {job_id}"),
                    waited: timeout,
                    state: state.to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Cancels a job without a savepoint.
    pub async fn cancel(&self, job_id: &str) -> Result<(), FlinkError> {
        self.send(
            &format!("cancelling job {job_id}"),
            self.http
                .patch(format!("{}/jobs/{job_id}?mode=cancel", self.endpoint)),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::submit::split::split;

    fn decoded(args: &[String]) -> Vec<(usize, String)> {
        args.iter()
            .map(|arg| {
                let (line, b64) = arg.split_once(':').unwrap();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap();
                (line.parse().unwrap(), String::from_utf8(bytes).unwrap())
            })
            .collect()
    }

    #[test]
    fn runner_arguments_keep_lines_and_drop_statement_set_markers() {
        let sql = "CREATE TABLE a (x INT) WITH ('connector' = 'datagen');\n\
                   -- both inserts become one job\n\
                   EXECUTE STATEMENT SET BEGIN\n\
                   INSERT INTO b SELECT x FROM a;\n\
                   INSERT INTO c SELECT x FROM a WHERE x <> ';';\n\
                   END;\n";
        let args = sql_runner_args(&split(sql).unwrap(), "fraud's job");
        let statements = decoded(&args);
        assert_eq!(
            statements,
            vec![
                (0, "SET 'pipeline.name' = 'fraud''s job'".to_string()),
                (
                    1,
                    "CREATE TABLE a (x INT) WITH ('connector' = 'datagen');".to_string()
                ),
                (4, "INSERT INTO b SELECT x FROM a;".to_string()),
                (
                    5,
                    "INSERT INTO c SELECT x FROM a WHERE x <> ';';".to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_file_that_names_its_job_keeps_the_name() {
        let sql = "SET 'pipeline.name' = 'mine';\nINSERT INTO b SELECT 1;";
        let statements = decoded(&sql_runner_args(&split(sql).unwrap(), "file.sql"));
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0].1, "SET 'pipeline.name' = 'mine';");
    }

    #[test]
    fn flink_errors_show_what_the_main_method_threw_or_the_causes() {
        let thrown = r#"{"errors":["org.apache.flink.runtime.rest.handler.RestHandlerException: Could not execute application.\n\tat x\nCaused by: org.apache.flink.client.program.ProgramInvocationException: The main method caused an error: line 9: SQL parse failed. Encountered \"src\" at line 1, column 32.\nWas expecting one of:\n\tat y\nCaused by: java.lang.IllegalArgumentException: line 9: SQL parse failed.\n"]}"#;
        assert_eq!(
            error_message(thrown),
            "line 9: SQL parse failed. Encountered \"src\" at line 1, column 32."
        );
        let other = r#"{"errors":["org.apache.flink.runtime.rest.NotFoundException: Job 00 not found\n\tat x\nCaused by: org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job (00)\n"]}"#;
        assert_eq!(
            error_message(other),
            "org.apache.flink.runtime.rest.NotFoundException: Job 00 not found\n  org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job (00)"
        );
        assert_eq!(error_message("plain text"), "plain text");
    }
}
