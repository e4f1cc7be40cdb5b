//! `advisor recommend` through the real binary: every leaf of the tree, every row of the
//! page's latency table, the JSON schema, files, prompts and bad input.

mod common;

use common::{advisor, json, write};
use predicates::prelude::*;
use serde_json::Value;

fn recommend(args: &[&str]) -> Value {
    let mut all = vec!["recommend", "--no-input"];
    all.extend_from_slice(args);
    let document = json(&all);
    assert_eq!(document["schema_version"], 1);
    let recommendations = document["recommendations"].as_array().expect("array");
    assert_eq!(recommendations.len(), 1);
    recommendations[0].clone()
}

fn approach(args: &[&str]) -> String {
    recommend(args)["approach"]
        .as_str()
        .expect("approach")
        .to_string()
}

#[test]
fn every_leaf_of_the_tree_is_reached() {
    let cases: &[(&[&str], &str)] = &[
        (&["--latency", "3h"], "dbt-hourly"),
        (&["--latency", "15m"], "dbt-5min"),
        (&["--latency", "45s"], "dbt-5min"),
        (&["--latency", "2s", "--logic", "filter"], "producer"),
        (&["--latency", "2s", "--stateless"], "producer"),
        (&["--latency", "5s", "--logic", "aggregate"], "ksqldb"),
        (
            &["--latency", "5s", "--stateful", "--sql-based", "yes"],
            "ksqldb",
        ),
        (&["--latency", "500ms", "--logic", "join"], "engine"),
        (&["--latency", "2s", "--logic", "ml"], "flink"),
        (
            &[
                "--latency",
                "2s",
                "--stateful",
                "--sql-based",
                "no",
                "--complex",
                "yes",
            ],
            "flink",
        ),
        (&["--latency", "50ms"], "custom-in-process"),
        (
            &[
                "--latency",
                "2s",
                "--stateful",
                "--sql-based",
                "no",
                "--complex",
                "no",
            ],
            "reconsider",
        ),
    ];
    for (args, expected) in cases {
        assert_eq!(approach(args), *expected, "for {args:?}");
    }
}

#[test]
fn each_row_of_the_pages_latency_table_is_reproduced() {
    // (budget, logic, use case, the page's recommended approach, our approach)
    let rows = [
        (
            "6h",
            "aggregate",
            "Daily dashboards",
            "dbt batch (scheduled)",
            "dbt-hourly",
        ),
        (
            "10m",
            "aggregate",
            "Hourly reports",
            "dbt micro-batching (every 5 min)",
            "dbt-5min",
        ),
        (
            "45s",
            "aggregate",
            "Real-time dashboards",
            "dbt + Snowflake auto-refresh",
            "dbt-5min",
        ),
        (
            "5s",
            "aggregate",
            "Operational alerts",
            "ksqlDB or Flink",
            "ksqldb",
        ),
        (
            "500ms",
            "pattern",
            "Fraud detection",
            "Flink + in-memory state",
            "flink",
        ),
        (
            "20ms",
            "pattern",
            "High-frequency trading",
            "Custom in-process (not Kafka)",
            "custom-in-process",
        ),
    ];
    for (latency, logic, use_case, page_answer, ours) in rows {
        let rec = recommend(&["--latency", latency, "--logic", logic]);
        assert_eq!(rec["latency_row"]["use_case"], use_case, "{latency}");
        assert_eq!(rec["latency_row"]["recommended_approach"], page_answer);
        assert_eq!(rec["approach"], ours, "{latency}");
    }
    // The page's "ksqlDB or Flink" row: Flink is listed as also fitting.
    let alerts = recommend(&["--latency", "5s", "--logic", "aggregate"]);
    let flink = candidate(&alerts, "flink");
    assert_eq!(flink["verdict"], "also-fits");
}

fn candidate<'a>(rec: &'a Value, approach: &str) -> &'a Value {
    rec["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .find(|c| c["approach"] == approach)
        .unwrap_or_else(|| panic!("no candidate {approach} in {rec}"))
}

