//! The AVRO format as ksqlDB reads and writes it: Confluent's wire format (a zero magic
//! byte, the writer schema's id in four big-endian bytes, then the Avro binary body), with
//! schemas in a Schema Registry. Bodies are read and written by apache-avro.
//!
//! Reading: the writer schema is fetched by id once and cached; a reader schema is made
//! from the columns (field names spelled as the writer spells them, since ksqlDB matches
//! columns to fields case-insensitively) and Avro's schema resolution maps the writer's
//! data onto it: missing fields read as null, ints widen to longs and doubles. Where Avro
//! has no rule but ksqlDB coerces (a number or an enum into a STRING column) the writer's
//! type is kept and the value converted after.
//!
//! Writing: the schema ksqlDB registers (record `KsqlDataSourceSchema` in namespace
//! `io.confluent.ksql.avro_schemas`, fields named as the columns, each a union with null
//! and defaulting to null) is registered under `<topic>-value` or `<topic>-key`. A key's
//! record is named after its source instead (`OrderTotalsKey` for ORDER_TOTALS), as
//! ksqlDB's AvroFormat.getKeySchemaName names it. A single column written bare (a key of
//! one column, WRAP_SINGLE_VALUE=false) is its type alone, not nullable: ksqlDB's
//! AvroSchemas makes the root schema required.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{RecordField, Schema as AvroSchema};
use apache_avro::types::Value as Avro;
use apache_avro::writer::datum::GenericDatumWriter;
use serde_json::{json, Value as Json};

use super::registry::{RegistryError, SchemaRegistry};
use super::{DecodeError, Decoder, EncodeError, Encoder, MAX_RECORD_BYTES};
use crate::cause::Cause;
use crate::decimal::{Decimal, MAX_PRECISION};
use crate::sql::ast::SqlType;
use crate::value::{Column, Text, Value};

/// The record name and namespace of every schema ksqlDB writes.
pub const RECORD_NAME: &str = "KsqlDataSourceSchema";
pub const NAMESPACE: &str = "io.confluent.ksql.avro_schemas";

/// The Avro type of one column, nullable as ksqlDB makes every column: `["null", T]`.
pub fn column_schema(sql_type: &SqlType) -> Json {
    named_column_schema(sql_type, RECORD_NAME)
}

/// A column's type where `name` is the record name a STRUCT in it takes: ksqlDB names a
/// nested record after its parent and the field holding it (`KsqlDataSourceSchema_ADDRESS`,
/// `KsqlDataSourceSchema_ADDRESS_GEO`); array items take the field's name, map values
/// `<field>_MapValue`.
fn named_column_schema(sql_type: &SqlType, name: &str) -> Json {
    json!(["null", bare_schema(sql_type, name)])
}

/// A Connect logical type as ksqlDB's AvroData writes it, with Connect's own name for it.
fn logical(avro_type: &str, logical_type: &str, connect: &str) -> Json {
    json!({
        "type": avro_type,
        "connect.version": 1,
        "connect.name": format!("org.apache.kafka.connect.data.{connect}"),
        "logicalType": logical_type,
    })
}

fn bare_schema(sql_type: &SqlType, name: &str) -> Json {
    match sql_type {
        SqlType::Boolean => json!("boolean"),
        SqlType::Int => json!("int"),
        SqlType::Bigint => json!("long"),
        SqlType::Double => json!("double"),
        SqlType::String => json!("string"),
        SqlType::Bytes => json!("bytes"),
        SqlType::Array(inner) => {
            json!({"type": "array", "items": named_column_schema(inner, name)})
        }
        // Connect names a map's value schema `<map>_MapValue` (ksqlDB's AvroSchemas).
        SqlType::Map(inner) => json!({
            "type": "map",
            "values": named_column_schema(inner, &format!("{name}_MapValue")),
        }),
        SqlType::Decimal { precision, scale } => json!({
            "type": "bytes",
            "scale": scale,
            "precision": precision,
            "connect.version": 1,
            "connect.parameters": {
                "scale": scale.to_string(),
                "connect.decimal.precision": precision.to_string(),
            },
            "connect.name": "org.apache.kafka.connect.data.Decimal",
            "logicalType": "decimal",
        }),
        SqlType::Date => logical("int", "date", "Date"),
        SqlType::Time => logical("int", "time-millis", "Time"),
        SqlType::Timestamp => logical("long", "timestamp-millis", "Timestamp"),
        SqlType::Struct(fields) => json!({
            "type": "record",
            "name": name,
            "fields": fields
                .iter()
                .map(|(field, sql_type)| json!({
                    "name": field,
                    "type": named_column_schema(sql_type, &format!("{name}_{field}")),
                    "default": null,
                }))
                .collect::<Vec<_>>(),
            "connect.name": format!("{NAMESPACE}.{name}"),
        }),
    }
}

