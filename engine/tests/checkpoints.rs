//! Checkpoints in S3 (issue 22): the tutorial's order totals over a real broker (tansu) with
//! their state in a real S3 API (moto), restored by an engine that starts on an empty disk,
//! as a replacement task on Fargate does; and an S3 that cannot be reached, which fails the
//! checkpoint without committing what it did not save.

mod common;
#[path = "../../tests/common/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::time::Duration;

use advisor_engine::exchange::PartitionSnapshot;
use assert_cmd::Command as Cmd;
use common::{orders, Tansu};
use moto::Moto;
use serde_json::Value;

const HOUR: i64 = 3_600_000;
const BUCKET: &str = "orders-checkpoints";

const SQL: &str = "CREATE STREAM order_events (
  order_id BIGINT, customer_id STRING, order_status STRING, order_total DOUBLE, created_at BIGINT
) WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON', TIMESTAMP='created_at');
CREATE TABLE customer_order_totals AS
SELECT customer_id, COUNT(*) AS order_count, SUM(order_total) AS total_spent
FROM order_events WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY customer_id EMIT CHANGES;";

/// A bucket in moto and the orders topic (3 partitions) on tansu, for one test.
struct Setup {
    moto: Moto,
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
    aws: Vec<(&'static str, String)>,
    tansu: Tansu,
    location: String,
}

impl Setup {
    fn new() -> Setup {
        let moto = Moto::start();
        let (runtime, client) = s3(&moto);
        let aws = moto.env();
        let tansu = Tansu::start();
        tansu.create_topic("order-events", 3);
        Setup {
            moto,
            runtime,
            client,
            aws,
            tansu,
            location: format!("s3://{BUCKET}/engine"),
        }
    }
}

fn lines(orders: &[(String, f64, i64, String)]) -> Vec<String> {
    orders.iter().map(|o| o.3.clone()).collect()
}

/// One engine run until the topics stay quiet, on a fresh, empty state folder, with its
/// checkpoints at `checkpoint_dir` and the AWS settings in `aws`.
fn engine_run(
    tansu: &Tansu,
    checkpoint_dir: &str,
    aws: &[(&str, String)],
) -> assert_cmd::assert::Assert {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.sql"), SQL).unwrap();
    let mut command = Cmd::new(env!("CARGO_BIN_EXE_advisor-engine"));
    for (key, value) in aws {
        command.env(key, value);
    }
    command
        .current_dir(dir.path())
        .args(["run", "--sql", "q.sql", "--bootstrap-servers"])
        .arg(&tansu.bootstrap)
        .args(["--group-id", "orders-app", "--state-dir", "local-state"])
        .args(["--checkpoint-dir", checkpoint_dir])
        .args(["--stop-when-idle", "3s"])
        .timeout(Duration::from_secs(120))
        .assert()
}

fn s3(moto: &Moto) -> (tokio::runtime::Runtime, aws_sdk_s3::Client) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = runtime.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(advisor_engine::checkpoint::s3::https_client())
            .endpoint_url(&moto.endpoint)
            .region(aws_config::Region::new("eu-west-2"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load(),
    );
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    runtime
        .block_on(
            client
                .create_bucket()
                .bucket(BUCKET)
                .create_bucket_configuration(
                    aws_sdk_s3::types::CreateBucketConfiguration::builder()
                        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest2)
                        .build(),
                )
                .send(),
        )
        .unwrap();
    (runtime, client)
}

