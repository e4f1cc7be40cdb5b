//! MATCH_RECOGNIZE beyond Flink: alternation and quantified groups, which Flink 2.3
//! refuses (so tests/flink_cases.rs has no reference for them), checked against a
//! plain-Python matcher that enumerates row assignments from the rules without an
//! automaton (tests/reference/pattern_matcher.py), over random rows in three partitions.
//! Each pattern runs with AFTER MATCH SKIP PAST LAST ROW and TO NEXT ROW, the groups also
//! with SKIP TO LAST, each over three sets of rows; conditions overlap so that greedy and
//! reluctant choices matter. Of two matches with the same first and last row (a row that
//! fits both branches of an alternation), the leftmost branch's is emitted, as the SQL
//! standard prefers.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use common::Lcg;

fn var(name: &str, min: u32, max: Option<u32>, greedy: bool) -> Value {
    json!({"var": name, "min": min, "max": max, "greedy": greedy})
}

fn one(name: &str) -> Value {
    var(name, 1, Some(1), false)
}

fn seq(items: Vec<Value>) -> Value {
    json!({ "seq": items })
}

fn alt(branches: Vec<Value>) -> Value {
    json!({ "alt": branches })
}

fn group(inner: Value, min: u32, max: Option<u32>, greedy: bool) -> Value {
    json!({"group": inner, "min": min, "max": max, "greedy": greedy})
}

/// The patterns, as SQL and as the reference's tree.
fn patterns() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "alt",
            "A (B | C) D",
            seq(vec![one("A"), alt(vec![one("B"), one("C")]), one("D")]),
        ),
        (
            "alt_first",
            "(A | B) C D",
            seq(vec![alt(vec![one("A"), one("B")]), one("C"), one("D")]),
        ),
        (
            "alt_sequence_branch",
            "A (B | C D) D2",
            seq(vec![
                one("A"),
                alt(vec![one("B"), seq(vec![one("C"), one("D")])]),
                one("D2"),
            ]),
        ),
        (
            "alt_greedy_branch",
            "A (B+ | C) D",
            seq(vec![
                one("A"),
                alt(vec![var("B", 1, None, true), one("C")]),
                one("D"),
            ]),
        ),
        (
            "alt_in_reluctant_group",
            "A (B | C)+? D",
            seq(vec![
                one("A"),
                group(alt(vec![one("B"), one("C")]), 1, None, false),
                one("D"),
            ]),
        ),
        (
            "group_greedy_plus",
            "A (B C)+ D",
            seq(vec![
                one("A"),
                group(seq(vec![one("B"), one("C")]), 1, None, true),
                one("D"),
            ]),
        ),
        (
            "group_reluctant_plus",
            "A (B C)+? D",
            seq(vec![
                one("A"),
                group(seq(vec![one("B"), one("C")]), 1, None, false),
                one("D"),
            ]),
        ),
        (
            "group_greedy_star",
            "A (B C)* D",
            seq(vec![
                one("A"),
                group(seq(vec![one("B"), one("C")]), 0, None, true),
                one("D"),
            ]),
        ),
        (
            "group_exactly_2",
            "A (B C){2} D",
            seq(vec![
                one("A"),
                group(seq(vec![one("B"), one("C")]), 2, Some(2), false),
                one("D"),
            ]),
        ),
        (
            "group_greedy_range",
            "A (B C){1,2} D",
            seq(vec![
                one("A"),
                group(seq(vec![one("B"), one("C")]), 1, Some(2), true),
                one("D"),
            ]),
        ),
        (
            "group_optional",
            "A (B C)? D",
            seq(vec![
                one("A"),
                group(seq(vec![one("B"), one("C")]), 0, Some(1), false),
                one("D"),
            ]),
        ),
    ]
}

/// Overlapping conditions: a row may fit several variables, so that which one takes it
/// depends on greed and on the branch.
fn conditions() -> Value {
    json!({
        "A": ["a"],
        "B": ["b", "c"],
        "C": ["c"],
        "D": ["d", "b"],
        "D2": ["d"],
    })
}

fn define_sql() -> &'static str {
    "A AS v = 'a', B AS v IN ('b', 'c'), C AS v = 'c', D AS v IN ('d', 'b'), D2 AS v = 'd'"
}

fn rows(seed: u64) -> Vec<Value> {
    let mut lcg = Lcg(seed);
    let letters = ["a", "a", "b", "b", "c", "c", "d", "e"];
    (0..90)
        .map(|i| {
            json!({
                "k": format!("p{}", lcg.next(3)),
                "id": i + 1,
                "v": letters[lcg.next(letters.len() as u64) as usize],
                "event_time": 1000 * (i + 1),
            })
        })
        .collect()
}

fn run_engine(dir: &Path, sql: &str) -> Vec<Value> {
    std::fs::write(dir.join("q.sql"), sql).expect("the SQL file");
    let output = Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir)
        .args(["run", "--sql", "q.sql", "--input", "input=file:rows.jsonl"])
        .args([
            "--output",
            "out=file:out.jsonl",
            "--dead-letter",
            "dlq.jsonl",
        ])
        .output()
        .expect("advisor-engine runs");
    assert!(
        output.status.success(),
        "the engine refused or failed:\n{sql}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(dir.join("out.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON output")["value"].clone())
        .collect()
}

