//! `advisor generate` through the real binary: formatting, references, static analysis,
//! golden files, safety of the output folder, stack.toml errors, and the StackSpec shared
//! with the cost model.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{advisor, json, write};
use predicates::prelude::*;
use regex::Regex;

const STACK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/stack.toml");
const FLAVORS: [&str; 3] = ["ksqldb", "flink", "engine"];

fn generate(out: &Path, flavor: &str, extra: &[&str]) {
    advisor()
        .args(["generate", "--flavor", flavor, "--out"])
        .arg(out)
        .args(extra)
        .assert()
        .success();
}

fn files_under(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap().display().to_string();
                files.insert(relative, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    files
}

/// What one Terraform module folder declares, read with an HCL parser.
#[derive(Default, Debug)]
struct Module {
    variables: BTreeMap<String, bool>, // name -> has a default
    locals: BTreeSet<String>,
    outputs: BTreeSet<String>,
    resources: BTreeSet<String>,
    data: BTreeSet<String>,
    modules: BTreeMap<String, (String, BTreeSet<String>)>, // name -> (source, arguments)
    text: String,
}

fn read_module(dir: &Path) -> Module {
    let mut module = Module::default();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("tf") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let body: hcl::Body = hcl::parse(&text)
            .unwrap_or_else(|e| panic!("{} does not parse as HCL: {e}", path.display()));
        for block in body.blocks() {
            let labels: Vec<&str> = block.labels().iter().map(|l| l.as_str()).collect();
            match block.identifier() {
                "variable" => {
                    let has_default = block.body().attributes().any(|a| a.key() == "default");
                    module.variables.insert(labels[0].to_string(), has_default);
                }
                "locals" => module
                    .locals
                    .extend(block.body().attributes().map(|a| a.key().to_string())),
                "output" => {
                    module.outputs.insert(labels[0].to_string());
                }
                "resource" => {
                    module
                        .resources
                        .insert(format!("{}.{}", labels[0], labels[1]));
                }
                "data" => {
                    module.data.insert(format!("{}.{}", labels[0], labels[1]));
                }
                "module" => {
                    let mut source = String::new();
                    let mut arguments = BTreeSet::new();
                    for attribute in block.body().attributes() {
                        match attribute.key() {
                            "source" => {
                                if let hcl::Expression::String(s) = attribute.expr() {
                                    source = s.clone();
                                }
                            }
                            "depends_on" | "count" | "for_each" | "providers" => {}
                            key => {
                                arguments.insert(key.to_string());
                            }
                        }
                    }
                    module
                        .modules
                        .insert(labels[0].to_string(), (source, arguments));
                }
                _ => {}
            }
        }
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        module.text.push_str(&code);
        module.text.push('\n');
    }
    module
}

/// Every var., local., module., data. and resource reference in a module resolves, every
/// module argument is a variable of that module, and every required variable is given.
fn check_references(dir: &Path) {
    let module = read_module(dir);
    let simple =
        Regex::new(r"\b(var|local|module)\.([A-Za-z_][A-Za-z0-9_-]*)(\.([A-Za-z_][A-Za-z0-9_]*))?")
            .unwrap();
    for captures in simple.captures_iter(&module.text) {
        let kind = &captures[1];
        let name = &captures[2];
        let found = match kind {
            "var" => module.variables.contains_key(name),
            "local" => module.locals.contains(name),
            _ => module.modules.contains_key(name),
        };
        assert!(found, "{}: {kind}.{name} is not declared", dir.display());
        if kind == "module" {
            let output = captures
                .get(4)
                .expect("module reference names an output")
                .as_str();
            let (source, _) = &module.modules[name];
            let child = read_module(&dir.join(source));
            assert!(
                child.outputs.contains(output),
                "{}: module.{name}.{output} is not an output of {source}",
                dir.display()
            );
        }
    }
    let data = Regex::new(r"\bdata\.([a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)").unwrap();
    for captures in data.captures_iter(&module.text) {
        let key = format!("{}.{}", &captures[1], &captures[2]);
        assert!(
            module.data.contains(&key),
            "{}: data.{key} is not declared",
            dir.display()
        );
    }
    let resource = Regex::new(r"(^|[^.\w])(aws_[a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)").unwrap();
    for captures in resource.captures_iter(&module.text) {
        let key = format!("{}.{}", &captures[2], &captures[3]);
        assert!(
            module.resources.contains(&key),
            "{}: {key} is not declared",
            dir.display()
        );
    }
    for (name, (source, arguments)) in &module.modules {
        let child_dir = dir.join(source);
        let child = read_module(&child_dir);
        for argument in arguments {
            assert!(
                child.variables.contains_key(argument),
                "{}: module {name} passes {argument}, which {source} does not declare",
                dir.display()
            );
        }
        for (variable, has_default) in &child.variables {
            assert!(
                *has_default || arguments.contains(variable),
                "{}: module {name} does not pass the required variable {variable}",
                dir.display()
            );
        }
        check_references(&child_dir);
    }
}

