//! Planning: a CREATE ... AS SELECT against the catalog becomes a chain of operators, with
//! the sink's columns named and typed as ksqlDB names and types them. Nothing here runs a
//! row; `query` runs the chain.

pub mod join;
pub mod match_recognize;
pub(crate) mod names;
pub mod view;

use crate::aggregate::AggKind;
use crate::catalog::{property, CatalogError, SourceDef, WindowType};
use crate::expr::{compile, Compiled, ExprError, Plain, Resolver};
use crate::format::{Format, Formats};
use crate::ops::group::Grouping;
use crate::ops::over_window::{OverAggregate, OverFunction, OverWindow};
use crate::ops::project_filter::{Filter, Map, Project, TableProject};
use crate::ops::session_aggregate::{default_grace, SessionAggregate, SessionWindow};
use crate::ops::shape::RowShape;
use crate::ops::table_aggregate::table_aggregate;
use crate::ops::window_aggregate::{legacy, Window, WindowAggregate, DEFAULT_GRACE_MS};
use crate::ops::Operator;
use crate::settings::Settings;
use crate::sql::ast::{
    Emit, Expr, Literal, OrderItem, OverRef, OverSpec, Properties, Query, Relation, SelectItem,
    SourceKind, WindowKind,
};
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

/// Until joins are planned, a query with one is refused rather than read as its FROM alone.
pub fn refuse_joins(query: &Query) -> Result<(), PlanError> {
    match query.joins.first() {
        Some(join) => invalid(format!(
            "line {}:{}: joins are not supported by advisor-engine yet",
            join.at.line, join.at.column
        )),
        None => Ok(()),
    }
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
    /// Set when an operator follows the source's watermark (OVER, MATCH_RECOGNIZE): the
    /// query then works it out from every record it decodes.
    pub watermarked: bool,
    /// Set when the aggregation's GROUP BY is its stream's message key, column for column:
    /// what `plan` gives `fresh_ops` for.
    pub(crate) grouped_by_message_key: bool,
    /// For an aggregation whose GROUP BY is its stream's message key, or a join on both its
    /// sides' message keys: plans the operators afresh, for a set per input partition.
    pub fresh_ops: Option<FreshOps>,
    /// For a two-way join, the stream sides not keyed by the join key and how each is
    /// re-keyed (ksqlDB re-keys only the sides that need it): so the join reads a keyed side
    /// in place, and two re-keyed sides meet in the same partition numbers.
    pub(crate) rekeyed: Vec<RekeyedInput>,
}

/// A join side re-keyed by its join key through its own repartition topic: each row goes to
/// the partition that Kafka's default partitioner (murmur2, as Java clients and ksqlDB
/// use) gives its key written in the other side's key format, the partition where the
/// other side's records of that key are; or, when both sides are re-keyed, written as
/// JSON, which holds any key type, for both alike.
#[derive(Debug, Clone)]
pub struct RekeyedInput {
    /// The side's place among the query's inputs.
    pub input: usize,
    /// The side's join key, over the query's rows.
    pub key: Compiled,
    /// The format and type the key is written in to choose its partition.
    pub format: Format,
    pub key_type: crate::sql::ast::SqlType,
}

/// Plans a query's operators again, with empty state.
pub type FreshOps =
    std::sync::Arc<dyn Fn() -> Result<Vec<Box<dyn Operator>>, PlanError> + Send + Sync>;

/// Collects the aggregate calls of a projection into slots, and resolves GROUP BY
/// expressions to the group row.
struct Aggregation<'a> {
    settings: &'a Settings,
    input: &'a Schema,
    group_by: &'a [Expr],
    aggs: Vec<(Expr, AggKind, Option<Compiled>)>,
}

