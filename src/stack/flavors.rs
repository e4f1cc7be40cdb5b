//! Each flavor's services, and the checks that turn stack.toml into a valid StackSpec.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use toml::Spanned;

use super::config::{KafkaAuthKind, Source};
use super::sizing::{self, Capacities, Demand};
use super::{
    check_size, Arch, CheckpointSpec, ClusterRef, Flavor, HealthCheck, Ingress, Kafka, Network,
    PortSpec, Role, ServiceSpec, StackError, StackInput, StackSpec,
};

pub const KSQLDB_IMAGE: &str = "confluentinc/ksqldb-server:0.29.0";
pub const FLINK_VERSION: &str = "2.3.0";
/// The engine image lives in the account's ECR; `advisor deploy` and the README say how to
/// push it.
pub const ENGINE_IMAGE: &str = concat!(
    "{account_id}.dkr.ecr.{region}.amazonaws.com/advisor-engine:",
    env!("CARGO_PKG_VERSION")
);

/// CloudWatch Logs accepts only these retention periods.
const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

fn port(port: u16, name: &str, ingress: Ingress) -> PortSpec {
    PortSpec {
        port,
        name: name.to_string(),
        ingress,
    }
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn health(command: &[&str], start_period_seconds: u32, describes: &str) -> HealthCheck {
    HealthCheck {
        command: command.iter().map(|s| s.to_string()).collect(),
        interval_seconds: 30,
        timeout_seconds: 5,
        retries: 3,
        start_period_seconds,
        describes: describes.to_string(),
    }
}

/// A shell-free HTTP probe for images without curl (Flink's), using bash's /dev/tcp.
fn bash_http_probe(port: u16, path: &str) -> String {
    format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"
    )
}

#[allow(clippy::too_many_arguments)]
fn service(
    name: &str,
    role: Role,
    image: &str,
    cpu_units: u32,
    memory_mib: u32,
    desired_count: u32,
    command: &[&str],
    ports: Vec<PortSpec>,
    environment: BTreeMap<String, String>,
    health_check: Option<HealthCheck>,
    discovery_name: Option<&str>,
) -> ServiceSpec {
    ServiceSpec {
        name: name.to_string(),
        role,
        image: image.to_string(),
        cpu_units,
        memory_mib,
        desired_count,
        command: command.iter().map(|s| s.to_string()).collect(),
        ports,
        environment,
        secrets: BTreeMap::new(),
        health_check,
        discovery_name: discovery_name.map(str::to_string),
        autoscaling: None,
    }
}

