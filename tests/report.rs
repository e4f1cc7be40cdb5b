//! `advisor report` through the real binary, and its HTML in a real headless browser.

mod common;

use std::path::Path;
use std::process::Command;

use common::{advisor, write};
use predicates::prelude::*;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/workloads.toml");

fn report(out: &Path, extra: &[&str]) {
    advisor()
        .args(["report", "--workload", EXAMPLES, "--out"])
        .arg(out)
        .args(extra)
        .assert()
        .success()
        .stdout(predicate::str::contains("report.html"));
}

#[test]
fn writes_markdown_and_self_contained_html() {
    let dir = tempfile::tempdir().unwrap();
    report(dir.path(), &[]);
    let markdown = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for text in [&markdown, &html] {
        for needle in [
            "order-totals",
            "fraud-detection",
            "Path through the decision tree",
            "Monthly cost of every approach",
            "Cost as the event rate grows",
            "The decision guide's cost figures beside today's list prices",
            "Assumptions",
            "Premium over dbt every 5 minutes",
            "100x",
        ] {
            assert!(text.contains(needle), "missing {needle:?}");
        }
    }
    // Assumed figures are starred in tables and listed with their sources.
    assert!(markdown.contains("Kafka storage for output topics *"));
    assert!(markdown.contains("- * log_gb_month = 10 GB/month"));
    // Five workloads, each with three charts, all inline; nothing loads from elsewhere.
    assert_eq!(html.matches("<svg ").count(), 15);
    for forbidden in ["<script", "src=", "href=", "@import", "url("] {
        assert!(
            !html.contains(forbidden),
            "HTML must be self-contained: {forbidden}"
        );
    }
    // Text from the workload file is escaped, not injected.
    assert!(!html.contains("<b>"));
}

/// data/capacity.toml's entry for one engine and query kind (`None`: for any kind).
fn capacity_entry(approach: &str, query: Option<&str>) -> toml::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/capacity.toml"))
        .expect("data/capacity.toml");
    let table: toml::Value = toml::from_str(&text).expect("valid TOML");
    table["capacity"]
        .as_array()
        .expect("[[capacity]] entries")
        .iter()
        .find(|e| {
            e["approach"].as_str() == Some(approach)
                && e.get("query").and_then(|q| q.as_str()) == query
        })
        .cloned()
        .unwrap_or_else(|| panic!("no capacity for {approach} {query:?}"))
}

/// Under the chart of monthly cost against event rate, each engine's capacity for the
/// workload's kind of query, with its source and date, as sizing used it.
#[test]
fn the_growth_chart_names_each_engines_capacity_and_its_source() {
    let dir = tempfile::tempdir().unwrap();
    report(dir.path(), &["--name", "fraud-detection"]);
    let markdown = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    let chart = html
        .find("Monthly cost as the event rate grows")
        .expect("the growth chart");
    let listed = html
        .find("Each engine is sized with")
        .expect("the capacity list");
    assert!(listed > chart, "the capacity comes under the chart");
    // The fraud workload is a pattern query: ksqlDB has no figure of that kind and is sized
    // with its figure for any query; Flink and the engine with their pattern figures.
    for (title, approach, query, kind) in [
        ("ksqlDB", "ksqldb", None, "any query"),
        ("Apache Flink", "flink", Some("pattern"), "pattern queries"),
        (
            "advisor engine",
            "engine",
            Some("pattern"),
            "pattern queries",
        ),
    ] {
        let entry = capacity_entry(approach, query);
        let per_vcpu = entry["events_per_sec_per_vcpu"]
            .as_float()
            .expect("a figure");
        let line = markdown
            .lines()
            .find(|l| l.starts_with(&format!("- {title}: ")) && l.contains("events/s per vCPU"))
            .unwrap_or_else(|| panic!("no capacity line for {title} in\n{markdown}"));
        let figure: String = line[title.len() + 4..]
            .split(' ')
            .next()
            .unwrap()
            .replace(',', "");
        assert_eq!(figure.parse::<f64>().unwrap(), per_vcpu.round(), "{line}");
        assert!(line.contains(&format!("({kind})")), "{line}");
        assert!(line.contains(entry["source"].as_str().unwrap()), "{line}");
        assert!(line.contains(entry["date"].as_str().unwrap()), "{line}");
        assert!(
            html.contains(&format!("<li>{title}: ")),
            "{title} missing from the HTML"
        );
    }
}

#[test]
fn refuses_to_overwrite_without_force_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let html = write(dir.path(), "report.html", "keep me");
    advisor()
        .args(["report", "--workload", EXAMPLES, "--out"])
        .arg(dir.path())
        .assert()
        .failure()
        .stderr(predicate::str::contains("already exists; pass --force"));
    assert_eq!(std::fs::read_to_string(&html).unwrap(), "keep me");
    assert!(!dir.path().join("report.md").exists());
    report(dir.path(), &["--force"]);
    assert_ne!(std::fs::read_to_string(&html).unwrap(), "keep me");
}

#[test]
fn options_reach_the_report() {
    let dir = tempfile::tempdir().unwrap();
    report(
        dir.path(),
        &[
            "--name",
            "order-totals",
            "--region",
            "eu-west-2",
            "--arch",
            "arm64",
        ],
    );
    let markdown = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(markdown.contains("Prices for eu-west-2"));
    assert!(markdown.contains("arm64"));
    assert!(!markdown.contains("fraud-detection"));
}

#[test]
fn bad_workloads_fail_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "w.toml", "[workload.x]\nlatency = \"5s\"\n");
    let out = dir.path().join("out");
    advisor()
        .args(["report", "--workload"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "--stateless, --stateful or --logic",
        ));
    assert!(!out.join("report.html").exists());
}

/// The HTML opens in Chromium (from Debian's packages; scripts/test installs it), its
/// charts are in the rendered DOM, and a screenshot of it is drawn.
#[test]
fn the_html_renders_in_headless_chromium() {
    let browser = ["chromium-headless-shell", "chromium"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())
        .expect("Chromium is missing: scripts/test installs chromium-headless-shell");
    let dir = tempfile::tempdir().unwrap();
    report(dir.path(), &["--name", "fraud-detection"]);
    let url = format!("file://{}", dir.path().join("report.html").display());
    let flags = ["--no-sandbox", "--disable-gpu", "--hide-scrollbars"];
    let dom = Command::new(browser)
        .args(flags)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(
        dom.matches("<svg").count(),
        3,
        "charts missing from the DOM"
    );
    assert!(dom.contains("fraud-detection"));
    assert!(dom.contains("Apache Flink"));

    let shot = dir.path().join("report.png");
    let status = Command::new(browser)
        .args(flags)
        .arg("--window-size=1200,2400")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(&png[1..4], b"PNG");
    // A blank page compresses to a few KB; tables and charts make it far larger.
    assert!(png.len() > 50_000, "screenshot is only {} bytes", png.len());
    if let Ok(keep) = std::env::var("ADVISOR_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).expect("copy screenshot");
    }
}