#[test]
fn the_path_explains_each_question_with_its_answer_and_origin() {
    let rec = recommend(&["--latency", "5s", "--logic", "window"]);
    let path = rec["path"].as_array().expect("path");
    let questions: Vec<&str> = path
        .iter()
        .map(|s| s["question_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        questions,
        [
            "below-kafka",
            "within-seconds",
            "wait-for-dbt",
            "stateless",
            "sql-based"
        ]
    );
    assert_eq!(
        path[1]["question"],
        "Do you need results within seconds (not minutes)?"
    );
    assert_eq!(path[1]["answer"], "yes");
    assert_eq!(path[1]["origin"], "latency");
    assert_eq!(path[3]["origin"], "logic");
    assert_eq!(path[4]["leads_to"], "ksqlDB");
    assert!(path[3]["reason"]
        .as_str()
        .unwrap()
        .contains("--logic window"));
}

#[test]
fn sql_logic_lists_ksqldb_and_the_engine_and_cep_lists_flink_and_the_engine() {
    let sql = recommend(&["--latency", "5s", "--logic", "aggregate"]);
    assert_eq!(candidate(&sql, "ksqldb")["verdict"], "recommended");
    assert_eq!(candidate(&sql, "engine")["verdict"], "also-fits");
    let cep = recommend(&["--latency", "800ms", "--logic", "pattern"]);
    assert_eq!(candidate(&cep, "flink")["verdict"], "recommended");
    assert_eq!(candidate(&cep, "engine")["verdict"], "also-fits");
    assert_eq!(candidate(&cep, "ksqldb")["verdict"], "does-not-fit");
    let ml = recommend(&["--latency", "800ms", "--logic", "ml"]);
    assert_eq!(candidate(&ml, "engine")["verdict"], "does-not-fit");
    // The recommendation comes first, priced; custom in-process has no price.
    assert_eq!(sql["candidates"][0]["approach"], "ksqldb");
    assert!(
        sql["candidates"][0]["monthly_cost"]["low_usd"]
            .as_f64()
            .unwrap()
            > 100.0
    );
    assert!(candidate(&sql, "custom-in-process")["monthly_cost"].is_null());
}

#[test]
fn bad_reasons_are_warned_about() {
    let no_value = recommend(&["--latency", "5s", "--logic", "aggregate"]);
    let kinds: Vec<&str> = no_value["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["no-business-value"]);
    let valued = recommend(&[
        "--latency",
        "5s",
        "--logic",
        "aggregate",
        "--business-value-usd",
        "900",
    ]);
    assert!(valued["warnings"].as_array().unwrap().is_empty());
    let slow_dbt = recommend(&["--latency", "3m"]);
    assert_eq!(slow_dbt["warnings"][0]["kind"], "dbt-slower-than-budget");
}

#[test]
fn table_and_markdown_outputs_show_the_path_and_the_approaches() {
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
        .stdout(predicate::str::contains("Recommendation: ksqlDB"))
        .stdout(predicate::str::contains(
            "Is the logic SQL-based (aggregations, joins, windowing)?",
        ))
        .stdout(predicate::str::contains("Operational alerts"))
        .stdout(predicate::str::contains("We want real-time"));
    advisor()
        .args([
            "recommend",
            "--no-input",
            "--latency",
            "5s",
            "--logic",
            "aggregate",
            "-o",
            "markdown",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("## Recommendation: ksqlDB"))
        .stdout(predicate::str::contains(
            "| # | Question | Answer | Why | Leads to |",
        ));
}

#[test]
fn workload_files_hold_several_named_workloads_and_flags_override_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "w.toml",
        "[workload.orders]\nlatency = \"5s\"\nlogic = \"aggregate\"\n\n\
         [workload.fraud]\nlatency = \"500ms\"\nlogic = \"pattern\"\nbusiness_value_usd = 4000\n",
    );
    let path = file.to_str().unwrap();
    let all = json(&["recommend", "--no-input", "--workload", path]);
    let names: Vec<(&str, &str)> = all["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["workload"].as_str().unwrap(),
                r["approach"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(names, [("fraud", "flink"), ("orders", "ksqldb")]);

    let one = json(&[
        "recommend",
        "--no-input",
        "--workload",
        path,
        "--name",
        "orders",
        "--latency",
        "1h",
    ]);
    assert_eq!(one["recommendations"].as_array().unwrap().len(), 1);
    assert_eq!(one["recommendations"][0]["approach"], "dbt-hourly");
    assert_eq!(one["recommendations"][0]["inputs"]["latency"], "1h");
    assert_eq!(one["recommendations"][0]["inputs"]["logic"], "aggregate");

    advisor()
        .args([
            "recommend",
            "--no-input",
            "--workload",
            path,
            "--name",
            "nope",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no workload named \"nope\""))
        .stderr(predicate::str::contains("fraud, orders"));
}

#[test]
fn a_single_top_level_workload_file_works() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "w.toml",
        "latency = \"2s\"\nlogic = \"enrich\"\n",
    );
    let rec = recommend(&["--workload", file.to_str().unwrap()]);
    assert_eq!(rec["approach"], "producer");
    assert!(rec["workload"].is_null());
}

#[test]
fn missing_answers_without_a_terminal_name_the_flag() {
    advisor()
        .args(["recommend", "--latency", "5s"])
        .write_stdin("")
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "--stateless, --stateful or --logic",
        ));
    advisor()
        .args(["recommend", "--no-input"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--latency"))
        .stderr(predicate::str::contains(
            "Do you need results within seconds",
        ));
}

#[test]
fn bad_input_is_a_clear_error() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--latency", "2s", "--logic", "magic"],
            "invalid value 'magic' for '--logic",
        ),
        (
            &["--latency", "2s", "--events-per-sec", "-5"],
            "--events-per-sec must be a number of zero or more, got -5",
        ),
        (
            &["--latency", "2s", "--state-gb", "-1"],
            "--state-gb must be a number of zero or more",
        ),
        (&["--latency", "-2s"], "latency must be positive"),
        (&["--latency", "soon"], "is not a latency"),
        (
            &["--latency", "2s", "--stateless", "--stateful"],
            "cannot be used with",
        ),
        (
            &["--latency", "2s", "--stateless", "--logic", "aggregate"],
            "contradictory answers: --stateless but --logic aggregate is stateful",
        ),
        (
            &["--latency", "2s", "--sql-based", "no", "--logic", "join"],
            "contradictory answers: --sql-based no but --logic join means yes",
        ),
        (
            &["--latency", "2s", "--complex", "yes", "--logic", "window"],
            "contradictory answers: --complex yes",
        ),
        (
            &["--latency", "2s", "--workload", "/nonexistent/w.toml"],
            "cannot read workload file /nonexistent/w.toml",
        ),
    ];
    for (args, message) in cases {
        advisor()
            .arg("recommend")
            .arg("--no-input")
            .args(*args)
            .assert()
            .failure()
            .stderr(predicate::str::contains(*message));
    }
}

