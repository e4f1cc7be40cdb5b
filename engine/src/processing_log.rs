//! ksqlDB's processing log, which the engine's dead letters are: how a letter is written as
//! the `ksql.logging.processing.*` settings say, and the stream ksqlDB declares over the
//! log's topic (`ksql.logging.processing.stream.auto.create`).

use crate::query::DeadLetter;
use crate::settings::ProcessingLog;

/// The columns of ksqlDB's processing-log stream, as its ProcessingLogServerUtils declares
/// them from LogRecordStructBuilder and ProcessingLogMessageSchema: fields upper-cased, and
/// `topic` quoted (a reserved word), so it keeps its lower case as in ksqlDB's DESCRIBE.
/// `TIME` and `TYPE` are quoted because they are type names in the engine's grammar; their
/// names do not change.
pub const STREAM_COLUMNS: &str = "LOGGER STRING, LEVEL STRING, `TIME` BIGINT, \
MESSAGE STRUCT<`TYPE` INT, \
DESERIALIZATIONERROR STRUCT<TARGET STRING, ERRORMESSAGE STRING, RECORDB64 STRING, CAUSE ARRAY<STRING>, `topic` STRING>, \
RECORDPROCESSINGERROR STRUCT<ERRORMESSAGE STRING, RECORD STRING, CAUSE ARRAY<STRING>>, \
PRODUCTIONERROR STRUCT<ERRORMESSAGE STRING>, \
SERIALIZATIONERROR STRUCT<TARGET STRING, ERRORMESSAGE STRING, RECORD STRING, CAUSE ARRAY<STRING>, `topic` STRING>, \
KAFKASTREAMSTHREADERROR STRUCT<ERRORMESSAGE STRING, THREADNAME STRING, CAUSE ARRAY<STRING>>>";

/// The statement ksqlDB runs at start to declare the processing-log stream over its topic.
pub fn stream_statement(stream: &str, topic: &str) -> String {
    let topic = topic.replace('\'', "''");
    format!("CREATE STREAM {stream} ({STREAM_COLUMNS}) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');")
}

