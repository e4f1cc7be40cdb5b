//! Checkpoints in S3 (issue 22): the tutorial's order totals over a real broker (tansu) with
//! their state in a real S3 API (moto), restored by an engine that starts on an empty disk,
//! as a replacement task on Fargate does; and an S3 that cannot be reached, which fails the
//! checkpoint without committing what it did not save.

mod common;
#[path = "../../tests/common/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::time::Duration;

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
    let moto = Moto::start();
    let (runtime, client) = s3(&moto);
    let aws = moto.env();
    let tansu = Tansu::start();
    tansu.create_topic("order-events", 3);
    let location = format!("s3://{BUCKET}/engine");

    let first = orders(0, 600);
    tansu.produce("order-events", &lines(&first));
    engine_run(&tansu, &location, &aws).success();
    let keys = object_keys(&runtime, &client);
    let manifest_key = keys
        .iter()
        .find(|k| k.starts_with("engine/") && k.ends_with("/manifest.json"))
        .unwrap_or_else(|| panic!("a manifest under the prefix: {keys:?}"));
    let manifest: Value = serde_json::from_slice(&object(&runtime, &client, manifest_key)).unwrap();
    let snapshot_key =
        manifest_key.replace("manifest.json", manifest["snapshot"].as_str().unwrap());
    assert!(keys.contains(&snapshot_key), "{keys:?}");
    assert_eq!(
        object(&runtime, &client, &snapshot_key).len() as u64,
        manifest["bytes"].as_u64().unwrap()
    );
    let next_offsets: u64 = manifest["offsets"]["order-events"]
        .as_object()
        .unwrap()
        .values()
        .map(|o| o.as_u64().unwrap())
        .sum();
    assert_eq!(
        next_offsets, 600,
        "the state reflects every record read: {manifest}"
    );
    let after_first = tansu.read_all("CUSTOMER_ORDER_TOTALS", 1).len();

    // A replacement on an empty disk, same group: the state comes back from S3.
    let second = orders(600, 1000);
    tansu.produce("order-events", &lines(&second));
    engine_run(&tansu, &location, &aws)
        .success()
        .stderr(predicates::str::contains("state restored"));
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

    // Two more runs with new orders save twice more: four snapshots written, the newest
    // and the two before it kept.
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
    assert_eq!(snapshots.len(), 3, "{snapshots:?}");
    let manifest: Value = serde_json::from_slice(&object(&runtime, &client, manifest_key)).unwrap();
    assert!(
        snapshots[2].ends_with(manifest["snapshot"].as_str().unwrap()),
        "the manifest names the newest: {manifest} {snapshots:?}"
    );
}

#[test]
fn an_s3_that_cannot_be_reached_fails_the_checkpoint_and_commits_nothing() {
    let tansu = Tansu::start();
    tansu.create_topic("order-events", 3);
    let location = format!("s3://{BUCKET}/engine");
    let orders = orders(0, 200);
    tansu.produce("order-events", &lines(&orders));

    // Unreachable at start: the engine cannot know what state it had, so it reads nothing.
    let closed = format!("http://127.0.0.1:{}", common::free_port());
    let unreachable = moto_env_at(&closed);
    engine_run(&tansu, &location, &unreachable)
        .failure()
        .stderr(predicates::str::contains(format!(
            "cannot read s3://{BUCKET}/engine/"
        )));

    // Reachable at start, gone by the checkpoint: the outputs went out, the offsets stay
    // uncommitted, and the run ends with the error.
    let moto = Moto::start();
    let (_runtime, _client) = s3(&moto);
    let aws = moto.env();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.sql"), SQL).unwrap();
    let engine = std::process::Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .envs(aws.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(dir.path())
        .args(["run", "--sql", "q.sql", "--bootstrap-servers"])
        .arg(&tansu.bootstrap)
        .args(["--group-id", "orders-app", "--state-dir", "local-state"])
        .args(["--checkpoint-dir", &location, "--stop-when-idle", "6s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let sent = tansu.read_all("CUSTOMER_ORDER_TOTALS", 1).len();
    drop(moto);
    let failed = engine.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot write s3://{BUCKET}/engine/")),
        "{stderr}"
    );

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