impl Resolver for Aggregation<'_> {
    fn typing_schema(&self) -> Option<&Schema> {
        Some(self.input)
    }

    fn aggregate(&mut self, call: &Expr) -> Result<Option<usize>, ExprError> {
        if let Some(slot) = self.aggs.iter().position(|(e, ..)| e == call) {
            return Ok(Some(slot));
        }
        let Expr::Function { name, args, star } = call else {
            return Ok(None);
        };
        let constants: Vec<Literal> = args
            .iter()
            .skip(1)
            .map(|a| match a {
                Expr::Literal(l) => Ok(l.clone()),
                _ => Err(ExprError::UnknownFunction(format!(
                    "{name} with a non-constant argument after the first"
                ))),
            })
            .collect::<Result<_, _>>()?;
        // COUNT() counts rows, as COUNT(*) does.
        let star = *star || (name == "COUNT" && args.is_empty());
        let kind = AggKind::from_call(name, star, &constants, self.settings)
            .map_err(ExprError::Aggregate)?;
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

/// The operators planned so far, and what their rows look like.
struct Chain<'s> {
    source: &'s SourceDef,
    settings: &'s Settings,
    ops: Vec<Box<dyn Operator>>,
    /// The rows' columns after the operators so far.
    schema: Schema,
    /// For each of those columns, the source column it passes on unchanged, if any: an
    /// expression reading it makes the decoder keep that source column.
    origin: Vec<Option<usize>>,
    /// True while the rows are the source's own.
    at_source: bool,
    reads: Vec<bool>,
    /// Set once an operator follows the source's watermark.
    watermarked: bool,
    /// Set when the GROUP BY is the source's message key, column for column.
    grouped_by_message_key: bool,
}

impl<'s> Chain<'s> {
    fn new(source: &'s SourceDef, settings: &'s Settings) -> Chain<'s> {
        Chain {
            source,
            settings,
            ops: Vec::new(),
            schema: source.schema.clone(),
            origin: (0..source.schema.columns.len()).map(Some).collect(),
            at_source: true,
            reads: vec![false; source.schema.columns.len()],
            watermarked: false,
            grouped_by_message_key: false,
        }
    }

    fn compile(&mut self, expr: &Expr, resolver: &mut dyn Resolver) -> Result<Compiled, PlanError> {
        let compiled = compile(expr, &self.schema, resolver)?;
        self.mark(&compiled);
        Ok(compiled)
    }

    fn mark(&mut self, compiled: &Compiled) {
        let mut used = vec![false; self.schema.columns.len()];
        compiled.mark_columns(&mut used);
        for (column, _) in used.iter().enumerate().filter(|(_, u)| **u) {
            if let Some(Some(source)) = self.origin.get(column) {
                self.reads[*source] = true;
            }
        }
    }

    /// Adds an operator whose rows look like `schema` from now on (`None`: as before), each
    /// column passing on the column `origin` names, if any.
    fn push(&mut self, op: Box<dyn Operator>, schema: Option<(Schema, Vec<Option<usize>>)>) {
        self.ops.push(op);
        if let Some((schema, origin)) = schema {
            self.schema = schema;
            self.origin = origin;
            self.at_source = false;
        }
    }
}

/// Plans `CREATE {kind} {name} WITH (properties) AS {query}` over `source`.
pub fn plan(
    kind: SourceKind,
    name: &str,
    properties: &Properties,
    query: &Query,
    source: &SourceDef,
    settings: &Settings,
) -> Result<QueryPlan, PlanError> {
    if query.limit.is_some() {
        return invalid("LIMIT is not allowed in a persistent query");
    }
    refuse_joins(query)?;
    check_projection(query)?;
    if source.kind == SourceKind::Table {
        return plan_from_table(kind, name, properties, query, source, settings);
    }
    let mut chain = Chain::new(source, settings);
    plan_from(query, &mut chain)?;
    let mut planned = plan_rows(kind, name, properties, query, chain)?;
    if planned.grouped_by_message_key {
        let (name, properties, query) = (name.to_string(), properties.clone(), query.clone());
        let (source, settings) = (source.clone(), settings.clone());
        planned.fresh_ops = Some(std::sync::Arc::new(move || {
            plan(kind, &name, &properties, &query, &source, &settings).map(|p| p.ops)
        }));
    }
    Ok(planned)
}

