//! Planning: a CREATE ... AS SELECT against the catalog becomes a chain of operators, with
//! the sink's columns named and typed as ksqlDB names and types them. Nothing here runs a
//! row; `query` runs the chain.

pub mod names;

use crate::aggregate::AggKind;
use crate::catalog::{check_format, property, CatalogError, SourceDef, WindowType};
use crate::expr::{compile, Compiled, ExprError, Plain, Resolver};
use crate::ops::group::Grouping;
use crate::ops::project_filter::{Filter, Project};
use crate::ops::session_aggregate::{default_grace, SessionAggregate, SessionWindow};
use crate::ops::shape::RowShape;
use crate::ops::window_aggregate::{legacy, Window, WindowAggregate, DEFAULT_GRACE_MS};
use crate::ops::Operator;
use crate::sql::ast::{Emit, Expr, Literal, Properties, Query, SourceKind, WindowKind};
use crate::value::{Column, Schema};

use names::{expand, has_aggregate, infer_type, output_names};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Expr(#[from] ExprError),
    #[error("{0}")]
    Catalog(#[from] CatalogError),
    #[error("{0}")]
    Invalid(String),
}

fn invalid<T>(message: impl Into<String>) -> Result<T, PlanError> {
    Err(PlanError::Invalid(message.into()))
}

/// A planned persistent query: the operators its decoded rows go through, what it writes,
/// and which source columns anything reads (the decoder keeps only those).
pub struct QueryPlan {
    pub sink: SourceDef,
    pub key_names: Vec<String>,
    pub value_names: Vec<String>,
    pub ops: Vec<Box<dyn Operator>>,
    pub reads: Vec<bool>,
    /// The shape of an aggregation's state keys, for snapshots of versions 1 and 2.
    pub legacy: Option<legacy::Shape>,
}

/// Collects the aggregate calls of a projection into slots, and resolves GROUP BY
/// expressions to the group row.
struct Aggregation<'a> {
    input: &'a Schema,
    group_by: &'a [Expr],
    aggs: Vec<(Expr, AggKind, Option<Compiled>)>,
}

impl Resolver for Aggregation<'_> {
    fn aggregate(&mut self, call: &Expr) -> Result<Option<usize>, ExprError> {
        if let Some(slot) = self.aggs.iter().position(|(e, ..)| e == call) {
            return Ok(Some(slot));
        }
        let Expr::Function { name, args, star } = call else {
            return Ok(None);
        };
        let k = match args.get(1) {
            Some(Expr::Literal(Literal::Integer(k))) => Some(*k),
            _ => None,
        };
        let kind = AggKind::from_call(name, *star, k)
            .map_err(|_| ExprError::UnknownFunction(name.clone()))?;
        let argument = match (star, args.first()) {
            (true, _) => None,
            (false, Some(arg)) => Some(compile(arg, self.input, &mut Plain)?),
            (false, None) => {
                return Err(ExprError::Arity {
                    name: name.clone(),
                    expected: "1",
                    got: 0,
                })
            }
        };
        self.aggs.push((call.clone(), kind, argument));
        Ok(Some(self.aggs.len() - 1))
    }

    fn precomputed(&self, expr: &Expr) -> Option<Compiled> {
        self.group_by
            .iter()
            .position(|g| g == expr)
            .map(Compiled::Column)
    }
}