fn terraform_fmt_check(dir: &Path) {
    let output = Command::new("terraform")
        .args(["fmt", "-check", "-recursive", "-diff"])
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .output()
        .expect("terraform is on the machine");
    assert!(
        output.status.success(),
        "terraform fmt -check failed in {}:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout)
    );
}

fn checkov(dir: &Path) -> serde_json::Value {
    let output = Command::new(common::cached_tool("venv/bin/checkov", "checkov"))
        .args([
            "--compact",
            "--framework",
            "terraform",
            "--skip-download",
            "-o",
            "json",
            "-d",
        ])
        .arg(dir)
        .output()
        .expect("checkov runs: scripts/test installs it into the cache's virtualenv");
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("checkov output is not JSON ({e}): {text}"))
}

#[test]
fn every_flavor_is_formatted_and_every_reference_resolves() {
    let dir = tempfile::tempdir().unwrap();
    for flavor in FLAVORS {
        for (label, extra) in [("default", vec![]), ("config", vec!["--config", STACK])] {
            let out = dir.path().join(format!("{flavor}-{label}"));
            generate(&out, flavor, &extra);
            terraform_fmt_check(&out);
            check_references(&out);
        }
    }
}

#[test]
fn checkov_finds_no_failed_check_and_every_skip_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let msk = write(
        dir.path(),
        "msk.toml",
        "name = \"fraud\"\nenable_execute_command = true\narch = \"arm64\"\n[kafka]\nbootstrap_servers = \"b-1:9098\"\nauth = \"msk-iam\"\nmsk_cluster_arn = \"arn:aws:kafka:us-east-1:123456789012:cluster/fraud/abc-1\"\n[cluster]\nexisting = \"streaming\"\n",
    );
    let msk = msk.to_str().unwrap().to_string();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("ksqldb", vec!["--config", STACK]),
        ("flink", vec!["--config", STACK]),
        ("engine", vec!["--config", STACK]),
        ("flink", vec!["--config", &msk]),
    ];
    for (i, (flavor, extra)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("{flavor}-{i}"));
        generate(&out, flavor, extra);
        let report = checkov(&out);
        let summary = &report["summary"];
        assert_eq!(
            summary["failed"], 0,
            "{flavor}: {}",
            report["results"]["failed_checks"]
        );
        assert!(
            summary["passed"].as_u64().unwrap() > 50,
            "{flavor}: {summary}"
        );
        let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
        for skipped in report["results"]["skipped_checks"].as_array().unwrap() {
            let id = skipped["check_id"].as_str().unwrap();
            assert!(
                readme.contains(&format!("| {id} |")),
                "{flavor}: skip {id} is not in the README"
            );
        }
    }
}

fn golden_dir(flavor: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(flavor)
}

/// Golden files for the three flavors from examples/stack.toml. Set ADVISOR_UPDATE_GOLDEN=1
/// to rewrite them after an intended change, and review the diff.
#[test]
fn output_matches_the_golden_files() {
    let dir = tempfile::tempdir().unwrap();
    for flavor in FLAVORS {
        let out = dir.path().join(flavor);
        generate(&out, flavor, &["--config", STACK]);
        let generated: BTreeMap<String, String> = files_under(&out)
            .into_iter()
            .filter(|(path, _)| !path.starts_with("modules/"))
            .collect();
        let golden = golden_dir(flavor);
        if std::env::var_os("ADVISOR_UPDATE_GOLDEN").is_some() {
            let _ = std::fs::remove_dir_all(&golden);
            for (path, contents) in &generated {
                let target = golden.join(path);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::write(target, contents).unwrap();
            }
        }
        let expected = files_under(&golden);
        assert_eq!(
            generated.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{flavor}: the set of files changed"
        );
        for (path, contents) in &generated {
            assert_eq!(
                contents, &expected[path],
                "{flavor}/{path} differs from tests/golden"
            );
        }
    }
}

#[test]
fn generation_is_deterministic_and_writes_only_inside_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stack");
    generate(&out, "flink", &["--config", STACK]);
    let first = files_under(&out);
    advisor()
        .args(["generate", "--flavor", "flink", "--config", STACK, "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("0 files written"));
    assert_eq!(files_under(&out), first);
    let other = dir.path().join("again");
    generate(&other, "flink", &["--config", STACK]);
    assert_eq!(files_under(&other), first, "same input, same bytes");
    let entries: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        entries.len(),
        2,
        "nothing beside the output folders: {entries:?}"
    );
    assert!(first.contains_key("modules/fargate-service/main.tf"));
    assert!(first.contains_key("terraform.tfvars.example"));
}

