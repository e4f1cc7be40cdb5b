//! The scalar function library and IS DISTINCT FROM / LIKE ... ESCAPE through
//! `advisor-engine run`, with expected rows taken from ksqlDB: its query-validation tests
//! (`ksqldb-functional-tests/src/test/resources/query-validation-tests/*.json`, named per
//! case), its UDF unit tests, and the examples of its function reference
//! (docs/developer-guide/ksqldb-reference/scalar-functions.md).
//!
//! ksqlDB writes NaN and infinities as the JSON strings "NaN" and "Infinity"; the engine's
//! JSON writer writes null, so the rows of those cases that give NaN are left out here and
//! the functions' NaN results are checked in the unit tests.

// The expected numbers are ksqlDB's outputs as its tests print them (e, pi, the square root
// of 2 among them), not approximations of constants.
#![allow(clippy::approx_constant)]

use assert_cmd::Command;
use serde_json::{json, Value};

/// Runs `CREATE STREAM input (columns)` and `CREATE STREAM output AS SELECT select FROM
/// input [rest]` over the given input values, and returns the output values in order.
fn select(columns: &str, select: &str, rest: &str, inputs: &[Value]) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let sql = format!(
        "CREATE STREAM input ({columns}) WITH (kafka_topic='input', value_format='JSON');\n\
         CREATE STREAM output AS SELECT {select} FROM input {rest};\n"
    );
    std::fs::write(dir.path().join("q.sql"), sql).expect("the SQL file is written");
    let lines: Vec<String> = inputs.iter().map(Value::to_string).collect();
    std::fs::write(dir.path().join("in.jsonl"), lines.join("\n") + "\n")
        .expect("the input is written");
    Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .current_dir(dir.path())
        .args(["run", "--sql", "q.sql", "--input", "input=file:in.jsonl"])
        .args([
            "--output",
            "OUTPUT=file:out.jsonl",
            "--dead-letter",
            "dlq.jsonl",
        ])
        .assert()
        .success();
    let dead = std::fs::read_to_string(dir.path().join("dlq.jsonl")).unwrap_or_default();
    assert!(dead.trim().is_empty(), "no dead letters: {dead}");
    std::fs::read_to_string(dir.path().join("out.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let record: Value = serde_json::from_str(l).expect("each output line is JSON");
            record["value"].clone()
        })
        .collect()
}

/// Whether two JSON values are equal, doubles within a few units in the last place:
/// serde_json's default number parser (without `float_roundtrip`) can land one or two
/// units away from the double the engine wrote, while integers and doubles stay apart (1
/// is not 1.0), as ksqlDB's tests keep them.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            _ if x.is_f64() != y.is_f64() => false,
            (Some(p), Some(q)) if x.is_f64() => p == q || (p - q).abs() <= q.abs() * 1e-15,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kp, p), (kq, q))| kp == kq && same(p, q))
        }
        _ => a == b,
    }
}

/// Asserts the output rows, column names and order included.
#[track_caller]
fn assert_rows<const N: usize>(got: Vec<Value>, want: [Value; N]) {
    assert!(
        got.len() == want.len() && got.iter().zip(&want).all(|(g, w)| same(g, w)),
        "got  {}\nwant {}",
        Value::Array(got.clone()),
        Value::Array(want.to_vec())
    );
}

fn numbers_ild() -> &'static str {
    "i INT, l BIGINT, d DOUBLE"
}

