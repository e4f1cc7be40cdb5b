//! Column types beyond the first five through `advisor-engine run` over files, in the JSON
//! format as ksqlDB writes it: DECIMAL as a number with every digit of its scale, DATE as
//! days, TIME and TIMESTAMP as milliseconds, BYTES as base64, MAP and STRUCT as objects;
//! `[]` and `->` with ksqlDB's rules; values that do not fit their column dead-lettered
//! with the reason.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs `sql` over `input` (one JSON value a line) and gives the output lines' `value`
/// parts as written, and the dead letters.
fn run(sql: &str, input: &[&str], output: &str, summary: &str) -> (Vec<String>, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.sql"), sql).unwrap();
    std::fs::write(dir.path().join("in.jsonl"), input.join("\n") + "\n").unwrap();
    run_in(dir.path(), output, summary)
}

/// Runs q.sql over in.jsonl in `dir`.
fn run_in(dir: &Path, output: &str, summary: &str) -> (Vec<String>, Vec<Value>) {
    Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir)
        .args(["run", "--sql", "q.sql", "--input", "events=file:in.jsonl"])
        .arg("--output")
        .arg(format!("{output}=file:out.jsonl"))
        .args(["--dead-letter", "dlq.jsonl"])
        .assert()
        .success()
        .stderr(predicate::str::contains(summary));
    let values = read_lines(&dir.join("out.jsonl"))
        .iter()
        .map(|line| {
            // The value object exactly as written: `,"value":` up to `,"timestamp":`.
            let start = line.find(",\"value\":").expect("a value") + 9;
            let end = line.rfind(",\"timestamp\":").expect("a timestamp");
            line[start..end].to_string()
        })
        .collect();
    let dead = read_lines(&dir.join("dlq.jsonl"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (values, dead)
}

const ALL_TYPES: &str = "CREATE STREAM events (
  b BOOLEAN, i INT, l BIGINT, d DOUBLE, s STRING, dec DECIMAL(6, 2),
  dt DATE, tm TIME, ts TIMESTAMP, raw BYTES, arr ARRAY<INT>, m MAP<STRING, DOUBLE>,
  person STRUCT<name STRING, `home` STRUCT<lat DOUBLE, lon DOUBLE>, tags ARRAY<STRING>>
) WITH (KAFKA_TOPIC='events', VALUE_FORMAT='JSON');
";

#[test]
fn every_type_reads_from_and_writes_to_json_as_ksqldb_does() {
    let input = [
        // Field names in any case; a decimal with fewer digits than its scale, as a string;
        // a date, time and timestamp as numbers; struct fields matched as spelled or
        // upper-cased; a map kept in its order.
        r#"{"B":true,"I":7,"L":9000000000,"D":2.5,"S":"x","DEC":12.5,"DT":19787,"TM":5000,"TS":1709643845067,"RAW":"AP8H","ARR":[1,null,3],"M":{"z":1.5,"a":-2.0},"PERSON":{"name":"Ann","home":{"LAT":51.5,"lon":-0.1},"TAGS":["a"]}}"#,
        // Numbers as strings where ksqlDB's JSON coerces them; nulls everywhere else.
        r#"{"dec":"-0.05","dt":"-1","tm":"0","ts":"0","raw":"","arr":[],"m":{},"person":{"name":null}}"#,
        r#"{}"#,
    ];
    let (values, dead) = run(
        &format!("{ALL_TYPES}CREATE STREAM copy AS SELECT * FROM events;"),
        &input,
        "copy",
        "3 records in, 3 out, 0 dead letters",
    );
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(
        values,
        [
            r#"{"B":true,"I":7,"L":9000000000,"D":2.5,"S":"x","DEC":12.50,"DT":19787,"TM":5000,"TS":1709643845067,"RAW":"AP8H","ARR":[1,null,3],"M":{"z":1.5,"a":-2.0},"PERSON":{"NAME":"Ann","home":{"LAT":51.5,"LON":-0.1},"TAGS":["a"]}}"#,
            r#"{"B":null,"I":null,"L":null,"D":null,"S":null,"DEC":-0.05,"DT":-1,"TM":0,"TS":0,"RAW":"","ARR":[],"M":{},"PERSON":{"NAME":null,"home":null,"TAGS":null}}"#,
            r#"{"B":null,"I":null,"L":null,"D":null,"S":null,"DEC":null,"DT":null,"TM":null,"TS":null,"RAW":null,"ARR":null,"M":null,"PERSON":null}"#,
        ]
    );
}

