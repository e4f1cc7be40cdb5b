//! Planning MATCH_RECOGNIZE: the pattern, its DEFINE conditions and MEASURES over the rows
//! it reads, into a match_recognize operator (ops/match_recognize), refusing what Flink 2.3
//! refuses (engine/docs/flink-semantics.md, section 3.1).
//!
//! Beyond Flink, alternation (`A (B | C)`) and quantified groups (`(A B)+`) are run by the
//! same automaton: every branch is a partial match of its own (of two matches with the same
//! rows, the leftmost branch's wins), and a greedy group never leaves its loop on a row that
//! could start another round (tests/match_recognize.rs checks both against a plain-Python
//! matcher). Physical offsets (`PREV(x)`,
//! `PREV(x, n)` with n > 0, NEXT) are refused, as Flink refuses them.

use crate::expr::{compile, is_aggregate, Compiled, ExprError, Plain, Resolver};
use crate::ops::match_recognize::navigation::{Aggregate, Nav, NavKind};
use crate::ops::match_recognize::nfa::{Builder, Element, Repeat, Skip, VarId};
use crate::ops::match_recognize::{Define, MatchRecognize, Spec};
use crate::ops::Operator;
use crate::plan::names::infer_type;
use crate::plan::PlanError;
use crate::sql::ast::{AfterMatch, Expr, Literal, MatchRecognize as Clause, Pattern, SqlType};
use crate::value::{Column, Schema};

/// The most pattern variables one clause may have (a variable is a byte in a match).
const MAX_VARIABLES: usize = 255;

fn invalid<T>(message: impl Into<String>) -> Result<T, PlanError> {
    Err(PlanError::Invalid(message.into()))
}

/// Plans `clause` over rows shaped as `input`; returns the operator and the shape of its
/// output rows (the PARTITION BY columns, then the MEASURES). `timestamp` is the source's
/// TIMESTAMP column, which ORDER BY may name in place of ROWTIME. The operator follows the
/// source's watermark as the batches carry it (`RowBatch::watermark(at)` before each row,
/// `end_watermark()` after the last), which already includes `_watermark_delay`.
pub fn plan(
    clause: &Clause,
    input: &Schema,
    timestamp: Option<&str>,
    _watermark_delay: i64,
) -> Result<(Box<dyn Operator>, Schema), PlanError> {
    let variables = variables(&clause.pattern)?;
    let element = element(&clause.pattern, &variables)?;
    check_last_not_greedy(&element, &variables)?;
    let skip = skip(&clause.after_match, &variables, &element)?;
    let within = match clause.within {
        Some(ms) if ms <= 0 => {
            return invalid("WITHIN needs a positive interval, such as WITHIN INTERVAL '5' MINUTE")
        }
        other => other,
    };
    let nfa = Builder::build(&element, within, skip);
    if nfa.can_match_empty() {
        return invalid(
            "MATCH_RECOGNIZE: patterns that can produce empty matches are not supported (as in Flink 2.3); at least one variable must be required",
        );
    }

    let mut order_by = Vec::new();
    for (at, item) in clause.order_by.iter().enumerate() {
        if at == 0 {
            let by_time = matches!(&item.expr, Expr::Column(c)
                if c == "ROWTIME" || Some(c.as_str()) == timestamp);
            if !by_time {
                return invalid(format!(
                    "MATCH_RECOGNIZE is ordered by the event time first: ORDER BY ROWTIME{} (as Flink requires its time attribute first), then any other columns",
                    timestamp.map(|t| format!(" or {t}")).unwrap_or_default()
                ));
            }
            continue;
        }
        order_by.push((compile(&item.expr, input, &mut Plain)?, item.descending));
    }

    let mut partition_by = Vec::new();
    let mut columns = Vec::new();
    for expr in &clause.partition_by {
        let Expr::Column(name) = expr else {
            return invalid("MATCH_RECOGNIZE partitions by columns: PARTITION BY col [, col ...]");
        };
        let compiled = compile(expr, input, &mut Plain)?;
        columns.push(Column {
            name: name.clone(),
            sql_type: infer_type(expr, input),
            key: false,
        });
        partition_by.push(compiled);
    }

    let mut defines: Vec<Option<Define>> = (0..variables.len()).map(|_| None).collect();
    for (name, condition) in &clause.define {
        // Flink accepts a DEFINE for a variable the pattern does not use, and ignores it.
        let Some(var) = variables.iter().position(|v| v == name) else {
            continue;
        };
        if defines[var].is_some() {
            return invalid(format!("DEFINE defines {name} twice"));
        }
        let (condition, navs) =
            navigated(condition, Mode::Define(var as VarId), &variables, input)?;
        defines[var] = Some(Define { condition, navs });
    }

    let mut measure_navs: Vec<(Expr, Nav)> = Vec::new();
    let mut measures = Vec::new();
    for (expr, alias) in &clause.measures {
        let expr = without_prev_zero(expr)?;
        collect(&expr, Mode::Measures, &variables, input, &mut measure_navs)?;
        let mut resolver = Navigated {
            navs: &measure_navs,
        };
        measures.push(compile(&expr, input, &mut resolver)?);
        columns.push(Column {
            name: alias.clone(),
            sql_type: measure_type(&expr, &measure_navs, input),
            key: false,
        });
    }

    let spec = Spec {
        nfa,
        partition_by,
        order_by,
        defines,
        variables,
        measures,
        measure_navs: measure_navs.into_iter().map(|(_, nav)| nav).collect(),
    };
    Ok((Box::new(MatchRecognize::new(spec)), Schema { columns }))
}

