//! Helpers shared by the integration tests: they run the real `advisor` binary.
#![allow(dead_code)]

#[path = "../../engine/tests/common/process.rs"]
pub mod process;

#[allow(unused_imports)]
pub use process::{cached_tool, free_port, wait_until_listening};

use std::path::Path;

use assert_cmd::Command;

pub fn advisor() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_advisor"));
    command.env_remove("ADVISOR_LOG").env_remove("RUST_LOG");
    command
}

/// Runs `advisor <args> --output json --no-input` and returns the parsed document.
pub fn json(args: &[&str]) -> serde_json::Value {
    json_with_env(args, &[])
}

/// [`json`] with extra environment variables (an AWS endpoint, DOCKER_HOST).
pub fn json_with_env(args: &[&str], env: &[(&str, String)]) -> serde_json::Value {
    let output = advisor()
        .args(args)
        .args(["--output", "json"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .timeout(std::time::Duration::from_secs(600))
        .output()
        .expect("advisor runs");
    assert!(
        output.status.success(),
        "advisor {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

pub fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}
