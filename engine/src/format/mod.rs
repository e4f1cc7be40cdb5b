//! Record formats behind one seam, chosen by name for keys and values alike: a decoder turns
//! bytes into columns of a row, an encoder turns columns into bytes. JSON, DELIMITED and
//! KAFKA as ksqlDB defines them, and AVRO through a Schema Registry (the `avro` feature,
//! part of `runtime`).

#[cfg(feature = "avro")]
pub mod avro;
pub mod delimited;
pub mod json;
pub mod kafka;
pub mod registry;

pub use registry::{Codecs, RegistryError, SchemaRegistry};

pub use json::{
    write_json_object, write_json_string, write_json_value, JsonBuf, JsonDecoder, JsonEncoder,
    JsonFields, JsonValueDecoder, JsonValueEncoder,
};

use crate::cause::Cause;
use crate::sql::ast::{Literal, Properties, SqlType};
use crate::value::{Column, Row, Schema, Value};

/// Records bigger than this go to the dead-letter output instead of being parsed.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// Why a record does not decode. The error a format got from below (serde_json's,
/// apache-avro's, the Schema Registry's, a number's parse error) is kept as the source, for
/// the processing log's `cause`; the message says it too, as ksqlDB's "Failed to
/// deserialize value from topic: T. <the cause's message>" does.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("record of {0} bytes exceeds the {MAX_RECORD_BYTES}-byte limit")]
    Oversize(usize),
    #[error("malformed JSON: {0}")]
    Malformed(String, #[source] Option<Cause>),
    /// A DELIMITED or KAFKA record that cannot be read as its format: the format, and why.
    #[error("malformed {0}: {1}")]
    MalformedText(&'static str, String, #[source] Option<Cause>),
    #[error("{0}")]
    WrongType(String, #[source] Option<Cause>),
    #[error("the value is not a JSON object")]
    NotAnObject,
    #[error("the record has no value")]
    Empty,
    #[error("malformed Avro: {0}")]
    Avro(String, #[source] Option<Cause>),
    /// The record's schema cannot be had from the Schema Registry.
    #[error("{0}")]
    Registry(String, #[source] Option<Cause>),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    #[error("the output schema is not valid Avro: {0}")]
    Schema(String),
    #[error("cannot register the output schema under subject {subject}: {reason}")]
    Register { subject: String, reason: String },
    #[error("the AVRO format needs a Schema Registry: start the engine with --schema-registry-url (ksqlDB's ksql.schema.registry.url)")]
    NoRegistry,
    /// One row cannot be written in the output's format (ksqlDB's SERIALIZATION_ERROR).
    #[error("the row does not fit the output schema of subject {subject}: {reason}")]
    Row { subject: String, reason: String },
}

pub trait Decoder: Send {
    /// Fills the decoder's columns at their places in `row` (absent fields are null, as in
    /// ksqlDB); other places are left alone, so one row buffer serves every record.
    fn decode_into(&self, bytes: &[u8], row: &mut [Value]) -> Result<(), DecodeError>;

    /// How wide a row `decode_into` expects.
    fn width(&self) -> usize;

    fn decode(&self, bytes: &[u8]) -> Result<Row, DecodeError> {
        let mut row = vec![Value::Null; self.width()];
        self.decode_into(bytes, &mut row)?;
        Ok(row)
    }
}

pub trait Encoder: Send {
    /// Gets ready to write (AVRO registers its schema), so that a refusal fails the
    /// statement that creates the output rather than its records.
    fn prepare(&self) -> Result<(), EncodeError> {
        Ok(())
    }

    /// Appends the value columns (those named at construction, in order) to `out`; on an
    /// error `out` is as it was.
    fn encode_into(&self, values: &[Value], out: &mut Vec<u8>) -> Result<(), EncodeError>;

    /// Whether these values are written as no record value at all: a single AVRO column
    /// written bare that is null, for which ksqlDB's serializer gives a null.
    fn is_absent(&self, _values: &[Value]) -> bool {
        false
    }

    fn encode(&self, values: &[Value]) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(values, &mut out)?;
        Ok(out)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatError {
    #[error("{which} '{name}' is not supported by advisor-engine yet; it reads JSON, DELIMITED, KAFKA and AVRO")]
    Unsupported { which: &'static str, name: String },
    #[error("Cannot supply both 'FORMAT' and '{0}' properties, as 'FORMAT' sets both key and value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and 'VALUE_FORMAT'.")]
    FormatTwice(&'static str),
    #[error(
        "Invalid delimiter value: '{0}'. Delimiter must be a single character or TAB or SPACE"
    )]
    Delimiter(String),
    #[error("'{property}' can only be used with DELIMITED format; the format is {format}")]
    DelimiterWithout {
        property: &'static str,
        format: &'static str,
    },
    #[error(
        "'WRAP_SINGLE_VALUE' can not be used with format '{0}' as it does not support wrapping"
    )]
    NoWrapping(&'static str),
    #[error("'WRAP_SINGLE_VALUE' is only valid for single-field value schemas")]
    WrapWithManyColumns,
    #[error("Key format does not support schema.\nformat: {format}\nschema: Persistence{{columns=[{columns}], features=[]}}\nreason: The '{format}' format only supports a single field. Got: [{columns}]")]
    KeyColumns {
        format: &'static str,
        columns: String,
    },
    #[error("Value format does not support schema.\nformat: KAFKA\nreason: The 'KAFKA' format only supports a single field. Got: [{0}]")]
    ValueColumns(String),
    #[error("The '{format}' format does not support type '{sql_type}'")]
    Type {
        format: &'static str,
        sql_type: SqlType,
    },
}

/// A serialization format, as a WITH clause names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    /// DELIMITED with its delimiter.
    Delimited(char),
    Kafka,
    /// AVRO in Confluent's wire format, with schemas in a Schema Registry.
    Avro,
    /// NONE: the part of the record is not read (a stream without key columns).
    None,
}

impl Format {
    /// The format a name gives, with a DELIMITED delimiter when one is set.
    pub fn named(
        name: &str,
        which: &'static str,
        delimiter: Option<char>,
    ) -> Result<Format, FormatError> {
        Ok(match name.to_ascii_uppercase().as_str() {
            "JSON" => Format::Json,
            "DELIMITED" => Format::Delimited(delimiter.unwrap_or(',')),
            "KAFKA" => Format::Kafka,
            "AVRO" => Format::Avro,
            "NONE" => Format::None,
            _ => {
                return Err(FormatError::Unsupported {
                    which,
                    name: name.to_string(),
                })
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Delimited(_) => "DELIMITED",
            Format::Kafka => "KAFKA",
            Format::Avro => "AVRO",
            Format::None => "NONE",
        }
    }

    /// Whether the format can carry several columns (JSON objects, DELIMITED fields, Avro
    /// records).
    fn carries_many(self) -> bool {
        matches!(self, Format::Json | Format::Delimited(_) | Format::Avro)
    }

    /// Checks a schema's columns against what the format can carry.
    fn check(self, columns: &[&Column]) -> Result<(), FormatError> {
        for column in columns {
            let unsupported = match self {
                Format::Kafka => !matches!(
                    column.sql_type,
                    SqlType::String
                        | SqlType::Int
                        | SqlType::Bigint
                        | SqlType::Double
                        | SqlType::Bytes
                ),
                Format::Delimited(_) => matches!(
                    column.sql_type,
                    SqlType::Array(_) | SqlType::Map(_) | SqlType::Struct(_)
                ),
                Format::Json | Format::Avro | Format::None => false,
            };
            if unsupported {
                return Err(FormatError::Type {
                    format: self.name(),
                    sql_type: column.sql_type.clone(),
                });
            }
        }
        Ok(())
    }
}

/// The columns of a registered Avro schema, as ksqlDB infers them for a source declared
/// without columns (see `avro::inferred_columns`).
pub fn inferred_columns(schema: &str, key: bool) -> Result<Vec<(String, SqlType)>, String> {
    #[cfg(feature = "avro")]
    return avro::inferred_columns(schema, key);
    #[cfg(not(feature = "avro"))]
    {
        let _ = (schema, key);
        Err("reading Avro schemas needs the engine's avro feature".into())
    }
}

/// A delimiter as VALUE_DELIMITER or KEY_DELIMITER give it: one character, or TAB or SPACE.
fn delimiter(text: &str) -> Result<char, FormatError> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if !c.is_whitespace() => Ok(c),
        _ if text.eq_ignore_ascii_case("TAB") => Ok('\t'),
        _ if text.eq_ignore_ascii_case("SPACE") => Ok(' '),
        _ => Err(FormatError::Delimiter(text.to_string())),
    }
}

fn text(properties: &Properties, key: &str) -> Option<String> {
    crate::sql::ast::property_text(properties, key)
}

/// The key and value formats of a stream or table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    pub key: Format,
    pub value: Format,
    /// WRAP_SINGLE_VALUE: whether a single value column is written inside an object (true,
    /// ksqlDB's default) or bare.
    pub wrap_single_value: bool,
}

impl Formats {
    /// The formats a WITH clause gives: FORMAT sets both; KEY_FORMAT and VALUE_FORMAT one
    /// each; VALUE_DELIMITER and KEY_DELIMITER a DELIMITED format's delimiter. What is not
    /// given comes from `inherit` (a query's source) or from ksqlDB's defaults (KAFKA keys).
    /// `None` when no value format is given or inherited.
    pub fn from_properties(
        properties: &Properties,
        inherit: Option<&Formats>,
    ) -> Result<Option<Formats>, FormatError> {
        let both = text(properties, "FORMAT");
        let mut key_name = text(properties, "KEY_FORMAT");
        let mut value_name = text(properties, "VALUE_FORMAT");
        if let Some(both) = both {
            if key_name.is_some() {
                return Err(FormatError::FormatTwice("KEY_FORMAT"));
            }
            if value_name.is_some() {
                return Err(FormatError::FormatTwice("VALUE_FORMAT"));
            }
            key_name = Some(both.clone());
            value_name = Some(both);
        }
        let key_delimiter = text(properties, "KEY_DELIMITER")
            .map(|d| delimiter(&d))
            .transpose()?;
        let value_delimiter = text(properties, "VALUE_DELIMITER")
            .map(|d| delimiter(&d))
            .transpose()?;
        // A delimiter given without its format applies to the inherited one: ksqlDB's
        // `CREATE STREAM S2 WITH (VALUE_DELIMITER='$') AS SELECT * FROM a_delimited_stream`
        // writes `$`-separated values (delimited.json in its QTT).
        let redelimit = |format: Format, given: Option<char>| match (format, given) {
            (Format::Delimited(_), Some(d)) => Format::Delimited(d),
            (format, _) => format,
        };
        let key = match key_name {
            Some(name) => Format::named(&name, "KEY_FORMAT", key_delimiter)?,
            None => inherit.map_or(Format::Kafka, |f| redelimit(f.key, key_delimiter)),
        };
        let Some(value) = (match value_name {
            Some(name) => Some(Format::named(&name, "VALUE_FORMAT", value_delimiter)?),
            None => inherit.map(|f| redelimit(f.value, value_delimiter)),
        }) else {
            return Ok(None);
        };
        if value == Format::None {
            return Err(FormatError::Unsupported {
                which: "VALUE_FORMAT",
                name: "NONE".into(),
            });
        }
        for (property, given, format) in [
            ("KEY_DELIMITER", key_delimiter, key),
            ("VALUE_DELIMITER", value_delimiter, value),
        ] {
            if given.is_some() && !matches!(format, Format::Delimited(_)) {
                return Err(FormatError::DelimiterWithout {
                    property,
                    format: format.name(),
                });
            }
        }
        let wrap_single_value = match properties.get("WRAP_SINGLE_VALUE") {
            None => inherit.is_none_or(|f| f.wrap_single_value),
            Some(literal) => {
                let wrap = !matches!(literal, Literal::Boolean(false))
                    && !matches!(literal, Literal::String(s) if s.eq_ignore_ascii_case("false"));
                // DELIMITED and KAFKA always write a single value bare: asking them to wrap
                // is refused, asking them not to is what they do anyway.
                if !matches!(value, Format::Json | Format::Avro) && wrap {
                    return Err(FormatError::NoWrapping(value.name()));
                }
                wrap
            }
        };
        Ok(Some(Formats {
            key,
            value,
            wrap_single_value,
        }))
    }

    /// Checks that the formats can carry a schema's key and value columns, with ksqlDB's
    /// errors where they cannot.
    pub fn check(&self, schema: &Schema) -> Result<(), FormatError> {
        let keys: Vec<&Column> = schema.key_columns().map(|(_, c)| c).collect();
        let values: Vec<&Column> = schema.value_columns().map(|(_, c)| c).collect();
        let listed = |columns: &[&Column], key: bool| {
            columns
                .iter()
                .map(|c| {
                    format!(
                        "`{}` {}{}",
                        c.name,
                        c.sql_type,
                        if key { " KEY" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        if keys.len() > 1 && !self.key.carries_many() {
            return Err(FormatError::KeyColumns {
                format: self.key.name(),
                columns: listed(&keys, true),
            });
        }
        if values.len() > 1 && !self.value.carries_many() {
            return Err(FormatError::ValueColumns(listed(&values, false)));
        }
        if !self.wrap_single_value && values.len() > 1 {
            return Err(FormatError::WrapWithManyColumns);
        }
        self.key.check(&keys)?;
        self.value.check(&values)
    }

    /// A decoder of the value columns of `schema` into their places in its rows, keeping
    /// only the columns `reads` marks.
    pub fn value_decoder(
        &self,
        schema: &Schema,
        reads: &[bool],
        codecs: &Codecs,
    ) -> Box<dyn Decoder> {
        let width = schema.columns.len();
        let columns: Vec<(usize, Column)> = schema
            .value_columns()
            .map(|(i, c)| (i, c.clone()))
            .collect();
        match (self.value, columns.as_slice()) {
            (Format::Avro, _) => {
                let wrapped = self.wrap_single_value || columns.len() != 1;
                avro_decoder(columns, width, wrapped, codecs)
            }
            (Format::Kafka, [(place, column)]) => {
                Box::new(kafka::KafkaDecoder::new(*place, column.clone(), width))
            }
            (Format::Json, [(place, column)]) if !self.wrap_single_value => {
                Box::new(JsonValueDecoder::new(*place, column.clone(), width))
            }
            (Format::Delimited(delimiter), _) => {
                Box::new(delimited::DelimitedDecoder::new(columns, width, delimiter))
            }
            _ => Box::new(JsonDecoder::placed(columns, width).reading_only(reads)),
        }
    }

    /// An encoder of value columns of these names and types, for records of `topic`.
    pub fn value_encoder(
        &self,
        topic: &str,
        names: &[String],
        types: &[SqlType],
        codecs: &Codecs,
    ) -> Box<dyn Encoder> {
        match (self.value, types) {
            (Format::Avro, _) => avro_encoder(
                registry::subject(topic, false),
                avro_record_name(false, ""),
                names,
                types,
                self.wrap_single_value,
                codecs,
            ),
            (Format::Kafka, [sql_type]) => Box::new(kafka::KafkaEncoder::new(sql_type.clone())),
            (Format::Json, [_]) if !self.wrap_single_value => Box::new(JsonValueEncoder),
            (Format::Delimited(delimiter), _) => {
                Box::new(delimited::DelimitedEncoder::new(delimiter))
            }
            _ => Box::new(JsonEncoder::new(names)),
        }
    }

    /// The codec of the key columns of `schema`, for records of `topic`, the topic of the
    /// stream or table named `source`.
    pub fn key_codec(
        &self,
        schema: &Schema,
        source: &str,
        topic: &str,
        codecs: &Codecs,
    ) -> KeyCodec {
        KeyCodec::placed(
            self.key,
            schema.key_columns().map(|(i, c)| (i, c.clone())).collect(),
            source,
            topic,
            codecs,
        )
    }
}

/// What stands in for an AVRO codec that cannot be made: every record is refused with the
/// reason, and a statement that would write is refused by `prepare`.
struct Unavailable {
    reason: EncodeError,
    width: usize,
}

impl Decoder for Unavailable {
    fn decode_into(&self, _: &[u8], _: &mut [Value]) -> Result<(), DecodeError> {
        Err(DecodeError::Registry(
            self.reason.to_string(),
            Some(Cause::new(self.reason.clone())),
        ))
    }

    fn width(&self) -> usize {
        self.width
    }
}

impl Encoder for Unavailable {
    fn prepare(&self) -> Result<(), EncodeError> {
        Err(self.reason.clone())
    }

    fn encode_into(&self, _: &[Value], _: &mut Vec<u8>) -> Result<(), EncodeError> {
        Err(self.reason.clone())
    }
}

#[cfg(feature = "avro")]
fn avro_decoder(
    columns: Vec<(usize, Column)>,
    width: usize,
    wrapped: bool,
    codecs: &Codecs,
) -> Box<dyn Decoder> {
    match codecs.registry() {
        Some(registry) => Box::new(avro::AvroDecoder::new(
            columns,
            width,
            wrapped,
            registry.clone(),
        )),
        None => Box::new(Unavailable {
            reason: EncodeError::NoRegistry,
            width,
        }),
    }
}

#[cfg(not(feature = "avro"))]
fn avro_decoder(_: Vec<(usize, Column)>, width: usize, _: bool, _: &Codecs) -> Box<dyn Decoder> {
    Box::new(Unavailable {
        reason: EncodeError::NoRegistry,
        width,
    })
}

/// The record name of an AVRO value's or key's schema: ksqlDB's for values, one after the
/// source for keys.
#[cfg(feature = "avro")]
fn avro_record_name(key: bool, source: &str) -> String {
    if key {
        avro::key_record_name(source)
    } else {
        avro::RECORD_NAME.to_string()
    }
}

#[cfg(not(feature = "avro"))]
fn avro_record_name(_: bool, _: &str) -> String {
    String::new()
}

#[cfg(feature = "avro")]
fn avro_encoder(
    subject: String,
    record: String,
    names: &[String],
    types: &[SqlType],
    wrapped: bool,
    codecs: &Codecs,
) -> Box<dyn Encoder> {
    let built = codecs
        .registry()
        .ok_or(EncodeError::NoRegistry)
        .and_then(|registry| {
            avro::AvroEncoder::new(subject, &record, names, types, wrapped, registry.clone())
        });
    match built {
        Ok(encoder) => Box::new(encoder),
        Err(reason) => Box::new(Unavailable { reason, width: 0 }),
    }
}

#[cfg(not(feature = "avro"))]
fn avro_encoder(
    _: String,
    _: String,
    _: &[String],
    _: &[SqlType],
    _: bool,
    _: &Codecs,
) -> Box<dyn Encoder> {
    Box::new(Unavailable {
        reason: EncodeError::NoRegistry,
        width: 0,
    })
}

/// Reads and writes the key columns of records in the key format: one column in the KAFKA
/// format or as a bare JSON value; several as a JSON object or DELIMITED fields.
pub struct KeyCodec {
    format: Format,
    /// Each key column and its place in the source's rows.
    columns: Vec<(usize, Column)>,
    names: Vec<String>,
    /// AVRO's codecs, which hold their schemas: a single key column is the whole key, more
    /// make a record.
    avro: Option<(Box<dyn Decoder>, Box<dyn Encoder>)>,
}

impl KeyCodec {
    /// A codec for key columns of these names and types, written in that order.
    pub fn for_columns(format: Format, columns: Vec<Column>) -> KeyCodec {
        KeyCodec::placed(
            format,
            columns.into_iter().enumerate().collect(),
            "",
            "",
            &Codecs::default(),
        )
    }

    /// A codec for key columns at these places of a row, for records of `topic`, the
    /// topic of `source`.
    pub fn placed(
        format: Format,
        columns: Vec<(usize, Column)>,
        source: &str,
        topic: &str,
        codecs: &Codecs,
    ) -> KeyCodec {
        let avro = (format == Format::Avro && !columns.is_empty()).then(|| {
            let width = columns
                .iter()
                .map(|(place, _)| place + 1)
                .max()
                .unwrap_or(0);
            let wrapped = columns.len() != 1;
            let names: Vec<String> = columns.iter().map(|(_, c)| c.name.clone()).collect();
            let types: Vec<SqlType> = columns.iter().map(|(_, c)| c.sql_type.clone()).collect();
            (
                avro_decoder(columns.clone(), width, wrapped, codecs),
                avro_encoder(
                    registry::subject(topic, true),
                    avro_record_name(true, source),
                    &names,
                    &types,
                    wrapped,
                    codecs,
                ),
            )
        });
        KeyCodec {
            format,
            names: columns.iter().map(|(_, c)| c.name.clone()).collect(),
            columns,
            avro,
        }
    }

    /// Gets ready to write keys (an AVRO key registers its schema).
    pub fn prepare(&self) -> Result<(), EncodeError> {
        match &self.avro {
            Some((_, encoder)) => encoder.prepare(),
            None => Ok(()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Fills the key columns of `row` from key bytes; a record without a key has them null.
    pub fn decode_into(&self, bytes: Option<&[u8]>, row: &mut [Value]) -> Result<(), DecodeError> {
        for (place, _) in &self.columns {
            row[*place] = Value::Null;
        }
        let (Some(bytes), false) = (bytes, self.columns.is_empty()) else {
            return Ok(());
        };
        let width = row.len();
        if let Some((decoder, _)) = &self.avro {
            return decoder.decode_into(bytes, row);
        }
        match (self.format, self.columns.as_slice()) {
            (Format::None, _) => Ok(()),
            (Format::Kafka, [(place, column)]) => {
                row[*place] = kafka::read(bytes, &column.sql_type)?;
                Ok(())
            }
            (Format::Json, [(place, column)]) => {
                JsonValueDecoder::new(*place, column.clone(), width).decode_into(bytes, row)
            }
            (Format::Delimited(delimiter), _) => {
                delimited::DelimitedDecoder::new(self.columns.clone(), width, delimiter)
                    .decode_into(bytes, row)
            }
            _ => JsonDecoder::placed(self.columns.clone(), width).decode_into(bytes, row),
        }
    }

    /// Appends the key bytes for these key values; false when the record has no key (no
    /// key columns, or a single KAFKA key that is null).
    pub fn encode(&self, values: &[Value], out: &mut Vec<u8>) -> Result<bool, EncodeError> {
        // A key whose every column is null is no key at all, as ksqlDB writes it.
        if values.iter().all(Value::is_null) {
            return Ok(false);
        }
        if let (Some((_, encoder)), false) = (&self.avro, values.is_empty()) {
            let start = out.len();
            encoder.encode_into(values, out)?;
            return Ok(out.len() > start);
        }
        Ok(match (self.format, self.columns.as_slice(), values) {
            (_, [], _) | (_, _, []) | (Format::None, _, _) => false,
            (Format::Kafka, [(_, column)], [value]) => kafka::write(value, &column.sql_type, out),
            (Format::Json, [_], [value]) => {
                write_json_value(out, value);
                true
            }
            (Format::Delimited(delimiter), _, values) => {
                delimited::DelimitedEncoder::new(delimiter).encode_into(values, out)?;
                true
            }
            (_, _, values) => {
                write_json_object(out, &self.names, values);
                true
            }
        })
    }
}

/// A double as Java's `Double.toString` writes it, as ksqlDB's DELIMITED output does:
/// at least one digit after the point, scientific notation below 10^-3 and from 10^7.
pub fn java_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let magnitude = d.abs();
    if (1e-3..1e7).contains(&magnitude) {
        let text = format!("{d}");
        return if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        };
    }
    // The shortest digits that read back, as d.dddE[-]n.
    let scientific = format!("{d:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_string()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exponent}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_java_prints_them() {
        for (d, java) in [
            (1.0, "1.0"),
            (2.5, "2.5"),
            (-0.001, "-0.001"),
            (0.0001, "1.0E-4"),
            (1e7, "1.0E7"),
            (12345678.9, "1.23456789E7"),
            (9999999.0, "9999999.0"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(java_double(d), java, "{d}");
        }
    }

    fn props(pairs: &[(&str, Literal)]) -> Properties {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn with_clauses_give_formats_as_ksqldb_reads_them() {
        let s = |v: &str| Literal::String(v.into());
        let formats = Formats::from_properties(
            &props(&[("FORMAT", s("DELIMITED")), ("VALUE_DELIMITER", s("|"))]),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(formats.key, Format::Delimited(','));
        assert_eq!(formats.value, Format::Delimited('|'));
        let tab = Formats::from_properties(
            &props(&[
                ("VALUE_FORMAT", s("DELIMITED")),
                ("VALUE_DELIMITER", s("TAB")),
            ]),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (tab.key, tab.value),
            (Format::Kafka, Format::Delimited('\t'))
        );
        // A sink's delimiter alone re-delimits the format it inherits from its source.
        let dollar =
            Formats::from_properties(&props(&[("VALUE_DELIMITER", s("$"))]), Some(&formats))
                .unwrap()
                .unwrap();
        assert_eq!(
            (dollar.key, dollar.value),
            (Format::Delimited(','), Format::Delimited('$'))
        );
        assert!(matches!(
            Formats::from_properties(
                &props(&[("FORMAT", s("JSON")), ("KEY_FORMAT", s("KAFKA"))]),
                None
            ),
            Err(FormatError::FormatTwice("KEY_FORMAT"))
        ));
        assert!(matches!(
            Formats::from_properties(
                &props(&[
                    ("VALUE_FORMAT", s("DELIMITED")),
                    ("WRAP_SINGLE_VALUE", Literal::Boolean(true))
                ]),
                None
            ),
            Err(FormatError::NoWrapping("DELIMITED"))
        ));
        let bare = Formats::from_properties(
            &props(&[
                ("VALUE_FORMAT", s("DELIMITED")),
                ("WRAP_SINGLE_VALUE", Literal::Boolean(false)),
            ]),
            None,
        );
        assert!(
            matches!(bare, Ok(Some(f)) if !f.wrap_single_value),
            "DELIMITED never wraps"
        );
        assert!(matches!(
            Formats::from_properties(
                &props(&[("VALUE_FORMAT", s("JSON")), ("VALUE_DELIMITER", s("||"))]),
                None
            ),
            Err(FormatError::Delimiter(_))
        ));
        assert_eq!(Formats::from_properties(&props(&[]), None).unwrap(), None);
    }

    #[test]
    fn keys_read_and_write_in_their_format() {
        let column = |name: &str, sql_type| Column {
            name: name.into(),
            sql_type,
            key: true,
        };
        let two = vec![column("A", SqlType::String), column("B", SqlType::Int)];
        let values = [Value::String("x".into()), Value::Integer(3)];
        for (format, bytes) in [
            (Format::Json, &b"{\"A\":\"x\",\"B\":3}"[..]),
            (Format::Delimited(','), b"x,3"),
        ] {
            let codec = KeyCodec::for_columns(format, two.clone());
            let mut out = Vec::new();
            assert!(codec.encode(&values, &mut out).unwrap());
            assert_eq!(out, bytes, "{format:?}");
            let mut row = vec![Value::Null; 2];
            codec.decode_into(Some(bytes), &mut row).unwrap();
            assert_eq!(row, values, "{format:?}");
        }
        let single = KeyCodec::for_columns(Format::Json, vec![column("A", SqlType::Bigint)]);
        let mut out = Vec::new();
        assert!(single.encode(&[Value::Integer(7)], &mut out).unwrap());
        assert_eq!(out, b"7", "a single JSON key is a bare value");
        let kafka = KeyCodec::for_columns(Format::Kafka, vec![column("A", SqlType::Int)]);
        let mut out = Vec::new();
        assert!(kafka.encode(&[Value::Integer(7)], &mut out).unwrap());
        assert_eq!(out, 7i32.to_be_bytes());
        let schema = Schema { columns: two };
        let kafka_keys = Formats {
            key: Format::Kafka,
            value: Format::Json,
            wrap_single_value: true,
        };
        let error = kafka_keys.check(&schema).unwrap_err().to_string();
        assert!(
            error.contains("The 'KAFKA' format only supports a single field. Got: [`A` STRING KEY, `B` INTEGER KEY]"),
            "{error}"
        );
    }
}
