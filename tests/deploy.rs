//! `advisor deploy`, `status` and `destroy` against a real moto server.

mod common;
#[path = "common/moto.rs"]
mod moto;

use std::path::{Path, PathBuf};

use common::advisor;
use moto::Moto;
use predicates::prelude::*;
use serde_json::Value;

/// What the tests read from moto directly, through the same SDK.
struct Aws {
    runtime: tokio::runtime::Runtime,
    config: aws_config::SdkConfig,
}

impl Aws {
    fn new(moto: &Moto) -> Aws {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = runtime.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(&moto.endpoint)
                .region(aws_config::Region::new("eu-west-2"))
                .credentials_provider(aws_sdk_sts::config::Credentials::new(
                    "testing", "testing", None, None, "test",
                ))
                .load(),
        );
        Aws { runtime, config }
    }

    fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config)
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.config)
                .force_path_style(true)
                .build(),
        )
    }

    /// A VPC with two private subnets, as a team would bring.
    fn network(&self) -> (String, Vec<String>) {
        self.runtime.block_on(async {
            let ec2 = self.ec2();
            let vpc = ec2
                .create_vpc()
                .cidr_block("10.20.0.0/16")
                .send()
                .await
                .unwrap()
                .vpc()
                .and_then(|v| v.vpc_id())
                .unwrap()
                .to_string();
            let mut subnets = Vec::new();
            for cidr in ["10.20.1.0/24", "10.20.2.0/24"] {
                let subnet = ec2
                    .create_subnet()
                    .vpc_id(&vpc)
                    .cidr_block(cidr)
                    .send()
                    .await
                    .unwrap();
                subnets.push(
                    subnet
                        .subnet()
                        .and_then(|s| s.subnet_id())
                        .unwrap()
                        .to_string(),
                );
            }
            (vpc, subnets)
        })
    }

    fn log_group_exists(&self, name: &str) -> bool {
        self.runtime.block_on(async {
            aws_sdk_cloudwatchlogs::Client::new(&self.config)
                .describe_log_groups()
                .log_group_name_prefix(name)
                .send()
                .await
                .unwrap()
                .log_groups()
                .iter()
                .any(|g| g.log_group_name() == Some(name))
        })
    }

    fn role_exists(&self, name: &str) -> bool {
        self.runtime.block_on(async {
            aws_sdk_iam::Client::new(&self.config)
                .get_role()
                .role_name(name)
                .send()
                .await
                .is_ok()
        })
    }

    fn bucket_exists(&self, name: &str) -> bool {
        self.runtime
            .block_on(async { self.s3().head_bucket().bucket(name).send().await.is_ok() })
    }

    fn task_definition(&self, family: &str) -> aws_sdk_ecs::types::TaskDefinition {
        self.runtime.block_on(async {
            aws_sdk_ecs::Client::new(&self.config)
                .describe_task_definition()
                .task_definition(family)
                .send()
                .await
                .unwrap()
                .task_definition()
                .cloned()
                .unwrap()
        })
    }

    fn service(&self, cluster: &str, name: &str) -> aws_sdk_ecs::types::Service {
        self.runtime.block_on(async {
            aws_sdk_ecs::Client::new(&self.config)
                .describe_services()
                .cluster(cluster)
                .services(name)
                .send()
                .await
                .unwrap()
                .services()
                .first()
                .cloned()
                .unwrap()
        })
    }
}

fn stack_toml(dir: &Path, vpc: &str, subnets: &[String], extra: &str) -> PathBuf {
    let text = format!(
        "name = \"orders\"\nregion = \"eu-west-2\"\n\n[network]\nvpc_id = \"{vpc}\"\nvpc_cidr = \"10.20.0.0/16\"\nprivate_subnet_ids = [\"{}\"]\n\n[kafka]\nbootstrap_servers = \"b-1.orders:9092\"\n{extra}",
        subnets.join("\", \"")
    );
    common::write(dir, "stack.toml", &text)
}

fn run(moto: &Moto, args: &[&str]) -> assert_cmd::assert::Assert {
    let mut command = advisor();
    for (key, value) in moto.env() {
        command.env(key, value);
    }
    command.env_remove("AWS_PROFILE").args(args).assert()
}

fn deploy_json(moto: &Moto, flavor: &str, config: &Path) -> Value {
    let output = run(
        moto,
        &[
            "deploy",
            "--flavor",
            flavor,
            "--config",
            config.to_str().unwrap(),
            "--yes",
            "--no-wait",
            "-o",
            "json",
        ],
    )
    .success()
    .get_output()
    .stdout
    .clone();
    serde_json::from_slice(&output).expect("deploy prints JSON")
}

