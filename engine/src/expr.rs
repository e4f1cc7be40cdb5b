//! Expressions compiled against a schema, and evaluated row by row with SQL's null rules.

use crate::cause::Cause;
use crate::decimal::{Decimal, DecimalError, Op};
pub use crate::functions::Function;
use crate::functions::{self, FunctionError};
use crate::sql::ast::{BinaryOp, Expr, Literal, SqlType, UnaryOp};
use crate::value::{Schema, Text, Value};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExprError {
    #[error("column {0} does not exist; the source has: {1}")]
    UnknownColumn(String, String),
    #[error("function {0} is not supported by advisor-engine")]
    UnknownFunction(String),
    #[error("function {name} takes {expected} argument(s), got {got}")]
    Arity {
        name: String,
        expected: &'static str,
        got: usize,
    },
    /// A scalar function called with a count of arguments it has no form for.
    #[error("function {name} takes {expected} argument(s), got {got}")]
    Arguments {
        name: String,
        expected: String,
        got: usize,
    },
    #[error("aggregate {0} is not allowed here")]
    AggregateNotAllowed(String),
    #[error("Invalid Case expression. All case branches have NULL type")]
    CaseOfNulls,
    /// CAST between kinds of type that never convert (CastEvaluator.java).
    #[error("Cast of {from} to {to} is not supported")]
    Cast { from: SqlType, to: SqlType },
    /// An aggregate call the engine cannot run as written, with the reason.
    #[error("{0}")]
    Aggregate(String),
    #[error("{0} OVER (...) is allowed only in the SELECT list of a stream query")]
    OverNotAllowed(String),
    /// A call none of whose forms takes its arguments' types, or more than one equally
    /// well: ksqlDB's UdfIndex messages.
    #[error("Function '{name}' does not accept parameters ({types}).")]
    NoForm { name: String, types: String },
    #[error("Function '{name}' cannot be resolved due to ambiguous method parameters ({types}).")]
    AmbiguousForm { name: String, types: String },
    #[error("{0} is allowed only in MATCH_RECOGNIZE's MEASURES and DEFINE")]
    PatternOnly(String),
}

/// Errors while evaluating one record: the record goes to the dead-letter output.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("division by zero")]
    DivisionByZero,
    #[error("{0}")]
    Type(String),
    /// Boxed: evaluation results are on every row's path and should not grow for a
    /// failure's details.
    #[error(transparent)]
    Cast(Box<CastError>),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot cast {value:?} to {to}")]
pub struct CastError {
    value: String,
    to: SqlType,
    /// The number's parse error, when text did not read as one.
    #[source]
    cause: Option<Cause>,
}

/// Names of the aggregate functions, for telling them apart from scalar calls.
pub const AGGREGATES: [&str; 13] = [
    "COUNT",
    "SUM",
    "MIN",
    "MAX",
    "AVG",
    "COUNT_DISTINCT",
    "LATEST_BY_OFFSET",
    "EARLIEST_BY_OFFSET",
    "COLLECT_LIST",
    "COLLECT_SET",
    "TOPK",
    "TOPKDISTINCT",
    "HISTOGRAM",
];

pub fn is_aggregate(name: &str) -> bool {
    AGGREGATES.contains(&name)
}

#[derive(Debug, Clone, PartialEq)]
pub enum Compiled {
    Column(usize),
    /// An aggregate's current value, by its slot.
    Slot(usize),
    Rowtime,
    WindowStart,
    WindowEnd,
    Literal(Value),
    Unary(UnaryOp, Box<Compiled>),
    Binary(BinaryOp, Box<Compiled>, Box<Compiled>),
    Call(Function, Vec<Compiled>),
    Case {
        operand: Option<Box<Compiled>>,
        whens: Vec<(Compiled, Compiled)>,
        otherwise: Option<Box<Compiled>>,
    },
    Cast(Box<Compiled>, SqlType),
    IsNull(Box<Compiled>, bool),
    Between(Box<Compiled>, Box<Compiled>, Box<Compiled>, bool),
    InList(Box<Compiled>, Vec<Compiled>, bool),
    /// `text [NOT] LIKE pattern [ESCAPE 'c']`.
    Like(Box<Compiled>, Box<Compiled>, bool, Option<char>),
    /// `base[index]`.
    Subscript(Box<Compiled>, Box<Compiled>),
    /// `base->FIELD`.
    Field(Box<Compiled>, Text),
    MakeArray(Vec<Compiled>),
    MakeMap(Vec<(Compiled, Compiled)>),
    MakeStruct(Vec<(Text, Compiled)>),
}

/// What an expression may refer to besides the schema's columns.
pub trait Resolver {
    /// An aggregate call found in the expression; `None` where aggregates are not allowed.
    fn aggregate(&mut self, call: &Expr) -> Result<Option<usize>, ExprError>;
    /// A whole sub-expression that is already computed (a GROUP BY expression).
    fn precomputed(&self, _expr: &Expr) -> Option<Compiled> {
        None
    }
    /// The schema expressions are typed over, when it is not the one they are compiled
    /// against: an aggregation compiles its projection against the groups' columns, but
    /// `SUM(x)` is typed by the input's x.
    fn typing_schema(&self) -> Option<&Schema> {
        None
    }
}

/// Resolves nothing: aggregates are errors.
pub struct Plain;

impl Resolver for Plain {
    fn aggregate(&mut self, _call: &Expr) -> Result<Option<usize>, ExprError> {
        Ok(None)
    }
}

pub fn literal(literal: &Literal) -> Value {
    match literal {
        Literal::Null => Value::Null,
        Literal::Boolean(b) => Value::Boolean(*b),
        Literal::Integer(i) => Value::Integer(*i),
        Literal::Decimal(d) => Value::Double(*d),
        Literal::String(s) => Value::String(s.clone().into()),
    }
}

