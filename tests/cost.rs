//! `advisor cost` through the real binary: the worked checks to the cent, the decision guide's
//! scenarios, every option, and broken catalogs.

mod common;

use common::{advisor, json, write};
use predicates::prelude::*;
use serde_json::Value;

const HOURS: f64 = 730.0;

fn cents(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn estimate(args: &[&str]) -> Value {
    let mut all = vec!["cost"];
    all.extend_from_slice(args);
    let document = json(&all);
    assert_eq!(document["schema_version"], 1);
    document["estimates"][0].clone()
}

/// Sum of an estimate's lines in one category.
fn category(estimate: &Value, name: &str) -> f64 {
    estimate["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["category"] == name)
        .map(|l| l["monthly"]["low_usd"].as_f64().unwrap())
        .sum()
}

fn low(value: &Value) -> f64 {
    value["low_usd"].as_f64().unwrap()
}

fn high(value: &Value) -> f64 {
    value["high_usd"].as_f64().unwrap()
}

#[test]
fn one_vcpu_two_gb_matches_the_worked_checks_to_the_cent() {
    let us = estimate(&["--flavor", "ksqldb", "--region", "us-east-1"]);
    assert_eq!(cents(category(&us, "compute")), 36.04);
    let eu = estimate(&["--flavor", "ksqldb", "--region", "eu-west-2"]);
    assert_eq!(cents(category(&eu, "compute")), 41.45);
}

#[test]
fn two_vcpu_four_gb_matches_the_worked_checks_to_the_cent() {
    for (region, per_task) in [("us-east-1", 72.08), ("eu-west-2", 82.90)] {
        let flink = estimate(&["--flavor", "flink", "--region", region]);
        let taskmanagers: f64 = flink["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["component"].as_str().unwrap().starts_with("taskmanager"))
            .map(|l| l["monthly"]["low_usd"].as_f64().unwrap())
            .sum();
        assert_eq!(cents(taskmanagers / 2.0), per_task, "{region}");
    }
}

#[test]
fn the_ksqldb_estimate_adds_up_from_list_prices() {
    let e = estimate(&["--flavor", "ksqldb"]);
    let compute = (0.04048 + 2.0 * 0.004445) * HOURS;
    let logs = 10.0 * 0.50 + 10.0 * 7.0 / 30.0 * 0.03;
    let kafka = 100.0 * 0.10;
    let infrastructure = compute + logs + kafka;
    assert_eq!(cents(low(&e["infrastructure"])), cents(infrastructure));
    assert_eq!(
        cents(low(&e["monthly_total"])),
        cents(infrastructure + 2.0 * 60.0)
    );
    assert_eq!(
        cents(high(&e["monthly_total"])),
        cents(infrastructure + 4.0 * 60.0)
    );
    assert_eq!(e["ops_hours_month"]["low"], 2.0);
    // Every line says whether it rests on an assumption and where its figures come from.
    for line in e["lines"].as_array().unwrap() {
        assert!(line["assumed"].is_boolean());
        assert!(!line["sources"].as_array().unwrap().is_empty());
    }
    let kafka_line = e["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["component"] == "Kafka storage for output topics")
        .unwrap();
    assert_eq!(kafka_line["assumed"], true);
}

#[test]
fn the_decision_guides_scenarios_are_priced_beside_its_figures() {
    let document = json(&["cost", "--guide-scenarios"]);
    let rows = document["scenarios"].as_array().unwrap();
    let row = |item: &str| {
        rows.iter()
            .find(|r| r["item"].as_str().unwrap().starts_with(item))
            .unwrap_or_else(|| panic!("no scenario {item}"))
    };
    let ksql = row("ksqlDB: ECS Fargate");
    assert_eq!(ksql["guide_figure"], "$30");
    assert_eq!(cents(low(&ksql["us_east_1"])), 36.04);
    assert_eq!(cents(low(&ksql["eu_west_2"])), 41.45);
    assert!(ksql["why"].as_str().unwrap().contains("Graviton"));
    let tms = row("Flink: TaskManagers");
    assert_eq!(tms["guide_figure"], "$120");
    assert_eq!(cents(low(&tms["us_east_1"])), 144.16);
    assert_eq!(cents(low(&tms["eu_west_2"])), 165.80);
    let jm = row("Flink: JobManager");
    assert_eq!(cents(low(&jm["us_east_1"])), 36.04);
    let dev = row("Flink: development");
    assert_eq!(dev["guide_figure"], "$2,400-4,800");
    assert_eq!(low(&dev["us_east_1"]), 2400.0);
    assert_eq!(high(&dev["us_east_1"]), 4800.0);
    let ksql_total = row("ksqlDB: monthly total");
    assert_eq!(ksql_total["guide_figure"], "$165-285");
    assert_eq!(
        cents(high(&ksql_total["us_east_1"]) - low(&ksql_total["us_east_1"])),
        120.0
    );
    let flink_total = row("Flink: monthly total");
    assert_eq!(flink_total["guide_figure"], "$405-645");
    assert_eq!(
        cents(high(&flink_total["us_east_1"]) - low(&flink_total["us_east_1"])),
        240.0
    );
    assert_eq!(low(&row("dbt hourly")["us_east_1"]), 50.0);
    assert_eq!(low(&row("dbt every 5 minutes")["eu_west_2"]), 100.0);
}

#[test]
fn compare_prices_every_approach_with_its_premium_over_dbt() {
    let document = json(&["cost", "--compare"]);
    let ids: Vec<&str> = document["estimates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["approach"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "dbt-hourly",
            "dbt-5min",
            "producer",
            "ksqldb",
            "engine",
            "flink"
        ]
    );
    assert_eq!(document["baseline"], "dbt-5min");
    let premiums = document["premiums"].as_array().unwrap();
    let ksqldb = premiums.iter().find(|p| p[0] == "ksqldb").unwrap();
    let ksqldb_total = &document["estimates"][3]["monthly_total"];
    assert_eq!(cents(low(&ksqldb[1])), cents(low(ksqldb_total) - 100.0));
    advisor()
        .args(["cost", "--compare"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Premium over dbt every 5 minutes"))
        .stdout(predicate::str::contains("Apache Flink"));
}

#[test]
fn every_option_changes_what_it_should() {
    let base = estimate(&["--flavor", "ksqldb"]);
    let compute = category(&base, "compute");

    let arm = estimate(&["--flavor", "ksqldb", "--arch", "arm64"]);
    assert_eq!(
        cents(category(&arm, "compute")),
        cents((0.03238 + 2.0 * 0.00356) * HOURS)
    );

    let spot = estimate(&["--flavor", "ksqldb", "--spot"]);
    assert_eq!(cents(category(&spot, "compute")), cents(compute * 0.3));
    assert_eq!(category(&spot, "logs"), category(&base, "logs"));

    let half = estimate(&["--flavor", "ksqldb", "--hours", "365"]);
    assert_eq!(cents(category(&half, "compute")), cents(compute / 2.0));

    let ops = estimate(&["--flavor", "ksqldb", "--ops-rate", "100"]);
    assert_eq!(low(&ops["ops"]), 200.0);
    assert_eq!(high(&ops["ops"]), 400.0);
    assert_eq!(ops["infrastructure"], base["infrastructure"]);

    let dev = estimate(&["--flavor", "flink", "--dev-rate", "100"]);
    assert_eq!(low(&dev["development_one_off"]), 4000.0);

    let region = estimate(&["--flavor", "ksqldb", "--region", "eu-central-1"]);
    assert_eq!(region["region"], "eu-central-1");
    assert!(category(&region, "compute") > compute);

    // Throughput beyond one task scales out, and says so.
    let busy = estimate(&[
        "--flavor",
        "ksqldb",
        "--events-per-sec",
        "100000",
        "--event-bytes",
        "200",
    ]);
    let needed: f64 = 100_000.0 / (9800.0 * 0.7);
    let tasks = needed.ceil();
    assert_eq!(busy["sizing"]["tasks"], tasks as u64);
    assert_eq!(busy["sizing"]["scaled_out"], true);
    assert_eq!(cents(category(&busy, "compute")), cents(compute * tasks));
    let kafka_gb = 100_000.0 * 1.0 * 200.0 * 7.0 * 86_400.0 * 3.0 / 1e9;
    assert_eq!(cents(category(&busy, "storage")), cents(kafka_gb * 0.10));
    advisor()
        .args(["cost", "--flavor", "ksqldb", "--events-per-sec", "100000"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "scaled out from 1 to 15 ksqldb-server tasks",
        ));
}

#[test]
fn a_usage_file_overrides_assumed_figures() {
    let dir = tempfile::tempdir().unwrap();
    let usage = write(
        dir.path(),
        "usage.toml",
        "log_gb_month = 50\nlogs_free_tier = true\noutput_topic_gb = 1000\nkafka_storage = \"generic\"\ncheckpoint_gb = 20\ncheckpoint_versions_kept = 5\n",
    );
    let e = estimate(&["--flavor", "flink", "--usage", usage.to_str().unwrap()]);
    let logs = (50.0 - 5.0) * 0.50 + 50.0 * 7.0 / 30.0 * 0.03;
    assert_eq!(cents(category(&e, "logs")), cents(logs));
    let checkpoints = 20.0 * 5.0 * 0.023 + HOURS * 60.0 / 5.0 * 10.0 / 1000.0 * 0.005;
    let kafka = 1000.0 * 0.10;
    assert_eq!(cents(category(&e, "storage")), cents(checkpoints + kafka));
    let usage_names: Vec<(&str, bool)> = e["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["assumed"].as_bool().unwrap()))
        .collect();
    assert!(usage_names.contains(&("log_gb_month", false)));
    assert!(usage_names.contains(&("checkpoint_gb", false)));

    let bad = write(dir.path(), "bad.toml", "log_gb_month = -3\n");
    advisor()
        .args(["cost", "--flavor", "flink", "--usage"])
        .arg(&bad)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "usage figure log_gb_month must be zero or more, got -3",
        ));
    let unknown = write(dir.path(), "unknown.toml", "log_gb = 3\n");
    advisor()
        .args(["cost", "--flavor", "flink", "--usage"])
        .arg(&unknown)
        .assert()
        .failure()
        .stderr(predicate::str::contains("line 1, column 1"))
        .stderr(predicate::str::contains("unknown field `log_gb`"));
}

fn catalog_text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/prices.toml")).unwrap()
}

#[test]
fn a_catalog_file_replaces_the_embedded_one_and_warns_when_old() {
    let dir = tempfile::tempdir().unwrap();
    let text = catalog_text()
        .replace("us-east-1 = 0.04048", "us-east-1 = 0.05")
        .replace("as_of = \"2026-11-25\"", "as_of = \"2020-01-01\"");
    let file = write(dir.path(), "prices.toml", &text);
    let path = file.to_str().unwrap();
    let document = json(&["cost", "--flavor", "ksqldb", "--prices", path]);
    assert_eq!(
        cents(category(&document["estimates"][0], "compute")),
        cents((0.05 + 2.0 * 0.004445) * HOURS)
    );
    assert_eq!(document["catalog"]["as_of"], "2020-01-01");
    let warning = document["warnings"][0].as_str().unwrap();
    assert!(warning.contains("dated 2020-01-01"), "{warning}");
    advisor()
        .args(["cost", "--flavor", "ksqldb", "--prices", path])
        .assert()
        .success()
        .stderr(predicate::str::contains("warning: the price catalog"));
    advisor()
        .args([
            "cost",
            "--flavor",
            "ksqldb",
            "--prices",
            path,
            "--max-catalog-age",
            "100000",
        ])
        .assert()
        .success()
        .stderr(predicate::str::is_empty());
}

#[test]
fn broken_catalogs_name_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let original = catalog_text();
    let without_gb_hour = {
        let start = original.find("key = \"fargate.x86.gb_hour\"").unwrap();
        let block_start = original[..start].rfind("[[price]]").unwrap();
        let block_end = start + original[start..].find("[[price]]").unwrap();
        format!("{}{}", &original[..block_start], &original[block_end..])
    };
    let cases = [
        (without_gb_hour, "missing price \"fargate.x86.gb_hour\""),
        (
            original.replace("eu-west-2 = 0.5985", "eu-west-2 = -0.5985"),
            "price \"logs.ingest_gb\" is negative or not a number in eu-west-2",
        ),
        (
            original.replace(
                "eu-central-1 = 0.00511 }",
                "eu-central-1 = 0.00511, mars-north-1 = 0.1 }",
            ),
            "price \"fargate.x86.gb_hour\" names unknown region \"mars-north-1\"",
        ),
        (
            original.replace(", eu-central-1 = 0.03725 }", " }"),
            "price \"fargate.arm64.vcpu_hour\" has no figure for region \"eu-central-1\"",
        ),
        (
            original.replace(
                "usd = 60.0\nassumed = true\nsource = \"the decision guide: ops",
                "usd = -60.0\nassumed = true\nsource = \"the decision guide: ops",
            ),
            "price \"people.ops_hour\" is negative",
        ),
        (original.replace("[catalog]", "[catalogue]"), "not valid"),
    ];
    for (text, message) in cases {
        let file = write(dir.path(), "prices.toml", &text);
        advisor()
            .args(["cost", "--flavor", "ksqldb", "--prices"])
            .arg(&file)
            .assert()
            .failure()
            .stderr(predicate::str::contains(message));
    }
}

#[test]
fn bad_options_are_clear_errors() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--flavor", "ksqldb", "--region", "ap-south-1"],
            "region \"ap-south-1\" is not in the price catalog",
        ),
        (
            &["--flavor", "ksqldb", "--hours", "800"],
            "--hours must be between 0 and 744, got 800",
        ),
        (
            &["--flavor", "ksqldb", "--ops-rate", "-1"],
            "--ops-rate must be zero or more, got -1",
        ),
        (
            &["--flavor", "reconsider"],
            "reconsider stream processing is not priced",
        ),
        (
            &["--flavor", "spark"],
            "invalid value 'spark' for '--flavor",
        ),
        (&[], "--flavor"),
        (&["--compare", "--flavor", "ksqldb"], "cannot be used with"),
    ];
    for (args, message) in cases {
        advisor()
            .arg("cost")
            .args(*args)
            .assert()
            .failure()
            .stderr(predicate::str::contains(*message));
    }
}