fn default_services(flavor: Flavor, name: &str) -> Vec<ServiceSpec> {
    match flavor {
        Flavor::Ksqldb => vec![service(
            "ksqldb-server",
            Role::Processing,
            KSQLDB_IMAGE,
            1024,
            2048,
            1,
            &[],
            vec![port(8088, "ksqldb-http", Ingress::Vpc)],
            env(&[
                ("KSQL_BOOTSTRAP_SERVERS", "{kafka_bootstrap_servers}"),
                ("KSQL_LISTENERS", "http://0.0.0.0:8088"),
                ("KSQL_KSQL_SERVICE_ID", &format!("{name}_")),
                ("KSQL_KSQL_LOGGING_PROCESSING_STREAM_AUTO_CREATE", "true"),
                ("KSQL_KSQL_LOGGING_PROCESSING_TOPIC_AUTO_CREATE", "true"),
            ]),
            Some(health(
                &[
                    "CMD-SHELL",
                    "curl -fsS http://localhost:8088/healthcheck || exit 1",
                ],
                120,
                "GET /healthcheck on 8088",
            )),
            Some("ksqldb"),
        )],
        Flavor::Flink => {
            let image = format!("flink:{FLINK_VERSION}-java17");
            let flink_env = |extra: &[(&str, &str)]| {
                let mut vars = env(&[
                    ("KAFKA_BOOTSTRAP_SERVERS", "{kafka_bootstrap_servers}"),
                    (
                        "ENABLE_BUILT_IN_PLUGINS",
                        &format!("flink-s3-fs-hadoop-{FLINK_VERSION}.jar"),
                    ),
                ]);
                vars.extend(env(extra));
                vars
            };
            vec![
                service(
                    "jobmanager",
                    Role::Coordinator,
                    &image,
                    1024,
                    2048,
                    1,
                    &["jobmanager"],
                    vec![
                        port(8081, "flink-rest", Ingress::Vpc),
                        port(6123, "flink-rpc", Ingress::Stack),
                        port(6124, "flink-blob", Ingress::Stack),
                    ],
                    flink_env(&[]),
                    Some(health(
                        &["CMD-SHELL", &bash_http_probe(8081, "/overview")],
                        90,
                        "GET /overview on 8081",
                    )),
                    Some("jobmanager"),
                ),
                service(
                    "taskmanager",
                    Role::Processing,
                    &image,
                    2048,
                    4096,
                    2,
                    &["taskmanager"],
                    vec![
                        port(6121, "flink-data", Ingress::Stack),
                        port(6122, "flink-tm-rpc", Ingress::Stack),
                    ],
                    flink_env(&[]),
                    None,
                    None,
                ),
            ]
        }
        Flavor::Engine => vec![service(
            "engine",
            Role::Processing,
            ENGINE_IMAGE,
            512,
            1024,
            1,
            // The image's entry point is the engine; the command is its subcommand.
            &["serve"],
            vec![port(8088, "engine-http", Ingress::Vpc)],
            env(&[
                ("ENGINE_LISTEN", "0.0.0.0:8088"),
                ("ENGINE_SERVICE_ID", name),
                (
                    "ENGINE_KAFKA_BOOTSTRAP_SERVERS",
                    "{kafka_bootstrap_servers}",
                ),
                (
                    "ENGINE_CHECKPOINT_DIR",
                    "s3://{checkpoint_bucket}/checkpoints",
                ),
                // The engine reads its log filter from ENGINE_LOG (tracing's filter syntax).
                ("ENGINE_LOG", "info"),
                // The processing log as the ksqlDB flavor sets it up, in the engine's
                // spelling of ksqlDB's KSQL_KSQL_* variables: the topic
                // `<name>_ksql_processing_log`, the name ksqlDB's `<name>_` service id gives
                // it, and the KSQL_PROCESSING_LOG stream over it.
                ("ENGINE_KSQL_LOGGING_PROCESSING_STREAM_AUTO_CREATE", "true"),
                ("ENGINE_KSQL_LOGGING_PROCESSING_TOPIC_AUTO_CREATE", "true"),
            ]),
            Some(health(
                &[
                    "CMD",
                    "/advisor-engine",
                    "healthcheck",
                    "--url",
                    "http://127.0.0.1:8088/healthcheck",
                ],
                30,
                "GET /healthcheck on 8088",
            )),
            Some("engine"),
        )],
    }
}

/// Flink reads its settings from FLINK_PROPERTIES; they depend on the final sizes.
fn flink_properties(service: &ServiceSpec, taskmanagers: u32) -> String {
    let slots = 2;
    let process_mb = service.memory_mib * 3 / 4;
    let mut lines = vec![
        "jobmanager.rpc.address: jobmanager.{namespace}".to_string(),
        "jobmanager.rpc.port: 6123".to_string(),
        "blob.server.port: 6124".to_string(),
        "rest.port: 8081".to_string(),
        "taskmanager.rpc.port: 6122".to_string(),
        "taskmanager.data.port: 6121".to_string(),
        format!("taskmanager.numberOfTaskSlots: {slots}"),
        format!("parallelism.default: {}", slots * taskmanagers.max(1)),
        "state.backend.type: rocksdb".to_string(),
        "state.backend.incremental: true".to_string(),
        "execution.checkpointing.dir: s3://{checkpoint_bucket}/checkpoints".to_string(),
        "execution.checkpointing.savepoint-dir: s3://{checkpoint_bucket}/savepoints".to_string(),
        "execution.checkpointing.interval: 5 min".to_string(),
        "execution.checkpointing.mode: EXACTLY_ONCE".to_string(),
    ];
    lines.push(match service.role {
        Role::Coordinator => format!("jobmanager.memory.process.size: {process_mb}m"),
        Role::Processing => format!("taskmanager.memory.process.size: {process_mb}m"),
    });
    lines.join("\n")
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    (3..=28).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

pub fn check_cidr(cidr: &str) -> Result<(), String> {
    let (address, prefix) = cidr
        .split_once('/')
        .ok_or_else(|| format!("{cidr:?} is not a CIDR block (e.g. 10.0.0.0/16)"))?;
    let address: Ipv4Addr = address
        .parse()
        .map_err(|_| format!("{cidr:?} is not a CIDR block: {address:?} is not an IPv4 address"))?;
    let prefix: u32 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| format!("{cidr:?} is not a CIDR block: the prefix must be 0 to 32"))?;
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    if u32::from(address) & !mask != 0 {
        return Err(format!(
            "{cidr:?} has host bits set; the network is {}/{prefix}",
            Ipv4Addr::from(u32::from(address) & mask)
        ));
    }
    Ok(())
}