/// The pattern's variables in order of appearance; each may appear once (as in Flink).
fn variables(pattern: &Pattern) -> Result<Vec<String>, PlanError> {
    fn walk(pattern: &Pattern, out: &mut Vec<String>) -> Result<(), PlanError> {
        match pattern {
            Pattern::Variable { name, .. } => {
                if out.contains(name) {
                    return invalid(format!(
                        "pattern variable {name} appears twice; pattern variables must be unique (as in Flink 2.3)"
                    ));
                }
                out.push(name.clone());
            }
            Pattern::Sequence(items) | Pattern::Alternation(items) => {
                for item in items {
                    walk(item, out)?;
                }
            }
            Pattern::Group { inner, .. } => walk(inner, out)?,
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(pattern, &mut out)?;
    if out.len() > MAX_VARIABLES {
        return invalid(format!(
            "a pattern may have at most {MAX_VARIABLES} variables"
        ));
    }
    Ok(out)
}

fn repeat(min: u32, max: Option<u32>, greedy: bool, what: &str) -> Result<Repeat, PlanError> {
    if max == Some(0) {
        return invalid(format!(
            "{what}: a quantifier {{0}} takes no row; use ? for an optional element"
        ));
    }
    Ok(Repeat { min, max, greedy })
}

fn element(pattern: &Pattern, variables: &[String]) -> Result<Element, PlanError> {
    Ok(match pattern {
        Pattern::Variable { name, quantifier } => Element::Variable {
            var: variables.iter().position(|v| v == name).unwrap_or(0) as VarId,
            repeat: repeat(quantifier.min, quantifier.max, quantifier.greedy, name)?,
        },
        Pattern::Sequence(items) => Element::Sequence(
            items
                .iter()
                .map(|item| element(item, variables))
                .collect::<Result<_, _>>()?,
        ),
        Pattern::Alternation(branches) => Element::Alternation(
            branches
                .iter()
                .map(|branch| element(branch, variables))
                .collect::<Result<_, _>>()?,
        ),
        Pattern::Group { inner, quantifier } => {
            let inner = element(inner, variables)?;
            if can_be_empty(&inner) {
                return invalid(
                    "a quantified group must take at least one row each round: give it a required variable",
                );
            }
            Element::Group {
                inner: Box::new(inner),
                repeat: repeat(quantifier.min, quantifier.max, quantifier.greedy, "a group")?,
            }
        }
    })
}

fn can_be_empty(element: &Element) -> bool {
    match element {
        Element::Variable { repeat, .. } | Element::Group { repeat, .. } if repeat.min == 0 => true,
        Element::Variable { .. } => false,
        Element::Group { inner, .. } => can_be_empty(inner),
        Element::Sequence(items) => items.iter().all(can_be_empty),
        Element::Alternation(branches) => branches.iter().any(can_be_empty),
    }
}

/// Flink cannot end a pattern with a greedy quantifier: the match would never know it is
/// complete.
fn check_last_not_greedy(element: &Element, variables: &[String]) -> Result<(), PlanError> {
    match element {
        Element::Variable { var, repeat } if repeat.is_greedy() => invalid(format!(
            "greedy quantifiers are not allowed as the last element of a pattern (as in Flink 2.3): {} ends it; finish the pattern with a simple variable or a reluctant quantifier such as {}+?",
            variables.get(*var as usize).map(String::as_str).unwrap_or("?"),
            variables.get(*var as usize).map(String::as_str).unwrap_or("?"),
        )),
        Element::Variable { .. } => Ok(()),
        Element::Group { repeat, .. } if repeat.is_greedy() => invalid(
            "greedy quantifiers are not allowed as the last element of a pattern (as in Flink 2.3): a quantified group ends it; finish the pattern with a simple variable or a reluctant quantifier such as (A B)+?",
        ),
        Element::Group { inner, .. } => check_last_not_greedy(inner, variables),
        Element::Sequence(items) => match items.last() {
            Some(last) => check_last_not_greedy(last, variables),
            None => Ok(()),
        },
        Element::Alternation(branches) => branches
            .iter()
            .try_for_each(|branch| check_last_not_greedy(branch, variables)),
    }
}

fn skip(after: &AfterMatch, variables: &[String], pattern: &Element) -> Result<Skip, PlanError> {
    let target = |name: &str| -> Result<VarId, PlanError> {
        variables
            .iter()
            .position(|v| v == name)
            .map(|v| v as VarId)
            .ok_or_else(|| {
                PlanError::Invalid(format!(
                    "AFTER MATCH SKIP TO {name}: {name} is not a pattern variable; the pattern has {}",
                    variables.join(", ")
                ))
            })
    };
    // The first variable's first row is the match's first row: skipping to it would find
    // the same match again, which Flink fails the job on ("Could not skip to first element
    // of a match").
    let first = match pattern {
        Element::Sequence(items) => items.first(),
        other => Some(other),
    };
    let first_single = |var: VarId| matches!(first, Some(Element::Variable { var: v, repeat }) if *v == var && repeat.max == Some(1));
    let first_var =
        |var: VarId| matches!(first, Some(Element::Variable { var: v, .. }) if *v == var);
    Ok(match after {
        AfterMatch::PastLastRow => Skip::PastLastRow,
        AfterMatch::ToNextRow => Skip::ToNextRow,
        AfterMatch::ToFirst(name) => {
            let var = target(name)?;
            if first_var(var) {
                return invalid(format!(
                    "AFTER MATCH SKIP TO FIRST {name} would skip to the match's first row and find the same match again (Flink fails the job on it); use SKIP TO NEXT ROW"
                ));
            }
            Skip::ToFirst(var)
        }
        AfterMatch::ToLast(name) => {
            let var = target(name)?;
            if first_single(var) {
                return invalid(format!(
                    "AFTER MATCH SKIP TO LAST {name} would skip to the match's first row and find the same match again (Flink fails the job on it); use SKIP TO NEXT ROW"
                ));
            }
            Skip::ToLast(var)
        }
    })
}

/// Where an expression is: a DEFINE condition of a variable, or MEASURES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Define(VarId),
    Measures,
}

/// Compiles a DEFINE condition or a measure with its navigation sub-expressions in slots.
fn navigated(
    expr: &Expr,
    mode: Mode,
    variables: &[String],
    input: &Schema,
) -> Result<(Compiled, Vec<Nav>), PlanError> {
    let expr = without_prev_zero(expr)?;
    let mut navs = Vec::new();
    collect(&expr, mode, variables, input, &mut navs)?;
    let mut resolver = Navigated { navs: &navs };
    let compiled = compile(&expr, input, &mut resolver)?;
    Ok((compiled, navs.into_iter().map(|(_, nav)| nav).collect()))
}

/// Resolves each navigation sub-expression to its slot.
struct Navigated<'a> {
    navs: &'a [(Expr, Nav)],
}

