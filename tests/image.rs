//! `advisor image`: the engine's image built by this machine's Docker engine, run, pushed to
//! a real registry (Debian's docker-registry on a loopback port) and pulled back, and run
//! against tansu on the host beside the same binary outside Docker.
//!
//! ECR's API is moto's: it keeps repositories, lifecycle policies, image lists and hands out
//! authorization tokens, but it does not receive image layers (there is no registry behind
//! its ECR hosts). So the ECR test checks what advisor asks of ECR and that the push then
//! names the registry it cannot reach; real layers go to the local registry.

#[path = "common/aws.rs"]
mod aws;
mod common;
// The engine's helpers (tansu) include process.rs as advisor's do.
#[allow(clippy::duplicate_mod)]
#[path = "../engine/tests/common/mod.rs"]
mod engine_common;
#[path = "common/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{json, Value};

use common::{advisor, cached_tool, free_port, json_with_env, wait_until_listening};
use engine_common::Tansu;
use moto::Moto;

/// The tag the tests build; a second run reuses the layers of the first.
const TAG: &str = "advisor-engine:image-tests";

struct Built {
    id: String,
    size_bytes: u64,
    engine_binary: PathBuf,
}

/// One image per test binary, built by `advisor image build` as a user would.
fn image() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let output = advisor()
            .args(["image", "build", "--tag", TAG, "-o", "json"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .timeout(Duration::from_secs(1800))
            .output()
            .expect("advisor runs");
        assert!(
            output.status.success(),
            "advisor image build failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let document: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let image = &document["image"];
        Built {
            id: image["id"].as_str().expect("an image id").to_string(),
            size_bytes: image["size_bytes"].as_u64().expect("a size"),
            engine_binary: PathBuf::from(image["engine_binary"].as_str().expect("the binary")),
        }
    })
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs")
}

/// `docker <args>`, which must succeed; its stdout, trimmed.
fn docker_ok(args: &[&str]) -> String {
    let output = docker(args);
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A container removed when dropped, so a failed assertion leaves nothing running.
struct Container(String);

impl Container {
    fn run(args: &[&str]) -> Container {
        let mut all = vec!["run", "--detach"];
        all.extend_from_slice(args);
        Container(docker_ok(&all))
    }

    fn inspect(&self, format: &str) -> String {
        docker_ok(&["inspect", "--format", format, &self.0])
    }

    fn logs(&self) -> String {
        let output = docker(&["logs", &self.0]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    /// `docker stop -t 1`: SIGTERM, then SIGKILL after one second. The exit code says
    /// which ended it (0 for a clean exit, 137 for the kill).
    fn stop_within_a_second(&self) -> i64 {
        docker_ok(&["stop", "--time", "1", &self.0]);
        self.inspect("{{.State.ExitCode}}")
            .parse()
            .expect("an exit code")
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "--force", "--volumes", &self.0]);
    }
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn the_scratch_image_is_small_non_root_healthy_and_stops_cleanly_on_sigterm() {
    let built = image();
    assert!(
        built.size_bytes < 40_000_000,
        "the image is {} bytes; the bar is 40 MB",
        built.size_bytes
    );
    let config: Value = serde_json::from_str(&docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        TAG,
    ]))
    .unwrap();
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(config["Entrypoint"], json!(["/advisor-engine"]));
    assert_eq!(config["Cmd"], json!(["serve"]));
    assert!(config["ExposedPorts"]["8088/tcp"].is_object());
    assert!(config["Volumes"]["/var/lib/advisor-engine"].is_object());
    assert_eq!(
        config["Healthcheck"]["Test"],
        json!(["CMD", "/advisor-engine", "healthcheck"])
    );

    let port = free_port();
    let container = Container::run(&[
        "--publish",
        &format!("127.0.0.1:{port}:8088"),
        // Docker's own health check, every 200 ms here instead of the image's 10 s.
        "--health-interval",
        "200ms",
        TAG,
    ]);
    wait_for("/healthcheck answers 200", Duration::from_secs(30), || {
        http_status(port, "/healthcheck") == Some(200)
    });
    wait_for(
        "docker reports the container healthy",
        Duration::from_secs(30),
        || container.inspect("{{.State.Health.Status}}") == "healthy",
    );
    assert_eq!(
        container.stop_within_a_second(),
        0,
        "SIGTERM ends the engine cleanly within a second; its log: {}",
        container.logs()
    );
}