/// Plans WHERE, the projection or the aggregation, and the sink over the rows `chain`
/// gives (a stream's own, a derived table's, a join's).
fn plan_rows(
    kind: SourceKind,
    name: &str,
    properties: &Properties,
    query: &Query,
    mut chain: Chain<'_>,
) -> Result<QueryPlan, PlanError> {
    let source = chain.source;
    if let Some(f) = &query.filter {
        let condition = chain.compile(f, &mut Plain)?;
        chain.push(Box::new(Filter::new(condition)), None);
    }
    let projection = expand(&query.projection, &chain.schema);
    let names = output_names(&projection);
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != names.len() {
        return invalid("the projection names a column twice; give each one an alias");
    }
    let aggregating =
        !query.group_by.is_empty() || projection.iter().any(|(e, _)| has_aggregate(e));
    let topic = property(properties, "KAFKA_TOPIC").unwrap_or_else(|| name.to_string());
    let formats = Formats::from_properties(properties, Some(&source.formats))
        .map_err(CatalogError::from)?
        .unwrap_or(source.formats);

    let mut legacy = None;
    // Output column types are inferred over the rows the projection reads.
    let mut typing = chain.schema.clone();
    let (key_flags, window) = if aggregating {
        // Versions 1 and 2 ran no session windows: only other aggregations have old state.
        let sessions =
            matches!(&query.window, Some(w) if matches!(w.kind, WindowKind::Session { .. }));
        if !sessions && chain.at_source {
            legacy = Some(legacy::Shape {
                groups: query.group_by.len(),
                windowed: query.window.is_some(),
            });
        }
        plan_aggregate(kind, name, query, &projection, &mut chain)?
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
        if chain.at_source {
            let missing = keys_left_out(&chain.schema, &projection);
            if !missing.is_empty() {
                return Err(missing_keys(name, &missing));
            }
        }
        let mut over = plan_over(query, &projection, &mut chain)?;
        typing = chain.schema.clone();
        let mut key = Vec::new();
        let mut value = Vec::new();
        let mut key_flags = Vec::new();
        for (expr, _) in &projection {
            let compiled = chain.compile(expr, &mut over)?;
            let is_key = matches!(expr, Expr::Column(n) if chain.schema.index_of(n).is_some_and(|i| chain.schema.columns[i].key));
            key_flags.push(is_key);
            if is_key {
                key.push(compiled);
            } else {
                value.push(compiled);
            }
        }
        chain.push(Box::new(Project::new(key, value)), None);
        // A projection of a windowed source keeps its records' windows.
        (key_flags, source.window.filter(|_| chain.at_source))
    };

    let (key_names, value_names, columns) =
        sink_columns(query, &names, &projection, &key_flags, &typing);
    if value_names.is_empty() {
        return invalid("The projection contains no value columns.");
    }
    let schema = Schema { columns };
    formats.check(&schema).map_err(CatalogError::from)?;
    Ok(QueryPlan {
        sink: SourceDef {
            // A projection of a windowed source keeps its windows, and their size.
            window_size: source
                .window_size
                .filter(|_| !aggregating && window.is_some()),
            ..derived_source(name, kind, schema, topic, formats, window, source)
        },
        key_names,
        value_names,
        ops: chain.ops,
        reads: chain.reads,
        legacy,
        watermarked: chain.watermarked,
        grouped_by_message_key: chain.grouped_by_message_key,
        fresh_ops: None,
        rekeyed: Vec::new(),
    })
}

/// ksqlDB's refusal of a projection that leaves out key columns of its source.
fn missing_keys(name: &str, missing: &[String]) -> PlanError {
    let (noun, listed) = match missing {
        [one] => ("column", one.clone()),
        [rest @ .., last] => ("columns", format!("{} and {last}", rest.join(", "))),
        [] => ("columns", String::new()),
    };
    PlanError::Invalid(format!(
        "The query used to build `{name}` must include the key {noun} {listed} in its projection (eg, SELECT {}...).",
        missing.join(", ")
    ))
}

/// The source key columns a projection leaves out.
fn keys_left_out(schema: &Schema, projection: &[(Expr, Option<String>)]) -> Vec<String> {
    schema
        .key_columns()
        .filter(|(_, c)| {
            !projection
                .iter()
                .any(|(e, _)| matches!(e, Expr::Column(n) if *n == c.name))
        })
        .map(|(_, c)| c.name.clone())
        .collect()
}

/// The sink's columns: the key columns first, in GROUP BY order for an aggregation (as
/// ksqlDB orders them), then the value columns in SELECT order.
fn sink_columns(
    query: &Query,
    names: &[String],
    projection: &[(Expr, Option<String>)],
    key_flags: &[bool],
    typing: &Schema,
) -> (Vec<String>, Vec<String>, Vec<Column>) {
    let mut keys: Vec<(usize, Column)> = Vec::new();
    let mut values: Vec<Column> = Vec::new();
    for (at, ((name, (expr, _)), is_key)) in names.iter().zip(projection).zip(key_flags).enumerate()
    {
        let column = Column {
            name: name.clone(),
            sql_type: infer_type(expr, typing),
            key: *is_key,
        };
        if *is_key {
            let rank = query.group_by.iter().position(|g| g == expr).unwrap_or(at);
            keys.push((rank, column));
        } else {
            values.push(column);
        }
    }
    keys.sort_by_key(|(rank, _)| *rank);
    let key_names = keys.iter().map(|(_, c)| c.name.clone()).collect();
    let value_names = values.iter().map(|c| c.name.clone()).collect();
    let columns = keys.into_iter().map(|(_, c)| c).chain(values).collect();
    (key_names, value_names, columns)
}