#[test]
fn changed_files_are_kept_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "ksqldb", &[]);
    let main = dir.path().join("main.tf");
    std::fs::write(&main, "# edited by hand\n").unwrap();
    std::fs::remove_file(dir.path().join("outputs.tf")).unwrap();
    advisor()
        .args(["generate", "--flavor", "ksqldb", "--out"])
        .arg(dir.path())
        .assert()
        .failure()
        .stderr(predicate::str::contains("main.tf"))
        .stderr(predicate::str::contains("--force"));
    assert_eq!(
        std::fs::read_to_string(&main).unwrap(),
        "# edited by hand\n"
    );
    assert!(
        !dir.path().join("outputs.tf").exists(),
        "nothing is written when refused"
    );
    generate(dir.path(), "ksqldb", &["--force"]);
    assert!(std::fs::read_to_string(&main)
        .unwrap()
        .contains("module \"service_ksqldb_server\""));
    assert!(dir.path().join("outputs.tf").exists());
}

#[test]
fn the_pages_terraform_mistakes_are_not_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = String::new();
    for flavor in FLAVORS {
        let out = dir.path().join(flavor);
        generate(&out, flavor, &["--config", STACK]);
        let files = files_under(&out);
        all.push_str(&files.values().cloned().collect::<String>());
        let main = &files["main.tf"];
        let outputs = &files["outputs.tf"];
        // Reachable at a real address: a Cloud Map name in the stack's namespace.
        assert!(
            outputs.contains("${module.discovery.namespace_name}"),
            "{flavor}"
        );
        assert!(
            main.contains("namespace     = \"${var.name}.internal\""),
            "{flavor}"
        );
        // Both roles exist and differ; logs follow the stack's region.
        assert!(main.contains("execution_role_arn     = module.iam.execution_role_arn"));
        assert!(main.contains("task_role_arn          = module.iam.task_role_arn"));
        assert!(main.contains("region                 = var.region"));
        assert!(
            main.contains("health_check = {"),
            "{flavor}: no health check"
        );
    }
    assert!(!all.contains("name_description"));
    assert!(!all.contains("\"eu-west-2\"\n") || all.contains("default     = \"eu-west-2\""));
    let modules = files_under(&dir.path().join("flink").join("modules"));
    let iam = &modules["iam/main.tf"];
    assert!(iam.contains("AmazonECSTaskExecutionRolePolicy"));
    let service = &modules["fargate-service/main.tf"];
    assert!(service.contains("\"awslogs-region\"        = var.region"));
    assert!(service.contains("rollback = true"));
    let bucket = &modules["checkpoint-bucket/main.tf"];
    for needle in [
        "status = \"Enabled\"",
        "sse_algorithm = \"aws:kms\"",
        "restrict_public_buckets = true",
        "noncurrent_version_expiration",
        "force_destroy = false",
    ] {
        assert!(bucket.contains(needle), "checkpoint bucket lacks {needle}");
    }

    let flink = std::fs::read_to_string(dir.path().join("flink/main.tf")).unwrap();
    // TaskManagers find the JobManager by its Cloud Map name in the stack's namespace.
    assert!(flink.contains("jobmanager.rpc.address: jobmanager.${local.namespace}"));
    assert!(flink.contains("service_names = [\"jobmanager\"]"));
    assert!(flink.contains("ENABLE_BUILT_IN_PLUGINS = \"flink-s3-fs-hadoop-2.3.0.jar\""));
    assert!(flink.contains("state.backend.type: rocksdb"));
    assert!(flink.contains("execution.checkpointing.interval: 5 min"));
    assert!(flink.contains("execution.checkpointing.mode: EXACTLY_ONCE"));
    assert!(
        flink.contains("execution.checkpointing.dir: s3://${local.checkpoint_bucket}/checkpoints")
    );
    // Every pinned Flink port is open between the stack's tasks, and only there.
    let pinned = Regex::new(
        r"(?m)^\s+(?:jobmanager\.rpc|blob\.server|taskmanager\.rpc|taskmanager\.data)\.port: (\d+)",
    )
    .unwrap();
    let within = flink
        .lines()
        .find(|l| l.contains("for_each = { \"flink-blob\""))
        .expect("within-stack rules");
    for captures in pinned.captures_iter(&flink) {
        assert!(
            within.contains(&format!("= {}", &captures[1])),
            "port {} not in {within}",
            &captures[1]
        );
    }
    assert!(flink.contains("for_each = { \"flink-rest\" = 8081 }"));

    let ksql = std::fs::read_to_string(dir.path().join("ksqldb/main.tf")).unwrap();
    assert!(ksql.contains("curl -fsS http://localhost:8088/healthcheck"));
    assert!(ksql.contains("KSQL_SASL_JAAS_CONFIG = \"${local.kafka_secret_arn}:jaas_config::\""));
    let arm = dir.path().join("arm");
    generate(&arm, "flink", &["--arch", "arm64"]);
    let arm_main = std::fs::read_to_string(arm.join("main.tf")).unwrap();
    assert!(arm_main.contains("cpu_architecture       = \"ARM64\""));
}

