//! Terraform for a StackSpec: a root module rendered from templates/terraform with tera,
//! using the reusable modules of terraform-modules/, copied in beside it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::error_chain;

use crate::stack::{
    ClusterRef, Flavor, Ingress, KafkaAuthKind, ServiceSpec, StackSpec, PLACEHOLDERS,
};

#[derive(Debug, thiserror::Error)]
#[error("cannot render {template}: {message}")]
pub struct RenderError {
    template: &'static str,
    message: String,
}

macro_rules! embedded {
    ($($path:literal),* $(,)?) => {
        [$(($path, include_str!(concat!("../../", $path)))),*]
    };
}

const TEMPLATES: [(&str, &str); 6] = embedded!(
    "templates/terraform/main.tf.tera",
    "templates/terraform/variables.tf.tera",
    "templates/terraform/outputs.tf.tera",
    "templates/terraform/versions.tf.tera",
    "templates/terraform/tfvars.example.tera",
    "templates/terraform/README.md.tera",
);

/// The reusable modules, copied under `modules/` of the output.
pub const MODULES: [(&str, &str); 16] = embedded!(
    "terraform-modules/fargate-service/main.tf",
    "terraform-modules/fargate-service/variables.tf",
    "terraform-modules/fargate-service/outputs.tf",
    "terraform-modules/fargate-service/versions.tf",
    "terraform-modules/checkpoint-bucket/main.tf",
    "terraform-modules/checkpoint-bucket/variables.tf",
    "terraform-modules/checkpoint-bucket/outputs.tf",
    "terraform-modules/checkpoint-bucket/versions.tf",
    "terraform-modules/service-discovery/main.tf",
    "terraform-modules/service-discovery/variables.tf",
    "terraform-modules/service-discovery/outputs.tf",
    "terraform-modules/service-discovery/versions.tf",
    "terraform-modules/iam/main.tf",
    "terraform-modules/iam/variables.tf",
    "terraform-modules/iam/outputs.tf",
    "terraform-modules/iam/versions.tf",
);

/// Where each template's output goes in the generated folder.
const OUTPUTS: [(&str, &str); 6] = [
    ("templates/terraform/main.tf.tera", "main.tf"),
    ("templates/terraform/variables.tf.tera", "variables.tf"),
    ("templates/terraform/outputs.tf.tera", "outputs.tf"),
    ("templates/terraform/versions.tf.tera", "versions.tf"),
    (
        "templates/terraform/tfvars.example.tera",
        "terraform.tfvars.example",
    ),
    ("templates/terraform/README.md.tera", "README.md"),
];

/// Checks the generated Terraform skips, each with the reason the README repeats.
pub const CHECKOV_SKIPS: [(&str, &str); 7] = [
    ("CKV_AWS_18", "checkpoint bucket access logging: only the stack's task role reads and writes it, and the logs would cost more than the checkpoints"),
    ("CKV_AWS_144", "checkpoint bucket cross-region replication: the running job recreates checkpoints; replication doubles the cost for no recovery gain"),
    ("CKV2_AWS_62", "checkpoint bucket event notifications: nothing consumes checkpoint events"),
    ("CKV_AWS_158", "log group KMS key: container logs hold no secrets; CloudWatch's default encryption applies"),
    ("CKV_AWS_338", "log retention under a year: processing logs are kept for log_retention_days; a year of them costs more than the stack"),
    ("CKV_AWS_111", "ECS Exec (only with enable_execute_command): ssmmessages channels have no resource ARNs, AWS documents Resource \"*\""),
    ("CKV_AWS_356", "ECS Exec (only with enable_execute_command): as above"),
];

/// One file of the generated folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub contents: String,
}

/// An HCL quoted string for a value that may hold StackSpec placeholders.
pub fn hcl_string(value: &str) -> String {
    format!("\"{}\"", hcl_template_body(value, false))
}

/// Escapes a value for an HCL string (or heredoc) and turns `{placeholder}` into
/// `${local.placeholder}`.
fn hcl_template_body(value: &str, heredoc: bool) -> String {
    let mut text = value.replace("${", "$${").replace("%{", "%%{");
    if !heredoc {
        text = text
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
    }
    for name in PLACEHOLDERS {
        text = text.replace(&format!("{{{name}}}"), &format!("${{local.{name}}}"));
    }
    text
}