/// The record name of a key schema: the source's name in upper camel case and `Key`
/// (ORDER_TOTALS is `OrderTotalsKey`), as ksqlDB's AvroFormat.getKeySchemaName makes it
/// with Guava's UPPER_UNDERSCORE to UPPER_CAMEL.
pub fn key_record_name(source: &str) -> String {
    let mut name: String = source
        .split('_')
        .flat_map(|word| {
            let mut chars = word.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first
                .into_iter()
                .chain(chars.map(|c| c.to_ascii_lowercase()))
        })
        .collect();
    name.push_str("Key");
    name
}

/// The schema ksqlDB registers for these columns: a record named `record` when `wrapped`,
/// else the single column's type alone and required (WRAP_SINGLE_VALUE=false, or a key of
/// one column), a STRUCT's record then taking the name `record`.
pub fn columns_schema(columns: &[(String, SqlType)], wrapped: bool, record: &str) -> Json {
    match (wrapped, columns) {
        (false, [(_, sql_type)]) => {
            let mut bare = bare_schema(sql_type, record);
            if let Some(fields) = bare
                .as_object_mut()
                .filter(|_| matches!(sql_type, SqlType::Struct(_)))
            {
                fields.insert("namespace".into(), json!(NAMESPACE));
            }
            bare
        }
        _ => json!({
            "type": "record",
            "name": record,
            "namespace": NAMESPACE,
            "fields": columns
                .iter()
                .map(|(name, sql_type)| json!({
                    "name": name,
                    "type": named_column_schema(sql_type, &format!("{record}_{name}")),
                    "default": null,
                }))
                .collect::<Vec<_>>(),
            "connect.name": format!("{NAMESPACE}.{record}"),
        }),
    }
}

/// The columns a registered schema gives a source declared without columns, as ksqlDB
/// infers them: a value record's fields by upper-cased name, or a single column for a
/// value schema that is not a record (`ROWVAL`). A key is always one column, `ROWKEY`, a
/// record key a STRUCT (ksqlDB reads inferred keys unwrapped: the multi-col-keys QTT case
/// "with key inference"). Fields of a type the engine has no column type for are left out,
/// as ksqlDB leaves them out.
pub fn inferred_columns(schema: &str, key: bool) -> Result<Vec<(String, SqlType)>, String> {
    let parsed = AvroSchema::parse_str(schema).map_err(|e| e.to_string())?;
    Ok(match non_null(&parsed) {
        AvroSchema::Record(record) if !key => record
            .fields
            .iter()
            .filter_map(|field| {
                sql_type_of(&field.schema).map(|t| (field.name.to_ascii_uppercase(), t))
            })
            .collect(),
        other => sql_type_of(other)
            .map(|t| (if key { "ROWKEY" } else { "ROWVAL" }.to_string(), t))
            .into_iter()
            .collect(),
    })
}

/// The branch of `["null", T]` that is not null.
fn non_null(schema: &AvroSchema) -> &AvroSchema {
    match schema {
        AvroSchema::Union(union) => {
            let variants = union.variants();
            match variants {
                [AvroSchema::Null, other] | [other, AvroSchema::Null] => other,
                _ => schema,
            }
        }
        other => other,
    }
}

fn sql_type_of(schema: &AvroSchema) -> Option<SqlType> {
    Some(match non_null(schema) {
        AvroSchema::Boolean => SqlType::Boolean,
        AvroSchema::Int => SqlType::Int,
        AvroSchema::Long => SqlType::Bigint,
        AvroSchema::Float | AvroSchema::Double => SqlType::Double,
        AvroSchema::String | AvroSchema::Enum(_) | AvroSchema::Uuid(_) => SqlType::String,
        AvroSchema::Array(array) => SqlType::Array(Box::new(sql_type_of(&array.items)?)),
        AvroSchema::Bytes => SqlType::Bytes,
        AvroSchema::Decimal(decimal) => SqlType::Decimal {
            precision: u8::try_from(decimal.precision).ok()?,
            scale: u8::try_from(decimal.scale).ok()?,
        },
        AvroSchema::Date => SqlType::Date,
        AvroSchema::TimeMillis | AvroSchema::TimeMicros => SqlType::Time,
        AvroSchema::TimestampMillis
        | AvroSchema::TimestampMicros
        | AvroSchema::LocalTimestampMillis
        | AvroSchema::LocalTimestampMicros => SqlType::Timestamp,
        AvroSchema::Map(map) => SqlType::Map(Box::new(sql_type_of(&map.types)?)),
        AvroSchema::Record(record) => SqlType::Struct(
            record
                .fields
                .iter()
                .filter_map(|f| sql_type_of(&f.schema).map(|t| (f.name.to_ascii_uppercase(), t)))
                .collect(),
        ),
        _ => return None,
    })
}