#[test]
fn format_json_prints_the_stackspec_and_cost_prices_the_same_one() {
    for flavor in FLAVORS {
        let spec = json(&[
            "generate", "--flavor", flavor, "--config", STACK, "--format", "json",
        ]);
        assert_eq!(spec["schema_version"], 1);
        let stack = &spec["stack"];
        assert_eq!(stack["flavor"], flavor);
        assert_eq!(stack["region"], "eu-west-2");
        let cost = json(&["cost", "--flavor", flavor, "--config", STACK]);
        let priced = &cost["estimates"][0]["stack"];
        assert_eq!(
            priced["services"], stack["services"],
            "{flavor}: cost and generate disagree"
        );
        assert_eq!(cost["estimates"][0]["region"], "eu-west-2");

        // The Terraform's module blocks carry the same sizes, counts, ports and env names.
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), flavor, &["--config", STACK]);
        let main = std::fs::read_to_string(dir.path().join("main.tf")).unwrap();
        let body: hcl::Body = hcl::parse(&main).unwrap();
        for service in stack["services"].as_array().unwrap() {
            let name = service["name"].as_str().unwrap();
            let module_name = format!("service_{}", name.replace('-', "_"));
            let block = body
                .blocks()
                .find(|b| b.identifier() == "module" && b.labels()[0].as_str() == module_name)
                .unwrap_or_else(|| panic!("{flavor}: no module {module_name}"));
            let attribute = |key: &str| {
                block
                    .body()
                    .attributes()
                    .find(|a| a.key() == key)
                    .unwrap_or_else(|| panic!("{module_name}.{key}"))
                    .expr()
                    .clone()
            };
            assert_eq!(
                attribute("cpu"),
                hcl::Expression::from(service["cpu_units"].as_u64().unwrap())
            );
            assert_eq!(
                attribute("memory"),
                hcl::Expression::from(service["memory_mib"].as_u64().unwrap())
            );
            assert_eq!(
                attribute("desired_count"),
                hcl::Expression::from(service["desired_count"].as_u64().unwrap())
            );
            let hcl::Expression::Object(environment) = attribute("environment") else {
                panic!("{module_name}.environment is not an object");
            };
            let keys: BTreeSet<String> = environment.keys().map(|k| k.to_string()).collect();
            let expected: BTreeSet<String> = service["environment"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            assert_eq!(keys, expected, "{flavor}/{name}: environment names differ");
            let hcl::Expression::Array(ports) = attribute("port_mappings") else {
                panic!("{module_name}.port_mappings is not a list");
            };
            assert_eq!(ports.len(), service["ports"].as_array().unwrap().len());
        }
    }
}