impl Resolver for Navigated<'_> {
    fn aggregate(&mut self, _call: &Expr) -> Result<Option<usize>, ExprError> {
        Ok(None)
    }

    fn precomputed(&self, expr: &Expr) -> Option<Compiled> {
        self.navs
            .iter()
            .position(|(e, _)| e == expr)
            .map(Compiled::Slot)
    }
}

/// `PREV(x, 0)` is the current row's x: it becomes x. Any other PREV or NEXT is refused,
/// as in Flink.
fn without_prev_zero(expr: &Expr) -> Result<Expr, PlanError> {
    let mut failure = None;
    let rewritten = rewrite(expr, &mut |e| match e {
        Expr::Function { name, args, .. } if name == "PREV" || name == "NEXT" => {
            match (name.as_str(), args.as_slice()) {
                ("PREV", [inner, Expr::Literal(Literal::Integer(0))]) => Some(inner.clone()),
                _ => {
                    failure = Some(format!(
                        "{name} with a physical offset is not supported (as in Flink 2.3, which supports only PREV(x, 0)); use LAST(v.x, 1) for the previous row mapped to v"
                    ));
                    Some(e.clone())
                }
            }
        }
        _ => None,
    });
    match failure {
        Some(message) => invalid(message),
        None => Ok(rewritten),
    }
}

