//! Helpers shared by the integration tests: they run the real `advisor` binary.
#![allow(dead_code)]

use std::path::Path;

use assert_cmd::Command;

pub fn advisor() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_advisor"));
    command.env_remove("ADVISOR_LOG").env_remove("RUST_LOG");
    command
}

/// Runs `advisor <args> --output json --no-input` and returns the parsed document.
pub fn json(args: &[&str]) -> serde_json::Value {
    let output = advisor()
        .args(args)
        .args(["--output", "json"])
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

/// A tool scripts/test installs under the cache folder (ADVISOR_CACHE, else
/// ~/.cache/advisor), or the same name from PATH.
pub fn cached_tool(relative: &str, name: &str) -> std::path::PathBuf {
    std::env::var_os("ADVISOR_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/advisor")))
        .map(|cache| cache.join(relative))
        .filter(|path| path.exists())
        .unwrap_or_else(|| std::path::PathBuf::from(name))
}
