//! The statements and expressions of ksqlDB's SQL that the engine understands.

use std::collections::BTreeMap;
use std::fmt;

pub use super::lexer::Position;

/// Column types; ksqlDB names in brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlType {
    Boolean,
    /// INT / INTEGER: 32-bit.
    Int,
    /// BIGINT: 64-bit.
    Bigint,
    Double,
    /// STRING / VARCHAR.
    String,
    Array(Box<SqlType>),
    /// DECIMAL(precision, scale): exact, up to 38 digits.
    Decimal {
        precision: u8,
        scale: u8,
    },
    /// Days since 1970-01-01.
    Date,
    /// Milliseconds since midnight.
    Time,
    /// Milliseconds since the epoch, without a time zone.
    Timestamp,
    Bytes,
    /// MAP<STRING, T>: ksqlDB's maps have STRING keys only.
    Map(Box<SqlType>),
    /// STRUCT<name T, ...>: fields in order, names as declared (upper-cased unless quoted).
    Struct(Vec<(String, SqlType)>),
}

impl SqlType {
    /// DATE, TIME and TIMESTAMP.
    pub fn is_temporal(&self) -> bool {
        matches!(self, SqlType::Date | SqlType::Time | SqlType::Timestamp)
    }

    /// The type of a struct's field, by name.
    pub fn field(&self, name: &str) -> Option<&SqlType> {
        match self {
            SqlType::Struct(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, t)| t),
            _ => None,
        }
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Boolean => write!(f, "BOOLEAN"),
            SqlType::Int => write!(f, "INTEGER"),
            SqlType::Bigint => write!(f, "BIGINT"),
            SqlType::Double => write!(f, "DOUBLE"),
            SqlType::String => write!(f, "STRING"),
            SqlType::Array(inner) => write!(f, "ARRAY<{inner}>"),
            SqlType::Decimal { precision, scale } => write!(f, "DECIMAL({precision}, {scale})"),
            SqlType::Date => write!(f, "DATE"),
            SqlType::Time => write!(f, "TIME"),
            SqlType::Timestamp => write!(f, "TIMESTAMP"),
            SqlType::Bytes => write!(f, "BYTES"),
            SqlType::Map(inner) => write!(f, "MAP<STRING, {inner}>"),
            SqlType::Struct(fields) => {
                write!(f, "STRUCT<")?;
                for (i, (name, sql_type)) in fields.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "`{name}` {sql_type}")?;
                }
                write!(f, ">")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Stream,
    Table,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::Stream => "STREAM",
            SourceKind::Table => "TABLE",
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    pub sql_type: SqlType,
    /// KEY (streams) or PRIMARY KEY (tables).
    pub key: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Boolean(bool),
    Integer(i64),
    Decimal(f64),
    String(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
    Concat,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
    /// `a IS DISTINCT FROM b`: inequality where NULL equals NULL; never NULL.
    IsDistinctFrom,
    /// `a IS NOT DISTINCT FROM b`.
    IsNotDistinctFrom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Negate,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Column(String),
    Literal(Literal),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `name(args)`; `COUNT(*)` has `star`.
    Function {
        name: String,
        args: Vec<Expr>,
        star: bool,
    },
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    Cast(Box<Expr>, SqlType),
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        negated: bool,
        /// `ESCAPE 'c'`: the character that makes the next one literal.
        escape: Option<char>,
    },
    /// `QUALIFIER.COLUMN`: a source alias (dropped when compiled over one source) or, in
    /// MATCH_RECOGNIZE, a pattern variable.
    Qualified {
        qualifier: String,
        name: String,
    },
    /// `agg(...) OVER w` or `agg(...) OVER (...)`.
    Over {
        call: Box<Expr>,
        window: OverRef,
    },
    /// `base[index]`: an array element (from 1; negative counts from the end) or a map value.
    Subscript(Box<Expr>, Box<Expr>),
    /// `base->FIELD`: a struct's field.
    Field(Box<Expr>, String),
    /// `ARRAY[a, b, ...]`.
    MakeArray(Vec<Expr>),
    /// `MAP(k := v, ...)`.
    MakeMap(Vec<(Expr, Expr)>),
    /// `STRUCT(NAME := v, ...)`.
    MakeStruct(Vec<(String, Expr)>),
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BinaryOp::Add => "+",
            BinaryOp::Subtract => "-",
            BinaryOp::Multiply => "*",
            BinaryOp::Divide => "/",
            BinaryOp::Modulo => "%",
            BinaryOp::Concat => "||",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::IsDistinctFrom => "IS DISTINCT FROM",
            BinaryOp::IsNotDistinctFrom => "IS NOT DISTINCT FROM",
        })
    }
}

impl Expr {
    /// The sub-expressions of `base[index]`, `base->F` and the constructors; `None` for
    /// the other kinds, which the walkers take apart themselves.
    pub fn collection_children(&self) -> Option<Vec<&Expr>> {
        Some(match self {
            Expr::Subscript(a, b) => vec![&**a, &**b],
            Expr::Field(e, _) => vec![&**e],
            Expr::MakeArray(items) => items.iter().collect(),
            Expr::MakeMap(entries) => entries.iter().flat_map(|(k, v)| [k, v]).collect(),
            Expr::MakeStruct(fields) => fields.iter().map(|(_, v)| v).collect(),
            _ => return None,
        })
    }

