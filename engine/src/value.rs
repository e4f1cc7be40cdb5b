//! Values and rows as the operators see them.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::decimal::Decimal;
use crate::sql::ast::SqlType;

/// Text values: most keys and short strings fit inline, sparing an allocation per value.
pub type Text = compact_str::CompactString;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Null,
    Boolean(bool),
    /// INT and BIGINT alike; the column's type says which.
    Integer(i64),
    Double(f64),
    String(Text),
    Array(Vec<Value>),
    // The variants below were added after snapshots of version 2 were written: new ones go
    // at the end, so that the tags of the old ones stay as they were.
    /// Boxed: an i128 would double the size of every value on the hot path.
    Decimal(Box<Decimal>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Milliseconds since midnight.
    Time(i32),
    /// Milliseconds since the epoch.
    Timestamp(i64),
    Bytes(Vec<u8>),
    /// Entries in the order read or built; keys are unique.
    Map(Vec<(Text, Value)>),
    /// Fields by name, in the struct type's order.
    Struct(Vec<(Text, Value)>),
}

/// The instant a DATE stands for (its midnight, UTC), for comparing it with a TIMESTAMP.
const DAY_MILLIS: i64 = 86_400_000;

/// Bytes as ksqlDB writes them in JSON and text: base64.
pub fn base64_text(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn base64_bytes(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Copies the value over `slot`, reusing the slot's string where both are strings (a
    /// short string is then copied as one word triple, a long one into the slot's heap
    /// buffer).
    #[inline(always)]
    pub fn assign_to(&self, slot: &mut Value) {
        match (self, &mut *slot) {
            (Value::String(text), Value::String(held)) => held.clone_from(text),
            (value, slot) => *slot = value.clone(),
        }
    }

    /// Overwrites the value. When the value held is a scalar (no heap part), nothing is
    /// dropped: with the heap-holding types added, the drop glue is a call the JSON scanner
    /// would otherwise make for every value it reads.
    #[inline(always)]
    pub fn put(&mut self, value: Value) {
        match self {
            Value::Null
            | Value::Boolean(_)
            | Value::Integer(_)
            | Value::Double(_)
            | Value::Date(_)
            | Value::Time(_)
            | Value::Timestamp(_) => std::mem::forget(std::mem::replace(self, value)),
            _ => *self = value,
        }
    }

    /// Makes the value this string, refilling the string it holds in place if it holds one:
    /// building a new value and moving it in stalls on store forwarding in hot loops.
    #[inline]
    pub fn set_text(&mut self, text: &str) {
        match self {
            Value::String(held) => {
                held.clear();
                held.push_str(text);
            }
            other => other.put(Value::String(Text::from(text))),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Integer(i) => Some(*i as f64),
            Value::Double(d) => Some(*d),
            Value::Decimal(d) => Some(d.to_f64()),
            _ => None,
        }
    }

    /// SQL ordering; `None` when either side is null or the types do not compare.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Integer(a), Value::Integer(b)) => Some(a.cmp(b)),
            (Value::Boolean(a), Value::Boolean(b)) => Some(a.cmp(b)),
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            (Value::Double(_), _) | (_, Value::Double(_)) | (Value::Integer(_), _) => {
                match (self, other) {
                    (Value::Integer(a), Value::Decimal(b)) => {
                        Some(Decimal::from_integer(*a).compare(b))
                    }
                    (a, b) => a.as_f64()?.partial_cmp(&b.as_f64()?),
                }
            }
            (a, b) => a.compare_other(b),
        }
    }

    /// `compare` for the types the hot path does not meet (kept out of line).
    #[inline(never)]
    fn compare_other(&self, other: &Value) -> Option<Ordering> {
        use crate::datetime::{parse_date_text, parse_time_text, parse_timestamp_text};
        Some(match (self, other) {
            (Value::Decimal(a), Value::Decimal(b)) => a.compare(b),
            (Value::Decimal(a), Value::Integer(b)) => a.compare(&Decimal::from_integer(*b)),
            (Value::Date(a), Value::Date(b)) | (Value::Time(a), Value::Time(b)) => a.cmp(b),
            (Value::Timestamp(a), Value::Timestamp(b)) => a.cmp(b),
            // ksqlDB compares a DATE with a TIMESTAMP as the instant of its midnight, and a
            // time type with a STRING as the string read as that type.
            (Value::Date(a), Value::Timestamp(b)) => (i64::from(*a) * DAY_MILLIS).cmp(b),
            (Value::Timestamp(a), Value::Date(b)) => a.cmp(&(i64::from(*b) * DAY_MILLIS)),
            (Value::Date(a), Value::String(b)) => a.cmp(&parse_date_text(b)?),
            (Value::String(a), Value::Date(b)) => parse_date_text(a)?.cmp(b),
            (Value::Time(a), Value::String(b)) => a.cmp(&parse_time_text(b)?),
            (Value::String(a), Value::Time(b)) => parse_time_text(a)?.cmp(b),
            (Value::Timestamp(a), Value::String(b)) => a.cmp(&parse_timestamp_text(b)?),
            (Value::String(a), Value::Timestamp(b)) => parse_timestamp_text(a)?.cmp(b),
            (Value::Bytes(a), Value::Bytes(b)) => a.cmp(b),
            // Collections compare for equality only.
            (Value::Array(_), Value::Array(_))
            | (Value::Map(_), Value::Map(_))
            | (Value::Struct(_), Value::Struct(_)) => {
                if self == other {
                    Ordering::Equal
                } else {
                    return None;
                }
            }
            (a, b) => a.as_f64()?.partial_cmp(&b.as_f64()?)?,
        })
    }

    /// The value as JSON, the way ksqlDB writes it.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Boolean(b) => serde_json::Value::Bool(*b),
            Value::Integer(i) => serde_json::Value::from(*i),
            // ksqlDB writes a non-finite double as the string "NaN", "Infinity" or "-Infinity".
            Value::Double(d) => serde_json::Number::from_f64(*d)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| {
                    serde_json::Value::String(
                        if d.is_nan() {
                            "NaN"
                        } else if *d > 0.0 {
                            "Infinity"
                        } else {
                            "-Infinity"
                        }
                        .into(),
                    )
                }),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Decimal(d) => serde_json::Number::from_f64(d.to_f64())
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Date(days) => serde_json::Value::from(*days),
            Value::Time(millis) => serde_json::Value::from(*millis),
            Value::Timestamp(millis) => serde_json::Value::from(*millis),
            Value::Bytes(bytes) => serde_json::Value::String(base64_text(bytes)),
            Value::Map(entries) | Value::Struct(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// A stable byte form for grouping and de-duplication (not a wire format). Lengths
    /// are LEB128, one byte below 128, so that a short string key and a window start fit
    /// a state key inline.
    pub fn write_key(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.push(0),
            Value::Boolean(b) => out.extend_from_slice(&[1, u8::from(*b)]),
            Value::Integer(i) => {
                out.push(2);
                out.extend_from_slice(&i.to_be_bytes());
            }
            Value::Double(d) => {
                out.push(3);
                out.extend_from_slice(&d.to_bits().to_be_bytes());
            }
            Value::String(s) => {
                out.push(4);
                write_length(out, s.len());
                out.extend_from_slice(s.as_bytes());
            }
            Value::Array(items) => {
                out.push(5);
                write_length(out, items.len());
                for item in items {
                    item.write_key(out);
                }
            }
            Value::Decimal(d) => {
                out.push(6);
                out.extend_from_slice(&d.unscaled.to_be_bytes());
                out.extend_from_slice(&[d.precision, d.scale]);
            }
            Value::Date(days) => {
                out.push(7);
                out.extend_from_slice(&days.to_be_bytes());
            }
            Value::Time(millis) => {
                out.push(8);
                out.extend_from_slice(&millis.to_be_bytes());
            }
            Value::Timestamp(millis) => {
                out.push(9);
                out.extend_from_slice(&millis.to_be_bytes());
            }
            Value::Bytes(bytes) => {
                out.push(10);
                write_length(out, bytes.len());
                out.extend_from_slice(bytes);
            }
            Value::Map(entries) | Value::Struct(entries) => {
                out.push(if matches!(self, Value::Map(_)) {
                    11
                } else {
                    12
                });
                write_length(out, entries.len());
                for (name, value) in entries {
                    write_length(out, name.len());
                    out.extend_from_slice(name.as_bytes());
                    value.write_key(out);
                }
            }
        }
    }

    /// Reads one value written by `write_key` off the front of `bytes`.
    pub fn read_key(bytes: &mut &[u8]) -> Option<Value> {
        read_key_with(bytes, read_length)
    }

    /// Reads one value in the key form of snapshot version 1 (four-byte big-endian
    /// lengths), to bring old snapshots forward.
    pub fn read_key_v1(bytes: &mut &[u8]) -> Option<Value> {
        fn length(bytes: &mut &[u8]) -> Option<usize> {
            let raw: [u8; 4] = take(bytes, 4)?.try_into().ok()?;
            usize::try_from(u32::from_be_bytes(raw)).ok()
        }
        read_key_with(bytes, length)
    }
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = bytes.split_at_checked(n)?;
    *bytes = rest;
    Some(head)
}

