#[path = "common/process.rs"]
mod process;

use assert_cmd::Command;

#[test]
fn prints_its_version_and_help() {
    Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .arg("--version")
        .assert()
        .success()
        .stdout(predicates::str::contains(env!("CARGO_PKG_VERSION")));
    Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains("ksqlDB-dialect SQL"));
}

#[test]
fn serve_reads_engine_toml_and_flags_override_it() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let port = process::free_port();
    let other = process::free_port();
    std::fs::write(
        dir.path().join("q.sql"),
        "CREATE STREAM s (a BIGINT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("engine.toml"),
        format!(
            "listen = \"127.0.0.1:{other}\"\nsql = \"q.sql\"\n[kafka]\ngroup_id = \"from-file\"\n"
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args([
            "serve",
            "--config",
            "engine.toml",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    process::wait_until_listening(
        &mut child,
        port,
        "advisor-engine (the --listen flag was not used)",
        std::time::Duration::from_secs(20),
    );
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = r#"{"ksql": "SHOW STREAMS;"}"#;
    write!(
        stream,
        "POST /ksql HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        response.contains("\"name\":\"S\""),
        "the file's sql ran: {response}"
    );

    std::fs::write(
        dir.path().join("bad.toml"),
        "listen = \"127.0.0.1:1\"\ncolour = 3\n",
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args(["serve", "--config", "bad.toml"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("bad.toml is not valid"))
        .stderr(predicates::str::contains("line 2"));
}

/// ENGINE_KAFKA_<NAME> variables reach the Kafka client (ECS passes the stack's SASL
/// settings and secrets this way): librdkafka itself refuses the bad value, naming the
/// setting the variable became, and a --kafka-config flag overrides the variable.
#[test]
fn engine_kafka_variables_are_kafka_client_settings() {
    let sql = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/orders.sql");
    let state = tempfile::tempdir().unwrap();
    let run = |extra: &[&str], timeout: u64| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_advisor-engine"));
        command
            .args(["run", "--sql", sql, "--bootstrap-servers", "127.0.0.1:1"])
            .args(["--stop-when-idle", "1s"])
            .arg("--state-dir")
            .arg(state.path())
            .args(extra)
            .env("ENGINE_KAFKA_SECURITY_PROTOCOL", "not-a-protocol")
            .timeout(std::time::Duration::from_secs(timeout));
        command.assert()
    };
    run(&[], 60)
        .failure()
        .stderr(predicates::str::contains("security.protocol"))
        .stderr(predicates::str::contains("not-a-protocol"));
    // With no broker at 127.0.0.1:1 this run waits for one; only its start matters here.
    let overridden = run(&["--kafka-config", "security.protocol=plaintext"], 10);
    let output = overridden.get_output();
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("not-a-protocol"),
        "the flag overrides the variable: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