/// What a sub-expression is, when it navigates the match's rows.
fn classify(
    expr: &Expr,
    mode: Mode,
    variables: &[String],
    input: &Schema,
) -> Result<Option<Nav>, PlanError> {
    let var_of = |name: &str| -> Result<VarId, PlanError> {
        variables
            .iter()
            .position(|v| v == name)
            .map(|v| v as VarId)
            .ok_or_else(|| {
                PlanError::Invalid(format!(
                    "{name} is not a pattern variable; the pattern has {}",
                    variables.join(", ")
                ))
            })
    };
    Ok(match expr {
        Expr::Qualified { qualifier, name } => {
            let var = var_of(qualifier)?;
            if mode == Mode::Define(var) {
                // The row being tested: compiled as the column itself.
                None
            } else {
                Some(Nav {
                    var: Some(var),
                    kind: NavKind::Last(0),
                    argument: Some(compile(&Expr::Column(name.clone()), input, &mut Plain)?),
                })
            }
        }
        Expr::Column(_) if mode == Mode::Measures => Some(Nav {
            var: None,
            kind: NavKind::Last(0),
            argument: Some(compile(expr, input, &mut Plain)?),
        }),
        Expr::Function { name, args, star } => match name.as_str() {
            "FIRST" | "LAST" => {
                let (argument, offset) = match args.as_slice() {
                    [argument] => (argument, 0),
                    [argument, Expr::Literal(Literal::Integer(n))] if *n >= 0 => {
                        (argument, usize::try_from(*n).unwrap_or(usize::MAX))
                    }
                    _ => {
                        return invalid(format!(
                            "{name} takes a column of a pattern variable and an optional non-negative whole number of rows: {name}(A.x) or {name}(A.x, 1)"
                        ))
                    }
                };
                let var = single_variable(argument, name, variables)?;
                if let Some(v) = var {
                    var_of(&variables[v as usize])?;
                }
                Some(Nav {
                    var,
                    kind: if name == "FIRST" {
                        NavKind::First(offset)
                    } else {
                        NavKind::Last(offset)
                    },
                    argument: Some(plain(argument, name, input)?),
                })
            }
            "COUNT" | "SUM" | "MIN" | "MAX" | "AVG" => {
                if *star {
                    Some(Nav {
                        var: None,
                        kind: NavKind::Aggregate(Aggregate::CountStar),
                        argument: None,
                    })
                } else {
                    let [argument] = args.as_slice() else {
                        return invalid(format!("{name} takes one argument"));
                    };
                    let aggregate = match name.as_str() {
                        "COUNT" => Aggregate::Count,
                        "SUM" => Aggregate::Sum,
                        "MIN" => Aggregate::Min,
                        "MAX" => Aggregate::Max,
                        _ => Aggregate::Avg,
                    };
                    Some(Nav {
                        var: single_variable(argument, name, variables)?,
                        kind: NavKind::Aggregate(aggregate),
                        argument: Some(plain(argument, name, input)?),
                    })
                }
            }
            "MATCH_ROWTIME" => {
                if mode != Mode::Measures {
                    return invalid("MATCH_ROWTIME() is allowed only in MEASURES");
                }
                if args.len() > 1 {
                    return invalid("MATCH_ROWTIME takes no argument, or the time column");
                }
                Some(Nav {
                    var: None,
                    kind: NavKind::MatchRowtime,
                    argument: None,
                })
            }
            "CLASSIFIER" | "MATCH_NUMBER" => {
                return invalid(format!(
                    "{name}() is not supported (as in Flink 2.3); MEASURES take FIRST, LAST, v.col, COUNT, SUM, MIN, MAX, AVG and MATCH_ROWTIME()"
                ))
            }
            other if is_aggregate(other) => {
                return invalid(format!(
                    "{other} is not supported in MATCH_RECOGNIZE; its aggregates are COUNT, SUM, MIN, MAX and AVG"
                ))
            }
            _ => None,
        },
        Expr::Over { .. } => {
            return invalid("OVER windows are not allowed inside MATCH_RECOGNIZE");
        }
        _ => None,
    })
}