/// The form of GREATEST or LEAST that ksqlDB's UdfIndex picks for the arguments: one per
/// type (INT, BIGINT, DOUBLE, DECIMAL, STRING, BYTES, DATE, TIME, TIMESTAMP), each taking
/// its own type and the narrower numbers it widens from (INT to BIGINT to DECIMAL to DOUBLE).
/// Arguments of one type take its form; mixed numbers take the one form all widen to and
/// are ambiguous when several do (INT with BIGINT fits BIGINT, DECIMAL and DOUBLE alike);
/// NULLs fit every form, so only NULLs are ambiguous; string literals fit a temporal form.
/// The bin9/greatest.json cases of ksqlDB's QTT pin these down.
fn extreme_form(name: &str, args: &[Expr], schema: &Schema) -> Result<Option<SqlType>, ExprError> {
    let typed: Vec<Option<SqlType>> = args
        .iter()
        .map(|arg| match arg {
            Expr::Literal(Literal::Null) => None,
            _ => Some(crate::plan::names::infer_type(arg, schema)),
        })
        .collect();
    let listed = || {
        typed
            .iter()
            .map(|t| t.as_ref().map_or("null".to_string(), |t| t.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let known: Vec<&SqlType> = typed.iter().flatten().collect();
    if known.is_empty() {
        return Err(ExprError::AmbiguousForm {
            name: name.to_lowercase(),
            types: listed(),
        });
    }
    let same_kind =
        |a: &SqlType, b: &SqlType| std::mem::discriminant(a) == std::mem::discriminant(b);
    let temporal = known.iter().find(|t| t.is_temporal()).copied();
    let fits = |t: &SqlType, arg: &Expr| match temporal {
        Some(form) => same_kind(t, form) || matches!(arg, Expr::Literal(Literal::String(_))),
        None => same_kind(t, known[0]),
    };
    if args
        .iter()
        .zip(&typed)
        .all(|(arg, t)| t.as_ref().is_none_or(|t| fits(t, arg)))
    {
        return Ok(Some(temporal.unwrap_or(known[0]).clone()));
    }
    let ranks: Option<Vec<u8>> = known
        .iter()
        .map(|t| crate::plan::names::numeric_rank(t))
        .collect();
    match ranks.and_then(|ranks| ranks.into_iter().max()) {
        // Every form from the widest argument's up takes them all.
        Some(3) => Ok(Some(SqlType::Double)),
        Some(_) => Err(ExprError::AmbiguousForm {
            name: name.to_lowercase(),
            types: listed(),
        }),
        None => Err(ExprError::NoForm {
            name: name.to_lowercase(),
            types: listed(),
        }),
    }
}

/// Whether `expr` is typed INT, over the resolver's typing schema if it has one.
fn typed_int(expr: &Expr, schema: &Schema, resolver: &dyn Resolver) -> bool {
    let typing = resolver.typing_schema().unwrap_or(schema);
    crate::plan::names::infer_type(expr, typing) == SqlType::Int
}

/// Addition, subtraction, multiplication and negation: their low 32 bits depend only on
/// their operands' low 32 bits, so a chain of them needs narrowing once, at its top.
fn wraps_alike(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Unary(UnaryOp::Negate, _)
            | Expr::Binary(
                BinaryOp::Add | BinaryOp::Subtract | BinaryOp::Multiply,
                _,
                _
            )
    )
}

/// Arithmetic typed INT keeps 32 bits, as ksqlDB's generated Java `int` arithmetic does:
/// `2147483647 + 1` is -2147483648, not a BIGINT. `int` says whether `expr` is typed INT;
/// `operands` are the sub-expressions compiled into `compiled`, whose own narrowing a
/// narrowed `+`, `-`, `*` or negation makes redundant.
fn narrowed_to_int(expr: &Expr, int: bool, operands: &[&Expr], compiled: Compiled) -> Compiled {
    let arithmetic = wraps_alike(expr)
        || matches!(
            expr,
            Expr::Binary(BinaryOp::Divide | BinaryOp::Modulo, _, _)
        );
    if !(arithmetic && int) {
        return compiled;
    }
    let unwrapped = |operand: &Expr, compiled: Box<Compiled>| match *compiled {
        Compiled::Cast(inner, SqlType::Int) if wraps_alike(operand) => inner,
        other => Box::new(other),
    };
    let compiled = match (wraps_alike(expr), compiled, operands) {
        (true, Compiled::Binary(op, a, b), [left, right]) => {
            Compiled::Binary(op, unwrapped(left, a), unwrapped(right, b))
        }
        (true, Compiled::Unary(op, a), [operand]) => Compiled::Unary(op, unwrapped(operand, a)),
        (_, other, _) => other,
    };
    Compiled::Cast(Box::new(compiled), SqlType::Int)
}

pub fn compile(
    expr: &Expr,
    schema: &Schema,
    resolver: &mut dyn Resolver,
) -> Result<Compiled, ExprError> {
    if let Some(done) = resolver.precomputed(expr) {
        return Ok(done);
    }
    let mut sub = |e: &Expr| compile(e, schema, resolver).map(Box::new);
    Ok(match expr {
        Expr::Column(name) => match name.as_str() {
            "ROWTIME" => Compiled::Rowtime,
            "WINDOWSTART" => Compiled::WindowStart,
            "WINDOWEND" => Compiled::WindowEnd,
            _ => Compiled::Column(schema.index_of(name).ok_or_else(|| {
                ExprError::UnknownColumn(
                    name.clone(),
                    schema
                        .columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })?),
        },
        Expr::Qualified { name, .. } => compile(&Expr::Column(name.clone()), schema, resolver)?,
        Expr::Over { call, .. } => {
            let name = match &**call {
                Expr::Function { name, .. } => name.clone(),
                _ => "an aggregate".to_string(),
            };
            return Err(ExprError::OverNotAllowed(name));
        }
        Expr::Literal(l) => Compiled::Literal(literal(l)),
        Expr::Unary(op, e) => {
            let compiled = Compiled::Unary(*op, sub(e)?);
            let int = typed_int(expr, schema, resolver);
            narrowed_to_int(expr, int, &[e], compiled)
        }
        Expr::Binary(op, a, b) => {
            let compiled = Compiled::Binary(*op, sub(a)?, sub(b)?);
            let int = typed_int(expr, schema, resolver);
            narrowed_to_int(expr, int, &[a, b], compiled)
        }
        Expr::Function { name, args, .. } if is_aggregate(name) => {
            match resolver.aggregate(expr)? {
                // The sum is kept in 64 bits; its low 32 are what ksqlDB's IntegerSumKudaf,
                // adding Java ints, holds.
                Some(slot) if name == "SUM" && typed_int(expr, schema, resolver) => {
                    Compiled::Cast(Box::new(Compiled::Slot(slot)), SqlType::Int)
                }
                Some(slot) => Compiled::Slot(slot),
                None => return Err(ExprError::AggregateNotAllowed(name.clone())),
            }
        }
        Expr::Function { name, args, .. } => {
            let (function, arity) =
                Function::lookup(name).ok_or_else(|| ExprError::UnknownFunction(name.clone()))?;
            if !arity.accepts(args.len()) {
                return Err(ExprError::Arguments {
                    name: name.clone(),
                    expected: arity.describe(),
                    got: args.len(),
                });
            }
            let mut compiled = Vec::with_capacity(args.len());
            for (i, arg) in args.iter().enumerate() {
                compiled.push(match arg {
                    // TIMESTAMPADD(SECONDS, ...): ksqlDB's grammar reads the bare word as a
                    // time unit, never as a column.
                    Expr::Column(unit) if i == 0 && function.takes_unit() => {
                        Compiled::Literal(Value::String(unit.as_str().into()))
                    }
                    _ => compile(arg, schema, resolver)?,
                });
            }
            if matches!(function, Function::Greatest | Function::Least) {
                // A string literal among DATE, TIME or TIMESTAMP arguments is read as one, as
                // ksqlDB's implicit cast of literals does.
                if let Some(to) = extreme_form(name, args, schema)?.filter(SqlType::is_temporal) {
                    for (arg, done) in args.iter().zip(compiled.iter_mut()) {
                        if matches!(arg, Expr::Literal(Literal::String(_))) {
                            let literal = std::mem::replace(done, Compiled::Rowtime);
                            *done = Compiled::Cast(Box::new(literal), to.clone());
                        }
                    }
                }
            }
            Compiled::Call(function, compiled)
        }
        Expr::Case {
            operand,
            whens,
            otherwise,
        } => {
            let null = |e: &Expr| matches!(e, Expr::Literal(Literal::Null));
            if whens.iter().all(|(_, then)| null(then)) && otherwise.as_deref().is_none_or(null) {
                return Err(ExprError::CaseOfNulls);
            }
            let operand = match operand {
                Some(o) => Some(sub(o)?),
                None => None,
            };
            let mut compiled = Vec::new();
            for (when, then) in whens {
                compiled.push((
                    compile(when, schema, resolver)?,
                    compile(then, schema, resolver)?,
                ));
            }
            let otherwise = match otherwise {
                Some(o) => Some(Box::new(compile(o, schema, resolver)?)),
                None => None,
            };
            Compiled::Case {
                operand,
                whens: compiled,
                otherwise,
            }
        }
        Expr::Cast(e, t) => {
            // A column of a primitive type never casts to ARRAY, MAP or STRUCT, nor one
            // of these kinds to another.
            if let Expr::Column(name) = &**e {
                if let Some(i) = schema.index_of(name) {
                    let from = &schema.columns[i].sql_type;
                    let kind = |t: &SqlType| match t {
                        SqlType::Array(_) => 1,
                        SqlType::Map(_) => 2,
                        SqlType::Struct(_) => 3,
                        _ => 0,
                    };
                    if kind(t) != 0 && kind(from) != kind(t) {
                        return Err(ExprError::Cast {
                            from: from.clone(),
                            to: t.clone(),
                        });
                    }
                }
            }
            Compiled::Cast(sub(e)?, t.clone())
        }
        Expr::IsNull { expr, negated } => Compiled::IsNull(sub(expr)?, *negated),
        Expr::Between {
            expr,
            low,
            high,
            negated,
        } => {
            let e = sub(expr)?;
            let l = sub(low)?;
            Compiled::Between(e, l, sub(high)?, *negated)
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let e = sub(expr)?;
            let mut items = Vec::new();
            for item in list {
                items.push(compile(item, schema, resolver)?);
            }
            Compiled::InList(e, items, *negated)
        }
        Expr::Like {
            expr,
            pattern,
            negated,
            escape,
        } => {
            let e = sub(expr)?;
            Compiled::Like(e, sub(pattern)?, *negated, *escape)
        }
        Expr::Subscript(base, index) => {
            let base = sub(base)?;
            Compiled::Subscript(base, sub(index)?)
        }
        Expr::Field(base, name) => Compiled::Field(sub(base)?, name.as_str().into()),
        Expr::MakeArray(items) => Compiled::MakeArray(
            items
                .iter()
                .map(|item| compile(item, schema, resolver))
                .collect::<Result<_, _>>()?,
        ),
        Expr::MakeMap(entries) => {
            let mut compiled = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                compiled.push((
                    compile(key, schema, resolver)?,
                    compile(value, schema, resolver)?,
                ));
            }
            Compiled::MakeMap(compiled)
        }
        Expr::MakeStruct(fields) => {
            let mut compiled = Vec::with_capacity(fields.len());
            for (name, value) in fields {
                compiled.push((name.as_str().into(), compile(value, schema, resolver)?));
            }
            Compiled::MakeStruct(compiled)
        }
    })
}

/// What an expression is evaluated against.
pub struct Context<'a> {
    pub row: &'a [Value],
    pub rowtime: i64,
    pub window: Option<(i64, i64)>,
    pub slots: &'a [Value],
}

fn truth(value: &Value) -> Option<bool> {
    match value {
        Value::Boolean(b) => Some(*b),
        _ => None,
    }
}

/// IS DISTINCT FROM: NULL is not distinct from NULL and distinct from every value; other
/// values compare as `<>` does (numbers by value).
fn distinct(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => false,
        (Value::Null, _) | (_, Value::Null) => true,
        _ => match a.compare(b) {
            Some(order) => order.is_ne(),
            None => a != b,
        },
    }
}

