//! Functions over JSON held in strings, as ksqlDB's `udf.json` classes read it with Jackson.

use serde_json::Value as Json;

use super::{text, text_or_null, Function, FunctionError, Outcome};
use crate::value::Value;

pub(super) fn call(function: Function, args: &[Value]) -> Outcome {
    use Function::*;
    match function {
        ExtractJsonField => extract(args),
        IsJsonString => Ok(Value::Boolean(
            text_or_null(function, args, 0)?.is_some_and(|s| parse(s).is_ok()),
        )),
        JsonArrayLength => Ok(match parse(text(function, args, 0)?)? {
            Json::Array(items) => Value::Integer(items.len() as i64),
            _ => Value::Null,
        }),
        JsonKeys => Ok(match parse(text(function, args, 0)?)? {
            Json::Object(map) => Value::Array(
                map.keys()
                    .map(|k| Value::String(k.as_str().into()))
                    .collect(),
            ),
            _ => Value::Null,
        }),
        JsonArrayContains => array_contains(args),
        JsonConcat => concat(args),
        ToJsonString => Ok(Value::String(args[0].to_json().to_string().into())),
        _ => unreachable!("json::call is only given JSON functions"),
    }
}

fn parse(text: &str) -> Result<Json, FunctionError> {
    serde_json::from_str(text)
        .map_err(|e| FunctionError::Failed(format!("Invalid JSON format: {text}: {e}")))
}

/// The steps of a JSONPath as ksqlDB's JsonPathTokenizer reads them: `$`, then `.name`,
/// `['name']`, `["name"]` or `[index]`.
fn path_steps(path: &str) -> Result<Vec<String>, FunctionError> {
    let invalid = || FunctionError::Failed(format!("Invalid JSON path: {path}"));
    let rest = path.trim().strip_prefix('$').ok_or_else(invalid)?;
    let chars: Vec<char> = rest.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                i = start;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                if i == start {
                    return Err(invalid());
                }
                steps.push(chars[start..i].iter().collect());
            }
            '[' => {
                let close = chars[i..]
                    .iter()
                    .position(|&c| c == ']')
                    .map(|p| i + p)
                    .ok_or_else(invalid)?;
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                let unquoted = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                steps.push(unquoted.unwrap_or(inner).to_string());
                i = close + 1;
            }
            _ => return Err(invalid()),
        }
    }
    Ok(steps)
}

/// JsonExtractString.java: a string node's text, any other node as compact JSON (so JSON
/// null is the text "null"), NULL where the path leads nowhere.
fn extract(args: &[Value]) -> Outcome {
    let function = Function::ExtractJsonField;
    let steps = path_steps(text(function, args, 1)?)?;
    let document = parse(text(function, args, 0)?)?;
    let mut node = &document;
    for step in &steps {
        let next = match node {
            Json::Array(items) => match step.parse::<usize>() {
                Ok(index) => items.get(index),
                Err(_) => None,
            },
            Json::Object(map) => map.get(step),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return Ok(Value::Null),
        }
    }
    Ok(Value::String(match node {
        Json::String(s) => s.as_str().into(),
        other => other.to_string().into(),
    }))
}

/// JsonArrayContains.java: false when the text is not a JSON array; numbers match by value,
/// strings and booleans exactly, and NULL matches a JSON null.
fn array_contains(args: &[Value]) -> Outcome {
    let function = Function::JsonArrayContains;
    let Some(array) = text_or_null(function, args, 0)? else {
        return Ok(Value::Boolean(false));
    };
    let Ok(Json::Array(items)) = serde_json::from_str::<Json>(array) else {
        return Ok(Value::Boolean(false));
    };
    let wanted = &args[1];
    let found = items.iter().any(|item| match (item, wanted) {
        (Json::Null, Value::Null) => true,
        (Json::Bool(a), Value::Boolean(b)) => a == b,
        (Json::String(a), Value::String(b)) => a.as_str() == b.as_str(),
        (Json::Number(n), Value::Integer(i)) => n.as_i64() == Some(*i),
        (Json::Number(n), Value::Double(d)) => n.as_f64() == Some(*d),
        _ => false,
    });
    Ok(Value::Boolean(found))
}

/// JsonConcat.java, following PostgreSQL's `||`: objects merge (later keys win), arrays
/// append, anything else is wrapped in an array first; NULL when any input is NULL or not
/// JSON.
fn concat(args: &[Value]) -> Outcome {
    let function = Function::JsonConcat;
    let mut documents = Vec::with_capacity(args.len());
    for i in 0..args.len() {
        let Some(text) = text_or_null(function, args, i)? else {
            return Ok(Value::Null);
        };
        match serde_json::from_str::<Json>(text) {
            Ok(json) => documents.push(json),
            Err(_) => return Ok(Value::Null),
        }
    }
    let merged = if documents.iter().all(Json::is_object) {
        let mut out = serde_json::Map::new();
        for document in documents {
            if let Json::Object(map) = document {
                out.extend(map);
            }
        }
        Json::Object(out)
    } else {
        let mut out = Vec::new();
        for document in documents {
            match document {
                Json::Array(items) => out.extend(items),
                other => out.push(other),
            }
        }
        Json::Array(out)
    };
    Ok(Value::String(merged.to_string().into()))
}