/// The one pattern variable an argument of FIRST, LAST or an aggregate reads (`None`: no
/// variable, so all rows); reading two is refused, as in Flink.
fn single_variable(
    argument: &Expr,
    function: &str,
    variables: &[String],
) -> Result<Option<VarId>, PlanError> {
    let mut found: Option<String> = None;
    let mut failure = None;
    visit(argument, &mut |e| {
        if let Expr::Qualified { qualifier, .. } = e {
            match &found {
                Some(seen) if seen != qualifier => {
                    failure = Some(format!(
                        "{function}(...) reads {seen} and {qualifier}; its argument may refer to one pattern variable only"
                    ));
                }
                _ => found = Some(qualifier.clone()),
            }
        }
        if let Expr::Function { name, .. } = e {
            if matches!(
                name.as_str(),
                "FIRST" | "LAST" | "PREV" | "NEXT" | "MATCH_ROWTIME"
            ) || is_aggregate(name)
            {
                failure = Some(format!(
                    "{function}(...) cannot hold {name}(...): navigation and aggregates do not nest"
                ));
            }
        }
    });
    if let Some(message) = failure {
        return invalid(message);
    }
    match found {
        None => Ok(None),
        Some(name) => variables
            .iter()
            .position(|v| *v == name)
            .map(|v| Some(v as VarId))
            .ok_or_else(|| {
                PlanError::Invalid(format!(
                    "{name} is not a pattern variable; the pattern has {}",
                    variables.join(", ")
                ))
            }),
    }
}

/// An argument read from one row (qualifiers dropped).
fn plain(argument: &Expr, function: &str, input: &Schema) -> Result<Compiled, PlanError> {
    compile(argument, input, &mut Plain).map_err(|e| match e {
        ExprError::AggregateNotAllowed(name) => {
            PlanError::Invalid(format!("{function}(...) cannot hold the aggregate {name}"))
        }
        other => PlanError::Expr(other),
    })
}

/// Finds the navigation sub-expressions of `expr` (outermost first, none inside another).
fn collect(
    expr: &Expr,
    mode: Mode,
    variables: &[String],
    input: &Schema,
    navs: &mut Vec<(Expr, Nav)>,
) -> Result<(), PlanError> {
    if let Some(nav) = classify(expr, mode, variables, input)? {
        if !navs.iter().any(|(e, _)| e == expr) {
            navs.push((expr.clone(), nav));
        }
        return Ok(());
    }
    for child in children(expr) {
        collect(child, mode, variables, input, navs)?;
    }
    Ok(())
}

/// The type of a measure: its navigation sub-expressions stand for columns of their own
/// types, and the rest is typed as any expression.
fn measure_type(expr: &Expr, navs: &[(Expr, Nav)], input: &Schema) -> SqlType {
    let mut schema = input.clone();
    for (at, (nav_expr, nav)) in navs.iter().enumerate() {
        let argument = match nav_expr {
            Expr::Function { args, .. } => args.first(),
            other => Some(other),
        };
        let of_argument = || {
            argument
                .map(|a| infer_type(a, input))
                .unwrap_or(SqlType::Bigint)
        };
        let sql_type = match &nav.kind {
            NavKind::First(_) | NavKind::Last(_) => of_argument(),
            NavKind::Aggregate(Aggregate::Count | Aggregate::CountStar) | NavKind::MatchRowtime => {
                SqlType::Bigint
            }
            // AVG keeps an integer argument's type, as Flink's does.
            NavKind::Aggregate(_) => of_argument(),
        };
        schema.columns.push(Column {
            name: format!("__NAV_{at}"),
            sql_type,
            key: false,
        });
    }
    let typed = rewrite(expr, &mut |e| {
        navs.iter()
            .position(|(n, _)| n == e)
            .map(|at| Expr::Column(format!("__NAV_{at}")))
    });
    infer_type(&typed, &schema)
}