/// Plans a query over a table: each change to one of its rows (a tombstone deletes it)
/// becomes a change of the result table.
fn plan_from_table(
    kind: SourceKind,
    name: &str,
    properties: &Properties,
    query: &Query,
    source: &SourceDef,
    settings: &Settings,
) -> Result<QueryPlan, PlanError> {
    if kind == SourceKind::Stream {
        return invalid(format!(
            "Invalid result type. Your SELECT query produces a TABLE. Please use CREATE TABLE AS SELECT statement instead. ({name} reads the table {})",
            source.name
        ));
    }
    if query.from_name().is_none() || query.match_recognize.is_some() || query.window.is_some() {
        return invalid(format!(
            "{name} reads the table {}: derived tables, MATCH_RECOGNIZE and WINDOW read streams",
            source.name
        ));
    }
    let schema = &source.schema;
    let projection = expand(&query.projection, schema);
    let names = output_names(&projection);
    let aggregating =
        !query.group_by.is_empty() || projection.iter().any(|(e, _)| has_aggregate(e));
    if aggregating {
        return plan_table_aggregate(
            kind,
            name,
            properties,
            query,
            source,
            settings,
            &projection,
            &names,
        );
    }
    let mut reads = vec![false; schema.columns.len()];
    let mut compile_marking = |expr: &Expr| -> Result<Compiled, PlanError> {
        let compiled = compile(expr, schema, &mut Plain)?;
        compiled.mark_columns(&mut reads);
        Ok(compiled)
    };
    let condition = query
        .filter
        .as_ref()
        .map(&mut compile_marking)
        .transpose()?;
    let mut key = Vec::new();
    let mut value = Vec::new();
    let mut columns = Vec::new();
    for ((expr, _), column_name) in projection.iter().zip(&names) {
        let compiled = compile_marking(expr)?;
        let is_key = matches!(expr, Expr::Column(n) if schema.index_of(n).is_some_and(|i| schema.columns[i].key));
        if is_key {
            key.push(compiled);
        } else {
            value.push(compiled);
        }
        columns.push(Column {
            name: column_name.clone(),
            sql_type: infer_type(expr, schema),
            key: is_key,
        });
    }
    let missing = keys_left_out(schema, &projection);
    if !missing.is_empty() {
        return Err(missing_keys(name, &missing));
    }
    let formats = Formats::from_properties(properties, Some(&source.formats))
        .map_err(CatalogError::from)?
        .unwrap_or(source.formats);
    let schema = Schema { columns };
    formats.check(&schema).map_err(CatalogError::from)?;
    let key_names = schema.key_columns().map(|(_, c)| c.name.clone()).collect();
    let value_names = schema
        .value_columns()
        .map(|(_, c)| c.name.clone())
        .collect();
    Ok(QueryPlan {
        sink: derived_source(
            name,
            kind,
            schema,
            property(properties, "KAFKA_TOPIC").unwrap_or_else(|| name.to_string()),
            formats,
            None,
            source,
        ),
        key_names,
        value_names,
        ops: vec![Box::new(TableProject::new(condition, key, value))],
        reads,
        legacy: None,
        watermarked: false,
        grouped_by_message_key: false,
        fresh_ops: None,
        rekeyed: Vec::new(),
    })
}