/// Whether Avro's resolution rules turn data of the writer's type into the column's.
fn resolves(writer: &AvroSchema, sql_type: &SqlType) -> bool {
    match (non_null(writer), sql_type) {
        (AvroSchema::Union(_), _) => false,
        (AvroSchema::Boolean, SqlType::Boolean)
        | (AvroSchema::Int, SqlType::Int | SqlType::Bigint | SqlType::Double)
        | (AvroSchema::Long, SqlType::Bigint | SqlType::Double)
        | (AvroSchema::Float | AvroSchema::Double, SqlType::Double)
        | (AvroSchema::String, SqlType::String)
        | (AvroSchema::Bytes, SqlType::Bytes)
        | (AvroSchema::Date, SqlType::Date)
        | (AvroSchema::TimeMillis, SqlType::Time)
        | (AvroSchema::TimestampMillis, SqlType::Timestamp) => true,
        (AvroSchema::Array(array), SqlType::Array(inner)) => resolves(&array.items, inner),
        // Decimals (their scale), maps (Connect also writes them as arrays of entries) and
        // records (their names) keep the writer's type and are converted after reading.
        _ => false,
    }
}

/// A writer schema with the reader schema made for it and a datum reader over both.
#[ouroboros::self_referencing]
struct Resolved {
    writer: AvroSchema,
    reader: Option<AvroSchema>,
    #[borrows(writer, reader)]
    #[covariant]
    datum: GenericDatumReader<'this>,
    /// For each column, its field in the records read (`None`: not in the data, null).
    fields: Vec<Option<usize>>,
    /// For each column, its type in the writer schema as registered, decimals and all:
    /// what converting its values needs (a decimal's scale).
    written: Vec<AvroSchema>,
}

/// The writer schema with its decimals as plain bytes (or fixed), which they are on the
/// wire: apache-avro 0.22 refuses to resolve a bytes decimal whose value has fewer bytes
/// than its precision could need ("Precision 10 too small to hold decimal values with 2
/// bytes"), so decimals are read as bytes and scaled by `convert` from `written`.
fn without_decimals(schema: &mut Json) {
    match schema {
        Json::Object(object) => {
            if object.get("logicalType") == Some(&json!("decimal")) {
                if object.get("type") == Some(&json!("bytes")) {
                    *schema = json!("bytes");
                    return;
                }
                object.remove("logicalType");
            }
            object.values_mut().for_each(without_decimals);
        }
        Json::Array(items) => items.iter_mut().for_each(without_decimals),
        _ => {}
    }
}

/// Each column's type in the writer schema: its field's type in a record, else the whole
/// schema; null when the writer has no such field.
fn written_types(
    writer: &AvroSchema,
    columns: &[(usize, Column)],
    wrapped: bool,
) -> Vec<AvroSchema> {
    columns
        .iter()
        .map(|(_, column)| match (wrapped, non_null(writer)) {
            (true, AvroSchema::Record(record)) => find_field(&record.fields, &column.name)
                .map_or(AvroSchema::Null, |(_, f)| f.schema.clone()),
            (true, _) => AvroSchema::Null,
            (false, _) => writer.clone(),
        })
        .collect()
}

/// The reader schema for `columns` over a writer schema, and where each column sits in the
/// records read with it.
fn reader_for(
    writer: &AvroSchema,
    columns: &[(usize, Column)],
    wrapped: bool,
) -> Result<(Option<AvroSchema>, Vec<Option<usize>>), String> {
    let writer_json = serde_json::to_value(writer).map_err(|e| e.to_string())?;
    let reader_json = match (wrapped, writer) {
        (true, AvroSchema::Record(record)) => {
            let fields: Vec<Json> = columns
                .iter()
                .map(|(_, column)| {
                    match find_field(&record.fields, &column.name) {
                        Some((_, field)) if resolves(&field.schema, &column.sql_type) => json!({
                            "name": field.name,
                            "type": column_schema(&column.sql_type),
                            "default": null,
                        }),
                        // The writer's type as it is, converted after reading; the field is
                        // in the data, so it needs no default.
                        Some((at, field)) => json!({
                            "name": field.name,
                            "type": writer_json["fields"][at]["type"].clone(),
                        }),
                        None => json!({
                            "name": column.name,
                            "type": column_schema(&column.sql_type),
                            "default": null,
                        }),
                    }
                })
                .collect();
            json!({"type": "record", "name": record.name.fullname(None), "fields": fields})
        }
        (true, _) => {
            return Err(format!(
            "the writer schema is not a record, but the columns are read from one: {writer_json}"
        ))
        }
        (false, _) => match columns {
            [(_, column)] if resolves(writer, &column.sql_type) => column_schema(&column.sql_type),
            _ => writer_json.clone(),
        },
    };
    let positions = (0..columns.len()).map(Some).collect();
    if reader_json == writer_json {
        return Ok((None, positions));
    }
    let reader = AvroSchema::parse(&reader_json).map_err(|e| e.to_string())?;
    // The reader's fields hold a column each, in column order; fields of the writer's that
    // no column names are dropped by the resolution.
    if wrapped {
        let AvroSchema::Record(record) = &reader else {
            return Err("the reader schema is not a record".into());
        };
        let positions = columns
            .iter()
            .map(|(_, column)| {
                record
                    .fields
                    .iter()
                    .position(|f| f.name.eq_ignore_ascii_case(&column.name))
            })
            .collect();
        return Ok((Some(reader), positions));
    }
    Ok((Some(reader), positions))
}

