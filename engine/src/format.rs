//! Record formats behind one seam: a decoder turns value bytes into a row of the source's
//! schema, an encoder turns output rows into bytes. JSON now; Avro joins through the same
//! traits.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::sql::ast::SqlType;
use crate::value::{Column, Row, Value};

/// Records bigger than this go to the dead-letter output instead of being parsed.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("record of {0} bytes exceeds the {MAX_RECORD_BYTES}-byte limit")]
    Oversize(usize),
    #[error("malformed JSON: {0}")]
    Malformed(String),
    #[error("{0}")]
    WrongType(String),
    #[error("the value is not a JSON object")]
    NotAnObject,
    #[error("the record has no value")]
    Empty,
}

pub trait Decoder: Send {
    /// A row with one value per column of `columns` given at construction; absent fields
    /// are null, as in ksqlDB.
    fn decode(&self, bytes: &[u8]) -> Result<Row, DecodeError>;
}

pub trait Encoder: Send {
    /// Appends the value columns, named, to `out`.
    fn encode_into(&self, names: &[String], values: &[Value], out: &mut Vec<u8>);

    fn encode(&self, names: &[String], values: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(names, values, &mut out);
        out
    }
}

/// JSON objects; field names match columns case-insensitively, as ksqlDB's JSON format does.
pub struct JsonDecoder {
    columns: Vec<Column>,
}

impl JsonDecoder {
    pub fn new(columns: Vec<Column>) -> JsonDecoder {
        JsonDecoder { columns }
    }
}

impl Decoder for JsonDecoder {
    fn decode(&self, bytes: &[u8]) -> Result<Row, DecodeError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(DecodeError::Oversize(bytes.len()));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(DecodeError::Empty);
        }
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let row = RowSeed {
            columns: &self.columns,
        }
        .deserialize(&mut deserializer)
        .map_err(|e| {
            let message = e.to_string();
            match e.classify() {
                serde_json::error::Category::Data if message.starts_with("not-an-object") => {
                    DecodeError::NotAnObject
                }
                serde_json::error::Category::Data => DecodeError::WrongType(message),
                _ => DecodeError::Malformed(message),
            }
        })?;
        deserializer
            .end()
            .map_err(|e| DecodeError::Malformed(e.to_string()))?;
        Ok(row)
    }
}