#[test]
fn recommend_shows_costs_and_warns_when_the_premium_exceeds_the_value() {
    let document = json(&[
        "recommend",
        "--no-input",
        "--latency",
        "5s",
        "--logic",
        "aggregate",
        "--business-value-usd",
        "50",
    ]);
    let rec = &document["recommendations"][0];
    let kinds: Vec<&str> = rec["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["premium-exceeds-value"]);
    assert!(low(&rec["premium_over_dbt"]) > 50.0);
    let rich = json(&[
        "recommend",
        "--no-input",
        "--latency",
        "5s",
        "--logic",
        "aggregate",
        "--business-value-usd",
        "5000",
    ]);
    assert!(rich["recommendations"][0]["warnings"]
        .as_array()
        .unwrap()
        .is_empty());
    advisor()
        .args([
            "recommend",
            "--no-input",
            "--latency",
            "5s",
            "--logic",
            "aggregate",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("Monthly cost"))
        .stdout(predicate::str::contains("Premium over dbt every 5 minutes"));
}

/// The engine runs at most one task per input partition (its one processing thread reads
/// whole partitions): past that count its tasks grow to one vCPU, and a rate the partitions
/// cannot carry is said plainly rather than priced as if it could.
#[test]
fn the_input_partitions_cap_the_engine_tasks() {
    // 150,000 events/s per vCPU at 70% utilization: 1,000,000 events/s needs 9.5 vCPU.
    let one_task = estimate(&["--flavor", "engine"]);
    let base = category(&one_task, "compute");
    let free = estimate(&["--flavor", "engine", "--events-per-sec", "1000000"]);
    assert_eq!(free["sizing"]["tasks"], 20, "20 tasks of 0.5 vCPU");
    assert_eq!(free["sizing"]["capped_by_partitions"], false);

    let twelve = estimate(&[
        "--flavor",
        "engine",
        "--events-per-sec",
        "1000000",
        "--partitions",
        "12",
    ]);
    assert_eq!(
        twelve["sizing"]["tasks"], 10,
        "10 tasks of 1 vCPU fit 12 partitions"
    );
    assert_eq!(twelve["sizing"]["capped_by_partitions"], false);
    // A task of 1 vCPU and 2 GB costs twice the default 0.5 vCPU and 1 GB.
    assert_eq!(cents(category(&twelve, "compute")), cents(base * 20.0));

    let four = estimate(&[
        "--flavor",
        "engine",
        "--events-per-sec",
        "1000000",
        "--partitions",
        "4",
    ]);
    assert_eq!(four["sizing"]["tasks"], 4);
    assert_eq!(four["sizing"]["capped_by_partitions"], true);
    assert_eq!(cents(category(&four, "compute")), cents(base * 8.0));
    let note = four["sizing"]["note"].as_str().unwrap();
    assert!(
        note.contains("4 partitions allow at most 4 engine tasks, which carry about 420000 events/s: add partitions to carry 1000000"),
        "{note}"
    );

    // Other engines are not held to the partitions here.
    let ksqldb = estimate(&[
        "--flavor",
        "ksqldb",
        "--events-per-sec",
        "100000",
        "--partitions",
        "4",
    ]);
    assert_eq!(ksqldb["sizing"]["tasks"], 15);

    advisor()
        .args(["cost", "--flavor", "engine", "--partitions", "0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--partitions"));
}

/// data/capacity.toml's figure for one engine and query kind (`None`: for any kind).
fn capacity_figure(approach: &str, query: Option<&str>) -> f64 {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/capacity.toml"))
        .unwrap();
    let table: toml::Table = text.parse().unwrap();
    table["capacity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["approach"].as_str() == Some(approach)
                && e.get("query").and_then(|q| q.as_str()) == query
        })
        .unwrap_or_else(|| panic!("no capacity for {approach} {query:?}"))
        ["events_per_sec_per_vcpu"]
        .as_float()
        .unwrap()
}

/// Sizing reads data/capacity.toml: the figure measured or published for the workload's kind
/// of query, else the engine's figure for any kind, with its source beside the task count.
#[test]
fn sizing_reads_the_capacity_of_the_workloads_query_kind() {
    let tasks = |rate: f64, per_vcpu: f64, vcpu: f64| (rate / (per_vcpu * 0.7) / vcpu).ceil();
    let sized = |flavor: &str, logic: Option<&str>| {
        let mut args = vec!["--flavor", flavor, "--events-per-sec", "100000"];
        if let Some(logic) = logic {
            args.extend(["--logic", logic]);
        }
        estimate(&args)["sizing"].clone()
    };
    // ksqlDB's capacity planning guide: about 39,000 messages/s per core for a
    // project/filter query, 19,500 for a join, 9,800 for an aggregation.
    for (logic, per_vcpu, from) in [
        (Some("filter"), 39_000.0, "sizing scenario 1"),
        (Some("join"), 19_500.0, "sizing scenario 3"),
        (Some("aggregate"), 9_800.0, "sizing scenario 3"),
        (None, 9_800.0, "sizing scenario 3"),
    ] {
        let sizing = sized("ksqldb", logic);
        assert_eq!(sizing["events_per_sec_per_vcpu"], per_vcpu, "{logic:?}");
        assert_eq!(
            sizing["tasks"],
            tasks(100_000.0, per_vcpu, 1.0) as u64,
            "{logic:?}"
        );
        let source = sizing["capacity_source"].as_str().unwrap();
        assert!(
            source.contains("ksqlDB's capacity planning guide"),
            "{source}"
        );
        assert!(source.contains(from), "{logic:?}: {source}");
    }
    // A kind with no figure of its own (ML) is sized with the engine's figure for any kind.
    assert_eq!(
        sized("ksqldb", Some("ml"))["events_per_sec_per_vcpu"],
        9_800.0
    );
    // The engine's and Flink's window and pattern figures are this project's benchmark
    // harness's.
    for (flavor, logic) in [
        ("engine", "window"),
        ("engine", "pattern"),
        ("flink", "session"),
    ] {
        let sizing = sized(flavor, Some(logic));
        let per_vcpu = capacity_figure(flavor, Some(logic));
        assert_eq!(
            sizing["events_per_sec_per_vcpu"], per_vcpu,
            "{flavor} {logic}"
        );
        let source = sizing["capacity_source"].as_str().unwrap();
        assert!(
            source.contains("this project's benchmark harness"),
            "{source}"
        );
    }
    assert_eq!(
        sized("engine", None)["events_per_sec_per_vcpu"],
        capacity_figure("engine", None)
    );
    // The engine's default task is 0.5 vCPU.
    let window = sized("engine", Some("window"));
    let per_vcpu = capacity_figure("engine", Some("window"));
    assert_eq!(
        window["tasks"],
        tasks(100_000.0, per_vcpu, 0.5).max(1.0) as u64
    );
}

/// A catalog passed with --prices may list its own capacity figures (the older catalogs'
/// [[capacity]] entries with `read_on`), which replace data/capacity.toml's; a table that
/// leaves an engine without a figure for any query kind is refused.
#[test]
fn a_catalog_may_bring_its_own_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let own = format!(
        "{}\n[[capacity]]\napproach = \"ksqldb\"\nevents_per_sec_per_vcpu = 1000.0\nsource = \"ours\"\nread_on = \"2026-12-01\"\n",
        catalog_text()
    );
    let file = write(dir.path(), "prices.toml", &own);
    let path = file.to_str().unwrap();
    let document = json(&[
        "cost",
        "--flavor",
        "ksqldb",
        "--prices",
        path,
        "--events-per-sec",
        "7000",
        "--logic",
        "filter",
    ]);
    let sizing = &document["estimates"][0]["sizing"];
    assert_eq!(sizing["events_per_sec_per_vcpu"], 1000.0);
    assert_eq!(sizing["tasks"], 10);
    assert_eq!(sizing["capacity_source"], "ours");
    // Flink has no figure in this catalog.
    advisor()
        .args([
            "cost",
            "--flavor",
            "flink",
            "--prices",
            path,
            "--events-per-sec",
            "7000",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no throughput capacity for flink"));

    let window_only = own.replace(
        "approach = \"ksqldb\"\nevents_per_sec_per_vcpu = 1000.0",
        "approach = \"ksqldb\"\nquery = \"window\"\nevents_per_sec_per_vcpu = 1000.0",
    );
    let file = write(dir.path(), "window-only.toml", &window_only);
    advisor()
        .args(["cost", "--flavor", "ksqldb", "--prices"])
        .arg(&file)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "capacity for ksqldb: no figure for any query kind",
        ));
}