/// The field a column reads, and where it is: its name as spelled, else in any case.
fn find_field<'a>(fields: &'a [RecordField], name: &str) -> Option<(usize, &'a RecordField)> {
    let mut all = fields.iter().enumerate();
    all.clone()
        .find(|(_, f)| f.name == name)
        .or_else(|| all.find(|(_, f)| f.name.eq_ignore_ascii_case(name)))
}

/// The schema id of a Confluent-framed record, and its Avro body.
pub fn split_frame(bytes: &[u8]) -> Result<(u32, &[u8]), DecodeError> {
    match bytes {
        [0, a, b, c, d, body @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), body)),
        [] => Err(DecodeError::Empty),
        [magic, ..] if *magic != 0 => Err(DecodeError::Avro(format!(
            "the record does not start with the Schema Registry's magic byte 0 (it starts with {magic})"
        ), None)),
        _ => Err(DecodeError::Avro(format!(
            "the record is {} bytes, shorter than the 5-byte Schema Registry header",
            bytes.len()
        ), None)),
    }
}

/// Reads Confluent-framed Avro into columns.
pub struct AvroDecoder {
    columns: Vec<(usize, Column)>,
    width: usize,
    /// False when one column is the whole value (WRAP_SINGLE_VALUE=false, a single key).
    wrapped: bool,
    registry: Arc<dyn SchemaRegistry>,
    /// Writer schemas by id, each with its reader schema; a failure to build one is kept
    /// too, so that a bad schema is not fetched again for every record.
    resolved: RefCell<HashMap<u32, Result<Resolved, String>>>,
}

impl AvroDecoder {
    pub fn new(
        columns: Vec<(usize, Column)>,
        width: usize,
        wrapped: bool,
        registry: Arc<dyn SchemaRegistry>,
    ) -> AvroDecoder {
        AvroDecoder {
            columns,
            width,
            wrapped,
            registry,
            resolved: RefCell::new(HashMap::new()),
        }
    }

    fn resolve(&self, id: u32) -> Result<Result<Resolved, String>, DecodeError> {
        let text = match self.registry.schema_by_id(id) {
            Ok(text) => text,
            Err(RegistryError::NotFound(message)) => {
                let reason = format!(
                    "the record's schema id {id} is not in the Schema Registry ({message})"
                );
                return Err(DecodeError::Registry(
                    reason,
                    Some(Cause::new(RegistryError::NotFound(message))),
                ));
            }
            Err(other) => {
                return Err(DecodeError::Registry(
                    format!("the record's schema id {id} cannot be fetched: {other}"),
                    Some(Cause::new(other)),
                ))
            }
        };
        let written = match AvroSchema::parse_str(&text) {
            Ok(writer) => written_types(&writer, &self.columns, self.wrapped),
            Err(e) => return Ok(Err(format!("schema id {id} does not parse: {e}"))),
        };
        let writer = match serde_json::from_str::<Json>(&text).map(|mut json| {
            without_decimals(&mut json);
            json
        }) {
            Ok(json) => match AvroSchema::parse(&json) {
                Ok(writer) => writer,
                Err(e) => return Ok(Err(format!("schema id {id} does not parse: {e}"))),
            },
            Err(e) => return Ok(Err(format!("schema id {id} does not parse: {e}"))),
        };
        let (reader, fields) = match reader_for(&writer, &self.columns, self.wrapped) {
            Ok(found) => found,
            Err(e) => return Ok(Err(format!("schema id {id}: {e}"))),
        };
        let built = ResolvedTryBuilder {
            writer,
            reader,
            datum_builder: |writer: &AvroSchema, reader: &Option<AvroSchema>| {
                GenericDatumReader::builder(writer)
                    .maybe_reader_schema(reader.as_ref())
                    .build()
            },
            fields,
            written,
        }
        .try_build();
        Ok(built.map_err(|e| format!("schema id {id} cannot be read with the columns: {e}")))
    }
}