/// GROUP BY over a table: each change of a source row moves its contribution between groups
/// (ops/table_aggregate), so every aggregate must be able to take a row back out.
#[allow(clippy::too_many_arguments)]
fn plan_table_aggregate(
    kind: SourceKind,
    name: &str,
    properties: &Properties,
    query: &Query,
    source: &SourceDef,
    settings: &Settings,
    projection: &[(Expr, Option<String>)],
    names: &[String],
) -> Result<QueryPlan, PlanError> {
    if query.window.is_some() {
        return invalid("Windowing not supported for table aggregations.");
    }
    if query.group_by.is_empty() {
        return invalid("aggregations need GROUP BY in advisor-engine");
    }
    let mut chain = Chain::new(source, settings);
    let condition = query
        .filter
        .as_ref()
        .map(|f| chain.compile(f, &mut Plain))
        .transpose()?;
    let parts = plan_grouping(name, query, projection, &mut chain)?;
    // ksqlDB names the functions that cannot undo, in query order, each once.
    let mut refused: Vec<&'static str> = Vec::new();
    for (kind, _) in &parts.shape.aggs {
        if !kind.undoes() && !refused.contains(&kind.sql_name()) {
            refused.push(kind.sql_name());
        }
    }
    if let Some((last, rest)) = refused.split_last() {
        let listed = if rest.is_empty() {
            format!("function {last}")
        } else {
            format!("functions {} and {last}", rest.join(", "))
        };
        return invalid(format!(
            "The aggregation {listed} cannot be applied to a table source, only to a stream source."
        ));
    }
    let (key_names, value_names, columns) =
        sink_columns(query, names, projection, &parts.key_flags, &source.schema);
    if value_names.is_empty() {
        return invalid("The projection contains no value columns.");
    }
    let formats = Formats::from_properties(properties, Some(&source.formats))
        .map_err(CatalogError::from)?
        .unwrap_or(source.formats);
    let schema = Schema { columns };
    formats.check(&schema).map_err(CatalogError::from)?;
    let source_key = source.schema.key_columns().map(|(i, _)| i).collect();
    for (place, _) in source.schema.key_columns() {
        chain.reads[place] = true;
    }
    Ok(QueryPlan {
        sink: derived_source(
            name,
            kind,
            schema,
            property(properties, "KAFKA_TOPIC").unwrap_or_else(|| name.to_string()),
            formats,
            None,
            source,
        ),
        key_names,
        value_names,
        ops: table_aggregate(parts.grouping, condition, source_key, parts.shape).into(),
        reads: chain.reads,
        legacy: None,
        watermarked: false,
        grouped_by_message_key: false,
        fresh_ops: None,
        rekeyed: Vec::new(),
    })
}

/// Plans what FROM reads: the source itself, or a derived table's operators; then a
/// MATCH_RECOGNIZE over it.
fn plan_from(query: &Query, chain: &mut Chain<'_>) -> Result<(), PlanError> {
    if let Relation::Derived(inner) = &query.from {
        plan_derived(inner, chain)?;
    }
    if let Some(clause) = &query.match_recognize {
        // Its conditions and measures may read any column it is given.
        for source in chain.origin.iter().flatten() {
            chain.reads[*source] = true;
        }
        let (op, schema) = match_recognize::plan(
            clause,
            &chain.schema,
            chain.source.timestamp.as_deref(),
            chain.source.watermark_delay,
        )?;
        let origin = vec![None; schema.columns.len()];
        chain.push(op, Some((schema, origin)));
        chain.watermarked = true;
    }
    Ok(())
}

/// A derived table: its WHERE, its OVER windows and its SELECT list, row by row.
fn plan_derived(inner: &Query, chain: &mut Chain<'_>) -> Result<(), PlanError> {
    refuse_joins(inner)?;
    if !inner.group_by.is_empty()
        || inner.window.is_some()
        || inner.having.is_some()
        || inner.emit.is_some()
        || inner.limit.is_some()
    {
        return invalid(
            "a derived table in FROM filters and computes columns row by row; GROUP BY, WINDOW, HAVING, EMIT and LIMIT belong to the outer query",
        );
    }
    plan_from(inner, chain)?;
    if let Some(f) = &inner.filter {
        let condition = chain.compile(f, &mut Plain)?;
        chain.push(Box::new(Filter::new(condition)), None);
    }
    let projection = expand(&inner.projection, &chain.schema);
    if projection.iter().any(|(e, _)| has_aggregate(e)) {
        return invalid("a derived table cannot aggregate; aggregate in the outer query");
    }
    let names = output_names(&projection);
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != names.len() {
        return invalid("the derived table names a column twice; give each one an alias");
    }
    let mut over = plan_over(inner, &projection, chain)?;
    let typing = chain.schema.clone();
    let mut columns = Vec::new();
    let mut compiled = Vec::new();
    let mut origin = Vec::new();
    for ((expr, _), name) in projection.iter().zip(&names) {
        let column = chain.compile(expr, &mut over)?;
        origin.push(match column {
            Compiled::Column(i) => chain.origin.get(i).copied().flatten(),
            _ => None,
        });
        compiled.push(column);
        columns.push(Column {
            name: name.clone(),
            sql_type: infer_type(expr, &typing),
            key: false,
        });
    }
    chain.push(
        Box::new(Map::new(compiled)),
        Some((Schema { columns }, origin)),
    );
    Ok(())
}