#[test]
fn malformed_toml_names_the_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("latency = \"2s\"\nlogic = aggregate\n", "line 2, column 9"),
        (
            "[workload.a]\nlatency = \"2s\"\nspeed = 3\n",
            "line 3, column 1",
        ),
        ("latency = \"2s\"\nlogic = \"magic\"\n", "line 2, column 9"),
        ("latency = 5\n", "line 1, column 11"),
        (
            "events_per_sec = -4\nlatency = \"2s\"\n",
            "must be a number of zero or more",
        ),
        ("", "defines no workload"),
    ];
    for (text, message) in cases {
        let file = write(dir.path(), "bad.toml", text);
        advisor()
            .args(["recommend", "--no-input", "--workload"])
            .arg(&file)
            .assert()
            .failure()
            .stderr(predicate::str::contains(message))
            .stderr(
                predicate::str::contains("bad.toml")
                    .or(predicate::str::contains("--events-per-sec")),
            );
    }
}

/// In a terminal, missing answers are asked one at a time in the tree's words. `script`
/// (util-linux) gives the binary a real pseudo-terminal.
#[test]
fn a_terminal_is_asked_the_trees_questions() {
    let binary = env!("CARGO_BIN_EXE_advisor");
    let command = format!("{binary} recommend --output json");
    let output = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            // One answer a line: latency, then stateless? then SQL-based? then complex?
            stdin.write_all(b"2s\nmaybe\nno\nno\nyes\n")?;
            drop(stdin);
            child.wait_with_output()
        })
        .expect("script runs");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{shown}");
    for question in [
        "Do you need results within seconds (not minutes)?",
        "Is the logic stateless (per-event filtering/enrichment)?",
        "please answer yes or no",
        "Is the logic SQL-based (aggregations, joins, windowing)?",
        "Is the logic complex (CEP, ML, custom state management)?",
    ] {
        assert!(shown.contains(question), "missing {question:?} in {shown}");
    }
    assert!(shown.contains("\"approach\": \"flink\""), "{shown}");
    assert!(shown.contains("\"origin\": \"prompt\""), "{shown}");
}

#[test]
fn help_lists_the_flags_and_examples() {
    advisor()
        .args(["recommend", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--latency <DURATION>"))
        .stdout(predicate::str::contains("--business-value-usd <USD>"))
        .stdout(predicate::str::contains("Examples:"));
}
