//! Planning a join (engine/docs/ksqldb-joins.md). The joined rows hold both sources'
//! columns side by side, named as ksqlDB names them (`ALIAS_COLUMN`); the query's column
//! references are rewritten to those names, the join operator goes first in the chain, and
//! the rest is planned as over one source.

use crate::catalog::{SourceDef, WindowType};
use crate::expr::{compile, Compiled, Plain};
use crate::format::Format;
use crate::ops::foreign_key::{foreign_key_join, ForeignKeyShape};
use crate::ops::join::{JoinWindowSpec, Span, StreamStreamJoin, StreamTableJoin, TableTableJoin};
use crate::ops::Operator;
use crate::settings::Settings;
use crate::sql::ast::{
    BinaryOp, Expr, Join, JoinKind, OrderItem, OverRef, OverSpec, Properties, Query, SelectItem,
    SourceKind, SqlType,
};
use crate::value::{Column, Schema};

use super::names::{has_aggregate, infer_type};
use super::{invalid, plan_rows, Chain, PlanError, QueryPlan, RekeyedInput};

/// One side of the join: its source and the alias its columns are known by.
struct Side<'a> {
    source: &'a SourceDef,
    alias: String,
    /// Where its columns start in the joined row.
    offset: usize,
}

impl Side<'_> {
    fn joined_name(&self, column: &str) -> String {
        format!("{}_{column}", self.alias)
    }

    /// `alias.*`: each column under its joined name, which is also its output name.
    fn push_all(&self, projection: &mut Vec<SelectItem>) {
        for column in &self.source.schema.columns {
            projection.push(SelectItem::Expr {
                expr: Expr::Column(self.joined_name(&column.name)),
                alias: None,
            });
        }
    }

    fn has(&self, column: &str) -> bool {
        self.source.schema.index_of(column).is_some()
    }
}

/// The sides' columns under their joined names, and what a reference in the query means.
struct Sides<'a> {
    sides: Vec<Side<'a>>,
    /// The synthetic key column's name (`ROWKEY`) when the join has one (FULL OUTER).
    synthetic: Option<String>,
}

impl Sides<'_> {
    /// The joined name of `qualifier.name`, or of a bare `name` that one side alone has.
    fn resolve(&self, qualifier: Option<&str>, name: &str) -> Result<Option<String>, PlanError> {
        match qualifier {
            Some(alias) => {
                let Some(side) = self.sides.iter().find(|s| s.alias == alias) else {
                    return invalid(format!("'{alias}' is not a source of this query"));
                };
                if !side.has(name) {
                    return invalid(format!("Column '{alias}.{name}' cannot be resolved."));
                }
                Ok(Some(side.joined_name(name)))
            }
            None if self.synthetic.as_deref() == Some(name) => Ok(Some(name.to_string())),
            None => {
                let owners: Vec<&Side<'_>> = self.sides.iter().filter(|s| s.has(name)).collect();
                match owners[..] {
                    [] => Ok(None),
                    [side] => Ok(Some(side.joined_name(name))),
                    _ => invalid(format!(
                        "Column '{name}' is ambiguous. Could be {}.",
                        owners
                            .iter()
                            .map(|s| format!("{}.{name}", s.alias))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    )),
                }
            }
        }
    }

    /// Which sides an expression (over the joined names) reads.
    fn sides_read(&self, expr: &Expr) -> Vec<usize> {
        let schema = self.schema();
        let mut read = Vec::new();
        walk_columns(expr, &mut |name| {
            let Some(place) = schema.index_of(name) else {
                return;
            };
            let side = self
                .sides
                .iter()
                .rposition(|s| s.offset <= place)
                .unwrap_or_default();
            if !read.contains(&side) {
                read.push(side);
            }
        });
        read
    }

    /// The joined row's columns: each side's, then the synthetic key, if any.
    fn schema(&self) -> Schema {
        let mut columns: Vec<Column> = self
            .sides
            .iter()
            .flat_map(|side| {
                side.source.schema.columns.iter().map(|c| Column {
                    name: side.joined_name(&c.name),
                    sql_type: c.sql_type.clone(),
                    key: false,
                })
            })
            .collect();
        if let Some(key) = &self.synthetic {
            let sql_type = self.sides[0]
                .source
                .schema
                .key_columns()
                .map(|(_, c)| c.sql_type.clone())
                .next()
                .unwrap_or(crate::sql::ast::SqlType::String);
            columns.push(Column {
                name: key.clone(),
                sql_type,
                key: false,
            });
        }
        Schema { columns }
    }

    /// An expression over joined names as ksqlDB prints it in messages (`O.CUSTOMER_ID`).
    fn shown(&self, expr: &Expr) -> String {
        let mut text = expr.to_string();
        for side in &self.sides {
            for column in &side.source.schema.columns {
                let joined = side.joined_name(&column.name);
                if text == joined {
                    return format!("{}.{}", side.alias, column.name);
                }
            }
        }
        // A compound expression: name each joined column ALIAS.COLUMN in its text.
        for side in &self.sides {
            for column in &side.source.schema.columns {
                text = replace_word(
                    &text,
                    &side.joined_name(&column.name),
                    &format!("{}.{}", side.alias, column.name),
                );
            }
        }
        text
    }

    /// Rewrites every column reference to its joined name.
    fn rewrite(&self, expr: &Expr) -> Result<Expr, PlanError> {
        let again = |e: &Expr| self.rewrite(e);
        let boxed = |e: &Expr| self.rewrite(e).map(Box::new);
        Ok(match expr {
            Expr::Column(name) => match self.resolve(None, name)? {
                Some(joined) => Expr::Column(joined),
                None => expr.clone(),
            },
            Expr::Qualified { qualifier, name } => match self.resolve(Some(qualifier), name)? {
                Some(joined) => Expr::Column(joined),
                None => expr.clone(),
            },
            Expr::Literal(_) => expr.clone(),
            Expr::Unary(op, e) => Expr::Unary(*op, boxed(e)?),
            Expr::Binary(op, a, b) => Expr::Binary(*op, boxed(a)?, boxed(b)?),
            Expr::Function { name, args, star } => Expr::Function {
                name: name.clone(),
                args: args.iter().map(again).collect::<Result<_, _>>()?,
                star: *star,
            },
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => Expr::Case {
                operand: operand.as_deref().map(boxed).transpose()?,
                whens: whens
                    .iter()
                    .map(|(w, t)| Ok((again(w)?, again(t)?)))
                    .collect::<Result<_, PlanError>>()?,
                otherwise: otherwise.as_deref().map(boxed).transpose()?,
            },
            Expr::Cast(e, t) => Expr::Cast(boxed(e)?, t.clone()),
            Expr::IsNull { expr, negated } => Expr::IsNull {
                expr: boxed(expr)?,
                negated: *negated,
            },
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => Expr::Between {
                expr: boxed(expr)?,
                low: boxed(low)?,
                high: boxed(high)?,
                negated: *negated,
            },
            Expr::InList {
                expr,
                list,
                negated,
            } => Expr::InList {
                expr: boxed(expr)?,
                list: list.iter().map(again).collect::<Result<_, _>>()?,
                negated: *negated,
            },
            Expr::Like {
                expr,
                pattern,
                negated,
                escape,
            } => Expr::Like {
                expr: boxed(expr)?,
                pattern: boxed(pattern)?,
                negated: *negated,
                escape: *escape,
            },
            Expr::Over { call, window } => Expr::Over {
                call: boxed(call)?,
                window: match window {
                    OverRef::Named(name) => OverRef::Named(name.clone()),
                    OverRef::Inline(spec) => OverRef::Inline(self.rewrite_over(spec)?),
                },
            },
            Expr::Subscript(..)
            | Expr::Field(..)
            | Expr::MakeArray(_)
            | Expr::MakeMap(_)
            | Expr::MakeStruct(_) => {
                let mut copy = expr.clone();
                for child in copy.collection_children_mut().unwrap_or_default() {
                    *child = self.rewrite(child)?;
                }
                copy
            }
        })
    }

    fn rewrite_over(&self, spec: &OverSpec) -> Result<OverSpec, PlanError> {
        Ok(OverSpec {
            partition_by: spec
                .partition_by
                .iter()
                .map(|e| self.rewrite(e))
                .collect::<Result<_, _>>()?,
            order_by: spec
                .order_by
                .iter()
                .map(|o| {
                    Ok(OrderItem {
                        expr: self.rewrite(&o.expr)?,
                        descending: o.descending,
                    })
                })
                .collect::<Result<_, PlanError>>()?,
            frame: spec.frame,
        })
    }

    /// The query over the joined rows: every reference rewritten, `SELECT *` spelled out
    /// with the joined names, and a bare column keeping its own name as its output name,
    /// as ksqlDB names it (a qualified one is named `ALIAS_COLUMN`).
    fn rewrite_query(&self, query: &Query) -> Result<Query, PlanError> {
        let mut projection = Vec::new();
        for item in &query.projection {
            match item {
                SelectItem::Wildcard => {
                    if let Some(key) = &self.synthetic {
                        projection.push(SelectItem::Expr {
                            expr: Expr::Column(key.clone()),
                            alias: None,
                        });
                    }
                    for side in &self.sides {
                        side.push_all(&mut projection);
                    }
                }
                SelectItem::SourceWildcard(alias) => {
                    let Some(side) = self.sides.iter().find(|s| &s.alias == alias) else {
                        return invalid(format!("{alias}.* names no source of the join"));
                    };
                    side.push_all(&mut projection);
                }
                SelectItem::Expr { expr, alias } => {
                    // ksqlDB names a column by its bare name unless more than one source
                    // has it; then by ALIAS_COLUMN.
                    let alias = match (alias, expr) {
                        (Some(alias), _) => Some(alias.clone()),
                        (None, Expr::Column(name)) => Some(name.clone()),
                        (None, Expr::Qualified { qualifier, name }) => {
                            let owners = self.sides.iter().filter(|s| s.has(name)).count();
                            Some(if owners > 1 {
                                format!("{qualifier}_{name}")
                            } else {
                                name.clone()
                            })
                        }
                        (None, _) => None,
                    };
                    projection.push(SelectItem::Expr {
                        expr: self.rewrite(expr)?,
                        alias,
                    });
                }
            }
        }
        let all = |exprs: &[Expr]| -> Result<Vec<Expr>, PlanError> {
            exprs.iter().map(|e| self.rewrite(e)).collect()
        };
        Ok(Query {
            projection,
            from: query.from.clone(),
            from_alias: None,
            joins: Vec::new(),
            match_recognize: query.match_recognize.clone(),
            over_windows: query
                .over_windows
                .iter()
                .map(|(name, spec)| Ok((name.clone(), self.rewrite_over(spec)?)))
                .collect::<Result<_, PlanError>>()?,
            filter: query.filter.as_ref().map(|f| self.rewrite(f)).transpose()?,
            window: query.window.clone(),
            group_by: all(&query.group_by)?,
            having: query.having.as_ref().map(|h| self.rewrite(h)).transpose()?,
            emit: query.emit,
            limit: query.limit,
        })
    }
}