fn hcl_list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|i| hcl_string(i))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn is_identifier(key: &str) -> bool {
    key.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `key = value` lines with the `=` aligned the way `terraform fmt` aligns them.
fn aligned(entries: &[(String, String)], indent: usize) -> String {
    let keys: Vec<String> = entries
        .iter()
        .map(|(k, _)| {
            if is_identifier(k) {
                k.clone()
            } else {
                format!("\"{k}\"")
            }
        })
        .collect();
    let width = keys.iter().map(String::len).max().unwrap_or(0);
    keys.iter()
        .zip(entries)
        .map(|(key, (_, value))| format!("{:indent$}{key:<width$} = {value}", ""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A map argument: `{}` when empty, else one aligned entry a line.
fn hcl_map(entries: &[(String, String)], indent: usize) -> String {
    if entries.is_empty() {
        "{}".to_string()
    } else {
        format!("{{\n{}\n{:indent$}}}", aligned(entries, indent + 2), "")
    }
}

fn pairs(items: &[(&str, String)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[derive(Serialize)]
struct Heredoc {
    name: String,
    body: String,
}

#[derive(Serialize)]
struct ServiceContext {
    module: String,
    container_name: String,
    arguments: String,
    port_mappings: String,
    environment: String,
    secrets: String,
    health_check: Option<String>,
}

#[derive(Serialize)]
struct CheckpointContext {
    noncurrent_days: u32,
    newer_noncurrent_versions: u32,
}

#[derive(Serialize)]
struct Context {
    version: &'static str,
    flavor: &'static str,
    flavor_title: &'static str,
    name: String,
    region: String,
    create_cluster: bool,
    existing_cluster: bool,
    cluster_name: String,
    cluster_name_expr: String,
    log_retention_days: u32,
    locals_block: String,
    heredocs: Vec<Heredoc>,
    vpc_ports: String,
    stack_ports: String,
    schema_registry: bool,
    kafka_secret: bool,
    msk_cluster: bool,
    iam_block: String,
    discovery_names: String,
    checkpoints: Option<CheckpointContext>,
    /// The engine image's ECR repository, when a service runs the default engine image.
    ecr_repository: Option<&'static str>,
    ecr_keep_images: u32,
    services: Vec<ServiceContext>,
    tags_block: String,
    tfvars_block: String,
    endpoint_expr: String,
    endpoint_description: String,
    checkov_skips: Vec<(&'static str, &'static str)>,
    service_table: Vec<Vec<String>>,
    arch: &'static str,
    spot_share: f64,
    kafka_auth: &'static str,
    enable_execute_command: bool,
    sizing_note: Option<String>,
}

pub fn module_name(service: &ServiceSpec) -> String {
    format!("service_{}", service.name.replace('-', "_"))
}

fn port_map(spec: &StackSpec, ingress: Ingress) -> String {
    let mut ports: BTreeMap<String, u16> = BTreeMap::new();
    for service in &spec.services {
        for port in service.ports.iter().filter(|p| p.ingress == ingress) {
            ports.insert(port.name.clone(), port.port);
        }
    }
    ports
        .iter()
        .map(|(name, port)| format!("\"{name}\" = {port}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn service_context(
    spec: &StackSpec,
    service: &ServiceSpec,
    heredocs: &mut Vec<Heredoc>,
) -> ServiceContext {
    let module = module_name(service);
    let registry = match &service.discovery_name {
        Some(name) => format!("module.discovery.service_arns[\"{name}\"]"),
        None => "null".to_string(),
    };
    let mut arguments = pairs(&[
        ("name", format!("\"${{var.name}}-{}\"", service.name)),
        ("container_name", hcl_string(&service.name)),
        ("cluster_arn", "local.cluster_arn".into()),
        ("image", hcl_string(&service.image)),
        ("cpu", service.cpu_units.to_string()),
        ("memory", service.memory_mib.to_string()),
        ("cpu_architecture", hcl_string(spec.arch.ecs_name())),
        ("desired_count", service.desired_count.to_string()),
        ("spot_share", spec.spot_share.to_string()),
        ("command", hcl_list(&service.command)),
        ("execution_role_arn", "module.iam.execution_role_arn".into()),
        ("task_role_arn", "module.iam.task_role_arn".into()),
        (
            "log_group_name",
            "aws_cloudwatch_log_group.this.name".into(),
        ),
        ("region", "var.region".into()),
        ("subnet_ids", "var.private_subnet_ids".into()),
        ("security_group_ids", "[aws_security_group.this.id]".into()),
        ("service_registry_arn", registry),
        (
            "enable_execute_command",
            spec.enable_execute_command.to_string(),
        ),
    ]);
    if let Some(scaling) = &service.autoscaling {
        let at = arguments
            .iter()
            .position(|(key, _)| key == "desired_count")
            .map_or(arguments.len(), |i| i + 1);
        arguments.insert(
            at,
            (
                "autoscaling".to_string(),
                format!(
                    "{{ min_count = {}, max_count = {}, target_cpu_percent = {}, scale_out_cooldown = {}, scale_in_cooldown = {} }}",
                    scaling.min_count,
                    scaling.max_count,
                    scaling.target_cpu_percent,
                    scaling.scale_out_cooldown_seconds,
                    scaling.scale_in_cooldown_seconds
                ),
            ),
        );
    }
    let arguments = aligned(&arguments, 2);
    let port_mappings = service
        .ports
        .iter()
        .map(|p| format!("    {{ name = \"{}\", port = {} }},", p.name, p.port))
        .collect::<Vec<_>>()
        .join("\n");
    let mut environment = Vec::new();
    for (key, value) in &service.environment {
        if value.contains('\n') {
            let name = format!("{}_{}", module, key.to_ascii_lowercase());
            let body = hcl_template_body(value, true)
                .lines()
                .map(|line| format!("    {line}"))
                .collect::<Vec<_>>()
                .join("\n");
            environment.push((key.clone(), format!("local.{name}")));
            heredocs.push(Heredoc { name, body });
        } else {
            environment.push((key.clone(), hcl_string(value)));
        }
    }
    let secrets: Vec<(String, String)> = service
        .secrets
        .iter()
        .map(|(k, v)| (k.clone(), hcl_string(v)))
        .collect();
    let health_check = service.health_check.as_ref().map(|check| {
        aligned(
            &pairs(&[
                ("command", hcl_list(&check.command)),
                ("interval", check.interval_seconds.to_string()),
                ("timeout", check.timeout_seconds.to_string()),
                ("retries", check.retries.to_string()),
                ("startPeriod", check.start_period_seconds.to_string()),
            ]),
            4,
        )
    });
    ServiceContext {
        module,
        container_name: service.name.clone(),
        arguments,
        port_mappings,
        environment: hcl_map(&environment, 2),
        secrets: hcl_map(&secrets, 2),
        health_check,
    }
}

fn placeholder(value: &str, example: &str) -> String {
    if value.is_empty() {
        example.to_string()
    } else {
        value.to_string()
    }
}

fn tfvars(spec: &StackSpec) -> String {
    let network = spec.network.as_ref();
    let list = |items: &[String]| hcl_list(items);
    let mut entries = pairs(&[
        ("region", hcl_string(&spec.region)),
        ("name", hcl_string(&spec.name)),
        (
            "vpc_id",
            hcl_string(
                network
                    .map(|n| n.vpc_id.as_str())
                    .unwrap_or("vpc-0123456789abcdef0"),
            ),
        ),
        (
            "vpc_cidr_block",
            hcl_string(
                network
                    .map(|n| n.vpc_cidr.as_str())
                    .unwrap_or("10.0.0.0/16"),
            ),
        ),
        (
            "private_subnet_ids",
            network
                .map(|n| list(&n.private_subnet_ids))
                .unwrap_or_else(|| {
                    "[\"subnet-0123456789abcdef0\", \"subnet-0fedcba9876543210\"]".into()
                }),
        ),
        (
            "egress_cidr_blocks",
            network
                .map(|n| list(&n.egress_cidrs))
                .unwrap_or_else(|| "[\"0.0.0.0/0\"]".into()),
        ),
        (
            "kafka_bootstrap_servers",
            hcl_string(&placeholder(
                &spec.kafka.bootstrap_servers,
                "b-1.example.kafka.eu-west-2.amazonaws.com:9092",
            )),
        ),
        (
            "schema_registry_url",
            hcl_string(spec.kafka.schema_registry_url.as_deref().unwrap_or("")),
        ),
    ]);
    if let Some(arn) = &spec.kafka.secret_arn {
        entries.push(("kafka_secret_arn".into(), hcl_string(arn)));
    }
    if let Some(arn) = &spec.kafka.msk_cluster_arn {
        entries.push(("msk_cluster_arn".into(), hcl_string(arn)));
    }
    if let ClusterRef::Existing(name) = &spec.cluster {
        entries.push(("ecs_cluster_name".into(), hcl_string(name)));
    }
    aligned(&entries, 0)
}

fn context(spec: &StackSpec) -> Context {
    let mut heredocs = Vec::new();
    let services: Vec<ServiceContext> = spec
        .services
        .iter()
        .map(|s| service_context(spec, s, &mut heredocs))
        .collect();
    let (create_cluster, cluster_name) = match &spec.cluster {
        ClusterRef::Create(name) => (true, name.clone()),
        ClusterRef::Existing(name) => (false, name.clone()),
    };
    // A cluster named after the stack follows var.name like every other resource.
    let cluster_name_expr = if cluster_name == spec.name {
        "var.name".to_string()
    } else {
        hcl_string(&cluster_name)
    };
    let checkpoints = spec.checkpoints.as_ref();
    let mut locals = pairs(&[
        (
            "account_id",
            "data.aws_caller_identity.current.account_id".into(),
        ),
        ("region", "var.region".into()),
        (
            "kafka_bootstrap_servers",
            "var.kafka_bootstrap_servers".into(),
        ),
        ("schema_registry_url", "var.schema_registry_url".into()),
        ("namespace", "module.discovery.namespace_name".into()),
    ]);
    if checkpoints.is_some() {
        locals.push((
            "checkpoint_bucket".into(),
            "module.checkpoints.bucket".into(),
        ));
    }
    if spec.kafka.auth == KafkaAuthKind::SaslScram {
        locals.push(("kafka_secret_arn".into(), "var.kafka_secret_arn".into()));
    }
    locals.push((
        "cluster_arn".into(),
        if create_cluster {
            "aws_ecs_cluster.this.arn".into()
        } else {
            "data.aws_ecs_cluster.this.arn".into()
        },
    ));
    let iam_block = aligned(
        &pairs(&[
            ("name", "var.name".into()),
            (
                "checkpoint_bucket_arn",
                if checkpoints.is_some() {
                    "module.checkpoints.arn".into()
                } else {
                    "null".into()
                },
            ),
            (
                "kafka_secret_arn",
                if spec.kafka.auth == KafkaAuthKind::SaslScram {
                    "var.kafka_secret_arn".into()
                } else {
                    "null".into()
                },
            ),
            (
                "msk_cluster_arn",
                if spec.kafka.auth == KafkaAuthKind::MskIam {
                    "var.msk_cluster_arn".into()
                } else {
                    "null".into()
                },
            ),
            (
                "enable_execute_command",
                spec.enable_execute_command.to_string(),
            ),
        ]),
        2,
    );
    let discovery: Vec<String> = spec
        .services
        .iter()
        .filter_map(|s| s.discovery_name.as_ref().map(|n| format!("\"{n}\"")))
        .collect();
    let endpoint_service = spec.services.iter().find_map(|s| {
        let name = s.discovery_name.as_ref()?;
        let port = s.ports.iter().find(|p| p.ingress == Ingress::Vpc)?;
        Some((name.clone(), port.port))
    });
    let (endpoint_expr, endpoint_description) = match endpoint_service {
        Some((name, port)) => (
            format!("http://{name}.${{module.discovery.namespace_name}}:{port}"),
            match spec.flavor {
                Flavor::Ksqldb => "ksqlDB REST API inside the VPC (Cloud Map name)",
                Flavor::Flink => "Flink web UI and REST API inside the VPC (Cloud Map name)",
                Flavor::Engine => {
                    "advisor-engine's ksqlDB-compatible REST API inside the VPC (Cloud Map name)"
                }
            }
            .to_string(),
        ),
        None => (String::new(), String::new()),
    };
    let tags: Vec<(String, String)> = spec
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), hcl_string(v)))
        .collect();
    let service_table = spec
        .services
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.image.clone(),
                format!("{} vCPU / {} GB", s.vcpu(), s.memory_gb()),
                match &s.autoscaling {
                    Some(scaling) => format!(
                        "{} ({} to {}, autoscaled at {}% CPU)",
                        s.desired_count,
                        scaling.min_count,
                        scaling.max_count,
                        scaling.target_cpu_percent
                    ),
                    None => s.desired_count.to_string(),
                },
                s.ports
                    .iter()
                    .map(|p| p.port.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                s.health_check
                    .as_ref()
                    .map(|h| h.describes.clone())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    Context {
        version: env!("CARGO_PKG_VERSION"),
        flavor: spec.flavor.id(),
        flavor_title: match spec.flavor {
            Flavor::Ksqldb => "ksqlDB",
            Flavor::Flink => "Apache Flink",
            Flavor::Engine => "advisor-engine",
        },
        name: spec.name.clone(),
        region: spec.region.clone(),
        create_cluster,
        existing_cluster: !create_cluster,
        cluster_name,
        cluster_name_expr,
        log_retention_days: spec.log_retention_days,
        locals_block: aligned(&locals, 2),
        heredocs,
        vpc_ports: port_map(spec, Ingress::Vpc),
        stack_ports: port_map(spec, Ingress::Stack),
        schema_registry: spec.kafka.schema_registry_url.is_some(),
        kafka_secret: spec.kafka.auth == KafkaAuthKind::SaslScram,
        msk_cluster: spec.kafka.auth == KafkaAuthKind::MskIam,
        iam_block,
        discovery_names: discovery.join(", "),
        ecr_repository: spec
            .services
            .iter()
            .any(|s| s.image == crate::stack::ENGINE_IMAGE)
            .then_some(crate::image::IMAGE_NAME),
        ecr_keep_images: crate::image::KEEP_IMAGES,
        checkpoints: checkpoints.map(|c| CheckpointContext {
            noncurrent_days: c.noncurrent_days,
            newer_noncurrent_versions: c.newer_noncurrent_versions,
        }),
        services,
        tags_block: aligned(&tags, 4),
        tfvars_block: tfvars(spec),
        endpoint_expr,
        endpoint_description,
        checkov_skips: CHECKOV_SKIPS.to_vec(),
        service_table,
        arch: spec.arch.id(),
        spot_share: spec.spot_share,
        kafka_auth: match spec.kafka.auth {
            KafkaAuthKind::None => "none",
            KafkaAuthKind::SaslScram => "SASL/SCRAM (Secrets Manager)",
            KafkaAuthKind::MskIam => "IAM (MSK)",
        },
        enable_execute_command: spec.enable_execute_command,
        sizing_note: spec.sizing.as_ref().map(|s| s.note.clone()),
    }
}

/// Every file of the generated folder, in a fixed order.
pub fn render(spec: &StackSpec) -> Result<Vec<File>, RenderError> {
    let context = tera::Context::from_serialize(context(spec)).map_err(|e| RenderError {
        template: "context",
        message: e.to_string(),
    })?;
    let mut tera = tera::Tera::default();
    // Terraform is not HTML: nothing must be escaped.
    tera.autoescape_on(vec![]);
    for (name, text) in TEMPLATES {
        tera.add_raw_template(name, text).map_err(|e| RenderError {
            template: name,
            message: error_chain(&e),
        })?;
    }
    let mut files = Vec::new();
    for (template, path) in OUTPUTS {
        let contents = tera.render(template, &context).map_err(|e| RenderError {
            template,
            message: error_chain(&e),
        })?;
        files.push(File {
            path: path.to_string(),
            contents: tidy(&contents),
        });
    }
    for (path, contents) in MODULES {
        if path.contains("/checkpoint-bucket/") && spec.checkpoints.is_none() {
            continue;
        }
        files.push(File {
            path: path.replace("terraform-modules/", "modules/"),
            contents: contents.to_string(),
        });
    }
    Ok(files)
}

/// Template conditionals leave runs of blank lines; Terraform style keeps at most one.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
            out.push('\n');
        } else {
            blank = 0;
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    let trimmed = out.trim_matches('\n');
    format!("{trimmed}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_placeholders_become_locals() {
        assert_eq!(
            hcl_string("s3://{checkpoint_bucket}/x \"q\" ${HOME} a\\b"),
            "\"s3://${local.checkpoint_bucket}/x \\\"q\\\" $${HOME} a\\\\b\""
        );
    }

    #[test]
    fn maps_align_like_terraform_fmt() {
        let map = hcl_map(
            &[("A".into(), "1".into()), ("LONGER".into(), "2".into())],
            2,
        );
        assert_eq!(map, "{\n    A      = 1\n    LONGER = 2\n  }");
    }
}
