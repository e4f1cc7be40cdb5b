//! `advisor-engine serve` guarding its REST API: ksqlDB's BASIC authentication with a
//! password file and roles, bearer tokens, the request body limit, the open /healthcheck,
//! and the listen address. The server runs without Kafka; none of this needs it.

mod common;
// Starts the engine binary, which only the engine's own tests can name.
#[path = "common/server.rs"]
mod server;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use server::{exchange, read_answer, Answer, Server};

const SHOW_STREAMS: &str = r#"{"ksql": "SHOW STREAMS;", "streamsProperties": {}}"#;

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// ksqlDB's documented example users (docs: "Configure Security for ksqlDB"): fred's
/// password is `letmein` obfuscated as Jetty's password tool writes it.
fn password_file(folder: &Path) -> std::path::PathBuf {
    let path = folder.join("password-file");
    std::fs::write(
        &path,
        "# user: password[,role...]\n\
         fred: OBF:1w8t1tvf1w261w8v1w1c1tvn1w8x,user,admin\n\
         harry: changeme,user,developer\n\
         tom: MD5:0d107d09f5bbe40cade3de5c71e9e9b7,user\n",
    )
    .unwrap();
    path
}

fn token_file(folder: &Path) -> std::path::PathBuf {
    let path = folder.join("tokens");
    std::fs::write(&path, "# one a line\ns3cr3t-t0ken\n").unwrap();
    path
}

fn ksql_as(server: &Server, authorization: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = authorization
        .map(|value| ("Authorization", value))
        .into_iter()
        .collect();
    exchange(server.port, "POST", "/ksql", &headers, SHOW_STREAMS)
}

fn get_as(server: &Server, path: &str, authorization: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = authorization
        .map(|value| ("Authorization", value))
        .into_iter()
        .collect();
    exchange(server.port, "GET", path, &headers, "")
}

fn assert_unauthorized(answer: &Answer, challenges: &[&str]) {
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.header("WWW-Authenticate"), challenges);
    assert_eq!(
        answer.json(),
        json!({"@type": "generic_error", "error_code": 40100, "message": "Unauthorized"})
    );
}

#[test]
fn basic_authentication_refuses_missing_and_wrong_credentials_and_leaves_healthcheck_open() {
    let folder = tempfile::tempdir().unwrap();
    let passwords = password_file(folder.path());
    let server = Server::start_with([
        "--auth".as_ref(),
        "basic".as_ref(),
        "--auth-password-file".as_ref(),
        passwords.as_os_str(),
        "--auth-realm".as_ref(),
        "KsqlServer-Props".as_ref(),
        "--auth-roles".as_ref(),
        "admin,user".as_ref(),
        "--auth-skip-paths".as_ref(),
        "/metrics".as_ref(),
    ]);
    let challenge = ["Basic realm=\"KsqlServer-Props\""];

    // No credentials: 401 with the challenge and ksqlDB's body, on every path but the open
    // ones (an unknown path too, so the routes cannot be probed).
    assert_unauthorized(&ksql_as(&server, None), &challenge);
    for path in ["/info", "/nonexistent", "/healthcheck/"] {
        assert_unauthorized(&get_as(&server, path, None), &challenge);
    }
    // Wrong password, unknown user, another scheme, garbage.
    for wrong in [
        basic("harry", "letmein"),
        basic("harry", ""),
        basic("nobody", "changeme"),
        "Bearer s3cr3t-t0ken".to_string(),
        "Basic not-base64!".to_string(),
    ] {
        assert_unauthorized(&ksql_as(&server, Some(&wrong)), &challenge);
    }

    // The right password, plain, OBF: or MD5:, on /ksql and /info.
    for (user, password) in [
        ("harry", "changeme"),
        ("fred", "letmein"),
        ("tom", "letmein"),
    ] {
        let authorization = basic(user, password);
        let answer = ksql_as(&server, Some(&authorization));
        assert_eq!(answer.status, 200, "{user}: {}", answer.body);
        assert_eq!(answer.json()[0]["@type"], "streams");
        let info = get_as(&server, "/info", Some(&authorization));
        assert_eq!(info.status, 200, "{}", info.body);
        assert_eq!(info.json()["KsqlServerInfo"]["version"], "0.29.0");
    }

    // /healthcheck needs no credentials (ksqlDB never asks for them there), nor does a
    // configured skip path; the container health check command reaches it too.
    let health = get_as(&server, "/healthcheck", None);
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json()["isHealthy"], true);
    let metrics = get_as(&server, "/metrics", None);
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    let status = Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{}/healthcheck", server.port),
        ])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_user_without_an_allowed_role_is_forbidden() {
    let folder = tempfile::tempdir().unwrap();
    let passwords = password_file(folder.path());
    let server = Server::start_with([
        "--auth".as_ref(),
        "basic".as_ref(),
        "--auth-password-file".as_ref(),
        passwords.as_os_str(),
        "--auth-roles".as_ref(),
        "admin".as_ref(),
    ]);
    let answer = ksql_as(&server, Some(&basic("harry", "changeme")));
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.header("WWW-Authenticate").is_empty());
    assert_eq!(
        answer.json(),
        json!({"@type": "generic_error", "error_code": 40300, "message": "Forbidden"})
    );
    let answer = ksql_as(&server, Some(&basic("fred", "letmein")));
    assert_eq!(answer.status, 200, "{}", answer.body);
    // The default realm.
    assert_eq!(
        ksql_as(&server, None).header("WWW-Authenticate"),
        ["Basic realm=\"advisor-engine\""]
    );
}