/// `text` with each whole-word occurrence of `word` replaced.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + word.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(is_word) || after.is_some_and(is_word) {
            out.push_str(word);
        } else {
            out.push_str(with);
        }
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

/// Calls `visit` with each column an expression reads.
fn walk_columns(expr: &Expr, visit: &mut dyn FnMut(&str)) {
    match expr {
        Expr::Column(name) => visit(name),
        Expr::Qualified { .. } | Expr::Literal(_) => {}
        Expr::Unary(_, e) | Expr::Cast(e, _) => walk_columns(e, visit),
        Expr::IsNull { expr, .. } => walk_columns(expr, visit),
        Expr::Binary(_, a, b) => {
            walk_columns(a, visit);
            walk_columns(b, visit);
        }
        Expr::Function { args, .. } => args.iter().for_each(|a| walk_columns(a, visit)),
        Expr::Case {
            operand,
            whens,
            otherwise,
        } => {
            if let Some(e) = operand {
                walk_columns(e, visit);
            }
            for (w, t) in whens {
                walk_columns(w, visit);
                walk_columns(t, visit);
            }
            if let Some(e) = otherwise {
                walk_columns(e, visit);
            }
        }
        Expr::Between {
            expr, low, high, ..
        } => {
            walk_columns(expr, visit);
            walk_columns(low, visit);
            walk_columns(high, visit);
        }
        Expr::InList { expr, list, .. } => {
            walk_columns(expr, visit);
            list.iter().for_each(|e| walk_columns(e, visit));
        }
        Expr::Like { expr, pattern, .. } => {
            walk_columns(expr, visit);
            walk_columns(pattern, visit);
        }
        Expr::Over { call, .. } => walk_columns(call, visit),
        other => other
            .collection_children()
            .unwrap_or_default()
            .into_iter()
            .for_each(|e| walk_columns(e, visit)),
    }
}