/// Debian's docker-registry on a loopback port, with its storage in a temporary folder.
struct Registry {
    child: Child,
    address: String,
    _storage: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let storage = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = storage.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.path().join("data").display()
            ),
        )
        .unwrap();
        let mut child = Command::new(cached_tool("docker-registry", "docker-registry"))
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry starts: scripts/test installs Debian's docker-registry");
        wait_until_listening(&mut child, port, "docker-registry", Duration::from_secs(30));
        Registry {
            child,
            address: format!("127.0.0.1:{port}"),
            _storage: storage,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `advisor <args>`, which must fail; its stderr.
fn advisor_fails(args: &[&str], env: &[(&str, String)]) -> String {
    let output = advisor()
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .timeout(Duration::from_secs(600))
        .output()
        .expect("advisor runs");
    assert!(!output.status.success(), "advisor {args:?} succeeded");
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn a_push_to_a_registry_lists_and_pulls_back_the_same_image() {
    let built = image();
    let registry = Registry::start();
    let repository = format!("{}/advisor-engine", registry.address);
    let pushed = json_with_env(
        &[
            "image",
            "push",
            "--image",
            TAG,
            "--repository",
            &repository,
            "--tag",
            "first",
        ],
        &[],
    );
    let pushed = &pushed["pushed"];
    let digest = pushed["digest"].as_str().expect("a digest").to_string();
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert_eq!(pushed["reference"], format!("{repository}@{digest}"));
    assert_eq!(pushed["repository_created"], false);
    assert!(pushed["ecr"].is_null());

    // A second tag of the same image: one row in the list with both tags.
    json_with_env(
        &[
            "image",
            "push",
            "--image",
            TAG,
            "--repository",
            &repository,
            "--tag",
            "second",
        ],
        &[],
    );
    let listed = json_with_env(&["image", "list", "--repository", &repository], &[]);
    let images = listed["images"].as_array().expect("images");
    assert_eq!(images.len(), 1, "{listed}");
    assert_eq!(images[0]["digest"], digest.as_str());
    let mut tags: Vec<&str> = images[0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    tags.sort();
    assert_eq!(tags, ["first", "second"]);
    let compressed = images[0]["size_bytes"].as_u64().expect("a size");
    assert!(
        compressed > 1_000_000 && compressed <= built.size_bytes,
        "compressed {compressed} of {}",
        built.size_bytes
    );

    // Pulled back by digest, after the local tags are gone, it is the image that was built.
    let by_digest = format!("{repository}@{digest}");
    docker_ok(&[
        "rmi",
        &format!("{repository}:first"),
        &format!("{repository}:second"),
    ]);
    docker_ok(&["pull", "--quiet", &by_digest]);
    assert_eq!(
        docker_ok(&["image", "inspect", "--format", "{{.Id}}", &by_digest]),
        built.id
    );
    let _ = docker(&["rmi", &by_digest]);
}

#[test]
fn image_errors_name_their_cause() {
    let built = image();
    let nothing_listens = format!("127.0.0.1:{}/advisor-engine", free_port());
    let stderr = advisor_fails(
        &[
            "image",
            "push",
            "--image",
            TAG,
            "--repository",
            &nothing_listens,
        ],
        &[],
    );
    assert!(
        stderr.contains(&format!(
            "the registry {} cannot be reached",
            nothing_listens.trim_end_matches("/advisor-engine")
        )),
        "{stderr}"
    );

    let stderr = advisor_fails(
        &[
            "image",
            "push",
            "--image",
            TAG,
            "--repository",
            &nothing_listens,
        ],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock".into())],
    );
    assert!(stderr.contains("no Docker daemon answers"), "{stderr}");

    let stderr = advisor_fails(&["image", "push", "--repository", "advisor-engine"], &[]);
    assert!(stderr.contains("is not a repository"), "{stderr}");

    let stderr = advisor_fails(
        &[
            "image",
            "push",
            "--image",
            "advisor-engine:never-built",
            "--repository",
            &nothing_listens,
        ],
        &[],
    );
    assert!(stderr.contains("advisor-engine:never-built"), "{stderr}");

    // A dynamically linked program cannot run in an empty image.
    let stderr = advisor_fails(
        &[
            "image",
            "build",
            "--tag",
            "advisor-engine:dynamic",
            "--engine-binary",
            "/bin/ls",
        ],
        &[],
    );
    assert!(
        stderr.contains("/bin/ls is not a static binary"),
        "{stderr}"
    );

    // The static binary the build made is one.
    json_with_env(
        &[
            "image",
            "build",
            "--tag",
            "advisor-engine:given-binary",
            "--engine-binary",
            built.engine_binary.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(
        docker_ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            "advisor-engine:given-binary"
        ]),
        built.id,
        "the same binary in the same Dockerfile gives the same image"
    );
    let _ = docker(&["rmi", "advisor-engine:given-binary"]);

    // The source build needs BuildKit, which this machine's docker CLI lacks (no buildx).
    if !docker(&["buildx", "version"]).status.success() {
        let stderr = advisor_fails(&["image", "build", "--base", "debian"], &[]);
        assert!(stderr.contains("needs BuildKit"), "{stderr}");
    }
}

#[test]
fn an_ecr_push_creates_the_repository_with_scanning_immutable_tags_and_a_lifecycle() {
    image();
    let moto = Moto::start();
    let aws = aws::Aws::new(&moto);
    let ecr = aws_sdk_ecr::Client::new(&aws.config);
    let repository = "123456789012.dkr.ecr.eu-west-2.amazonaws.com/advisor-engine";

    // docker cannot log in to moto's ECR host; by then the repository is set up.
    let stderr = advisor_fails(
        &[
            "image",
            "push",
            "--image",
            TAG,
            "--repository",
            repository,
            "--tag",
            "0.1.0",
            "--keep-images",
            "5",
        ],
        &moto.env(),
    );
    assert!(
        stderr.contains("123456789012.dkr.ecr.eu-west-2.amazonaws.com"),
        "the error names the registry: {stderr}"
    );
    let described = aws
        .runtime
        .block_on(
            ecr.describe_repositories()
                .repository_names("advisor-engine")
                .send(),
        )
        .expect("the repository exists");
    let created = &described.repositories()[0];
    assert_eq!(
        created.image_tag_mutability(),
        Some(&aws_sdk_ecr::types::ImageTagMutability::Immutable)
    );
    assert_eq!(
        created
            .image_scanning_configuration()
            .map(|c| c.scan_on_push()),
        Some(true)
    );
    let policy = aws
        .runtime
        .block_on(
            ecr.get_lifecycle_policy()
                .repository_name("advisor-engine")
                .send(),
        )
        .expect("a lifecycle policy");
    let policy: Value = serde_json::from_str(policy.lifecycle_policy_text().unwrap()).unwrap();
    assert_eq!(policy["rules"][0]["selection"]["countNumber"], 5);

    // An image that holds tag 0.1.0 already: a second push of that tag is refused before
    // docker is asked to upload anything.
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 100, "digest": format!("sha256:{}", "a".repeat(64))},
        "layers": []
    });
    aws.runtime
        .block_on(
            ecr.put_image()
                .repository_name("advisor-engine")
                .image_manifest(manifest.to_string())
                .image_tag("0.1.0")
                .send(),
        )
        .expect("moto takes the manifest");
    let stderr = advisor_fails(
        &[
            "image",
            "push",
            "--image",
            TAG,
            "--repository",
            repository,
            "--tag",
            "0.1.0",
        ],
        &moto.env(),
    );
    assert!(
        stderr.contains(&format!(
            "tag 0.1.0 already exists in {repository}, whose tags are immutable"
        )),
        "{stderr}"
    );

    let listed = json_with_env(&["image", "list", "--repository", repository], &moto.env());
    let images = listed["images"].as_array().expect("images");
    assert_eq!(images.len(), 1, "{listed}");
    assert_eq!(images[0]["tags"], json!(["0.1.0"]));
}