    pub fn collection_children_mut(&mut self) -> Option<Vec<&mut Expr>> {
        Some(match self {
            Expr::Subscript(a, b) => vec![&mut **a, &mut **b],
            Expr::Field(e, _) => vec![&mut **e],
            Expr::MakeArray(items) => items.iter_mut().collect(),
            Expr::MakeMap(entries) => entries.iter_mut().flat_map(|(k, v)| [k, v]).collect(),
            Expr::MakeStruct(fields) => fields.iter_mut().map(|(_, v)| v).collect(),
            _ => return None,
        })
    }
}

/// Expressions as ksqlDB prints them in messages: `O.ID`, `(A = B)`, `F(X)`.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, items: &[Expr]| -> fmt::Result {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{item}")?;
            }
            Ok(())
        };
        match self {
            Expr::Column(name) => f.write_str(name),
            Expr::Qualified { qualifier, name } => write!(f, "{qualifier}.{name}"),
            Expr::Literal(Literal::Null) => f.write_str("null"),
            Expr::Literal(Literal::Boolean(b)) => {
                write!(f, "{}", if *b { "true" } else { "false" })
            }
            Expr::Literal(Literal::Integer(i)) => write!(f, "{i}"),
            Expr::Literal(Literal::Decimal(d)) => write!(f, "{d}"),
            Expr::Literal(Literal::String(s)) => write!(f, "'{}'", s.replace('\'', "''")),
            Expr::Unary(UnaryOp::Not, e) => write!(f, "(NOT {e})"),
            Expr::Unary(UnaryOp::Negate, e) => write!(f, "-{e}"),
            Expr::Binary(op, a, b) => write!(f, "({a} {op} {b})"),
            Expr::Function { name, args, star } => {
                write!(f, "{name}(")?;
                if *star {
                    f.write_str("*")?;
                }
                list(f, args)?;
                f.write_str(")")
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                f.write_str("(CASE")?;
                if let Some(operand) = operand {
                    write!(f, " {operand}")?;
                }
                for (when, then) in whens {
                    write!(f, " WHEN {when} THEN {then}")?;
                }
                if let Some(otherwise) = otherwise {
                    write!(f, " ELSE {otherwise}")?;
                }
                f.write_str(" END)")
            }
            Expr::Cast(e, t) => write!(f, "CAST({e} AS {t})"),
            Expr::IsNull { expr, negated } => {
                write!(f, "({expr} IS {}NULL)", if *negated { "NOT " } else { "" })
            }
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => write!(
                f,
                "({expr} {}BETWEEN {low} AND {high})",
                if *negated { "NOT " } else { "" }
            ),
            Expr::InList {
                expr,
                list: items,
                negated,
            } => {
                write!(f, "({expr} {}IN (", if *negated { "NOT " } else { "" })?;
                list(f, items)?;
                f.write_str("))")
            }
            Expr::Like {
                expr,
                pattern,
                negated,
                ..
            } => write!(
                f,
                "({expr} {}LIKE {pattern})",
                if *negated { "NOT " } else { "" }
            ),
            Expr::Over { call, .. } => write!(f, "{call} OVER (...)"),
            Expr::Subscript(base, index) => write!(f, "{base}[{index}]"),
            Expr::Field(base, name) => write!(f, "{base}->{name}"),
            Expr::MakeArray(items) => {
                f.write_str("ARRAY[")?;
                list(f, items)?;
                f.write_str("]")
            }
            Expr::MakeMap(entries) => {
                f.write_str("MAP(")?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key}:={value}")?;
                }
                f.write_str(")")
            }
            Expr::MakeStruct(fields) => {
                f.write_str("STRUCT(")?;
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name}:={value}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// The window an OVER aggregate names: one of the query's `WINDOW w AS (...)`, or its own.
#[derive(Debug, Clone, PartialEq)]
pub enum OverRef {
    Named(String),
    Inline(OverSpec),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    pub expr: Expr,
    pub descending: bool,
}

/// `PARTITION BY ... ORDER BY ... frame` of an OVER window.
#[derive(Debug, Clone, PartialEq)]
pub struct OverSpec {
    pub partition_by: Vec<Expr>,
    pub order_by: Vec<OrderItem>,
    pub frame: Frame,
}

/// The rows of an OVER window: up to the current row, from an interval (RANGE) or a count
/// of rows (ROWS) before it; `None` is UNBOUNDED PRECEDING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    Range { preceding: Option<Millis> },
    Rows { preceding: Option<u64> },
}

/// What a query reads: a stream or table by name, or a derived table (a SELECT in FROM).
#[derive(Debug, Clone, PartialEq)]
pub enum Relation {
    Source(String),
    Derived(Box<Query>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
}

impl std::fmt::Display for JoinKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JoinKind::Inner => "INNER",
            JoinKind::Left => "LEFT OUTER",
            JoinKind::Right => "RIGHT OUTER",
            JoinKind::Full => "FULL OUTER",
        })
    }
}

