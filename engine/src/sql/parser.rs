//! A recursive-descent parser for the ksqlDB statements the engine runs. Errors name the
//! line and column, as ksqlDB's do.

use std::collections::BTreeMap;

use super::ast::*;
use super::lexer::{tokenize, LexError, Position, Spanned, Token};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {}:{}: {message}", at.line, at.column)]
pub struct ParseError {
    pub at: Position,
    pub message: String,
}

impl From<LexError> for ParseError {
    fn from(e: LexError) -> Self {
        ParseError {
            at: e.at,
            message: e.message,
        }
    }
}

/// Words that end a select item, so they are never taken as an alias without AS.
const CLAUSE_WORDS: [&str; 17] = [
    "FROM",
    "WHERE",
    "WINDOW",
    "GROUP",
    "HAVING",
    "EMIT",
    "LIMIT",
    "PARTITION",
    "JOIN",
    "LEFT",
    "INNER",
    "RIGHT",
    "FULL",
    "OUTER",
    "WITHIN",
    "ON",
    "MATCH_RECOGNIZE",
];

struct Parser<'a> {
    tokens: &'a [Spanned],
    pos: usize,
    end: Position,
}

type Result<T> = std::result::Result<T, ParseError>;

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.pos).map(|t| &t.token)
    }

    fn peek_at(&self, offset: usize) -> Option<&'a Token> {
        self.tokens.get(self.pos + offset).map(|t| &t.token)
    }

    fn at(&self) -> Position {
        self.tokens.get(self.pos).map(|t| t.at).unwrap_or(self.end)
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T> {
        Err(ParseError {
            at: self.at(),
            message: message.into(),
        })
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(token) => format!("'{token}'"),
            None => "the end of the statement".to_string(),
        }
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn is_word_at(&self, offset: usize, word: &str) -> bool {
        matches!(self.peek_at(offset), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.is_word(word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_word(&mut self, word: &str) -> Result<()> {
        if self.eat_word(word) {
            Ok(())
        } else {
            self.error(format!("expected {word} but found {}", self.found()))
        }
    }

    /// `(a, b, ...)` after GROUP BY, when it is a list of two or more expressions that
    /// ends the grouping; otherwise nothing is consumed (`(a + b) * 2` is one expression).
    fn grouping_set(&mut self) -> Option<Vec<Expr>> {
        if !self.is_symbol("(") {
            return None;
        }
        let start = self.pos;
        self.pos += 1;
        let mut list = Vec::new();
        let parsed = loop {
            match self.expr() {
                Ok(expr) => list.push(expr),
                Err(_) => break false,
            }
            if !self.eat_symbol(",") {
                break self.eat_symbol(")");
            }
        };
        // An operator after the `)` means the parentheses were part of one expression.
        let ends = !matches!(self.peek(), Some(Token::Symbol(_)));
        if parsed && list.len() > 1 && ends {
            return Some(list);
        }
        self.pos = start;
        None
    }

    fn is_symbol(&self, symbol: &str) -> bool {
        matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol)
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        if self.is_symbol(symbol) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_symbol(&mut self, symbol: &str) -> Result<()> {
        if self.eat_symbol(symbol) {
            Ok(())
        } else {
            self.error(format!("expected '{symbol}' but found {}", self.found()))
        }
    }

    /// An identifier: bare words are upper-cased, `quoted` ones keep their case.
    fn identifier(&mut self) -> Result<String> {
        match self.peek() {
            Some(Token::Word(w)) => {
                self.pos += 1;
                Ok(w.to_ascii_uppercase())
            }
            Some(Token::Quoted(q)) => {
                self.pos += 1;
                Ok(q.clone())
            }
            _ => self.error(format!("expected a name but found {}", self.found())),
        }
    }

    fn integer(&mut self) -> Result<i64> {
        match self.peek() {
            Some(Token::Integer(i)) => {
                self.pos += 1;
                Ok(*i)
            }
            _ => self.error(format!(
                "expected a whole number but found {}",
                self.found()
            )),
        }
    }

    fn statement(&mut self) -> Result<Statement> {
        if self.eat_word("CREATE") {
            return self.create();
        }
        if self.is_word("SELECT") {
            return Ok(Statement::Select(self.query()?));
        }
        if self.eat_word("SHOW") || self.eat_word("LIST") {
            let what = self.identifier()?;
            let known = ["STREAMS", "TABLES", "QUERIES", "TOPICS", "PROPERTIES"];
            if !known.contains(&what.as_str()) {
                return Err(ParseError {
                    at: self.tokens[self.pos - 1].at,
                    message: format!(
                        "SHOW {what} is not supported; the engine shows {}",
                        known.join(", ")
                    ),
                });
            }
            self.eat_word("EXTENDED");
            return Ok(Statement::Show(what));
        }
        if self.eat_word("DESCRIBE") {
            let name = self.identifier()?;
            self.eat_word("EXTENDED");
            return Ok(Statement::Describe(name));
        }
        if self.eat_word("DROP") {
            let kind = self.source_kind()?;
            let if_exists = if self.eat_word("IF") {
                self.expect_word("EXISTS")?;
                true
            } else {
                false
            };
            let name = self.identifier()?;
            let delete_topic = if self.eat_word("DELETE") {
                self.expect_word("TOPIC")?;
                true
            } else {
                false
            };
            return Ok(Statement::Drop {
                kind,
                name,
                if_exists,
                delete_topic,
            });
        }
        if self.eat_word("TERMINATE") {
            return Ok(Statement::Terminate(self.identifier()?));
        }
        match self.peek() {
            Some(Token::Word(w)) => self.error(format!(
                "{} statements are not supported by advisor-engine",
                w.to_ascii_uppercase()
            )),
            _ => self.error(format!("expected a statement but found {}", self.found())),
        }
    }

    fn source_kind(&mut self) -> Result<SourceKind> {
        if self.eat_word("STREAM") {
            Ok(SourceKind::Stream)
        } else if self.eat_word("TABLE") {
            Ok(SourceKind::Table)
        } else {
            self.error(format!(
                "expected STREAM or TABLE but found {}",
                self.found()
            ))
        }
    }

    fn create(&mut self) -> Result<Statement> {
        let or_replace = if self.eat_word("OR") {
            self.expect_word("REPLACE")?;
            true
        } else {
            false
        };
        if self.is_word("SOURCE") || self.is_word("SINK") {
            return self.error(
                "CREATE SOURCE/SINK CONNECTOR statements are not supported by advisor-engine",
            );
        }
        let kind = self.source_kind()?;
        let if_not_exists = if self.eat_word("IF") {
            self.expect_word("NOT")?;
            self.expect_word("EXISTS")?;
            true
        } else {
            false
        };
        let name = self.identifier()?;
        if self.eat_symbol("(") {
            let mut columns = Vec::new();
            loop {
                columns.push(self.column_def(kind)?);
                if self.eat_symbol(")") {
                    break;
                }
                self.expect_symbol(",")?;
            }
            let properties = if self.eat_word("WITH") {
                self.properties()?
            } else {
                return self.error("CREATE with columns needs a WITH clause naming at least KAFKA_TOPIC and VALUE_FORMAT");
            };
            return Ok(Statement::CreateSource {
                kind,
                name,
                columns,
                properties,
                if_not_exists,
                or_replace,
            });
        }
        let properties = if self.eat_word("WITH") {
            self.properties()?
        } else {
            BTreeMap::new()
        };
        // No columns and no query: ksqlDB takes the columns from the Schema Registry.
        if !properties.is_empty() && !self.is_word("AS") {
            return Ok(Statement::CreateSource {
                kind,
                name,
                columns: Vec::new(),
                properties,
                if_not_exists,
                or_replace,
            });
        }
        self.expect_word("AS")?;
        let query = self.query()?;
        Ok(Statement::CreateAsSelect {
            kind,
            name,
            properties,
            query,
            if_not_exists,
            or_replace,
        })
    }

    fn column_def(&mut self, kind: SourceKind) -> Result<ColumnDef> {
        let name = self.identifier()?;
        let sql_type = self.sql_type()?;
        let key = if self.eat_word("PRIMARY") {
            self.expect_word("KEY")?;
            if kind == SourceKind::Stream {
                return self.error("streams have KEY columns, not PRIMARY KEY");
            }
            true
        } else if self.eat_word("KEY") {
            if kind == SourceKind::Table {
                return self.error("tables have PRIMARY KEY columns, not KEY");
            }
            true
        } else {
            false
        };
        Ok(ColumnDef {
            name,
            sql_type,
            key,
        })
    }

    fn sql_type(&mut self) -> Result<SqlType> {
        let at = self.at();
        let name = self.identifier()?;
        Ok(match name.as_str() {
            "BOOLEAN" => SqlType::Boolean,
            "INT" | "INTEGER" => SqlType::Int,
            "BIGINT" => SqlType::Bigint,
            "DOUBLE" => SqlType::Double,
            "STRING" | "VARCHAR" => SqlType::String,
            "DATE" => SqlType::Date,
            "TIME" => SqlType::Time,
            "TIMESTAMP" => SqlType::Timestamp,
            "BYTES" => SqlType::Bytes,
            "DECIMAL" => {
                self.expect_symbol("(")?;
                let precision = self.integer()?;
                self.expect_symbol(",")?;
                let scale = self.integer()?;
                self.expect_symbol(")")?;
                // ksqlDB's DecimalUtil.validateParameters.
                if !(1..=i64::from(crate::decimal::MAX_PRECISION)).contains(&precision) {
                    return Err(ParseError {
                        at,
                        message: format!(
                            "DECIMAL precision must be from 1 to {}: {precision}",
                            crate::decimal::MAX_PRECISION
                        ),
                    });
                }
                if !(0..=precision).contains(&scale) {
                    return Err(ParseError {
                        at,
                        message: format!(
                            "DECIMAL scale must be from 0 to the precision ({precision}): {scale}"
                        ),
                    });
                }
                SqlType::Decimal {
                    precision: precision as u8,
                    scale: scale as u8,
                }
            }
            "ARRAY" => {
                self.expect_symbol("<")?;
                let inner = self.sql_type()?;
                self.expect_symbol(">")?;
                SqlType::Array(Box::new(inner))
            }
            "MAP" => {
                self.expect_symbol("<")?;
                let key_at = self.at();
                let key = self.sql_type()?;
                if key != SqlType::String {
                    return Err(ParseError {
                        at: key_at,
                        message: format!("MAP keys must be STRING, as in ksqlDB; got {key}"),
                    });
                }
                self.expect_symbol(",")?;
                let value = self.sql_type()?;
                self.expect_symbol(">")?;
                SqlType::Map(Box::new(value))
            }
            "STRUCT" => {
                self.expect_symbol("<")?;
                let mut fields: Vec<(String, SqlType)> = Vec::new();
                if !self.eat_symbol(">") {
                    loop {
                        let field_at = self.at();
                        let name = self.identifier()?;
                        if fields.iter().any(|(n, _)| *n == name) {
                            return Err(ParseError {
                                at: field_at,
                                message: format!("Duplicate field names found in STRUCT: '{name}'"),
                            });
                        }
                        fields.push((name, self.sql_type()?));
                        if self.eat_symbol(">") {
                            break;
                        }
                        self.expect_symbol(",")?;
                    }
                }
                SqlType::Struct(fields)
            }
            other => {
                return Err(ParseError {
                    at,
                    message: format!(
                        "type {other} is not supported; the engine knows BOOLEAN, INT, BIGINT, DOUBLE, DECIMAL(p, s), STRING, BYTES, DATE, TIME, TIMESTAMP, ARRAY<...>, MAP<STRING, ...> and STRUCT<...>"
                    ),
                })
            }
        })
    }

    fn properties(&mut self) -> Result<Properties> {
        self.expect_symbol("(")?;
        let mut properties = BTreeMap::new();
        loop {
            let key = self.identifier()?.to_ascii_uppercase();
            self.expect_symbol("=")?;
            let value = match self.literal()? {
                Some(value) => value,
                None => {
                    return self.error(format!(
                        "expected a value for {key} but found {}",
                        self.found()
                    ))
                }
            };
            properties.insert(key, value);
            if self.eat_symbol(")") {
                return Ok(properties);
            }
            self.expect_symbol(",")?;
        }
    }

    fn literal(&mut self) -> Result<Option<Literal>> {
        let literal = match self.peek() {
            Some(Token::Str(s)) => Literal::String(s.clone()),
            Some(Token::Integer(i)) => Literal::Integer(*i),
            Some(Token::Decimal(d)) => Literal::Decimal(*d),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("TRUE") => Literal::Boolean(true),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("FALSE") => Literal::Boolean(false),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("NULL") => Literal::Null,
            _ => return Ok(None),
        };
        self.pos += 1;
        Ok(Some(literal))
    }

    fn query(&mut self) -> Result<Query> {
        self.expect_word("SELECT")?;
        let mut projection = Vec::new();
        loop {
            let source_star = matches!(
                (
                    self.tokens.get(self.pos).map(|t| &t.token),
                    self.tokens.get(self.pos + 1).map(|t| &t.token),
                    self.tokens.get(self.pos + 2).map(|t| &t.token),
                ),
                (
                    Some(Token::Word(_) | Token::Quoted(_)),
                    Some(Token::Symbol(".")),
                    Some(Token::Symbol("*"))
                )
            );
            if self.eat_symbol("*") {
                projection.push(SelectItem::Wildcard);
            } else if source_star {
                let source = self.identifier()?;
                self.pos += 2;
                projection.push(SelectItem::SourceWildcard(source));
            } else {
                let expr = self.expr()?;
                let alias = if self.eat_word("AS") {
                    Some(self.identifier()?)
                } else {
                    match self.peek() {
                        Some(Token::Word(w))
                            if !CLAUSE_WORDS.iter().any(|c| w.eq_ignore_ascii_case(c)) =>
                        {
                            Some(self.identifier()?)
                        }
                        Some(Token::Quoted(_)) => Some(self.identifier()?),
                        _ => None,
                    }
                };
                projection.push(SelectItem::Expr { expr, alias });
            }
            if !self.eat_symbol(",") {
                break;
            }
        }
        self.expect_word("FROM")?;
        let from = if self.eat_symbol("(") {
            if !self.is_word("SELECT") {
                return self.error(format!(
                    "expected a SELECT in parentheses after FROM but found {}",
                    self.found()
                ));
            }
            let inner = self.query()?;
            self.expect_symbol(")")?;
            Relation::Derived(Box::new(inner))
        } else {
            Relation::Source(self.identifier()?)
        };
        let from_alias = self.source_alias()?;
        let mut joins = Vec::new();
        while let Some(join) = self.join()? {
            joins.push(join);
        }
        let match_recognize = if self.eat_word("MATCH_RECOGNIZE") {
            let clause = self.match_recognize()?;
            self.source_alias()?;
            Some(Box::new(clause))
        } else {
            None
        };
        let mut over_windows = Vec::new();
        let window = if self.is_word("WINDOW") && !self.is_word_at(2, "AS") {
            self.pos += 1;
            Some(self.window()?)
        } else {
            None
        };
        let filter = if self.eat_word("WHERE") {
            Some(self.expr()?)
        } else {
            None
        };
        if self.is_word("PARTITION") {
            return self.error("PARTITION BY is not supported by advisor-engine yet");
        }
        let mut group_by = Vec::new();
        if self.eat_word("GROUP") {
            self.expect_word("BY")?;
            // SqlBase.g4's groupingElement: an expression, or `(a, b, ...)`, which groups by
            // the listed expressions as if written without the parentheses.
            if let Some(set) = self.grouping_set() {
                group_by = set;
            } else {
                loop {
                    group_by.push(self.expr()?);
                    if !self.eat_symbol(",") {
                        break;
                    }
                }
            }
        }
        let having = if self.eat_word("HAVING") {
            Some(self.expr()?)
        } else {
            None
        };
        // Flink's named windows: WINDOW w AS (PARTITION BY ... ORDER BY ... frame), ...
        if self.is_word("WINDOW") && self.is_word_at(2, "AS") {
            self.pos += 1;
            loop {
                let name = self.identifier()?;
                self.expect_word("AS")?;
                over_windows.push((name, self.over_spec()?));
                if !self.eat_symbol(",") {
                    break;
                }
            }
        }
        let emit = if self.eat_word("EMIT") {
            if self.eat_word("CHANGES") {
                Some(Emit::Changes)
            } else if self.eat_word("FINAL") {
                Some(Emit::Final)
            } else {
                return self.error(format!(
                    "expected CHANGES or FINAL but found {}",
                    self.found()
                ));
            }
        } else {
            None
        };
        let limit = if self.eat_word("LIMIT") {
            let n = self.integer()?;
            if n < 0 {
                return self.error("LIMIT must be zero or more");
            }
            Some(n as u64)
        } else {
            None
        };
        Ok(Query {
            projection,
            from,
            from_alias,
            joins,
            match_recognize,
            over_windows,
            filter,
            window,
            group_by,
            having,
            emit,
            limit,
        })
    }

    /// A duration that may be zero (a grace period).
    fn duration_or_zero(&mut self) -> Result<Millis> {
        self.duration_from(0)
    }

    fn duration(&mut self) -> Result<Millis> {
        self.duration_from(1)
    }

    fn duration_from(&mut self, least: i64) -> Result<Millis> {
        let amount = self.integer()?;
        let at = self.at();
        let unit = self.identifier()?;
        let per_unit = match unit.trim_end_matches('S') {
            "MILLISECOND" => 1,
            "SECOND" => 1000,
            "MINUTE" => 60_000,
            "HOUR" => 3_600_000,
            "DAY" => 86_400_000,
            _ => {
                return Err(ParseError {
                    at,
                    message: format!(
                    "{unit} is not a time unit; use MILLISECONDS, SECONDS, MINUTES, HOURS or DAYS"
                ),
                })
            }
        };
        if amount < least {
            return Err(ParseError {
                at,
                message: if least > 0 {
                    "window durations must be above zero".into()
                } else {
                    "a grace period cannot be negative".into()
                },
            });
        }
        amount.checked_mul(per_unit).ok_or_else(|| ParseError {
            at,
            message: format!(
                "{amount} {unit} is too long a duration: at most {} days",
                i64::MAX / 86_400_000
            ),
        })
    }

    fn window(&mut self) -> Result<WindowSpec> {
        let at = self.at();
        // ksqlDB's grammar lets a window carry a name before its kind
        // (`windowExpression: (IDENTIFIER)? (tumbling | hopping | session)`); the name
        // has no use, so it is read and dropped.
        if ["TUMBLING", "HOPPING", "SESSION"]
            .iter()
            .any(|kind| self.is_word_at(1, kind))
            && !["TUMBLING", "HOPPING", "SESSION"]
                .iter()
                .any(|kind| self.is_word(kind))
        {
            self.identifier()?;
        }
        let kind_name = self.identifier()?;
        self.expect_symbol("(")?;
        let kind = match kind_name.as_str() {
            "TUMBLING" => {
                self.expect_word("SIZE")?;
                WindowKind::Tumbling {
                    size: self.duration()?,
                }
            }
            "HOPPING" => {
                self.expect_word("SIZE")?;
                let size = self.duration()?;
                self.expect_symbol(",")?;
                self.expect_word("ADVANCE")?;
                self.expect_word("BY")?;
                let advance = self.duration()?;
                if advance > size {
                    return self.error("the ADVANCE BY of a hopping window cannot exceed its SIZE");
                }
                WindowKind::Hopping { size, advance }
            }
            "SESSION" => WindowKind::Session {
                gap: self.duration()?,
            },
            other => {
                return Err(ParseError {
                    at,
                    message: format!("{other} is not a window; use TUMBLING, HOPPING or SESSION"),
                })
            }
        };
        let (mut retention, mut grace) = (None, None);
        while self.eat_symbol(",") {
            if self.eat_word("RETENTION") {
                retention = Some(self.duration()?);
            } else if self.eat_word("GRACE") {
                self.expect_word("PERIOD")?;
                grace = Some(self.duration_or_zero()?);
            } else {
                return self.error(format!(
                    "expected RETENTION or GRACE PERIOD but found {}",
                    self.found()
                ));
            }
        }
        self.expect_symbol(")")?;
        Ok(WindowSpec {
            kind,
            retention,
            grace,
        })
    }

    fn expr(&mut self) -> Result<Expr> {
        self.or()
    }

    fn or(&mut self) -> Result<Expr> {
        let mut left = self.and()?;
        while self.eat_word("OR") {
            let right = self.and()?;
            left = Expr::Binary(BinaryOp::Or, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr> {
        let mut left = self.not()?;
        while self.eat_word("AND") {
            let right = self.not()?;
            left = Expr::Binary(BinaryOp::And, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr> {
        if self.eat_word("NOT") {
            return Ok(Expr::Unary(UnaryOp::Not, Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr> {
        let left = self.additive()?;
        let op = match self.peek() {
            Some(Token::Symbol("=")) => Some(BinaryOp::Eq),
            Some(Token::Symbol("<>")) | Some(Token::Symbol("!=")) => Some(BinaryOp::NotEq),
            Some(Token::Symbol("<")) => Some(BinaryOp::Lt),
            Some(Token::Symbol("<=")) => Some(BinaryOp::LtEq),
            Some(Token::Symbol(">")) => Some(BinaryOp::Gt),
            Some(Token::Symbol(">=")) => Some(BinaryOp::GtEq),
            _ => None,
        };
        if let Some(op) = op {
            self.pos += 1;
            let right = self.additive()?;
            return Ok(Expr::Binary(op, Box::new(left), Box::new(right)));
        }
        if self.eat_word("IS") {
            let negated = self.eat_word("NOT");
            if self.eat_word("DISTINCT") {
                self.expect_word("FROM")?;
                let right = self.additive()?;
                let op = if negated {
                    BinaryOp::IsNotDistinctFrom
                } else {
                    BinaryOp::IsDistinctFrom
                };
                return Ok(Expr::Binary(op, Box::new(left), Box::new(right)));
            }
            if !self.eat_word("NULL") {
                return self.error(format!(
                    "expected NULL or DISTINCT FROM after IS but found {}",
                    self.found()
                ));
            }
            return Ok(Expr::IsNull {
                expr: Box::new(left),
                negated,
            });
        }
        let negated = if self.is_word("NOT")
            && (self.is_word_at(1, "BETWEEN")
                || self.is_word_at(1, "IN")
                || self.is_word_at(1, "LIKE"))
        {
            self.pos += 1;
            true
        } else {
            false
        };
        if self.eat_word("BETWEEN") {
            let low = self.additive()?;
            self.expect_word("AND")?;
            let high = self.additive()?;
            return Ok(Expr::Between {
                expr: Box::new(left),
                low: Box::new(low),
                high: Box::new(high),
                negated,
            });
        }
        if self.eat_word("IN") {
            self.expect_symbol("(")?;
            let mut list = Vec::new();
            loop {
                list.push(self.expr()?);
                if self.eat_symbol(")") {
                    break;
                }
                self.expect_symbol(",")?;
            }
            return Ok(Expr::InList {
                expr: Box::new(left),
                list,
                negated,
            });
        }
        if self.eat_word("LIKE") {
            let pattern = self.additive()?;
            // `ESCAPE 'c'`: ksqlDB's grammar takes a string literal of one character.
            let escape = if self.is_word("ESCAPE") && matches!(self.peek_at(1), Some(Token::Str(_)))
            {
                self.pos += 1;
                let at = self.at();
                let Some(Token::Str(text)) = self.peek() else {
                    return self.error("expected the escape character");
                };
                let mut chars = text.chars();
                let (Some(c), None) = (chars.next(), chars.next()) else {
                    return Err(ParseError {
                        at,
                        message: format!("Escape string must be a single character, got '{text}'"),
                    });
                };
                self.pos += 1;
                Some(c)
            } else {
                None
            };
            return Ok(Expr::Like {
                expr: Box::new(left),
                pattern: Box::new(pattern),
                negated,
                escape,
            });
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Expr> {
        let mut left = self.multiplicative()?;
        loop {
            let op = if self.eat_symbol("+") {
                BinaryOp::Add
            } else if self.eat_symbol("-") {
                BinaryOp::Subtract
            } else if self.eat_symbol("||") {
                BinaryOp::Concat
            } else {
                return Ok(left);
            };
            let right = self.multiplicative()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr> {
        let mut left = self.unary()?;
        loop {
            let op = if self.eat_symbol("*") {
                BinaryOp::Multiply
            } else if self.eat_symbol("/") {
                BinaryOp::Divide
            } else if self.eat_symbol("%") {
                BinaryOp::Modulo
            } else {
                return Ok(left);
            };
            let right = self.unary()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr> {
        if self.eat_symbol("-") {
            return Ok(match self.unary()? {
                Expr::Literal(Literal::Integer(i)) => Expr::Literal(Literal::Integer(-i)),
                Expr::Literal(Literal::Decimal(d)) => Expr::Literal(Literal::Decimal(-d)),
                other => Expr::Unary(UnaryOp::Negate, Box::new(other)),
            });
        }
        if self.eat_symbol("+") {
            return self.unary();
        }
        self.primary()
    }

    /// A primary expression with its `[index]` and `->FIELD` suffixes, as ksqlDB's grammar
    /// binds them (tighter than any operator).
    fn primary(&mut self) -> Result<Expr> {
        let mut expr = self.primary_base()?;
        loop {
            if self.eat_symbol("[") {
                let index = self.expr()?;
                self.expect_symbol("]")?;
                expr = Expr::Subscript(Box::new(expr), Box::new(index));
            } else if self.eat_symbol("->") {
                expr = Expr::Field(Box::new(expr), self.identifier()?);
            } else {
                return Ok(expr);
            }
        }
    }

    /// `ARRAY[...]`, `MAP(k := v, ...)` and `STRUCT(f := v, ...)`, or `None` when the words
    /// do not start a constructor (a column may be called MAP).
    fn constructor(&mut self) -> Result<Option<Expr>> {
        if self.is_word("ARRAY") && matches!(self.peek_at(1), Some(Token::Symbol("["))) {
            self.pos += 2;
            let mut items = Vec::new();
            if !self.eat_symbol("]") {
                loop {
                    items.push(self.expr()?);
                    if self.eat_symbol("]") {
                        break;
                    }
                    self.expect_symbol(",")?;
                }
            }
            return Ok(Some(Expr::MakeArray(items)));
        }
        let map = self.is_word("MAP");
        if !(map || self.is_word("STRUCT")) || !matches!(self.peek_at(1), Some(Token::Symbol("(")))
        {
            return Ok(None);
        }
        self.pos += 2;
        let mut entries = Vec::new();
        let mut fields = Vec::new();
        if !self.eat_symbol(")") {
            loop {
                if map {
                    let key = self.expr()?;
                    self.expect_symbol(":=")?;
                    entries.push((key, self.expr()?));
                } else {
                    let name = self.identifier()?;
                    self.expect_symbol(":=")?;
                    fields.push((name, self.expr()?));
                }
                if self.eat_symbol(")") {
                    break;
                }
                self.expect_symbol(",")?;
            }
        }
        Ok(Some(if map {
            Expr::MakeMap(entries)
        } else {
            Expr::MakeStruct(fields)
        }))
    }

    fn primary_base(&mut self) -> Result<Expr> {
        if let Some(constructor) = self.constructor()? {
            return Ok(constructor);
        }
        if let Some(literal) = self.literal()? {
            return Ok(Expr::Literal(literal));
        }
        if self.eat_symbol("(") {
            let expr = self.expr()?;
            self.expect_symbol(")")?;
            return Ok(expr);
        }
        if self.eat_word("CASE") {
            return self.case();
        }
        if self.is_word("CAST") && matches!(self.peek_at(1), Some(Token::Symbol("("))) {
            self.pos += 2;
            let expr = self.expr()?;
            self.expect_word("AS")?;
            let sql_type = self.sql_type()?;
            self.expect_symbol(")")?;
            return Ok(Expr::Cast(Box::new(expr), sql_type));
        }
        let name = match self.peek() {
            Some(Token::Word(_)) | Some(Token::Quoted(_)) => self.identifier()?,
            _ => return self.error(format!("expected an expression but found {}", self.found())),
        };
        if self.eat_symbol("(") {
            if self.eat_symbol("*") {
                self.expect_symbol(")")?;
                let call = Expr::Function {
                    name,
                    args: Vec::new(),
                    star: true,
                };
                return self.maybe_over(call);
            }
            let mut args = Vec::new();
            if !self.eat_symbol(")") {
                loop {
                    args.push(self.expr()?);
                    if self.eat_symbol(")") {
                        break;
                    }
                    self.expect_symbol(",")?;
                }
            }
            let call = Expr::Function {
                name,
                args,
                star: false,
            };
            return self.maybe_over(call);
        }
        // SOURCE.COLUMN, or a pattern variable's column in MATCH_RECOGNIZE.
        if self.eat_symbol(".") {
            return Ok(Expr::Qualified {
                qualifier: name,
                name: self.identifier()?,
            });
        }
        Ok(Expr::Column(name))
    }

    /// `[AS] alias` after a source, upper-cased as identifiers are.
    fn source_alias(&mut self) -> Result<Option<String>> {
        if self.eat_word("AS") {
            return self.identifier().map(Some);
        }
        match self.peek() {
            Some(Token::Word(w)) if !CLAUSE_WORDS.iter().any(|c| w.eq_ignore_ascii_case(c)) => {
                self.identifier().map(Some)
            }
            Some(Token::Quoted(_)) => self.identifier().map(Some),
            _ => Ok(None),
        }
    }

    /// `[INNER | LEFT [OUTER] | RIGHT [OUTER] | FULL [OUTER]] JOIN source [alias]
    /// [WITHIN ...] ON condition`, or `None` when no join follows.
    fn join(&mut self) -> Result<Option<Join>> {
        let at = self.at();
        let kind = if self.eat_word("JOIN") {
            JoinKind::Inner
        } else if self.eat_word("INNER") {
            self.expect_word("JOIN")?;
            JoinKind::Inner
        } else {
            let kind = if self.eat_word("LEFT") {
                JoinKind::Left
            } else if self.eat_word("RIGHT") {
                JoinKind::Right
            } else if self.eat_word("FULL") {
                JoinKind::Full
            } else {
                return Ok(None);
            };
            self.eat_word("OUTER");
            self.expect_word("JOIN")?;
            kind
        };
        if self.is_symbol("(") {
            return self.error(
                "advisor-engine joins streams and tables by name, not a SELECT in parentheses",
            );
        }
        let source = self.identifier()?;
        let alias = self.source_alias()?;
        let within = if self.eat_word("WITHIN") {
            let (before, after) = if self.eat_symbol("(") {
                let before = self.duration_or_zero()?;
                self.expect_symbol(",")?;
                let after = self.duration_or_zero()?;
                self.expect_symbol(")")?;
                (before, after)
            } else {
                let both = self.duration_or_zero()?;
                (both, both)
            };
            let grace = if self.eat_word("GRACE") {
                self.expect_word("PERIOD")?;
                Some(self.duration_or_zero()?)
            } else {
                None
            };
            Some(JoinWindow {
                before,
                after,
                grace,
            })
        } else {
            None
        };
        self.expect_word("ON")?;
        let on = self.expr()?;
        Ok(Some(Join {
            kind,
            source,
            alias,
            within,
            on,
            at,
        }))
    }

    /// `call OVER w` or `call OVER (...)` after a function call.
    fn maybe_over(&mut self, call: Expr) -> Result<Expr> {
        if !self.eat_word("OVER") {
            return Ok(call);
        }
        let window = if self.is_symbol("(") {
            OverRef::Inline(self.over_spec()?)
        } else {
            OverRef::Named(self.identifier()?)
        };
        Ok(Expr::Over {
            call: Box::new(call),
            window,
        })
    }

    /// `ORDER BY e [ASC | DESC], ...`
    fn order_by(&mut self) -> Result<Vec<OrderItem>> {
        self.expect_word("ORDER")?;
        self.expect_word("BY")?;
        let mut items = Vec::new();
        loop {
            let expr = self.expr()?;
            let descending = if self.eat_word("DESC") {
                true
            } else {
                self.eat_word("ASC");
                false
            };
            items.push(OrderItem { expr, descending });
            if !self.eat_symbol(",") {
                return Ok(items);
            }
        }
    }

    fn expr_list(&mut self) -> Result<Vec<Expr>> {
        let mut list = vec![self.expr()?];
        while self.eat_symbol(",") {
            list.push(self.expr()?);
        }
        Ok(list)
    }

    /// `(PARTITION BY ... ORDER BY time [frame])`, Flink's OVER window: the frame ends at
    /// the current row and starts an interval (RANGE) or a number of rows (ROWS) before it,
    /// or at the partition's start (UNBOUNDED); without one it is RANGE UNBOUNDED PRECEDING.
    fn over_spec(&mut self) -> Result<OverSpec> {
        self.expect_symbol("(")?;
        let partition_by = if self.eat_word("PARTITION") {
            self.expect_word("BY")?;
            self.expr_list()?
        } else {
            Vec::new()
        };
        let at = self.at();
        if !self.is_word("ORDER") {
            return self.error(format!(
                "an OVER window needs ORDER BY its time column (ROWTIME), then ROWS or RANGE BETWEEN ... PRECEDING AND CURRENT ROW; found {}",
                self.found()
            ));
        }
        let order_by = self.order_by()?;
        if order_by.iter().any(|o| o.descending) {
            return Err(ParseError {
                at,
                message: "an OVER window can only be ordered in ascending time (ORDER BY ROWTIME)"
                    .into(),
            });
        }
        let frame = if self.is_word("ROWS") || self.is_word("RANGE") {
            let rows = self.eat_word("ROWS");
            if !rows {
                self.expect_word("RANGE")?;
            }
            let between = self.eat_word("BETWEEN");
            let at = self.at();
            let frame = if self.eat_word("UNBOUNDED") {
                if rows {
                    Frame::Rows { preceding: None }
                } else {
                    Frame::Range { preceding: None }
                }
            } else if rows {
                let n = self.integer()?;
                if n < 0 {
                    return Err(ParseError {
                        at,
                        message: "ROWS n PRECEDING takes a whole number of rows".into(),
                    });
                }
                Frame::Rows {
                    preceding: Some(n as u64),
                }
            } else if self.is_word("INTERVAL") {
                Frame::Range {
                    preceding: Some(self.interval()?),
                }
            } else {
                return self.error(format!(
                    "RANGE takes INTERVAL '...' unit PRECEDING or UNBOUNDED PRECEDING; found {}",
                    self.found()
                ));
            };
            if self.is_word("FOLLOWING") {
                return self.error(
                    "OVER windows end at the CURRENT ROW: FOLLOWING is not supported (as in Flink); write ... PRECEDING AND CURRENT ROW",
                );
            }
            self.expect_word("PRECEDING")?;
            if between {
                self.expect_word("AND")?;
                if !self.is_word("CURRENT") {
                    return self.error(format!(
                        "OVER windows end at the CURRENT ROW (as in Flink); found {}",
                        self.found()
                    ));
                }
                self.expect_word("CURRENT")?;
                self.expect_word("ROW")?;
            }
            frame
        } else {
            Frame::Range { preceding: None }
        };
        self.expect_symbol(")")?;
        Ok(OverSpec {
            partition_by,
            order_by,
            frame,
        })
    }

    /// `INTERVAL 'text' qualifier`, in milliseconds, as Flink SQL writes day-time
    /// intervals: `'5' MINUTE`, `'1.5' SECOND`, `'4:59.999' MINUTE TO SECOND`,
    /// `'0 00:04:59.999' DAY TO SECOND`, with Flink's default leading precision of two
    /// digits unless one is given (`SECOND(3)`, `SECOND(3, 3)`).
    fn interval(&mut self) -> Result<Millis> {
        self.expect_word("INTERVAL")?;
        let at = self.at();
        let text = match self.peek() {
            Some(Token::Str(s)) => {
                self.pos += 1;
                s.clone()
            }
            _ => {
                return self.error(format!(
                    "expected a quoted interval such as INTERVAL '5' MINUTE but found {}",
                    self.found()
                ))
            }
        };
        let unit_at = self.at();
        let first = self.interval_unit()?;
        let precision = self.interval_precision()?;
        let last = if self.eat_word("TO") {
            let unit = self.interval_unit()?;
            self.interval_precision()?;
            Some(unit)
        } else {
            None
        };
        let bad = |message: String| Err(ParseError { at, message });
        const UNITS: [(&str, i64); 4] = [
            ("DAY", 86_400_000),
            ("HOUR", 3_600_000),
            ("MINUTE", 60_000),
            ("SECOND", 1_000),
        ];
        let index = |unit: &str| UNITS.iter().position(|(u, _)| *u == unit);
        let (Some(from), to) = (index(&first), last.as_deref().map(index)) else {
            return Err(ParseError {
                at: unit_at,
                message: format!(
                    "{first} intervals are not supported: time constraints take DAY, HOUR, MINUTE or SECOND (as in Flink)"
                ),
            });
        };
        let to = match to {
            None => from,
            Some(Some(to)) if to > from => to,
            Some(_) => {
                return Err(ParseError {
                    at: unit_at,
                    message: format!(
                        "INTERVAL ... {first} TO {} is not a day-time interval qualifier",
                        last.unwrap_or_default()
                    ),
                })
            }
        };
        // The fields of the text: days, then hours, minutes, seconds separated by ':'.
        let text = text.trim();
        let (negative, text) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let mut fields: Vec<&str> = Vec::new();
        let (day_part, clock) = if from == 0 && to > 0 {
            match text.split_once(' ') {
                Some((days, rest)) => (Some(days), rest),
                None => return bad(format!("'{text}' does not read as DAY TO {}", UNITS[to].0)),
            }
        } else {
            (None, text)
        };
        if let Some(days) = day_part {
            fields.push(days);
        }
        fields.extend(clock.split(':'));
        if fields.len() != to - from + 1 {
            return bad(format!(
                "'{text}' does not read as {}{}",
                UNITS[from].0,
                if to > from {
                    format!(" TO {}", UNITS[to].0)
                } else {
                    String::new()
                }
            ));
        }
        let mut total: f64 = 0.0;
        for (i, field) in fields.iter().enumerate() {
            let unit = from + i;
            let fractional = unit == 3 && i == fields.len() - 1;
            let value: f64 = if fractional {
                field.parse().ok().filter(|v: &f64| *v >= 0.0)
            } else {
                field.parse::<u64>().ok().map(|v| v as f64)
            }
            .ok_or_else(|| ParseError {
                at,
                message: format!(
                    "'{field}' is not a valid {} field of an interval",
                    UNITS[unit].0
                ),
            })?;
            if i == 0 {
                let leading = value.trunc() as u64;
                if leading >= 10u64.pow(precision) {
                    return bad(format!(
                        "Interval field value {leading} exceeds precision of {}({precision}) field",
                        UNITS[unit].0
                    ));
                }
            }
            total += value * UNITS[unit].1 as f64;
        }
        let millis = total.round() as i64;
        Ok(if negative { -millis } else { millis })
    }

    fn interval_unit(&mut self) -> Result<String> {
        let unit = self.identifier()?;
        Ok(match unit.as_str() {
            "DAYS" => "DAY".into(),
            "HOURS" => "HOUR".into(),
            "MINUTES" => "MINUTE".into(),
            "SECONDS" => "SECOND".into(),
            _ => unit,
        })
    }

    /// `(p)` or `(p, s)` after an interval unit; the leading precision, 2 by default.
    fn interval_precision(&mut self) -> Result<u32> {
        if !self.eat_symbol("(") {
            return Ok(2);
        }
        let precision = self.integer()?;
        if self.eat_symbol(",") {
            self.integer()?;
        }
        self.expect_symbol(")")?;
        Ok(precision.clamp(1, 18) as u32)
    }

    /// The body of `MATCH_RECOGNIZE (...)`, in the order Flink SQL takes its clauses.
    fn match_recognize(&mut self) -> Result<MatchRecognize> {
        const SUPPORTED: &str = "MATCH_RECOGNIZE takes PARTITION BY, ORDER BY, MEASURES, ONE ROW PER MATCH, AFTER MATCH SKIP, PATTERN, WITHIN and DEFINE";
        self.expect_symbol("(")?;
        let partition_by = if self.eat_word("PARTITION") {
            self.expect_word("BY")?;
            self.expr_list()?
        } else {
            Vec::new()
        };
        if !self.is_word("ORDER") {
            return self.error(format!(
                "MATCH_RECOGNIZE needs ORDER BY its time column (ROWTIME) first; found {}",
                self.found()
            ));
        }
        let at = self.at();
        let order_by = self.order_by()?;
        if order_by[0].descending {
            return Err(ParseError {
                at,
                message: "MATCH_RECOGNIZE orders rows by ascending time first (ORDER BY ROWTIME)"
                    .into(),
            });
        }
        let mut measures = Vec::new();
        if self.eat_word("MEASURES") {
            loop {
                // RUNNING and FINAL are the same for ONE ROW PER MATCH.
                if !self.eat_word("FINAL") {
                    self.eat_word("RUNNING");
                }
                let expr = self.expr()?;
                self.expect_word("AS")?;
                measures.push((expr, self.identifier()?));
                if !self.eat_symbol(",") {
                    break;
                }
            }
        }
        if self.is_word("ALL") {
            return self.error(
                "ALL ROWS PER MATCH is not supported (as in Flink 2.3); use ONE ROW PER MATCH",
            );
        }
        if self.eat_word("ONE") {
            self.expect_word("ROW")?;
            self.expect_word("PER")?;
            self.expect_word("MATCH")?;
        }
        // Flink's default is SKIP TO NEXT ROW, not the standard's SKIP PAST LAST ROW.
        let mut after_match = AfterMatch::ToNextRow;
        if self.eat_word("AFTER") {
            self.expect_word("MATCH")?;
            self.expect_word("SKIP")?;
            after_match = if self.eat_word("PAST") {
                self.expect_word("LAST")?;
                self.expect_word("ROW")?;
                AfterMatch::PastLastRow
            } else {
                self.expect_word("TO")?;
                if self.eat_word("NEXT") {
                    self.expect_word("ROW")?;
                    AfterMatch::ToNextRow
                } else if self.eat_word("FIRST") {
                    AfterMatch::ToFirst(self.identifier()?)
                } else if self.eat_word("LAST") {
                    AfterMatch::ToLast(self.identifier()?)
                } else {
                    return self.error(format!(
                        "expected NEXT ROW, FIRST var or LAST var after SKIP TO but found {}",
                        self.found()
                    ));
                }
            };
        }
        if !self.is_word("PATTERN") {
            return self.error(format!(
                "{SUPPORTED}; expected PATTERN but found {}",
                self.found()
            ));
        }
        self.pos += 1;
        self.expect_symbol("(")?;
        let pattern = self.pattern_alternation()?;
        self.expect_symbol(")")?;
        let within = if self.eat_word("WITHIN") {
            Some(self.interval()?)
        } else {
            None
        };
        if self.is_word("SUBSET") {
            return self.error("SUBSET is not supported (as in Flink 2.3)");
        }
        let mut define = Vec::new();
        if self.eat_word("DEFINE") {
            loop {
                let name = self.identifier()?;
                self.expect_word("AS")?;
                define.push((name, self.expr()?));
                if !self.eat_symbol(",") {
                    break;
                }
            }
        }
        if !self.is_symbol(")") {
            return self.error(format!(
                "{SUPPORTED}, in that order; found {}",
                self.found()
            ));
        }
        self.pos += 1;
        Ok(MatchRecognize {
            partition_by,
            order_by,
            measures,
            after_match,
            pattern,
            within,
            define,
        })
    }

    fn pattern_alternation(&mut self) -> Result<Pattern> {
        let mut branches = vec![self.pattern_sequence()?];
        while self.eat_symbol("|") {
            branches.push(self.pattern_sequence()?);
        }
        Ok(if branches.len() == 1 {
            branches.remove(0)
        } else {
            Pattern::Alternation(branches)
        })
    }

    fn pattern_sequence(&mut self) -> Result<Pattern> {
        let mut items = Vec::new();
        while !self.is_symbol(")") && !self.is_symbol("|") && self.peek().is_some() {
            let item = if self.eat_symbol("(") {
                let inner = self.pattern_alternation()?;
                self.expect_symbol(")")?;
                let quantifier = self.quantifier()?;
                if quantifier == Quantifier::ONE {
                    inner
                } else {
                    Pattern::Group {
                        inner: Box::new(inner),
                        quantifier,
                    }
                }
            } else {
                let name = match self.peek() {
                    Some(Token::Word(_)) | Some(Token::Quoted(_)) => self.identifier()?,
                    _ => {
                        return self.error(format!(
                            "expected a pattern variable but found {}",
                            self.found()
                        ))
                    }
                };
                Pattern::Variable {
                    name,
                    quantifier: self.quantifier()?,
                }
            };
            match item {
                Pattern::Sequence(inner) => items.extend(inner),
                other => items.push(other),
            }
        }
        if items.is_empty() {
            return self.error(format!(
                "expected a pattern variable but found {}",
                self.found()
            ));
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Pattern::Sequence(items)
        })
    }

    /// `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`, each reluctant with a `?` after it. As in
    /// Flink, `?` and `{n}` are not greedy, and `??` and `{,m}` are refused.
    fn quantifier(&mut self) -> Result<Quantifier> {
        let at = self.at();
        let (min, max, greedy_form) = if self.eat_symbol("*") {
            (0, None, true)
        } else if self.eat_symbol("+") {
            (1, None, true)
        } else if self.eat_symbol("?") {
            if self.is_symbol("?") {
                return self.error(
                    "reluctant optional variables (??) are not supported (as in Flink 2.3); use ?",
                );
            }
            return Ok(Quantifier {
                min: 0,
                max: Some(1),
                greedy: false,
            });
        } else if self.eat_symbol("{") {
            if self.is_symbol(",") {
                return self.error("{,m} is not supported (as in Flink 2.3); write {0,m}");
            }
            let count = |n: i64| -> Result<u32> {
                u32::try_from(n).map_err(|_| ParseError {
                    at,
                    message: "a quantifier takes whole numbers of rows".into(),
                })
            };
            let min = count(self.integer()?)?;
            let (max, greedy_form) = if self.eat_symbol(",") {
                if self.is_symbol("}") {
                    (None, true)
                } else {
                    (Some(count(self.integer()?)?), true)
                }
            } else {
                (Some(min), false)
            };
            self.expect_symbol("}")?;
            if max.is_some_and(|max| max < min) {
                return Err(ParseError {
                    at,
                    message: format!(
                        "the quantifier {{{min},{}}} has its bounds the wrong way round",
                        max.unwrap_or(0)
                    ),
                });
            }
            (min, max, greedy_form)
        } else {
            return Ok(Quantifier::ONE);
        };
        let reluctant = self.eat_symbol("?");
        Ok(Quantifier {
            min,
            max,
            greedy: greedy_form && !reluctant,
        })
    }

    fn case(&mut self) -> Result<Expr> {
        let operand = if self.is_word("WHEN") {
            None
        } else {
            Some(Box::new(self.expr()?))
        };
        let mut whens = Vec::new();
        while self.eat_word("WHEN") {
            let condition = self.expr()?;
            self.expect_word("THEN")?;
            whens.push((condition, self.expr()?));
        }
        if whens.is_empty() {
            return self.error("CASE needs at least one WHEN ... THEN");
        }
        let otherwise = if self.eat_word("ELSE") {
            Some(Box::new(self.expr()?))
        } else {
            None
        };
        self.expect_word("END")?;
        Ok(Expr::Case {
            operand,
            whens,
            otherwise,
        })
    }
}

/// Parses every statement of a text; each ends with `;` (the last one may omit it).
pub fn parse(text: &str) -> std::result::Result<Vec<Located>, ParseError> {
    let tokens = tokenize(text)?;
    let lines: Vec<&str> = text.lines().collect();
    let end = Position {
        line: lines.len().max(1),
        column: lines.last().map(|l| l.chars().count() + 1).unwrap_or(1),
    };
    let mut statements = Vec::new();
    let mut start = 0;
    while start < tokens.len() {
        let stop = tokens[start..]
            .iter()
            .position(|t| t.token == Token::Semicolon)
            .map(|p| start + p)
            .unwrap_or(tokens.len());
        let slice = &tokens[start..stop];
        if !slice.is_empty() {
            let after = tokens.get(stop).map(|t| t.at).unwrap_or(end);
            let mut parser = Parser {
                tokens: slice,
                pos: 0,
                end: after,
            };
            let statement = parser.statement()?;
            if parser.pos < slice.len() {
                return parser.error(format!(
                    "unexpected {} after the end of the statement",
                    parser.found()
                ));
            }
            let at = slice[0].at;
            statements.push(Located {
                statement,
                line: at.line,
                column: at.column,
                text: statement_text(text, at, after),
            });
        }
        start = stop + 1;
    }
    Ok(statements)
}

fn offset(text: &str, at: Position) -> usize {
    let mut line = 1;
    let mut column = 1;
    for (index, c) in text.char_indices() {
        if line == at.line && column == at.column {
            return index;
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    text.len()
}

fn statement_text(text: &str, from: Position, to: Position) -> String {
    let start = offset(text, from);
    let end = offset(text, to).max(start);
    format!("{};", text[start..end].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "
-- Define stream from order-events topic
CREATE STREAM order_events (
order_id BIGINT,
customer_id STRING,
order_status STRING,
order_total DOUBLE,
created_at BIGINT
) WITH (
KAFKA_TOPIC='order-events',
VALUE_FORMAT='AVRO'
);

CREATE TABLE customer_order_totals AS
SELECT
customer_id,
COUNT(*) AS order_count,
SUM(order_total) AS total_spent,
MAX(created_at) AS last_order_time
FROM order_events
WINDOW TUMBLING (SIZE 1 HOUR)
GROUP BY customer_id
EMIT CHANGES;

SELECT * FROM customer_order_totals WHERE customer_id = 'cust_123';
";

    #[test]
    fn the_pages_statements_parse() {
        let statements = parse(PAGE).unwrap();
        assert_eq!(statements.len(), 3);
        let Statement::CreateSource {
            name,
            columns,
            properties,
            ..
        } = &statements[0].statement
        else {
            panic!("not a CREATE STREAM");
        };
        assert_eq!(name, "ORDER_EVENTS");
        assert_eq!(columns.len(), 5);
        assert_eq!(columns[3].sql_type, SqlType::Double);
        assert_eq!(
            properties["KAFKA_TOPIC"],
            Literal::String("order-events".into())
        );
        let Statement::CreateAsSelect { query, .. } = &statements[1].statement else {
            panic!("not a CREATE TABLE AS SELECT");
        };
        assert_eq!(
            query.window.as_ref().unwrap().kind,
            WindowKind::Tumbling { size: 3_600_000 }
        );
        assert_eq!(query.group_by, vec![Expr::Column("CUSTOMER_ID".into())]);
        assert_eq!(query.emit, Some(Emit::Changes));
        assert_eq!(statements[1].line, 14);
        assert!(matches!(statements[2].statement, Statement::Select(_)));
    }

    #[test]
    fn a_window_may_carry_a_name() {
        // earliest-offset-udaf.json: `WINDOW nWINDOW SESSION (1 SECONDS)`.
        let statements =
            parse("SELECT ID, COUNT(*) FROM S WINDOW w SESSION (1 SECONDS) GROUP BY ID;").unwrap();
        let Statement::Select(query) = &statements[0].statement else {
            panic!("not a SELECT");
        };
        assert!(matches!(
            query.window.as_ref().unwrap().kind,
            WindowKind::Session { .. }
        ));
    }

    #[test]
    fn errors_name_line_and_column() {
        let err = parse("CREATE STREAM s (a INT)\n  WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');\nSELECT a FROM s WHERE a >;").unwrap_err();
        assert_eq!((err.at.line, err.at.column), (3, 26));
        assert!(err.to_string().starts_with("line 3:26:"), "{err}");
        let unsupported = parse("INSERT INTO s VALUES (1);").unwrap_err();
        assert!(unsupported
            .message
            .contains("INSERT statements are not supported"));
    }

    #[test]
    fn hopping_windows_with_grace_and_expressions_parse() {
        let statements = parse(
            "CREATE TABLE t AS SELECT k, COUNT(*), AVG(x * 2 + 1) AS a FROM s \
             WINDOW HOPPING (SIZE 10 MINUTES, ADVANCE BY 5 MINUTES, GRACE PERIOD 30 SECONDS) \
             WHERE x BETWEEN 1 AND 10 AND name NOT LIKE 'a%' GROUP BY k HAVING COUNT(*) > 1 EMIT FINAL;",
        )
        .unwrap();
        let Statement::CreateAsSelect { query, .. } = &statements[0].statement else {
            panic!()
        };
        let window = query.window.as_ref().unwrap();
        assert_eq!(
            window.kind,
            WindowKind::Hopping {
                size: 600_000,
                advance: 300_000
            }
        );
        assert_eq!(window.grace, Some(30_000));
        assert_eq!(query.emit, Some(Emit::Final));
        assert!(query.having.is_some());
    }

    fn select(text: &str) -> Query {
        match parse(text).unwrap().remove(0).statement {
            Statement::Select(query) => query,
            other => panic!("not a SELECT: {other:?}"),
        }
    }

    #[test]
    fn is_distinct_from_and_like_escape_parse_as_ksqldb_writes_them() {
        // SqlBase.g4: `IS NOT? DISTINCT FROM right=valueExpression` and
        // `NOT? LIKE pattern=valueExpression (ESCAPE escape=STRING)?`.
        let query = select(
            "SELECT a IS NOT DISTINCT FROM b + 1, s NOT LIKE 'x!%' ESCAPE '!' FROM t \
             WHERE a IS DISTINCT FROM NULL;",
        );
        let SelectItem::Expr { expr, .. } = &query.projection[0] else {
            panic!()
        };
        assert!(matches!(
            expr,
            Expr::Binary(BinaryOp::IsNotDistinctFrom, _, right)
                if matches!(**right, Expr::Binary(BinaryOp::Add, _, _))
        ));
        let SelectItem::Expr { expr, .. } = &query.projection[1] else {
            panic!()
        };
        assert!(matches!(
            expr,
            Expr::Like {
                negated: true,
                escape: Some('!'),
                ..
            }
        ));
        assert!(matches!(
            query.filter,
            Some(Expr::Binary(BinaryOp::IsDistinctFrom, _, _))
        ));
        // ESCAPE is not reserved: without a string after it, it is the next word.
        let query = select("SELECT s LIKE 'a%' escape FROM t;");
        assert!(matches!(
            &query.projection[0],
            SelectItem::Expr { alias: Some(alias), .. } if alias == "ESCAPE"
        ));
        let error = parse("SELECT s LIKE 'a' ESCAPE '!!' FROM t;").unwrap_err();
        assert!(error.message.contains("single character"), "{error}");
        let error = parse("SELECT a IS 3 FROM t;").unwrap_err();
        assert!(error.message.contains("NULL or DISTINCT FROM"), "{error}");
    }

    #[test]
    fn derived_tables_and_over_windows_parse() {
        let query = select(
            "SELECT ip AS ip_address, failures FROM (
               SELECT ip, COUNT(*) OVER w AS failures,
                 MIN(event_time) OVER (PARTITION BY ip ORDER BY ROWTIME ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS m
               FROM logins WHERE status = 'FAILED'
               WINDOW w AS (PARTITION BY ip ORDER BY ROWTIME RANGE BETWEEN INTERVAL '5' MINUTE PRECEDING AND CURRENT ROW)
             ) WHERE failures >= 3",
        );
        assert_eq!(query.source_name(), "LOGINS");
        let Relation::Derived(inner) = &query.from else {
            panic!("a derived table")
        };
        assert_eq!(inner.over_windows.len(), 1);
        assert_eq!(
            inner.over_windows[0].1.frame,
            Frame::Range {
                preceding: Some(300_000)
            }
        );
        let SelectItem::Expr {
            expr: Expr::Over { window, .. },
            ..
        } = &inner.projection[2]
        else {
            panic!("an OVER aggregate")
        };
        assert!(matches!(
            window,
            OverRef::Inline(OverSpec {
                frame: Frame::Rows { preceding: Some(2) },
                ..
            })
        ));
    }

    #[test]
    fn intervals_read_as_flink_reads_them() {
        let frame = |interval: &str| {
            let text = format!(
                "SELECT COUNT(*) OVER (ORDER BY ROWTIME RANGE BETWEEN INTERVAL {interval} PRECEDING AND CURRENT ROW) FROM s"
            );
            parse(&text).map(|mut s| match s.remove(0).statement {
                Statement::Select(q) => match &q.projection[0] {
                    SelectItem::Expr {
                        expr:
                            Expr::Over {
                                window: OverRef::Inline(spec),
                                ..
                            },
                        ..
                    } => spec.frame,
                    _ => panic!("an OVER"),
                },
                _ => panic!("a SELECT"),
            })
        };
        let range = |ms: i64| Frame::Range {
            preceding: Some(ms),
        };
        assert_eq!(frame("'5' MINUTE").unwrap(), range(300_000));
        assert_eq!(frame("'10' SECOND").unwrap(), range(10_000));
        assert_eq!(
            frame("'4:59.999' MINUTE TO SECOND").unwrap(),
            range(299_999)
        );
        assert_eq!(
            frame("'0:04:59.999' HOUR TO SECOND").unwrap(),
            range(299_999)
        );
        assert_eq!(
            frame("'0 00:04:59.999' DAY TO SECOND").unwrap(),
            range(299_999)
        );
        assert_eq!(frame("'299.999' SECOND(3, 3)").unwrap(), range(299_999));
        assert_eq!(frame("'1' DAY").unwrap(), range(86_400_000));
        let refused = frame("'299.999' SECOND").unwrap_err();
        assert!(
            refused.message.contains("exceeds precision of SECOND(2)"),
            "{refused}"
        );
        assert!(frame("'1' MONTH")
            .unwrap_err()
            .message
            .contains("DAY, HOUR, MINUTE or SECOND"));
        assert!(frame("'1:2' MINUTE").is_err());
    }

    #[test]
    fn match_recognize_parses_every_quantifier_and_skip() {
        let query = select(
            "SELECT * FROM logins MATCH_RECOGNIZE (
               PARTITION BY ip ORDER BY ROWTIME, id DESC
               MEASURES COUNT(F.ts) AS failures, FIRST(F.ts) AS first_failure, LAST(F.ts, 1) AS l
               ONE ROW PER MATCH
               AFTER MATCH SKIP TO LAST F
               PATTERN (S F{3} A* B+? C? D{2,} E{1,2}? (G H))
               WITHIN INTERVAL '5' MINUTE
               DEFINE F AS F.status = 'FAILED' AND SUM(F.n) < 10, S AS TRUE
             )",
        );
        let mr = query.match_recognize.expect("a MATCH_RECOGNIZE");
        assert_eq!(mr.after_match, AfterMatch::ToLast("F".into()));
        assert_eq!(mr.within, Some(300_000));
        assert_eq!(mr.order_by.len(), 2);
        assert!(mr.order_by[1].descending);
        assert_eq!(mr.measures.len(), 3);
        assert_eq!(mr.define.len(), 2);
        let Pattern::Sequence(items) = &mr.pattern else {
            panic!("a sequence")
        };
        let quantifiers: Vec<(String, Quantifier)> = items
            .iter()
            .map(|p| match p {
                Pattern::Variable { name, quantifier } => (name.clone(), *quantifier),
                other => panic!("{other:?}"),
            })
            .collect();
        let q = |min, max, greedy| Quantifier { min, max, greedy };
        assert_eq!(
            quantifiers,
            [
                ("S".into(), Quantifier::ONE),
                ("F".into(), q(3, Some(3), false)),
                ("A".into(), q(0, None, true)),
                ("B".into(), q(1, None, false)),
                ("C".into(), q(0, Some(1), false)),
                ("D".into(), q(2, None, true)),
                ("E".into(), q(1, Some(2), false)),
                ("G".into(), Quantifier::ONE),
                ("H".into(), Quantifier::ONE),
            ],
            "a plain group is flattened"
        );
        let without_skip = select("SELECT * FROM s MATCH_RECOGNIZE (ORDER BY ROWTIME MEASURES A.x AS x PATTERN (A | B (C D)+) DEFINE A AS TRUE)");
        let mr = without_skip.match_recognize.unwrap();
        assert_eq!(mr.after_match, AfterMatch::ToNextRow, "Flink's default");
        assert!(matches!(mr.pattern, Pattern::Alternation(_)));
    }

    #[test]
    fn unsupported_match_recognize_and_over_clauses_say_where_and_what() {
        // Each error points at the marked word.
        let cases = [
            ("SELECT * FROM s MATCH_RECOGNIZE (ORDER BY ROWTIME MEASURES A.x AS x ALL ROWS PER MATCH PATTERN (A) DEFINE A AS TRUE)", "ALL ROWS PER MATCH", "ALL"),
            ("SELECT * FROM s MATCH_RECOGNIZE (ORDER BY ROWTIME PATTERN (A B??) DEFINE A AS TRUE)", "reluctant optional", "?)"),
            ("SELECT * FROM s MATCH_RECOGNIZE (ORDER BY ROWTIME PATTERN (A B{,2}) DEFINE A AS TRUE)", "{0,m}", ",2"),
            ("SELECT * FROM s MATCH_RECOGNIZE (ORDER BY ROWTIME DESC PATTERN (A))", "ascending time", "ORDER"),
            ("SELECT * FROM s MATCH_RECOGNIZE (PARTITION BY k PATTERN (A))", "needs ORDER BY", "PATTERN"),
            ("SELECT COUNT(*) OVER (ORDER BY ROWTIME ROWS BETWEEN 1 FOLLOWING AND CURRENT ROW) FROM s", "FOLLOWING", "FOLLOWING"),
            ("SELECT COUNT(*) OVER (ORDER BY ROWTIME DESC) FROM s", "ascending", "ORDER"),
            ("SELECT COUNT(*) OVER (PARTITION BY k) FROM s", "needs ORDER BY", ") FROM"),
        ];
        for (text, says, marker) in cases {
            let error = parse(text).unwrap_err();
            assert!(error.message.contains(says), "{text}: {error}");
            let column = text.find(marker).unwrap() + 1;
            assert_eq!(
                (error.at.line, error.at.column),
                (1, column),
                "{text}: {error}"
            );
        }
    }
}