#[test]
fn subscripts_fields_and_constructors_follow_ksqldb() {
    let sql = format!(
        "{ALL_TYPES}CREATE STREAM picked AS SELECT
           arr[1] AS first, arr[-1] AS last, arr[0] AS zeroth, arr[9] AS beyond,
           m['a'] AS a, m['nope'] AS nope, person->name AS name, person->`home`->lat AS lat,
           person->tags[1] AS tag, ARRAY[i, i * 2] AS pair, MAP('s' := s, 'n' := 'v') AS built,
           STRUCT(x := i, y := STRUCT(z := s)) AS nested, STRUCT(x := i)->X AS x
         FROM events;"
    );
    let (values, dead) = run(
        &sql,
        &[
            r#"{"I":3,"S":"q","ARR":[10,20,30],"M":{"a":1.25},"PERSON":{"NAME":"Bo","home":{"lat":1.5},"tags":["t1","t2"]}}"#,
            r#"{"ARR":null,"PERSON":null}"#,
        ],
        "picked",
        "2 records in, 2 out, 0 dead letters",
    );
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(
        values,
        [
            r#"{"FIRST":10,"LAST":30,"ZEROTH":null,"BEYOND":null,"A":1.25,"NOPE":null,"NAME":"Bo","LAT":1.5,"TAG":"t1","PAIR":[3,6],"BUILT":{"s":"q","n":"v"},"NESTED":{"X":3,"Y":{"Z":"q"}},"X":3}"#,
            r#"{"FIRST":null,"LAST":null,"ZEROTH":null,"BEYOND":null,"A":null,"NOPE":null,"NAME":null,"LAT":null,"TAG":null,"PAIR":[null,null],"BUILT":{"s":null,"n":"v"},"NESTED":{"X":null,"Y":{"Z":null}},"X":null}"#,
        ]
    );
}

/// INT arithmetic and SUM of an INT wrap at 32 bits, as Java's `int` does in ksqlDB's
/// generated code and IntegerSumKudaf, in a GROUP BY's projection too; BIGINT keeps 64
/// bits, and a CASE of an INT literal and a BIGINT column is a BIGINT.
#[test]
fn int_arithmetic_and_sums_wrap_at_32_bits_as_in_ksqldb() {
    let events = "CREATE STREAM events (k STRING, i INT, l BIGINT)
                    WITH (KAFKA_TOPIC='events', VALUE_FORMAT='JSON');\n";
    let input = [
        r#"{"K":"a","I":2147483647,"L":2147483647}"#,
        r#"{"K":"a","I":2147483647,"L":2147483647}"#,
    ];
    let (values, dead) = run(
        &format!(
            "{events}CREATE TABLE sums AS SELECT k, SUM(i) AS total, SUM(i) + 1 AS total_plus,
               SUM(l) AS long_total FROM events GROUP BY k;"
        ),
        &input,
        "sums",
        "2 records in, 2 out, 0 dead letters",
    );
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(
        values,
        [
            r#"{"TOTAL":2147483647,"TOTAL_PLUS":-2147483648,"LONG_TOTAL":2147483647}"#,
            r#"{"TOTAL":-2,"TOTAL_PLUS":-1,"LONG_TOTAL":4294967294}"#,
        ]
    );
    let (values, dead) = run(
        &format!(
            "{events}CREATE STREAM math AS SELECT k, i + 1 AS next, i * 2 + i AS thrice, -(i + 1) AS neg,
               i / -1 AS quotient, CASE WHEN i > 0 THEN 0 ELSE l END + l AS picked, l + 1 AS long_next
               FROM events;"
        ),
        &input[..1],
        "math",
        "1 records in, 1 out, 0 dead letters",
    );
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(
        values,
        [
            r#"{"K":"a","NEXT":-2147483648,"THRICE":2147483645,"NEG":-2147483648,"QUOTIENT":-2147483647,"PICKED":2147483647,"LONG_NEXT":2147483648}"#
        ]
    );
}

