//! Splits a SQL file into statements: `;` ends one, except inside 'strings', `quoted
//! identifiers`, -- line comments and /* block comments */.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The statement with its `;`, comments kept.
    pub text: String,
    /// Line where its first non-blank, non-comment character is.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what} opened here is never closed")]
pub struct SplitError {
    pub line: usize,
    pub what: &'static str,
}

pub fn split(sql: &str) -> Result<Vec<Piece>, SplitError> {
    let chars: Vec<char> = sql.chars().collect();
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut start_line: Option<usize> = None;
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '-' && next == Some('-') {
            while i < chars.len() && chars[i] != '\n' {
                current.push(chars[i]);
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let opened = line;
            current.push_str("/*");
            i += 2;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(SplitError {
                            line: opened,
                            what: "a /* comment",
                        })
                    }
                    Some('*') if chars.get(i + 1) == Some(&'/') => {
                        current.push_str("*/");
                        i += 2;
                        break;
                    }
                    Some(&ch) => {
                        if ch == '\n' {
                            line += 1;
                        }
                        current.push(ch);
                        i += 1;
                    }
                }
            }
            continue;
        }
        if c == '\'' || c == '`' || c == '"' {
            let opened = line;
            start_line.get_or_insert(line);
            current.push(c);
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(SplitError {
                            line: opened,
                            what: match c {
                                '\'' => "a string",
                                _ => "a quoted identifier",
                            },
                        })
                    }
                    Some(&ch) if ch == c => {
                        current.push(ch);
                        i += 1;
                        // A doubled quote stands for the quote itself.
                        if chars.get(i) == Some(&c) {
                            current.push(c);
                            i += 1;
                            continue;
                        }
                        break;
                    }
                    Some(&ch) => {
                        if ch == '\n' {
                            line += 1;
                        }
                        current.push(ch);
                        i += 1;
                    }
                }
            }
            continue;
        }
        if c == '\n' {
            line += 1;
        }
        current.push(c);
        i += 1;
        if c == ';' {
            if let Some(at) = start_line.take() {
                pieces.push(Piece {
                    text: current.trim().to_string(),
                    line: at,
                });
            }
            current.clear();
        } else if !c.is_whitespace() {
            start_line.get_or_insert(line);
        }
    }
    if let Some(at) = start_line {
        let text = current.trim();
        pieces.push(Piece {
            text: format!("{text};"),
            line: at,
        });
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolons_in_strings_comments_and_identifiers_do_not_split() {
        let sql = "-- a comment; with a semicolon\nCREATE STREAM `we;ird` (a STRING)\n  WITH (KAFKA_TOPIC='t;1', VALUE_FORMAT='JSON');\n/* block; comment */ SELECT 'it''s; fine' FROM s;\n\nSHOW STREAMS";
        let pieces = split(sql).unwrap();
        assert_eq!(pieces.len(), 3, "{pieces:?}");
        assert_eq!(pieces[0].line, 2);
        assert!(pieces[0].text.ends_with("VALUE_FORMAT='JSON');"));
        assert_eq!(pieces[1].line, 4);
        assert!(pieces[1].text.contains("'it''s; fine'"));
        assert_eq!(
            pieces[2],
            Piece {
                text: "SHOW STREAMS;".into(),
                line: 6
            }
        );
    }

    #[test]
    fn unclosed_strings_and_comments_name_their_line() {
        assert_eq!(
            split("SELECT 1;\nSELECT 'oops FROM s;").unwrap_err(),
            SplitError {
                line: 2,
                what: "a string"
            }
        );
        assert_eq!(
            split("/* never\nclosed").unwrap_err(),
            SplitError {
                line: 1,
                what: "a /* comment"
            }
        );
        assert!(split("  -- only a comment\n").unwrap().is_empty());
    }
}
