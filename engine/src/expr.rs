//! Expressions compiled against a schema, and evaluated row by row with SQL's null rules.

use crate::sql::ast::{BinaryOp, Expr, Literal, SqlType, UnaryOp};
use crate::value::{Schema, Value};

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
    #[error("aggregate {0} is not allowed here")]
    AggregateNotAllowed(String),
    #[error("{0} OVER (...) is allowed only in the SELECT list of a stream query")]
    OverNotAllowed(String),
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
    #[error("cannot cast {value:?} to {to}")]
    Cast { value: String, to: SqlType },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Upper,
    Lower,
    Len,
    Concat,
    Substring,
    Trim,
    Ltrim,
    Rtrim,
    Replace,
    Abs,
    Round,
    Floor,
    Ceil,
    Sqrt,
    Coalesce,
    IfNull,
    TimestampToString,
    StringToTimestamp,
    DateToString,
    StringToDate,
    UnixTimestamp,
    UnixDate,
}

impl Function {
    fn lookup(name: &str) -> Option<(Function, usize, usize)> {
        Some(match name {
            "UCASE" | "UPPER" => (Function::Upper, 1, 1),
            "LCASE" | "LOWER" => (Function::Lower, 1, 1),
            "LEN" | "LENGTH" => (Function::Len, 1, 1),
            "CONCAT" => (Function::Concat, 1, usize::MAX),
            "SUBSTRING" => (Function::Substring, 2, 3),
            "TRIM" => (Function::Trim, 1, 1),
            "LTRIM" => (Function::Ltrim, 1, 1),
            "RTRIM" => (Function::Rtrim, 1, 1),
            "REPLACE" => (Function::Replace, 3, 3),
            "ABS" => (Function::Abs, 1, 1),
            "ROUND" => (Function::Round, 1, 2),
            "FLOOR" => (Function::Floor, 1, 1),
            "CEIL" => (Function::Ceil, 1, 1),
            "SQRT" => (Function::Sqrt, 1, 1),
            "COALESCE" => (Function::Coalesce, 1, usize::MAX),
            "IFNULL" => (Function::IfNull, 2, 2),
            "TIMESTAMPTOSTRING" => (Function::TimestampToString, 2, 3),
            "STRINGTOTIMESTAMP" => (Function::StringToTimestamp, 2, 3),
            "DATETOSTRING" => (Function::DateToString, 2, 2),
            "STRINGTODATE" => (Function::StringToDate, 2, 2),
            "UNIX_TIMESTAMP" => (Function::UnixTimestamp, 0, 0),
            "UNIX_DATE" => (Function::UnixDate, 0, 0),
            _ => return None,
        })
    }
}

/// Names of the aggregate functions, for telling them apart from scalar calls.
pub const AGGREGATES: [&str; 12] = [
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
    Like(Box<Compiled>, Box<Compiled>, bool),
}