const ORDERS_SQL: &str = "CREATE STREAM order_events (order_id BIGINT, customer_id STRING,
  order_status STRING, order_total DOUBLE, created_at BIGINT)
  WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON', TIMESTAMP='created_at');
CREATE TABLE customer_order_totals AS
SELECT customer_id, COUNT(*) AS order_count, SUM(order_total) AS total_spent,
       MAX(created_at) AS last_order_time
FROM order_events WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY customer_id EMIT CHANGES;";

const PARTITIONS: i32 = 3;
const ORDERS: usize = 500;

/// The tutorial's orders, on a broker of their own.
fn broker_with_orders() -> Tansu {
    let tansu = Tansu::start();
    tansu.create_topic("order-events", PARTITIONS);
    let orders: Vec<String> = (0..ORDERS)
        .map(|i| {
            json!({"order_id": i, "customer_id": format!("cust_{}", i % 7), "order_status": "NEW",
                   "order_total": (i % 13) as f64 + 0.5, "created_at": 1_709_640_000_000i64 + i as i64 * 20_000})
            .to_string()
        })
        .collect();
    tansu.produce("order-events", &orders);
    tansu
}

/// The last value per windowed key of the output topic.
fn final_totals(tansu: &Tansu) -> BTreeMap<Vec<u8>, Value> {
    tansu
        .read_all("CUSTOMER_ORDER_TOTALS", 1)
        .into_iter()
        .collect()
}

/// The group's committed offset on each input partition.
fn committed(tansu: &Tansu, group: &str) -> Vec<i64> {
    let consumer: BaseConsumer = tansu.config().set("group.id", group).create().unwrap();
    let mut partitions = rdkafka::TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        partitions.add_partition("order-events", partition);
    }
    let committed = consumer
        .committed_offsets(partitions, Duration::from_secs(10))
        .expect("committed offsets");
    (0..PARTITIONS)
        .map(|partition| {
            committed
                .find_partition("order-events", partition)
                .and_then(|p| p.offset().to_raw())
                .unwrap_or(-1)
        })
        .collect()
}

