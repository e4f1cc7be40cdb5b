//! `advisor submit flink` and `advisor flink jobs|stop|upgrade` against a real local Flink
//! 2.3 cluster from the PyPI apache-flink package (scripts/test installs it), started in
//! the foreground with its own configuration, ports and folders.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{advisor, free_port, wait_until_listening, write};
use predicates::prelude::*;
use serde_json::Value;

fn flink_home() -> PathBuf {
    if let Some(home) = std::env::var_os("FLINK_HOME").map(PathBuf::from) {
        if home.join("bin/jobmanager.sh").exists() {
            return home;
        }
    }
    let venv_lib = common::cached_tool("flink-venv/lib", "flink-venv-is-missing");
    std::fs::read_dir(&venv_lib)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|python| python.path().join("site-packages/pyflink"))
        .find(|home| home.join("bin/jobmanager.sh").exists())
        .unwrap_or_else(|| {
            panic!(
                "no Flink: set FLINK_HOME or run scripts/test, which installs apache-flink into {}",
                venv_lib.display()
            )
        })
}

/// The JVM options Flink's own config.yaml gives every process (Java 17 module opens).
fn java_opts(home: &Path) -> String {
    let config = std::fs::read_to_string(home.join("conf/config.yaml")).unwrap();
    config
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("all:")
                .filter(|opts| opts.contains("--add-opens"))
        })
        .map(|opts| opts.trim().to_string())
        .unwrap_or_default()
}

struct Flink {
    jobmanager: Child,
    taskmanager: Child,
    rest_port: u16,
    endpoint: String,
    dir: tempfile::TempDir,
}