fn check_arn(
    source: &Source,
    value: &Spanned<String>,
    key: &str,
    service: &str,
) -> Result<(), StackError> {
    let prefix = format!("arn:aws:{service}:");
    if value.get_ref().starts_with(&prefix) {
        Ok(())
    } else {
        Err(source.error(
            value,
            key,
            format!("{:?} is not an ARN starting with {prefix}", value.get_ref()),
        ))
    }
}

pub fn build(
    flavor: Flavor,
    input: &StackInput,
    demand: &Demand,
    capacities: &Capacities,
) -> Result<StackSpec, StackError> {
    let (config, source, overrides) = (&input.config, &input.source, &input.overrides);
    let regions = &capacities.regions;
    let name = match (&overrides.name, &config.name) {
        (Some(name), _) => name.clone(),
        (None, Some(name)) => name.get_ref().clone(),
        (None, None) => format!("advisor-{}", flavor.id()),
    };
    if !valid_name(&name) {
        let message = format!("{name:?} is not a stack name: use 3 to 28 lowercase letters, digits and hyphens, starting with a letter");
        return Err(match (&overrides.name, &config.name) {
            (None, Some(spanned)) => source.error(spanned, "name", message),
            _ => StackError::Invalid(format!("--name: {message}")),
        });
    }

    let region = input.region(demand);
    if !regions.contains(&region) {
        let message = format!(
            "region {region:?} is not in the price catalog (it has: {})",
            regions.join(", ")
        );
        return Err(match (&overrides.region, &config.region) {
            (None, Some(spanned)) => source.error(spanned, "region", message),
            (None, None) => StackError::Invalid(format!("the workload's region: {message}")),
            (Some(_), _) => StackError::Invalid(format!("--region: {message}")),
        });
    }

    let arch = input.arch();
    let spot_share = overrides
        .spot_share
        .or(config.spot_share.as_ref().map(|s| *s.get_ref()))
        .unwrap_or(0.0);
    if !(0.0..=1.0).contains(&spot_share) {
        let message = format!("spot_share must be between 0 and 1, got {spot_share}");
        return Err(match &config.spot_share {
            Some(spanned) if overrides.spot_share.is_none() => {
                source.error(spanned, "spot_share", message)
            }
            _ => StackError::Invalid(message),
        });
    }
    let log_retention_days = match &config.log_retention_days {
        Some(days) if !LOG_RETENTION_DAYS.contains(days.get_ref()) => {
            return Err(source.error(
                days,
                "log_retention_days",
                format!(
                    "{} is not a CloudWatch Logs retention; choose one of {}",
                    days.get_ref(),
                    LOG_RETENTION_DAYS.map(|d| d.to_string()).join(", ")
                ),
            ))
        }
        Some(days) => *days.get_ref(),
        None => 7,
    };

    let cluster = match &config.cluster {
        Some(cluster) => match (&cluster.existing, &cluster.create) {
            (Some(existing), Some(_)) => {
                return Err(source.error(
                    existing,
                    "cluster",
                    "give either existing or create, not both",
                ))
            }
            (Some(existing), None) if existing.get_ref().trim().is_empty() => {
                return Err(source.error(existing, "cluster.existing", "must not be empty"))
            }
            (Some(existing), None) => ClusterRef::Existing(existing.get_ref().clone()),
            (None, Some(create)) if !valid_name(create.get_ref()) => {
                return Err(source.error(
                    create,
                    "cluster.create",
                    format!("{:?} is not a valid cluster name", create.get_ref()),
                ))
            }
            (None, Some(create)) => ClusterRef::Create(create.get_ref().clone()),
            (None, None) => ClusterRef::Create(name.clone()),
        },
        None => ClusterRef::Create(name.clone()),
    };

    let network = match &config.network {
        None => None,
        Some(network) => {
            if !network.vpc_id.get_ref().starts_with("vpc-") {
                return Err(source.error(
                    &network.vpc_id,
                    "network.vpc_id",
                    format!("{:?} is not a VPC id (vpc-...)", network.vpc_id.get_ref()),
                ));
            }
            check_cidr(network.vpc_cidr.get_ref())
                .map_err(|m| source.error(&network.vpc_cidr, "network.vpc_cidr", m))?;
            let subnets = network.private_subnet_ids.get_ref();
            if subnets.is_empty() {
                return Err(source.error(
                    &network.private_subnet_ids,
                    "network.private_subnet_ids",
                    "lists no subnet; give at least one private subnet (two or more across zones for availability)",
                ));
            }
            if let Some(bad) = subnets.iter().find(|s| !s.starts_with("subnet-")) {
                return Err(source.error(
                    &network.private_subnet_ids,
                    "network.private_subnet_ids",
                    format!("{bad:?} is not a subnet id (subnet-...)"),
                ));
            }
            let egress_cidrs = match &network.egress_cidrs {
                Some(cidrs) => {
                    for cidr in cidrs.get_ref() {
                        check_cidr(cidr)
                            .map_err(|m| source.error(cidrs, "network.egress_cidrs", m))?;
                    }
                    cidrs.get_ref().clone()
                }
                None => vec!["0.0.0.0/0".to_string()],
            };
            Some(Network {
                vpc_id: network.vpc_id.get_ref().clone(),
                vpc_cidr: network.vpc_cidr.get_ref().clone(),
                private_subnet_ids: subnets.clone(),
                egress_cidrs,
            })
        }
    };

    let kafka = match &config.kafka {
        None => Kafka {
            bootstrap_servers: String::new(),
            auth: KafkaAuthKind::None,
            secret_arn: None,
            msk_cluster_arn: None,
            schema_registry_url: None,
        },
        Some(kafka) => {
            if kafka.bootstrap_servers.get_ref().trim().is_empty() {
                return Err(source.error(
                    &kafka.bootstrap_servers,
                    "kafka.bootstrap_servers",
                    "must list at least one host:port",
                ));
            }
            let auth = kafka
                .auth
                .as_ref()
                .map(|a| *a.get_ref())
                .unwrap_or_default();
            let missing = |key: &str, message: &str| match &kafka.auth {
                Some(spanned) => source.error(spanned, key, message),
                None => StackError::Invalid(format!("{key}: {message}")),
            };
            match (auth, &kafka.secret_arn, &kafka.msk_cluster_arn) {
                (KafkaAuthKind::SaslScram, None, _) => {
                    return Err(missing(
                        "kafka.secret_arn",
                        "auth = \"sasl-scram\" needs secret_arn, the Secrets Manager secret with username, password and jaas_config",
                    ))
                }
                (KafkaAuthKind::MskIam, _, None) => {
                    return Err(missing(
                        "kafka.msk_cluster_arn",
                        "auth = \"msk-iam\" needs msk_cluster_arn, the cluster the tasks may connect to",
                    ))
                }
                (KafkaAuthKind::SaslScram, Some(arn), _) => {
                    check_arn(source, arn, "kafka.secret_arn", "secretsmanager")?
                }
                (KafkaAuthKind::MskIam, _, Some(_)) if flavor == Flavor::Engine => {
                    return Err(missing(
                        "kafka.auth",
                        "advisor-engine's Kafka client (librdkafka) has no AWS_MSK_IAM mechanism; use auth = \"sasl-scram\" with the cluster's SCRAM listener (port 9096)",
                    ))
                }
                (KafkaAuthKind::MskIam, _, Some(arn)) => {
                    check_arn(source, arn, "kafka.msk_cluster_arn", "kafka")?
                }
                (KafkaAuthKind::None, Some(arn), _) => {
                    return Err(source.error(
                        arn,
                        "kafka.secret_arn",
                        "is only used with auth = \"sasl-scram\"",
                    ))
                }
                (KafkaAuthKind::None, _, Some(arn)) => {
                    return Err(source.error(
                        arn,
                        "kafka.msk_cluster_arn",
                        "is only used with auth = \"msk-iam\"",
                    ))
                }
                _ => {}
            }
            if let Some(url) = &kafka.schema_registry_url {
                if !(url.get_ref().starts_with("http://") || url.get_ref().starts_with("https://"))
                {
                    return Err(source.error(
                        url,
                        "kafka.schema_registry_url",
                        format!("{:?} is not an http(s) URL", url.get_ref()),
                    ));
                }
            }
            Kafka {
                bootstrap_servers: kafka.bootstrap_servers.get_ref().clone(),
                auth,
                secret_arn: kafka.secret_arn.as_ref().map(|a| a.get_ref().clone()),
                msk_cluster_arn: kafka.msk_cluster_arn.as_ref().map(|a| a.get_ref().clone()),
                schema_registry_url: kafka
                    .schema_registry_url
                    .as_ref()
                    .map(|u| u.get_ref().clone()),
            }
        }
    };

    let mut services = default_services(flavor, &name);
    // One stack.toml may size the services of every flavor; only names no flavor has are
    // mistakes.
    let every_service: Vec<String> = [Flavor::Ksqldb, Flavor::Flink, Flavor::Engine]
        .into_iter()
        .flat_map(|f| default_services(f, &name))
        .map(|s| s.name)
        .collect();
    for (key, wanted) in &config.services {
        if !every_service.contains(key.get_ref()) {
            return Err(source.error(
                key,
                &format!("services.{}", key.get_ref()),
                format!(
                    "no flavor has a service {:?}; the services are: {}",
                    key.get_ref(),
                    every_service.join(", ")
                ),
            ));
        }
        let Some(service) = services.iter_mut().find(|s| &s.name == key.get_ref()) else {
            continue;
        };
        let field = |f: &str| format!("services.{}.{f}", service.name);
        if let Some(cpu) = &wanted.cpu {
            service.cpu_units = *cpu.get_ref();
        }
        if let Some(memory) = &wanted.memory {
            service.memory_mib = *memory.get_ref();
        }
        if let Err(message) = check_size(service.cpu_units, service.memory_mib) {
            let at = wanted.memory.as_ref().or(wanted.cpu.as_ref());
            return Err(match at {
                Some(spanned) => source.error(spanned, &field("memory"), message),
                None => StackError::Invalid(message),
            });
        }
        if let Some(count) = &wanted.count {
            let count_value = *count.get_ref();
            if count_value == 0 {
                return Err(source.error(count, &field("count"), "must be 1 or more"));
            }
            if service.role == Role::Coordinator && count_value != 1 {
                return Err(source.error(
                    count,
                    &field("count"),
                    "runs exactly one task (no JobManager high availability is configured)",
                ));
            }
            service.desired_count = count_value;
        }
        if let Some(image) = &wanted.image {
            if image.get_ref().trim().is_empty() {
                return Err(source.error(image, &field("image"), "must not be empty"));
            }
            service.image = image.get_ref().clone();
        }
    }
    if flavor == Flavor::Engine && arch == Arch::Arm64 {
        if let Some(engine) = services.iter().find(|s| s.image == ENGINE_IMAGE) {
            return Err(StackError::Invalid(format!(
                "the advisor-engine image is built for x86_64 only (this project cannot build ARM64 images); for arch arm64 set services.{}.image to an arm64 build, or use arch x86",
                engine.name
            )));
        }
    }

    // Sized before Flink's settings are written: its parallelism follows the TaskManagers.
    let sizing = sizing::size(flavor, &mut services, demand, capacities)?;
    super::autoscaling::apply(
        flavor,
        &mut services,
        config,
        source,
        demand,
        capacities.target_utilization,
    )?;
    let taskmanagers = services
        .iter()
        .find(|s| s.name == "taskmanager")
        .map(|s| s.desired_count)
        .unwrap_or(0);
    for service in &mut services {
        if flavor == Flavor::Flink {
            let properties = flink_properties(service, taskmanagers);
            service
                .environment
                .insert("FLINK_PROPERTIES".into(), properties);
        }
        add_kafka_settings(flavor, service, &kafka);
    }

    let checkpoints = matches!(flavor, Flavor::Flink | Flavor::Engine).then(|| CheckpointSpec {
        bucket_prefix: format!("{name}-checkpoints"),
        interval_minutes: 5.0,
        noncurrent_days: 1,
        newer_noncurrent_versions: 2,
    });
    let mut tags = BTreeMap::from([
        ("advisor:stack".to_string(), name.clone()),
        ("advisor:flavor".to_string(), flavor.id().to_string()),
    ]);
    for (key, value) in &config.tags {
        tags.insert(key.clone(), value.clone());
    }
    Ok(StackSpec {
        flavor,
        namespace: format!("{name}.internal"),
        name,
        region,
        arch,
        spot_share,
        log_retention_days,
        enable_execute_command: config.enable_execute_command.unwrap_or(false),
        cluster,
        network,
        kafka,
        services,
        checkpoints,
        tags,
        sizing,
    })
}