#[cfg(test)]
mod tests {
    use super::super::call;
    use super::*;

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    #[test]
    fn extractjsonfield_follows_paths() {
        // The reference's example: '$.log.cloud' of the log document is gcp836Csd.
        let log = s(r#"{"log": {"cloud": "gcp836Csd", "app": "ksProcessor", "instance": 4}}"#);
        let extract = |path: &str| call(Function::ExtractJsonField, &[log.clone(), s(path)]);
        assert_eq!(extract("$.log.cloud"), Ok(s("gcp836Csd")));
        assert_eq!(extract("$.log.instance"), Ok(s("4")));
        assert_eq!(extract("$['log']['app']"), Ok(s("ksProcessor")));
        assert_eq!(extract("$.log.missing"), Ok(Value::Null));
        assert_eq!(
            extract("$.log"),
            Ok(s(
                r#"{"cloud":"gcp836Csd","app":"ksProcessor","instance":4}"#
            ))
        );
        let array = s(r#"{"a": [10, {"b": null}]}"#);
        assert_eq!(
            call(Function::ExtractJsonField, &[array.clone(), s("$.a[0]")]),
            Ok(s("10"))
        );
        assert_eq!(
            call(Function::ExtractJsonField, &[array.clone(), s("$.a[1].b")]),
            Ok(s("null"))
        );
        assert_eq!(
            call(Function::ExtractJsonField, &[array, s("$.a[5]")]),
            Ok(Value::Null)
        );
        assert!(call(Function::ExtractJsonField, &[s("not json"), s("$.a")]).is_err());
    }

    #[test]
    fn json_predicates_lengths_and_keys() {
        // The reference's IS_JSON_STRING, JSON_ARRAY_LENGTH, JSON_KEYS examples.
        for (text, want) in [
            ("[1, 2, 3]", true),
            ("{}", true),
            ("1", true),
            ("\"abc\"", true),
            ("null", true),
            ("", false),
            ("abc", false),
        ] {
            assert_eq!(
                call(Function::IsJsonString, &[s(text)]),
                Ok(Value::Boolean(want)),
                "{text}"
            );
        }
        assert_eq!(
            call(Function::IsJsonString, &[Value::Null]),
            Ok(Value::Boolean(false))
        );
        assert_eq!(
            call(Function::JsonArrayLength, &[s("[1, [1, [2]], 3]")]),
            Ok(Value::Integer(3))
        );
        assert_eq!(
            call(Function::JsonArrayLength, &[s("[]")]),
            Ok(Value::Integer(0))
        );
        assert_eq!(call(Function::JsonArrayLength, &[s("{}")]), Ok(Value::Null));
        assert_eq!(
            call(Function::JsonArrayLength, &[Value::Null]),
            Ok(Value::Null)
        );
        assert!(call(Function::JsonArrayLength, &[s("abc")]).is_err());
        assert_eq!(
            call(
                Function::JsonKeys,
                &[s(r#"{"a": "abc", "b": { "c": "a" }, "d": 1}"#)]
            ),
            Ok(Value::Array(vec![s("a"), s("b"), s("d")]))
        );
        assert_eq!(call(Function::JsonKeys, &[s("[]")]), Ok(Value::Null));
        assert_eq!(
            call(
                Function::JsonArrayContains,
                &[s("[1, 2, 3]"), Value::Integer(3)]
            ),
            Ok(Value::Boolean(true))
        );
        assert_eq!(
            call(Function::JsonArrayContains, &[s("{}"), Value::Integer(3)]),
            Ok(Value::Boolean(false))
        );
    }

    #[test]
    fn json_concat_and_to_json_string() {
        // The reference's JSON_CONCAT and TO_JSON_STRING examples.
        let concat = |a: &str, b: &str| call(Function::JsonConcat, &[s(a), s(b)]);
        assert_eq!(
            concat(r#"{"a": 1}"#, r#"{"b": 2}"#),
            Ok(s(r#"{"a":1,"b":2}"#))
        );
        assert_eq!(
            concat(r#"{"a": {"5": 6}}"#, r#"{"a": {"3": 4}}"#),
            Ok(s(r#"{"a":{"3":4}}"#))
        );
        assert_eq!(concat("[1, 2]", "[3, 4]"), Ok(s("[1,2,3,4]")));
        assert_eq!(concat("null", "null"), Ok(s("[null,null]")));
        assert_eq!(concat("[1, 2]", r#"{"a": 1}"#), Ok(s(r#"[1,2,{"a":1}]"#)));
        assert_eq!(concat("1", "2"), Ok(s("[1,2]")));
        assert_eq!(concat("abc", "[1]"), Ok(Value::Null));
        assert_eq!(
            call(Function::JsonConcat, &[Value::Null, s("[1]")]),
            Ok(Value::Null)
        );
        assert_eq!(
            call(Function::ToJsonString, &[Value::Integer(1)]),
            Ok(s("1"))
        );
        assert_eq!(
            call(Function::ToJsonString, &[Value::Double(15.3)]),
            Ok(s("15.3"))
        );
        assert_eq!(call(Function::ToJsonString, &[s("abc")]), Ok(s("\"abc\"")));
        assert_eq!(
            call(Function::ToJsonString, &[Value::Boolean(true)]),
            Ok(s("true"))
        );
        assert_eq!(call(Function::ToJsonString, &[Value::Null]), Ok(s("null")));
    }
}