/// `WITHIN before` or `WITHIN (before, after)` with an optional `GRACE PERIOD`: how far apart
/// in time two stream rows may be and still join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindow {
    /// How much earlier than a left row a right row may be.
    pub before: Millis,
    /// How much later than a left row a right row may be.
    pub after: Millis,
    pub grace: Option<Millis>,
}

/// One `[kind] JOIN source [alias] [WITHIN ...] ON condition` after FROM.
#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    pub kind: JoinKind,
    pub source: String,
    pub alias: Option<String>,
    pub within: Option<JoinWindow>,
    pub on: Expr,
    /// Where the JOIN clause starts, for messages.
    pub at: Position,
}

/// How often a pattern element repeats. `greedy` follows Flink's meaning: a greedy loop
/// never hands a row it accepts to the element after it. `?` and `{n}` are not greedy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantifier {
    pub min: u32,
    pub max: Option<u32>,
    pub greedy: bool,
}

impl Quantifier {
    pub const ONE: Quantifier = Quantifier {
        min: 1,
        max: Some(1),
        greedy: false,
    };
}

#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    Variable {
        name: String,
        quantifier: Quantifier,
    },
    /// Elements one after another (strict contiguity).
    Sequence(Vec<Pattern>),
    /// `a | b`.
    Alternation(Vec<Pattern>),
    /// A parenthesised pattern with a quantifier other than one.
    Group {
        inner: Box<Pattern>,
        quantifier: Quantifier,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterMatch {
    PastLastRow,
    ToNextRow,
    ToFirst(String),
    ToLast(String),
}

/// `MATCH_RECOGNIZE (...)` after a relation.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchRecognize {
    pub partition_by: Vec<Expr>,
    pub order_by: Vec<OrderItem>,
    pub measures: Vec<(Expr, String)>,
    pub after_match: AfterMatch,
    pub pattern: Pattern,
    pub within: Option<Millis>,
    pub define: Vec<(String, Expr)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*`
    Wildcard,
    /// `alias.*`: every column of one source of a join.
    SourceWildcard(String),
    Expr {
        expr: Expr,
        alias: Option<String>,
    },
}

/// A duration in milliseconds, as written in WINDOW clauses.
pub type Millis = i64;

#[derive(Debug, Clone, PartialEq)]
pub enum WindowKind {
    Tumbling { size: Millis },
    Hopping { size: Millis, advance: Millis },
    Session { gap: Millis },
}

#[derive(Debug, Clone, PartialEq)]
pub struct WindowSpec {
    pub kind: WindowKind,
    pub retention: Option<Millis>,
    pub grace: Option<Millis>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    Changes,
    Final,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub projection: Vec<SelectItem>,
    pub from: Relation,
    /// FROM's alias (`FROM orders o`).
    pub from_alias: Option<String>,
    /// The joins after FROM, in order: each joins what comes before it (left-deep).
    pub joins: Vec<Join>,
    /// A MATCH_RECOGNIZE applied to what FROM reads.
    pub match_recognize: Option<Box<MatchRecognize>>,
    /// `WINDOW name AS (...)`: the OVER windows the projection names.
    pub over_windows: Vec<(String, OverSpec)>,
    pub filter: Option<Expr>,
    pub window: Option<WindowSpec>,
    pub group_by: Vec<Expr>,
    pub having: Option<Expr>,
    pub emit: Option<Emit>,
    pub limit: Option<u64>,
}

impl Query {
    /// The stream or table the query reads in the end, through any derived tables.
    pub fn source_name(&self) -> &str {
        match &self.from {
            Relation::Source(name) => name,
            Relation::Derived(inner) => inner.source_name(),
        }
    }

    /// The name FROM gives when it names a source directly.
    pub fn from_name(&self) -> Option<&str> {
        match &self.from {
            Relation::Source(name) => Some(name),
            Relation::Derived(_) => None,
        }
    }
}

/// Properties of a WITH clause, keys upper-cased.
pub type Properties = BTreeMap<String, Literal>;

/// A WITH property as text, whatever literal gave it.
pub fn property_text(properties: &Properties, key: &str) -> Option<String> {
    properties.get(key).map(|v| match v {
        Literal::String(s) => s.clone(),
        Literal::Integer(i) => i.to_string(),
        Literal::Decimal(d) => d.to_string(),
        Literal::Boolean(b) => b.to_string(),
        Literal::Null => String::new(),
    })
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    CreateSource {
        kind: SourceKind,
        name: String,
        columns: Vec<ColumnDef>,
        properties: Properties,
        if_not_exists: bool,
        or_replace: bool,
    },
    CreateAsSelect {
        kind: SourceKind,
        name: String,
        properties: Properties,
        query: Query,
        if_not_exists: bool,
        or_replace: bool,
    },
    Select(Query),
    Show(String),
    Describe(String),
    Drop {
        kind: SourceKind,
        name: String,
        if_exists: bool,
        delete_topic: bool,
    },
    Terminate(String),
}

/// A statement with where it starts in the text, and its own text.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub statement: Statement,
    pub line: usize,
    pub column: usize,
    pub text: String,
}