/// The two sides of `ON a = b` (rewritten to joined names), the left source's first.
fn equi_join(join: &Join, sides: &Sides<'_>) -> Result<(Expr, Expr), PlanError> {
    let on = sides.rewrite(&join.on)?;
    let shown_on = sides.shown(&on);
    match &on {
        Expr::Binary(BinaryOp::And, _, _) => invalid(format!(
            "Invalid join condition: joins on multiple conditions are not yet supported. Got {shown_on}."
        )),
        Expr::Binary(BinaryOp::Eq, a, b) => {
            match (&sides.sides_read(a)[..], &sides.sides_read(b)[..]) {
                ([0], [1]) => Ok(((**a).clone(), (**b).clone())),
                ([1], [0]) => Ok(((**b).clone(), (**a).clone())),
                (read_a, _) => {
                    let odd = if read_a.len() == 1 { b } else { a };
                    invalid(format!(
                        "Invalid comparison expression '{}' in join '{shown_on}'. Each side of the join comparision must contain references from exactly one source.",
                        sides.shown(odd)
                    ))
                }
            }
        }
        _ => invalid(format!(
            "Unsupported join expression: {shown_on}. A join takes ON a = b, each side reading one source."
        )),
    }
}

/// ksqlDB's JoinType names in messages.
/// ksqlDB's Analyzer.throwOnIncompatibleSourceWindowing: a windowed source joins only a
/// windowed one, a session-windowed one only another. The engine's join state is keyed
/// without the window, so a join of two windowed sources, which ksqlDB runs window by
/// window, is refused rather than joined across windows.
fn check_windowing(left: &Side<'_>, right: &Side<'_>) -> Result<(), PlanError> {
    let (left_window, right_window) = (left.source.window, right.source.window);
    let described = |window: Option<WindowType>| window.map_or("not", WindowType::name);
    match (left_window, right_window) {
        (None, None) => Ok(()),
        (Some(_), None) | (None, Some(_)) => invalid(format!(
            "Can not join windowed source to non-windowed source.\n{} is {} windowed\n{} is {} windowed",
            left.alias,
            described(left_window),
            right.alias,
            described(right_window)
        )),
        (Some(l), Some(r)) => {
            let compatible = if l == WindowType::Session {
                r == WindowType::Session
            } else {
                r != WindowType::Session
            };
            if !compatible {
                return invalid(format!(
                    "Incompatible windowed sources.\nLeft source: {}\nRight source: {}\nSession windowed sources can only be joined to other session windowed sources, and may still not result in expected behaviour as session bounds must be an exact match for the join to work\nHopping and tumbling windowed sources can only be joined to other hopping and tumbling windowed sources",
                    l.name(),
                    r.name()
                ));
            }
            invalid(format!(
                "Joins of windowed sources are not supported yet: {} and {} are both {} windowed; join the sources they are computed from instead.",
                left.alias,
                right.alias,
                l.name()
            ))
        }
    }
}

fn join_words(kind: JoinKind) -> &'static str {
    match kind {
        JoinKind::Inner => "[INNER] JOIN",
        JoinKind::Left => "LEFT [OUTER] JOIN",
        JoinKind::Right => "RIGHT [OUTER] JOIN",
        JoinKind::Full => "[FULL] OUTER JOIN",
    }
}