/// One element of a LIKE pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// `%`: any run of characters.
    Any,
    /// `_`: one character.
    One,
    Char(char),
}

/// LikeEvaluator.java turns the pattern into a Java regex: `%` is `.*` and `_` is `.`, and
/// Java's `.` matches no line terminator; the escape character makes the next character
/// literal, and a pattern may not end with it.
fn like(text: &str, pattern: &str, escape: Option<char>) -> Result<bool, EvalError> {
    let mut pieces = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        pieces.push(match c {
            c if Some(c) == escape => match chars.next() {
                Some(literal) => Piece::Char(literal),
                None => {
                    return Err(EvalError::Type(
                        "LIKE pattern must not end with escape character".into(),
                    ))
                }
            },
            '%' => Piece::Any,
            '_' => Piece::One,
            c => Piece::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    let terminator = |c: char| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}');
    // The greedy wildcard walk: on a mismatch, retry from the last `%` one character further.
    // No `%` can skip a line terminator, so a `%` that meets one stops being retried.
    let (mut t, mut p) = (0, 0);
    let mut retry: Option<(usize, usize)> = None;
    while t < text.len() {
        match pieces.get(p) {
            Some(Piece::Any) => {
                retry = Some((p, t));
                p += 1;
                continue;
            }
            Some(Piece::One) if !terminator(text[t]) => {
                t += 1;
                p += 1;
                continue;
            }
            Some(Piece::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
                continue;
            }
            _ => {}
        }
        match retry {
            Some((star, from)) if !terminator(text[from]) => {
                retry = Some((star, from + 1));
                p = star + 1;
                t = from + 1;
            }
            _ => return Ok(false),
        }
    }
    Ok(pieces[p..].iter().all(|piece| *piece == Piece::Any))
}

pub fn cast(value: Value, to: &SqlType) -> Result<Value, EvalError> {
    let failed = |v: &Value| {
        EvalError::Cast(Box::new(CastError {
            value: v.to_string(),
            to: to.clone(),
            cause: None,
        }))
    };
    let unparsed = |text: &str, cause: Cause| {
        EvalError::Cast(Box::new(CastError {
            value: Value::String(text.into()).to_string(),
            to: to.clone(),
            cause: Some(cause),
        }))
    };
    if matches!(
        to,
        SqlType::Decimal { .. }
            | SqlType::Date
            | SqlType::Time
            | SqlType::Timestamp
            | SqlType::Bytes
            | SqlType::Map(_)
            | SqlType::Struct(_)
    ) || matches!(
        value,
        Value::Decimal(_)
            | Value::Date(_)
            | Value::Time(_)
            | Value::Timestamp(_)
            | Value::Bytes(_)
            | Value::Map(_)
            | Value::Struct(_)
    ) {
        return cast_typed(value, to);
    }
    Ok(match (value, to) {
        (Value::Null, _) => Value::Null,
        (Value::String(s), SqlType::Int | SqlType::Bigint) => Value::Integer(
            s.trim()
                .parse::<i64>()
                .map_err(|e| unparsed(&s, Cause::new(e)))?,
        ),
        (Value::String(s), SqlType::Double) => Value::Double(
            s.trim()
                .parse::<f64>()
                .map_err(|e| unparsed(&s, Cause::new(e)))?,
        ),
        (Value::String(s), SqlType::Boolean) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Value::Boolean(true),
            "false" => Value::Boolean(false),
            _ => return Err(failed(&Value::String(s))),
        },
        (Value::Double(d), SqlType::Int | SqlType::Bigint) => Value::Integer(d.trunc() as i64),
        (Value::Integer(i), SqlType::Double) => Value::Double(i as f64),
        // Java's `Long.intValue()`: a BIGINT beyond 32 bits wraps (cast.json "array<bigint>
        // to array<int>": 2147483648 is -2147483648).
        (Value::Integer(i), SqlType::Int) => Value::Integer(i64::from(i as i32)),
        (v, SqlType::String) => Value::String(compact_str::ToCompactString::to_compact_string(&v)),
        (v @ Value::Integer(_), SqlType::Bigint) => v,
        (v @ Value::Double(_), SqlType::Double) => v,
        (v @ Value::Boolean(_), SqlType::Boolean) => v,
        // ksqlDB casts an array element by element.
        (Value::Array(items), SqlType::Array(element)) => Value::Array(
            items
                .into_iter()
                .map(|item| cast(item, element))
                .collect::<Result<_, _>>()?,
        ),
        (v, _) => return Err(failed(&v)),
    })
}

