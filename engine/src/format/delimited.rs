//! The DELIMITED format: one record a line of fields split by a delimiter (a comma unless
//! VALUE_DELIMITER or KEY_DELIMITER says otherwise), read and written as ksqlDB's
//! KsqlDelimitedDeserializer and KsqlDelimitedSerializer do through Apache Commons CSV's
//! default format: fields may be quoted with `"` (a quote inside doubled), an empty field is
//! NULL, and the field count must equal the column count.

use super::{java_double, DecodeError, Decoder, EncodeError, Encoder, MAX_RECORD_BYTES};
use crate::cause::Cause;
use crate::sql::ast::SqlType;
use crate::value::{Column, Value};

pub struct DelimitedDecoder {
    /// Each field's column and its place in the row.
    columns: Vec<(usize, Column)>,
    width: usize,
    delimiter: char,
}

impl DelimitedDecoder {
    pub fn new(columns: Vec<(usize, Column)>, width: usize, delimiter: char) -> DelimitedDecoder {
        DelimitedDecoder {
            columns,
            width,
            delimiter,
        }
    }
}

/// Splits one CSV record into its fields; `None` for a field written empty.
pub fn split_fields(text: &str, delimiter: char) -> Result<Vec<String>, DecodeError> {
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => {
                        return Err(DecodeError::MalformedText(
                            "DELIMITED",
                            "a quoted field is not closed".into(),
                            None,
                        ))
                    }
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(c) if c == delimiter => fields.push(field),
                Some(c) => {
                    return Err(DecodeError::MalformedText(
                        "DELIMITED",
                        format!("a quoted field is followed by {c:?}, not the delimiter"),
                        None,
                    ))
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(c) if c == delimiter => break,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

/// One field's text as its column's type, as ksqlDB's parsers read it (Java's
/// `Integer.parseInt`, `Long.parseLong`, `Double.parseDouble`, `Boolean.parseBoolean`).
fn parse_field(text: &str, column: &Column) -> Result<Value, DecodeError> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    let message = || {
        format!(
            "field {}: {text:?} is not a valid {}",
            column.name, column.sql_type
        )
    };
    let bad = || DecodeError::WrongType(message(), None);
    // A number's parse error is the cause, as Java's NumberFormatException is ksqlDB's.
    let unparsed =
        |e: std::num::ParseIntError| DecodeError::WrongType(message(), Some(Cause::new(e)));
    Ok(match &column.sql_type {
        SqlType::String => Value::String(text.into()),
        SqlType::Int => Value::Integer(i64::from(text.parse::<i32>().map_err(unparsed)?)),
        SqlType::Bigint => Value::Integer(text.parse::<i64>().map_err(unparsed)?),
        SqlType::Double => Value::Double(
            text.trim()
                .parse::<f64>()
                .map_err(|e| DecodeError::WrongType(message(), Some(Cause::new(e))))?,
        ),
        // Java's Boolean.parseBoolean: "true" in any case, anything else is false.
        SqlType::Boolean => Value::Boolean(text.eq_ignore_ascii_case("true")),
        // ksqlDB's DELIMITED holds DECIMAL as its digits, DATE as days, TIME and TIMESTAMP
        // as milliseconds and BYTES as base64.
        SqlType::Decimal { precision, scale } => Value::Decimal(Box::new(
            crate::decimal::Decimal::parse(text)
                .and_then(|d| d.fit(*precision, *scale))
                .map_err(|e| {
                    DecodeError::WrongType(
                        format!("field {}: {e}", column.name),
                        Some(Cause::new(e)),
                    )
                })?,
        )),
        SqlType::Date => Value::Date(text.parse::<i32>().map_err(unparsed)?),
        SqlType::Time => Value::Time(text.parse::<i32>().map_err(unparsed)?),
        SqlType::Timestamp => Value::Timestamp(text.parse::<i64>().map_err(unparsed)?),
        SqlType::Bytes => Value::Bytes(crate::value::base64_bytes(text).ok_or_else(bad)?),
        SqlType::Array(_) | SqlType::Map(_) | SqlType::Struct(_) => {
            return Err(DecodeError::WrongType(
                format!(
                    "the DELIMITED format does not support type {}, column {}",
                    column.sql_type, column.name
                ),
                None,
            ))
        }
    })
}

impl Decoder for DelimitedDecoder {
    fn decode_into(&self, bytes: &[u8], row: &mut [Value]) -> Result<(), DecodeError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(DecodeError::Oversize(bytes.len()));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            DecodeError::MalformedText(
                "DELIMITED",
                format!("not UTF-8 text: {e}"),
                Some(Cause::new(e)),
            )
        })?;
        let fields = split_fields(text, self.delimiter)?;
        if fields.len() != self.columns.len() {
            return Err(DecodeError::WrongType(
                format!(
                    "Column count mismatch on deserialization: expected {} fields, got {}",
                    self.columns.len(),
                    fields.len()
                ),
                None,
            ));
        }
        for ((place, column), field) in self.columns.iter().zip(&fields) {
            row[*place] = parse_field(field, column)?;
        }
        Ok(())
    }

    fn width(&self) -> usize {
        self.width
    }
}

pub struct DelimitedEncoder {
    delimiter: char,
}

impl DelimitedEncoder {
    pub fn new(delimiter: char) -> DelimitedEncoder {
        DelimitedEncoder { delimiter }
    }
}