/// Plans `CREATE {kind} {name} AS SELECT ... FROM left JOIN right ON ...` over the sources
/// FROM and the JOIN name, in that order.
pub fn plan_join(
    kind: SourceKind,
    name: &str,
    properties: &Properties,
    query: &Query,
    sources: &[&SourceDef],
    settings: &Settings,
) -> Result<QueryPlan, PlanError> {
    if sources.len() > 2 {
        return plan_multi_join(kind, name, properties, query, sources, settings);
    }
    let (&[left, right], [join]) = (sources, &query.joins[..]) else {
        return invalid("a join reads one source per JOIN after FROM");
    };
    if left.name == right.name {
        return invalid(format!(
            "Can not join '{}' to '{}': self joins are not yet supported.",
            left.name, right.name
        ));
    }
    let kafka_valued: Vec<&str> = [left, right]
        .iter()
        .filter(|s| s.formats.value == Format::Kafka)
        .map(|s| s.name.as_str())
        .collect();
    if !kafka_valued.is_empty() {
        return invalid(format!(
            "Source(s) {} are using the 'KAFKA' value format. This format does not yet support JOIN.",
            kafka_valued.join(", ")
        ));
    }
    let mut sides = Sides {
        synthetic: None,
        sides: vec![
            Side {
                source: left,
                alias: query
                    .from_alias
                    .clone()
                    .unwrap_or_else(|| left.name.clone()),
                offset: 0,
            },
            Side {
                source: right,
                alias: join.alias.clone().unwrap_or_else(|| right.name.clone()),
                offset: left.schema.columns.len(),
            },
        ],
    };
    check_windowing(&sides.sides[0], &sides.sides[1])?;
    let (left_key, right_key) = equi_join(join, &sides)?;
    // A FULL OUTER join, or one on two expressions, has no source column that always holds
    // the key: ksqlDB adds ROWKEY (ROWKEY_n when a source has such a column).
    let plain = |e: &Expr| matches!(e, Expr::Column(_));
    let stream_table = left.kind == SourceKind::Stream && right.kind == SourceKind::Table;
    if !stream_table && (join.kind == JoinKind::Full || !(plain(&left_key) || plain(&right_key))) {
        sides.synthetic = Some(synthetic_key_name(&[left, right]));
    }
    let mut schema = sides.schema();
    let (left_type, right_type) = (
        infer_type(&left_key, &schema),
        infer_type(&right_key, &schema),
    );
    if left_type != right_type {
        return invalid(format!(
            "Invalid join condition: types don't match. Got {}{{{left_type}}} = {}{{{right_type}}}.",
            sides.shown(&left_key),
            sides.shown(&right_key)
        ));
    }
    // Joined on both sides' message keys in one key format, each side's records of a key
    // are in the same partition of its topic (the sides are co-partitioned), so the join
    // needs no repartition topic: ksqlDB reads such sides in place.
    let keyed: Vec<bool> = sides
        .sides
        .iter()
        .zip([&left_key, &right_key])
        .map(|(side, key)| joins_on_its_message_key(side, key, &schema))
        .collect();
    let on_message_keys = left.formats.key == right.formats.key && keyed.iter().all(|k| *k);
    let rekeyed: Vec<RekeyedInput> = match keyed[..] {
        [true, false] => rekeyed_to_the_other(&sides, 1, &right_key, &schema)?
            .into_iter()
            .collect(),
        [false, true] => rekeyed_to_the_other(&sides, 0, &left_key, &schema)?
            .into_iter()
            .collect(),
        [false, false] => {
            let both = [(0, &left_key), (1, &right_key)]
                .into_iter()
                .map(|(input, key)| rekeyed(&sides, input, key, &schema, Format::Json, &left_type))
                .collect::<Result<Option<Vec<_>>, _>>()?;
            both.unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let replannable = |planned: QueryPlan| {
        let mut planned = replannable(
            planned,
            on_message_keys || !rekeyed.is_empty(),
            (kind, name, properties, query),
            sources,
            settings,
        );
        planned.rekeyed = rekeyed.clone();
        planned
    };
    let words = join_words(join.kind);
    let rewritten = sides.rewrite_query(query)?;
    let table = &sides.sides[1];
    let (op, key_column): (Box<dyn Operator>, Option<usize>) = match (left.kind, right.kind) {
        (SourceKind::Stream, SourceKind::Table) => {
            match join.kind {
                JoinKind::Inner | JoinKind::Left => {}
                JoinKind::Right => {
                    return invalid(format!("Invalid join type encountered: {words}"))
                }
                JoinKind::Full => {
                    return invalid(format!(
                        "Invalid join type: full-outer join not supported for stream-table join. Got {} {words} {}.",
                        left.name, right.name
                    ))
                }
            }
            if join.within.is_some() {
                return invalid(
                    "A window definition was provided for a Stream-Table join. These joins are not windowed. Please drop the window definition (ie. the WITHIN clause) and try to execute your join again.",
                );
            }
            let primary_key: Vec<String> = right
                .schema
                .key_columns()
                .map(|(_, c)| table.joined_name(&c.name))
                .collect();
            let [pk_name] = &primary_key[..] else {
                return invalid(format!(
                    "{} has {} PRIMARY KEY columns; a stream-table join needs one",
                    right.name,
                    primary_key.len()
                ));
            };
            if right_key != Expr::Column(pk_name.clone()) {
                return invalid(format!(
                    "Invalid join condition: stream-table joins require to join on the table's primary key. Got {} = {}.",
                    sides.shown(&left_key),
                    sides.shown(&right_key)
                ));
            }
            let pk_place = schema
                .index_of(pk_name)
                .ok_or_else(|| PlanError::Invalid(format!("no column {pk_name}")))?;
            let key_column =
                output_key(name, &rewritten, &schema, &sides, &[&left_key, &right_key])?;
            let stream_key = compile(&left_key, &schema, &mut Plain)?;
            let table_columns = table.offset..table.offset + right.schema.columns.len();
            let join_op = StreamTableJoin::new(
                join.kind,
                1,
                stream_key,
                pk_place,
                table_columns,
                // A LEFT join keyed on the table's column still carries the join key where
                // the table has no row.
                key_column,
                schema.columns.len(),
            );
            (Box::new(join_op), key_column)
        }
        (SourceKind::Table, SourceKind::Stream) => {
            return invalid(format!(
                "Invalid join order: table-stream joins are not supported; only stream-table joins. Got {} {words} {}.",
                left.name, right.name
            ));
        }
        (SourceKind::Stream, SourceKind::Stream) => {
            let Some(within) = join.within else {
                return invalid(
                    "Stream-Stream joins must have a WITHIN clause specified. None was provided. To learn about how to specify a WITHIN clause with a stream-stream join, please visit: https://docs.confluent.io/current/ksql/docs/syntax-reference.html#create-stream-as-select",
                );
            };
            let key_column = match &sides.synthetic {
                Some(synthetic) => {
                    synthetic_selected(name, &rewritten, synthetic)?;
                    Some(schema.columns.len() - 1)
                }
                None => output_key(name, &rewritten, &schema, &sides, &[&left_key, &right_key])?,
            };
            let width = schema.columns.len();
            // Without a key column (an aggregation over the join) the key still goes
            // somewhere: the left side's join column, or the synthetic one.
            let key_place = key_column
                .or_else(|| match &left_key {
                    Expr::Column(c) => schema.index_of(c),
                    _ => None,
                })
                .unwrap_or(width - 1);
            let right_offset = table.offset;
            let join_op = StreamStreamJoin::new(
                join.kind,
                JoinWindowSpec {
                    before: within.before,
                    after: within.after,
                    grace: within.grace,
                },
                1,
                [
                    compile(&left_key, &schema, &mut Plain)?,
                    compile(&right_key, &schema, &mut Plain)?,
                ],
                [
                    (0..right_offset).into(),
                    (right_offset..right_offset + right.schema.columns.len()).into(),
                ],
                key_place,
                width,
            );
            (Box::new(join_op), key_column)
        }
        (SourceKind::Table, SourceKind::Table) => {
            return plan_table_table(
                kind, name, properties, &rewritten, join, &sides, &left_key, &right_key, settings,
            )
            .map(replannable);
        }
    };
    if let Some(place) = key_column {
        schema.columns[place].key = true;
    }
    let joined = joined_source(left, SourceKind::Stream, schema);
    let mut chain = Chain::new(&joined, settings);
    // Both join keys are read, whatever the projection reads.
    chain.mark(&compile(&left_key, &joined.schema, &mut Plain)?);
    chain.mark(&compile(&right_key, &joined.schema, &mut Plain)?);
    chain.push(op, None);
    // The source's key-column rules do not hold for joined rows; the join's are checked
    // above.
    chain.at_source = false;
    plan_rows(kind, name, properties, &rewritten, chain).map(replannable)
}

/// A two-way join's plan, with the means to plan its operators again (a set per input
/// partition) when it joins on both sides' message keys or re-keys one side to the other's.
fn replannable(
    mut planned: QueryPlan,
    on_message_keys: bool,
    (kind, name, properties, query): (SourceKind, &str, &Properties, &Query),
    sources: &[&SourceDef],
    settings: &Settings,
) -> QueryPlan {
    // The aggregation of a join reads the joined rows, not a message key.
    planned.grouped_by_message_key = false;
    if on_message_keys {
        let (name, properties, query) = (name.to_string(), properties.clone(), query.clone());
        let sources: Vec<SourceDef> = sources.iter().map(|s| (*s).clone()).collect();
        let settings = settings.clone();
        planned.fresh_ops = Some(std::sync::Arc::new(move || {
            let sources: Vec<&SourceDef> = sources.iter().collect();
            plan_join(kind, &name, &properties, &query, &sources, &settings).map(|p| p.ops)
        }));
    }
    planned
}

/// How side `input` of a two-way join is re-keyed when the other side is keyed by the join
/// key: toward the other side's key format, when its bytes for a value are the same
/// whoever writes them (an AVRO key's bytes hold its writer's schema id).
fn rekeyed_to_the_other(
    sides: &Sides<'_>,
    input: usize,
    key: &Expr,
    schema: &Schema,
) -> Result<Option<RekeyedInput>, PlanError> {
    let other = &sides.sides[1 - input];
    let deterministic = matches!(
        other.source.formats.key,
        Format::Kafka | Format::Json | Format::Delimited(_)
    );
    let other_key: Vec<&Column> = other.source.schema.key_columns().map(|(_, c)| c).collect();
    let (true, [other_key]) = (deterministic, &other_key[..]) else {
        return Ok(None);
    };
    rekeyed(
        sides,
        input,
        key,
        schema,
        other.source.formats.key,
        &other_key.sql_type,
    )
}

/// Side `input` re-keyed by `key`, written in `format` as `key_type` to choose its
/// partition: only a stream is (ksqlDB repartitions no table), and not a windowed one.
fn rekeyed(
    sides: &Sides<'_>,
    input: usize,
    key: &Expr,
    schema: &Schema,
    format: Format,
    key_type: &SqlType,
) -> Result<Option<RekeyedInput>, PlanError> {
    let side = &sides.sides[input];
    if side.source.kind != SourceKind::Stream || side.source.window.is_some() {
        return Ok(None);
    }
    Ok(Some(RekeyedInput {
        input,
        key: compile(key, schema, &mut Plain)?,
        format,
        key_type: key_type.clone(),
    }))
}

/// True when a join side's key expression is its source's one key column, of a source
/// whose key holds no window.
fn joins_on_its_message_key(side: &Side<'_>, key: &Expr, schema: &Schema) -> bool {
    let keys: Vec<usize> = side
        .source
        .schema
        .key_columns()
        .map(|(i, _)| i + side.offset)
        .collect();
    side.source.window.is_none()
        && matches!(
            (compile(key, schema, &mut Plain), &keys[..]),
            (Ok(Compiled::Column(i)), [only]) if i == *only
        )
}

/// One step of a multi-way join: the tree so far joined with one more source.
struct Step<'j> {
    join: &'j Join,
    /// The condition's expressions over the tree so far and over the new source.
    left: Expr,
    right: Expr,
}

/// Plans `a JOIN b ON ... JOIN c ON ...` (engine/docs/ksqldb-joins.md section 7): a left-deep
/// tree in written order, each step a two-source join of the rows so far with the next
/// source, under that pair's rules. A step writes its join key to a column of its own,
/// which the next step reads when its condition names a column equivalent to that key.
fn plan_multi_join(
    kind: SourceKind,
    name: &str,
    properties: &Properties,
    query: &Query,
    sources: &[&SourceDef],
    settings: &Settings,
) -> Result<QueryPlan, PlanError> {
    if sources.len() != query.joins.len() + 1 {
        return invalid("a join reads one source per JOIN after FROM");
    }
    for (at, source) in sources.iter().enumerate() {
        if sources[..at].iter().any(|s| s.name == source.name) {
            return invalid(format!(
                "N-way joins do not support multiple occurrences of the same source. Source: '{}'",
                source.name
            ));
        }
    }
    let kafka_valued: Vec<&str> = sources
        .iter()
        .filter(|s| s.formats.value == Format::Kafka)
        .map(|s| s.name.as_str())
        .collect();
    if !kafka_valued.is_empty() {
        return invalid(format!(
            "Source(s) {} are using the 'KAFKA' value format. This format does not yet support JOIN.",
            kafka_valued.join(", ")
        ));
    }
    let mut offset = 0;
    let mut side_list = Vec::new();
    for (at, source) in sources.iter().enumerate() {
        let alias = if at == 0 {
            query.from_alias.clone()
        } else {
            query.joins[at - 1].alias.clone()
        };
        side_list.push(Side {
            source,
            alias: alias.unwrap_or_else(|| source.name.clone()),
            offset,
        });
        offset += source.schema.columns.len();
    }
    for side in &side_list[1..] {
        check_windowing(&side_list[0], side)?;
    }
    let mut sides = Sides {
        sides: side_list,
        synthetic: None,
    };
    // Each condition names the new source and one already joined (JoinTree.build flips a
    // condition written the other way round).
    let mut steps = Vec::new();
    for (at, join) in query.joins.iter().enumerate() {
        let new = at + 1;
        let on = sides.rewrite(&join.on)?;
        let shown_on = sides.shown(&on);
        let (a, b) = match &on {
            Expr::Binary(BinaryOp::And, _, _) => {
                return invalid(format!(
                    "Invalid join condition: joins on multiple conditions are not yet supported. Got {shown_on}."
                ))
            }
            Expr::Binary(BinaryOp::Eq, a, b) => (a, b),
            _ => {
                return invalid(format!(
                    "Unsupported join expression: {shown_on}. A join takes ON a = b, each side reading one source."
                ))
            }
        };
        let (left, right) = match (&sides.sides_read(a)[..], &sides.sides_read(b)[..]) {
            (&[l], &[r]) if r == new && l < new => ((**a).clone(), (**b).clone()),
            (&[l], &[r]) if l == new && r < new => ((**b).clone(), (**a).clone()),
            (&[l], &[r]) if l != new && r != new => {
                return invalid(format!(
                    "A join criteria is expected to reference the source (`{}`) in the FROM clause, instead the right source references `{}` and the left source references `{}`",
                    sides.sides[new].alias, sides.sides[r].alias, sides.sides[l].alias
                ))
            }
            (read_a, _) => {
                let odd = if read_a.len() == 1 { b } else { a };
                return invalid(format!(
                    "Invalid comparison expression '{}' in join '{shown_on}'. Each side of the join comparision must contain references from exactly one source.",
                    sides.shown(odd)
                ));
            }
        };
        steps.push(Step { join, left, right });
    }
    // The key columns of the whole (JoinTree's joinEquivalenceSet and viableKeyColumns).
    let mut equivalent: Vec<Expr> = Vec::new();
    let mut viable: Vec<Expr> = Vec::new();
    let mut equivalences = Vec::new();
    for step in &steps {
        if step.join.kind == JoinKind::Full {
            equivalent.clear();
            viable.clear();
        } else {
            let keys = [step.left.clone(), step.right.clone()];
            if !keys.iter().any(|k| equivalent.contains(k)) {
                equivalent.clear();
            }
            equivalent.extend(keys);
            let mut next: Vec<Expr> = Vec::new();
            for e in viable.iter().chain([&step.left, &step.right]) {
                if matches!(e, Expr::Column(_)) && !next.contains(e) && equivalent.contains(e) {
                    next.push(e.clone());
                }
            }
            viable = next;
        }
        equivalences.push(equivalent.clone());
    }
    let all_tables = sources.iter().all(|s| s.kind == SourceKind::Table);
    let last_stream_table = sources[..sources.len() - 1]
        .iter()
        .any(|s| s.kind == SourceKind::Stream)
        && sources[sources.len() - 1].kind == SourceKind::Table;
    if viable.is_empty() && !last_stream_table {
        sides.synthetic = Some(synthetic_key_name(sources));
    }
    let mut schema = sides.schema();
    for step in &steps {
        let (left_type, right_type) = (
            infer_type(&step.left, &schema),
            infer_type(&step.right, &schema),
        );
        if left_type != right_type {
            return invalid(format!(
                "Invalid join condition: types don't match. Got {}{{{left_type}}} = {}{{{right_type}}}.",
                sides.shown(&step.left),
                sides.shown(&step.right)
            ));
        }
    }
    // Each step's key column, after the sources' (and the synthetic key).
    let hidden_start = schema.columns.len();
    for (at, step) in steps.iter().enumerate() {
        schema.columns.push(Column {
            name: format!("$JOIN_KEY_{at}"),
            sql_type: infer_type(&step.left, &schema),
            key: false,
        });
    }
    let width = schema.columns.len();
    let rewritten = sides.rewrite_query(query)?;
    let viable_refs: Vec<&Expr> = viable.iter().collect();
    // The output key is checked once the last step's own rules have passed, as ksqlDB
    // refuses a step before it looks at the projection.
    let mut key_column = None;
    let output_key_column = |schema: &Schema| -> Result<Option<usize>, PlanError> {
        match &sides.synthetic {
            Some(synthetic) => {
                synthetic_selected(name, &rewritten, synthetic)?;
                Ok(schema.index_of(synthetic))
            }
            None => output_key(name, &rewritten, schema, &sides, &viable_refs),
        }
    };
    let place = |schema: &Schema, column: &str| {
        schema
            .index_of(column)
            .ok_or_else(|| PlanError::Invalid(format!("no column {column}")))
    };
    let mut ops: Vec<Box<dyn Operator>> = Vec::new();
    let mut marks = Vec::new();
    let last = steps.len() - 1;
    for (at, step) in steps.iter().enumerate() {
        let new = at + 1;
        let right = sources[new];
        let right_side = &sides.sides[new];
        let left_is_table = sources[..new].iter().all(|s| s.kind == SourceKind::Table);
        let left_name = sides
            .sides_read(&step.left)
            .first()
            .map_or_else(|| sources[0].name.clone(), |&s| sources[s].name.clone());
        let words = join_words(step.join.kind);
        // The rows so far carry the previous step's key: a condition on a column equal to
        // it reads that key (a left join's own column may be null where the key is not).
        let on_previous_key = at > 0 && equivalences[at - 1].contains(&step.left);
        let left_key = if on_previous_key {
            Compiled::Column(hidden_start + at - 1)
        } else {
            compile(&step.left, &schema, &mut Plain)?
        };
        marks.push(compile(&step.left, &schema, &mut Plain)?);
        marks.push(compile(&step.right, &schema, &mut Plain)?);
        let right_columns = right_side.offset..right_side.offset + right.schema.columns.len();
        // The rows decoded from an input are only as wide as the inputs: no empty range
        // past their end.
        let left_span = if at > 0 {
            Span(vec![0..right_side.offset, hidden_start..hidden_start + at])
        } else {
            Span::from(0..right_side.offset)
        };
        let right_pk: Vec<String> = right
            .schema
            .key_columns()
            .map(|(_, c)| right_side.joined_name(&c.name))
            .collect();
        let right_on_pk = matches!(&right_pk[..], [pk] if step.right == Expr::Column(pk.clone()));
        match (left_is_table, right.kind) {
            (false, SourceKind::Table) => {
                match step.join.kind {
                    JoinKind::Inner | JoinKind::Left => {}
                    JoinKind::Right => {
                        return invalid(format!("Invalid join type encountered: {words}"))
                    }
                    JoinKind::Full => {
                        return invalid(format!(
                            "Invalid join type: full-outer join not supported for stream-table join. Got {left_name} {words} {}.",
                            right.name
                        ))
                    }
                }
                if step.join.within.is_some() {
                    return invalid(
                        "A window definition was provided for a Stream-Table join. These joins are not windowed. Please drop the window definition (ie. the WITHIN clause) and try to execute your join again.",
                    );
                }
                if !right_on_pk {
                    return invalid(format!(
                        "Invalid join condition: stream-table joins require to join on the table's primary key. Got {} = {}.",
                        sides.shown(&step.left),
                        sides.shown(&step.right)
                    ));
                }
                let key_place = if at == last {
                    key_column = output_key_column(&schema)?;
                    key_column.unwrap_or(hidden_start + at)
                } else {
                    hidden_start + at
                };
                let pk_place = place(&schema, &right_pk[0])?;
                ops.push(Box::new(StreamTableJoin::new(
                    step.join.kind,
                    new,
                    left_key,
                    pk_place,
                    right_columns,
                    Some(key_place),
                    width,
                )));
            }
            (true, SourceKind::Stream) => {
                return invalid(format!(
                    "Invalid join order: table-stream joins are not supported; only stream-table joins. Got {left_name} {words} {}.",
                    right.name
                ));
            }
            (false, SourceKind::Stream) => {
                let Some(within) = step.join.within else {
                    return invalid(
                        "Stream-Stream joins must have a WITHIN clause specified. None was provided. To learn about how to specify a WITHIN clause with a stream-stream join, please visit: https://docs.confluent.io/current/ksql/docs/syntax-reference.html#create-stream-as-select",
                    );
                };
                let key_place = if at == last {
                    key_column = output_key_column(&schema)?;
                    key_column.unwrap_or(hidden_start + at)
                } else {
                    hidden_start + at
                };
                ops.push(Box::new(StreamStreamJoin::new(
                    step.join.kind,
                    JoinWindowSpec {
                        before: within.before,
                        after: within.after,
                        grace: within.grace,
                    },
                    new,
                    [left_key, compile(&step.right, &schema, &mut Plain)?],
                    [left_span, right_columns.into()],
                    key_place,
                    width,
                )));
            }
            (true, SourceKind::Table) => {
                if step.join.within.is_some() {
                    return invalid(
                        "A window definition was provided for a Table-Table join. These joins are not windowed. Please drop the window definition (i.e. the WITHIN clause) and try to execute your Table-Table join again.",
                    );
                }
                if !right_on_pk {
                    return invalid(format!(
                        "Invalid join condition: table-table joins require to join on the primary key of the right input table. Got {} = {}.",
                        sides.shown(&step.left),
                        sides.shown(&step.right)
                    ));
                }
                let left_place = if on_previous_key {
                    Some(hidden_start + at - 1)
                } else if at == 0 {
                    let left_pk: Vec<String> = sides.sides[0]
                        .source
                        .schema
                        .key_columns()
                        .map(|(_, c)| sides.sides[0].joined_name(&c.name))
                        .collect();
                    match &left_pk[..] {
                        [pk] if step.left == Expr::Column(pk.clone()) => Some(place(&schema, pk)?),
                        _ => None,
                    }
                } else {
                    None
                };
                let Some(left_place) = left_place else {
                    return invalid(format!(
                        "Invalid join condition: foreign-key table-table joins are not supported as part of n-way joins. Got {} = {}.",
                        sides.shown(&step.left),
                        sides.shown(&step.right)
                    ));
                };
                let key_place = if at == last {
                    key_column = output_key_column(&schema)?;
                    key_column.unwrap_or(hidden_start + at)
                } else {
                    hidden_start + at
                };
                ops.push(Box::new(TableTableJoin::new(
                    step.join.kind,
                    new,
                    [left_place, place(&schema, &right_pk[0])?],
                    [left_span, right_columns.into()],
                    key_place,
                    width,
                )));
            }
        }
    }
    if let Some(at) = key_column {
        schema.columns[at].key = true;
    }
    let joined = joined_source(
        sources[0],
        if all_tables {
            SourceKind::Table
        } else {
            SourceKind::Stream
        },
        schema,
    );
    if all_tables {
        let aggregating = !rewritten.group_by.is_empty()
            || rewritten
                .projection
                .iter()
                .any(|item| matches!(item, SelectItem::Expr { expr, .. } if has_aggregate(expr)));
        if aggregating {
            return invalid(
                "aggregations over a table-table join are not supported by advisor-engine yet",
            );
        }
        let mut planned =
            super::plan_from_table(kind, name, properties, &rewritten, &joined, settings)?;
        for compiled in &marks {
            compiled.mark_columns(&mut planned.reads);
        }
        for (at, op) in ops.into_iter().enumerate() {
            planned.ops.insert(at, op);
        }
        return Ok(planned);
    }
    let mut chain = Chain::new(&joined, settings);
    for compiled in &marks {
        chain.mark(compiled);
    }
    for op in ops {
        chain.push(op, None);
    }
    chain.at_source = false;
    plan_rows(kind, name, properties, &rewritten, chain)
}

/// A synthetic key must be selected (ksqlDB's validateKeyPresent).
fn synthetic_selected(name: &str, query: &Query, synthetic: &str) -> Result<(), PlanError> {
    let selected = query.projection.iter().any(
        |item| matches!(item, SelectItem::Expr { expr: Expr::Column(n), .. } if n == synthetic),
    );
    if selected {
        return Ok(());
    }
    invalid(format!(
        "Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS. The query used to build `{name}` must include the join expression {synthetic} in its projection (eg, SELECT {synthetic}...). {synthetic} was added as a synthetic key column because the join criteria did not match any source column. This expression must be included in the projection and may be aliased."
    ))
}

/// ROWKEY, or ROWKEY_n one above the highest such column of the sources (ColumnNames).
fn synthetic_key_name(sources: &[&SourceDef]) -> String {
    let taken: Vec<u32> = sources
        .iter()
        .flat_map(|s| &s.schema.columns)
        .filter_map(|c| match c.name.as_str() {
            "ROWKEY" => Some(0),
            other => other.strip_prefix("ROWKEY_").and_then(|n| n.parse().ok()),
        })
        .collect();
    match taken.iter().max() {
        None => "ROWKEY".to_string(),
        Some(highest) => format!("ROWKEY_{}", highest + 1),
    }
}

/// Two tables joined on their primary keys; the result is a table.
#[allow(clippy::too_many_arguments)]
fn plan_table_table(
    kind: SourceKind,
    name: &str,
    properties: &Properties,
    query: &Query,
    join: &Join,
    sides: &Sides<'_>,
    left_key: &Expr,
    right_key: &Expr,
    settings: &Settings,
) -> Result<QueryPlan, PlanError> {
    let (left, right) = (sides.sides[0].source, sides.sides[1].source);
    if join.within.is_some() {
        return invalid(
            "A window definition was provided for a Table-Table join. These joins are not windowed. Please drop the window definition (i.e. the WITHIN clause) and try to execute your Table-Table join again.",
        );
    }
    if kind == SourceKind::Stream {
        return invalid(
            "Invalid result type. Your SELECT query produces a TABLE. Please use CREATE TABLE AS SELECT statement instead.",
        );
    }
    let primary_key = |side: &Side<'_>| -> Vec<String> {
        side.source
            .schema
            .key_columns()
            .map(|(_, c)| side.joined_name(&c.name))
            .collect()
    };
    let (left_pks, right_pks) = (primary_key(&sides.sides[0]), primary_key(&sides.sides[1]));
    // The right side is joined on its whole primary key, whichever join this is.
    let right_pk = match &right_pks[..] {
        [one] if *right_key == Expr::Column(one.clone()) => one.clone(),
        _ => {
            return invalid(format!(
                "Invalid join condition: table-table joins require to join on the primary key of the right input table. Got {} = {}.",
                sides.shown(left_key),
                sides.shown(right_key)
            ))
        }
    };
    let left_pk = match &left_pks[..] {
        [one] if *left_key == Expr::Column(one.clone()) => one.clone(),
        _ => {
            return plan_foreign_key(
                name, properties, query, join, sides, left_key, &right_pk, &left_pks, settings,
            )
        }
    };
    let aggregating = !query.group_by.is_empty()
        || query
            .projection
            .iter()
            .any(|item| matches!(item, SelectItem::Expr { expr, .. } if has_aggregate(expr)));
    if aggregating {
        return invalid(
            "aggregations over a table-table join are not supported by advisor-engine yet",
        );
    }
    let mut schema = sides.schema();
    let key_place = match &sides.synthetic {
        Some(synthetic) => {
            synthetic_selected(name, query, synthetic)?;
            schema.columns.len() - 1
        }
        None => output_key(name, query, &schema, sides, &[left_key, right_key])?
            .ok_or_else(|| PlanError::Invalid("a table-table join needs a key".into()))?,
    };
    schema.columns[key_place].key = true;
    let place = |column: &str| {
        schema
            .index_of(column)
            .ok_or_else(|| PlanError::Invalid(format!("no column {column}")))
    };
    let keys = [place(&left_pk)?, place(&right_pk)?];
    let right_offset = sides.sides[1].offset;
    let columns = [
        0..right_offset,
        right_offset..right_offset + right.schema.columns.len(),
    ];
    let op = TableTableJoin::new(
        join.kind,
        1,
        keys,
        columns.map(Span::from),
        key_place,
        schema.columns.len(),
    );
    let joined = joined_source(left, SourceKind::Table, schema);
    let mut planned = super::plan_from_table(kind, name, properties, query, &joined, settings)?;
    // Both keys are read, whatever the projection reads.
    for at in keys {
        if let Some(read) = planned.reads.get_mut(at) {
            *read = true;
        }
    }
    planned.ops.insert(0, Box::new(op));
    Ok(planned)
}