#[test]
fn exp_sqrt_sign_and_cbrt_match_math_json() {
    // math.json "exp", "sqrt" (less the NaN row), "sign", "cbrt".
    let inputs = [
        json!({"i": null, "l": null, "d": null}),
        json!({"i": 0, "l": 0, "d": 0.0}),
        json!({"i": 1, "l": 2, "d": 3.0}),
    ];
    let out = select(
        numbers_ild(),
        "exp(i) ei, exp(l) el, exp(d) ed, sqrt(i) si, sqrt(l) sl, sqrt(d) sd",
        "",
        &inputs,
    );
    assert_rows(
        out,
        [
            json!({"EI": null, "EL": null, "ED": null, "SI": null, "SL": null, "SD": null}),
            json!({"EI": 1.0, "EL": 1.0, "ED": 1.0, "SI": 0.0, "SL": 0.0, "SD": 0.0}),
            json!({"EI": 2.718281828459045, "EL": 7.38905609893065, "ED": 20.085536923187668,
                   "SI": 1.0, "SL": 1.4142135623730951, "SD": 1.7320508075688772}),
        ],
    );
    let out = select(
        numbers_ild(),
        "sign(i) i, sign(l) l, sign(d) d",
        "",
        &[
            json!({"i": null, "l": null, "d": null}),
            json!({"i": -1, "l": -2, "d": -3.0}),
            json!({"i": 0, "l": 0, "d": 0.0}),
            json!({"i": 1, "l": 2, "d": 3.0}),
        ],
    );
    assert_rows(
        out,
        [
            json!({"I": null, "L": null, "D": null}),
            json!({"I": -1, "L": -1, "D": -1}),
            json!({"I": 0, "L": 0, "D": 0}),
            json!({"I": 1, "L": 1, "D": 1}),
        ],
    );
    let out = select(
        numbers_ild(),
        "cbrt(i) i, cbrt(l) l, cbrt(d) d",
        "",
        &[
            json!({"i": -8, "l": -3, "d": -1.0}),
            json!({"i": 8, "l": 3, "d": 1.0}),
        ],
    );
    assert_rows(
        out,
        [
            json!({"I": -2.0, "L": -1.4422495703074083, "D": -1.0}),
            json!({"I": 2.0, "L": 1.4422495703074083, "D": 1.0}),
        ],
    );
}

#[test]
fn floor_ceil_and_abs_keep_integers_integers() {
    // math.json "floor", "calculate CEIL function", "abs" (without the DECIMAL column).
    let out = select(
        numbers_ild(),
        "floor(i) fi, floor(d) fd, ceil(l) cl, ceil(d) cd, abs(i) ai, abs(d) ad",
        "",
        &[
            json!({"i": null, "l": null, "d": null}),
            json!({"i": 1, "l": 1, "d": 1.5}),
            json!({"i": -1, "l": -1, "d": -1.1}),
            json!({"i": -1, "l": -1, "d": -1.7}),
        ],
    );
    assert_rows(
        out,
        [
            json!({"FI": null, "FD": null, "CL": null, "CD": null, "AI": null, "AD": null}),
            json!({"FI": 1, "FD": 1.0, "CL": 1, "CD": 2.0, "AI": 1, "AD": 1.5}),
            json!({"FI": -1, "FD": -2.0, "CL": -1, "CD": -1.0, "AI": 1, "AD": 1.1}),
            json!({"FI": -1, "FD": -2.0, "CL": -1, "CD": -1.0, "AI": 1, "AD": 1.7}),
        ],
    );
}

#[test]
fn round_matches_math_json() {
    // math.json "round": ROUND(v) is BIGINT, ROUND(v, n) DOUBLE.
    let out = select(
        "v DOUBLE",
        "ROUND(v) as R0, ROUND(v, 0) as R00, ROUND(v, 1) as R1, ROUND(v, 2) as R2, \
         ROUND(v, 10) as R10, ROUND(v, -1) as M1, ROUND(v, -2) as M2",
        "",
        &[
            json!({"v": 1.2}),
            json!({"v": 1.5}),
            json!({"v": 3}),
            json!({"v": 1.234567}),
            json!({"v": 111}),
            json!({"v": null}),
            json!({"v": -1.5}),
            json!({"v": -1.7}),
            json!({"v": 12345.678}),
            json!({"v": -12345.678}),
        ],
    );
    let row = |r0: Value, r00: f64, r1: f64, r2: f64, r10: f64, m1: f64, m2: f64| json!({"R0": r0, "R00": r00, "R1": r1, "R2": r2, "R10": r10, "M1": m1, "M2": m2});
    assert_rows(
        out,
        [
            row(json!(1), 1.0, 1.2, 1.2, 1.2, 0.0, 0.0),
            row(json!(2), 2.0, 1.5, 1.5, 1.5, 0.0, 0.0),
            row(json!(3), 3.0, 3.0, 3.0, 3.0, 0.0, 0.0),
            row(json!(1), 1.0, 1.2, 1.23, 1.234567, 0.0, 0.0),
            row(json!(111), 111.0, 111.0, 111.0, 111.0, 110.0, 100.0),
            json!({"R0": null, "R00": null, "R1": null, "R2": null, "R10": null, "M1": null, "M2": null}),
            row(json!(-1), -1.0, -1.5, -1.5, -1.5, 0.0, 0.0),
            row(json!(-2), -2.0, -1.7, -1.7, -1.7, 0.0, 0.0),
            row(
                json!(12346),
                12346.0,
                12345.7,
                12345.68,
                12345.678,
                12350.0,
                12300.0,
            ),
            row(
                json!(-12346),
                -12346.0,
                -12345.7,
                -12345.68,
                -12345.678,
                -12350.0,
                -12300.0,
            ),
        ],
    );
}