fn write_length(out: &mut Vec<u8>, mut length: usize) {
    while length >= 0x80 {
        out.push((length as u8) | 0x80);
        length >>= 7;
    }
    out.push(length as u8);
}

fn read_length(bytes: &mut &[u8]) -> Option<usize> {
    let mut length = 0usize;
    for shift in (0..64).step_by(7) {
        let byte = *take(bytes, 1)?.first()?;
        length |= usize::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(length);
        }
    }
    None
}

fn read_key_with(bytes: &mut &[u8], length: fn(&mut &[u8]) -> Option<usize>) -> Option<Value> {
    fn eight(bytes: &mut &[u8]) -> Option<[u8; 8]> {
        take(bytes, 8)?.try_into().ok()
    }
    let tag = *take(bytes, 1)?.first()?;
    Some(match tag {
        0 => Value::Null,
        1 => Value::Boolean(take(bytes, 1)?[0] != 0),
        2 => Value::Integer(i64::from_be_bytes(eight(bytes)?)),
        3 => Value::Double(f64::from_bits(u64::from_be_bytes(eight(bytes)?))),
        4 => {
            let len = length(bytes)?;
            Value::String(Text::from_utf8(take(bytes, len)?).ok()?)
        }
        5 => {
            let len = length(bytes)?;
            let mut items = Vec::with_capacity(len.min(1024));
            for _ in 0..len {
                items.push(read_key_with(bytes, length)?);
            }
            Value::Array(items)
        }
        6 => {
            let unscaled = i128::from_be_bytes(take(bytes, 16)?.try_into().ok()?);
            let [precision, scale] = take(bytes, 2)?.try_into().ok()?;
            Value::Decimal(Box::new(Decimal {
                unscaled,
                precision,
                scale,
            }))
        }
        7 => Value::Date(i32::from_be_bytes(take(bytes, 4)?.try_into().ok()?)),
        8 => Value::Time(i32::from_be_bytes(take(bytes, 4)?.try_into().ok()?)),
        9 => Value::Timestamp(i64::from_be_bytes(eight(bytes)?)),
        10 => {
            let len = length(bytes)?;
            Value::Bytes(take(bytes, len)?.to_vec())
        }
        11 | 12 => {
            let len = length(bytes)?;
            let mut entries = Vec::with_capacity(len.min(1024));
            for _ in 0..len {
                let name_len = length(bytes)?;
                let name = Text::from_utf8(take(bytes, name_len)?).ok()?;
                entries.push((name, read_key_with(bytes, length)?));
            }
            if tag == 11 {
                Value::Map(entries)
            } else {
                Value::Struct(entries)
            }
        }
        _ => return None,
    })
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::String(s) => write!(f, "{s}"),
            Value::Array(items) => {
                write!(f, "[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
            // As ksqlDB casts them to STRING.
            Value::Decimal(d) => write!(f, "{d}"),
            Value::Date(days) => f.write_str(&crate::datetime::date_text(*days)),
            Value::Time(millis) => f.write_str(&crate::datetime::time_text(*millis)),
            Value::Timestamp(millis) => f.write_str(&crate::datetime::timestamp_text(*millis)),
            Value::Bytes(bytes) => f.write_str(&base64_text(bytes)),
            // Java's Map.toString and Connect's Struct.toString.
            Value::Map(entries) | Value::Struct(entries) => {
                let is_struct = matches!(self, Value::Struct(_));
                f.write_str(if is_struct { "Struct{" } else { "{" })?;
                for (i, (name, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(if is_struct { "," } else { ", " })?;
                    }
                    write!(f, "{name}={value}")?;
                }
                f.write_str("}")
            }
        }
    }
}

