//! `advisor deploy`, `status` and `destroy` against a real moto server.

#[path = "common/aws.rs"]
mod aws;
mod common;
#[path = "common/moto.rs"]
mod moto;

use std::path::Path;

use aws::{actions, deploy_json, run, stack_toml, Aws};
use common::advisor;
use moto::Moto;
use predicates::prelude::*;
use serde_json::Value;

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

const WORKLOADS: &str = "[workload.busy]\nlatency = \"5s\"\nlogic = \"window\"\nevents_per_sec = 200000\n\n[workload.quiet]\nlatency = \"5s\"\nlogic = \"window\"\nevents_per_sec = 10\n";

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// What one view says about a service: task count, CPU units, memory MiB.
type Shape = (u64, u64, u64);

/// `generate --flavor engine` into `out`, and its main.tf parsed.
fn generate_engine(moto: &Moto, config: &str, out: &Path) -> hcl::Body {
    run(
        moto,
        &[
            "generate",
            "--flavor",
            "engine",
            "--config",
            config,
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .success();
    hcl::parse(&std::fs::read_to_string(out.join("main.tf")).unwrap()).unwrap()
}

fn engine_module(body: &hcl::Body) -> &hcl::Block {
    body.blocks()
        .find(|b| b.identifier() == "module" && b.labels()[0].as_str() == "service_engine")
        .expect("the engine's module")
}

fn module_attribute(block: &hcl::Block, key: &str) -> hcl::Expression {
    block
        .body()
        .attributes()
        .find(|a| a.key() == key)
        .unwrap_or_else(|| panic!("module {} has no {key}", block.labels()[0].as_str()))
        .expr()
        .clone()
}

fn number(expression: &hcl::Expression) -> f64 {
    match expression {
        hcl::Expression::Number(n) => n.as_f64().unwrap(),
        other => panic!("{other:?} is not a number"),
    }
}

/// The four views of one sized StackSpec agree: what `cost` prices line by line, the
/// Terraform `generate` writes, what `deploy` registers in AWS, and what `status` reads
/// back and prices, for sizes and a Spot share given in stack.toml and for a workload whose
/// rate scales the processing service out.
#[test]
fn cost_terraform_deploy_and_status_agree_on_counts_sizes_and_spot() {
    let cases: [(&str, &str, &str, &[&str]); 2] = [
        (
            "sizes and Spot share given in stack.toml",
            "spot_share = 0.5\n",
            "\n[services.taskmanager]\ncpu = 4096\nmemory = 12288\ncount = 3\n",
            &[],
        ),
        (
            "a workload that scales out",
            "spot_share = 0.25\n",
            "",
            &["--workload", "WORKLOADS", "--workload-name", "busy"],
        ),
    ];
    for (case, top, extra, workload_args) in cases {
        let moto = Moto::start();
        let aws = Aws::new(&moto);
        let (vpc, subnets) = aws.network();
        let dir = tempfile::tempdir().unwrap();
        let config = aws::stack_toml_top(dir.path(), &vpc, &subnets, top, extra);
        let workloads = common::write(dir.path(), "workloads.toml", WORKLOADS);
        let config = config.to_str().unwrap();
        let sizing: Vec<&str> = workload_args
            .iter()
            .map(|a| {
                if *a == "WORKLOADS" {
                    workloads.to_str().unwrap()
                } else {
                    a
                }
            })
            .collect();
        let with = |args: &[&str]| -> Vec<String> {
            args.iter()
                .chain(sizing.iter())
                .map(|s| s.to_string())
                .collect()
        };

        // 1. cost: the StackSpec it priced, and its compute lines.
        let cost = aws::json_of(
            &moto,
            &refs(&with(&["cost", "--flavor", "flink", "--config", config])),
        );
        let estimate = &cost["estimates"][0];
        let priced = &estimate["stack"];
        let spot_share = priced["spot_share"].as_f64().unwrap();
        assert_eq!(
            estimate["spot_share"].as_f64().unwrap(),
            spot_share,
            "{case}"
        );
        let mut expected: Vec<(String, Shape)> = Vec::new();
        for service in priced["services"].as_array().unwrap() {
            let name = service["name"].as_str().unwrap().to_string();
            let shape = (
                service["desired_count"].as_u64().unwrap(),
                service["cpu_units"].as_u64().unwrap(),
                service["memory_mib"].as_u64().unwrap(),
            );
            let vcpu_line = estimate["lines"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| {
                    let component = l["component"].as_str().unwrap();
                    component.starts_with(&format!("{name} (")) && component.ends_with(": vCPU")
                })
                .unwrap_or_else(|| panic!("{case}: no vCPU line for {name}"));
            let hours = estimate["hours_per_month"].as_f64().unwrap();
            let quantity = vcpu_line["quantity"]["low"].as_f64().unwrap();
            assert!(
                (quantity - shape.0 as f64 * shape.1 as f64 / 1024.0 * hours).abs() < 1e-6,
                "{case}: {name} is priced for {quantity} vCPU-hours"
            );
            expected.push((name, shape));
        }
        let taskmanagers = expected
            .iter()
            .find(|(n, _)| n == "taskmanager")
            .unwrap()
            .1
             .0;
        if workload_args.is_empty() {
            assert_eq!(taskmanagers, 3, "{case}: stack.toml's count");
            assert!(estimate["sizing"].is_null(), "{case}");
        } else {
            // The workload's logic is "window": Flink's window figure in data/capacity.toml.
            let needed = 200_000.0 / (51_700.0 * 0.7);
            assert_eq!(taskmanagers, (needed / 2.0_f64).ceil() as u64, "{case}");
            assert_eq!(estimate["sizing"]["scaled_out"], true, "{case}");
        }

        // 2. generate: the Terraform module blocks.
        let out = dir.path().join("terraform");
        run(
            &moto,
            &refs(&with(&[
                "generate",
                "--flavor",
                "flink",
                "--config",
                config,
                "--out",
                out.to_str().unwrap(),
            ])),
        )
        .success();
        let main = std::fs::read_to_string(out.join("main.tf")).unwrap();
        let body: hcl::Body = hcl::parse(&main).unwrap();
        for (name, (count, cpu, memory)) in &expected {
            let module = format!("service_{}", name.replace('-', "_"));
            let block = body
                .blocks()
                .find(|b| b.identifier() == "module" && b.labels()[0].as_str() == module)
                .unwrap_or_else(|| panic!("{case}: no module {module}"));
            assert_eq!(
                number(&module_attribute(block, "desired_count")),
                *count as f64,
                "{case}: {name}"
            );
            assert_eq!(
                number(&module_attribute(block, "cpu")),
                *cpu as f64,
                "{case}: {name}"
            );
            assert_eq!(
                number(&module_attribute(block, "memory")),
                *memory as f64,
                "{case}: {name}"
            );
            assert_eq!(
                number(&module_attribute(block, "spot_share")),
                spot_share,
                "{case}: {name}"
            );
        }

        // 3. deploy: the plan it applies (as diffs: every resource is new here), then what
        // it registers and creates in AWS.
        let plan = aws::json_of(
            &moto,
            &refs(&with(&[
                "deploy",
                "--flavor",
                "flink",
                "--config",
                config,
                "--diff",
                "--dry-run",
            ])),
        );
        let created = |kind: &str, name: &str| -> Value {
            let diff = plan["diffs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["kind"] == kind && d["name"] == name)
                .unwrap_or_else(|| panic!("{case}: no {kind} {name} in {plan}"));
            let text: String = diff["diff"]
                .as_str()
                .unwrap()
                .lines()
                .skip(3)
                .map(|l| l.strip_prefix('+').unwrap_or_else(|| panic!("{case}: {l}")))
                .collect();
            serde_json::from_str(&text).unwrap()
        };
        let spot = (spot_share * 100.0).round() as i64;
        for (name, (count, cpu, memory)) in &expected {
            let family = format!("orders-{name}");
            let task = created("task-definition", &family);
            assert_eq!(task["cpu"], cpu.to_string(), "{case}: {name}");
            assert_eq!(task["memory"], memory.to_string(), "{case}: {name}");
            let service = created("service", &family);
            assert_eq!(
                service["desiredCount"].as_u64().unwrap(),
                *count,
                "{case}: {name}"
            );
            assert_eq!(
                service["capacityProviderStrategy"],
                serde_json::json!([
                    {"capacityProvider": "FARGATE", "weight": 100 - spot},
                    {"capacityProvider": "FARGATE_SPOT", "weight": spot},
                ]),
                "{case}: {name}"
            );
        }
        let deployed = aws::json_of(
            &moto,
            &refs(&with(&[
                "deploy",
                "--flavor",
                "flink",
                "--config",
                config,
                "--yes",
                "--no-wait",
            ])),
        );
        assert_eq!(deployed["applied"], true, "{case}");
        for (name, (count, cpu, memory)) in &expected {
            let family = format!("orders-{name}");
            let task = aws.task_definition(&family);
            assert_eq!(task.cpu().unwrap(), cpu.to_string(), "{case}: {name}");
            assert_eq!(task.memory().unwrap(), memory.to_string(), "{case}: {name}");
            let service = aws.service("orders", &family);
            assert_eq!(service.desired_count() as u64, *count, "{case}: {name}");
        }

        // 4. status: what it reads back from ECS, and both prices.
        let status = aws::json_of(
            &moto,
            &refs(&with(&["status", "--flavor", "flink", "--config", config])),
        );
        for (name, (count, cpu, memory)) in &expected {
            let live = status["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == format!("orders-{name}"))
                .unwrap();
            assert_eq!(live["desired"].as_u64().unwrap(), *count, "{case}: {name}");
            assert_eq!(live["cpu_units"].as_u64().unwrap(), *cpu, "{case}: {name}");
            assert_eq!(
                live["memory_mib"].as_u64().unwrap(),
                *memory,
                "{case}: {name}"
            );
            // moto keeps no capacity provider strategy, so the live Spot share is unknown
            // there (drift.rs tests the share on recorded shapes).
            assert!(live["spot_share"].is_null(), "{case}: {live}");
        }
        assert_eq!(status["drift"], serde_json::json!([]), "{case}: {status}");
        assert_eq!(status["monthly_cost"], estimate["monthly_total"], "{case}");
        assert_eq!(
            status["live_monthly_cost"], estimate["monthly_total"],
            "{case}"
        );

        // Without the workload, the stack file describes the default count: ECS runs more.
        if !workload_args.is_empty() {
            let without_workload =
                aws::json_of(&moto, &["status", "--flavor", "flink", "--config", config]);
            let drift = without_workload["drift"].as_array().unwrap();
            assert_eq!(drift.len(), 1, "{without_workload}");
            assert_eq!(drift[0]["service"], "orders-taskmanager");
            assert_eq!(drift[0]["field"], "desired count");
            assert_eq!(drift[0]["stack"], "2");
            assert_eq!(drift[0]["live"], taskmanagers.to_string());
            assert!(
                without_workload["live_monthly_cost"]["low_usd"]
                    .as_f64()
                    .unwrap()
                    > without_workload["monthly_cost"]["low_usd"]
                        .as_f64()
                        .unwrap(),
                "{without_workload}"
            );
            run(&moto, &["status", "--flavor", "flink", "--config", config])
                .success()
                .stdout(predicate::str::contains(format!(
                    "orders-taskmanager desired count: 2 in the stack file, {taskmanagers} in ECS"
                )));
        }
    }
}

/// The engine flavor as generate writes it and deploy applies it: the same image, command,
/// health check, REST and /metrics port, Cloud Map name, checkpoint bucket and task role
/// permission on that bucket, and the ECR repository the image lives in.
#[test]
fn generate_and_deploy_agree_on_the_engine_image_health_port_name_and_bucket() {
    let moto = Moto::start();
    let aws = Aws::new(&moto);
    let (vpc, subnets) = aws.network();
    let dir = tempfile::tempdir().unwrap();
    let registry = "http://schema-registry.orders.internal:8081";
    let config = stack_toml(
        dir.path(),
        &vpc,
        &subnets,
        &format!("schema_registry_url = \"{registry}\"\n"),
    );
    let config = config.to_str().unwrap();
    let image = format!(
        "123456789012.dkr.ecr.eu-west-2.amazonaws.com/advisor-engine:{}",
        env!("CARGO_PKG_VERSION")
    );
    let bucket = "orders-checkpoints-123456789012";
    let health = [
        "CMD",
        "/advisor-engine",
        "healthcheck",
        "--url",
        "http://127.0.0.1:8088/healthcheck",
    ];

    // The StackSpec generate prints, then the Terraform it writes.
    let spec = aws::json_of(
        &moto,
        &[
            "generate", "--flavor", "engine", "--config", config, "--format", "json",
        ],
    );
    let engine = &spec["stack"]["services"][0];
    assert_eq!(engine["name"], "engine");
    assert_eq!(engine["discovery_name"], "engine");
    assert_eq!(engine["command"], serde_json::json!(["serve"]));
    assert_eq!(engine["health_check"]["command"], serde_json::json!(health));
    assert_eq!(engine["ports"][0]["port"], 8088);
    let out = dir.path().join("terraform");
    let body = generate_engine(&moto, config, &out);
    let module = engine_module(&body);
    // Compared without whitespace: hcl-rs lays lists out over several lines.
    let text = |key: &str| -> String {
        hcl::format::to_string(&module_attribute(module, key))
            .unwrap()
            .split_whitespace()
            .collect()
    };
    assert_eq!(
        text("image"),
        "\"${local.account_id}.dkr.ecr.${local.region}.amazonaws.com/advisor-engine:0.1.0\""
    );
    assert_eq!(text("command"), "[\"serve\"]");
    assert_eq!(
        text("service_registry_arn"),
        "module.discovery.service_arns[\"engine\"]"
    );
    assert!(
        text("port_mappings").contains("port=8088"),
        "{}",
        text("port_mappings")
    );
    assert!(
        text("health_check").contains(&health.join("\",\"")),
        "{}",
        text("health_check")
    );
    assert!(
        text("environment").contains("\"s3://${local.checkpoint_bucket}/checkpoints\""),
        "{}",
        text("environment")
    );
    assert!(
        text("environment").contains("ENGINE_SCHEMA_REGISTRY_URL=\"${local.schema_registry_url}\""),
        "{}",
        text("environment")
    );
    let repository = body
        .blocks()
        .find(|b| b.identifier() == "resource" && b.labels()[0].as_str() == "aws_ecr_repository")
        .expect("the engine image's ECR repository");
    assert_eq!(
        hcl::format::to_string(&module_attribute(repository, "name")).unwrap(),
        "\"advisor-engine\""
    );

    // What deploy registers and creates.
    deploy_json(&moto, "engine", Path::new(config));
    let task = aws.task_definition("orders-engine");
    let container = &task.container_definitions()[0];
    assert_eq!(container.image(), Some(image.as_str()));
    assert_eq!(container.command(), ["serve"]);
    assert_eq!(
        container.health_check().map(|h| h.command().to_vec()),
        Some(health.map(String::from).to_vec())
    );
    assert_eq!(container.port_mappings()[0].container_port(), Some(8088));
    let environment: std::collections::BTreeMap<&str, &str> = container
        .environment()
        .iter()
        .filter_map(|pair| Some((pair.name()?, pair.value()?)))
        .collect();
    assert_eq!(
        environment.get("ENGINE_CHECKPOINT_DIR"),
        Some(&format!("s3://{bucket}/checkpoints").as_str())
    );
    assert_eq!(environment.get("ENGINE_LISTEN"), Some(&"0.0.0.0:8088"));
    // The engine's own name for ksqlDB's KSQL_KSQL_SCHEMA_REGISTRY_URL.
    assert_eq!(
        environment.get("ENGINE_SCHEMA_REGISTRY_URL"),
        Some(&registry)
    );
    assert!(aws.bucket_exists(bucket));
    let discovery = aws_sdk_servicediscovery::Client::new(&aws.config);
    let services = aws
        .runtime
        .block_on(discovery.list_services().send())
        .unwrap();
    assert!(
        services
            .services()
            .iter()
            .any(|s| s.name() == Some("engine")),
        "{services:?}"
    );
    let iam = aws_sdk_iam::Client::new(&aws.config);
    let policies = aws
        .runtime
        .block_on(iam.list_role_policies().role_name("orders-task").send())
        .unwrap();
    let mut documents = String::new();
    for name in policies.policy_names() {
        let policy = aws
            .runtime
            .block_on(
                iam.get_role_policy()
                    .role_name("orders-task")
                    .policy_name(name)
                    .send(),
            )
            .unwrap();
        documents.push_str(policy.policy_document());
    }
    let documents = documents
        .replace("%3A", ":")
        .replace("%2F", "/")
        .replace("%2A", "*");
    assert!(
        documents.contains(&format!("arn:aws:s3:::{bucket}")) && documents.contains("s3:PutObject"),
        "the task role may write the checkpoint bucket: {documents}"
    );
}

/// The autoscaling stack.toml asks for is the same in the cost, the Terraform and the
/// deployed stack; a redeploy keeps the count the autoscaler chose; changed bounds update
/// the target, and removing the table removes it.
#[test]
fn autoscaling_agrees_across_cost_terraform_and_deploy_and_keeps_the_autoscalers_count() {
    use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};

    let moto = Moto::start();
    let aws = Aws::new(&moto);
    let (vpc, subnets) = aws.network();
    let dir = tempfile::tempdir().unwrap();
    let scaled = |max: u32| {
        format!(
            "\n[services.engine]\ncount = 2\n\n[services.engine.autoscaling]\nmax = {max}\ntarget_cpu = 60\nscale_in_cooldown = 600\n"
        )
    };
    let config = stack_toml(dir.path(), &vpc, &subnets, &scaled(6));
    let config_arg = config.to_str().unwrap();

    // 1. cost: priced from the starting count up to the most the autoscaler may run.
    let cost = aws::json_of(
        &moto,
        &["cost", "--flavor", "engine", "--config", config_arg],
    );
    let estimate = &cost["estimates"][0];
    let engine = &estimate["stack"]["services"][0];
    assert_eq!(engine["desired_count"], 2, "{engine}");
    assert_eq!(
        engine["autoscaling"],
        serde_json::json!({
            "min_count": 2,
            "max_count": 6,
            "target_cpu_percent": 60.0,
            "scale_out_cooldown_seconds": 60,
            "scale_in_cooldown_seconds": 600,
        })
    );
    let vcpu = estimate["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["component"].as_str().unwrap().ends_with(": vCPU"))
        .unwrap();
    let hours = estimate["hours_per_month"].as_f64().unwrap();
    let per_task = engine["cpu_units"].as_f64().unwrap() / 1024.0 * hours;
    assert!((vcpu["quantity"]["low"].as_f64().unwrap() - 2.0 * per_task).abs() < 1e-6);
    assert!((vcpu["quantity"]["high"].as_f64().unwrap() - 6.0 * per_task).abs() < 1e-6);
    assert!(
        vcpu["detail"]
            .as_str()
            .unwrap()
            .contains("2 to 6 tasks (autoscaled at 60% CPU)"),
        "{vcpu}"
    );
    let total = &estimate["monthly_total"];
    assert!(total["high_usd"].as_f64().unwrap() > total["low_usd"].as_f64().unwrap());

    // 2. generate: the same bounds into the service module, which tracks CPU.
    let out = dir.path().join("terraform");
    let body = generate_engine(&moto, config_arg, &out);
    let module = engine_module(&body);
    let autoscaling: String = hcl::format::to_string(&module_attribute(module, "autoscaling"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        autoscaling,
        "{min_count=2max_count=6target_cpu_percent=60scale_out_cooldown=60scale_in_cooldown=600}"
    );
    let service_module =
        std::fs::read_to_string(out.join("modules/fargate-service/main.tf")).unwrap();
    let service_module: hcl::Body = hcl::parse(&service_module).unwrap();
    let resource = |kind: &str| {
        service_module
            .blocks()
            .find(|b| b.identifier() == "resource" && b.labels()[0].as_str() == kind)
            .unwrap_or_else(|| panic!("the service module has a {kind}"))
    };
    let policy = hcl::format::to_string(resource("aws_appautoscaling_policy")).unwrap();
    assert!(
        policy.contains("ECSServiceAverageCPUUtilization")
            && policy.contains("var.autoscaling.target_cpu_percent"),
        "{policy}"
    );
    let autoscaled = hcl::format::to_string(resource("aws_ecs_service")).unwrap();
    assert!(autoscaled.contains("count"), "{autoscaled}");
    let kept = service_module
        .blocks()
        .filter(|b| b.identifier() == "resource" && b.labels()[0].as_str() == "aws_ecs_service")
        .map(|b| hcl::format::to_string(b).unwrap())
        .find(|b| b.contains("ignore_changes"))
        .expect("an autoscaled service whose count Terraform leaves alone");
    assert!(kept.contains("desired_count"), "{kept}");

    // 3. deploy: the scalable target and the policy, created after the service.
    let first = deploy_json(&moto, "engine", &config);
    let planned = actions(&first);
    let service_at = planned
        .iter()
        .position(|(n, _)| n == "orders-engine")
        .unwrap();
    let kinds: Vec<&str> = first["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    let scaling_at = kinds.iter().position(|k| *k == "autoscaling").unwrap();
    assert!(scaling_at > service_at, "{first}");
    assert_eq!(planned[scaling_at].1, "create");
    let client = aws_sdk_applicationautoscaling::Client::new(&aws.config);
    let read_target = || {
        aws.runtime
            .block_on(
                client
                    .describe_scalable_targets()
                    .service_namespace(ServiceNamespace::Ecs)
                    .send(),
            )
            .unwrap()
            .scalable_targets()
            .iter()
            .map(|t| {
                (
                    t.resource_id().to_string(),
                    t.min_capacity(),
                    t.max_capacity(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        read_target(),
        [("service/orders/orders-engine".to_string(), 2, 6)]
    );
    let policies = aws
        .runtime
        .block_on(
            client
                .describe_scaling_policies()
                .service_namespace(ServiceNamespace::Ecs)
                .resource_id("service/orders/orders-engine")
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .send(),
        )
        .unwrap();
    let policy = policies
        .scaling_policies()
        .first()
        .expect("a scaling policy");
    assert_eq!(policy.policy_name(), "orders-engine-cpu");
    let tracking = policy
        .target_tracking_scaling_policy_configuration()
        .unwrap();
    assert_eq!(tracking.target_value(), 60.0);
    assert_eq!(tracking.scale_out_cooldown(), Some(60));
    assert_eq!(tracking.scale_in_cooldown(), Some(600));
    assert_eq!(
        tracking
            .predefined_metric_specification()
            .map(|m| m.predefined_metric_type().as_str()),
        Some("ECSServiceAverageCPUUtilization")
    );

    // 4. The autoscaler scales out to 4: a redeploy and status leave that alone.
    aws.runtime
        .block_on(
            aws_sdk_ecs::Client::new(&aws.config)
                .update_service()
                .cluster("orders")
                .service("orders-engine")
                .desired_count(4)
                .send(),
        )
        .unwrap();
    let again = deploy_json(&moto, "engine", &config);
    assert_eq!(again["applied"], false, "{again}");
    assert_eq!(aws.service("orders", "orders-engine").desired_count(), 4);
    let status = aws::json_of(
        &moto,
        &["status", "--flavor", "engine", "--config", config_arg],
    );
    let live = &status["services"][0];
    assert_eq!(live["desired"], 4, "{status}");
    assert_eq!(live["autoscaling"]["max_count"], 6, "{status}");
    assert_eq!(
        status["drift"],
        serde_json::json!([]),
        "the autoscaler's count is not drift: {status}"
    );

    // 5. Wider bounds update the target only. (Each stack_toml rewrites the one file.)
    let wider = stack_toml(dir.path(), &vpc, &subnets, &scaled(8));
    let plan = aws::json_of(
        &moto,
        &[
            "deploy",
            "--flavor",
            "engine",
            "--config",
            wider.to_str().unwrap(),
            "--dry-run",
        ],
    );
    let changed: Vec<&Value> = plan["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "unchanged")
        .collect();
    assert_eq!(changed.len(), 1, "{plan}");
    assert_eq!(changed[0]["kind"], "autoscaling");
    assert_eq!(
        changed[0]["details"],
        serde_json::json!(["tasks 2 to 6 -> 2 to 8"])
    );
    deploy_json(&moto, "engine", &wider);
    assert_eq!(
        read_target(),
        [("service/orders/orders-engine".to_string(), 2, 8)]
    );

    // 6. Without the table the target goes and the stack file's count returns.
    let fixed = stack_toml(
        dir.path(),
        &vpc,
        &subnets,
        "\n[services.engine]\ncount = 2\n",
    );
    let removed = deploy_json(&moto, "engine", &fixed);
    let changes = removed["plan"]["changes"].as_array().unwrap();
    let scaling = changes.iter().find(|c| c["kind"] == "autoscaling").unwrap();
    assert_eq!(
        scaling["details"],
        serde_json::json!(["remove autoscaling (2 to 8 tasks)"])
    );
    let service = changes.iter().find(|c| c["kind"] == "service").unwrap();
    assert!(
        service["details"]
            .to_string()
            .contains("desired count 4 -> 2"),
        "{service}"
    );
    assert!(read_target().is_empty());
    assert_eq!(aws.service("orders", "orders-engine").desired_count(), 2);

    // 7. destroy removes the target before the service.
    let config = stack_toml(dir.path(), &vpc, &subnets, &scaled(6));
    deploy_json(&moto, "engine", &config);
    assert_eq!(read_target().len(), 1);
    let destroyed = aws::json_of(
        &moto,
        &[
            "destroy", "--flavor", "engine", "--config", config_arg, "--yes",
        ],
    );
    let removed: Vec<(&str, &str)> = destroyed["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(removed[0], ("autoscaling", "deleted"), "{destroyed}");
    assert!(read_target().is_empty());
}

#[test]
fn autoscaling_settings_that_cannot_work_are_refused_where_they_stand() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "engine",
            "[services.engine]\ncount = 3\n\n[services.engine.autoscaling]\nmax = 2\n",
            &[][..],
            "stack.toml:5:7: services.engine.autoscaling.max: 2 is below the 3 tasks the service is sized to",
        ),
        (
            "engine",
            "[services.engine.autoscaling]\nmin = 4\nmax = 3\n",
            &[][..],
            "services.engine.autoscaling.max: 3 is below min 4",
        ),
        (
            "engine",
            "[services.engine.autoscaling]\nmax = 12\n",
            &["--partitions", "6", "--events-per-sec", "1000"][..],
            "the input topics have 6 partitions",
        ),
        (
            "engine",
            "[services.engine.autoscaling]\nmax = 3\ntarget_cpu = 140\n",
            &[][..],
            "services.engine.autoscaling.target_cpu: must be a percentage above 0 and at most 100, got 140",
        ),
        (
            "flink",
            "[services.jobmanager.autoscaling]\nmax = 2\n",
            &[][..],
            "the coordinator runs exactly one task",
        ),
        (
            "flink",
            "[services.taskmanager.autoscaling]\nmax = 4\n",
            &[][..],
            "reactive mode is not configured",
        ),
        (
            "engine",
            "[services.engine.autoscaling]\nmax = 3\ntarget = 50\n",
            &[][..],
            "unknown field `target`",
        ),
    ];
    for (flavor, toml, flags, expected) in cases {
        let config = common::write(dir.path(), "stack.toml", toml);
        let mut args = vec![
            "cost",
            "--flavor",
            flavor,
            "--config",
            config.to_str().unwrap(),
        ];
        args.extend(flags);
        advisor()
            .args(&args)
            .assert()
            .failure()
            .stderr(predicate::str::contains(expected));
    }
}

#[test]
fn the_engine_refuses_msk_iam_which_its_kafka_client_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write(
        dir.path(),
        "stack.toml",
        "[kafka]\nbootstrap_servers = \"b-1:9098\"\nauth = \"msk-iam\"\nmsk_cluster_arn = \"arn:aws:kafka:us-east-1:123456789012:cluster/fraud/abc-1\"\n",
    );
    advisor()
        .args(["cost", "--flavor", "engine", "--config", config.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "stack.toml:3:8: kafka.auth: advisor-engine's Kafka client (librdkafka) has no AWS_MSK_IAM mechanism",
        ));
    // The JVM engines take MSK's IAM login module.
    advisor()
        .args([
            "cost",
            "--flavor",
            "flink",
            "--config",
            config.to_str().unwrap(),
        ])
        .assert()
        .success();
}
