//! User-facing text names its sources: the decision tree, the latency table, the "bad
//! reasons" and the cost tables come from the decision guide advisor is built on, so
//! recommend, cost and report say "the decision guide", never "the page", in every format.

mod common;

use common::advisor;

const WORKLOADS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/workloads.toml");

fn stdout(args: &[&str]) -> String {
    let output = advisor().args(args).output().expect("advisor runs");
    assert!(
        output.status.success(),
        "advisor {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn assert_never_says_the_page(what: &str, text: &str) {
    let lower = text.to_lowercase();
    for phrase in ["the page", "page's", "source page"] {
        assert!(
            !lower.contains(phrase),
            "{what} says {phrase:?}:\n{}",
            text.lines()
                .filter(|l| l.to_lowercase().contains(phrase))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn assert_names_the_guide(what: &str, text: &str) {
    assert_never_says_the_page(what, text);
    assert!(
        text.to_lowercase().contains("decision guide"),
        "{what} names no source:\n{text}"
    );
}

#[test]
fn recommend_cost_and_report_name_the_decision_guide() {
    for format in ["table", "markdown", "json"] {
        let recommend = stdout(&[
            "recommend",
            "--no-input",
            "--workload",
            WORKLOADS,
            "--output",
            format,
        ]);
        assert_names_the_guide(&format!("recommend -o {format}"), &recommend);
        // The "bad reasons" warning: a real-time budget with no business value.
        let bad_reason = stdout(&[
            "recommend",
            "--no-input",
            "--latency",
            "5s",
            "--logic",
            "aggregate",
            "--output",
            format,
        ]);
        assert_names_the_guide(&format!("recommend (bad reason) -o {format}"), &bad_reason);
        let compare = stdout(&["cost", "--compare", "--output", format]);
        // The table and Markdown comparisons carry no sources; the JSON's lines do.
        if format == "json" {
            assert_names_the_guide("cost --compare -o json", &compare);
        } else {
            assert_never_says_the_page(&format!("cost --compare -o {format}"), &compare);
        }
        let scenarios = stdout(&["cost", "--guide-scenarios", "--output", format]);
        assert_names_the_guide(&format!("cost --guide-scenarios -o {format}"), &scenarios);
    }
    // The old flag still works.
    stdout(&["cost", "--page-scenarios"]);

    let dir = tempfile::tempdir().unwrap();
    stdout(&[
        "report",
        "--workload",
        WORKLOADS,
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    for file in ["report.md", "report.html"] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert_names_the_guide(file, &text);
    }
}