/// CAST to or from the types beyond the first five, as ksqlDB's CastEvaluator does: a
/// STRING that does not read as a DATE, TIME or TIMESTAMP casts to NULL (date.json,
/// time.json); DECIMAL rounds HALF_UP to the target scale and fails when the whole part
/// does not fit.
fn cast_typed(value: Value, to: &SqlType) -> Result<Value, EvalError> {
    use crate::datetime::{parse_date_text, parse_time_text, parse_timestamp_text};
    const DAY: i64 = 86_400_000;
    let failed = |v: &Value| {
        EvalError::Cast(Box::new(CastError {
            value: v.to_string(),
            to: to.clone(),
            cause: None,
        }))
    };
    let decimal = |d: Result<Decimal, DecimalError>, v: &Value| {
        d.map(|d| Value::Decimal(Box::new(d)))
            .map_err(|_| failed(v))
    };
    let unchanged = matches!(
        (&value, to),
        (Value::Date(_), SqlType::Date)
            | (Value::Time(_), SqlType::Time)
            | (Value::Timestamp(_), SqlType::Timestamp)
            | (Value::Bytes(_), SqlType::Bytes)
            | (Value::Map(_), SqlType::Map(_))
            | (Value::Struct(_), SqlType::Struct(_))
            | (Value::Array(_), SqlType::Array(_))
    );
    if unchanged {
        return Ok(value);
    }
    Ok(match (&value, to) {
        (Value::Null, _) => Value::Null,
        (_, SqlType::String) => {
            Value::String(compact_str::ToCompactString::to_compact_string(&value))
        }
        (Value::Decimal(d), SqlType::Decimal { precision, scale }) => {
            decimal(d.cast(*precision, *scale), &value)?
        }
        (Value::Integer(i), SqlType::Decimal { precision, scale }) => {
            decimal(Decimal::from_integer(*i).cast(*precision, *scale), &value)?
        }
        // BigDecimal.valueOf(double): the double's shortest decimal form.
        (Value::Double(d), SqlType::Decimal { precision, scale }) if d.is_finite() => decimal(
            Decimal::parse(&format!("{d}")).and_then(|d| d.cast(*precision, *scale)),
            &value,
        )?,
        (Value::String(s), SqlType::Decimal { precision, scale }) => decimal(
            Decimal::parse(s).and_then(|d| d.cast(*precision, *scale)),
            &value,
        )?,
        (Value::Decimal(d), SqlType::Double) => Value::Double(d.to_f64()),
        (Value::Decimal(d), SqlType::Bigint) => {
            Value::Integer(i64::try_from(d.trunc()).map_err(|_| failed(&value))?)
        }
        (Value::Decimal(d), SqlType::Int) => {
            Value::Integer(i32::try_from(d.trunc()).map_err(|_| failed(&value))?.into())
        }
        (Value::String(s), SqlType::Date) => parse_date_text(s).map_or(Value::Null, Value::Date),
        (Value::String(s), SqlType::Time) => parse_time_text(s).map_or(Value::Null, Value::Time),
        (Value::String(s), SqlType::Timestamp) => {
            parse_timestamp_text(s).map_or(Value::Null, Value::Timestamp)
        }
        (Value::Timestamp(t), SqlType::Date) => {
            Value::Date(i32::try_from(t.div_euclid(DAY)).map_err(|_| failed(&value))?)
        }
        (Value::Timestamp(t), SqlType::Time) => Value::Time(t.rem_euclid(DAY) as i32),
        (Value::Date(d), SqlType::Timestamp) => Value::Timestamp(i64::from(*d) * DAY),
        _ => return Err(failed(&value)),
    })
}

fn decimal_error(error: DecimalError) -> EvalError {
    match error {
        DecimalError::DivisionByZero => EvalError::DivisionByZero,
        other => EvalError::Type(other.to_string()),
    }
}

/// Arithmetic where a DECIMAL meets a DECIMAL or an integer: exact, with ksqlDB's result
/// types. With a DOUBLE the decimal becomes a double, as in ksqlDB.
fn decimal_arithmetic(op: BinaryOp, a: &Value, b: &Value) -> Option<Result<Value, EvalError>> {
    let as_decimal = |v: &Value| match v {
        Value::Decimal(d) => Some(**d),
        Value::Integer(i) => Some(Decimal::from_integer(*i)),
        _ => None,
    };
    let (x, y) = (as_decimal(a)?, as_decimal(b)?);
    let op = match op {
        BinaryOp::Add => Op::Add,
        BinaryOp::Subtract => Op::Subtract,
        BinaryOp::Multiply => Op::Multiply,
        BinaryOp::Divide => Op::Divide,
        BinaryOp::Modulo => Op::Modulo,
        _ => return None,
    };
    Some(
        Decimal::apply(op, &x, &y)
            .map(|d| Value::Decimal(Box::new(d)))
            .map_err(decimal_error),
    )
}

/// `base[index]` and `base->field`, with ksqlDB's null rules: a null base, a missing key or
/// an index out of range is NULL. Array indexes start at 1; negative ones count from the end.
fn subscript(base: Value, index: Value) -> Result<Value, EvalError> {
    Ok(match (base, index) {
        (Value::Null, _) | (_, Value::Null) => Value::Null,
        (Value::Array(mut items), Value::Integer(i)) => {
            let at = if i > 0 {
                usize::try_from(i - 1).ok()
            } else {
                usize::try_from(i64::try_from(items.len()).unwrap_or(i64::MAX) + i).ok()
            };
            match at {
                Some(at) if at < items.len() => items.swap_remove(at),
                _ => Value::Null,
            }
        }
        (Value::Map(entries), Value::String(key)) => entries
            .into_iter()
            .find(|(k, _)| *k == key)
            .map_or(Value::Null, |(_, v)| v),
        (base, index) => {
            return Err(EvalError::Type(format!(
                "cannot subscript {base} with {index}: arrays take an integer index and maps a STRING key"
            )))
        }
    })
}