/// Schema Registry and Kafka authentication settings, in each image's own variable names.
fn add_kafka_settings(flavor: Flavor, service: &mut ServiceSpec, kafka: &Kafka) {
    let (prefix, registry) = match flavor {
        Flavor::Ksqldb => ("KSQL_", "KSQL_KSQL_SCHEMA_REGISTRY_URL"),
        Flavor::Flink => ("KAFKA_", "SCHEMA_REGISTRY_URL"),
        Flavor::Engine => ("ENGINE_KAFKA_", "ENGINE_SCHEMA_REGISTRY_URL"),
    };
    if kafka.schema_registry_url.is_some() {
        service
            .environment
            .insert(registry.to_string(), "{schema_registry_url}".to_string());
    }
    let var = |name: &str| format!("{prefix}{name}");
    match kafka.auth {
        KafkaAuthKind::None => {}
        KafkaAuthKind::SaslScram => {
            service
                .environment
                .insert(var("SECURITY_PROTOCOL"), "SASL_SSL".into());
            service
                .environment
                .insert(var("SASL_MECHANISM"), "SCRAM-SHA-512".into());
            if flavor == Flavor::Engine {
                service.secrets.insert(
                    var("SASL_USERNAME"),
                    "{kafka_secret_arn}:username::".to_string(),
                );
                service.secrets.insert(
                    var("SASL_PASSWORD"),
                    "{kafka_secret_arn}:password::".to_string(),
                );
            } else {
                service.secrets.insert(
                    var("SASL_JAAS_CONFIG"),
                    "{kafka_secret_arn}:jaas_config::".to_string(),
                );
            }
        }
        KafkaAuthKind::MskIam => {
            service
                .environment
                .insert(var("SECURITY_PROTOCOL"), "SASL_SSL".into());
            service
                .environment
                .insert(var("SASL_MECHANISM"), "AWS_MSK_IAM".into());
            if flavor != Flavor::Engine {
                service.environment.insert(
                    var("SASL_JAAS_CONFIG"),
                    "software.amazon.msk.auth.iam.IAMLoginModule required;".into(),
                );
                service.environment.insert(
                    var("SASL_CLIENT_CALLBACK_HANDLER_CLASS"),
                    "software.amazon.msk.auth.iam.IAMClientCallbackHandler".into(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks_are_checked() {
        assert!(check_cidr("10.0.0.0/16").is_ok());
        assert!(check_cidr("0.0.0.0/0").is_ok());
        assert!(check_cidr("10.0.0/16").is_err());
        assert!(check_cidr("10.0.0.0/33").is_err());
        assert!(check_cidr("10.0.0.1/16").unwrap_err().contains("host bits"));
    }

    /// The engine reads ksqlDB's properties as ENGINE_KSQL_* where ksqlDB's image reads
    /// KSQL_KSQL_*: the engine flavor sets up the processing log as the ksqlDB flavor does.
    #[test]
    fn the_engine_flavor_sets_up_the_processing_log_as_the_ksqldb_flavor_does() {
        let ksqldb = &default_services(Flavor::Ksqldb, "orders")[0].environment;
        let engine = &default_services(Flavor::Engine, "orders")[0].environment;
        let logging: Vec<(&String, &String)> = ksqldb
            .iter()
            .filter(|(name, _)| name.starts_with("KSQL_KSQL_LOGGING_PROCESSING_"))
            .collect();
        assert_eq!(logging.len(), 2, "{ksqldb:?}");
        for (name, value) in logging {
            let theirs = name.replacen("KSQL_KSQL_", "ENGINE_KSQL_", 1);
            assert_eq!(engine.get(&theirs), Some(value), "{theirs} in {engine:?}");
        }
    }
}