impl Decoder for AvroDecoder {
    fn decode_into(&self, bytes: &[u8], row: &mut [Value]) -> Result<(), DecodeError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(DecodeError::Oversize(bytes.len()));
        }
        let (id, mut body) = split_frame(bytes)?;
        let mut cache = self.resolved.borrow_mut();
        let resolved = match cache.entry(id) {
            std::collections::hash_map::Entry::Occupied(found) => found.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => slot.insert(self.resolve(id)?),
        };
        let resolved = match resolved {
            Ok(resolved) => &*resolved,
            Err(reason) => return Err(DecodeError::Avro(reason.clone(), None)),
        };
        let datum = resolved.borrow_datum().read_value(&mut body).map_err(|e| {
            DecodeError::Avro(
                format!("the Avro body does not read: {e}"),
                Some(Cause::new(e)),
            )
        })?;
        // The columns' types as written: they hold what the values do not (a decimal's
        // scale).
        let written = resolved.borrow_written();
        if !self.wrapped {
            if let ([(place, column)], [schema]) = (self.columns.as_slice(), written.as_slice()) {
                row[*place] = convert(datum, schema, &column.sql_type, &column.name)?;
            }
            return Ok(());
        }
        let mut fields = match datum {
            Avro::Record(fields) => fields,
            Avro::Union(_, inner) if matches!(*inner, Avro::Record(_)) => match *inner {
                Avro::Record(fields) => fields,
                _ => Vec::new(),
            },
            Avro::Null | Avro::Union(_, _) => {
                return Err(DecodeError::Avro("the record's value is null".into(), None))
            }
            other => {
                return Err(DecodeError::Avro(
                    format!("the record's value is not a record: {other:?}"),
                    None,
                ))
            }
        };
        for (((place, column), at), schema) in self
            .columns
            .iter()
            .zip(resolved.borrow_fields())
            .zip(written)
        {
            let value = at
                .and_then(|at| fields.get_mut(at))
                .map(|(_, value)| std::mem::replace(value, Avro::Null))
                .unwrap_or(Avro::Null);
            row[*place] = convert(value, schema, &column.sql_type, &column.name)?;
        }
        Ok(())
    }

    fn width(&self) -> usize {
        self.width
    }
}

/// One Avro value, read with `schema`, as a column's value, with ksqlDB's coercions into
/// STRING. A value that does not fit the column is an error naming both.
fn convert(
    value: Avro,
    schema: &AvroSchema,
    sql_type: &SqlType,
    column: &str,
) -> Result<Value, DecodeError> {
    let mismatch = |value: &Avro| {
        DecodeError::WrongType(
            format!(
                "field {column}: the Avro value {value:?} does not fit the column type {sql_type}"
            ),
            None,
        )
    };
    Ok(match (value, sql_type) {
        (Avro::Union(index, inner), _) => {
            let branch = match schema {
                AvroSchema::Union(union) => union.variants().get(index as usize),
                _ => None,
            };
            return convert(*inner, branch.unwrap_or(schema), sql_type, column);
        }
        (Avro::Null, _) => Value::Null,
        (Avro::Boolean(b), SqlType::Boolean) => Value::Boolean(b),
        (Avro::Int(i), SqlType::Int | SqlType::Bigint) => Value::Integer(i64::from(i)),
        (Avro::Long(i), SqlType::Bigint) => Value::Integer(i),
        (Avro::Long(i), SqlType::Int) => match i32::try_from(i) {
            Ok(_) => Value::Integer(i),
            Err(_) => return Err(mismatch(&Avro::Long(i))),
        },
        (Avro::Int(i), SqlType::Double) => Value::Double(f64::from(i)),
        (Avro::Long(i), SqlType::Double) => Value::Double(i as f64),
        (Avro::Float(f), SqlType::Double) => Value::Double(f64::from(f)),
        (Avro::Double(d), SqlType::Double) => Value::Double(d),
        (Avro::String(s), SqlType::String) | (Avro::Enum(_, s), SqlType::String) => {
            Value::String(s.into())
        }
        (Avro::Uuid(u), SqlType::String) => Value::String(u.to_string().into()),
        (Avro::Boolean(b), SqlType::String) => Value::String(b.to_string().into()),
        (Avro::Int(i), SqlType::String) => Value::String(i.to_string().into()),
        (Avro::Long(i), SqlType::String) => Value::String(i.to_string().into()),
        (Avro::Float(f), SqlType::String) => Value::String(f.to_string().into()),
        (Avro::Double(d), SqlType::String) => Value::String(d.to_string().into()),
        (Avro::Array(items), SqlType::Array(inner)) => {
            let items_schema = match schema {
                AvroSchema::Array(array) => &*array.items,
                _ => &AvroSchema::Null,
            };
            Value::Array(
                items
                    .into_iter()
                    .map(|item| convert(item, items_schema, inner, column))
                    .collect::<Result<_, _>>()?,
            )
        }
        (Avro::Bytes(b), SqlType::Bytes) | (Avro::Fixed(_, b), SqlType::Bytes) => Value::Bytes(b),
        (
            value @ (Avro::Decimal(_) | Avro::Bytes(_) | Avro::Fixed(..)),
            SqlType::Decimal { precision, scale },
        ) => {
            let AvroSchema::Decimal(written) = schema else {
                return Err(mismatch(&value));
            };
            let bytes = match value {
                Avro::Decimal(d) => Vec::<u8>::try_from(&d)
                    .map_err(|e| DecodeError::Avro(e.to_string(), Some(Cause::new(e))))?,
                Avro::Bytes(b) | Avro::Fixed(_, b) => b,
                _ => Vec::new(),
            };
            let fitted = u8::try_from(written.scale)
                .ok()
                .and_then(|scale| Decimal::from_be_bytes(&bytes, MAX_PRECISION, scale).ok())
                .ok_or_else(|| {
                    DecodeError::WrongType(format!(
                        "field {column}: the Avro decimal of {} bytes does not fit the column type {sql_type}",
                        bytes.len()
                    ), None)
                })?
                .fit(*precision, *scale)
                .map_err(|e| DecodeError::WrongType(format!("field {column}: {e}"), Some(Cause::new(e))))?;
            Value::Decimal(Box::new(fitted))
        }
        (Avro::Date(d) | Avro::Int(d), SqlType::Date) => Value::Date(d),
        (Avro::TimeMillis(t) | Avro::Int(t), SqlType::Time) => Value::Time(t),
        (Avro::TimeMicros(t), SqlType::Time) => Value::Time((t / 1000) as i32),
        (
            Avro::TimestampMillis(t) | Avro::LocalTimestampMillis(t) | Avro::Long(t),
            SqlType::Timestamp,
        ) => Value::Timestamp(t),
        (Avro::TimestampMicros(t) | Avro::LocalTimestampMicros(t), SqlType::Timestamp) => {
            Value::Timestamp(t.div_euclid(1000))
        }
        (Avro::Map(entries), SqlType::Map(inner)) => {
            let values_schema = match schema {
                AvroSchema::Map(map) => &*map.types,
                _ => &AvroSchema::Null,
            };
            let mut converted = entries
                .into_iter()
                .map(|(k, v)| Ok((Text::from(k), convert(v, values_schema, inner, column)?)))
                .collect::<Result<Vec<_>, DecodeError>>()?;
            // An Avro map has no order: keys in order make the output the same every time.
            converted.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Map(converted)
        }
        // Connect's form of a map: an array of {key, value} records.
        (Avro::Array(items), SqlType::Map(inner)) => {
            let entry_schema = match schema {
                AvroSchema::Array(array) => match non_null(&array.items) {
                    AvroSchema::Record(record) => record.fields.get(1).map(|f| &f.schema),
                    _ => None,
                },
                _ => None,
            };
            let mut converted = Vec::with_capacity(items.len());
            for item in items {
                let item = match item {
                    Avro::Union(_, inner) => *inner,
                    other => other,
                };
                let Avro::Record(mut fields) = item else {
                    return Err(mismatch(&item));
                };
                let value = fields.pop().map(|(_, v)| v).unwrap_or(Avro::Null);
                let key = match fields.pop().map(|(_, k)| k) {
                    Some(Avro::String(k)) => k,
                    Some(Avro::Union(_, k)) if matches!(*k, Avro::String(_)) => match *k {
                        Avro::String(k) => k,
                        _ => String::new(),
                    },
                    other => return Err(mismatch(&other.unwrap_or(Avro::Null))),
                };
                let value = convert(
                    value,
                    entry_schema.unwrap_or(&AvroSchema::Null),
                    inner,
                    column,
                )?;
                converted.push((Text::from(key), value));
            }
            Value::Map(converted)
        }
        (Avro::Record(fields), SqlType::Struct(types)) => {
            let schemas: &[RecordField] = match schema {
                AvroSchema::Record(record) => &record.fields,
                _ => &[],
            };
            let mut fields: Vec<Option<(String, Avro)>> = fields.into_iter().map(Some).collect();
            let mut values = Vec::with_capacity(types.len());
            for (name, field_type) in types {
                // As spelled, else in any case, as ksqlDB matches columns to fields.
                let at = fields
                    .iter()
                    .position(|f| f.as_ref().is_some_and(|(n, _)| n == name))
                    .or_else(|| {
                        fields.iter().position(|f| {
                            f.as_ref()
                                .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
                        })
                    });
                let value = match at {
                    Some(at) => {
                        let value = fields[at].take().map_or(Avro::Null, |(_, v)| v);
                        let field_schema = schemas.get(at).map_or(&AvroSchema::Null, |f| &f.schema);
                        convert(value, field_schema, field_type, column)?
                    }
                    None => Value::Null,
                };
                values.push((Text::from(name.as_str()), value));
            }
            Value::Struct(values)
        }
        (other, _) => return Err(mismatch(&other)),
    })
}