/// The OVER aggregates of a SELECT list, computed by one OVER window operator whose rows
/// are the input row with each aggregate after it; resolves each OVER call in the SELECT
/// list to its column.
fn plan_over(
    query: &Query,
    projection: &[(Expr, Option<String>)],
    chain: &mut Chain<'_>,
) -> Result<OverColumns, PlanError> {
    let mut calls: Vec<Expr> = Vec::new();
    for (expr, _) in projection {
        collect_over(expr, &mut calls);
    }
    let width = chain.schema.columns.len();
    if calls.is_empty() {
        return Ok(OverColumns { calls, base: width });
    }
    let spec_of = |over: &OverRef| -> Result<OverSpec, PlanError> {
        match over {
            OverRef::Inline(spec) => Ok(spec.clone()),
            OverRef::Named(name) => query
                .over_windows
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, spec)| spec.clone())
                .ok_or_else(|| {
                    PlanError::Invalid(format!(
                        "OVER {name} names no window of the query's WINDOW clause"
                    ))
                }),
        }
    };
    let mut spec: Option<OverSpec> = None;
    let mut aggs = Vec::new();
    let mut columns = chain.schema.columns.clone();
    for call in &calls {
        let Expr::Over {
            call: inner,
            window,
        } = call
        else {
            continue;
        };
        let this = spec_of(window)?;
        match &spec {
            None => spec = Some(this),
            Some(first) if *first == this => {}
            Some(_) => {
                return invalid(
                    "every OVER aggregate of one SELECT must use the same window (as in Flink); use one WINDOW w AS (...) for all of them",
                )
            }
        }
        let Expr::Function { name, args, star } = &**inner else {
            return invalid("OVER follows an aggregate call such as COUNT(*) or SUM(x)");
        };
        let Some(function) = OverFunction::from_call(name, *star) else {
            return invalid(format!(
                "{name} OVER (...) is not supported: OVER windows take COUNT, SUM, MIN, MAX and AVG"
            ));
        };
        let argument = match (star, args.as_slice()) {
            (true, _) => None,
            (false, [argument]) => Some(chain.compile(argument, &mut Plain)?),
            (false, _) => {
                return invalid(format!("{name} OVER (...) takes one argument"));
            }
        };
        aggs.push(OverAggregate { function, argument });
        columns.push(Column {
            name: format!("__OVER_{}", aggs.len() - 1),
            sql_type: infer_type(call, &chain.schema),
            key: false,
        });
    }
    let Some(spec) = spec else {
        return Ok(OverColumns { calls, base: width });
    };
    let rowtime = chain.source.timestamp.as_deref();
    let ordered_by_time = matches!(spec.order_by.as_slice(),
        [OrderItem { expr: Expr::Column(c), descending: false }]
            if c == "ROWTIME" || Some(c.as_str()) == rowtime);
    if !ordered_by_time {
        return invalid(
            "an OVER window is ordered by the event time alone: ORDER BY ROWTIME (the stream's TIMESTAMP column, as Flink's time attribute)",
        );
    }
    let mut partition_by = Vec::new();
    for expr in &spec.partition_by {
        partition_by.push(chain.compile(expr, &mut Plain)?);
    }
    let mut origin = chain.origin.clone();
    origin.resize(columns.len(), None);
    chain.watermarked = true;
    chain.push(
        Box::new(OverWindow::new(partition_by, spec.frame, aggs)),
        Some((Schema { columns }, origin)),
    );
    Ok(OverColumns { calls, base: width })
}

