//! Streams and tables as the catalog knows them: columns, topic, formats, the timestamp
//! column and, for a windowed table, its kind of window; built from a CREATE statement's
//! columns and WITH properties.

use crate::format::{FormatError, Formats};
use crate::sql::ast::{ColumnDef, Literal, Properties, SourceKind, SqlType, WindowKind};
use crate::value::{Column, Schema};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    #[error("{source_name} needs {property} in its WITH clause")]
    MissingProperty {
        source_name: String,
        property: &'static str,
    },
    #[error("{0}")]
    Format(#[from] FormatError),
    #[error("TIMESTAMP column {column} is {found}; advisor-engine reads BIGINT epoch milliseconds, or a STRING with TIMESTAMP_FORMAT")]
    TimestampType { column: String, found: SqlType },
    #[error("TIMESTAMP_FORMAT needs a TIMESTAMP column of type STRING to parse")]
    FormatWithoutTimestamp,
    #[error("TIMESTAMP column {column} is not a column of {source_name}")]
    UnknownTimestamp { column: String, source_name: String },
    #[error("table {0} needs a PRIMARY KEY column")]
    TableWithoutKey(String),
    #[error("Invalid value for WINDOW_TYPE: '{0}'; give TUMBLING, HOPPING or SESSION")]
    WindowType(String),
    #[error("{0} windows require 'WINDOW_SIZE' to be provided in the WITH clause. For example: 'WINDOW_SIZE'='10 SECONDS'")]
    WindowSizeMissing(&'static str),
    #[error("'WINDOW_SIZE' should not be set for SESSION windows.")]
    SessionWithSize,
    /// ksqlDB's DurationParser on WINDOW_SIZE.
    #[error("Configuration WINDOW_SIZE is invalid: Invalid duration: '{given}'. {reason}")]
    WindowSize { given: String, reason: String },
    #[error("WATERMARK_DELAY '{0}' is not a duration: give milliseconds (2000) or a duration ('2 seconds')")]
    WatermarkDelay(String),
}

/// The kind of window a windowed table's rows belong to: it decides the key bytes on Kafka
/// (a time window's key ends with its start; a session's with its end, then its start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowType {
    Tumbling,
    Hopping,
    Session,
}

impl WindowType {
    pub fn of(kind: &WindowKind) -> WindowType {
        match kind {
            WindowKind::Tumbling { .. } => WindowType::Tumbling,
            WindowKind::Hopping { .. } => WindowType::Hopping,
            WindowKind::Session { .. } => WindowType::Session,
        }
    }

    /// The name DESCRIBE shows.
    pub fn name(self) -> &'static str {
        match self {
            WindowType::Tumbling => "TUMBLING",
            WindowType::Hopping => "HOPPING",
            WindowType::Session => "SESSION",
        }
    }
}

/// A stream or table known to the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDef {
    pub name: String,
    pub kind: SourceKind,
    pub schema: Schema,
    pub topic: String,
    pub formats: Formats,
    pub timestamp: Option<String>,
    /// TIMESTAMP_FORMAT: the Java pattern a STRING timestamp column is written in.
    pub timestamp_format: Option<String>,
    /// Set for a windowed table, or a stream or table declared with WINDOW_TYPE (its
    /// records' keys end with the window).
    pub window: Option<WindowType>,
    /// WINDOW_SIZE of a declared TUMBLING or HOPPING source, in milliseconds: a record's
    /// window ends this long after the start its key holds.
    pub window_size: Option<i64>,
    /// How far behind the newest event time the watermark trails (less 1 ms), for the
    /// operators that follow Flink SQL: OVER windows and MATCH_RECOGNIZE hold rows until it
    /// passes them, as Flink's `WATERMARK FOR ts AS ts - INTERVAL ...` does. An extension
    /// of ksqlDB's WITH clause; 0 by default.
    pub watermark_delay: i64,
}

/// A WITH property as text.
pub fn property(properties: &Properties, key: &str) -> Option<String> {
    crate::sql::ast::property_text(properties, key)
}