#[test]
fn logarithms_and_powers_match_math_json() {
    // math.json "ln", "log-base-10" (natural, as ksqlDB computes it), "log-custom-base",
    // "power": the rows without NaN.
    let out = select(
        numbers_ild(),
        "ln(i) i, log(l) l, log(d) d",
        "",
        &[
            json!({"i": null, "l": null, "d": null}),
            json!({"i": 1, "l": 13, "d": 13.0}),
        ],
    );
    assert_rows(
        out,
        [
            json!({"I": null, "L": null, "D": null}),
            json!({"I": 0.0, "L": 2.5649493574615367, "D": 2.5649493574615367}),
        ],
    );
    let out = select(
        "ib INT, iv INT, lb BIGINT, lv BIGINT, db DOUBLE, dv DOUBLE",
        "log(ib, iv) i, log(lb, lv) l, log(db, dv) d, power(ib, iv) pi, power(db, dv) pd",
        "",
        &[
            json!({"ib": null, "iv": 13, "lb": null, "lv": 13, "db": null, "dv": 13.0}),
            json!({"ib": 15, "iv": 13, "lb": 15, "lv": 13, "db": 15.0, "dv": 13.0}),
            json!({"ib": 15, "iv": 1, "lb": 15, "lv": 1, "db": 15.0, "dv": 1.0}),
        ],
    );
    assert_rows(
        out,
        [
            json!({"I": null, "L": null, "D": null, "PI": null, "PD": null}),
            json!({"I": 0.9471572411831843, "L": 0.9471572411831843, "D": 0.9471572411831843,
                   "PI": 1.946195068359375E15, "PD": 1.946195068359375E15}),
            json!({"I": 0.0, "L": 0.0, "D": 0.0, "PI": 15.0, "PD": 15.0}),
        ],
    );
    // math.json "power": (15, -1), (0, 0), (-15, 2).
    let out = select(
        "b INT, e INT",
        "power(b, e) p",
        "",
        &[
            json!({"b": 15, "e": -1}),
            json!({"b": 0, "e": 0}),
            json!({"b": -15, "e": 2}),
        ],
    );
    assert_rows(
        out,
        [
            json!({"P": 0.06666666666666667}),
            json!({"P": 1.0}),
            json!({"P": 225.0}),
        ],
    );
}

#[test]
fn trigonometry_matches_math_json_to_13_places() {
    // math.json "sin", "cos", "tan", "cot regular cases", "sinh", "cosh", "tanh".
    let out = select(
        numbers_ild(),
        "round(sin(i), 13) si, round(cos(l), 13) cl, round(tan(d), 13) td, \
         round(cot(i), 13) ci, round(sinh(d), 13) shd, round(cosh(i), 13) chi, \
         round(tanh(d), 13) thd",
        "",
        &[
            json!({"i": -7, "l": -7, "d": -9.1}),
            json!({"i": 6, "l": 6, "d": 0.43}),
        ],
    );
    assert_rows(
        out,
        [
            json!({"SI": -0.6569865987188, "CL": 0.7539022543433, "TD": 0.3367005264329,
                   "CI": -1.1475154224051, "SHD": -4477.64629590835, "CHI": 548.317035155212,
                   "THD": -0.9999999750615}),
            json!({"SI": -0.2794154981989, "CL": 0.9601702866504, "TD": 0.4586210234856,
                   "CI": -3.4363530041801, "SHD": 0.4433742144125, "CHI": 201.7156361224559,
                   "THD": 0.4053213086895}),
        ],
    );
    // math.json "acos regular cases", "asin regular cases", "atan", "atan2", "degrees",
    // "radians", "pi" ("cot edge cases": 0 gives Infinity, which the engine writes as null).
    let out = select(
        "y INT, x INT, r INT, d DOUBLE",
        "round(acos(d), 13) ac, round(asin(d), 13) asn, round(atan(d), 13) at, \
         round(atan2(y, x), 13) a2, round(degrees(y), 12) dg, round(radians(r), 13) rd, \
         pi() AS p",
        "",
        &[
            json!({"y": -2, "x": -3, "r": -114, "d": -0.43}),
            json!({"y": 2, "x": 3, "r": 114, "d": 0.43}),
        ],
    );
    assert_rows(
        out,
        [
            json!({"AC": 2.0152891037307, "ASN": -0.4444927769358, "AT": -0.4060980583176,
                   "A2": -2.5535900500422, "DG": -114.591559026165, "RD": -1.9896753472735,
                   "P": 3.141592653589793}),
            json!({"AC": 1.1263035498591, "ASN": 0.4444927769358, "AT": 0.4060980583176,
                   "A2": 0.5880026035476, "DG": 114.591559026165, "RD": 1.9896753472735,
                   "P": 3.141592653589793}),
        ],
    );
}

