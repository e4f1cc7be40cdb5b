//! Starting real servers for tests: cached tools, loopback ports, waiting for a listener.
//! The advisor crate's tests include this file too (`#[path]`), so both share one copy.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A tool scripts/test installs under the cache folder (ADVISOR_CACHE, else
/// ~/.cache/advisor), or the same name from PATH.
pub fn cached_tool(relative: &str, name: &str) -> PathBuf {
    std::env::var_os("ADVISOR_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/advisor")))
        .map(|cache| cache.join(relative))
        .filter(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// A free loopback port that no other test in this process has been given. The kernel
/// hands a port released by one test straight to the next one that asks, so two tests
/// running side by side could otherwise both pick it, and one would talk to the other's
/// server (or find a port it meant to be closed answering).
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free loopback port");
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// Waits until `child` accepts connections on `port`. Panics, naming `what`, when the
/// child exits first (so a listener found belongs to this child, not to a stranger) or
/// when `timeout` passes.
pub fn wait_until_listening(child: &mut Child, port: u16, what: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited ({status}) before listening on port {port}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a child process writes to a pipe, read on a thread as it comes, so a test can wait
/// for a line while the process runs.
pub struct Lines {
    text: std::sync::Arc<Mutex<String>>,
    ended: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

pub fn follow_lines(pipe: impl std::io::Read + Send + 'static) -> Lines {
    use std::io::BufRead;
    let text = std::sync::Arc::new(Mutex::new(String::new()));
    let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (into, done) = (text.clone(), ended.clone());
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let mut text = into.lock().unwrap_or_else(|e| e.into_inner());
            text.push_str(&line);
            text.push('\n');
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    Lines { text, ended }
}

impl Lines {
    fn snapshot(&self) -> String {
        self.text.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until a line containing `needle` has come; panics with what came otherwise.
    pub fn wait_for(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.snapshot().contains(needle) {
            assert!(
                Instant::now() < deadline && !self.ended.load(std::sync::atomic::Ordering::SeqCst),
                "no line with {needle:?} within {timeout:?}:\n{}",
                self.snapshot()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many lines so far contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.snapshot()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits until more than `seen` lines contain `needle`.
    pub fn wait_for_more(&self, needle: &str, seen: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.count(needle) <= seen {
            assert!(
                Instant::now() < deadline,
                "no new line with {needle:?} within {timeout:?}:\n{}",
                self.snapshot()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything written, once the pipe has closed (the process ended).
    pub fn text(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.ended.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.snapshot()
    }
}