#[test]
fn decimals_are_exact_and_time_types_compare_and_cast_as_in_ksqldb() {
    let sql = format!(
        "{ALL_TYPES}CREATE STREAM computed AS SELECT
           dec * dec AS squared, dec / CAST('3.00' AS DECIMAL(3, 2)) AS third, dec + i AS plus_int,
           dec + d AS plus_double, -dec AS negated, CAST(dec AS INT) AS whole,
           CAST(s AS DECIMAL(6, 1)) AS parsed, CAST(dt AS STRING) AS day, CAST(tm AS STRING) AS clock,
           CAST(ts AS STRING) AS instant, CAST(ts AS DATE) AS ts_day, CAST(dt AS TIMESTAMP) AS midnight,
           dt = '2024-03-05' AS is_day, ts >= '2024-03-05T13:00:00' AS after_one,
           dt < ts AS before, CAST(raw AS STRING) AS raw_text
         FROM events WHERE dec > 0.5;"
    );
    let (values, dead) = run(
        &sql,
        &[
            r#"{"I":2,"D":0.25,"S":"3.14159","DEC":10.10,"DT":19787,"TM":45296789,"TS":1709643845067,"RAW":"AP8H"}"#,
            // Filtered out: 0.10 is not above 0.5.
            r#"{"DEC":0.10}"#,
            r#"{"I":1,"DEC":1234.5}"#,
        ],
        "computed",
        "3 records in, 2 out, 0 dead letters",
    );
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(
        values,
        [
            r#"{"SQUARED":102.0100,"THIRD":3.366667,"PLUS_INT":12.10,"PLUS_DOUBLE":10.35,"NEGATED":-10.10,"WHOLE":10,"PARSED":3.1,"DAY":"2024-03-05","CLOCK":"12:34:56.789","INSTANT":"2024-03-05T13:04:05.067","TS_DAY":19787,"MIDNIGHT":1709596800000,"IS_DAY":true,"AFTER_ONE":true,"BEFORE":true,"RAW_TEXT":"AP8H"}"#,
            r#"{"SQUARED":1523990.2500,"THIRD":411.500000,"PLUS_INT":1235.50,"PLUS_DOUBLE":null,"NEGATED":-1234.50,"WHOLE":1234,"PARSED":null,"DAY":null,"CLOCK":null,"INSTANT":null,"TS_DAY":null,"MIDNIGHT":null,"IS_DAY":null,"AFTER_ONE":null,"BEFORE":null,"RAW_TEXT":null}"#,
        ]
    );
}

