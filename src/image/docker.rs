//! The docker CLI, run as a child process: its output lines go to a progress callback as
//! they come, and its failures become errors that name the cause.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use super::ImageError;

/// How much of a failed command's output an error quotes.
const QUOTED_LINES: usize = 6;

/// One docker invocation: arguments, optional stdin, extra environment.
pub struct Docker<'a> {
    args: Vec<String>,
    stdin: Option<&'a str>,
    env: Vec<(&'static str, &'static str)>,
    /// The registry the command talks to, named by connection and permission errors.
    registry: Option<String>,
}

impl<'a> Docker<'a> {
    pub fn new<I, S>(args: I) -> Docker<'a>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Docker {
            args: args.into_iter().map(Into::into).collect(),
            stdin: None,
            env: Vec::new(),
            registry: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Docker<'a> {
        self.args.push(arg.into());
        self
    }

    pub fn stdin(mut self, text: &'a str) -> Docker<'a> {
        self.stdin = Some(text);
        self
    }

    pub fn env(mut self, name: &'static str, value: &'static str) -> Docker<'a> {
        self.env.push((name, value));
        self
    }

    pub fn registry(mut self, registry: &str) -> Docker<'a> {
        self.registry = Some(registry.to_string());
        self
    }

    /// Runs the command; each line it prints (stdout and stderr) goes to `progress`.
    /// Returns stdout.
    pub fn run(self, progress: &mut dyn FnMut(&str)) -> Result<String, ImageError> {
        let mut child = Command::new(DOCKER)
            .args(&self.args)
            .envs(self.env.iter().copied())
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(ImageError::DockerMissing)?;
        if let (Some(text), Some(mut stdin)) = (self.stdin, child.stdin.take()) {
            // A closed pipe means docker exited early; its status and stderr tell why.
            let _ = stdin.write_all(text.as_bytes());
        }
        let stderr = child.stderr.take();
        let stderr_reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            if let Some(stderr) = stderr {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    lines.push(line);
                }
            }
            lines
        });
        let mut stdout_text = String::new();
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                progress(&line);
                stdout_text.push_str(&line);
                stdout_text.push('\n');
            }
        }
        let stderr_lines = stderr_reader.join().unwrap_or_default();
        for line in &stderr_lines {
            progress(line);
        }
        let status = child.wait().map_err(|source| ImageError::Io {
            doing: format!("wait for docker {}", self.args.join(" ")),
            source,
        })?;
        if status.success() {
            return Ok(stdout_text);
        }
        let output = stdout_text
            .lines()
            .chain(stderr_lines.iter().map(String::as_str))
            .filter(|line| !line.trim().is_empty())
            .collect::<Vec<_>>();
        Err(classify(&self.args, self.registry.as_deref(), &output))
    }
}

/// The docker CLI; DOCKER_HOST and the CLI's own settings say which daemon it talks to.
const DOCKER: &str = "docker";

/// Turns a failed command's output into the error that names its cause.
fn classify(args: &[String], registry: Option<&str>, output: &[&str]) -> ImageError {
    let text = output.join("\n");
    let lower = text.to_lowercase();
    let detail = last_lines(output);
    let registry = registry.unwrap_or("the registry").to_string();
    if lower.contains("permission denied while trying to connect to the docker daemon") {
        ImageError::DockerPermission { detail }
    } else if lower.contains("cannot connect to the docker daemon")
        || lower.contains("is the docker daemon running")
    {
        ImageError::NoDaemon { detail }
    } else if lower.contains("cannot be overwritten because the repository is immutable")
        || lower.contains("tag invalid")
    {
        ImageError::TagRefused { registry, detail }
    } else if lower.contains("connection refused")
        || lower.contains("no such host")
        || lower.contains("i/o timeout")
        || lower.contains("server gave http response to https client")
        || lower.contains("network is unreachable")
    {
        ImageError::RegistryUnreachable { registry, detail }
    } else if lower.contains("denied")
        || lower.contains("unauthorized")
        || lower.contains("authentication required")
        || lower.contains("no basic auth credentials")
    {
        ImageError::RegistryDenied { registry, detail }
    } else {
        ImageError::Docker {
            command: args.first().cloned().unwrap_or_default(),
            detail,
        }
    }
}

fn last_lines(output: &[&str]) -> String {
    let start = output.len().saturating_sub(QUOTED_LINES);
    output[start..].join("; ")
}

/// Whether the docker CLI has BuildKit (the buildx plugin): multi-stage builds that skip
/// the stages their target does not use.
pub fn has_buildkit() -> bool {
    Command::new(DOCKER)
        .args(["buildx", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|status| status.success())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(output: &[&str]) -> String {
        let error = classify(&["push".to_string()], Some("127.0.0.1:5000"), output);
        format!("{error}")
    }

    #[test]
    fn docker_messages_name_their_cause() {
        assert!(kind(&[
            "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?"
        ])
        .starts_with("no Docker daemon"));
        assert!(kind(&["Got permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock"]).contains("may not use the Docker daemon"));
        assert!(kind(&["Get \"http://127.0.0.1:5000/v2/\": dial tcp 127.0.0.1:5000: connect: connection refused"]).contains("127.0.0.1:5000 cannot be reached"));
        assert!(
            kind(&["denied: requested access to the resource is denied"])
                .contains("127.0.0.1:5000 denied")
        );
        assert!(kind(&["tag invalid: The image tag '1' already exists in the 'e' repository and cannot be overwritten because the repository is immutable."]).contains("immutable"));
        assert!(kind(&["something else entirely"]).starts_with("docker push failed"));
    }
}
