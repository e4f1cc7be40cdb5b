//! `submit ksql --dry-run`: every statement through advisor-engine's ksqlDB-dialect parser,
//! so a syntax error is found, with its line and column in the file, before anything is
//! sent. A statement the parser knows to be ksqlDB's but that the engine does not run is a
//! warning: ksqlDB accepts it.

use serde::Serialize;

use super::split::Piece;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// The engine's parser reads it.
    Ok,
    /// ksqlDB's, but not something advisor-engine runs.
    Warning,
    /// Not valid ksqlDB: sending it would fail.
    Error,
}

/// What the parser said of one statement, placed in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub severity: Severity,
    /// Where the problem is (or where the statement starts), 1-based.
    pub line: usize,
    pub column: usize,
    pub message: Option<String>,
}

/// Line and column (1-based, in characters) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit_once('\n')
        .map(|(_, tail)| tail)
        .unwrap_or(before)
        .chars()
        .count()
        + 1;
    (line, column)
}

/// The statements ksqlDB itself knows, by their first word.
const KSQL_STATEMENTS: [&str; 19] = [
    "ALTER",
    "ASSERT",
    "CREATE",
    "DEFINE",
    "DESCRIBE",
    "DROP",
    "EXPLAIN",
    "INSERT",
    "LIST",
    "PAUSE",
    "PRINT",
    "RESUME",
    "RUN",
    "SELECT",
    "SET",
    "SHOW",
    "TERMINATE",
    "UNDEFINE",
    "UNSET",
];

/// A parser message about something the engine does not run is a warning when ksqlDB has
/// it; a statement word ksqlDB does not know either is a syntax error.
fn classify(message: String) -> (Severity, String) {
    if let Some(word) = message.strip_suffix(" statements are not supported by advisor-engine") {
        if !KSQL_STATEMENTS.contains(&word.to_ascii_uppercase().as_str()) {
            return (Severity::Error, format!("{word} is not a ksqlDB statement"));
        }
    }
    if message.contains("not supported") {
        (Severity::Warning, message)
    } else {
        (Severity::Error, message)
    }
}

/// Checks each statement; `text` is the whole file the pieces were split from.
pub fn check(text: &str, pieces: &[Piece]) -> Vec<Check> {
    let mut cursor = 0;
    pieces
        .iter()
        .map(|piece| {
            // Where the piece starts in the file, to turn the parser's positions (relative
            // to the piece) into the file's.
            let start = text[cursor..].find(&piece.text).map(|i| cursor + i);
            if let Some(start) = start {
                cursor = start + piece.text.len();
            }
            let (line, column) = start.map(|s| position(text, s)).unwrap_or((piece.line, 1));
            match advisor_engine::sql::parse(&piece.text) {
                Ok(_) => Check {
                    severity: Severity::Ok,
                    line: piece.line,
                    column: 1,
                    message: None,
                },
                Err(error) => {
                    let at_line = line + error.at.line - 1;
                    let at_column = if error.at.line == 1 {
                        column + error.at.column - 1
                    } else {
                        error.at.column
                    };
                    let (severity, message) = classify(error.message);
                    Check {
                        severity,
                        line: at_line,
                        column: at_column,
                        message: Some(message),
                    }
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::submit::split::split;

    #[test]
    fn errors_are_placed_in_the_file_and_unsupported_statements_warn() {
        let text = "-- orders\nCREATE STREAM s (id STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');\n\n  SELEC id FROM s EMIT CHANGES;\nINSERT INTO s (id) VALUES ('a');\n";
        let pieces = split(text).unwrap();
        let checks = check(text, &pieces);
        assert_eq!(checks.len(), 3, "{checks:?}");
        assert_eq!(checks[0].severity, Severity::Ok);
        assert_eq!(checks[1].severity, Severity::Error, "{checks:?}");
        assert_eq!((checks[1].line, checks[1].column), (4, 3), "{checks:?}");
        assert_eq!(
            checks[1].message.as_deref(),
            Some("SELEC is not a ksqlDB statement")
        );
        assert_eq!(checks[2].severity, Severity::Warning, "{checks:?}");
        assert!(checks[2]
            .message
            .as_deref()
            .unwrap_or("")
            .contains("not supported"));
        assert_eq!(checks[2].line, 5);
    }
}