/// What an expression may refer to besides the schema's columns.
pub trait Resolver {
    /// An aggregate call found in the expression; `None` where aggregates are not allowed.
    fn aggregate(&mut self, call: &Expr) -> Result<Option<usize>, ExprError>;
    /// A whole sub-expression that is already computed (a GROUP BY expression).
    fn precomputed(&self, _expr: &Expr) -> Option<Compiled> {
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
        Expr::Unary(op, e) => Compiled::Unary(*op, sub(e)?),
        Expr::Binary(op, a, b) => {
            let a = sub(a)?;
            Compiled::Binary(*op, a, sub(b)?)
        }
        Expr::Function { name, args, .. } if is_aggregate(name) => {
            match resolver.aggregate(expr)? {
                Some(slot) => Compiled::Slot(slot),
                None => return Err(ExprError::AggregateNotAllowed(name.clone())),
            }
        }
        Expr::Function { name, args, .. } => {
            let (function, min, max) =
                Function::lookup(name).ok_or_else(|| ExprError::UnknownFunction(name.clone()))?;
            if args.len() < min || args.len() > max {
                return Err(ExprError::Arity {
                    name: name.clone(),
                    expected: if min == max {
                        ["0", "1", "2", "3"][min.min(3)]
                    } else if max == usize::MAX {
                        "1 or more"
                    } else {
                        "2 or 3"
                    },
                    got: args.len(),
                });
            }
            let mut compiled = Vec::with_capacity(args.len());
            for arg in args {
                compiled.push(compile(arg, schema, resolver)?);
            }
            Compiled::Call(function, compiled)
        }
        Expr::Case {
            operand,
            whens,
            otherwise,
        } => {
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
        Expr::Cast(e, t) => Compiled::Cast(sub(e)?, t.clone()),
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
        } => {
            let e = sub(expr)?;
            Compiled::Like(e, sub(pattern)?, *negated)
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

fn like(text: &str, pattern: &str) -> bool {
    // % matches any run, _ one character; no escapes, as in ksqlDB's LIKE.
    fn matches(t: &[char], p: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('%') => (0..=t.len()).any(|i| matches(&t[i..], &p[1..])),
            Some('_') => !t.is_empty() && matches(&t[1..], &p[1..]),
            Some(c) => t.first() == Some(c) && matches(&t[1..], &p[1..]),
        }
    }
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    matches(&t, &p)
}

pub fn cast(value: Value, to: &SqlType) -> Result<Value, EvalError> {
    let failed = |v: &Value| EvalError::Cast {
        value: v.to_string(),
        to: to.clone(),
    };
    Ok(match (value, to) {
        (Value::Null, _) => Value::Null,
        (Value::String(s), SqlType::Int | SqlType::Bigint) => Value::Integer(
            s.trim()
                .parse()
                .map_err(|_| failed(&Value::String(s.clone())))?,
        ),
        (Value::String(s), SqlType::Double) => Value::Double(
            s.trim()
                .parse()
                .map_err(|_| failed(&Value::String(s.clone())))?,
        ),
        (Value::String(s), SqlType::Boolean) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Value::Boolean(true),
            "false" => Value::Boolean(false),
            _ => return Err(failed(&Value::String(s))),
        },
        (Value::Double(d), SqlType::Int | SqlType::Bigint) => Value::Integer(d.trunc() as i64),
        (Value::Integer(i), SqlType::Double) => Value::Double(i as f64),
        (Value::Integer(i), SqlType::Int) => Value::Integer(
            i32::try_from(i)
                .map_err(|_| failed(&Value::Integer(i)))?
                .into(),
        ),
        (v, SqlType::String) => Value::String(compact_str::ToCompactString::to_compact_string(&v)),
        (v @ Value::Integer(_), SqlType::Bigint) => v,
        (v @ Value::Double(_), SqlType::Double) => v,
        (v @ Value::Boolean(_), SqlType::Boolean) => v,
        (v @ Value::Array(_), SqlType::Array(_)) => v,
        (v, _) => return Err(failed(&v)),
    })
}

fn arithmetic(op: BinaryOp, a: Value, b: Value) -> Result<Value, EvalError> {
    if a.is_null() || b.is_null() {
        return Ok(Value::Null);
    }
    if op == BinaryOp::Concat {
        return Ok(Value::String(format!("{a}{b}").into()));
    }
    match (&a, &b) {
        (Value::Integer(x), Value::Integer(y)) => {
            let (x, y) = (*x, *y);
            Ok(Value::Integer(match op {
                BinaryOp::Add => x.wrapping_add(y),
                BinaryOp::Subtract => x.wrapping_sub(y),
                BinaryOp::Multiply => x.wrapping_mul(y),
                BinaryOp::Divide if y == 0 => return Err(EvalError::DivisionByZero),
                BinaryOp::Divide => x / y,
                BinaryOp::Modulo if y == 0 => return Err(EvalError::DivisionByZero),
                BinaryOp::Modulo => x % y,
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

fn string_arg(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        _ => None,
    }
}

fn call(function: Function, args: Vec<Value>) -> Result<Value, EvalError> {
    use Function::*;
    if matches!(function, Coalesce | IfNull | Concat) {
        return Ok(match function {
            Concat => {
                if args.iter().all(Value::is_null) {
                    Value::Null
                } else {
                    Value::String(
                        args.iter()
                            .filter(|a| !a.is_null())
                            .map(|a| a.to_string())
                            .collect(),
                    )
                }
            }
            _ => args
                .into_iter()
                .find(|a| !a.is_null())
                .unwrap_or(Value::Null),
        });
    }
    if args.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    let text = || {
        string_arg(&args[0])
            .ok_or_else(|| EvalError::Type(format!("{function:?} takes a string, got {}", args[0])))
    };
    let number = |i: usize| {
        args[i]
            .as_f64()
            .ok_or_else(|| EvalError::Type(format!("{function:?} takes a number, got {}", args[i])))
    };
    Ok(match function {
        Upper => Value::String(text()?.to_uppercase().into()),
        Lower => Value::String(text()?.to_lowercase().into()),
        Len => Value::Integer(text()?.chars().count() as i64),
        Trim => Value::String(text()?.trim().into()),
        Ltrim => Value::String(text()?.trim_start().into()),
        Rtrim => Value::String(text()?.trim_end().into()),
        Replace => {
            let from = string_arg(&args[1]).unwrap_or_default();
            let to = string_arg(&args[2]).unwrap_or_default();
            Value::String(text()?.replace(from, to).into())
        }
        Substring => {
            let chars: Vec<char> = text()?.chars().collect();
            let start = (number(1)? as i64 - 1).max(0) as usize;
            let length = if args.len() == 3 {
                number(2)?.max(0.0) as usize
            } else {
                usize::MAX
            };
            Value::String(chars.iter().skip(start).take(length).collect())
        }
        Abs => match &args[0] {
            Value::Integer(i) => Value::Integer(i.abs()),
            _ => Value::Double(number(0)?.abs()),
        },
        Round => {
            let places = if args.len() == 2 {
                number(1)? as i32
            } else {
                0
            };
            let factor = 10f64.powi(places);
            let rounded = (number(0)? * factor).round() / factor;
            if places == 0 {
                Value::Integer(rounded as i64)
            } else {
                Value::Double(rounded)
            }
        }
        Floor => Value::Double(number(0)?.floor()),
        Ceil => Value::Double(number(0)?.ceil()),
        Sqrt => Value::Double(number(0)?.sqrt()),
        TimestampToString | DateToString => {
            let instant = match &args[0] {
                Value::Integer(i) => *i,
                other => {
                    return Err(EvalError::Type(format!(
                        "{function:?} takes a BIGINT of epoch {}, got {other}",
                        if function == DateToString {
                            "days"
                        } else {
                            "milliseconds"
                        }
                    )))
                }
            };
            let pattern = string_arg(&args[1]).unwrap_or_default();
            let text = if function == DateToString {
                crate::datetime::format_days(instant, pattern)
            } else {
                crate::datetime::format_millis(instant, pattern, args.get(2).and_then(string_arg))
            };
            Value::String(text.map_err(EvalError::Type)?.into())
        }
        StringToTimestamp => Value::Integer(
            crate::datetime::parse_millis(
                text()?,
                string_arg(&args[1]).unwrap_or_default(),
                args.get(2).and_then(string_arg),
            )
            .map_err(EvalError::Type)?,
        ),
        StringToDate => Value::Integer(
            crate::datetime::parse_days(text()?, string_arg(&args[1]).unwrap_or_default())
                .map_err(EvalError::Type)?,
        ),
        UnixTimestamp => Value::Integer(crate::datetime::now_millis()),
        UnixDate => Value::Integer(crate::datetime::now_millis().div_euclid(86_400_000)),
        Coalesce | IfNull | Concat => unreachable!("handled above"),
    })
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
            Compiled::Binary(_, a, b) | Compiled::Like(a, b, _) => {
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
                Value::Integer(i) => Value::Integer(-i),
                Value::Double(d) => Value::Double(-d),
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
                    _ => arithmetic(*op, a, b)?,
                }
            }
            Compiled::Call(function, args) => {
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(arg.eval(ctx)?);
                }
                call(*function, values)?
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
            Compiled::Like(e, pattern, negated) => match (e.eval(ctx)?, pattern.eval(ctx)?) {
                (Value::String(t), Value::String(p)) => Value::Boolean(like(&t, &p) != *negated),
                (Value::Null, _) | (_, Value::Null) => Value::Null,
                (t, _) => return Err(EvalError::Type(format!("LIKE needs a string, got {t}"))),
            },
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

    fn eval(expr_sql: &str, row: Row) -> Result<Value, EvalError> {
        let sql = format!("SELECT {expr_sql} FROM s;");
        let parsed = parse(&sql).unwrap();
        let Statement::Select(query) = &parsed[0].statement else {
            panic!()
        };
        let SelectItem::Expr { expr, .. } = &query.projection[0] else {
            panic!()
        };
        let schema = Schema {
            columns: ["A", "B", "NAME"]
                .iter()
                .map(|n| Column {
                    name: n.to_string(),
                    sql_type: SqlType::Bigint,
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
}
