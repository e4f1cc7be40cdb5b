//! Navigation over the rows of a match: `A.x` (A's last row), `FIRST(A.x, n)`,
//! `LAST(A.x, n)`, and COUNT, SUM, MIN, MAX, AVG over a variable's rows, each evaluated into
//! a slot that the DEFINE condition or MEASURES expression then reads
//! (engine/docs/flink-semantics.md, sections 3.10 and 3.11).
//!
//! In a DEFINE condition of variable v, v's rows (and, for navigation without a variable,
//! all rows) are the rows mapped so far plus the row being tested; another variable's rows
//! are only those mapped so far. In MEASURES they are the match's rows.

use crate::expr::{Compiled, Context, EvalError};
use crate::value::{Row, Value};

use super::nfa::VarId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    CountStar,
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NavKind {
    /// The n-th row from the first.
    First(usize),
    /// The n-th row back from the last.
    Last(usize),
    Aggregate(Aggregate),
    /// The time of the row being processed when the match is emitted.
    MatchRowtime,
}

/// One navigation sub-expression: over which variable's rows (`None`: all rows), what it
/// picks or computes, and the expression it reads from each row.
#[derive(Debug, Clone, PartialEq)]
pub struct Nav {
    pub var: Option<VarId>,
    pub kind: NavKind,
    pub argument: Option<Compiled>,
}

/// A row of a match, with its event time.
#[derive(Debug, Clone, Copy)]
pub struct MatchRow<'a> {
    pub row: &'a Row,
    pub time: i64,
}

impl Nav {
    /// The value over `rows` (in match order) for this navigation's variable, the match's
    /// emission time being `rowtime`.
    pub fn eval(&self, rows: &[MatchRow<'_>], rowtime: i64) -> Result<Value, EvalError> {
        let pick = |row: Option<&MatchRow<'_>>| -> Result<Value, EvalError> {
            match (row, &self.argument) {
                (Some(row), Some(argument)) => argument.eval(&context(row)),
                _ => Ok(Value::Null),
            }
        };
        match &self.kind {
            NavKind::First(n) => pick(rows.get(*n)),
            NavKind::Last(n) => pick(rows.len().checked_sub(n + 1).and_then(|at| rows.get(at))),
            NavKind::MatchRowtime => Ok(Value::Integer(rowtime)),
            NavKind::Aggregate(aggregate) => self.aggregate(*aggregate, rows),
        }
    }

    fn aggregate(&self, aggregate: Aggregate, rows: &[MatchRow<'_>]) -> Result<Value, EvalError> {
        if aggregate == Aggregate::CountStar {
            return Ok(Value::Integer(rows.len() as i64));
        }
        let Some(argument) = &self.argument else {
            return Ok(Value::Null);
        };
        let mut count = 0i64;
        let mut sum_int = 0i64;
        let mut sum_double = 0.0f64;
        let mut doubles = false;
        let mut best: Option<Value> = None;
        for row in rows {
            let value = argument.eval(&context(row))?;
            if value.is_null() {
                continue;
            }
            count += 1;
            match aggregate {
                Aggregate::Sum | Aggregate::Avg => match &value {
                    Value::Integer(i) => sum_int = sum_int.wrapping_add(*i),
                    other => {
                        doubles = true;
                        sum_double += other.as_f64().ok_or_else(|| {
                            EvalError::Type(format!("SUM and AVG take numbers, got {other}"))
                        })?;
                    }
                },
                Aggregate::Min | Aggregate::Max => {
                    let wanted = if aggregate == Aggregate::Min {
                        std::cmp::Ordering::Less
                    } else {
                        std::cmp::Ordering::Greater
                    };
                    let better = match &best {
                        None => true,
                        Some(held) => value.compare(held) == Some(wanted),
                    };
                    if better {
                        best = Some(value);
                    }
                }
                Aggregate::Count | Aggregate::CountStar => {}
            }
        }
        Ok(match aggregate {
            Aggregate::Count | Aggregate::CountStar => Value::Integer(count),
            _ if count == 0 => Value::Null,
            Aggregate::Sum if doubles => Value::Double(sum_double + sum_int as f64),
            Aggregate::Sum => Value::Integer(sum_int),
            // AVG keeps an integer argument's type, truncating toward zero, as Flink's does.
            Aggregate::Avg if doubles => {
                Value::Double((sum_double + sum_int as f64) / count as f64)
            }
            Aggregate::Avg => Value::Integer(sum_int / count),
            Aggregate::Min | Aggregate::Max => best.unwrap_or(Value::Null),
        })
    }
}

fn context<'a>(row: &MatchRow<'a>) -> Context<'a> {
    Context {
        row: row.row,
        rowtime: row.time,
        window: None,
        slots: &[],
    }
}