/// Appends a dead letter's JSON to `out`: whole, or without the record's key and value when
/// `ksql.logging.processing.rows.include` is false (ksqlDB then leaves `recordB64` and
/// `record` null; the engine's own `value`, `key_b64` and `value_b64` go null with them).
pub fn write_letter(letter: &DeadLetter, log: &ProcessingLog, out: &mut Vec<u8>) {
    if log.rows_include || (letter.raw_key.is_none() && letter.raw_value.is_none()) {
        letter.write_json(out);
    } else {
        DeadLetter {
            raw_key: None,
            raw_value: None,
            ..letter.clone()
        }
        .write_json(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::format::json::JsonDecoder;
    use crate::format::Decoder;
    use crate::query::FailureKind;
    use crate::value::Value;

    fn text(s: &str) -> Value {
        Value::String(s.into())
    }

    fn letter(kind: FailureKind) -> DeadLetter {
        DeadLetter {
            query: "CSAS_OUT_0".into(),
            source: "IN".into(),
            topic: "in".into(),
            partition: 2,
            offset: 7,
            kind,
            reason: "cannot parse \"x\" as JSON".into(),
            cause: vec!["expected value at line 1 column 2".into()],
            on_key: false,
            raw_key: Some(b"k".to_vec()),
            raw_value: Some(b"{not json".to_vec()),
        }
    }

    /// A letter reads back into the stream's columns as ksqlDB's own log records do: the
    /// engine's JSON decoder, given the declared stream, finds every field.
    #[test]
    fn letters_read_back_into_the_processing_log_stream() {
        let mut engine = Engine::default();
        let statements =
            crate::sql::parse(&stream_statement("KSQL_PROCESSING_LOG", "plog")).unwrap();
        engine.execute(&statements[0]).unwrap();
        let source = engine.sources.get("KSQL_PROCESSING_LOG").unwrap();
        let names: Vec<&str> = source
            .schema
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["LOGGER", "LEVEL", "TIME", "MESSAGE"]);
        let decoder = JsonDecoder::new(source.schema.columns.clone());
        let field = |value: &Value, path: &[&str]| -> Value {
            let mut value = value.clone();
            for name in path {
                let Value::Struct(fields) = value else {
                    panic!("{name} of a non-struct {value:?}")
                };
                value = fields
                    .into_iter()
                    .find(|(n, _)| &**n == *name)
                    .unwrap_or_else(|| panic!("no field {name}"))
                    .1;
            }
            value
        };
        for (kind, error, record) in [
            (
                FailureKind::Deserialization,
                "DESERIALIZATIONERROR",
                "RECORDB64",
            ),
            (
                FailureKind::RecordProcessing,
                "RECORDPROCESSINGERROR",
                "RECORD",
            ),
            (FailureKind::Serialization, "SERIALIZATIONERROR", "RECORD"),
        ] {
            for rows_include in [true, false] {
                let log = ProcessingLog {
                    rows_include,
                    ..ProcessingLog::default()
                };
                let mut json = Vec::new();
                write_letter(&letter(kind), &log, &mut json);
                let row = decoder.decode(&json).unwrap_or_else(|e| panic!("{e:?}"));
                assert_eq!(row[1], text("ERROR"));
                let Value::String(logger) = &row[0] else {
                    panic!("{row:?}")
                };
                assert!(logger.starts_with("processing.CSAS_OUT_0"), "{logger}");
                assert!(matches!(row[2], Value::Integer(t) if t > 1_700_000_000_000));
                let message = &row[3];
                assert_eq!(
                    field(message, &["TYPE"]),
                    Value::Integer(i64::from(kind.code()))
                );
                assert_eq!(
                    field(message, &[error, "ERRORMESSAGE"]),
                    text("cannot parse \"x\" as JSON")
                );
                let expected_record = match (rows_include, record) {
                    (false, _) => Value::Null,
                    (true, "RECORDB64") => text("e25vdCBqc29u"),
                    (true, _) => text("{not json"),
                };
                assert_eq!(
                    field(message, &[error, record]),
                    expected_record,
                    "{kind:?}"
                );
                assert_eq!(
                    field(message, &[error, "CAUSE"]),
                    Value::Array(vec![text("expected value at line 1 column 2")])
                );
                if kind != FailureKind::RecordProcessing {
                    assert_eq!(field(message, &[error, "topic"]), text("in"));
                    assert_eq!(field(message, &[error, "TARGET"]), text("value"));
                }
            }
        }
    }

    /// As ksqlDB's processing log tells a key that does not deserialize from a value that
    /// does not: `target` names it and `recordB64` holds its bytes.
    #[test]
    fn a_record_whose_key_does_not_decode_is_logged_with_target_key() {
        use crate::query::{InputRecord, Outputs};
        let mut engine = Engine::default();
        let sql = "CREATE STREAM input (id BIGINT KEY, v STRING)
                     WITH (KAFKA_TOPIC='in', VALUE_FORMAT='JSON');
                   CREATE STREAM copied AS SELECT * FROM input;";
        for statement in crate::sql::parse(sql).unwrap() {
            engine.execute(&statement).unwrap();
        }
        let good_key = 7i64.to_be_bytes();
        let records = [
            (&b"abc"[..], &br#"{"v": "x"}"#[..]),
            (&good_key[..], &b"{not json"[..]),
        ];
        let mut out = Outputs::new();
        let mut dead = Vec::new();
        for (offset, (key, value)) in records.iter().enumerate() {
            let record = InputRecord {
                topic: "in",
                partition: 0,
                offset: offset as u64,
                timestamp: 0,
                key: Some(key),
                value: Some(value),
            };
            engine.queries[0].process(&record, &mut out, &mut dead);
        }
        let errors: Vec<serde_json::Value> = dead
            .iter()
            .map(|letter| {
                let mut bytes = Vec::new();
                letter.write_json(&mut bytes);
                let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                json["message"]["deserializationError"].clone()
            })
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0]["target"], "key");
        assert_eq!(errors[0]["recordB64"], "YWJj");
        assert!(
            errors[0]["errorMessage"]
                .as_str()
                .is_some_and(|m| m.starts_with("the key: ")),
            "{errors:?}"
        );
        assert_eq!(errors[1]["target"], "value");
        assert_eq!(errors[1]["recordB64"], "e25vdCBqc29u");
        // Eight bytes short is the engine's own refusal: nothing under it.
        assert_eq!(errors[0]["cause"], serde_json::json!([]));
        assert_eq!(errors[1]["cause"].as_array().map(Vec::len), Some(1));
    }

    /// The `message` of the processing-log record of each record that `sql`'s last query
    /// rejects, the records given as values of the topic `in`.
    fn logged(sql: &str, values: &[&[u8]]) -> Vec<serde_json::Value> {
        use crate::query::{InputRecord, Outputs};
        let mut engine = Engine::default();
        for statement in crate::sql::parse(sql).unwrap() {
            engine.execute(&statement).unwrap();
        }
        let (mut out, mut dead) = (Outputs::new(), Vec::new());
        let query = engine.queries.last_mut().unwrap();
        for (offset, value) in values.iter().enumerate() {
            let record = InputRecord {
                topic: "in",
                partition: 0,
                offset: offset as u64,
                timestamp: 0,
                key: None,
                value: Some(value),
            };
            query.process(&record, &mut out, &mut dead);
        }
        dead.iter()
            .map(|letter| {
                let mut bytes = Vec::new();
                write_letter(letter, &ProcessingLog::default(), &mut bytes);
                let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                json["message"].clone()
            })
            .collect()
    }

    /// As in ksqlDB, where a JSON record that does not parse is logged with "Failed to
    /// deserialize value from topic: T. <Jackson's message>" and Jackson's exception as
    /// `cause`: the message says serde_json's error and `cause` lists it.
    #[test]
    fn a_value_that_is_not_json_has_serde_json_s_error_as_its_cause() {
        let messages = logged(
            "CREATE STREAM input (id BIGINT, v STRING) WITH (KAFKA_TOPIC='in', VALUE_FORMAT='JSON');
             CREATE STREAM copied AS SELECT * FROM input;",
            &[b"{not json", br#"{"id": "seven"}"#, br#"{"id": 7}"#],
        );
        assert_eq!(messages.len(), 2, "{messages:?}");
        let serde = serde_json::from_slice::<serde_json::Value>(b"{not json")
            .unwrap_err()
            .to_string();
        let error = &messages[0]["deserializationError"];
        assert_eq!(error["cause"], serde_json::json!([serde]), "{error}");
        assert_eq!(error["errorMessage"], format!("malformed JSON: {serde}"));
        // A value of the wrong type is serde_json's error too.
        let error = &messages[1]["deserializationError"];
        let cause = error["cause"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{error}"));
        assert_eq!(error["errorMessage"], cause, "{error}");
        assert!(cause.contains("ID"), "{cause}");
    }

    /// A DELIMITED number that does not parse has the parse error as its cause, as
    /// ksqlDB's has Java's NumberFormatException.
    #[test]
    fn a_delimited_number_that_does_not_parse_has_the_parse_error_as_its_cause() {
        let messages = logged(
            "CREATE STREAM input (id INT, v STRING) WITH (KAFKA_TOPIC='in', VALUE_FORMAT='DELIMITED');
             CREATE STREAM copied AS SELECT * FROM input;",
            &[b"x7,a", b"7,a"],
        );
        assert_eq!(messages.len(), 1, "{messages:?}");
        let error = &messages[0]["deserializationError"];
        assert_eq!(
            error["cause"],
            serde_json::json!(["invalid digit found in string"]),
            "{error}"
        );
    }

    /// An expression that fails is logged as ksqlDB's RecordProcessingError is: `cause`
    /// lists the evaluation error itself and what is under it.
    #[test]
    fn a_cast_that_fails_lists_the_cast_and_the_parse_error() {
        let messages = logged(
            "CREATE STREAM input (v STRING) WITH (KAFKA_TOPIC='in', VALUE_FORMAT='JSON');
             CREATE STREAM cast AS SELECT CAST(v AS BIGINT) + 1 AS n FROM input;",
            &[br#"{"v": "12x"}"#, br#"{"v": "12"}"#],
        );
        assert_eq!(messages.len(), 1, "{messages:?}");
        let error = &messages[0]["recordProcessingError"];
        assert_eq!(
            error["cause"],
            serde_json::json!([
                "cannot cast \"12x\" to BIGINT",
                "invalid digit found in string"
            ]),
            "{error}"
        );
    }
}