fn field(base: Value, name: &str) -> Result<Value, EvalError> {
    Ok(match base {
        Value::Null => Value::Null,
        Value::Struct(fields) => fields
            .into_iter()
            .find(|(n, _)| n == name)
            .map_or(Value::Null, |(_, v)| v),
        other => {
            return Err(EvalError::Type(format!(
                "cannot take field {name} of {other}: it is not a STRUCT"
            )))
        }
    })
}

fn arithmetic(op: BinaryOp, a: Value, b: Value) -> Result<Value, EvalError> {
    if a.is_null() || b.is_null() {
        return Ok(Value::Null);
    }
    if op == BinaryOp::Concat {
        return Ok(Value::String(format!("{a}{b}").into()));
    }
    if matches!(a, Value::Decimal(_)) || matches!(b, Value::Decimal(_)) {
        if let Some(result) = decimal_arithmetic(op, &a, &b) {
            return result;
        }
    }
    match (&a, &b) {
        (Value::Integer(x), Value::Integer(y)) => {
            let (x, y) = (*x, *y);
            Ok(Value::Integer(match op {
                BinaryOp::Add => x.wrapping_add(y),
                BinaryOp::Subtract => x.wrapping_sub(y),
                BinaryOp::Multiply => x.wrapping_mul(y),
                BinaryOp::Divide if y == 0 => return Err(EvalError::DivisionByZero),
                // Java's Long.MIN_VALUE / -1 is Long.MIN_VALUE; Rust's `/` would panic.
                BinaryOp::Divide => x.wrapping_div(y),
                BinaryOp::Modulo if y == 0 => return Err(EvalError::DivisionByZero),
                BinaryOp::Modulo => x.wrapping_rem(y),
                _ => unreachable!("arithmetic is only called with arithmetic operators"),
            }))
        }
        (Value::String(x), Value::String(y)) if op == BinaryOp::Add => {
            Ok(Value::String(format!("{x}{y}").into()))
        }
        _ => {
            let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
                return Err(EvalError::Type(format!(
                    "cannot apply {op:?} to {a} and {b}"
                )));
            };
            Ok(Value::Double(match op {
                BinaryOp::Add => x + y,
                BinaryOp::Subtract => x - y,
                BinaryOp::Multiply => x * y,
                BinaryOp::Divide => x / y,
                BinaryOp::Modulo => x % y,
                _ => unreachable!("arithmetic is only called with arithmetic operators"),
            }))
        }
    }
}

/// A function's value for these arguments. A function that fails on its values is NULL,
/// as in ksqlDB, where the failure goes to the processing log and the row goes on.
fn call(function: Function, args: &[Value]) -> Result<Value, EvalError> {
    match functions::call(function, args) {
        Ok(value) => Ok(value),
        Err(FunctionError::Failed(reason)) => {
            tracing::debug!(?function, %reason, "function call is NULL");
            Ok(Value::Null)
        }
        Err(FunctionError::Type(message)) => Err(EvalError::Type(message)),
    }
}

impl Compiled {
    /// Marks the row columns the expression reads.
    pub fn mark_columns(&self, read: &mut [bool]) {
        let mut mark = |e: &Compiled| e.mark_columns(read);
        match self {
            Compiled::Column(i) => {
                if let Some(flag) = read.get_mut(*i) {
                    *flag = true;
                }
            }
            Compiled::Slot(_)
            | Compiled::Rowtime
            | Compiled::WindowStart
            | Compiled::WindowEnd
            | Compiled::Literal(_) => {}
            Compiled::Unary(_, e) | Compiled::Cast(e, _) | Compiled::IsNull(e, _) => mark(e),
            Compiled::Binary(_, a, b) | Compiled::Like(a, b, _, _) => {
                mark(a);
                mark(b);
            }
            Compiled::Call(_, args) => args.iter().for_each(mark),
            Compiled::Case {
                operand,
                whens,
                otherwise,
            } => {
                operand.iter().for_each(|e| mark(e));
                for (when, then) in whens {
                    mark(when);
                    mark(then);
                }
                otherwise.iter().for_each(|e| mark(e));
            }
            Compiled::Between(e, low, high, _) => {
                mark(e);
                mark(low);
                mark(high);
            }
            Compiled::InList(e, list, _) => {
                mark(e);
                list.iter().for_each(mark);
            }
            Compiled::Subscript(a, b) => {
                mark(a);
                mark(b);
            }
            Compiled::Field(e, _) => mark(e),
            Compiled::MakeArray(items) => items.iter().for_each(mark),
            Compiled::MakeMap(entries) => {
                for (key, value) in entries {
                    mark(key);
                    mark(value);
                }
            }
            Compiled::MakeStruct(fields) => fields.iter().for_each(|(_, e)| mark(e)),
        }
    }

    /// Evaluates onto the end of `out`. Columns and aggregates are cloned straight into
    /// place: on the per-record path, moving a value through a `Result` stalls the CPU more
    /// than evaluating it costs.
    pub fn eval_onto(&self, ctx: &Context<'_>, out: &mut Vec<Value>) -> Result<(), EvalError> {
        match self {
            Compiled::Column(i) => out.push(ctx.row[*i].clone()),
            Compiled::Slot(i) => out.push(ctx.slots[*i].clone()),
            other => out.push(other.eval(ctx)?),
        }
        Ok(())
    }