/// ksqlDB's checks of a persistent query's projection over one source
/// (elements.json): a pseudo column selected as it is would give the sink a column of a
/// reserved name, so it must be aliased; and `x.*` must name FROM's source or its alias.
/// OVER windows and MATCH_RECOGNIZE follow Flink SQL, which selects its rowtime attribute as
/// it is, so a query with either keeps ROWTIME unaliased.
fn check_projection(query: &Query) -> Result<(), PlanError> {
    let mut over = Vec::new();
    for item in &query.projection {
        if let SelectItem::Expr { expr, .. } = item {
            collect_over(expr, &mut over);
        }
    }
    let flink =
        query.match_recognize.is_some() || !query.over_windows.is_empty() || !over.is_empty();
    for item in &query.projection {
        match item {
            SelectItem::Expr {
                expr: Expr::Column(column),
                alias: None,
            } if !flink
                && [
                    "ROWTIME",
                    "ROWPARTITION",
                    "ROWOFFSET",
                    "WINDOWSTART",
                    "WINDOWEND",
                ]
                .contains(&column.as_str()) =>
            {
                return invalid(format!(
                    "Reserved column name in select: `{column}`. Please remove or alias the column."
                ));
            }
            SelectItem::SourceWildcard(qualifier)
                if matches!(&query.from, Relation::Source(_))
                    && Some(qualifier.as_str()) != query.from_alias.as_deref()
                    && qualifier != query.source_name() =>
            {
                return invalid(format!(
                    "'{qualifier}' is not a valid stream/table name or alias."
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn collect_over(expr: &Expr, calls: &mut Vec<Expr>) {
    match expr {
        Expr::Over { .. } => {
            if !calls.contains(expr) {
                calls.push(expr.clone());
            }
        }
        Expr::Function { args, .. } => args.iter().for_each(|a| collect_over(a, calls)),
        Expr::Unary(_, e) | Expr::Cast(e, _) => collect_over(e, calls),
        Expr::Binary(_, a, b)
        | Expr::Like {
            expr: a,
            pattern: b,
            ..
        } => {
            collect_over(a, calls);
            collect_over(b, calls);
        }
        Expr::Case {
            operand,
            whens,
            otherwise,
        } => {
            operand.iter().for_each(|e| collect_over(e, calls));
            for (when, then) in whens {
                collect_over(when, calls);
                collect_over(then, calls);
            }
            otherwise.iter().for_each(|e| collect_over(e, calls));
        }
        Expr::IsNull { expr, .. } => collect_over(expr, calls),
        Expr::Between {
            expr, low, high, ..
        } => {
            collect_over(expr, calls);
            collect_over(low, calls);
            collect_over(high, calls);
        }
        Expr::InList { expr, list, .. } => {
            collect_over(expr, calls);
            list.iter().for_each(|e| collect_over(e, calls));
        }
        Expr::Column(_) | Expr::Literal(_) | Expr::Qualified { .. } => {}
        other => other
            .collection_children()
            .unwrap_or_default()
            .into_iter()
            .for_each(|e| collect_over(e, calls)),
    }
}

/// Resolves each OVER call of a SELECT list to the column the OVER window put it in.
struct OverColumns {
    calls: Vec<Expr>,
    base: usize,
}

impl Resolver for OverColumns {
    fn aggregate(&mut self, _call: &Expr) -> Result<Option<usize>, ExprError> {
        Ok(None)
    }

    fn precomputed(&self, expr: &Expr) -> Option<Compiled> {
        self.calls
            .iter()
            .position(|c| c == expr)
            .map(|i| Compiled::Column(self.base + i))
    }
}

/// Plans GROUP BY and the aggregates; returns which output columns are key columns and the
/// kind of window the table has.
fn plan_aggregate(
    kind: SourceKind,
    name: &str,
    query: &Query,
    projection: &[(Expr, Option<String>)],
    chain: &mut Chain<'_>,
) -> Result<(Vec<bool>, Option<WindowType>), PlanError> {
    if kind == SourceKind::Stream {
        return invalid(format!(
            "{name}: an aggregation makes a TABLE; use CREATE TABLE {name} AS SELECT ..."
        ));
    }
    if chain.source.formats.value == Format::Kafka {
        return invalid(format!(
            "Source(s) {} are using the 'KAFKA' value format. This format does not yet support GROUP BY.",
            chain.source.name
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
                // Saturating: a gap and grace that add up past i64 need a retention as long.
                let least = gap.saturating_add(grace);
                let retention = spec.retention.unwrap_or(least);
                if retention < least {
                    return invalid(format!(
                        "The retention period of the session window ({retention} ms) must be no smaller than its inactivity gap plus grace period ({least} ms)"
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
    let parts = plan_grouping(name, query, projection, chain)?;
    let (shape, grouping) = (parts.shape, parts.grouping);
    let window_type = match (window, session) {
        (_, Some(session)) => {
            chain.push(
                Box::new(SessionAggregate::new(grouping, session, shape, emit)),
                None,
            );
            Some(WindowType::Session)
        }
        (window, None) => {
            let window_type = window.as_ref().map(|w| WindowType::of(&w.kind));
            chain.push(
                Box::new(WindowAggregate::new(grouping, window, shape, emit)),
                None,
            );
            window_type
        }
    };
    Ok((parts.key_flags, window_type))
}

/// What GROUP BY and the aggregates plan into, for streams and tables alike.
struct AggregateParts {
    grouping: Grouping,
    shape: RowShape,
    /// Which projection items are key columns (the GROUP BY expressions).
    key_flags: Vec<bool>,
}

/// ksqlDB's refusal of WINDOWSTART and WINDOWEND in a windowed aggregation anywhere but as
/// plain SELECT expressions: not in GROUP BY, HAVING or an aggregate's arguments
/// (window-bounds.json in its QTT).
fn window_bounds_only_in_select(query: &Query) -> Result<(), PlanError> {
    let mut found: Option<&'static str> = None;
    let mut look = |expr: &Expr, inside_aggregates_only: bool| {
        let mut check = |e: &Expr| {
            if let Expr::Function { name, args, .. } = e {
                if crate::expr::is_aggregate(name) {
                    for arg in args {
                        match_recognize::visit(arg, &mut |inner| bound(inner, &mut found));
                    }
                }
            }
            if !inside_aggregates_only {
                bound(e, &mut found);
            }
        };
        match_recognize::visit(expr, &mut check);
    };
    for expr in &query.group_by {
        look(expr, false);
    }
    if let Some(having) = &query.having {
        look(having, false);
    }
    for item in &query.projection {
        if let SelectItem::Expr { expr, .. } = item {
            look(expr, true);
        }
    }
    match found {
        Some(column) => invalid(format!(
            "Window bounds column {column} can only be used in the SELECT clause of windowed aggregations"
        )),
        None => Ok(()),
    }
}

/// Notes the window bound `expr` names, WINDOWSTART before WINDOWEND as ksqlDB reports them.
fn bound(expr: &Expr, found: &mut Option<&'static str>) {
    if let Expr::Column(name) = expr {
        let named = match name.as_str() {
            "WINDOWSTART" => "WINDOWSTART",
            "WINDOWEND" => "WINDOWEND",
            _ => return,
        };
        if *found != Some("WINDOWSTART") {
            *found = Some(named);
        }
    }
}

/// Plans GROUP BY, the aggregates, HAVING and the output columns over the chain's rows. The
/// key columns come in GROUP BY order, as ksqlDB orders them.
fn plan_grouping(
    name: &str,
    query: &Query,
    projection: &[(Expr, Option<String>)],
    chain: &mut Chain<'_>,
) -> Result<AggregateParts, PlanError> {
    let input = chain.schema.clone();
    let schema = &input;
    if query.window.is_some() {
        window_bounds_only_in_select(query)?;
    }
    let mut group_by = Vec::new();
    for expr in &query.group_by {
        if has_aggregate(expr) {
            return invalid("GROUP BY cannot hold an aggregate");
        }
        group_by.push(chain.compile(expr, &mut Plain)?);
    }
    // ksqlDB's groupByKey: grouped by its message key, column for column, a stream's records
    // of one group are all in one partition already, so no repartition topic is needed. A
    // windowed source's key holds its window too, which the producer partitioned by.
    let source_keys: Vec<usize> = chain.source.schema.key_columns().map(|(i, _)| i).collect();
    chain.grouped_by_message_key = chain.source.kind == SourceKind::Stream
        && chain.source.window.is_none()
        && !source_keys.is_empty()
        && group_by.len() == source_keys.len()
        && group_by.iter().zip(&source_keys).all(|(g, key)| {
            matches!(g, Compiled::Column(i) if chain.origin.get(*i) == Some(&Some(*key)))
        });
    let mut resolver = Aggregation {
        settings: chain.settings,
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
    let mut key: Vec<(usize, Compiled)> = Vec::new();
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
        let rank = query.group_by.iter().position(|g| g == expr);
        key_flags.push(rank.is_some());
        match rank {
            Some(rank) => key.push((rank, compiled)),
            None => value.push(compiled),
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
    for argument in aggs.iter().filter_map(|(_, a)| a.as_ref()) {
        chain.mark(argument);
    }
    key.sort_by_key(|(rank, _)| *rank);
    let key = key.into_iter().map(|(_, compiled)| compiled).collect();
    Ok(AggregateParts {
        grouping: Grouping::new(group_by),
        shape: RowShape::new(aggs, having, key, value),
        key_flags,
    })
}

/// The stream or table a persistent query writes: its event time is the row time it is
/// given, and it keeps the watermark delay of the source it reads.
fn derived_source(
    name: &str,
    kind: SourceKind,
    schema: Schema,
    topic: String,
    formats: Formats,
    window: Option<WindowType>,
    source: &SourceDef,
) -> SourceDef {
    SourceDef {
        name: name.to_string(),
        kind,
        schema,
        topic,
        formats,
        timestamp: None,
        timestamp_format: None,
        window,
        window_size: None,
        watermark_delay: source.watermark_delay,
    }
}