fn children(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::Column(_) | Expr::Literal(_) | Expr::Qualified { .. } => Vec::new(),
        Expr::Unary(_, e) | Expr::Cast(e, _) => vec![e],
        Expr::IsNull { expr, .. } => vec![expr],
        Expr::Binary(_, a, b) => vec![a, b],
        Expr::Like { expr, pattern, .. } => vec![expr, pattern],
        Expr::Function { args, .. } => args.iter().collect(),
        Expr::Case {
            operand,
            whens,
            otherwise,
        } => {
            let mut out: Vec<&Expr> = operand.iter().map(|e| &**e).collect();
            for (when, then) in whens {
                out.push(when);
                out.push(then);
            }
            out.extend(otherwise.iter().map(|e| &**e));
            out
        }
        Expr::Between {
            expr, low, high, ..
        } => vec![expr, low, high],
        Expr::InList { expr, list, .. } => {
            let mut out = vec![&**expr];
            out.extend(list.iter());
            out
        }
        Expr::Over { call, .. } => vec![call],
        other => other.collection_children().unwrap_or_default(),
    }
}

pub(super) fn visit(expr: &Expr, f: &mut impl FnMut(&Expr)) {
    f(expr);
    for child in children(expr) {
        visit(child, f);
    }
}

/// A copy of `expr` with each sub-expression `replace` gives a replacement for replaced
/// (outermost first; a replaced one is not looked into).
fn rewrite(expr: &Expr, replace: &mut impl FnMut(&Expr) -> Option<Expr>) -> Expr {
    if let Some(replaced) = replace(expr) {
        return replaced;
    }
    let mut copy = expr.clone();
    for child in children_mut(&mut copy) {
        *child = rewrite(child, replace);
    }
    copy
}