/// A column's value as Avro, in the column's nullable union.
fn to_avro(value: &Value, sql_type: &SqlType) -> Result<Avro, String> {
    if value.is_null() {
        return Ok(Avro::Union(0, Box::new(Avro::Null)));
    }
    Ok(Avro::Union(1, Box::new(bare_avro(value, sql_type)?)))
}

fn bare_avro(value: &Value, sql_type: &SqlType) -> Result<Avro, String> {
    Ok(match (value, sql_type) {
        (Value::Null, _) => return Err(format!("a null {sql_type} cannot be written bare")),
        (Value::Boolean(b), SqlType::Boolean) => Avro::Boolean(*b),
        (Value::Integer(i), SqlType::Int) => {
            Avro::Int(i32::try_from(*i).map_err(|_| format!("{i} is out of range for INTEGER"))?)
        }
        (Value::Integer(i), SqlType::Bigint) => Avro::Long(*i),
        (Value::Integer(i), SqlType::Double) => Avro::Double(*i as f64),
        (Value::Double(d), SqlType::Double) => Avro::Double(*d),
        (Value::String(s), SqlType::String) => Avro::String(s.to_string()),
        (other, SqlType::String) => Avro::String(other.to_string()),
        (Value::Array(items), SqlType::Array(inner)) => Avro::Array(
            items
                .iter()
                .map(|item| to_avro(item, inner))
                .collect::<Result<_, _>>()?,
        ),
        (Value::Bytes(b), SqlType::Bytes) => Avro::Bytes(b.clone()),
        (Value::Decimal(d), SqlType::Decimal { precision, scale }) => {
            let fitted = d.cast(*precision, *scale).map_err(|e| e.to_string())?;
            Avro::Decimal(apache_avro::Decimal::from(fitted.to_be_bytes()))
        }
        (Value::Integer(i), SqlType::Decimal { precision, scale }) => {
            let fitted = Decimal::from_integer(*i)
                .cast(*precision, *scale)
                .map_err(|e| e.to_string())?;
            Avro::Decimal(apache_avro::Decimal::from(fitted.to_be_bytes()))
        }
        (Value::Date(d), SqlType::Date) => Avro::Date(*d),
        (Value::Time(t), SqlType::Time) => Avro::TimeMillis(*t),
        (Value::Timestamp(t), SqlType::Timestamp) => Avro::TimestampMillis(*t),
        (Value::Map(entries), SqlType::Map(inner)) => Avro::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((k.to_string(), to_avro(v, inner)?)))
                .collect::<Result<_, String>>()?,
        ),
        (Value::Struct(values), SqlType::Struct(types)) => Avro::Record(
            types
                .iter()
                .map(|(name, field_type)| {
                    let value = values
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or(&Value::Null, |(_, v)| v);
                    Ok((name.clone(), to_avro(value, field_type)?))
                })
                .collect::<Result<_, String>>()?,
        ),
        (other, _) => return Err(format!("{other} does not fit {sql_type}")),
    })
}