pub type Row = Vec<Value>;

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub sql_type: SqlType,
    pub key: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Schema {
    pub columns: Vec<Column>,
}

impl Schema {
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub fn value_columns(&self) -> impl Iterator<Item = (usize, &Column)> {
        self.columns.iter().enumerate().filter(|(_, c)| !c.key)
    }

    pub fn key_columns(&self) -> impl Iterator<Item = (usize, &Column)> {
        self.columns.iter().enumerate().filter(|(_, c)| c.key)
    }
}

#[cfg(test)]
mod key_tests {
    use super::Value;

    #[test]
    fn key_bytes_read_back_to_the_values_written() {
        let values = vec![
            Value::Null,
            Value::Boolean(true),
            Value::Integer(-42),
            Value::Double(2.5),
            Value::String("cust_7".into()),
            Value::Array(vec![Value::Integer(1), Value::String("a".into())]),
            Value::Decimal(Box::new(crate::decimal::Decimal::parse("-10.25").unwrap())),
            Value::Date(-3),
            Value::Time(5000),
            Value::Timestamp(1_709_640_000_000),
            Value::Bytes(vec![0, 255, 7]),
            Value::Map(vec![("k".into(), Value::Integer(2))]),
            Value::Struct(vec![
                ("F".into(), Value::Null),
                ("G".into(), Value::Date(1)),
            ]),
        ];
        let mut bytes = Vec::new();
        for value in &values {
            value.write_key(&mut bytes);
        }
        bytes.extend(7i64.to_be_bytes());
        let mut rest = bytes.as_slice();
        for value in &values {
            assert_eq!(Value::read_key(&mut rest).as_ref(), Some(value));
        }
        assert_eq!(rest, 7i64.to_be_bytes());
        assert_eq!(Value::read_key(&mut &[4u8, 9, b'x'][..]), None);
        let long = Value::String("x".repeat(300).into());
        let mut bytes = Vec::new();
        long.write_key(&mut bytes);
        assert_eq!(bytes.len(), 1 + 2 + 300);
        assert_eq!(Value::read_key(&mut bytes.as_slice()), Some(long));
        // "cust_123456" and a window start make 21 bytes: an inline state key.
        let mut bytes = Vec::new();
        Value::String("cust_123456".into()).write_key(&mut bytes);
        assert_eq!(bytes.len() + 8, 21);
    }

    #[test]
    fn values_stay_four_words_wide() {
        // Every row and state slot holds values: the types added after the first six (a
        // string and an array already make it 32 bytes) must not make them wider.
        assert_eq!(std::mem::size_of::<Value>(), 32);
    }

    #[test]
    fn version_1_keys_still_read() {
        let v1 = [4u8, 0, 0, 0, 2, b'h', b'i', 2, 0, 0, 0, 0, 0, 0, 0, 5];
        let mut rest = &v1[..];
        assert_eq!(
            Value::read_key_v1(&mut rest),
            Some(Value::String("hi".into()))
        );
        assert_eq!(Value::read_key_v1(&mut rest), Some(Value::Integer(5)));
        assert!(rest.is_empty());
    }
}