fn run_reference(job: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/pattern_matcher.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs the reference");
    let text = job.to_string();
    let mut stdin = child.stdin.take().expect("the reference's stdin");
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let output = child.wait_with_output().expect("the reference ends");
    writer
        .join()
        .expect("the writer thread")
        .expect("the reference reads its input");
    assert!(
        output.status.success(),
        "the reference failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the reference's JSON")
}

const VARIABLES: [&str; 5] = ["A", "B", "C", "D", "D2"];

/// One match as (partition, first id, last id, rows per variable).
fn summary(k: &Value, first: &Value, last: &Value, counts: Vec<i64>) -> String {
    format!("{k} {first}..{last} {counts:?}")
}

#[test]
fn alternation_and_groups_match_the_plain_python_reference() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut scenarios = Vec::new();
    let mut runs = Vec::new();
    for (seed, (name, pattern_sql, pattern)) in patterns().into_iter().enumerate() {
        let skips: Vec<(&str, Value)> = if name.starts_with("group") {
            vec![
                ("PAST LAST ROW", json!("past_last")),
                ("TO NEXT ROW", json!("next")),
                ("TO LAST C", json!(["last", "C"])),
            ]
        } else {
            vec![
                ("PAST LAST ROW", json!("past_last")),
                ("TO NEXT ROW", json!("next")),
            ]
        };
        for ((skip_sql, skip), round) in skips
            .into_iter()
            .flat_map(|s| [0u64, 1, 2].map(move |round| (s.clone(), round)))
        {
            let rows = rows(seed as u64 * 3 + round + 7);
            let scenario = format!("{name} / SKIP {skip_sql} / rows {round}");
            let case_dir = dir.path().join(format!("{name}_{}", runs.len()));
            std::fs::create_dir_all(&case_dir).expect("a case folder");
            let lines: Vec<String> = rows.iter().map(Value::to_string).collect();
            std::fs::write(case_dir.join("rows.jsonl"), lines.join("\n") + "\n").expect("the rows");
            let counts: Vec<String> = VARIABLES
                .iter()
                .map(|v| format!("COUNT({v}.id) AS n_{v}"))
                .collect();
            let sql = format!(
                "CREATE STREAM input (k STRING, id INT, v STRING, event_time BIGINT) WITH (KAFKA_TOPIC='input', VALUE_FORMAT='JSON', TIMESTAMP='event_time');\n\
                 CREATE STREAM out AS SELECT * FROM input MATCH_RECOGNIZE (\n\
                   PARTITION BY k ORDER BY ROWTIME\n\
                   MEASURES FIRST(id) AS first_id, LAST(id) AS last_id, {}\n\
                   AFTER MATCH SKIP {skip_sql}\n\
                   PATTERN ({pattern_sql})\n\
                   DEFINE {});\n",
                counts.join(", "),
                define_sql()
            );
            // Variables the pattern does not use still get a (zero) count.
            let sql = VARIABLES
                .iter()
                .filter(|v| {
                    !pattern_sql
                        .split([' ', '(', ')', '|', '+', '*', '?'])
                        .any(|w| w == **v)
                })
                .fold(sql, |sql, v| {
                    sql.replace(&format!(", COUNT({v}.id) AS n_{v}"), "")
                });
            let used: Vec<&str> = VARIABLES
                .iter()
                .copied()
                .filter(|v| sql.contains(&format!("COUNT({v}.id)")))
                .collect();
            let engine: Vec<String> = run_engine(&case_dir, &sql)
                .iter()
                .map(|row| {
                    let counts = used
                        .iter()
                        .map(|v| row[format!("N_{v}")].as_i64().unwrap_or(-1))
                        .collect();
                    summary(&row["K"], &row["FIRST_ID"], &row["LAST_ID"], counts)
                })
                .collect();
            scenarios.push(json!({
                "name": scenario,
                "pattern": pattern,
                "conditions": conditions(),
                "skip": skip,
                "rows": rows,
            }));
            runs.push((scenario, used, engine));
        }
    }
    let reference = run_reference(&json!({ "scenarios": scenarios }));
    let mut failures = Vec::new();
    let mut matches = 0;
    for (scenario, used, engine) in runs {
        let expected: Vec<String> = reference[&scenario]
            .as_array()
            .expect("the reference's matches")
            .iter()
            .map(|m| {
                let path: Vec<&str> = m[3]
                    .as_array()
                    .map(|p| p.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let counts = used
                    .iter()
                    .map(|v| path.iter().filter(|p| *p == v).count() as i64)
                    .collect();
                summary(&m[0], &m[1], &m[2], counts)
            })
            .collect();
        // In order within a partition; partitions interleave by emission time, which both
        // give in row order here, but compare per partition to say only what the rule says.
        let per_partition = |rows: &[String]| {
            let mut by: std::collections::BTreeMap<String, Vec<String>> = Default::default();
            for row in rows {
                let key = row.split(' ').next().unwrap_or_default().to_string();
                by.entry(key).or_default().push(row.clone());
            }
            by
        };
        matches += expected.len();
        if per_partition(&engine) != per_partition(&expected) {
            failures.push(format!(
                "{scenario}:\n  engine    {engine:?}\n  reference {expected:?}"
            ));
        }
    }
    assert!(
        matches > 200,
        "the random rows give matches to compare ({matches})"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