#[test]
fn case_trim_and_substring_match_string_json() {
    // string.json "LCASE, UCASE, TRIM SUBSTRING" (over JSON rather than DELIMITED).
    let out = select(
        "text STRING",
        "LCASE(text), UCASE(text), TRIM(text), SUBSTRING(text, 2, 5)",
        "",
        &[
            json!({"text": "lower"}),
            json!({"text": "MiXeD"}),
            json!({"text": " \t with white space \t"}),
            json!({"text": "s"}),
            json!({"text": "long enough"}),
        ],
    );
    let row = |a: &str, b: &str, c: &str, d: &str| json!({"KSQL_COL_0": a, "KSQL_COL_1": b, "KSQL_COL_2": c, "KSQL_COL_3": d});
    assert_rows(
        out,
        [
            row("lower", "LOWER", "lower", "ower"),
            row("mixed", "MIXED", "MiXeD", "iXeD"),
            row(
                " \t with white space \t",
                " \t WITH WHITE SPACE \t",
                "with white space",
                "\t wit",
            ),
            row("s", "S", "s", ""),
            row("long enough", "LONG ENOUGH", "long enough", "ong e"),
        ],
    );
}

#[test]
fn concat_and_chr_match_concat_json_and_chr_json() {
    // concat.json "concat fields using CONCAT", "should handle characters the must be
    // escaped in java" and "... in sql".
    let out = select(
        "source VARCHAR",
        "CONCAT('prefix-', source, '-postfix') AS THING, CONCAT('\"', CONCAT(source, '\\')) AS J, \
         CONCAT('''', CONCAT(source, '''')) AS Q",
        "",
        &[json!({"source": "s1"}), json!({"source": "\\foo\""})],
    );
    assert_rows(
        out,
        [
            json!({"THING": "prefix-s1-postfix", "J": "\"s1\\", "Q": "'s1'"}),
            json!({"THING": "prefix-\\foo\"-postfix", "J": "\"\\foo\"\\", "Q": "'\\foo\"'"}),
        ],
    );
    // chr.json "codepoint from decimal code", "codepoint from text code", "multiple
    // invocations".
    let out = select(
        "utfcode INTEGER, text STRING",
        "chr(utfcode) AS a, chr(text) AS b",
        "",
        &[
            json!({"utfcode": 75, "text": "\\u004b"}),
            json!({"utfcode": 22909, "text": "\\u597d"}),
            json!({"utfcode": 99000, "text": "\\ud820\\udeb8"}),
            json!({"utfcode": -1, "text": "75"}),
            json!({"utfcode": null, "text": "bogus"}),
            json!({"utfcode": 81, "text": ""}),
        ],
    );
    assert_rows(
        out,
        [
            json!({"A": "K", "B": "K"}),
            json!({"A": "好", "B": "好"}),
            json!({"A": "𘊸", "B": "𘊸"}),
            json!({"A": null, "B": null}),
            json!({"A": null, "B": null}),
            json!({"A": "Q", "B": null}),
        ],
    );
}