#[test]
fn stack_toml_errors_name_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let network = "[network]\nvpc_id = \"vpc-1\"\nvpc_cidr = \"10.0.0.0/16\"\nprivate_subnet_ids = [\"subnet-1\"]\n";
    let cases: Vec<(String, &str, &str)> = vec![
        (network.replace("10.0.0.0/16", "10.0.0/16"), "ksqldb", "stack.toml:3:12: network.vpc_cidr: \"10.0.0/16\" is not a CIDR block"),
        (network.replace("[\"subnet-1\"]", "[]"), "ksqldb", "stack.toml:4:22: network.private_subnet_ids: lists no subnet"),
        (network.replace("vpc-1", "sg-1"), "ksqldb", "stack.toml:2:10: network.vpc_id"),
        ("[services.taskmanager]\ncpu = 2048\nmemory = 2048\n".into(), "flink", "stack.toml:3:10: services.taskmanager.memory: memory 2048 MiB does not go with cpu 2048"),
        ("[services.jobmanager]\ncount = 2\n".into(), "flink", "stack.toml:2:9: services.jobmanager.count"),
        ("[services.worker]\ncpu = 1024\n".into(), "flink", "stack.toml:1:11: services.worker: no flavor has a service \"worker\""),
        ("region = \"ap-south-1\"\n".into(), "ksqldb", "stack.toml:1:10: region: region \"ap-south-1\" is not in the price catalog"),
        ("colour = \"blue\"\n".into(), "ksqldb", "stack.toml:1:1: unknown field `colour`"),
        ("name = \"Bad_Name\"\n".into(), "ksqldb", "stack.toml:1:8: name: \"Bad_Name\" is not a stack name"),
        ("log_retention_days = 10\n".into(), "ksqldb", "stack.toml:1:22: log_retention_days: 10 is not a CloudWatch Logs retention"),
        ("[kafka]\nbootstrap_servers = \"b:9096\"\nauth = \"sasl-scram\"\n".into(), "ksqldb", "stack.toml:3:8: kafka.secret_arn: auth = \"sasl-scram\" needs secret_arn"),
        ("[kafka]\nbootstrap_servers = \"b:9096\"\nauth = \"sasl-scram\"\nsecret_arn = \"my-secret\"\n".into(), "ksqldb", "stack.toml:4:14: kafka.secret_arn: \"my-secret\" is not an ARN"),
        ("[cluster]\nexisting = \"a\"\ncreate = \"b\"\n".into(), "ksqldb", "stack.toml:2:12: cluster: give either existing or create"),
        ("arch = \"arm64\"\n".into(), "engine", "the advisor-engine image is built for x86_64 only"),
        ("spot_share = 1.5\n".into(), "ksqldb", "stack.toml:1:14: spot_share: spot_share must be between 0 and 1"),
        ("[network\n".into(), "ksqldb", "stack.toml:1:"),
    ];
    for (text, flavor, message) in cases {
        let file = write(dir.path(), "stack.toml", &text);
        let out = dir.path().join("out");
        advisor()
            .args(["generate", "--flavor", flavor, "--config"])
            .arg(&file)
            .arg("--out")
            .arg(&out)
            .assert()
            .failure()
            .stderr(predicate::str::contains(message));
        assert!(!out.exists(), "nothing is written on a config error");
    }
    advisor()
        .args([
            "generate",
            "--flavor",
            "ksqldb",
            "--config",
            "/nonexistent/stack.toml",
            "--format",
            "json",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "cannot read stack config /nonexistent/stack.toml",
        ));
    advisor()
        .args(["generate", "--flavor", "ksqldb"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--out"));
}

#[test]
fn a_workload_sizes_the_stack_as_cost_does() {
    let dir = tempfile::tempdir().unwrap();
    let workloads = common::write(
        dir.path(),
        "workloads.toml",
        "[workload.busy]\nevents_per_sec = 50000\n\n[workload.quiet]\nevents_per_sec = 10\n",
    );
    let workloads = workloads.to_str().unwrap();
    for sizing in [
        vec!["--events-per-sec", "50000"],
        vec!["--workload", workloads, "--workload-name", "busy"],
    ] {
        let mut args = vec![
            "generate", "--flavor", "ksqldb", "--config", STACK, "--format", "json",
        ];
        args.extend(&sizing);
        let spec = json(&args);
        let mut cost_args = vec!["cost", "--flavor", "ksqldb", "--config", STACK];
        cost_args.extend(&sizing);
        let cost = json(&cost_args);
        let priced = &cost["estimates"][0]["stack"];
        assert_eq!(priced["services"], spec["stack"]["services"], "{sizing:?}");
        assert_eq!(priced["sizing"], spec["stack"]["sizing"], "{sizing:?}");
        let tasks = spec["stack"]["services"][0]["desired_count"]
            .as_u64()
            .unwrap();
        assert_eq!(
            tasks,
            (50_000.0_f64 / (9800.0 * 0.7)).ceil() as u64,
            "{sizing:?}"
        );
        assert_eq!(spec["stack"]["sizing"]["scaled_out"], true);
    }

    let out = dir.path().join("tf");
    advisor()
        .args([
            "generate",
            "--flavor",
            "ksqldb",
            "--config",
            STACK,
            "--events-per-sec",
            "50000",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "scaled out from 1 to 8 ksqldb-server tasks",
        ));
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        readme.contains("Sized for the workload: 50000 events/s"),
        "{readme}"
    );
    terraform_fmt_check(&out);

    // A stack is sized for one workload.
    advisor()
        .args([
            "generate",
            "--flavor",
            "ksqldb",
            "--format",
            "json",
            "--workload",
            workloads,
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("has 2 workloads (busy, quiet)"))
        .stderr(predicate::str::contains("--workload-name"));
}