/// A foreign-key table-table join (`ON <left expression> = r.pk`, engine/docs/ksqldb-joins.md
/// section 6): keyed by the left table's primary key, which the projection must select
/// whole.
#[allow(clippy::too_many_arguments)]
fn plan_foreign_key(
    name: &str,
    properties: &Properties,
    query: &Query,
    join: &Join,
    sides: &Sides<'_>,
    left_key: &Expr,
    right_pk: &str,
    left_pks: &[String],
    settings: &Settings,
) -> Result<QueryPlan, PlanError> {
    let (left, right) = (sides.sides[0].source, sides.sides[1].source);
    match join.kind {
        JoinKind::Inner | JoinKind::Left => {}
        JoinKind::Right => return invalid("RIGHT OUTER JOIN on a foreign key is not supported"),
        JoinKind::Full => {
            return invalid(format!(
                "Invalid join type: full-outer join not supported for foreign-key table-table join. Got {} {} {}.",
                left.name,
                join_words(join.kind),
                right.name
            ))
        }
    }
    if left.window.is_some() || right.window.is_some() {
        return invalid("Foreign-key table-table joins are not supported on windowed tables.");
    }
    let aggregating = !query.group_by.is_empty()
        || query
            .projection
            .iter()
            .any(|item| matches!(item, SelectItem::Expr { expr, .. } if has_aggregate(expr)));
    if aggregating {
        return invalid(
            "aggregations over a table-table join are not supported by advisor-engine yet",
        );
    }
    let mut missing = Vec::new();
    for pk in left_pks {
        let names: Vec<String> = query
            .projection
            .iter()
            .filter_map(|item| match item {
                SelectItem::Expr {
                    expr: Expr::Column(n),
                    alias,
                } if n == pk => Some(alias.clone().unwrap_or_else(|| n.clone())),
                _ => None,
            })
            .collect();
        match names[..] {
            [] => missing.push(pk.clone()),
            [_] => {}
            _ => {
                return invalid(format!(
                    "The projection contains a key column (`{pk}`) more than once, aliased as: {}.",
                    names.join(" and ")
                ))
            }
        }
    }
    if !missing.is_empty() {
        let bare: Vec<String> = missing
            .iter()
            .map(|joined| {
                let column = sides.shown(&Expr::Column(joined.clone()));
                let bare = column.rsplit('.').next().unwrap_or(&column).to_string();
                format!("`{bare}`")
            })
            .collect();
        let (head, tail) = if bare.len() == 1 {
            ("Primary key column missing", "Missing column")
        } else {
            ("Primary key columns missing", "Missing columns")
        };
        return invalid(format!(
            "{head} in projection. For foreign-key table-table joins, the projection must include all primary key columns from the left input table (`{}`). {tail}: {}.",
            left.name,
            bare.join(", ")
        ));
    }
    let mut schema = sides.schema();
    let place = |column: &str| {
        schema
            .index_of(column)
            .ok_or_else(|| PlanError::Invalid(format!("no column {column}")))
    };
    let left_places = left_pks
        .iter()
        .map(|pk| place(pk))
        .collect::<Result<Vec<_>, _>>()?;
    let right_place = place(right_pk)?;
    for &at in &left_places {
        schema.columns[at].key = true;
    }
    let foreign_key = compile(left_key, &schema, &mut Plain)?;
    let right_offset = sides.sides[1].offset;
    let columns = [
        0..right_offset,
        right_offset..right_offset + right.schema.columns.len(),
    ];
    let mut reads = vec![false; schema.columns.len()];
    foreign_key.mark_columns(&mut reads);
    let ops = foreign_key_join(
        join.kind,
        foreign_key,
        ForeignKeyShape {
            left_key: left_places.clone(),
            right_key: right_place,
            columns,
            width: schema.columns.len(),
        },
    );
    let joined = joined_source(left, SourceKind::Table, schema);
    let mut planned = super::plan_from_table(
        SourceKind::Table,
        name,
        properties,
        query,
        &joined,
        settings,
    )?;
    for at in left_places.into_iter().chain([right_place]) {
        if let Some(read) = reads.get_mut(at) {
            *read = true;
        }
    }
    for (at, read) in reads.into_iter().enumerate() {
        if let (true, Some(flag)) = (read, planned.reads.get_mut(at)) {
            *flag = true;
        }
    }
    planned.ops.splice(0..0, ops);
    Ok(planned)
}

