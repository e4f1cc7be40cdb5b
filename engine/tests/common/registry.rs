//! A real Confluent-compatible Schema Registry (rivven-schema, in-memory) on a free
//! loopback port, and the Python client that writes and reads Avro through it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::process::{cached_tool, free_port, wait_until_listening};

pub struct Registry {
    child: Child,
    pub port: u16,
}

impl Registry {
    pub fn start() -> Registry {
        let port = free_port();
        let mut child = Command::new(cached_tool(
            "rivven-schema/bin/rivven-schema",
            "rivven-schema",
        ))
        .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--log-level", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rivven-schema starts: scripts/test installs it into the cache folder");
        wait_until_listening(&mut child, port, "rivven-schema", Duration::from_secs(30));
        Registry { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends the registry a signal: STOP freezes it (an outage that keeps its schemas),
    /// CONT resumes it.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Python of the venv that holds confluent-kafka's Avro serializer.
pub fn python() -> PathBuf {
    cached_tool("avro-venv/bin/python", "python3")
}

fn client() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/avro_client.py")
}

/// Runs the Python client with `stdin`; its standard output.
pub fn python_client(args: &[&str], stdin: &str) -> String {
    python_client_with_env(args, stdin, &[])
}

/// As [`python_client`], with these environment variables set (AVRO_CLIENT_USER_INFO and
/// AVRO_CLIENT_CA for a registry behind basic auth and TLS).
pub fn python_client_with_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> String {
    let mut child = Command::new(python())
        .arg(client())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the avro venv's python runs: scripts/test installs it");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "avro_client.py {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs the queries of `sql` with the engine binary at `engine` (the engine's tests pass
/// `env!("CARGO_BIN_EXE_advisor-engine")`; the workspace's tests share this module and have
/// no such variable) on the broker at `bootstrap` and the registry
/// at `registry` until its topics stay quiet for 3 s, its dead letters to `<group>-dead`,
/// its state in `state` (a later run with the same group and state picks up where this one
/// left).
pub fn run_avro_engine(
    engine: &str,
    bootstrap: &str,
    registry: &str,
    sql: &str,
    group: &str,
    state: &Path,
) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.sql"), sql).unwrap();
    assert_cmd::Command::new(engine)
        .current_dir(dir.path())
        .args(["run", "--sql", "q.sql", "--bootstrap-servers", bootstrap])
        .args(["--schema-registry-url", registry, "--group-id", group])
        .args(["--dead-letter-topic", &format!("{group}-dead")])
        .arg("--state-dir")
        .arg(state)
        .args(["--stop-when-idle", "3s"])
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
}

/// The tutorial's order events as an application writes them: its own record name,
/// lower-case fields that are not nullable, and a field the stream does not declare.
pub fn order_schema() -> Value {
    serde_json::json!({"type": "record", "name": "OrderEvent", "namespace": "shop", "fields": [
        {"name": "order_id", "type": "long"},
        {"name": "customer_id", "type": "string"},
        {"name": "order_status", "type": "string"},
        {"name": "order_total", "type": "double"},
        {"name": "created_at", "type": "long"},
        {"name": "channel", "type": "string"}
    ]})
}

/// Produces a job's records through the Python AvroSerializer.
pub fn produce_avro(bootstrap: &str, registry: &str, topic: &str, job: &Value) {
    python_client(&["produce", bootstrap, registry, topic], &job.to_string());
}

/// The records of a topic as the Python AvroDeserializer reads them.
pub fn consume_avro(bootstrap: &str, registry: &str, topic: &str, at_least: usize) -> Vec<Value> {
    python_client(
        &["consume", bootstrap, registry, topic, &at_least.to_string()],
        "",
    )
    .lines()
    .map(|line| serde_json::from_str(line).unwrap())
    .collect()
}

/// A subject's latest schema as the registry holds it, parsed.
pub fn latest_schema(registry: &str, subject: &str) -> Value {
    let url = format!("{registry}/subjects/{subject}/versions/latest");
    let out = Command::new(python())
        .args([
            "-c",
            "import sys, json, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())",
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    serde_json::from_str(answer["schema"].as_str().unwrap()).unwrap()
}