fn object_keys(runtime: &tokio::runtime::Runtime, client: &aws_sdk_s3::Client) -> Vec<String> {
    runtime
        .block_on(client.list_objects_v2().bucket(BUCKET).send())
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

fn object(runtime: &tokio::runtime::Runtime, client: &aws_sdk_s3::Client, key: &str) -> Vec<u8> {
    runtime.block_on(async {
        client
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes()
            .to_vec()
    })
}

/// The last (count, sum) per (customer, window start), from ksqlDB's windowed key bytes.
fn final_totals(records: &[(Vec<u8>, Value)]) -> BTreeMap<(String, i64), (i64, f64)> {
    let mut last = BTreeMap::new();
    for (key, value) in records {
        let (customer, start) = key.split_at(key.len() - 8);
        let start = i64::from_be_bytes(start.try_into().unwrap());
        last.insert(
            (String::from_utf8(customer.to_vec()).unwrap(), start),
            (
                value["ORDER_COUNT"].as_i64().unwrap(),
                value["TOTAL_SPENT"].as_f64().unwrap(),
            ),
        );
    }
    last
}

fn assert_totals(records: &[(Vec<u8>, Value)], orders: &[(String, f64, i64, String)]) {
    let mut want: BTreeMap<(String, i64), (i64, f64)> = BTreeMap::new();
    for (customer, total, at, _) in orders {
        let entry = want
            .entry((customer.clone(), at - at.rem_euclid(HOUR)))
            .or_default();
        entry.0 += 1;
        entry.1 += total;
    }
    let got = final_totals(records);
    assert_eq!(got.len(), want.len());
    for (key, (count, sum)) in &want {
        let (got_count, got_sum) = got[key];
        assert_eq!(got_count, *count, "{key:?}");
        assert!((got_sum - sum).abs() < 1e-6, "{key:?}: {got_sum} != {sum}");
    }
}

#[test]
fn state_in_s3_is_restored_on_an_empty_disk_and_nothing_counts_twice() {
    let Setup {
        moto: _moto,
        runtime,
        client,
        aws,
        tansu,
        location,
    } = Setup::new();

    let first = orders(0, 600);
    tansu.produce("order-events", &lines(&first));
    engine_run(&tansu, &location, &aws).success();
    let keys = object_keys(&runtime, &client);
    // One unit per partition of the query's repartition topic, each its manifest naming its
    // snapshot.
    // One unit per partition of the query's repartition topic that holds keys (the seven
    // customers' keys need not reach all three), each its manifest naming its snapshot.
    let mut manifests: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("engine/") && k.ends_with("/manifest.json"))
        .collect();
    manifests.sort();
    assert!(!manifests.is_empty(), "{keys:?}");
    let units: Vec<String> = (0..3)
        .map(|p| format!("engine/CTAS_CUSTOMER_ORDER_TOTALS_0/partition-{p}/manifest.json"))
        .collect();
    assert!(manifests.iter().all(|m| units.contains(m)), "{keys:?}");
    // How far the state has taken each input partition, over the repartition partitions.
    let mut taken: BTreeMap<u32, u64> = BTreeMap::new();
    for manifest_key in &manifests {
        let manifest: Value =
            serde_json::from_slice(&object(&runtime, &client, manifest_key)).unwrap();
        let snapshot_key =
            manifest_key.replace("manifest.json", manifest["snapshot"].as_str().unwrap());
        assert!(keys.contains(&snapshot_key), "{keys:?}");
        let snapshot = object(&runtime, &client, &snapshot_key);
        assert_eq!(snapshot.len() as u64, manifest["bytes"].as_u64().unwrap());
        let snapshot = PartitionSnapshot::decode(&snapshot).unwrap();
        assert!(snapshot.next_offset.is_some_and(|next| next > 0));
        for (topic, partition, next) in snapshot.seen.iter() {
            assert_eq!(topic, "order-events");
            let most = taken.entry(partition).or_default();
            *most = (*most).max(next);
        }
    }
    assert_eq!(
        taken.values().sum::<u64>(),
        600,
        "the state reflects every input record read: {taken:?}"
    );
    let manifest_key = manifests[0].clone();
    let after_first = tansu.read_all("CUSTOMER_ORDER_TOTALS", 1).len();

    // A replacement on an empty disk, same group: the state comes back from S3.
    let second = orders(600, 1000);
    tansu.produce("order-events", &lines(&second));
    engine_run(&tansu, &location, &aws)
        .success()
        .stderr(predicates::str::contains("checkpoint read"));
    let after_second = tansu
        .read_all("CUSTOMER_ORDER_TOTALS", after_first + 1)
        .len();
    let all: Vec<_> = first.iter().chain(&second).cloned().collect();
    assert_totals(&tansu.read_all("CUSTOMER_ORDER_TOTALS", after_second), &all);

    // Committed offsets lost (the broker's, not the checkpoint's): the replay is skipped,
    // since the restored state already holds it, and nothing is sent again.
    tansu.rewind_group("orders-app", "order-events", 3);
    engine_run(&tansu, &location, &aws).success();
    let records = tansu.read_all("CUSTOMER_ORDER_TOTALS", after_second);
    assert_eq!(records.len(), after_second, "the replay sent nothing");
    assert_totals(&records, &all);

    // Two more runs with new orders save twice more: four snapshots of each partition
    // written, the newest and the two before it kept.
    let third = orders(1000, 1100);
    tansu.produce("order-events", &lines(&third));
    engine_run(&tansu, &location, &aws).success();
    let fourth = orders(1100, 1200);
    tansu.produce("order-events", &lines(&fourth));
    engine_run(&tansu, &location, &aws).success();
    let all: Vec<_> = all.iter().chain(&third).chain(&fourth).cloned().collect();
    assert_totals(
        &tansu.read_all("CUSTOMER_ORDER_TOTALS", after_second + 1),
        &all,
    );
    let mut snapshots: Vec<String> = object_keys(&runtime, &client)
        .into_iter()
        .filter(|k| k.contains("/snapshot-"))
        .collect();
    snapshots.sort();
    assert_eq!(snapshots.len(), 3 * manifests.len(), "{snapshots:?}");
    let manifest: Value =
        serde_json::from_slice(&object(&runtime, &client, &manifest_key)).unwrap();
    let unit = manifest_key.trim_end_matches("manifest.json");
    let kept: Vec<&String> = snapshots.iter().filter(|k| k.starts_with(unit)).collect();
    assert!(
        kept.last()
            .unwrap()
            .ends_with(manifest["snapshot"].as_str().unwrap()),
        "the manifest names the newest: {manifest} {kept:?}"
    );
}