fn actions(plan: &Value) -> Vec<(String, String)> {
    plan["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_flavor_deploys_then_redeploys_as_a_no_op_then_destroys() {
    for flavor in ["ksqldb", "flink", "engine"] {
        let moto = Moto::start();
        let aws = Aws::new(&moto);
        let (vpc, subnets) = aws.network();
        let dir = tempfile::tempdir().unwrap();
        let config = stack_toml(dir.path(), &vpc, &subnets, "");

        let first = deploy_json(&moto, flavor, &config);
        assert_eq!(first["applied"], true, "{flavor}");
        assert!(
            actions(&first).iter().all(|(_, a)| a == "create"),
            "{flavor}: {first}"
        );
        assert!(aws.log_group_exists("/ecs/orders"));
        assert!(aws.role_exists("orders-execution") && aws.role_exists("orders-task"));
        let has_bucket = flavor != "ksqldb";
        assert_eq!(
            aws.bucket_exists("orders-checkpoints-123456789012"),
            has_bucket,
            "{flavor}"
        );

        let second = deploy_json(&moto, flavor, &config);
        assert_eq!(
            second["applied"], false,
            "{flavor}: second deploy changed something"
        );
        assert!(
            actions(&second).iter().all(|(_, a)| a == "unchanged"),
            "{flavor}: {second}"
        );
        run(
            &moto,
            &[
                "deploy",
                "--flavor",
                flavor,
                "--config",
                config.to_str().unwrap(),
                "--yes",
            ],
        )
        .success()
        .stdout(predicate::str::contains(
            "No changes: stack orders is up to date",
        ));

        let status = run(
            &moto,
            &[
                "status",
                "--flavor",
                flavor,
                "--config",
                config.to_str().unwrap(),
                "-o",
                "json",
            ],
        )
        .success()
        .get_output()
        .stdout
        .clone();
        let status: Value = serde_json::from_slice(&status).unwrap();
        assert!(
            status["endpoint"]
                .as_str()
                .unwrap()
                .contains("orders.internal"),
            "{status}"
        );
        assert!(status["monthly_cost"]["low_usd"].as_f64().unwrap() > 0.0);
        for service in status["services"].as_array().unwrap() {
            assert_eq!(service["status"], "ACTIVE", "{status}");
        }

        run(
            &moto,
            &[
                "destroy",
                "--flavor",
                flavor,
                "--config",
                config.to_str().unwrap(),
                "--yes",
                "--delete-data",
            ],
        )
        .success();
        assert!(!aws.log_group_exists("/ecs/orders"));
        assert!(!aws.role_exists("orders-execution") && !aws.role_exists("orders-task"));
        assert!(!aws.bucket_exists("orders-checkpoints-123456789012"));
        // Safe to run twice: everything is reported absent.
        let again = run(
            &moto,
            &[
                "destroy",
                "--flavor",
                flavor,
                "--config",
                config.to_str().unwrap(),
                "--yes",
                "-o",
                "json",
            ],
        )
        .success()
        .get_output()
        .stdout
        .clone();
        let again: Value = serde_json::from_slice(&again).unwrap();
        assert!(
            again["removed"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["outcome"] == "absent"),
            "{again}"
        );
    }
}

#[test]
fn a_dry_run_changes_nothing_and_a_changed_size_updates_the_service() {
    let moto = Moto::start();
    let aws = Aws::new(&moto);
    let (vpc, subnets) = aws.network();
    let dir = tempfile::tempdir().unwrap();
    let config = stack_toml(dir.path(), &vpc, &subnets, "");
    run(
        &moto,
        &[
            "deploy",
            "--flavor",
            "ksqldb",
            "--config",
            config.to_str().unwrap(),
            "--dry-run",
        ],
    )
    .success()
    .stdout(predicate::str::contains("Dry run: nothing was changed"))
    .stdout(predicate::str::contains("log group"));
    assert!(
        !aws.log_group_exists("/ecs/orders"),
        "a dry run must not create anything"
    );

    deploy_json(&moto, "ksqldb", &config);
    let bigger = stack_toml(
        dir.path(),
        &vpc,
        &subnets,
        "\n[services.ksqldb-server]\ncpu = 2048\nmemory = 8192\ncount = 2\n",
    );
    let plan = run(
        &moto,
        &[
            "deploy",
            "--flavor",
            "ksqldb",
            "--config",
            bigger.to_str().unwrap(),
            "--dry-run",
            "-o",
            "json",
        ],
    )
    .success()
    .get_output()
    .stdout
    .clone();
    let plan: Value = serde_json::from_slice(&plan).unwrap();
    let changes = plan["plan"]["changes"].as_array().unwrap();
    let task = changes
        .iter()
        .find(|c| c["kind"] == "task-definition")
        .unwrap();
    assert_eq!(task["action"], "update");
    let details = task["details"].to_string();
    assert!(
        details.contains("cpu 1024 -> 2048") && details.contains("memory 2048 -> 8192"),
        "{details}"
    );
    let service = changes.iter().find(|c| c["kind"] == "service").unwrap();
    assert!(
        service["details"]
            .to_string()
            .contains("desired count 1 -> 2"),
        "{service}"
    );
    assert_eq!(
        changes
            .iter()
            .filter(|c| c["action"] != "unchanged")
            .count(),
        2
    );

    deploy_json(&moto, "ksqldb", &bigger);
    let revision = aws.task_definition("orders-ksqldb-server");
    assert_eq!(revision.revision(), 2);
    assert_eq!(revision.cpu(), Some("2048"));
    assert_eq!(revision.memory(), Some("8192"));
    let live = aws.service("orders", "orders-ksqldb-server");
    assert_eq!(live.desired_count(), 2);
    assert!(live.task_definition().unwrap().ends_with(":2"));
    let third = deploy_json(&moto, "ksqldb", &bigger);
    assert_eq!(third["applied"], false);
}

#[test]
fn destroy_keeps_the_checkpoint_bucket_unless_asked_and_then_deletes_every_version() {
    let moto = Moto::start();
    let aws = Aws::new(&moto);
    let (vpc, subnets) = aws.network();
    let dir = tempfile::tempdir().unwrap();
    let config = stack_toml(dir.path(), &vpc, &subnets, "");
    deploy_json(&moto, "flink", &config);
    let bucket = "orders-checkpoints-123456789012";
    aws.runtime.block_on(async {
        let s3 = aws.s3();
        // The bucket policy refuses plain HTTP, which is all moto speaks; lift it to write.
        s3.delete_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        for body in ["first", "second"] {
            s3.put_object()
                .bucket(bucket)
                .key("checkpoints/job/chk-1/_metadata")
                .body(body.as_bytes().to_vec().into())
                .send()
                .await
                .unwrap();
        }
        s3.delete_object()
            .bucket(bucket)
            .key("checkpoints/job/chk-1/_metadata")
            .send()
            .await
            .unwrap();
    });
    run(
        &moto,
        &[
            "destroy",
            "--flavor",
            "flink",
            "--config",
            config.to_str().unwrap(),
            "--yes",
        ],
    )
    .success()
    .stderr(predicate::str::contains("kept: it holds checkpoints"));
    assert!(aws.bucket_exists(bucket));
    assert!(!aws.role_exists("orders-task"));
    run(
        &moto,
        &[
            "destroy",
            "--flavor",
            "flink",
            "--config",
            config.to_str().unwrap(),
            "--yes",
            "--delete-data",
        ],
    )
    .success()
    .stderr(predicate::str::contains("deleted with 3 object version(s)"));
    assert!(!aws.bucket_exists(bucket));
}

#[test]
fn a_resource_that_belongs_to_something_else_is_refused_and_nothing_is_created() {
    let moto = Moto::start();
    let aws = Aws::new(&moto);
    let (vpc, subnets) = aws.network();
    aws.runtime.block_on(async {
        aws_sdk_iam::Client::new(&aws.config)
            .create_role()
            .role_name("orders-task")
            .assume_role_policy_document("{}")
            .send()
            .await
            .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let config = stack_toml(dir.path(), &vpc, &subnets, "");
    run(
        &moto,
        &[
            "deploy",
            "--flavor",
            "ksqldb",
            "--config",
            config.to_str().unwrap(),
            "--yes",
        ],
    )
    .failure()
    .stderr(predicate::str::contains(
        "IAM role orders-task already exists and is not part of stack \"orders\"",
    ));
    assert!(
        !aws.log_group_exists("/ecs/orders"),
        "nothing is created when a name is taken"
    );
    assert!(!aws.role_exists("orders-execution"));
    // destroy leaves the foreign role alone and says why.
    run(
        &moto,
        &[
            "destroy",
            "--flavor",
            "ksqldb",
            "--config",
            config.to_str().unwrap(),
            "--yes",
        ],
    )
    .failure()
    .stderr(predicate::str::contains("not part of stack"));
    assert!(aws.role_exists("orders-task"));
}

#[test]
fn unreachable_endpoints_and_missing_settings_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = stack_toml(dir.path(), "vpc-1", &["subnet-1".to_string()], "");
    let closed = common::free_port();
    advisor()
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "deploy",
            "--flavor",
            "ksqldb",
            "--config",
            config.to_str().unwrap(),
            "--dry-run",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot reach AWS"))
        .stderr(predicate::str::contains("AWS_ENDPOINT_URL"));

    let moto = Moto::start();
    let no_network = common::write(
        dir.path(),
        "bare.toml",
        "name = \"orders\"\n[kafka]\nbootstrap_servers = \"b:9092\"\n",
    );
    run(
        &moto,
        &[
            "deploy",
            "--flavor",
            "ksqldb",
            "--config",
            no_network.to_str().unwrap(),
            "--dry-run",
        ],
    )
    .failure()
    .stderr(predicate::str::contains("deploy needs the network"));
    let no_kafka = common::write(
        dir.path(),
        "nokafka.toml",
        "name = \"orders\"\n[network]\nvpc_id = \"vpc-1\"\nvpc_cidr = \"10.0.0.0/16\"\nprivate_subnet_ids = [\"subnet-1\"]\n",
    );
    run(
        &moto,
        &[
            "deploy",
            "--flavor",
            "ksqldb",
            "--config",
            no_kafka.to_str().unwrap(),
            "--dry-run",
        ],
    )
    .failure()
    .stderr(predicate::str::contains("bootstrap servers"));
    // Without a terminal, changing AWS needs --yes.
    let aws = Aws::new(&moto);
    let (vpc, subnets) = aws.network();
    let config = stack_toml(dir.path(), &vpc, &subnets, "");
    run(
        &moto,
        &[
            "deploy",
            "--flavor",
            "ksqldb",
            "--config",
            config.to_str().unwrap(),
        ],
    )
    .failure()
    .stderr(predicate::str::contains("pass --yes"));
    assert!(!aws.log_group_exists("/ecs/orders"));
    run(
        &moto,
        &[
            "destroy",
            "--flavor",
            "ksqldb",
            "--config",
            config.to_str().unwrap(),
        ],
    )
    .failure()
    .stderr(predicate::str::contains("pass --yes"));
}

/// The three views of one StackSpec agree: what `generate --format json` describes, what
/// `cost` prices, and what `deploy` registers in AWS (sizes, counts, ports, env names).
#[test]
fn generate_cost_and_deploy_see_the_same_services() {
    let moto = Moto::start();
    let aws = Aws::new(&moto);
    let (vpc, subnets) = aws.network();
    let dir = tempfile::tempdir().unwrap();
    let config = stack_toml(
        dir.path(),
        &vpc,
        &subnets,
        "\n[services.taskmanager]\ncpu = 4096\nmemory = 12288\ncount = 3\n",
    );
    let config = config.to_str().unwrap();
    let spec = common::json(&[
        "generate", "--flavor", "flink", "--config", config, "--format", "json",
    ]);
    let cost = common::json(&["cost", "--flavor", "flink", "--config", config]);
    assert_eq!(
        cost["estimates"][0]["stack"]["services"],
        spec["stack"]["services"]
    );
    deploy_json(&moto, "flink", Path::new(config));
    for service in spec["stack"]["services"].as_array().unwrap() {
        let name = service["name"].as_str().unwrap();
        let family = format!("orders-{name}");
        let task = aws.task_definition(&family);
        assert_eq!(
            task.cpu().unwrap(),
            service["cpu_units"].as_u64().unwrap().to_string(),
            "{name}"
        );
        assert_eq!(
            task.memory().unwrap(),
            service["memory_mib"].as_u64().unwrap().to_string(),
            "{name}"
        );
        let container = &task.container_definitions()[0];
        let ports: Vec<i64> = container
            .port_mappings()
            .iter()
            .map(|p| i64::from(p.container_port().unwrap()))
            .collect();
        let spec_ports: Vec<i64> = service["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["port"].as_i64().unwrap())
            .collect();
        assert_eq!(ports, spec_ports, "{name}");
        let mut env: Vec<&str> = container
            .environment()
            .iter()
            .map(|kv| kv.name().unwrap())
            .collect();
        env.sort();
        let spec_env: Vec<&str> = service["environment"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(env, spec_env, "{name}");
        let deployed = aws.service("orders", &family);
        assert_eq!(
            deployed.desired_count() as u64,
            service["desired_count"].as_u64().unwrap()
        );
        // Placeholders are resolved for AWS: no {braces} reach a task definition.
        for kv in container.environment() {
            assert!(
                !kv.value().unwrap().contains("{checkpoint_bucket}"),
                "{kv:?}"
            );
        }
    }
}