impl Flink {
    fn start() -> Flink {
        let home = flink_home();
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        let logs = dir.path().join("log");
        for folder in [&conf, &logs, &dir.path().join("savepoints")] {
            std::fs::create_dir_all(folder).unwrap();
        }
        std::fs::copy(
            home.join("conf/log4j-console.properties"),
            conf.join("log4j-console.properties"),
        )
        .unwrap();
        let rest_port = free_port();
        let rpc_port = free_port();
        let base = dir.path().display();
        let config = format!(
            "env.java.opts.all: {opts}
jobmanager.rpc.address: localhost
jobmanager.rpc.port: {rpc_port}
jobmanager.bind-host: localhost
jobmanager.memory.process.size: 1024m
taskmanager.bind-host: localhost
taskmanager.host: localhost
taskmanager.memory.process.size: 1280m
taskmanager.numberOfTaskSlots: 4
parallelism.default: 1
rest.address: localhost
rest.bind-address: localhost
rest.port: {rest_port}
web.tmpdir: {base}/web
io.tmp.dirs: {base}/tmp
state.savepoints.dir: file://{base}/savepoints
execution.checkpointing.dir: file://{base}/checkpoints
",
            opts = java_opts(&home)
        );
        std::fs::write(conf.join("config.yaml"), config).unwrap();
        let process = |script: &str, name: &str| {
            Command::new(home.join("bin").join(script))
                .arg("start-foreground")
                .env("FLINK_CONF_DIR", &conf)
                .env("FLINK_LOG_DIR", &logs)
                .env("FLINK_PID_DIR", dir.path())
                .stdout(std::fs::File::create(logs.join(format!("{name}.out"))).unwrap())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{script} does not start: {e}"))
        };
        let mut jobmanager = process("jobmanager.sh", "jobmanager");
        let taskmanager = process("taskmanager.sh", "taskmanager");
        wait_until_listening(
            &mut jobmanager,
            rest_port,
            "Flink's JobManager",
            Duration::from_secs(120),
        );
        let mut flink = Flink {
            jobmanager,
            taskmanager,
            rest_port,
            endpoint: format!("http://127.0.0.1:{rest_port}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while flink.get("/overview")["taskmanagers"].as_i64().unwrap_or(0) < 1 {
            if let Ok(Some(status)) = flink.taskmanager.try_wait() {
                panic!("Flink's TaskManager exited ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "no TaskManager registered within 2 minutes"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        flink
    }

    fn get(&self, path: &str) -> Value {
        let mut stream = TcpStream::connect(("127.0.0.1", self.rest_port)).unwrap();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
        serde_json::from_str(body).unwrap_or(Value::Null)
    }

    fn state(&self, job_id: &str) -> String {
        self.get(&format!("/jobs/{job_id}"))["state"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn wait_for_state(&self, job_id: &str, wanted: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let state = self.state(job_id);
            if state == wanted {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "job {job_id} is {state}, not {wanted}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Runs advisor with `--output json` and this cluster's endpoint (unless `args` has one).
    fn advisor(&self, args: &[&str]) -> Value {
        let mut command = advisor();
        command.args(["--output", "json"]).args(args);
        if !args.contains(&"--endpoint") {
            command.args(["--endpoint", &self.endpoint]);
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "advisor {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("stdout is JSON")
    }
}

impl Drop for Flink {
    fn drop(&mut self) {
        for child in [&mut self.taskmanager, &mut self.jobmanager] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

const STREAM_SQL: &str = "-- a streaming job from connectors that ship with Flink
CREATE TABLE numbers (n BIGINT, label STRING)
  WITH ('connector' = 'datagen', 'rows-per-second' = '5', 'fields.label.length' = '4');
CREATE TABLE sink (n BIGINT, label STRING) WITH ('connector' = 'blackhole');
INSERT INTO sink SELECT n, label FROM numbers WHERE label <> ';';
";

/// Builds the test job of tests/fixtures/flink with the machine's javac against Flink's lib/.
fn sequence_jar(dir: &Path) -> PathBuf {
    let classes = dir.join("classes");
    std::fs::create_dir_all(&classes).unwrap();
    let classpath = format!("{}/lib/*", flink_home().display());
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flink/Sequence.java");
    let status = Command::new("javac")
        .args(["-nowarn", "--release", "11", "-cp", &classpath, "-d"])
        .arg(&classes)
        .arg(&source)
        .status()
        .expect("javac runs (a JDK is on the machine)");
    assert!(status.success(), "javac failed on {}", source.display());
    let jar = dir.join("sequence.jar");
    let status = Command::new("jar")
        .args(["--create", "--file"])
        .arg(&jar)
        .arg("-C")
        .arg(&classes)
        .arg(".")
        .status()
        .expect("jar runs");
    assert!(status.success());
    jar
}

/// The fraud alerts the example must raise, computed here without Flink: for each address,
/// every run of three consecutive failures whose first and last are less than 5 minutes apart.
fn expected_alerts(events: &str) -> BTreeSet<(String, i64, i64)> {
    let mut failures: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for line in events.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        if event["status"] == "FAILED" {
            failures
                .entry(event["ip_address"].as_str().unwrap().to_string())
                .or_default()
                .push(event["event_time"].as_i64().unwrap());
        }
    }
    let mut alerts = BTreeSet::new();
    for (address, mut times) in failures {
        times.sort_unstable();
        for run in times.windows(3) {
            if run[2] - run[0] < 5 * 60 * 1000 {
                alerts.insert((address.clone(), run[0], run[2]));
            }
        }
    }
    alerts
}

fn millis(timestamp: &str) -> i64 {
    // Flink writes TIMESTAMP_LTZ in JSON as "2026-01-01 00:03:00Z".
    let iso = timestamp.replacen(' ', "T", 1);
    iso.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{timestamp}: {e}"))
        .as_millisecond()
}

#[test]
fn sql_and_jar_jobs_start_stop_with_savepoints_resume_and_upgrade() {
    let flink = Flink::start();
    let work = tempfile::tempdir().unwrap();
    let stream_sql = write(work.path(), "stream.sql", STREAM_SQL);
    let stream_sql = stream_sql.to_str().unwrap();

    // A SQL file becomes one running job named after the file.
    let started = flink.advisor(&["submit", "flink", "--sql", stream_sql]);
    let first = started["job_id"].as_str().unwrap().to_string();
    assert_eq!(started["state"], "RUNNING");
    assert_eq!(started["name"], "stream.sql");
    assert_eq!(flink.state(&first), "RUNNING");
    let jobs = flink.advisor(&["flink", "jobs"]);
    assert!(jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|job| job["id"] == first.as_str() && job["state"] == "RUNNING"));

    // Stop with a savepoint into the cluster's savepoint folder, then start from it.
    let stopped = flink.advisor(&["flink", "stop", &first, "--savepoint"]);
    let savepoint = stopped["savepoint"].as_str().unwrap().to_string();
    let on_disk = savepoint.trim_start_matches("file:");
    assert!(
        on_disk.starts_with(&flink.dir.path().join("savepoints").display().to_string()),
        "{savepoint} is not in the configured folder"
    );
    assert!(Path::new(on_disk).join("_metadata").exists());
    flink.wait_for_state(&first, "FINISHED");
    let resumed = flink.advisor(&[
        "submit",
        "flink",
        "--sql",
        stream_sql,
        "--from-savepoint",
        &savepoint,
    ]);
    let second = resumed["job_id"].as_str().unwrap().to_string();
    assert_eq!(resumed["restored_from"], savepoint.as_str());

    // Upgrade: a new version of the SQL replaces the running job, from a fresh savepoint.
    let v2 = write(
        work.path(),
        "stream_v2.sql",
        &STREAM_SQL.replace("label <> ';'", "n > 0"),
    );
    let explicit_folder = work.path().join("upgrade-savepoints");
    let upgraded = flink.advisor(&[
        "flink",
        "upgrade",
        &second,
        "--sql",
        v2.to_str().unwrap(),
        "--savepoint",
        &format!("file://{}", explicit_folder.display()),
        "--allow-non-restored-state",
    ]);
    let third = upgraded["job_id"].as_str().unwrap().to_string();
    assert_eq!(upgraded["state"], "RUNNING");
    assert_eq!(upgraded["name"], "stream_v2.sql");
    let restored = upgraded["restored_from"].as_str().unwrap();
    assert!(
        restored.contains(&explicit_folder.display().to_string()),
        "{restored} is not in {}",
        explicit_folder.display()
    );
    flink.wait_for_state(&second, "FINISHED");
    let cancelled = flink.advisor(&["flink", "stop", &third]);
    assert_eq!(cancelled["stopped"], "cancel");
    flink.wait_for_state(&third, "CANCELED");

    // A jar with its class, arguments and parallelism.
    let jar = sequence_jar(work.path());
    let started = flink.advisor(&[
        "submit",
        "flink",
        "--jar",
        jar.to_str().unwrap(),
        "--class",
        "Sequence",
        "--parallelism",
        "2",
        "--args",
        "3",
        "--endpoint",
        &flink.endpoint,
        "--",
        "sequence-job",
    ]);
    let jar_job = started["job_id"].as_str().unwrap().to_string();
    assert_eq!(started["name"], "sequence-job");
    let detail = flink.get(&format!("/jobs/{jar_job}"));
    assert!(detail["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["parallelism"] == 2));
    flink.advisor(&["flink", "stop", &jar_job]);
    flink.wait_for_state(&jar_job, "CANCELED");

    // Errors carry the server's own words; a refused job leaves nothing running.
    let bad = write(
        work.path(),
        "bad.sql",
        "CREATE TABLE numbers (n BIGINT) WITH ('connector' = 'datagen');\n\nINSERT INTO sink SELECT n FORM numbers;\n",
    );
    advisor()
        .args(["submit", "flink", "--sql"])
        .arg(&bad)
        .args(["--endpoint", &flink.endpoint])
        .assert()
        .failure()
        .stderr(predicate::str::contains("bad.sql did not start"))
        .stderr(predicate::str::contains("line 3: SQL parse failed"));
    advisor()
        .args([
            "flink",
            "stop",
            "0123456789abcdef0123456789abcdef",
            "--savepoint",
        ])
        .args(["--endpoint", &flink.endpoint])
        .assert()
        .failure()
        .stderr(predicate::str::contains("was not stopped"))
        .stderr(predicate::str::contains("0123456789abcdef0123456789abcdef"));
    // A job that starts and then fails: its root exception is the error.
    let missing = work.path().join("no-such-folder");
    let failing = write(
        work.path(),
        "failing.sql",
        &format!(
            "SET 'execution.runtime-mode' = 'batch';\n\
             CREATE TABLE src (n BIGINT) WITH ('connector' = 'filesystem', 'path' = 'file://{}', 'format' = 'json');\n\
             CREATE TABLE sink (n BIGINT) WITH ('connector' = 'blackhole');\n\
             INSERT INTO sink SELECT n FROM src;\n",
            missing.display()
        ),
    );
    advisor()
        .args(["submit", "flink", "--sql"])
        .arg(&failing)
        .args(["--endpoint", &flink.endpoint])
        .assert()
        .failure()
        .stderr(predicate::str::contains(" FAILED: "))
        .stderr(predicate::str::contains("no-such-folder"));
    let running = flink.advisor(&["flink", "jobs"])["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|job| job["state"] == "RUNNING")
        .count();
    assert_eq!(running, 0);

    // The page's fraud detection as Flink SQL with MATCH_RECOGNIZE, checked against
    // alerts computed above from the same events.
    let events_text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/flink/login_events.jsonl"),
    )
    .unwrap();
    let data = work.path().join("advisor-flink");
    std::fs::create_dir_all(data.join("login-events")).unwrap();
    std::fs::write(data.join("login-events/events.jsonl"), &events_text).unwrap();
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/flink/fraud_detection.sql"),
    )
    .unwrap()
    .replace("/tmp/advisor-flink", &data.display().to_string());
    let fraud_sql = write(work.path(), "fraud_detection.sql", &example);
    let finished = flink.advisor(&["submit", "flink", "--sql", fraud_sql.to_str().unwrap()]);
    assert_eq!(finished["name"], "fraud-detection");
    let fraud_job = finished["job_id"].as_str().unwrap();
    flink.wait_for_state(fraud_job, "FINISHED");
    let mut alerts = BTreeSet::new();
    for file in std::fs::read_dir(data.join("fraud-alerts")).unwrap() {
        let path = file.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with('.') {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let alert: Value = serde_json::from_str(line).unwrap();
            assert_eq!(alert["alert_type"], "SUSPECTED_FRAUD");
            assert_eq!(alert["failure_count"], 3);
            alerts.insert((
                alert["ip_address"].as_str().unwrap().to_string(),
                millis(alert["first_failure"].as_str().unwrap()),
                millis(alert["last_failure"].as_str().unwrap()),
            ));
        }
    }
    let expected = expected_alerts(&events_text);
    assert!(
        expected.iter().any(|(ip, _, _)| ip == "203.0.113.9"),
        "the example data holds the burst"
    );
    assert_eq!(alerts, expected);
}

#[test]
fn checks_happen_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let sql = write(dir.path(), "job.sql", STREAM_SQL);
    advisor()
        .args(["submit", "flink", "--sql"])
        .arg(&sql)
        .args(["--endpoint", &closed])
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "cannot reach Flink at {closed}"
        )));

    let dry = advisor()
        .args(["submit", "flink", "--sql"])
        .arg(&sql)
        .args(["--endpoint", &closed, "--dry-run", "--output", "json"])
        .output()
        .unwrap();
    assert!(dry.status.success());
    let plan: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(plan["entry_class"], "advisor.flink.SqlRunner");
    let lines: Vec<i64> = plan["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, vec![2, 4, 5]);
    // The job name, then the three statements.
    assert_eq!(plan["program_args"].as_array().unwrap().len(), 4);

    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/stack.toml");
    let dry = advisor()
        .args(["submit", "flink", "--sql"])
        .arg(&sql)
        .arg("--config")
        .arg(&config)
        .args(["--dry-run", "--output", "json"])
        .output()
        .unwrap();
    let plan: Value = serde_json::from_slice(&dry.stdout).unwrap();
    let endpoint = plan["endpoint"].as_str().unwrap();
    assert!(
        endpoint.starts_with("http://jobmanager.") && endpoint.ends_with(":8081"),
        "{endpoint} is not the stack's JobManager"
    );

    let no_insert = write(
        dir.path(),
        "tables.sql",
        "CREATE TABLE t (n BIGINT) WITH ('connector' = 'datagen');\n",
    );
    advisor()
        .args(["submit", "flink", "--sql"])
        .arg(&no_insert)
        .args(["--endpoint", &closed])
        .assert()
        .failure()
        .stderr(predicate::str::contains("has no INSERT statement"));
    let not_a_jar = write(dir.path(), "job.jar", "plain text");
    advisor()
        .args(["submit", "flink", "--jar"])
        .arg(&not_a_jar)
        .args(["--endpoint", &closed])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is not a jar"));
    advisor()
        .args(["submit", "flink", "--endpoint", &closed])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--jar").and(predicate::str::contains("--sql")));
    advisor()
        .args(["submit", "flink", "--sql"])
        .arg(&sql)
        .args(["--class", "X", "--endpoint", &closed])
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot be used with '--class"));
}

/// The jar advisor embeds was built from the runner's current source.
#[test]
fn the_embedded_sql_runner_jar_matches_its_source() {
    use sha2::Digest;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources: Vec<PathBuf> = Vec::new();
    let mut folders = vec![root.join("flink-sql-runner/src")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "java") {
                sources.push(path);
            }
        }
    }
    sources.sort();
    let mut text = Vec::new();
    for source in &sources {
        text.extend(std::fs::read(source).unwrap());
    }
    let manifest = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read('META-INF/MANIFEST.MF').decode())",
        ])
        .arg(root.join("data/flink-sql-runner.jar"))
        .output()
        .expect("python3 reads the jar");
    assert!(manifest.status.success());
    // Manifest lines wrap at 72 bytes; a continuation starts with one space.
    let manifest = String::from_utf8(manifest.stdout)
        .unwrap()
        .replace("\r\n", "\n")
        .replace("\n ", "");
    let recorded = manifest
        .lines()
        .find_map(|l| l.strip_prefix("Source-SHA256: "))
        .expect("the manifest records the source's SHA-256");
    assert_eq!(
        recorded.trim(),
        hex::encode(sha2::Sha256::digest(&text)),
        "flink-sql-runner/src changed: run scripts/build-flink-sql-runner and commit data/flink-sql-runner.jar"
    );
}