/// The sub-expressions of `expr`, to rewrite in place.
fn children_mut(expr: &mut Expr) -> Vec<&mut Expr> {
    match expr {
        Expr::Column(_) | Expr::Literal(_) | Expr::Qualified { .. } | Expr::Over { .. } => {
            Vec::new()
        }
        Expr::Unary(_, e) | Expr::Cast(e, _) => vec![&mut **e],
        Expr::IsNull { expr, .. } => vec![&mut **expr],
        Expr::Binary(_, a, b) => vec![&mut **a, &mut **b],
        Expr::Like { expr, pattern, .. } => vec![&mut **expr, &mut **pattern],
        Expr::Function { args, .. } => args.iter_mut().collect(),
        Expr::Case {
            operand,
            whens,
            otherwise,
        } => {
            let mut out: Vec<&mut Expr> = operand.iter_mut().map(|e| &mut **e).collect();
            for (when, then) in whens {
                out.push(when);
                out.push(then);
            }
            out.extend(otherwise.iter_mut().map(|e| &mut **e));
            out
        }
        Expr::Between {
            expr, low, high, ..
        } => vec![&mut **expr, &mut **low, &mut **high],
        Expr::InList { expr, list, .. } => {
            let mut out = vec![&mut **expr];
            out.extend(list.iter_mut());
            out
        }
        other => other.collection_children_mut().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::ast::Statement;
    use crate::sql::parser::parse;

    fn plan_clause(clause: &str) -> Result<Schema, PlanError> {
        let sql = format!("SELECT * FROM s MATCH_RECOGNIZE ({clause});");
        let parsed = parse(&sql).expect("valid SQL");
        let Statement::Select(query) = &parsed[0].statement else {
            panic!("a SELECT")
        };
        let input = Schema {
            columns: ["K", "ID", "PRICE", "T"]
                .iter()
                .map(|n| Column {
                    name: n.to_string(),
                    sql_type: if *n == "K" {
                        SqlType::String
                    } else {
                        SqlType::Bigint
                    },
                    key: false,
                })
                .collect(),
        };
        let clause = query.match_recognize.as_ref().expect("a MATCH_RECOGNIZE");
        plan(clause, &input, Some("T"), 0).map(|(_, schema)| schema)
    }

    #[test]
    fn output_columns_are_the_partition_then_the_measures_typed_as_flink_types_them() {
        let schema = plan_clause(
            "PARTITION BY k ORDER BY T MEASURES AVG(A.price) AS a, COUNT(*) AS n, \
             AVG(CAST(A.price AS DOUBLE)) AS d, FIRST(A.k) AS f, MATCH_ROWTIME() AS r \
             PATTERN (A+? B) DEFINE A AS SUM(A.price) < 30",
        )
        .expect("a plan");
        let shape: Vec<(String, SqlType)> = schema
            .columns
            .into_iter()
            .map(|c| (c.name, c.sql_type))
            .collect();
        assert_eq!(
            shape,
            [
                ("K".to_string(), SqlType::String),
                ("A".to_string(), SqlType::Bigint),
                ("N".to_string(), SqlType::Bigint),
                ("D".to_string(), SqlType::Double),
                ("F".to_string(), SqlType::String),
                ("R".to_string(), SqlType::Bigint),
            ]
        );
    }

    #[test]
    fn what_cannot_run_is_refused_with_the_reason() {
        let cases = [
            (
                "ORDER BY price PATTERN (A B)",
                "ordered by the event time first",
            ),
            (
                "ORDER BY T PATTERN (A B+)",
                "greedy quantifiers are not allowed as the last",
            ),
            (
                "ORDER BY T PATTERN (A (B C)+)",
                "a quantified group ends it",
            ),
            ("ORDER BY T PATTERN (A* B?)", "empty matches"),
            ("ORDER BY T PATTERN (A B{0} C)", "takes no row"),
            (
                "ORDER BY T PATTERN (A (B?)+ C)",
                "at least one row each round",
            ),
            (
                "ORDER BY T AFTER MATCH SKIP TO FIRST A PATTERN (A B)",
                "first row",
            ),
            (
                "ORDER BY T AFTER MATCH SKIP TO LAST A PATTERN (A B)",
                "first row",
            ),
            (
                "ORDER BY T AFTER MATCH SKIP TO LAST X PATTERN (A B)",
                "X is not a pattern variable",
            ),
            (
                "ORDER BY T PATTERN (A B) DEFINE B AS B.price > PREV(B.price, 1)",
                "physical offset",
            ),
            (
                "ORDER BY T PATTERN (A B) DEFINE B AS NEXT(price) > 1",
                "physical offset",
            ),
            (
                "ORDER BY T PATTERN (A B) DEFINE B AS X.price > 1",
                "X is not a pattern variable",
            ),
            (
                "ORDER BY T MEASURES FIRST(A.price + B.price) AS s PATTERN (A B)",
                "one pattern variable only",
            ),
            (
                "ORDER BY T MEASURES SUM(LAST(A.price)) AS s PATTERN (A B)",
                "do not nest",
            ),
            (
                "ORDER BY T PATTERN (A B) DEFINE B AS MATCH_ROWTIME() > 1",
                "only in MEASURES",
            ),
            (
                "ORDER BY T MEASURES COLLECT_LIST(A.price) AS s PATTERN (A B)",
                "COUNT, SUM, MIN, MAX and AVG",
            ),
            (
                "ORDER BY T MEASURES MATCH_NUMBER() AS s PATTERN (A B)",
                "not supported",
            ),
            (
                "ORDER BY T PATTERN (A B) WITHIN INTERVAL '0' SECOND",
                "positive interval",
            ),
            (
                "ORDER BY T PATTERN (A B) DEFINE A AS TRUE, A AS FALSE",
                "defines A twice",
            ),
        ];
        for (clause, says) in cases {
            match plan_clause(clause) {
                Ok(_) => panic!("{clause}: planned"),
                Err(error) => assert!(error.to_string().contains(says), "{clause}: {error}"),
            }
        }
    }
}
