//! Tokens of ksqlDB's SQL, each with the line and column it starts at.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// A bare word: keyword or identifier, as written.
    Word(String),
    /// A `backquoted` identifier: case kept, never a keyword.
    Quoted(String),
    /// A 'string literal', with '' unescaped.
    Str(String),
    Integer(i64),
    Decimal(f64),
    Symbol(&'static str),
    Semicolon,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) => write!(f, "{w}"),
            Token::Quoted(q) => write!(f, "`{q}`"),
            Token::Str(s) => write!(f, "'{s}'"),
            Token::Integer(i) => write!(f, "{i}"),
            Token::Decimal(d) => write!(f, "{d}"),
            Token::Symbol(s) => write!(f, "{s}"),
            Token::Semicolon => write!(f, ";"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    pub token: Token,
    pub at: Position,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct LexError {
    pub at: Position,
    pub message: String,
}

const SYMBOLS: [&str; 25] = [
    ":=", "<>", "!=", "<=", ">=", "||", "->", "(", ")", ",", ".", "*", "+", "-", "/", "%", "=",
    "<", ">", "?", "{", "}", "|", "[", "]",
];

struct Cursor {
    chars: Vec<char>,
    i: usize,
    line: usize,
    column: usize,
}

impl Cursor {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.i + offset).copied()
    }

    fn at(&self) -> Position {
        Position {
            line: self.line,
            column: self.column,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn bump_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek().filter(|c| keep(*c)) {
            out.push(c);
            self.bump();
        }
        out
    }
}

pub fn tokenize(text: &str) -> Result<Vec<Spanned>, LexError> {
    let mut cursor = Cursor {
        chars: text.chars().collect(),
        i: 0,
        line: 1,
        column: 1,
    };
    let mut tokens = Vec::new();
    while let Some(c) = cursor.peek() {
        let at = cursor.at();
        if c.is_whitespace() {
            cursor.bump();
        } else if c == '-' && cursor.peek_at(1) == Some('-') {
            cursor.bump_while(|c| c != '\n');
        } else if c == '/' && cursor.peek_at(1) == Some('*') {
            cursor.bump();
            cursor.bump();
            loop {
                match cursor.peek() {
                    None => {
                        return Err(LexError {
                            at,
                            message: "comment is not closed with */".into(),
                        })
                    }
                    Some('*') if cursor.peek_at(1) == Some('/') => {
                        cursor.bump();
                        cursor.bump();
                        break;
                    }
                    Some(_) => {
                        cursor.bump();
                    }
                }
            }
        } else if c == '\'' || c == '`' {
            cursor.bump();
            let mut value = String::new();
            loop {
                let Some(next) = cursor.bump() else {
                    return Err(LexError {
                        at,
                        message: format!(
                            "{} is not closed",
                            if c == '\'' {
                                "string"
                            } else {
                                "quoted identifier"
                            }
                        ),
                    });
                };
                if next == c {
                    if cursor.peek() == Some(c) {
                        value.push(c);
                        cursor.bump();
                        continue;
                    }
                    break;
                }
                value.push(next);
            }
            tokens.push(Spanned {
                token: if c == '\'' {
                    Token::Str(value)
                } else {
                    Token::Quoted(value)
                },
                at,
            });
        } else if c.is_ascii_digit() && digit_identifier(&cursor) {
            // SqlBase.g4's DIGIT_IDENTIFIER: `DIGIT (LETTER | DIGIT | '_' | '@')+` that is not
            // a number (`1R` is a name, `1E5` a number).
            let word = cursor.bump_while(|c| c.is_alphanumeric() || c == '_' || c == '@');
            tokens.push(Spanned {
                token: Token::Word(word),
                at,
            });
        } else if c.is_ascii_digit()
            || (c == '.' && cursor.peek_at(1).is_some_and(|d| d.is_ascii_digit()))
        {
            let mut number = cursor.bump_while(|c| c.is_ascii_digit() || c == '.');
            if matches!(cursor.peek(), Some('e') | Some('E')) {
                number.extend(cursor.bump());
                if matches!(cursor.peek(), Some('+') | Some('-')) {
                    number.extend(cursor.bump());
                }
                number.push_str(&cursor.bump_while(|c| c.is_ascii_digit()));
            }
            let token = if number.contains(['.', 'e', 'E']) {
                Token::Decimal(number.parse().map_err(|_| LexError {
                    at,
                    message: format!("{number} is not a number"),
                })?)
            } else {
                Token::Integer(number.parse().map_err(|_| LexError {
                    at,
                    message: format!("{number} is out of range for BIGINT"),
                })?)
            };
            tokens.push(Spanned { token, at });
        } else if c.is_alphabetic() || c == '_' || c == '@' {
            let word =
                cursor.bump_while(|c| c.is_alphanumeric() || c == '_' || c == '@' || c == '$');
            tokens.push(Spanned {
                token: Token::Word(word),
                at,
            });
        } else if c == ';' {
            cursor.bump();
            tokens.push(Spanned {
                token: Token::Semicolon,
                at,
            });
        } else {
            let pair: String = [Some(c), cursor.peek_at(1)].into_iter().flatten().collect();
            let Some(symbol) = SYMBOLS.iter().find(|s| pair.starts_with(**s)) else {
                return Err(LexError {
                    at,
                    message: format!("unexpected character {c:?}"),
                });
            };
            for _ in 0..symbol.len() {
                cursor.bump();
            }
            tokens.push(Spanned {
                token: Token::Symbol(symbol),
                at,
            });
        }
    }
    Ok(tokens)
}

/// Whether the word starting at the cursor (a digit) is a name rather than a number: it
/// holds a letter, `_` or `@`, and is not digits with an exponent (`1E5`, `2e+3`).
fn digit_identifier(cursor: &Cursor) -> bool {
    let word: Vec<char> = cursor.chars[cursor.i..]
        .iter()
        .copied()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '@')
        .collect();
    let digits = word.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == word.len() {
        return false;
    }
    let exponent = matches!(word[digits], 'e' | 'E')
        && (word[digits + 1..].iter().all(char::is_ascii_digit))
        && (digits + 1 < word.len()
            || matches!(cursor.chars.get(cursor.i + word.len()), Some('+' | '-')));
    !exponent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_their_positions_and_quotes_unescape() {
        let tokens =
            tokenize("SELECT 'it''s', `Mixed`\n  FROM x -- comment\n WHERE a >= 1.5;").unwrap();
        assert_eq!(tokens[1].token, Token::Str("it's".into()));
        assert_eq!(tokens[3].token, Token::Quoted("Mixed".into()));
        assert_eq!(tokens[4].at, Position { line: 2, column: 3 });
        assert_eq!(tokens[8].token, Token::Symbol(">="));
        assert_eq!(tokens[9].token, Token::Decimal(1.5));
    }

    #[test]
    fn names_may_start_with_a_digit_and_numbers_keep_exponents() {
        let tokens = tokenize("1R, 2_x, 1E5, 2e+3, 7").unwrap();
        let kinds: Vec<&Token> = tokens.iter().map(|t| &t.token).collect();
        assert_eq!(kinds[0], &Token::Word("1R".into()));
        assert_eq!(kinds[2], &Token::Word("2_x".into()));
        assert_eq!(kinds[4], &Token::Decimal(1e5));
        assert_eq!(kinds[6], &Token::Decimal(2e3));
        assert_eq!(kinds[8], &Token::Integer(7));
    }

    #[test]
    fn unclosed_strings_are_located() {
        let err = tokenize("SELECT\n  'abc").unwrap_err();
        assert_eq!(err.at, Position { line: 2, column: 3 });
    }
}
