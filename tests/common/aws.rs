//! What the AWS tests share: a client on moto, a network, a stack.toml, and the binary run
//! against moto.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{self, advisor};
use crate::moto::Moto;

/// What the tests read from moto directly, through the same SDK.
pub struct Aws {
    pub runtime: tokio::runtime::Runtime,
    pub config: aws_config::SdkConfig,
}

impl Aws {
    pub fn new(moto: &Moto) -> Aws {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = runtime.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(advisor::aws::clients::https_client())
                .endpoint_url(&moto.endpoint)
                .region(aws_config::Region::new("eu-west-2"))
                .credentials_provider(aws_sdk_sts::config::Credentials::new(
                    "testing", "testing", None, None, "test",
                ))
                .load(),
        );
        Aws { runtime, config }
    }

    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.config)
                .force_path_style(true)
                .build(),
        )
    }

    /// A VPC with two private subnets, as a team would bring.
    pub fn network(&self) -> (String, Vec<String>) {
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

    pub fn log_group_exists(&self, name: &str) -> bool {
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

    pub fn role_exists(&self, name: &str) -> bool {
        self.runtime.block_on(async {
            aws_sdk_iam::Client::new(&self.config)
                .get_role()
                .role_name(name)
                .send()
                .await
                .is_ok()
        })
    }

    pub fn bucket_exists(&self, name: &str) -> bool {
        self.runtime
            .block_on(async { self.s3().head_bucket().bucket(name).send().await.is_ok() })
    }

    pub fn task_definition(&self, family: &str) -> aws_sdk_ecs::types::TaskDefinition {
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

    pub fn service(&self, cluster: &str, name: &str) -> aws_sdk_ecs::types::Service {
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

pub fn stack_toml(dir: &Path, vpc: &str, subnets: &[String], extra: &str) -> PathBuf {
    let text = format!(
        "name = \"orders\"\nregion = \"eu-west-2\"\n\n[network]\nvpc_id = \"{vpc}\"\nvpc_cidr = \"10.20.0.0/16\"\nprivate_subnet_ids = [\"{}\"]\n\n[kafka]\nbootstrap_servers = \"b-1.orders:9092\"\n{extra}",
        subnets.join("\", \"")
    );
    common::write(dir, "stack.toml", &text)
}

pub fn run(moto: &Moto, args: &[&str]) -> assert_cmd::assert::Assert {
    let mut command = advisor();
    for (key, value) in moto.env() {
        command.env(key, value);
    }
    command.env_remove("AWS_PROFILE").args(args).assert()
}

pub fn deploy_json(moto: &Moto, flavor: &str, config: &Path) -> Value {
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

pub fn actions(plan: &Value) -> Vec<(String, String)> {
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

/// A stack.toml with top-level keys (`top`, e.g. spot_share) before the tables.
pub fn stack_toml_top(
    dir: &Path,
    vpc: &str,
    subnets: &[String],
    top: &str,
    extra: &str,
) -> PathBuf {
    let text = format!(
        "name = \"orders\"\nregion = \"eu-west-2\"\n{top}\n[network]\nvpc_id = \"{vpc}\"\nvpc_cidr = \"10.20.0.0/16\"\nprivate_subnet_ids = [\"{}\"]\n\n[kafka]\nbootstrap_servers = \"b-1.orders:9092\"\n{extra}",
        subnets.join("\", \"")
    );
    common::write(dir, "stack.toml", &text)
}

/// Runs advisor against moto with `-o json` and parses what it prints.
pub fn json_of(moto: &Moto, args: &[&str]) -> Value {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-o", "json"]);
    let output = run(moto, &all).success().get_output().stdout.clone();
    serde_json::from_slice(&output).unwrap_or_else(|e| panic!("advisor {args:?} prints JSON: {e}"))
}

impl Aws {
    /// Puts log lines into a stream of the stack's log group, at the given times (ms).
    pub fn put_logs(&self, group: &str, stream: &str, lines: &[(i64, &str)]) {
        self.runtime.block_on(async {
            let logs = aws_sdk_cloudwatchlogs::Client::new(&self.config);
            logs.create_log_stream()
                .log_group_name(group)
                .log_stream_name(stream)
                .send()
                .await
                .unwrap();
            let events: Vec<_> = lines
                .iter()
                .map(|(timestamp, message)| {
                    aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                        .timestamp(*timestamp)
                        .message(*message)
                        .build()
                        .unwrap()
                })
                .collect();
            logs.put_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .set_log_events(Some(events))
                .send()
                .await
                .unwrap();
        })
    }
}