#[ouroboros::self_referencing]
struct Writer {
    schema: AvroSchema,
    #[borrows(schema)]
    #[covariant]
    datum: GenericDatumWriter<'this>,
}

/// Writes columns as Confluent-framed Avro with the schema ksqlDB would register.
pub struct AvroEncoder {
    subject: String,
    schema_text: String,
    writer: Writer,
    names: Vec<String>,
    types: Vec<SqlType>,
    wrapped: bool,
    registry: Arc<dyn SchemaRegistry>,
    /// The schema's id, once registered.
    id: OnceLock<u32>,
}

impl AvroEncoder {
    /// An encoder registering under `subject` a schema whose record is named `record`.
    pub fn new(
        subject: String,
        record: &str,
        names: &[String],
        types: &[SqlType],
        wrapped: bool,
        registry: Arc<dyn SchemaRegistry>,
    ) -> Result<AvroEncoder, EncodeError> {
        let columns: Vec<(String, SqlType)> =
            names.iter().cloned().zip(types.iter().cloned()).collect();
        let schema_json = columns_schema(&columns, wrapped, record);
        let schema =
            AvroSchema::parse(&schema_json).map_err(|e| EncodeError::Schema(e.to_string()))?;
        let writer = WriterTryBuilder {
            schema,
            datum_builder: |schema: &AvroSchema| {
                GenericDatumWriter::builder(schema).validate(false).build()
            },
        }
        .try_build()
        .map_err(|e| EncodeError::Schema(e.to_string()))?;
        Ok(AvroEncoder {
            subject,
            schema_text: schema_json.to_string(),
            writer,
            names: names.to_vec(),
            types: types.to_vec(),
            wrapped: wrapped || names.len() != 1,
            registry,
            id: OnceLock::new(),
        })
    }

    /// The schema this encoder writes, as registered.
    pub fn schema_text(&self) -> &str {
        &self.schema_text
    }

    fn value(&self, values: &[Value]) -> Result<Avro, String> {
        if !self.wrapped {
            let value = values.first().unwrap_or(&Value::Null);
            return bare_avro(value, &self.types[0]);
        }
        let mut fields = Vec::with_capacity(self.names.len());
        for ((name, sql_type), value) in self.names.iter().zip(&self.types).zip(values) {
            fields.push((name.clone(), to_avro(value, sql_type)?));
        }
        Ok(Avro::Record(fields))
    }
}

impl Encoder for AvroEncoder {
    fn prepare(&self) -> Result<(), EncodeError> {
        if self.id.get().is_some() {
            return Ok(());
        }
        let id = self
            .registry
            .register(&self.subject, &self.schema_text)
            .map_err(|e| EncodeError::Register {
                subject: self.subject.clone(),
                reason: e.to_string(),
            })?;
        let _ = self.id.set(id);
        Ok(())
    }

    fn is_absent(&self, values: &[Value]) -> bool {
        !self.wrapped && values.first().is_none_or(Value::is_null)
    }

    fn encode_into(&self, values: &[Value], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.prepare()?;
        self.write_framed(self.id.get().copied().unwrap_or_default(), values, out)
    }
}