/// Plans `CREATE {kind} {name} WITH (properties) AS {query}` over `source`.
pub fn plan(
    kind: SourceKind,
    name: &str,
    properties: &Properties,
    query: &Query,
    source: &SourceDef,
) -> Result<QueryPlan, PlanError> {
    if source.kind == SourceKind::Table {
        return invalid(format!(
            "{name} reads the table {}; persistent queries over tables arrive with joins",
            source.name
        ));
    }
    if query.limit.is_some() {
        return invalid("LIMIT is not allowed in a persistent query");
    }
    let schema = &source.schema;
    let projection = expand(&query.projection, schema);
    let names = output_names(&projection);
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != names.len() {
        return invalid("the projection names a column twice; give each one an alias");
    }
    let mut ops: Vec<Box<dyn Operator>> = Vec::new();
    // Every expression evaluated over the source row, to find the columns anything reads.
    let mut over_source: Vec<Compiled> = Vec::new();
    if let Some(f) = &query.filter {
        let condition = compile(f, schema, &mut Plain)?;
        over_source.push(condition.clone());
        ops.push(Box::new(Filter::new(condition)));
    }
    let aggregating =
        !query.group_by.is_empty() || projection.iter().any(|(e, _)| has_aggregate(e));
    let topic = property(properties, "KAFKA_TOPIC").unwrap_or_else(|| name.to_string());
    let value_format = property(properties, "VALUE_FORMAT")
        .or_else(|| property(properties, "FORMAT"))
        .unwrap_or_else(|| source.value_format.clone());
    check_format(&value_format, "VALUE_FORMAT")?;

    let mut legacy = None;
    let (key_flags, window) = if aggregating {
        // Versions 1 and 2 ran no session windows: only other aggregations have old state.
        let sessions =
            matches!(&query.window, Some(w) if matches!(w.kind, WindowKind::Session { .. }));
        if !sessions {
            legacy = Some(legacy::Shape {
                groups: query.group_by.len(),
                windowed: query.window.is_some(),
            });
        }
        plan_aggregate(
            kind,
            name,
            query,
            schema,
            &projection,
            &mut ops,
            &mut over_source,
        )?
    } else {
        if kind == SourceKind::Table {
            return invalid(format!(
                "{name}: a table needs GROUP BY; use CREATE STREAM for a projection"
            ));
        }
        if query.window.is_some() {
            return invalid("WINDOW needs GROUP BY");
        }
        if query.emit == Some(Emit::Final) {
            return invalid("EMIT FINAL needs a windowed aggregation");
        }
        let mut key = Vec::new();
        let mut value = Vec::new();
        let mut key_flags = Vec::new();
        for (expr, _) in &projection {
            let compiled = compile(expr, schema, &mut Plain)?;
            over_source.push(compiled.clone());
            let is_key = matches!(expr, Expr::Column(n) if schema.index_of(n).is_some_and(|i| schema.columns[i].key));
            key_flags.push(is_key);
            if is_key {
                key.push(compiled);
            } else {
                value.push(compiled);
            }
        }
        ops.push(Box::new(Project::new(key, value)));
        (key_flags, None)
    };

    let mut key_names = Vec::new();
    let mut value_names = Vec::new();
    let mut columns = Vec::new();
    for ((name, (expr, _)), is_key) in names.iter().zip(&projection).zip(&key_flags) {
        if *is_key {
            key_names.push(name.clone());
        } else {
            value_names.push(name.clone());
        }
        columns.push(Column {
            name: name.clone(),
            sql_type: infer_type(expr, schema),
            key: *is_key,
        });
    }
    let sink = SourceDef {
        name: name.to_string(),
        kind,
        schema: Schema { columns },
        topic,
        value_format: value_format.to_ascii_uppercase(),
        key_format: property(properties, "KEY_FORMAT").unwrap_or_else(|| source.key_format.clone()),
        timestamp: None,
        window,
    };
    let mut reads = vec![false; schema.columns.len()];
    for expr in &over_source {
        expr.mark_columns(&mut reads);
    }
    Ok(QueryPlan {
        sink,
        key_names,
        value_names,
        ops,
        reads,
        legacy,
    })
}

