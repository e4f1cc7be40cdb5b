//! `advisor logs`, `rollback` and `diff` against a real moto server.

#[path = "common/aws.rs"]
mod aws;
mod common;
#[path = "common/moto.rs"]
mod moto;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws::{deploy_json, json_of, run, stack_toml, Aws};
use moto::Moto;
use predicates::prelude::*;
use serde_json::Value;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn stdout_of(moto: &Moto, args: &[&str]) -> String {
    let output = run(moto, args).success().get_output().stdout.clone();
    String::from_utf8(output).unwrap()
}

#[test]
fn logs_interleave_the_services_by_time_and_follow_new_events() {
    let moto = Moto::start();
    let aws = Aws::new(&moto);
    let (vpc, subnets) = aws.network();
    let dir = tempfile::tempdir().unwrap();
    let config = stack_toml(dir.path(), &vpc, &subnets, "");
    let config = config.to_str().unwrap();
    let base = ["logs", "--flavor", "flink", "--config", config];

    // Before the stack exists there is no log group, and the error says so.
    run(&moto, &base).failure().stderr(predicate::str::contains(
        "log group /ecs/orders does not exist",
    ));

    deploy_json(&moto, "flink", std::path::Path::new(config));
    let now = now_ms();
    aws.put_logs(
        "/ecs/orders",
        "jobmanager/jobmanager/7f3a",
        &[
            (now - 7_200_000, "jobmanager started two hours ago"),
            (now - 60_000, "jobmanager started"),
            (now - 20_000, "ERROR jobmanager lost a TaskManager"),
        ],
    );
    aws.put_logs(
        "/ecs/orders",
        "taskmanager/taskmanager/91bc",
        &[(now - 40_000, "taskmanager registered")],
    );
    aws.put_logs(
        "/ecs/orders",
        "other/other/1",
        &[(now - 30_000, "not ours")],
    );

    let text = stdout_of(&moto, &base);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].ends_with("jobmanager  jobmanager started"),
        "{text}"
    );
    assert!(
        lines[1].ends_with("taskmanager taskmanager registered"),
        "{text}"
    );
    assert!(
        lines[2].ends_with("jobmanager  ERROR jobmanager lost a TaskManager"),
        "{text}"
    );
    assert!(
        lines[0].starts_with(
            &jiff::Timestamp::from_millisecond(now - 60_000)
                .unwrap()
                .strftime("%Y-%m-%dT%H:%M:%S")
                .to_string()
        ),
        "{text}"
    );

    let older = stdout_of(&moto, &[&base[..], &["--since", "3h"]].concat());
    assert!(
        older
            .lines()
            .next()
            .unwrap()
            .ends_with("jobmanager started two hours ago"),
        "{older}"
    );
    assert_eq!(older.lines().count(), 4, "{older}");

    let one = stdout_of(&moto, &[&base[..], &["--service", "taskmanager"]].concat());
    assert_eq!(one.lines().count(), 1, "{one}");
    assert!(one.contains("taskmanager registered"), "{one}");

    let errors = stdout_of(&moto, &[&base[..], &["--filter", "ERROR"]].concat());
    assert_eq!(errors.lines().count(), 1, "{errors}");
    assert!(errors.contains("lost a TaskManager"), "{errors}");

    let json = stdout_of(&moto, &[&base[..], &["-o", "json"]].concat());
    let events: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 3);
    assert_eq!(events[1]["service"], "taskmanager");
    assert_eq!(events[1]["stream"], "taskmanager/taskmanager/91bc");
    assert_eq!(events[1]["timestamp"], now - 40_000);

    run(&moto, &[&base[..], &["--service", "nope"]].concat())
        .failure()
        .stderr(predicate::str::contains(
            "its services are: jobmanager, taskmanager",
        ));

    // --follow prints what is there, then each new event once, until Ctrl-C (SIGINT).
    let mut command = Command::new(env!("CARGO_BIN_EXE_advisor"));
    for (key, value) in moto.env() {
        command.env(key, value);
    }
    let mut child = command
        .env_remove("AWS_PROFILE")
        .args(base)
        .args(["--follow", "--service", "jobmanager"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut read_line = || {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        line
    };
    assert!(read_line().ends_with("jobmanager started\n"));
    assert!(read_line().ends_with("ERROR jobmanager lost a TaskManager\n"));
    let later = now_ms();
    aws.put_logs(
        "/ecs/orders",
        "jobmanager/jobmanager/8e4b",
        &[(later, "jobmanager recovered")],
    );
    let started = Instant::now();
    let next = read_line();
    assert!(next.ends_with("jobmanager recovered\n"), "{next}");
    assert!(started.elapsed() < Duration::from_secs(20));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "Ctrl-C ends --follow cleanly: {status:?}");
}