impl AvroEncoder {
    /// The values framed with schema id `id`; `out` is left as it was when they do not
    /// fit the schema.
    fn write_framed(
        &self,
        id: u32,
        values: &[Value],
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let unfit = |reason: String| EncodeError::Row {
            subject: self.subject.clone(),
            reason,
        };
        let value = self.value(values).map_err(unfit)?;
        let start = out.len();
        out.push(0);
        out.extend_from_slice(&id.to_be_bytes());
        if let Err(error) = self.writer.borrow_datum().write_value_ref(out, &value) {
            out.truncate(start);
            return Err(unfit(error.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AvroFormatTest.shouldConvertNames in ksqlDB pins these down.
    #[test]
    fn key_records_are_named_after_their_source_in_upper_camel_case() {
        for (source, name) in [
            ("foo", "FooKey"),
            ("FOO", "FooKey"),
            ("FOO_BAR", "FooBarKey"),
            ("Foo_Bar", "FooBarKey"),
            ("foo_bar", "FooBarKey"),
            ("ORDER_TOTALS2", "OrderTotals2Key"),
        ] {
            assert_eq!(key_record_name(source), name, "{source}");
        }
    }

    /// An encoder that is never asked to register: its registry is not contacted.
    fn encoder(names: &[&str], types: &[SqlType], wrapped: bool) -> AvroEncoder {
        use crate::connector::schema_registry::{Backoff, HttpRegistry, RegistryConfig};
        let registry = HttpRegistry::new(
            &RegistryConfig {
                url: "http://127.0.0.1:9".into(),
                ..RegistryConfig::default()
            },
            Backoff::default(),
        )
        .unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        AvroEncoder::new(
            "OUT-value".into(),
            RECORD_NAME,
            &names,
            types,
            wrapped,
            Arc::new(registry),
        )
        .unwrap()
    }

    #[test]
    fn a_row_that_does_not_fit_is_an_error_and_writes_nothing() {
        let money = SqlType::Decimal {
            precision: 4,
            scale: 2,
        };
        let encoder = encoder(&["ID", "PRICE"], &[SqlType::Int, money], true);
        let mut out = b"kept".to_vec();
        let fits = [
            Value::Integer(7),
            Value::Decimal(Box::new(Decimal::parse("12.5").unwrap())),
        ];
        encoder.write_framed(3, &fits, &mut out).unwrap();
        assert_eq!(&out[..5], b"kept\0");
        assert_eq!(&out[5..9], &3u32.to_be_bytes());
        for unfit in [
            [Value::Integer(1 << 40), Value::Null],
            [
                Value::Integer(7),
                Value::Decimal(Box::new(Decimal::parse("123.5").unwrap())),
            ],
            [Value::String("seven".into()), Value::Null],
        ] {
            let mut out = b"kept".to_vec();
            let error = encoder.write_framed(3, &unfit, &mut out).unwrap_err();
            assert!(
                matches!(&error, EncodeError::Row { subject, .. } if subject == "OUT-value"),
                "{error}"
            );
            assert_eq!(out, b"kept", "{error}");
        }
    }

    #[test]
    fn a_bare_null_is_no_value_at_all() {
        let bare = encoder(&["V"], &[SqlType::Int], false);
        assert!(bare.is_absent(&[Value::Null]));
        assert!(!bare.is_absent(&[Value::Integer(1)]));
        let mut out = Vec::new();
        bare.write_framed(1, &[Value::Integer(1)], &mut out)
            .unwrap();
        // The magic byte, the id, then the zigzag int alone: no union branch.
        assert_eq!(out, [0, 0, 0, 0, 1, 2]);
        // Asked to anyway, it refuses rather than write a value that is not one.
        let error = bare.write_framed(1, &[Value::Null], &mut out).unwrap_err();
        assert!(
            error.to_string().contains("cannot be written bare"),
            "{error}"
        );
        let wrapped = encoder(&["V"], &[SqlType::Int], true);
        assert!(!wrapped.is_absent(&[Value::Null]));
    }

    #[test]
    fn a_bare_column_is_required_and_a_bare_struct_takes_the_record_name() {
        let int = [("K".to_string(), SqlType::Int)];
        assert_eq!(columns_schema(&int, false, "OutKey"), json!("int"));
        let place = SqlType::Struct(vec![("TOWN".into(), SqlType::String)]);
        assert_eq!(
            columns_schema(&[("P".to_string(), place.clone())], false, "OutKey"),
            json!({
                "type": "record", "name": "OutKey", "namespace": NAMESPACE,
                "fields": [{"name": "TOWN", "type": ["null", "string"], "default": null}],
                "connect.name": "io.confluent.ksql.avro_schemas.OutKey",
            })
        );
        let wrapped = columns_schema(
            &[
                ("K".to_string(), SqlType::Int),
                ("M".to_string(), SqlType::Map(Box::new(place))),
            ],
            true,
            "OutKey",
        );
        assert_eq!(wrapped["name"], "OutKey");
        assert_eq!(
            wrapped["fields"][1]["type"][1]["values"][1]["name"],
            "OutKey_M_MapValue"
        );
    }
}