#[test]
fn an_s3_that_cannot_be_reached_fails_checkpoints_processing_goes_on_and_nothing_is_committed() {
    let tansu = Tansu::start();
    tansu.create_topic("order-events", 3);
    let location = format!("s3://{BUCKET}/engine");
    let orders = orders(0, 200);

    // Unreachable at start: the engine cannot know what state it had, so it reads nothing.
    let closed = format!("http://127.0.0.1:{}", common::free_port());
    let unreachable = moto_env_at(&closed);
    engine_run(&tansu, &location, &unreachable)
        .failure()
        .stderr(predicates::str::contains(format!(
            "cannot read s3://{BUCKET}/engine/"
        )));

    // Reachable at start, gone by the checkpoints: processing goes on and the outputs go
    // out, each checkpoint fails and is tried again at the next interval, the offsets stay
    // uncommitted, and the run ends with the error of the last one.
    let moto = Moto::start();
    let (_runtime, _client) = s3(&moto);
    let aws = moto.env();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.sql"), SQL).unwrap();
    let mut engine = std::process::Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .envs(aws.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(dir.path())
        .args(["run", "--sql", "q.sql", "--bootstrap-servers"])
        .arg(&tansu.bootstrap)
        .args(["--group-id", "orders-app", "--state-dir", "local-state"])
        .args(["--checkpoint-dir", &location, "--stop-when-idle", "15s"])
        .args(["--checkpoint-interval", "1s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = common::process::follow_lines(engine.stderr.take().unwrap());
    // Once the partitions are assigned (their checkpoints read), S3 goes away; only then
    // do the orders come.
    log.wait_for("partitions assigned", Duration::from_secs(60));
    drop(moto);
    tansu.produce("order-events", &lines(&orders));
    let status = engine.wait().unwrap();
    let stderr = log.text();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot write s3://{BUCKET}/engine/")),
        "{stderr}"
    );
    assert!(
        stderr.contains("checkpoint failed, retried at the next interval"),
        "{stderr}"
    );
    let sent = tansu.read_all("CUSTOMER_ORDER_TOTALS", 1).len();
    assert_totals(&tansu.read_all("CUSTOMER_ORDER_TOTALS", sent), &orders);

    // A run with S3 back reads everything again, so its totals go out again too.
    let moto = Moto::start();
    let (_runtime, _client) = s3(&moto);
    engine_run(&tansu, &location, &moto.env()).success();
    let records = tansu.read_all("CUSTOMER_ORDER_TOTALS", sent + 1);
    assert!(
        records.len() > sent,
        "the uncommitted records were read again"
    );
    assert_totals(&records, &orders);
}

/// moto's environment with another endpoint.
fn moto_env_at(endpoint: &str) -> Vec<(&'static str, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "eu-west-2".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
    .into()
}

/// An engine instance of the orders app that runs until its topics stay quiet for
/// `idle`, with its checkpoints in S3 every second and its log followed; `extra` adds flags.
fn instance(
    tansu: &Tansu,
    location: &str,
    aws: &[(&str, String)],
    idle: &str,
    extra: &[&str],
) -> (
    std::process::Child,
    common::process::Lines,
    tempfile::TempDir,
) {
    instance_of(SQL, tansu, location, aws, idle, extra)
}

/// An engine instance as `instance` starts one, running `sql`.
fn instance_of(
    sql: &str,
    tansu: &Tansu,
    location: &str,
    aws: &[(&str, String)],
    idle: &str,
    extra: &[&str],
) -> (
    std::process::Child,
    common::process::Lines,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.sql"), sql).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .envs(aws.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(dir.path())
        .args(["run", "--sql", "q.sql", "--bootstrap-servers"])
        .arg(&tansu.bootstrap)
        .args(["--group-id", "orders-app", "--state-dir", "local-state"])
        .args(["--checkpoint-dir", location, "--checkpoint-interval", "1s"])
        .args(["--commit-interval", "500ms", "--stop-when-idle", idle])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = common::process::follow_lines(child.stderr.take().unwrap());
    (child, log, dir)
}

/// The repartition partitions of an instance's last assignment, from its log.
fn assigned_partitions(log: &str) -> Vec<u32> {
    assigned_partitions_of(log, "-Aggregate-GroupBy-repartition")
}

/// The partitions of the topic ending in `suffix` in an instance's last assignment.
fn assigned_partitions_of(log: &str, suffix: &str) -> Vec<u32> {
    let Some(line) = log
        .lines()
        .rev()
        .find(|l| l.contains("partitions assigned"))
    else {
        return Vec::new();
    };
    line.split(&format!("{suffix}\", "))
        .skip(1)
        .filter_map(|rest| rest.split(')').next()?.trim().parse().ok())
        .collect()
}

/// The logs of the instances of a kill-and-replace run, whole.
struct Logs {
    survivor: String,
    killed: String,
    replacement: String,
}

/// Three seconds into `producer`'s input, kills the doomed instance; once the group has
/// noticed (the survivor is assigned again), starts a replacement with `start`, then waits
/// for the input to end and for the survivor and the replacement to finish cleanly.
fn kill_one_and_replace(
    survivor: (std::process::Child, common::process::Lines),
    doomed: (std::process::Child, common::process::Lines),
    producer: std::thread::JoinHandle<()>,
    start: impl FnOnce() -> (
        std::process::Child,
        common::process::Lines,
        tempfile::TempDir,
    ),
) -> Logs {
    let ((mut survivor, survivor_log), (mut doomed, doomed_log)) = (survivor, doomed);
    std::thread::sleep(Duration::from_secs(3));
    let assignments = survivor_log.count("partitions assigned");
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    // The group drops the killed member once its session times out, and rebalances. (On
    // tansu 0.6.0 that rebalance hands the survivor its own partitions again and leaves the
    // dead member's unassigned until another member joins; a Kafka broker gives them to the
    // survivor.)
    survivor_log.wait_for_more("partitions assigned", assignments, Duration::from_secs(60));
    let killed = doomed_log.text();
    let (mut replacement, replacement_log, _dir) = start();
    producer.join().unwrap();
    assert!(
        survivor.wait().unwrap().success(),
        "{}",
        survivor_log.text()
    );
    assert!(
        replacement.wait().unwrap().success(),
        "{}",
        replacement_log.text()
    );
    let logs = Logs {
        survivor: survivor_log.text(),
        killed,
        replacement: replacement_log.text(),
    };
    // Shown when a check fails.
    eprintln!(
        "survivor:\n{}\nkilled:\n{}\nreplacement:\n{}",
        logs.survivor, logs.killed, logs.replacement
    );
    logs
}

/// Produces the orders in chunks of 100 on a thread, a little apart, as a stream comes.
fn stream_orders(
    tansu: &Tansu,
    orders: &[(String, f64, i64, String)],
) -> std::thread::JoinHandle<()> {
    // Keyed apart from their customer, as `Tansu::produce` keys records.
    let keyed = lines(orders)
        .into_iter()
        .enumerate()
        .map(|(i, line)| (None, format!("k{}", i % 5), line))
        .collect();
    stream_placed_orders(tansu, keyed)
}

/// Produces each order's (partition, key, value) (`Tansu::produce_placed`) in chunks of 100
/// on a thread, a little apart, as a stream comes.
fn stream_placed_orders(
    tansu: &Tansu,
    orders: Vec<(Option<i32>, String, String)>,
) -> std::thread::JoinHandle<()> {
    let bootstrap = tansu.bootstrap.clone();
    std::thread::spawn(move || {
        let tansu = Tansu::at(&bootstrap);
        for chunk in orders.chunks(100) {
            tansu.produce_placed("order-events", chunk);
            std::thread::sleep(Duration::from_millis(150));
        }
    })
}

/// Each partition in `owned` (the killed instance's) whose checkpoint unit (`unit` names
/// it) is in the bucket was restored from it by the survivor or the replacement; with
/// `every`, each such unit must be there.
fn assert_restored(
    keys: &[String],
    owned: Vec<u32>,
    unit: impl Fn(u32) -> String,
    logs: (&str, &str),
    every: bool,
) {
    assert!(!owned.is_empty(), "the killed instance owned partitions");
    for partition in owned {
        let unit = unit(partition);
        let saved = keys.iter().any(|k| k.contains(&unit));
        assert!(saved || !every, "{unit}: {keys:?}");
        if saved {
            let read = format!("{unit}snapshot-");
            assert!(
                logs.0.contains(&read) || logs.1.contains(&read),
                "partition {partition} was restored from its checkpoint"
            );
        }
    }
}

#[test]
fn two_instances_split_the_work_and_a_dead_ones_partitions_move_with_their_state() {
    let Setup {
        moto: _moto,
        runtime,
        client,
        aws,
        tansu,
        location,
    } = Setup::new();
    let timeout = ["--session-timeout", "6s"];

    let (survivor, survivor_log, _a) = instance(&tansu, &location, &aws, "30s", &timeout);
    let (doomed, doomed_log, _b) = instance(&tansu, &location, &aws, "10m", &timeout);
    survivor_log.wait_for("partitions assigned", Duration::from_secs(60));
    doomed_log.wait_for("partitions assigned", Duration::from_secs(60));

    // Orders keyed apart from their customer: every customer's orders arrive on every
    // input partition, so each instance reads some of every customer's.
    let all = orders(0, 3000);
    let producer = stream_orders(&tansu, &all);
    // Its replacement, on an empty disk as a new Fargate task is, takes its partitions
    // with their state from S3.
    let Logs {
        survivor: survivor_log,
        killed: doomed_log,
        replacement: replacement_log,
    } = kill_one_and_replace(
        (survivor, survivor_log),
        (doomed, doomed_log),
        producer,
        || instance(&tansu, &location, &aws, "30s", &timeout),
    );
    assert!(
        doomed_log.contains("CUSTOMER_ORDER_TOTALS_0-Aggregate-GroupBy-repartition"),
        "the killed instance owned repartition partitions: {doomed_log}"
    );
    assert_totals(&tansu.read_all("CUSTOMER_ORDER_TOTALS", 1), &all);
    // Each repartition partition the killed instance owned that holds keys came back from
    // its checkpoint on whichever instance took it.
    assert_restored(
        &object_keys(&runtime, &client),
        assigned_partitions(&doomed_log),
        |p| format!("partition-{p}/"),
        (&survivor_log, &replacement_log),
        false,
    );
}

/// The tutorial's hourly totals over orders keyed by their customer: grouped by the message
/// key, the aggregation reads the input's own partitions (ksqlDB's groupByKey).
const SQL_BY_KEY: &str = "CREATE STREAM order_events (
  customer_id STRING KEY, order_id BIGINT, order_status STRING, order_total DOUBLE, created_at BIGINT
) WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON', TIMESTAMP='created_at');
CREATE TABLE customer_order_totals AS
SELECT customer_id, COUNT(*) AS order_count, SUM(order_total) AS total_spent
FROM order_events WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY customer_id EMIT CHANGES;";

#[test]
fn grouped_by_the_message_key_a_dead_instances_input_partitions_move_with_their_state() {
    let Setup {
        moto: _moto,
        runtime,
        client,
        aws,
        tansu,
        location,
    } = Setup::new();
    let timeout = ["--session-timeout", "6s"];
    let start = |idle: &str| instance_of(SQL_BY_KEY, &tansu, &location, &aws, idle, &timeout);
    let (survivor, survivor_log, _a) = start("30s");
    let (doomed, doomed_log, _b) = start("10m");
    survivor_log.wait_for("partitions assigned", Duration::from_secs(60));
    doomed_log.wait_for("partitions assigned", Duration::from_secs(60));

    // Fifteen customers, so that every input partition holds some.
    let all: Vec<(String, f64, i64, String)> = orders(0, 3000)
        .into_iter()
        .enumerate()
        .map(|(i, (_, total, at, line))| (format!("cust_{}", i % 15), total, at, line))
        .collect();
    let keyed = all
        .iter()
        .map(|o| (None, o.0.clone(), o.3.clone()))
        .collect();
    let producer = stream_placed_orders(&tansu, keyed);
    let Logs {
        survivor: survivor_log,
        killed: doomed_log,
        replacement: replacement_log,
    } = kill_one_and_replace(
        (survivor, survivor_log),
        (doomed, doomed_log),
        producer,
        || start("30s"),
    );
    assert_totals(&tansu.read_all("CUSTOMER_ORDER_TOTALS", 1), &all);
    let topics = tansu.topic_names();
    assert!(
        !topics.iter().any(|t| t.contains("repartition")),
        "no repartition topic: {topics:?}"
    );
    // The killed instance owned input partitions; each that came back came from its
    // checkpoint, on whichever instance took it.
    assert_restored(
        &object_keys(&runtime, &client),
        assigned_partitions_of(&doomed_log, "order-events"),
        |p| format!("CTAS_CUSTOMER_ORDER_TOTALS_0/partition-{p}/"),
        (&survivor_log, &replacement_log),
        true,
    );
}

/// Waits until each of `partitions` of `query` has a checkpoint in the bucket: a join's
/// table rows there are read.
fn wait_for_checkpoints_of(
    runtime: &tokio::runtime::Runtime,
    client: &aws_sdk_s3::Client,
    query: &str,
    partitions: impl IntoIterator<Item = u32> + Clone,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while partitions.clone().into_iter().any(|p| {
        let unit = format!("{query}/partition-{p}/");
        !object_keys(runtime, client)
            .iter()
            .any(|k| k.contains(&unit))
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "the customers were never read"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Every order came out of ENRICHED (at least once, as a crash replays), each with its
/// customer's name.
fn assert_each_order_named(tansu: &Tansu, orders: usize) {
    let enriched = tansu.read_all("ENRICHED", orders);
    let mut seen = std::collections::BTreeSet::new();
    for (key, value) in &enriched {
        let customer = String::from_utf8(key.clone()).unwrap();
        let number = customer.trim_start_matches("cust_");
        assert_eq!(
            value["NAME"],
            format!("name_{number}"),
            "{customer}: {value}"
        );
        seen.insert(value["ORDER_ID"].as_i64().unwrap());
    }
    assert_eq!(seen.len(), orders);
}

/// Orders joined with their customers on both topics' message keys: the join reads the
/// co-partitioned topics in place. The orders keep their records' times, after the
/// customers', so the join (in time order, as Kafka Streams takes its inputs) finds each
/// order's customer.
const SQL_JOIN_ON_KEYS: &str = "CREATE STREAM order_events (
  customer_id STRING KEY, order_id BIGINT, order_status STRING, order_total DOUBLE, created_at BIGINT
) WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON');
CREATE TABLE customers (customer_id STRING PRIMARY KEY, name STRING)
  WITH (KAFKA_TOPIC='customers', VALUE_FORMAT='JSON');
CREATE STREAM enriched AS SELECT o.customer_id, o.order_id, c.name
  FROM order_events o LEFT JOIN customers c ON o.customer_id = c.customer_id;";

#[test]
fn joined_on_message_keys_a_dead_instances_partitions_of_both_sides_move_with_their_state() {
    let Setup {
        moto: _moto,
        runtime,
        client,
        aws,
        tansu,
        location,
    } = Setup::new();
    tansu.create_topic("customers", 3);
    // Both topics partitioned alike by the customer's number, five customers a partition.
    let placed = |customer: usize, value: String| {
        (
            Some((customer % 3) as i32),
            format!("cust_{customer}"),
            value,
        )
    };
    let customers: Vec<_> = (0..15)
        .map(|c| placed(c, format!("{{\"name\": \"name_{c}\"}}")))
        .collect();
    tansu.produce_placed("customers", &customers);
    let timeout = ["--session-timeout", "6s"];
    let start = |idle: &str| instance_of(SQL_JOIN_ON_KEYS, &tansu, &location, &aws, idle, &timeout);
    let (survivor, survivor_log, _a) = start("30s");
    let (doomed, doomed_log, _b) = start("10m");
    survivor_log.wait_for("partitions assigned", Duration::from_secs(60));
    doomed_log.wait_for("partitions assigned", Duration::from_secs(60));
    // The engine does not wait for a quiet input to catch up before it joins (Kafka Streams'
    // max.task.idle.ms): the orders start once every partition's customers are in a
    // checkpoint, so read.
    wait_for_checkpoints_of(&runtime, &client, "CSAS_ENRICHED_0", 0..3);

    let orders: Vec<_> = orders(0, 3000)
        .into_iter()
        .enumerate()
        .map(|(i, (_, _, _, line))| placed(i % 15, line))
        .collect();
    let producer = stream_placed_orders(&tansu, orders.clone());
    let Logs {
        killed: doomed_log, ..
    } = kill_one_and_replace(
        (survivor, survivor_log),
        (doomed, doomed_log),
        producer,
        || start("30s"),
    );
    // The killed instance owned the same partitions of both topics.
    let owned = assigned_partitions_of(&doomed_log, "order-events");
    assert!(!owned.is_empty(), "{doomed_log}");
    assert_eq!(assigned_partitions_of(&doomed_log, "customers"), owned);
    // Both sides of every key were on one instance throughout.
    assert_each_order_named(&tansu, orders.len());
    let topics = tansu.topic_names();
    assert!(
        !topics.iter().any(|t| t.contains("repartition")),
        "no repartition topic: {topics:?}"
    );
}

/// Orders keyed by their own key, joined with customers on the customer: ksqlDB re-keys the
/// orders alone, through `-Join-repartition`, into the partitions where Kafka's
/// default partitioner put each customer, and reads the customers in place.
const SQL_JOIN_ON_ONE_SIDES_KEY: &str = "CREATE STREAM order_events (
  order_key STRING KEY, order_id BIGINT, customer_id STRING, order_status STRING, order_total DOUBLE, created_at BIGINT
) WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON');
CREATE TABLE customers (customer_id STRING PRIMARY KEY, name STRING)
  WITH (KAFKA_TOPIC='customers', VALUE_FORMAT='JSON');
CREATE STREAM enriched AS SELECT o.customer_id, o.order_id, c.name
  FROM order_events o LEFT JOIN customers c ON o.customer_id = c.customer_id;";

#[test]
fn joined_on_one_sides_key_the_other_is_re_keyed_to_its_partitions_and_a_dead_instances_move() {
    let Setup {
        moto: _moto,
        runtime,
        client,
        aws,
        tansu,
        location,
    } = Setup::new();
    tansu.create_topic("customers", 3);
    // Placed by librdkafka's murmur2_random, which is the Java client's default partitioner:
    // the engine must send each order to the partition this put its customer in.
    let producer: rdkafka::producer::BaseProducer = tansu
        .config()
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap();
    const CUSTOMERS: usize = 7;
    for c in 0..CUSTOMERS {
        let (key, value) = (format!("cust_{c}"), format!("{{\"name\": \"name_{c}\"}}"));
        producer
            .send(
                rdkafka::producer::BaseRecord::to("customers")
                    .key(&key)
                    .payload(&value),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    rdkafka::producer::Producer::flush(&producer, Duration::from_secs(30)).unwrap();
    let held: std::collections::BTreeSet<u32> = (0..CUSTOMERS)
        .map(|c| advisor_engine::state::default_partition(format!("cust_{c}").as_bytes(), 3))
        .collect();
    assert!(held.len() > 1, "the customers are spread: {held:?}");
    let timeout = ["--session-timeout", "6s"];
    let start = |idle: &str| {
        instance_of(
            SQL_JOIN_ON_ONE_SIDES_KEY,
            &tansu,
            &location,
            &aws,
            idle,
            &timeout,
        )
    };
    let (survivor, survivor_log, _a) = start("30s");
    let (doomed, doomed_log, _b) = start("10m");
    survivor_log.wait_for("partitions assigned", Duration::from_secs(60));
    doomed_log.wait_for("partitions assigned", Duration::from_secs(60));
    // Orders start once the customers are in the checkpoints (no max.task.idle.ms wait).
    wait_for_checkpoints_of(&runtime, &client, "CSAS_ENRICHED_0", held);

    // Each order on the partition of its own key, not of its customer.
    let orders: Vec<_> = orders(0, 3000)
        .into_iter()
        .enumerate()
        .map(|(i, (_, _, _, line))| (Some((i % 3) as i32), format!("order_{i}"), line))
        .collect();
    let producer = stream_placed_orders(&tansu, orders.clone());
    let Logs {
        killed: doomed_log, ..
    } = kill_one_and_replace(
        (survivor, survivor_log),
        (doomed, doomed_log),
        producer,
        || start("30s"),
    );
    let repartition = "CSAS_ENRICHED_0-Join-repartition";
    let owned = assigned_partitions_of(&doomed_log, repartition);
    assert!(!owned.is_empty(), "{doomed_log}");
    assert_eq!(assigned_partitions_of(&doomed_log, "customers"), owned);
    assert_each_order_named(&tansu, orders.len());
    let topics = tansu.topic_names();
    let repartitions: Vec<&String> = topics
        .iter()
        .filter(|t| t.contains("repartition"))
        .collect();
    assert!(
        matches!(&repartitions[..], [only] if only.ends_with(repartition)),
        "only the orders are re-keyed: {topics:?}"
    );
}

#[test]
fn an_instance_killed_twice_in_a_row_rejoins_as_itself_and_loses_nothing() {
    let Setup {
        moto: _moto,
        aws,
        tansu,
        location,
        ..
    } = Setup::new();
    // Static membership: a session timeout far longer than a restart, which the restarted
    // instance does not wait for, since the group knows it by its id.
    let flags = ["--instance-id", "orders-1", "--session-timeout", "60s"];

    let all = orders(0, 3000);
    let producer = stream_orders(&tansu, &all);
    for _ in 0..2 {
        let (mut engine, log, _dir) = instance(&tansu, &location, &aws, "10m", &flags);
        // Well before the 60 s session timeout: it rejoined as itself.
        log.wait_for("partitions assigned", Duration::from_secs(40));
        std::thread::sleep(Duration::from_secs(2));
        engine.kill().unwrap();
        engine.wait().unwrap();
    }
    // Well before the 60 s session timeout: it rejoined as itself.
    let (mut engine, log, _dir) = instance(&tansu, &location, &aws, "8s", &flags);
    log.wait_for("partitions assigned", Duration::from_secs(40));
    producer.join().unwrap();
    assert!(engine.wait().unwrap().success(), "{}", log.text());
    let log = log.text();
    assert!(log.contains("start: restoring state"), "{log}");
    assert!(log.contains("checkpoint read"), "{log}");
    assert_totals(&tansu.read_all("CUSTOMER_ORDER_TOTALS", 1), &all);
}

#[test]
fn a_corrupt_newest_checkpoint_is_skipped_for_the_complete_one_before_it() {
    let Setup {
        moto: _moto,
        runtime,
        client,
        aws,
        tansu,
        location,
    } = Setup::new();
    let first = orders(0, 300);
    tansu.produce("order-events", &lines(&first));
    engine_run(&tansu, &location, &aws).success();

    // A newer snapshot that does not read back (a torn upload), and each unit's manifest
    // naming it, as if the engine had crashed between writing the two.
    let manifests: Vec<String> = object_keys(&runtime, &client)
        .into_iter()
        .filter(|k| k.ends_with("/manifest.json"))
        .collect();
    assert!(!manifests.is_empty());
    for manifest in &manifests {
        let unit = manifest.trim_end_matches("manifest.json");
        let torn = format!("{unit}snapshot-99999999999999999999.bin");
        runtime
            .block_on(
                client
                    .put_object()
                    .bucket(BUCKET)
                    .key(&torn)
                    .body(
                        b"advisor-engine partition snapshot 1\n\x07\x01"
                            .to_vec()
                            .into(),
                    )
                    .send(),
            )
            .unwrap();
        let named = serde_json::json!({"version": 2, "snapshot": "snapshot-99999999999999999999.bin", "bytes": 38});
        runtime
            .block_on(
                client
                    .put_object()
                    .bucket(BUCKET)
                    .key(manifest)
                    .body(named.to_string().into_bytes().into())
                    .send(),
            )
            .unwrap();
    }
    let sent = tansu.read_all("CUSTOMER_ORDER_TOTALS", 1).len();
    let second = orders(300, 500);
    tansu.produce("order-events", &lines(&second));
    engine_run(&tansu, &location, &aws)
        .success()
        .stderr(predicates::str::contains("checkpoint skipped"));
    let all: Vec<_> = first.iter().chain(&second).cloned().collect();
    assert_totals(&tansu.read_all("CUSTOMER_ORDER_TOTALS", sent + 1), &all);
}

/// Orders enriched with their customer, the orders keyed apart from the customer and the
/// customers spread over the partitions by something else than their key either.
const JOIN_SQL: &str = "CREATE STREAM order_events (
  order_id BIGINT, customer_id STRING, order_status STRING, order_total DOUBLE, created_at BIGINT
) WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON', TIMESTAMP='created_at');
CREATE TABLE customers (customer_id STRING PRIMARY KEY, name STRING, tier STRING)
  WITH (KAFKA_TOPIC='customer-events', VALUE_FORMAT='JSON');
CREATE TABLE tiers (tier STRING PRIMARY KEY, label STRING)
  WITH (KAFKA_TOPIC='tier-events', VALUE_FORMAT='JSON');
CREATE STREAM enriched_orders AS
  SELECT t.tier, o.customer_id, o.order_id, o.order_total, c.name, t.label
  FROM order_events o JOIN customers c ON o.customer_id = c.customer_id
  JOIN tiers t ON c.tier = t.tier;";

/// Two instances join orders with customers, then with the customer's tier, through a
/// repartition topic per join (`-L_Join-` by customer, `-Join-` by tier); one is killed in
/// the middle of the orders and a replacement starts on an empty disk: every order comes
/// out joined with its customer's name and tier, none missing, because each step's table
/// rows live with the repartition partition that owns their key and move with that
/// partition's checkpoint.
#[test]
fn two_instances_join_through_the_repartition_topic_and_a_dead_ones_partitions_move_with_their_state(
) {
    let Setup {
        moto: _moto,
        runtime: _runtime,
        client: _client,
        aws,
        tansu,
        location,
    } = Setup::new();
    tansu.create_topic("customer-events", 3);
    tansu.create_topic("tier-events", 3);
    let timeout = ["--session-timeout", "6s"];
    let start = |idle: &str| instance_of(JOIN_SQL, &tansu, &location, &aws, idle, &timeout);
    let (survivor, survivor_log, _a) = start("30s");
    let (doomed, doomed_log, _b) = start("10m");
    survivor_log.wait_for("partitions assigned", Duration::from_secs(60));
    doomed_log.wait_for("partitions assigned", Duration::from_secs(60));

    const CUSTOMERS: u64 = 60;
    let producer: rdkafka::producer::BaseProducer = tansu.config().create().unwrap();
    for c in 0..CUSTOMERS {
        let key = format!("cust_{c}");
        let value =
            serde_json::json!({"name": format!("customer {c}"), "tier": format!("tier {}", c % 4)})
                .to_string();
        let record = rdkafka::producer::BaseRecord::to("customer-events")
            .key(&key)
            .payload(&value)
            .partition((c % 3) as i32)
            .timestamp(1_709_600_000_000);
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    for t in 0..4 {
        let value = serde_json::json!({"label": format!("label {t}")}).to_string();
        let key = format!("tier {t}");
        let record = rdkafka::producer::BaseRecord::to("tier-events")
            .key(&key)
            .payload(&value)
            .partition(t % 3)
            .timestamp(1_709_600_000_000);
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    rdkafka::producer::Producer::flush(&producer, Duration::from_secs(30)).unwrap();
    // The customers and tiers reach the repartition topics well before the first order.
    std::thread::sleep(Duration::from_secs(4));

    let orders: Vec<(u64, String)> = (0..3000u64)
        .map(|i| (i, format!("cust_{}", (i * 7) % CUSTOMERS)))
        .collect();
    let lines: Vec<String> = orders
        .iter()
        .map(|(i, customer)| {
            serde_json::json!({"order_id": i, "customer_id": customer, "order_status": "NEW",
                "order_total": 1.5, "created_at": 1_709_640_000_000 + *i as i64 * 1_000})
            .to_string()
        })
        .collect();
    let bootstrap = tansu.bootstrap.clone();
    let streamer = std::thread::spawn(move || {
        let tansu = Tansu::at(&bootstrap);
        for chunk in lines.chunks(100) {
            tansu.produce("order-events", chunk);
            std::thread::sleep(Duration::from_millis(150));
        }
    });
    let Logs {
        killed: doomed_log, ..
    } = kill_one_and_replace(
        (survivor, survivor_log),
        (doomed, doomed_log),
        streamer,
        || start("30s"),
    );
    for step in ["L_Join", "Join"] {
        let topic = format!("ENRICHED_ORDERS_0-{step}-repartition");
        let owned = assigned_partitions_of(&doomed_log, &topic);
        assert!(
            !owned.is_empty(),
            "the killed instance owned partitions of {topic}: {doomed_log}"
        );
    }

    let out = tansu.read_all("ENRICHED_ORDERS", orders.len());
    let mut joined: BTreeMap<u64, (String, String, String)> = BTreeMap::new();
    for (key, value) in &out {
        let order = value["ORDER_ID"].as_u64().unwrap();
        let name = value["NAME"].as_str().unwrap_or_default().to_string();
        let label = value["LABEL"].as_str().unwrap_or_default().to_string();
        joined.insert(
            order,
            (String::from_utf8_lossy(key).into_owned(), name, label),
        );
    }
    let missing: Vec<u64> = orders
        .iter()
        .map(|(i, _)| *i)
        .filter(|i| !joined.contains_key(i))
        .collect();
    assert!(
        missing.is_empty(),
        "{} orders missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    // Each order keyed by its tier (the last join's key), with its customer's name and
    // its tier's label.
    for (i, customer) in &orders {
        let c: u64 = customer.trim_start_matches("cust_").parse().unwrap();
        let tier = c % 4;
        assert_eq!(
            joined[i],
            (
                format!("tier {tier}"),
                format!("customer {c}"),
                format!("label {tier}")
            ),
            "order {i}"
        );
    }
}
