//! The KAFKA format: one column serialized as Kafka's own serializers do (STRING as UTF-8,
//! INT as 4 bytes and BIGINT and DOUBLE as 8 bytes, big-endian). It has no names, so it
//! carries exactly one column, and no BOOLEAN.

use super::{DecodeError, Decoder, EncodeError, Encoder, MAX_RECORD_BYTES};
use crate::cause::Cause;
use crate::sql::ast::SqlType;
use crate::value::{Column, Value};

/// The bytes of one KAFKA-format column as a value of its type.
pub fn read(bytes: &[u8], sql_type: &SqlType) -> Result<Value, DecodeError> {
    let fixed = |n: usize| -> Result<[u8; 8], DecodeError> {
        if bytes.len() != n {
            return Err(DecodeError::WrongType(
                format!(
                    "the record has {} bytes; a KAFKA {sql_type} has {n}",
                    bytes.len()
                ),
                None,
            ));
        }
        let mut buffer = [0u8; 8];
        buffer[8 - n..].copy_from_slice(bytes);
        Ok(buffer)
    };
    Ok(match sql_type {
        SqlType::String => Value::String(
            std::str::from_utf8(bytes)
                .map_err(|e| {
                    DecodeError::MalformedText(
                        "KAFKA",
                        format!("not UTF-8 text: {e}"),
                        Some(Cause::new(e)),
                    )
                })?
                .into(),
        ),
        SqlType::Bigint => Value::Integer(i64::from_be_bytes(fixed(8)?)),
        SqlType::Int => {
            let word = fixed(4)?;
            Value::Integer(i64::from(i32::from_be_bytes([
                word[4], word[5], word[6], word[7],
            ])))
        }
        SqlType::Double => Value::Double(f64::from_be_bytes(fixed(8)?)),
        SqlType::Bytes => Value::Bytes(bytes.to_vec()),
        other => {
            return Err(DecodeError::WrongType(
                format!("The 'KAFKA' format does not support type '{other}'"),
                None,
            ))
        }
    })
}

/// Appends one value in the KAFKA format; false for a NULL (no bytes at all).
pub fn write(value: &Value, sql_type: &SqlType, out: &mut Vec<u8>) -> bool {
    match (value, sql_type) {
        (Value::Null, _) => return false,
        (Value::String(s), _) => out.extend_from_slice(s.as_bytes()),
        (Value::Integer(i), SqlType::Int) => out.extend_from_slice(&(*i as i32).to_be_bytes()),
        (Value::Integer(i), SqlType::Double) => out.extend_from_slice(&(*i as f64).to_be_bytes()),
        (Value::Integer(i), _) => out.extend_from_slice(&i.to_be_bytes()),
        (Value::Double(d), _) => out.extend_from_slice(&d.to_be_bytes()),
        (Value::Boolean(b), _) => out.push(u8::from(*b)),
        (Value::Bytes(bytes), _) => out.extend_from_slice(bytes),
        // The format check refuses these column types; a value of them is written as text.
        (_, _) => out.extend_from_slice(value.to_string().as_bytes()),
    }
    true
}

/// A value of one column in the KAFKA format.
pub struct KafkaDecoder {
    column: Column,
    place: usize,
    width: usize,
}

impl KafkaDecoder {
    pub fn new(place: usize, column: Column, width: usize) -> KafkaDecoder {
        KafkaDecoder {
            column,
            place,
            width,
        }
    }
}

impl Decoder for KafkaDecoder {
    fn decode_into(&self, bytes: &[u8], row: &mut [Value]) -> Result<(), DecodeError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(DecodeError::Oversize(bytes.len()));
        }
        row[self.place] = read(bytes, &self.column.sql_type)?;
        Ok(())
    }

    fn width(&self) -> usize {
        self.width
    }
}

pub struct KafkaEncoder {
    sql_type: SqlType,
}

impl KafkaEncoder {
    pub fn new(sql_type: SqlType) -> KafkaEncoder {
        KafkaEncoder { sql_type }
    }
}

impl Encoder for KafkaEncoder {
    fn encode_into(&self, values: &[Value], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if let Some(value) = values.first() {
            write(value, &self.sql_type, out);
        }
        Ok(())
    }
}