    pub fn eval(&self, ctx: &Context<'_>) -> Result<Value, EvalError> {
        Ok(match self {
            Compiled::Column(i) => ctx.row[*i].clone(),
            Compiled::Slot(i) => ctx.slots[*i].clone(),
            Compiled::Rowtime => Value::Integer(ctx.rowtime),
            Compiled::WindowStart => ctx
                .window
                .map(|w| Value::Integer(w.0))
                .unwrap_or(Value::Null),
            Compiled::WindowEnd => ctx
                .window
                .map(|w| Value::Integer(w.1))
                .unwrap_or(Value::Null),
            Compiled::Literal(v) => v.clone(),
            Compiled::Unary(UnaryOp::Not, e) => match truth(&e.eval(ctx)?) {
                Some(b) => Value::Boolean(!b),
                None => Value::Null,
            },
            Compiled::Unary(UnaryOp::Negate, e) => match e.eval(ctx)? {
                Value::Integer(i) => Value::Integer(i.wrapping_neg()),
                Value::Double(d) => Value::Double(-d),
                Value::Decimal(d) => Value::Decimal(Box::new(d.negate())),
                Value::Null => Value::Null,
                other => return Err(EvalError::Type(format!("cannot negate {other}"))),
            },
            Compiled::Binary(BinaryOp::And, a, b) => {
                match (truth(&a.eval(ctx)?), truth(&b.eval(ctx)?)) {
                    (Some(false), _) | (_, Some(false)) => Value::Boolean(false),
                    (Some(true), Some(true)) => Value::Boolean(true),
                    _ => Value::Null,
                }
            }
            Compiled::Binary(BinaryOp::Or, a, b) => {
                match (truth(&a.eval(ctx)?), truth(&b.eval(ctx)?)) {
                    (Some(true), _) | (_, Some(true)) => Value::Boolean(true),
                    (Some(false), Some(false)) => Value::Boolean(false),
                    _ => Value::Null,
                }
            }
            Compiled::Binary(op, a, b) => {
                let (a, b) = (a.eval(ctx)?, b.eval(ctx)?);
                match op {
                    BinaryOp::Eq
                    | BinaryOp::NotEq
                    | BinaryOp::Lt
                    | BinaryOp::LtEq
                    | BinaryOp::Gt
                    | BinaryOp::GtEq => match a.compare(&b) {
                        None => Value::Null,
                        Some(order) => Value::Boolean(match op {
                            BinaryOp::Eq => order.is_eq(),
                            BinaryOp::NotEq => order.is_ne(),
                            BinaryOp::Lt => order.is_lt(),
                            BinaryOp::LtEq => order.is_le(),
                            BinaryOp::Gt => order.is_gt(),
                            _ => order.is_ge(),
                        }),
                    },
                    BinaryOp::IsDistinctFrom | BinaryOp::IsNotDistinctFrom => {
                        Value::Boolean(distinct(&a, &b) == (*op == BinaryOp::IsDistinctFrom))
                    }
                    _ => arithmetic(*op, a, b)?,
                }
            }
            Compiled::Call(function, args) => {
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(arg.eval(ctx)?);
                }
                call(*function, &values)?
            }
            Compiled::Case {
                operand,
                whens,
                otherwise,
            } => {
                let subject = match operand {
                    Some(o) => Some(o.eval(ctx)?),
                    None => None,
                };
                for (when, then) in whens {
                    let hit = match &subject {
                        Some(s) => s.compare(&when.eval(ctx)?).is_some_and(|o| o.is_eq()),
                        None => truth(&when.eval(ctx)?) == Some(true),
                    };
                    if hit {
                        return then.eval(ctx);
                    }
                }
                match otherwise {
                    Some(o) => o.eval(ctx)?,
                    None => Value::Null,
                }
            }
            Compiled::Cast(e, to) => cast(e.eval(ctx)?, to)?,
            Compiled::IsNull(e, negated) => Value::Boolean(e.eval(ctx)?.is_null() != *negated),
            Compiled::Between(e, low, high, negated) => {
                let v = e.eval(ctx)?;
                match (v.compare(&low.eval(ctx)?), v.compare(&high.eval(ctx)?)) {
                    (Some(l), Some(h)) => Value::Boolean((l.is_ge() && h.is_le()) != *negated),
                    _ => Value::Null,
                }
            }
            Compiled::InList(e, list, negated) => {
                let v = e.eval(ctx)?;
                if v.is_null() {
                    return Ok(Value::Null);
                }
                let mut found = false;
                for item in list {
                    if v.compare(&item.eval(ctx)?).is_some_and(|o| o.is_eq()) {
                        found = true;
                        break;
                    }
                }
                Value::Boolean(found != *negated)
            }
            Compiled::Like(e, pattern, negated, escape) => match (e.eval(ctx)?, pattern.eval(ctx)?)
            {
                (Value::String(t), Value::String(p)) => {
                    Value::Boolean(like(&t, &p, *escape)? != *negated)
                }
                (Value::Null, _) | (_, Value::Null) => Value::Null,
                (t, _) => return Err(EvalError::Type(format!("LIKE needs a string, got {t}"))),
            },
            Compiled::Subscript(base, index) => subscript(base.eval(ctx)?, index.eval(ctx)?)?,
            Compiled::Field(base, name) => field(base.eval(ctx)?, name)?,
            Compiled::MakeArray(items) => Value::Array(
                items
                    .iter()
                    .map(|item| item.eval(ctx))
                    .collect::<Result<_, _>>()?,
            ),
            Compiled::MakeMap(entries) => {
                let mut map: Vec<(Text, Value)> = Vec::with_capacity(entries.len());
                for (key, value) in entries {
                    let key = match key.eval(ctx)? {
                        Value::String(key) => key,
                        // ksqlDB refuses a null map key; the entry is left out.
                        Value::Null => continue,
                        other => compact_str::ToCompactString::to_compact_string(&other),
                    };
                    let value = value.eval(ctx)?;
                    // A later entry with the same key wins, as Java's map builder does.
                    match map.iter_mut().find(|(k, _)| *k == key) {
                        Some(entry) => entry.1 = value,
                        None => map.push((key, value)),
                    }
                }
                Value::Map(map)
            }
            Compiled::MakeStruct(fields) => Value::Struct(
                fields
                    .iter()
                    .map(|(name, value)| Ok((name.clone(), value.eval(ctx)?)))
                    .collect::<Result<_, EvalError>>()?,
            ),
        })
    }

    /// True only when the expression is true: null and false both filter the row out.
    pub fn test(&self, ctx: &Context<'_>) -> Result<bool, EvalError> {
        Ok(truth(&self.eval(ctx)?) == Some(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::ast::{SelectItem, Statement};
    use crate::sql::parser::parse;
    use crate::value::{Column, Row};

    /// The expression of `SELECT <expr_sql> FROM s;`.
    fn parsed_expr(expr_sql: &str) -> Expr {
        let parsed = parse(&format!("SELECT {expr_sql} FROM s;")).unwrap();
        let Statement::Select(query) = &parsed[0].statement else {
            panic!("a SELECT")
        };
        let SelectItem::Expr { expr, .. } = &query.projection[0] else {
            panic!("an expression")
        };
        expr.clone()
    }

    fn eval(expr_sql: &str, row: Row) -> Result<Value, EvalError> {
        eval_typed(expr_sql, SqlType::Bigint, row)
    }

    /// Evaluates over columns A, B and NAME, all of `column_type`.
    fn eval_typed(expr_sql: &str, column_type: SqlType, row: Row) -> Result<Value, EvalError> {
        let expr = &parsed_expr(expr_sql);
        let schema = Schema {
            columns: ["A", "B", "NAME"]
                .iter()
                .map(|n| Column {
                    name: n.to_string(),
                    sql_type: column_type.clone(),
                    key: false,
                })
                .collect(),
        };
        let compiled = compile(expr, &schema, &mut Plain).unwrap();
        compiled.eval(&Context {
            row: &row,
            rowtime: 7,
            window: None,
            slots: &[],
        })
    }

    fn row() -> Row {
        vec![Value::Integer(6), Value::Null, Value::String("Ann".into())]
    }

    #[test]
    fn arithmetic_comparison_and_null_rules() {
        assert_eq!(eval("a * 2 + 1", row()), Ok(Value::Integer(13)));
        assert_eq!(eval("a / 4.0", row()), Ok(Value::Double(1.5)));
        assert_eq!(eval("a + b", row()), Ok(Value::Null));
        assert_eq!(eval("a > 5 AND b IS NULL", row()), Ok(Value::Boolean(true)));
        assert_eq!(eval("b = 1 OR a = 6", row()), Ok(Value::Boolean(true)));
        assert_eq!(eval("b = 1 AND a = 6", row()), Ok(Value::Null));
        assert_eq!(eval("a / 0", row()), Err(EvalError::DivisionByZero));
        assert_eq!(eval("ROWTIME", row()), Ok(Value::Integer(7)));
    }

    /// INT arithmetic overflows as Java's `int` does in ksqlDB's generated code; BIGINT as
    /// Java's `long`, with Long.MIN_VALUE / -1 staying Long.MIN_VALUE instead of a panic.
    #[test]
    fn int_arithmetic_keeps_32_bits_and_bigint_64() {
        let ints = |a: i64, b: i64| vec![Value::Integer(a), Value::Integer(b), Value::Null];
        let int = |expr: &str, a, b| eval_typed(expr, SqlType::Int, ints(a, b));
        assert_eq!(int("a + b", 2147483647, 1), Ok(Value::Integer(-2147483648)));
        assert_eq!(int("a + 1", 2147483647, 0), Ok(Value::Integer(-2147483648)));
        assert_eq!(int("a * b", 65536, 65536), Ok(Value::Integer(0)));
        assert_eq!(int("a - b", -2147483648, 1), Ok(Value::Integer(2147483647)));
        assert_eq!(int("-a", -2147483648, 0), Ok(Value::Integer(-2147483648)));
        assert_eq!(
            int("a / b", -2147483648, -1),
            Ok(Value::Integer(-2147483648))
        );
        assert_eq!(int("a % b", 7, -3), Ok(Value::Integer(1)));
        // A literal past 32 bits is a BIGINT, and so is the sum.
        assert_eq!(
            int("a + 2147483648", 2147483647, 0),
            Ok(Value::Integer(4294967295))
        );
        assert_eq!(
            int("CAST(a AS BIGINT) + b", 2147483647, 1),
            Ok(Value::Integer(2147483648))
        );
        let long = |expr: &str, a, b| eval_typed(expr, SqlType::Bigint, ints(a, b));
        assert_eq!(long("a + b", 2147483647, 1), Ok(Value::Integer(2147483648)));
        assert_eq!(long("a + b", i64::MAX, 1), Ok(Value::Integer(i64::MIN)));
        assert_eq!(long("a / b", i64::MIN, -1), Ok(Value::Integer(i64::MIN)));
        assert_eq!(long("a % b", i64::MIN, -1), Ok(Value::Integer(0)));
        assert_eq!(long("-a", i64::MIN, 0), Ok(Value::Integer(i64::MIN)));
        // A chain of +, - and * is narrowed once, at its top; a division's operands first.
        let schema = Schema {
            columns: ["A", "B"]
                .iter()
                .map(|n| Column {
                    name: n.to_string(),
                    sql_type: SqlType::Int,
                    key: false,
                })
                .collect(),
        };
        let compiled = |sql: &str| compile(&parsed_expr(sql), &schema, &mut Plain).unwrap();
        let narrowings = |c: &Compiled| format!("{c:?}").matches("Cast(").count();
        assert_eq!(narrowings(&compiled("a + b * a - -b")), 1);
        assert_eq!(narrowings(&compiled("(a + b) / a")), 2);
    }

    #[test]
    fn functions_case_cast_and_like() {
        assert_eq!(eval("UCASE(name)", row()), Ok(Value::String("ANN".into())));
        assert_eq!(eval("LEN(name) + 1", row()), Ok(Value::Integer(4)));
        assert_eq!(
            eval("SUBSTRING(name, 2)", row()),
            Ok(Value::String("nn".into()))
        );
        assert_eq!(eval("COALESCE(b, a)", row()), Ok(Value::Integer(6)));
        assert_eq!(
            eval(
                "CASE WHEN a > 10 THEN 'big' WHEN a > 5 THEN 'mid' ELSE 'small' END",
                row()
            ),
            Ok(Value::String("mid".into()))
        );
        assert_eq!(eval("CAST('42' AS INT) + a", row()), Ok(Value::Integer(48)));
        assert!(eval("CAST(name AS INT)", row()).is_err());
        assert_eq!(eval("name LIKE 'A%'", row()), Ok(Value::Boolean(true)));
        assert_eq!(eval("a BETWEEN 1 AND 6", row()), Ok(Value::Boolean(true)));
        assert_eq!(eval("a IN (1, 2, 6)", row()), Ok(Value::Boolean(true)));
        assert_eq!(eval("ROUND(2.567, 2)", row()), Ok(Value::Double(2.57)));
    }

    /// GREATEST and LEAST resolve their form as ksqlDB's UdfIndex does (bin9/greatest.json).
    #[test]
    fn greatest_and_least_pick_ksqldb_forms() {
        let schema = Schema {
            columns: [
                ("I", SqlType::Int),
                ("L", SqlType::Bigint),
                ("D", SqlType::Double),
                ("S", SqlType::String),
                ("DT", SqlType::Date),
            ]
            .into_iter()
            .map(|(name, sql_type)| Column {
                name: name.to_string(),
                sql_type,
                key: false,
            })
            .collect(),
        };
        let compiled = |sql: &str| compile(&parsed_expr(sql), &schema, &mut Plain);
        let message = |sql: &str| compiled(sql).unwrap_err().to_string();
        assert_eq!(
            message("GREATEST(i, l)"),
            "Function 'greatest' cannot be resolved due to ambiguous method parameters (INTEGER, BIGINT)."
        );
        assert_eq!(
            message("LEAST(NULL, NULL)"),
            "Function 'least' cannot be resolved due to ambiguous method parameters (null, null)."
        );
        assert_eq!(
            message("GREATEST(s, i)"),
            "Function 'greatest' does not accept parameters (STRING, INTEGER)."
        );
        assert!(
            compiled("GREATEST(i, l, d, NULL)").is_ok(),
            "only DOUBLE takes all"
        );
        assert!(compiled("GREATEST(i, NULL, 5)").is_ok(), "5 is an INTEGER");
        let row = vec![
            Value::Integer(1),
            Value::Integer(2),
            Value::Double(0.5),
            Value::Null,
            Value::Date(19071),
        ];
        let value = compiled("GREATEST(dt, NULL, '2022-06-14')")
            .unwrap()
            .eval(&Context {
                row: &row,
                rowtime: 0,
                window: None,
                slots: &[],
            });
        assert_eq!(
            value,
            Ok(Value::Date(19157)),
            "the literal is read as a DATE"
        );
    }

    #[test]
    fn collections_index_from_one_and_fields_by_name() {
        let ev = |sql: &str| eval(sql, row());
        assert_eq!(ev("ARRAY[10, 20, 30][1]"), Ok(Value::Integer(10)));
        assert_eq!(ev("ARRAY[10, 20, 30][-1]"), Ok(Value::Integer(30)));
        assert_eq!(ev("ARRAY[10, 20, 30][0]"), Ok(Value::Null));
        assert_eq!(ev("ARRAY[10, 20, 30][4]"), Ok(Value::Null));
        assert_eq!(ev("ARRAY[10, 20, 30][-4]"), Ok(Value::Null));
        assert_eq!(ev("MAP('a' := 1, 'b' := a)['b']"), Ok(Value::Integer(6)));
        assert_eq!(ev("MAP('a' := 1)['z']"), Ok(Value::Null));
        assert_eq!(
            ev("STRUCT(x := name, y := a)->X"),
            Ok(Value::String("Ann".into()))
        );
        assert_eq!(ev("STRUCT(x := 1)->y"), Ok(Value::Null));
        assert!(ev("a->x").is_err());
    }

    #[test]
    fn decimals_are_exact_and_time_types_compare_and_cast() {
        let ev = |sql: &str| eval(sql, row()).map(|v| v.to_string());
        assert_eq!(
            ev("CAST('10.10' AS DECIMAL(4, 2)) * CAST('2.00' AS DECIMAL(4, 2))"),
            Ok("20.2000".into())
        );
        assert_eq!(
            ev("CAST('10.10' AS DECIMAL(4, 2)) / CAST('2.00' AS DECIMAL(4, 2))"),
            Ok("5.0500000".into())
        );
        assert_eq!(
            ev("CAST('0.1' AS DECIMAL(3, 1)) + CAST('0.2' AS DECIMAL(3, 1))"),
            Ok("0.3".into())
        );
        assert_eq!(ev("CAST('1.5' AS DECIMAL(3, 1)) + a"), Ok("7.5".into()));
        assert_eq!(ev("-CAST('1.5' AS DECIMAL(3, 1))"), Ok("-1.5".into()));
        assert_eq!(
            ev("CAST('1.25' AS DECIMAL(4, 2)) + 0.5"),
            Ok("1.75".into()),
            "with a DOUBLE it is a DOUBLE"
        );
        assert_eq!(ev("CAST(2.345 AS DECIMAL(4, 2))"), Ok("2.35".into()));
        assert!(eval("CAST('123.4' AS DECIMAL(4, 2))", row()).is_err());
        assert_eq!(
            eval(
                "CAST('1.0' AS DECIMAL(3, 1)) / CAST('0.0' AS DECIMAL(3, 1))",
                row()
            ),
            Err(EvalError::DivisionByZero)
        );
        assert_eq!(ev("CAST('1970-01-11' AS DATE)"), Ok("1970-01-11".into()));
        assert_eq!(
            eval("CAST('1970-01-11' AS DATE)", row()),
            Ok(Value::Date(10))
        );
        assert_eq!(eval("CAST('foo' AS DATE)", row()), Ok(Value::Null));
        assert_eq!(
            eval("CAST('00:00:05' AS TIME)", row()),
            Ok(Value::Time(5000))
        );
        assert_eq!(
            eval("CAST('1970-01-01T00:00:01.500' AS TIMESTAMP)", row()),
            Ok(Value::Timestamp(1500))
        );
        assert_eq!(
            eval(
                "CAST(CAST('1970-01-02T10:00:00' AS TIMESTAMP) AS DATE)",
                row()
            ),
            Ok(Value::Date(1))
        );
        assert_eq!(
            eval("CAST('1970-01-11' AS DATE) > '1970-01-10'", row()),
            Ok(Value::Boolean(true))
        );
        assert_eq!(
            eval(
                "CAST('1970-01-11' AS DATE) = CAST('1970-01-11T00:00:00' AS TIMESTAMP)",
                row()
            ),
            Ok(Value::Boolean(true))
        );
    }

    #[test]
    fn like_escape_makes_wildcards_literal() {
        // LikeEvaluator.java: the escape character makes the next one literal; `_` and `%`
        // do not match line terminators (they become Java's `.`).
        let like = |sql: &str| eval(sql, row());
        assert_eq!(
            like("'50%' LIKE '50!%' ESCAPE '!'"),
            Ok(Value::Boolean(true))
        );
        assert_eq!(
            like("'500' LIKE '50!%' ESCAPE '!'"),
            Ok(Value::Boolean(false))
        );
        assert_eq!(
            like("'a_b' LIKE 'a\\_b' ESCAPE '\\'"),
            Ok(Value::Boolean(true))
        );
        assert_eq!(
            like("'axb' LIKE 'a\\_b' ESCAPE '\\'"),
            Ok(Value::Boolean(false))
        );
        assert_eq!(
            like("'a!b' LIKE 'a!!b' ESCAPE '!'"),
            Ok(Value::Boolean(true))
        );
        assert_eq!(like("'a%b' LIKE 'a%b'"), Ok(Value::Boolean(true)));
        assert_eq!(
            like("'abc' NOT LIKE 'a%' ESCAPE '!'"),
            Ok(Value::Boolean(false))
        );
        assert!(like("'abc' LIKE 'abc!' ESCAPE '!'").is_err());
        assert_eq!(like("'line\none' LIKE 'line%'"), Ok(Value::Boolean(false)));
        assert_eq!(
            eval(
                "name LIKE '%n_'",
                vec![Value::Null, Value::Null, Value::String("A\nnn".into())]
            ),
            Ok(Value::Boolean(false)),
            "% does not cross a line break"
        );
        assert_eq!(like("'' LIKE '%'"), Ok(Value::Boolean(true)));
        assert_eq!(like("'ab' LIKE '%%b%'"), Ok(Value::Boolean(true)));
        assert_eq!(like("'aaab' LIKE '%a_b'"), Ok(Value::Boolean(true)));
        assert_eq!(like("b LIKE 'x'"), Ok(Value::Null));
    }

    #[test]
    fn is_distinct_from_treats_null_as_a_value() {
        let distinct = |sql: &str| eval(sql, row());
        assert_eq!(
            distinct("b IS DISTINCT FROM NULL"),
            Ok(Value::Boolean(false))
        );
        assert_eq!(
            distinct("a IS DISTINCT FROM NULL"),
            Ok(Value::Boolean(true))
        );
        assert_eq!(distinct("a IS DISTINCT FROM 6"), Ok(Value::Boolean(false)));
        assert_eq!(
            distinct("a IS DISTINCT FROM 6.0"),
            Ok(Value::Boolean(false))
        );
        assert_eq!(
            distinct("a IS NOT DISTINCT FROM 6"),
            Ok(Value::Boolean(true))
        );
        assert_eq!(
            distinct("b IS NOT DISTINCT FROM NULL"),
            Ok(Value::Boolean(true))
        );
        assert_eq!(
            distinct("name IS DISTINCT FROM 'Ann'"),
            Ok(Value::Boolean(false))
        );
        assert_eq!(
            distinct("a + 1 IS DISTINCT FROM 7 AND true"),
            Ok(Value::Boolean(false))
        );
    }

    #[test]
    fn failing_calls_are_null_and_units_are_words() {
        // encode.json: an unknown encoding gives NULL and the row goes on.
        assert_eq!(eval("ENCODE(name, 'hex', 'nope')", row()), Ok(Value::Null));
        assert_eq!(
            eval("COALESCE(PARSE_DATE(name, 'yyyy'), -1)", row()),
            Ok(Value::Integer(-1))
        );
        // An argument of a type no form takes is not ksqlDB's to decide at run time.
        assert!(matches!(eval("UCASE(a)", row()), Err(EvalError::Type(_))));
        assert_eq!(
            eval("TIMESTAMPADD(SECONDS, 2, a)", row()),
            Ok(Value::Timestamp(2006))
        );
        let sql = "SELECT MASK(name, 'x') FROM s;";
        let parsed = parse(sql).unwrap();
        let Statement::Select(query) = &parsed[0].statement else {
            panic!()
        };
        let SelectItem::Expr { expr, .. } = &query.projection[0] else {
            panic!()
        };
        let error = compile(expr, &Schema::default(), &mut Plain).unwrap_err();
        assert_eq!(
            error.to_string(),
            "function MASK takes 1 or 5 argument(s), got 2"
        );
    }
}