impl SourceDef {
    pub fn declared(
        kind: SourceKind,
        name: &str,
        columns: &[ColumnDef],
        properties: &Properties,
    ) -> Result<SourceDef, CatalogError> {
        let missing = |property| CatalogError::MissingProperty {
            source_name: name.to_string(),
            property,
        };
        let topic = property(properties, "KAFKA_TOPIC").ok_or_else(|| missing("KAFKA_TOPIC"))?;
        let formats =
            Formats::from_properties(properties, None)?.ok_or_else(|| missing("VALUE_FORMAT"))?;
        let schema = Schema {
            columns: columns
                .iter()
                .map(|c| Column {
                    name: c.name.clone(),
                    sql_type: c.sql_type.clone(),
                    key: c.key,
                })
                .collect(),
        };
        let timestamp = property(properties, "TIMESTAMP").map(|t| t.to_ascii_uppercase());
        let timestamp_format = property(properties, "TIMESTAMP_FORMAT");
        if timestamp_format.is_some() && timestamp.is_none() {
            return Err(CatalogError::FormatWithoutTimestamp);
        }
        if let Some(column) = &timestamp {
            match schema.index_of(column).map(|i| &schema.columns[i].sql_type) {
                Some(SqlType::Bigint) if timestamp_format.is_none() => {}
                Some(SqlType::String) if timestamp_format.is_some() => {}
                Some(other) => {
                    return Err(CatalogError::TimestampType {
                        column: column.clone(),
                        found: other.clone(),
                    })
                }
                None => {
                    return Err(CatalogError::UnknownTimestamp {
                        column: column.clone(),
                        source_name: name.to_string(),
                    })
                }
            }
        }
        let watermark_delay = match properties.get("WATERMARK_DELAY") {
            None => 0,
            Some(Literal::Integer(ms)) if *ms >= 0 => *ms,
            Some(Literal::String(text)) => humantime::parse_duration(text)
                .map(|d| d.as_millis() as i64)
                .map_err(|_| CatalogError::WatermarkDelay(text.clone()))?,
            Some(other) => return Err(CatalogError::WatermarkDelay(format!("{other:?}"))),
        };
        let (window, window_size) = declared_window(properties)?;
        if kind == SourceKind::Table && schema.key_columns().next().is_none() {
            return Err(CatalogError::TableWithoutKey(name.to_string()));
        }
        formats.check(&schema)?;
        Ok(SourceDef {
            name: name.to_string(),
            kind,
            schema,
            topic,
            formats,
            timestamp,
            timestamp_format,
            window,
            window_size,
            watermark_delay,
        })
    }
}

/// WINDOW_TYPE and WINDOW_SIZE of a declared source whose records' keys are windowed.
fn declared_window(
    properties: &Properties,
) -> Result<(Option<WindowType>, Option<i64>), CatalogError> {
    let size = property(properties, "WINDOW_SIZE")
        .map(|s| window_size(&s))
        .transpose()?;
    let Some(kind) = property(properties, "WINDOW_TYPE") else {
        return Ok((None, None));
    };
    let kind = match kind.to_ascii_uppercase().as_str() {
        "TUMBLING" => WindowType::Tumbling,
        "HOPPING" => WindowType::Hopping,
        "SESSION" => WindowType::Session,
        _ => return Err(CatalogError::WindowType(kind)),
    };
    match (kind, size) {
        (WindowType::Session, Some(_)) => Err(CatalogError::SessionWithSize),
        (WindowType::Session, None) => Ok((Some(kind), None)),
        (_, None) => Err(CatalogError::WindowSizeMissing(kind.name())),
        (_, size) => Ok((Some(kind), size)),
    }
}

/// A WINDOW_SIZE as ksqlDB's DurationParser reads it: a number and a time unit
/// (`'30 SECONDS'`, singular or plural, any case), in milliseconds.
pub fn window_size(text: &str) -> Result<i64, CatalogError> {
    let invalid = |reason: String| CatalogError::WindowSize {
        given: text.to_string(),
        reason,
    };
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [number, unit] = parts[..] else {
        return Err(invalid(format!("Expected 2 tokens, got: {}", parts.len())));
    };
    let count: i64 = number
        .parse()
        .map_err(|_| invalid(format!("Not numeric: '{number}'")))?;
    let unit = unit.to_ascii_uppercase();
    let plural = if unit.ends_with('S') {
        unit.clone()
    } else {
        format!("{unit}S")
    };
    let millis = match plural.as_str() {
        "NANOSECONDS" => return Ok(count / 1_000_000),
        "MICROSECONDS" => return Ok(count / 1_000),
        "MILLISECONDS" => 1,
        "SECONDS" => 1_000,
        "MINUTES" => 60_000,
        "HOURS" => 3_600_000,
        "DAYS" => 86_400_000,
        _ => return Err(invalid(format!("Unknown time unit: '{unit}'"))),
    };
    Ok(count.saturating_mul(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_sizes_read_as_ksqldb_durations() {
        assert_eq!(window_size("30 seconds").unwrap(), 30_000);
        assert_eq!(window_size("1 HOUR").unwrap(), 3_600_000);
        assert_eq!(
            window_size("30 bobs").unwrap_err().to_string(),
            "Configuration WINDOW_SIZE is invalid: Invalid duration: '30 bobs'. Unknown time unit: 'BOBS'"
        );
        assert!(window_size("30").is_err());
    }

    #[test]
    fn declared_windows_need_their_size() {
        let props = |pairs: &[(&str, &str)]| -> Properties {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Literal::String(v.to_string())))
                .collect()
        };
        assert_eq!(
            declared_window(&props(&[
                ("WINDOW_TYPE", "HoPping"),
                ("WINDOW_SIZE", "30 seconds")
            ]))
            .unwrap(),
            (Some(WindowType::Hopping), Some(30_000))
        );
        assert_eq!(
            declared_window(&props(&[("WINDOW_TYPE", "session")])).unwrap(),
            (Some(WindowType::Session), None)
        );
        assert!(declared_window(&props(&[("WINDOW_TYPE", "Tumbling")])).is_err());
        assert!(declared_window(&props(&[("WINDOW_TYPE", "sliding")])).is_err());
        assert_eq!(declared_window(&props(&[])).unwrap(), (None, None));
    }
}