struct RowSeed<'a> {
    columns: &'a [Column],
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Row;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Row, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Row;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
        let mut row = vec![Value::Null; self.columns.len()];
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match self
                .columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(&key))
            {
                Some(index) => {
                    let column = &self.columns[index];
                    row[index] = map.next_value_seed(TypedSeed(&column.sql_type, &column.name))?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(row)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Row, E> {
        Err(E::custom("not-an-object"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Row, A::Error> {
        Err(de::Error::custom("not-an-object"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Row, E> {
        Err(E::custom("not-an-object"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Row, E> {
        Err(E::custom("not-an-object"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Row, E> {
        Err(E::custom("not-an-object"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Row, E> {
        Err(E::custom("not-an-object"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Row, E> {
        Err(E::custom("not-an-object"))
    }
}

/// One JSON value read as a column type: numbers widen to DOUBLE, anything reads as STRING,
/// and other mismatches are errors naming both types.
struct TypedSeed<'a>(&'a SqlType, &'a str);

impl<'de> DeserializeSeed<'de> for TypedSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl TypedSeed<'_> {
    fn mismatch<E: de::Error>(&self, got: &str) -> E {
        E::custom(format!("field {}: expected {}, got {got}", self.1, self.0))
    }
}

impl<'de> Visitor<'de> for TypedSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {}", self.0)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        match self.0 {
            SqlType::Boolean => Ok(Value::Boolean(b)),
            SqlType::String => Ok(Value::String(b.to_string())),
            _ => Err(self.mismatch("a boolean")),
        }
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        match self.0 {
            SqlType::Int if i32::try_from(i).is_err() => Err(E::custom(format!(
                "field {}: {i} is out of range for INTEGER",
                self.1
            ))),
            SqlType::Int | SqlType::Bigint => Ok(Value::Integer(i)),
            SqlType::Double => Ok(Value::Double(i as f64)),
            SqlType::String => Ok(Value::String(i.to_string())),
            _ => Err(self.mismatch("a number")),
        }
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        match i64::try_from(u) {
            Ok(i) => self.visit_i64(i),
            Err(_) => match self.0 {
                SqlType::Double => Ok(Value::Double(u as f64)),
                SqlType::String => Ok(Value::String(u.to_string())),
                _ => Err(E::custom(format!(
                    "field {}: {u} is out of range for {}",
                    self.1, self.0
                ))),
            },
        }
    }

    fn visit_f64<E: de::Error>(self, d: f64) -> Result<Value, E> {
        match self.0 {
            SqlType::Double => Ok(Value::Double(d)),
            SqlType::String => Ok(Value::String(d.to_string())),
            _ => Err(self.mismatch(&format!("the decimal {d}"))),
        }
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        match self.0 {
            SqlType::String => Ok(Value::String(s.to_string())),
            _ => Err(self.mismatch(&format!("the string {s:?}"))),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let SqlType::Array(inner) = self.0 else {
            return Err(self.mismatch("an array"));
        };
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(TypedSeed(inner, self.1))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if *self.0 == SqlType::String {
            let object: serde_json::Map<String, serde_json::Value> =
                de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(&mut map))?;
            return Ok(Value::String(serde_json::Value::Object(object).to_string()));
        }
        Err(self.mismatch("an object"))
    }
}

pub struct JsonEncoder;

impl Encoder for JsonEncoder {
    fn encode_into(&self, names: &[String], values: &[Value], out: &mut Vec<u8>) {
        write_json_object(out, names, values);
    }
}

/// One value as JSON, written straight into `out`: on the hot path no JSON tree is built.
/// Numbers as serde_json writes them (non-finite doubles as null).
pub fn write_json_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Value::Double(d) if d.is_finite() => {
            out.extend_from_slice(ryu::Buffer::new().format(*d).as_bytes())
        }
        Value::Double(_) => out.extend_from_slice(b"null"),
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_value(out, item);
            }
            out.push(b']');
        }
    }
}

pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Columns as a JSON object in column order.
pub fn write_json_object(out: &mut Vec<u8>, names: &[String], values: &[Value]) {
    out.push(b'{');
    for (i, (name, value)) in names.iter().zip(values).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(out, name);
        out.push(b':');
        write_json_value(out, value);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoder_writes_what_serde_json_would() {
        let names: Vec<String> = ["A", "B\"q", "C", "D", "E", "F"]
            .into_iter()
            .map(String::from)
            .collect();
        let values = vec![
            Value::Integer(-7),
            Value::Double(1.0),
            Value::Double(f64::NAN),
            Value::String("tab\t\u{e9}".into()),
            Value::Array(vec![Value::Null, Value::Boolean(true)]),
            Value::Double(0.1 + 0.2),
        ];
        let direct = JsonEncoder.encode(&names, &values);
        let tree: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .zip(&values)
            .map(|(n, v)| (n.clone(), v.to_json()))
            .collect();
        assert_eq!(
            String::from_utf8(direct).unwrap(),
            serde_json::to_string(&tree).unwrap()
        );
    }

    fn columns() -> Vec<Column> {
        [
            ("ORDER_ID", SqlType::Bigint),
            ("CUSTOMER_ID", SqlType::String),
            ("ORDER_TOTAL", SqlType::Double),
        ]
        .into_iter()
        .map(|(name, sql_type)| Column {
            name: name.into(),
            sql_type,
            key: false,
        })
        .collect()
    }

    #[test]
    fn fields_match_case_insensitively_and_widen() {
        let decoder = JsonDecoder::new(columns());
        let row = decoder
            .decode(br#"{"order_id": 7, "Customer_Id": "c1", "order_total": 12, "extra": [1, {"x": 2}]}"#)
            .unwrap();
        assert_eq!(
            row,
            vec![
                Value::Integer(7),
                Value::String("c1".into()),
                Value::Double(12.0)
            ]
        );
        let partial = decoder.decode(br#"{"order_id": 8}"#).unwrap();
        assert_eq!(partial[1], Value::Null);
    }

    #[test]
    fn bad_records_say_what_is_wrong() {
        let decoder = JsonDecoder::new(columns());
        let wrong = decoder
            .decode(br#"{"order_total": "lots"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            wrong.contains("field ORDER_TOTAL: expected DOUBLE, got the string \"lots\""),
            "{wrong}"
        );
        assert!(matches!(
            decoder.decode(b"{\"order_id\": "),
            Err(DecodeError::Malformed(_))
        ));
        assert_eq!(decoder.decode(b"[1, 2]"), Err(DecodeError::NotAnObject));
        assert_eq!(decoder.decode(b"  "), Err(DecodeError::Empty));
        let big = vec![b' '; MAX_RECORD_BYTES + 1];
        assert_eq!(
            decoder.decode(&big),
            Err(DecodeError::Oversize(MAX_RECORD_BYTES + 1))
        );
    }
}