fn service_task_definition(aws: &Aws, name: &str) -> String {
    aws.service("orders", name)
        .task_definition()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn rollback_points_a_service_at_its_previous_revision_and_refuses_without_one() {
    let moto = Moto::start();
    let aws = Aws::new(&moto);
    let (vpc, subnets) = aws.network();
    let dir = tempfile::tempdir().unwrap();
    let small = stack_toml(dir.path(), &vpc, &subnets, "");
    let small = small.to_str().unwrap().to_string();
    deploy_json(&moto, "ksqldb", std::path::Path::new(&small));
    // The first revision has nothing to go back to.
    run(
        &moto,
        &[
            "rollback",
            "--flavor",
            "ksqldb",
            "--config",
            &small,
            "--yes",
            "--no-wait",
        ],
    )
    .failure()
    .stderr(predicate::str::contains(
        "no active revision of orders-ksqldb-server older than 1",
    ));

    let big_dir = tempfile::tempdir().unwrap();
    let big = stack_toml(
        big_dir.path(),
        &vpc,
        &subnets,
        "\n[services.ksqldb-server]\ncpu = 2048\nmemory = 4096\n",
    );
    deploy_json(&moto, "ksqldb", &big);
    assert_eq!(
        service_task_definition(&aws, "orders-ksqldb-server"),
        "orders-ksqldb-server:2"
    );
    let base = ["rollback", "--flavor", "ksqldb", "--config", small.as_str()];

    let dry = stdout_of(&moto, &[&base[..], &["--dry-run"]].concat());
    assert!(
        dry.contains("orders-ksqldb-server: orders-ksqldb-server:2 -> orders-ksqldb-server:1"),
        "{dry}"
    );
    assert_eq!(
        service_task_definition(&aws, "orders-ksqldb-server"),
        "orders-ksqldb-server:2"
    );

    // Without a terminal it needs --yes.
    run(&moto, &base)
        .failure()
        .stderr(predicate::str::contains("pass --yes"));

    let done = json_of(&moto, &[&base[..], &["--yes", "--no-wait"]].concat());
    assert_eq!(done["applied"], true);
    assert!(
        done["rollback"][0]["to"].as_str().unwrap().ends_with(":1"),
        "{done}"
    );
    assert_eq!(
        service_task_definition(&aws, "orders-ksqldb-server"),
        "orders-ksqldb-server:1"
    );
    // The desired count is left as it is.
    assert_eq!(
        aws.service("orders", "orders-ksqldb-server")
            .desired_count(),
        1
    );

    // Forward again by number; a revision that does not exist is refused.
    run(
        &moto,
        &[
            &base[..],
            &[
                "--service",
                "ksqldb-server",
                "--to",
                "2",
                "--yes",
                "--no-wait",
            ],
        ]
        .concat(),
    )
    .success();
    assert_eq!(
        service_task_definition(&aws, "orders-ksqldb-server"),
        "orders-ksqldb-server:2"
    );
    run(
        &moto,
        &[
            &base[..],
            &["--service", "ksqldb-server", "--to", "9", "--yes"],
        ]
        .concat(),
    )
    .failure()
    .stderr(predicate::str::contains(
        "orders-ksqldb-server:9 is not an active revision (active: 1, 2)",
    ));

    // Waiting works as deploy's does: moto never finishes a rollout, so a short timeout
    // ends with what it is waiting for.
    run(&moto, &[&base[..], &["--yes", "--timeout", "1s"]].concat())
        .failure()
        .stderr(predicate::str::contains("not done after 1s"))
        .stderr(predicate::str::contains(
            "service orders-ksqldb-server: 0 of 1 tasks running",
        ));

    // A service moved to a task definition of another family is not the stack's to roll back.
    aws.runtime.block_on(async {
        let ecs = aws_sdk_ecs::Client::new(&aws.config);
        let registered = ecs
            .register_task_definition()
            .family("billing")
            .container_definitions(
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name("billing")
                    .image("billing:1")
                    .memory(512)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let arn = registered
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .unwrap()
            .to_string();
        ecs.update_service()
            .cluster("orders")
            .service("orders-ksqldb-server")
            .task_definition(arn)
            .send()
            .await
            .unwrap();
    });
    run(&moto, &[&base[..], &["--yes", "--no-wait"]].concat())
        .failure()
        .stderr(predicate::str::contains(
            "not a revision of the stack's own family orders-ksqldb-server",
        ));
}

#[test]
fn diff_shows_the_plan_as_unified_diffs() {
    let moto = Moto::start();
    let aws = Aws::new(&moto);
    let (vpc, subnets) = aws.network();
    let dir = tempfile::tempdir().unwrap();
    let small = stack_toml(dir.path(), &vpc, &subnets, "");
    let small = small.to_str().unwrap().to_string();
    let base = ["diff", "--flavor", "ksqldb", "--config", small.as_str()];

    let fresh = stdout_of(&moto, &base);
    assert!(fresh.contains("+ task definition orders-ksqldb-server\n--- /dev/null\n+++ orders-ksqldb-server (stack file)\n"), "{fresh}");
    assert!(fresh.contains("+  \"cpu\": \"1024\","), "{fresh}");
    assert!(
        fresh.contains("+ ECS service orders-ksqldb-server"),
        "{fresh}"
    );
    assert!(!aws.log_group_exists("/ecs/orders"), "diff changes nothing");

    deploy_json(&moto, "ksqldb", std::path::Path::new(&small));
    let same = stdout_of(&moto, &base);
    assert!(
        same.contains("No changes: stack orders is up to date"),
        "{same}"
    );

    let big_dir = tempfile::tempdir().unwrap();
    let big = stack_toml(
        big_dir.path(),
        &vpc,
        &subnets,
        "\n[services.ksqldb-server]\ncpu = 2048\nmemory = 4096\ncount = 2\n",
    );
    let big = big.to_str().unwrap();
    let document = json_of(&moto, &["diff", "--flavor", "ksqldb", "--config", big]);
    let diffs = document["diffs"].as_array().unwrap();
    assert_eq!(diffs.len(), 2, "{document}");
    let task = diffs
        .iter()
        .find(|d| d["kind"] == "task-definition")
        .unwrap();
    assert_eq!(task["action"], "update");
    let text = task["diff"].as_str().unwrap();
    assert!(
        text.starts_with(
            "--- orders-ksqldb-server:1 (AWS)\n+++ orders-ksqldb-server (stack file)\n"
        ),
        "{text}"
    );
    assert!(text.contains("\n-  \"cpu\": \"1024\",\n-  \"memory\": \"2048\",\n+  \"cpu\": \"2048\",\n+  \"memory\": \"4096\",\n"), "{text}");
    assert!(
        !text.contains("\"image\""),
        "only changed fields and their context: {text}"
    );
    let service = diffs.iter().find(|d| d["kind"] == "service").unwrap()["diff"]
        .as_str()
        .unwrap();
    assert!(service.contains("-  \"taskDefinition\": \"orders-ksqldb-server:1\",\n-  \"desiredCount\": 1,\n+  \"taskDefinition\": \"orders-ksqldb-server:2 (new revision)\",\n+  \"desiredCount\": 2,"), "{service}");

    // deploy --diff prints the same diffs in place of the table, and the workload flags size
    // the stack as cost does.
    let deploy = stdout_of(
        &moto,
        &[
            "deploy",
            "--flavor",
            "ksqldb",
            "--config",
            big,
            "--diff",
            "--dry-run",
        ],
    );
    assert!(deploy.contains(text), "{deploy}");
    assert!(deploy.contains("Dry run: nothing was changed"), "{deploy}");
    let busy = json_of(&moto, &[&base[..], &["--events-per-sec", "50000"]].concat());
    let service = busy["diffs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "service")
        .unwrap()["diff"]
        .as_str()
        .unwrap()
        .to_string();
    let tasks = (50_000.0_f64 / (9800.0 * 0.7)).ceil();
    assert!(
        service.contains(&format!("+  \"desiredCount\": {tasks},")),
        "{service}"
    );
}