#[test]
fn the_image_aggregates_orders_from_the_hosts_broker_as_the_binary_does() {
    let built = image();
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("queries.sql");
    std::fs::write(&sql, ORDERS_SQL).unwrap();

    // The static binary outside Docker, on one broker.
    let outside = broker_with_orders();
    let state = dir.path().join("state");
    let status = Command::new(&built.engine_binary)
        .args(["run", "--sql"])
        .arg(&sql)
        .args(["--bootstrap-servers", &outside.bootstrap])
        .args(["--group-id", "orders-app", "--stop-when-idle", "3s"])
        .arg("--state-dir")
        .arg(&state)
        .status()
        .expect("the engine binary runs");
    assert!(status.success());
    let expected = final_totals(&outside);
    assert_eq!(expected.len(), 21, "7 customers over 3 hourly windows");

    // The same binary in its image, on a second broker, reached from the container through
    // the host's network; the queries file is mounted read-only.
    let inside = broker_with_orders();
    let container = Container::run(&[
        "--network",
        "host",
        "--volume",
        &format!("{}:/etc/advisor-engine/queries.sql:ro", sql.display()),
        "--env",
        &format!("ENGINE_KAFKA_BOOTSTRAP_SERVERS={}", inside.bootstrap),
        "--env",
        "ENGINE_QUERIES_FILE=/etc/advisor-engine/queries.sql",
        "--env",
        "ENGINE_SERVICE_ID=orders-app",
        // No commit before the stop, and every update sent at once: the offsets the group
        // holds afterwards were committed on SIGTERM.
        "--env",
        "ENGINE_COMMIT_INTERVAL=1h",
        "--env",
        "ENGINE_CACHE_MAX_BYTES=0",
        "--env",
        &format!("ENGINE_LISTEN=127.0.0.1:{}", free_port()),
        TAG,
    ]);
    let mut got = BTreeMap::new();
    wait_for(
        "the container's totals match the binary's",
        Duration::from_secs(60),
        || {
            got = final_totals(&inside);
            got == expected
        },
    );
    assert_eq!(
        container.stop_within_a_second(),
        0,
        "SIGTERM ends the engine cleanly within a second; its log: {}",
        container.logs()
    );
    // Both brokers hold the same records in the same partitions (same keys): the stopped
    // engine committed all it read, as the run outside Docker did.
    let offsets = committed(&inside, "orders-app");
    assert_eq!(offsets, committed(&outside, "orders-app"));
    assert_eq!(offsets.iter().sum::<i64>(), ORDERS as i64, "{offsets:?}");
    assert_eq!(got, expected);
}

#[test]
fn deploy_build_image_runs_the_pushed_digest() {
    image();
    let moto = Moto::start();
    let aws = aws::Aws::new(&moto);
    let registry = Registry::start();
    let (vpc, subnets) = aws.network();
    let dir = tempfile::tempdir().unwrap();
    let config = aws::stack_toml(dir.path(), &vpc, &subnets, "");
    let repository = format!("{}/advisor-engine", registry.address);
    let deployed = json_with_env(
        &[
            "deploy",
            "--flavor",
            "engine",
            "--config",
            config.to_str().unwrap(),
            "--build-image",
            "--image-repository",
            &repository,
            "--yes",
            "--no-wait",
        ],
        &moto.env(),
    );
    let reference = deployed["image"]["reference"]
        .as_str()
        .expect("the pushed image")
        .to_string();
    assert!(
        reference.starts_with(&format!("{repository}@sha256:")),
        "{reference}"
    );
    let tag = deployed["image"]["tag"].as_str().unwrap();
    assert!(
        tag.starts_with(&format!("{}-", env!("CARGO_PKG_VERSION"))),
        "the tag names the version and the image: {tag}"
    );
    let revision = aws.task_definition("orders-engine");
    let container = &revision.container_definitions()[0];
    assert_eq!(container.image(), Some(reference.as_str()));
    assert_eq!(container.command(), ["serve"]);

    // The registry serves exactly that digest.
    let listed = json_with_env(&["image", "list", "--repository", &repository], &[]);
    let digest = reference.rsplit('@').next().unwrap();
    assert_eq!(listed["images"][0]["digest"], digest, "{listed}");

    // --build-image is the engine's: the other flavors run their projects' images.
    let stderr = advisor_fails(
        &[
            "deploy",
            "--flavor",
            "ksqldb",
            "--config",
            config.to_str().unwrap(),
            "--build-image",
            "--yes",
        ],
        &moto.env(),
    );
    assert!(
        stderr.contains("--build-image is for --flavor engine"),
        "{stderr}"
    );
}