#[test]
fn values_that_do_not_fit_their_column_are_dead_lettered_with_the_reason() {
    let input = [
        r#"{"DEC":1.5}"#,
        r#"{"DEC":1.234}"#,
        r#"{"DEC":12345.6}"#,
        r#"{"DT":"monday"}"#,
        r#"{"TM":90000000}"#,
        r#"{"RAW":"not base64!"}"#,
        r#"{"ARR":["x"]}"#,
        r#"{"M":[1,2]}"#,
        r#"{"PERSON":{"home":{"lat":"north"}}}"#,
        r#"{"PERSON":"Ann"}"#,
        r#"{"DEC":2.5}"#,
    ];
    let (values, dead) = run(
        &format!("{ALL_TYPES}CREATE STREAM decs AS SELECT dec FROM events;"),
        &input,
        "decs",
        "11 records in, 2 out, 9 dead letters",
    );
    assert_eq!(values, [r#"{"DEC":1.50}"#, r#"{"DEC":2.50}"#]);
    let reasons: Vec<(u64, &str)> = dead
        .iter()
        .map(|d| (d["offset"].as_u64().unwrap(), d["reason"].as_str().unwrap()))
        .collect();
    let expected = [
        (1, "field DEC: Cannot fit decimal '1.234' into DECIMAL(6, 2) without rounding. (Requires 4,3)"),
        (2, "field DEC: Cannot fit decimal '12345.6' into DECIMAL(6, 2) without rounding. (Requires 6,1)"),
        (3, "field DT: expected DATE, got the string \"monday\""),
        (4, "field TM: expected TIME, got 90000000, not a time of day in milliseconds"),
        (5, "field RAW: expected BYTES, got the string \"not base64!\""),
        (6, "field ARR: expected INTEGER, got the string \"x\""),
        (7, "field M: expected MAP<STRING, DOUBLE>, got an array"),
        (8, "field PERSON: expected DOUBLE, got the string \"north\""),
        (9, "field PERSON: expected STRUCT<"),
    ];
    assert_eq!(reasons.len(), expected.len(), "{reasons:?}");
    for ((offset, reason), (want_offset, want)) in reasons.iter().zip(expected) {
        assert_eq!(*offset, want_offset, "{reason}");
        assert!(reason.contains(want), "{reason:?} should say {want:?}");
    }
}

#[test]
fn collect_list_gathers_structs_and_maps_per_key() {
    let sql = format!(
        "{ALL_TYPES}CREATE TABLE by_name AS SELECT s, COLLECT_LIST(STRUCT(i := i, dec := dec)) AS items,
           COLLECT_LIST(m) AS maps, MAX(ts) AS latest, MIN(dec) AS smallest
         FROM events GROUP BY s EMIT CHANGES;"
    );
    let (values, dead) = run(
        &sql,
        &[
            r#"{"S":"a","I":1,"DEC":2.5,"M":{"k":1},"TS":10}"#,
            r#"{"S":"a","I":2,"DEC":1.25,"M":{},"TS":5}"#,
        ],
        "by_name",
        "2 records in, 2 out, 0 dead letters",
    );
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(
        values,
        [
            r#"{"ITEMS":[{"I":1,"DEC":2.50}],"MAPS":[{"k":1.0}],"LATEST":10,"SMALLEST":2.50}"#,
            r#"{"ITEMS":[{"I":1,"DEC":2.50},{"I":2,"DEC":1.25}],"MAPS":[{"k":1.0},{}],"LATEST":10,"SMALLEST":1.25}"#,
        ]
    );
}

#[test]
fn delimited_reads_decimals_dates_and_bytes_as_text_and_refuses_collections() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("q.sql"),
        "CREATE STREAM events (dec DECIMAL(4, 1), dt DATE, ts TIMESTAMP, raw BYTES)
           WITH (KAFKA_TOPIC='events', VALUE_FORMAT='DELIMITED');
         CREATE STREAM copy AS SELECT * FROM events;",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("in.jsonl"),
        "12.5,-3,1000,AP8H\n,,,\n12.25,1,1,AA==\n",
    )
    .unwrap();
    let (values, dead) = run_in(dir.path(), "copy", "3 records in, 2 out, 1 dead letters");
    assert_eq!(
        values,
        [
            r#"{"DEC":12.5,"DT":-3,"TS":1000,"RAW":"AP8H"}"#,
            r#"{"DEC":null,"DT":null,"TS":null,"RAW":null}"#,
        ]
    );
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]["reason"]
            .as_str()
            .unwrap()
            .contains("Cannot fit decimal '12.25' into DECIMAL(4, 1)"),
        "{dead:?}"
    );

    std::fs::write(
        dir.path().join("q.sql"),
        "CREATE STREAM events (m MAP<STRING, INT>) WITH (KAFKA_TOPIC='events', VALUE_FORMAT='DELIMITED');",
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args(["run", "--sql", "q.sql", "--input", "events=file:in.jsonl"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "The 'DELIMITED' format does not support type 'MAP<STRING, INTEGER>'",
        ));
}