/// The output's key column (ksqlDB's `buildJoinKey` and `validateKeyPresent`): the first of
/// the join's plain-column keys, left first, that the projection selects. An aggregation
/// keys its output by GROUP BY instead.
fn output_key(
    name: &str,
    query: &Query,
    schema: &Schema,
    sides: &Sides<'_>,
    join_keys: &[&Expr],
) -> Result<Option<usize>, PlanError> {
    let aggregating = !query.group_by.is_empty()
        || query
            .projection
            .iter()
            .any(|item| matches!(item, SelectItem::Expr { expr, .. } if has_aggregate(expr)));
    if aggregating {
        return Ok(None);
    }
    let selected = |column: &str| -> Vec<String> {
        query
            .projection
            .iter()
            .filter_map(|item| match item {
                SelectItem::Expr {
                    expr: Expr::Column(n),
                    alias,
                } if n == column => Some(alias.clone().unwrap_or_else(|| n.clone())),
                _ => None,
            })
            .collect()
    };
    let viable: Vec<&String> = join_keys
        .iter()
        .filter_map(|key| match key {
            Expr::Column(column) => Some(column),
            _ => None,
        })
        .collect();
    for column in &viable {
        let names = selected(column);
        match names[..] {
            [] => continue,
            [_] => return Ok(schema.index_of(column)),
            _ => {
                return invalid(format!(
                "The projection contains a key column (`{column}`) more than once, aliased as: {}.",
                names.join(" and ")
            ))
            }
        }
    }
    let listed: Vec<String> = join_keys.iter().map(|key| sides.shown(key)).collect();
    let (noun, first) = match &listed[..] {
        [one] => ("join expression", one.clone()),
        [first, ..] => ("join expressions", first.clone()),
        [] => ("join expressions", String::new()),
    };
    // ksqlDB lists them as "A, B or C".
    let listed = match &listed[..] {
        [rest @ .., last] if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => listed.join(""),
    };
    invalid(format!(
        "Key missing from projection (ie, SELECT). The query used to build `{name}` must include the {noun} {listed} in its projection (eg, SELECT {first}...)."
    ))
}

/// What the steps after a join read as their source: the joined columns under the first
/// source's name, topic and formats.
fn joined_source(first: &SourceDef, kind: SourceKind, schema: Schema) -> SourceDef {
    SourceDef {
        name: first.name.clone(),
        kind,
        schema,
        topic: first.topic.clone(),
        formats: first.formats,
        timestamp: None,
        timestamp_format: None,
        window_size: None,
        window: None,
        watermark_delay: first.watermark_delay,
    }
}