/// Appends a field as Commons CSV 1.4's minimal quoting (ksqlDB's) writes it: quoted when
/// it holds the delimiter, a quote or a line break, starts with a character at or below `#`
/// (or, first in the record, with anything but an ASCII letter or digit: `"-1",a`), ends
/// with one at or below a space, or is an empty first field. Numbers are printed the same
/// way, from their text.
fn write_field(out: &mut Vec<u8>, text: &str, delimiter: char, first: bool) {
    let quote = match (text.chars().next(), text.chars().last()) {
        (None, _) => first,
        (Some(start), Some(end)) => {
            start <= '#'
                || (first && !start.is_ascii_alphanumeric())
                || end <= ' '
                || text
                    .chars()
                    .any(|c| c == delimiter || c == '"' || c == '\n' || c == '\r')
        }
        _ => false,
    };
    if quote {
        out.push(b'"');
        for c in text.chars() {
            if c == '"' {
                out.push(b'"');
            }
            let mut buffer = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

impl Encoder for DelimitedEncoder {
    fn encode_into(&self, values: &[Value], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                let mut buffer = [0u8; 4];
                out.extend_from_slice(self.delimiter.encode_utf8(&mut buffer).as_bytes());
            }
            match value {
                // Commons CSV prints a null as nothing, unquoted.
                Value::Null => {}
                Value::String(s) => write_field(out, s, self.delimiter, i == 0),
                Value::Integer(n) if i == 0 && *n < 0 => {
                    write_field(out, &n.to_string(), self.delimiter, true)
                }
                Value::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
                Value::Double(d) if i == 0 => {
                    write_field(out, &java_double(*d), self.delimiter, true)
                }
                Value::Double(d) => out.extend_from_slice(java_double(*d).as_bytes()),
                Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                Value::Date(n) | Value::Time(n) => out.extend_from_slice(n.to_string().as_bytes()),
                Value::Timestamp(n) => out.extend_from_slice(n.to_string().as_bytes()),
                Value::Decimal(_)
                | Value::Bytes(_)
                | Value::Array(_)
                | Value::Map(_)
                | Value::Struct(_) => write_field(out, &value.to_string(), self.delimiter, i == 0),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, sql_type: SqlType) -> Column {
        Column {
            name: name.into(),
            sql_type,
            key: false,
        }
    }

    #[test]
    fn fields_read_and_write_as_commons_csv_does() {
        assert_eq!(split_fields("a,b,,c", ',').unwrap(), ["a", "b", "", "c"]);
        assert_eq!(
            split_fields("\"x,y\",\"say \"\"hi\"\"\",z", ',').unwrap(),
            ["x,y", "say \"hi\"", "z"]
        );
        assert_eq!(split_fields("1|2", '|').unwrap(), ["1", "2"]);
        assert!(split_fields("\"open", ',').is_err());
        let encoder = DelimitedEncoder::new(',');
        let out = encoder
            .encode(&[
                Value::String("plain".into()),
                Value::String("x,y".into()),
                Value::Null,
                Value::Integer(-4),
                Value::Double(1.0),
                Value::String("#tag".into()),
                Value::Boolean(true),
            ])
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "plain,\"x,y\",,-4,1.0,\"#tag\",true"
        );
        // Commons CSV 1.4 quotes a first field that starts with neither letter nor digit.
        let first = encoder
            .encode(&[Value::Integer(-1), Value::String("a".into())])
            .unwrap();
        assert_eq!(String::from_utf8(first).unwrap(), "\"-1\",a");
        let first = encoder
            .encode(&[Value::String("_x".into()), Value::Integer(-2)])
            .unwrap();
        assert_eq!(String::from_utf8(first).unwrap(), "\"_x\",-2");
    }

    /// A broken DELIMITED record says it is DELIMITED, not JSON, and why.
    #[test]
    fn malformed_records_name_their_format() {
        let columns = vec![(0, column("A", SqlType::String))];
        let decoder = DelimitedDecoder::new(columns, 1, ',');
        for (record, expected) in [
            (
                b"\"open".as_slice(),
                "malformed DELIMITED: a quoted field is not closed",
            ),
            (
                b"\"a\"b",
                "malformed DELIMITED: a quoted field is followed by 'b', not the delimiter",
            ),
        ] {
            let error = decoder.decode(record).unwrap_err();
            assert_eq!(error.to_string(), expected);
        }
        let error = decoder.decode(&[0xff]).unwrap_err().to_string();
        assert!(
            error.starts_with("malformed DELIMITED: not UTF-8 text"),
            "{error}"
        );
    }

    #[test]
    fn fields_take_their_column_types() {
        let columns = vec![
            (0, column("ID", SqlType::Bigint)),
            (1, column("NAME", SqlType::String)),
            (2, column("OK", SqlType::Boolean)),
            (3, column("SCORE", SqlType::Double)),
        ];
        let decoder = DelimitedDecoder::new(columns, 4, ',');
        let row = decoder.decode(b"120,bob,TRUE,2.5").unwrap();
        assert_eq!(
            row,
            [
                Value::Integer(120),
                Value::String("bob".into()),
                Value::Boolean(true),
                Value::Double(2.5)
            ]
        );
        let row = decoder.decode(b",,,").unwrap();
        assert!(row.iter().all(Value::is_null), "empty fields are null");
        assert!(decoder.decode(b"1,2").is_err(), "too few fields");
        assert!(decoder.decode(b"x,bob,true,1").is_err(), "not a BIGINT");
    }
}