/// Plans GROUP BY and the aggregates; returns which output columns are key columns and the
/// kind of window the table has.
fn plan_aggregate(
    kind: SourceKind,
    name: &str,
    query: &Query,
    schema: &Schema,
    projection: &[(Expr, Option<String>)],
    ops: &mut Vec<Box<dyn Operator>>,
    over_source: &mut Vec<Compiled>,
) -> Result<(Vec<bool>, Option<WindowType>), PlanError> {
    if kind == SourceKind::Stream {
        return invalid(format!(
            "{name}: an aggregation makes a TABLE; use CREATE TABLE {name} AS SELECT ..."
        ));
    }
    if query.group_by.is_empty() {
        return invalid("aggregations need GROUP BY in advisor-engine");
    }
    let mut session = None;
    let window = match &query.window {
        Some(spec) => match spec.kind {
            WindowKind::Session { gap } => {
                let grace = spec.grace.unwrap_or_else(|| default_grace(gap));
                let retention = spec.retention.unwrap_or(gap + grace);
                if retention < gap + grace {
                    return invalid(format!(
                        "The retention period of the session window ({retention} ms) must be no smaller than its inactivity gap plus grace period ({} ms)",
                        gap + grace
                    ));
                }
                session = Some(SessionWindow {
                    gap,
                    grace,
                    retention,
                });
                None
            }
            _ => Some(Window {
                kind: spec.kind.clone(),
                grace: spec.grace.unwrap_or(DEFAULT_GRACE_MS),
            }),
        },
        None => None,
    };
    let emit = query.emit.unwrap_or(Emit::Changes);
    if emit == Emit::Final && window.is_none() && session.is_none() {
        return invalid("EMIT FINAL needs a WINDOW clause");
    }
    let mut group_by = Vec::new();
    for expr in &query.group_by {
        if has_aggregate(expr) {
            return invalid("GROUP BY cannot hold an aggregate");
        }
        group_by.push(compile(expr, schema, &mut Plain)?);
    }
    let mut resolver = Aggregation {
        input: schema,
        group_by: &query.group_by,
        aggs: Vec::new(),
    };
    // Everything after aggregation sees the group row (one value per GROUP BY expression)
    // and the aggregate slots; a bare column must be grouped.
    let group_schema = Schema {
        columns: query
            .group_by
            .iter()
            .enumerate()
            .map(|(i, e)| Column {
                name: match e {
                    Expr::Column(n) => n.clone(),
                    _ => format!("__GROUP_{i}"),
                },
                sql_type: infer_type(e, schema),
                key: true,
            })
            .collect(),
    };
    let mut key = Vec::new();
    let mut value = Vec::new();
    let mut key_flags = Vec::new();
    for (expr, _) in projection {
        let compiled = compile(expr, &group_schema, &mut resolver).map_err(|e| match e {
            ExprError::UnknownColumn(column, _) if schema.index_of(&column).is_some() => {
                PlanError::Invalid(format!(
                    "column {column} must be in GROUP BY or inside an aggregate function"
                ))
            }
            other => PlanError::Expr(other),
        })?;
        let is_key = query.group_by.contains(expr);
        key_flags.push(is_key);
        if is_key {
            key.push(compiled);
        } else {
            value.push(compiled);
        }
    }
    for (i, group) in query.group_by.iter().enumerate() {
        if !projection.iter().any(|(e, _)| e == group) {
            let shown = match group {
                Expr::Column(n) => n.clone(),
                _ => format!("GROUP BY expression {}", i + 1),
            };
            return invalid(format!(
                "Key missing from projection (ie, SELECT). The query used to build {name} must include the grouping expression {shown} in its projection (eg, SELECT {shown}...)"
            ));
        }
    }
    let having = match &query.having {
        Some(h) => Some(compile(h, &group_schema, &mut resolver)?),
        None => None,
    };
    let aggs: Vec<(AggKind, Option<Compiled>)> = resolver
        .aggs
        .into_iter()
        .map(|(_, kind, arg)| (kind, arg))
        .collect();
    over_source.extend(group_by.iter().cloned());
    over_source.extend(aggs.iter().filter_map(|(_, a)| a.clone()));
    let shape = RowShape::new(aggs, having, key, value);
    let grouping = Grouping::new(group_by);
    let window_type = match (window, session) {
        (_, Some(session)) => {
            ops.push(Box::new(SessionAggregate::new(
                grouping, session, shape, emit,
            )));
            Some(WindowType::Session)
        }
        (window, None) => {
            let window_type = window.as_ref().map(|w| WindowType::of(&w.kind));
            ops.push(Box::new(WindowAggregate::new(
                grouping, window, shape, emit,
            )));
            window_type
        }
    };
    Ok((key_flags, window_type))
}
