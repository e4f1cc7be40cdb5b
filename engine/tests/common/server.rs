//! `advisor-engine serve` as a child process on a free loopback port, and plain HTTP/1.0
//! exchanges with it (HTTP/1.0 keeps streamed bodies unchunked).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::Tansu;

pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    /// Serves on Kafka (tansu), with its state in `state`.
    pub fn start(tansu: &Tansu, state: &std::path::Path) -> Server {
        Server::start_with([
            OsStr::new("--bootstrap-servers"),
            OsStr::new(&tansu.bootstrap),
            OsStr::new("--group-id"),
            OsStr::new("rest-app"),
            OsStr::new("--state-dir"),
            state.as_os_str(),
        ])
    }

    /// `serve --listen 127.0.0.1:PORT` with these further arguments (none: no Kafka).
    pub fn start_with<I, S>(args: I) -> Server
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Server::start_with_env(args, std::iter::empty::<(&str, &str)>())
    }

    /// As [`Server::start_with`], with these environment variables (ENGINE_*) set too.
    pub fn start_with_env<I, S, E, K, V>(args: I, env: E) -> Server
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
        E: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let port = crate::common::free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        crate::common::wait_until_listening(
            &mut child,
            port,
            "advisor-engine",
            Duration::from_secs(20),
        );
        Server { child, port }
    }

    /// The server process's id, to read its memory from /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server as ECS stops a task, with SIGTERM, and waits for it to exit.
    pub fn stop(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(exit)) = self.child.try_wait() {
                assert!(exit.success(), "serve exits cleanly on SIGTERM: {exit}");
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "serve did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A plain HTTP exchange: (status, body).
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
        request(self.port, method, path, body)
    }

    pub fn ksql(&self, statements: &str) -> (u16, Value) {
        let (status, body) = self.request(
            "POST",
            "/ksql",
            Some(&json!({"ksql": statements, "streamsProperties": {}})),
        );
        (
            status,
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One answer: its status, its header lines and its body.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    /// Every value of one header, in order.
    pub fn header(&self, name: &str) -> Vec<String> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .filter(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().to_string())
            .collect()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

pub fn request(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    raw_request(port, method, path, &payload)
}

pub fn raw_request(port: u16, method: &str, path: &str, payload: &str) -> (u16, String) {
    let answer = exchange(port, method, path, &[], payload);
    (answer.status, answer.body)
}

/// An HTTP/1.0 request with extra header lines (`Authorization: ...`) and the answer.
pub fn exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    payload: &str,
) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/vnd.ksql.v1+json\r\n{extra}Content-Length: {}\r\n\r\n{payload}",
        payload.len()
    )
    .unwrap();
    read_answer(&mut stream)
}

/// Reads an answer until the server closes the connection. A server that answers before
/// reading the whole request (a body over its limit) may reset the connection after its
/// answer; what arrived before the reset is the answer.
pub fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !bytes.is_empty() => break,
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
    let response = String::from_utf8(bytes).expect("a UTF-8 answer");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .map(|(h, b)| (h.to_string(), b.to_string()))
        .unwrap_or((response.clone(), String::new()));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {response:?}"));
    Answer { status, head, body }
}
