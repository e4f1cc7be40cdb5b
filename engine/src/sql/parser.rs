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
const CLAUSE_WORDS: [&str; 12] = [
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
    "ON",
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
            "ARRAY" => {
                self.expect_symbol("<")?;
                let inner = self.sql_type()?;
                self.expect_symbol(">")?;
                SqlType::Array(Box::new(inner))
            }
            other => {
                return Err(ParseError {
                    at,
                    message: format!(
                        "type {other} is not supported; the engine knows BOOLEAN, INT, BIGINT, DOUBLE, STRING and ARRAY<...>"
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
            if self.eat_symbol("*") {
                projection.push(SelectItem::Wildcard);
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
        let from = self.identifier()?;
        // An alias for the source: columns may be written ALIAS.COLUMN.
        if let Some(Token::Word(w)) = self.peek() {
            if !CLAUSE_WORDS.iter().any(|c| w.eq_ignore_ascii_case(c)) {
                self.pos += 1;
            }
        }
        if self.is_word("JOIN")
            || self.is_word("LEFT")
            || self.is_word("INNER")
            || self.is_word("FULL")
        {
            return self.error("joins are not supported by advisor-engine yet");
        }
        let window = if self.eat_word("WINDOW") {
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
            loop {
                group_by.push(self.expr()?);
                if !self.eat_symbol(",") {
                    break;
                }
            }
        }
        let having = if self.eat_word("HAVING") {
            Some(self.expr()?)
        } else {
            None
        };
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
        Ok(amount * per_unit)
    }

    fn window(&mut self) -> Result<WindowSpec> {
        let at = self.at();
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
            self.expect_word("NULL")?;
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
            return Ok(Expr::Like {
                expr: Box::new(left),
                pattern: Box::new(pattern),
                negated,
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

    fn primary(&mut self) -> Result<Expr> {
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
                return Ok(Expr::Function {
                    name,
                    args: Vec::new(),
                    star: true,
                });
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
            return Ok(Expr::Function {
                name,
                args,
                star: false,
            });
        }
        // SOURCE.COLUMN: the engine reads one source, so the qualifier is dropped.
        if self.eat_symbol(".") {
            return Ok(Expr::Column(self.identifier()?));
        }
        Ok(Expr::Column(name))
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
}