#[test]
fn encode_matches_encode_json() {
    // encode.json "encode hex": failures (odd digits, "0x0x") are NULL and the row goes on.
    let out = select(
        "input_string VARCHAR",
        "encode(input_string, 'hex', 'ascii') AS ASCII, encode(input_string, 'hex', 'utf8') as UTF8, \
         encode(input_string, 'hex', 'base64') as BASE64",
        "",
        &[
            json!({"input_string": "4578616d706C6521"}),
            json!({"input_string": "ce95cebbcebbceacceb4ceb1"}),
            json!({"input_string": "c39c6265726d656e736368"}),
            json!({"input_string": null}),
            json!({"input_string": "X'4578616d706C6521'"}),
            json!({"input_string": "0x"}),
            json!({"input_string": "0x0x"}),
            json!({"input_string": "0x578616d706C6521"}),
            json!({"input_string": "578616d706C6521"}),
        ],
    );
    let row = |a: Value, u: Value, b: Value| json!({"ASCII": a, "UTF8": u, "BASE64": b});
    let example = || row(json!("Example!"), json!("Example!"), json!("RXhhbXBsZSE="));
    let nulls = || row(Value::Null, Value::Null, Value::Null);
    assert_rows(
        out,
        [
            example(),
            row(
                json!("������������"),
                json!("Ελλάδα"),
                json!("zpXOu867zqzOtM6x"),
            ),
            row(
                json!("��bermensch"),
                json!("Übermensch"),
                json!("w5xiZXJtZW5zY2g="),
            ),
            nulls(),
            example(),
            row(json!(""), json!(""), json!("")),
            nulls(),
            row(
                json!("\u{5}xample!"),
                json!("\u{5}xample!"),
                json!("BXhhbXBsZSE="),
            ),
            nulls(),
        ],
    );
    // encode.json "encode ascii", "encode base64", "encode null".
    let out = select(
        "s VARCHAR",
        "encode(s, 'ascii', 'hex') AS HEX, encode(s, 'ascii', 'base64') AS B64, \
         encode(s, 'base64', 'null') AS N",
        "",
        &[json!({"s": "Example!"}), json!({"s": "Ελλάδα"})],
    );
    assert_rows(
        out,
        [
            json!({"HEX": "4578616d706c6521", "B64": "RXhhbXBsZSE=", "N": null}),
            json!({"HEX": "3f3f3f3f3f3f", "B64": "Pz8/Pz8/", "N": null}),
        ],
    );
}

#[test]
fn the_references_string_examples() {
    // scalar-functions.md: the examples of LPAD, RPAD, INSTR, MASK*, CONCAT_WS, SUBSTRING,
    // REGEXP_EXTRACT, REGEXP_EXTRACT_ALL, SPLIT's rules and INITCAP's.
    let out = select(
        "s STRING",
        "LPAD('Foo', 7, 'Bar') lp, LPAD('123', 5, '0') lz, RPAD('Foo', 7, 'Bar') rp, \
         RPAD('', 2, 'Bar') re, INSTR('CORPORATE FLOOR', 'OR', 3, 2) i1, \
         INSTR('CORPORATE FLOOR', 'OR', -3) i2, INSTR('CORPORATE FLOOR', 'MISSING') i3, \
         MASK(s) m, MASK(s, '*', NULL, '1', NULL) mc, MASK_KEEP_LEFT(s, 4) mkl, \
         MASK_KEEP_RIGHT(s, 4) mkr, MASK_LEFT(s, 4) ml, MASK_RIGHT(s, 4) mr, \
         CONCAT_WS(', ', 'apple', 'banana', NULL, 'date') cws, SUBSTRING('stream', 1, 4) sub, \
         REGEXP_EXTRACT('(.*) (.*)', 'hello there', 2) rx, \
         REGEXP_EXTRACT_ALL('(\\w+) (\\w+)', 'hello there nice day', 2) rxa, \
         SPLIT('a,,b', ',') sp, SPLIT('abc', '') spe, INITCAP('the QUICK fox') ic, \
         REPLACE(s, '$', 'USD ') rep, LEN(s) len",
        "",
        &[json!({"s": "My Test $123"})],
    );
    assert_rows(
        out,
        [json!({
            "LP": "BarBFoo", "LZ": "00123", "RP": "FooBarB", "RE": "Ba",
            "I1": 14, "I2": 5, "I3": 0,
            "M": "Xx-Xxxx--nnn", "MC": "*y *est $111", "MKL": "My Txxx--nnn",
            "MKR": "Xx-Xxxx-$123", "ML": "Xx-Xest $123", "MR": "My Test -nnn",
            "CWS": "apple, banana, date", "SUB": "stre",
            "RX": "there", "RXA": ["there", "day"],
            "SP": ["a", "", "b"], "SPE": ["a", "b", "c"], "IC": "The Quick Fox",
            "REP": "My Test USD 123", "LEN": 12
        })],
    );
}