/// ENGINE_AUTH=basic,bearer with both files from ENGINE_* variables, as a container gets
/// them: either credential works, and a 401 offers both schemes.
#[test]
fn bearer_tokens_are_taken_beside_basic_credentials() {
    let folder = tempfile::tempdir().unwrap();
    let passwords = password_file(folder.path());
    let tokens = token_file(folder.path());
    let server = Server::start_with_env(
        std::iter::empty::<&str>(),
        [
            ("ENGINE_AUTH", "basic,bearer".as_ref()),
            ("ENGINE_AUTH_PASSWORD_FILE", passwords.as_os_str()),
            ("ENGINE_AUTH_TOKEN_FILE", tokens.as_os_str()),
        ],
    );
    let answer = ksql_as(&server, Some("Bearer s3cr3t-t0ken"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = get_as(&server, "/info", Some("Bearer s3cr3t-t0ken"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = ksql_as(&server, Some(&basic("harry", "changeme")));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let challenges = [
        "Basic realm=\"advisor-engine\"",
        "Bearer realm=\"advisor-engine\"",
    ];
    for wrong in [None, Some("Bearer s3cr3t-t0ken-2"), Some("Bearer ")] {
        assert_unauthorized(&ksql_as(&server, wrong), &challenges);
    }
}

/// engine.toml's max_request_bytes and [auth]: a body over the limit is refused with 413
/// and ksqlDB's error shape, whether announced by Content-Length or streamed in chunks;
/// credentials are checked first.
#[test]
fn bodies_over_the_configured_limit_get_413() {
    let folder = tempfile::tempdir().unwrap();
    let tokens = token_file(folder.path());
    let config = folder.path().join("engine.toml");
    std::fs::write(
        &config,
        format!(
            "max_request_bytes = 1024\n[auth]\nmethod = \"bearer\"\ntoken_file = {:?}\n",
            tokens.display().to_string()
        ),
    )
    .unwrap();
    let server = Server::start_with(["--config".as_ref(), config.as_os_str()]);
    let token = [("Authorization", "Bearer s3cr3t-t0ken")];
    let big = json!({"ksql": format!("SHOW STREAMS;{}", " ".repeat(2000))}).to_string();
    let small = json!({"ksql": format!("SHOW STREAMS;{}", " ".repeat(900))}).to_string();

    let answer = exchange(server.port, "POST", "/ksql", &token, &small);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = exchange(server.port, "POST", "/ksql", &token, &big);
    assert_too_large(&answer, 1024);
    // Without credentials, the answer is 401 whatever the body.
    let answer = exchange(server.port, "POST", "/ksql", &[], &big);
    assert_eq!(answer.status, 401, "{}", answer.body);

    // Chunked, without a Content-Length: cut off once past the limit.
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(
        stream,
        "POST /ksql HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer s3cr3t-t0ken\r\n\
         Content-Type: application/vnd.ksql.v1+json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    // The server may answer, and close, before the last chunks are written.
    for chunk in big.as_bytes().chunks(500) {
        let _ = write!(stream, "{:x}\r\n", chunk.len());
        let _ = stream.write_all(chunk);
        let _ = write!(stream, "\r\n");
    }
    let _ = write!(stream, "0\r\n\r\n");
    assert_too_large(&read_answer(&mut stream), 1024);
}

fn assert_too_large(answer: &Answer, limit: usize) {
    assert_eq!(answer.status, 413, "{}", answer.body);
    let body = answer.json();
    assert_eq!(body["@type"], "generic_error");
    assert_eq!(body["error_code"], 41300);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains(&format!("limit of {limit} bytes")),
        "{body}"
    );
}

/// By default a body may be 10 MiB: 3 MiB passes (axum's own default would refuse it), a
/// body announced one byte over 10 MiB is refused before it is sent.
#[test]
fn the_default_limit_is_ten_mebibytes() {
    let server = Server::start_with(std::iter::empty::<&str>());
    let three_mib = json!({"ksql": format!("SHOW STREAMS;{}", " ".repeat(3 << 20))}).to_string();
    let answer = exchange(server.port, "POST", "/ksql", &[], &three_mib);
    assert_eq!(answer.status, 200, "{}", answer.body);

    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(
        stream,
        "POST /ksql HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/vnd.ksql.v1+json\r\n\
         Content-Length: {}\r\n\r\n{{\"ksql\": \"",
        (10 << 20) + 1
    )
    .unwrap();
    assert_too_large(&read_answer(&mut stream), 10 << 20);
}

/// Settings that would leave the API open by mistake, or cannot work, stop the server at
/// start with the reason.
#[test]
fn inconsistent_authentication_settings_stop_the_server() {
    let folder = tempfile::tempdir().unwrap();
    let passwords = password_file(folder.path());
    let missing = folder.path().join("missing");
    let cases: [(&[&std::ffi::OsStr], &str); 4] = [
        (
            &["--auth-password-file".as_ref(), passwords.as_os_str()],
            "a password file is set but authentication is off",
        ),
        (
            &["--auth".as_ref(), "basic".as_ref()],
            "basic authentication needs a password file",
        ),
        (
            &["--auth".as_ref(), "digest".as_ref()],
            "is not an authentication method",
        ),
        (
            &[
                "--auth".as_ref(),
                "basic".as_ref(),
                "--auth-password-file".as_ref(),
                missing.as_os_str(),
            ],
            "cannot read",
        ),
    ];
    for (args, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} started");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// --listen takes IPv6 addresses as well: [::1] is served and 127.0.0.1 is not.
#[test]
fn serve_listens_on_an_ipv6_address() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        panic!("this machine has no IPv6 loopback; the test needs one");
    }
    let port = common::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .args(["serve", "--listen", &format!("[::1]:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stream = loop {
        if let Ok(stream) = TcpStream::connect(("::1", port)) {
            break stream;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "serve exited before listening"
        );
        assert!(Instant::now() < deadline, "serve did not listen on [::1]");
        std::thread::sleep(Duration::from_millis(50));
    };
    write!(stream, "GET /healthcheck HTTP/1.0\r\nHost: [::1]\r\n\r\n").unwrap();
    let answer = read_answer(&mut stream);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    let status = Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .args([
            "healthcheck",
            "--url",
            &format!("http://[::1]:{port}/healthcheck"),
        ])
        .status()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(status.success(), "advisor-engine healthcheck reaches [::1]");
}

/// The PyPI client ksql-python-ng (in the cache's virtualenv, as for tests/rest.rs) sends
/// its api_key and secret as basic credentials: it works with the right ones over HTTP/1.1
/// and HTTP/2 and reports ksqlDB's 40100 with a wrong or no password.
#[test]
fn the_ksql_python_ng_client_authenticates_with_basic_credentials() {
    let folder = tempfile::tempdir().unwrap();
    let passwords = password_file(folder.path());
    let server = Server::start_with([
        "--auth".as_ref(),
        "basic".as_ref(),
        "--auth-password-file".as_ref(),
        passwords.as_os_str(),
    ]);
    let python = common::cached_tool("venv/bin/python", "python3");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/ksql_python_ng_auth.py"
    );
    let output = Command::new(python)
        .arg(script)
        .arg(format!("http://127.0.0.1:{}", server.port))
        .args(["harry", "changeme"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let observed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(observed["version"], "0.29.0");
    assert_eq!(observed["created"], "Stream created");
    assert_eq!(observed["streams"], json!(["VISITS"]));
    let http2 = observed["http2"].as_str().unwrap();
    assert!(http2.starts_with("HTTP error encountered: 400"), "{http2}");
    let refused = json!({"message": "Unauthorized", "error_code": 40100});
    assert_eq!(observed["wrong_password"], refused);
    assert_eq!(observed["no_credentials"], refused);
}

/// `serve --help` names the flags, their ENGINE_* variables and what a refusal looks like.
#[test]
fn serve_help_documents_authentication_and_the_limits() {
    let output = Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "--auth <METHOD>",
        "ENGINE_AUTH=",
        "--auth-password-file <FILE>",
        "ENGINE_AUTH_PASSWORD_FILE=",
        "--auth-token-file <FILE>",
        "--auth-roles <ROLE,...>",
        "--auth-skip-paths <PATH,...>",
        "--max-request-bytes <BYTES>",
        "ENGINE_MAX_REQUEST_BYTES=",
        "[::]:8088",
        "40100",
        "/healthcheck never needs credentials",
    ] {
        assert!(help.contains(expected), "{expected} is not in:\n{help}");
    }
}