#[test]
fn null_functions_and_as_value() {
    // The reference: COALESCE gives the first non-NULL, IFNULL the alternative, NULLIF NULL
    // when both are equal.
    let out = select(
        "a INT, b INT, s STRING",
        "COALESCE(a, b, 0) c, IFNULL(s, 'none') n, NULLIF(a, b) ni, AS_VALUE(s) v",
        "",
        &[
            json!({"a": null, "b": 2, "s": null}),
            json!({"a": 1, "b": 1, "s": "x"}),
            json!({"a": 1, "b": null, "s": "y"}),
        ],
    );
    assert_rows(
        out,
        [
            json!({"C": 2, "N": "none", "NI": null, "V": null}),
            json!({"C": 1, "N": "x", "NI": null, "V": "x"}),
            json!({"C": 1, "N": "y", "NI": 1, "V": "y"}),
        ],
    );
}

#[test]
fn timestamps_dates_and_intervals() {
    // timestampsub.json "subtracts" and "subtracts negative intervals", "handles null values";
    // TIMESTAMP values are epoch milliseconds in JSON, as there.
    let out = select(
        "time BIGINT, num INT",
        "timestampsub(MILLISECONDS, 10, time) AS s, timestampsub(MILLISECONDS, num, time) AS v",
        "",
        &[
            json!({"time": 20, "num": -5}),
            json!({"time": -100, "num": -5}),
            json!({"time": 5, "num": null}),
            json!({"time": null, "num": 5}),
        ],
    );
    assert_rows(
        out,
        [
            json!({"S": 10, "V": 25}),
            json!({"S": -110, "V": -95}),
            json!({"S": -5, "V": null}),
            json!({"S": null, "V": null}),
        ],
    );
    // PARSE_TIMESTAMP and FORMAT_TIMESTAMP in UTC and a named zone, PARSE_DATE and
    // FORMAT_DATE over epoch days, on the instant of the reference's TO_JSON_STRING example
    // (2021-06-30T12:18:39.446Z is 1625055519446 ms; Los Angeles is at -07:00 then); an
    // unreadable date is NULL and the row goes on.
    let out = select(
        "text STRING",
        "PARSE_TIMESTAMP(text, 'yyyy-MM-dd HH:mm:ss.SSS') AS ts, \
         FORMAT_TIMESTAMP(PARSE_TIMESTAMP(text, 'yyyy-MM-dd HH:mm:ss.SSS'), 'HH:mm', 'America/Los_Angeles') AS la, \
         FORMAT_DATE(PARSE_DATE(SUBSTRING(text, 1, 10), 'yyyy-MM-dd'), 'dd MMM yyyy') AS d, \
         TIMESTAMPADD(DAYS, 1, PARSE_TIMESTAMP(text, 'yyyy-MM-dd HH:mm:ss.SSS')) AS next",
        "",
        &[
            json!({"text": "2021-06-30 12:18:39.446"}),
            json!({"text": "not a date"}),
        ],
    );
    assert_rows(
        out,
        [
            json!({"TS": 1_625_055_519_446i64, "LA": "05:18", "D": "30 Jun 2021",
                   "NEXT": 1_625_141_919_446i64}),
            json!({"TS": null, "LA": null, "D": null, "NEXT": null}),
        ],
    );
}

#[test]
fn is_distinct_from_and_like_escape_filter_and_project() {
    // SQL's IS [NOT] DISTINCT FROM: NULL is not distinct from NULL; never NULL itself.
    let out = select(
        "a INT, b INT, s STRING",
        "a IS DISTINCT FROM b AS d, a IS NOT DISTINCT FROM b AS nd, s LIKE '100!%%' ESCAPE '!' AS pct",
        "WHERE s NOT LIKE 'skip\\_%' ESCAPE '\\'",
        &[
            json!({"a": null, "b": null, "s": "100% sure"}),
            json!({"a": 1, "b": null, "s": "1000"}),
            json!({"a": 1, "b": 1, "s": "skip_me"}),
            json!({"a": 1, "b": 2, "s": "skipped? no"}),
        ],
    );
    assert_rows(
        out,
        [
            json!({"D": false, "ND": true, "PCT": true}),
            json!({"D": true, "ND": false, "PCT": false}),
            json!({"D": true, "ND": false, "PCT": false}),
        ],
    );
}
