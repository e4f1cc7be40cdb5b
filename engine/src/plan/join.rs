//! Planning a join (engine/docs/ksqldb-joins.md). The joined rows hold both sources'
//! columns side by side, named as ksqlDB names them (`ALIAS_COLUMN`); the query's column
//! references are rewritten to those names, the join operator goes first in the chain, and
//! the rest is planned as over one source.

use crate::catalog::SourceDef;
use crate::ops::join::StreamTableJoin;
use crate::settings::Settings;
use crate::sql::ast::{
    BinaryOp, Expr, Join, JoinKind, OrderItem, OverRef, OverSpec, Properties, Query, SelectItem,
    SourceKind,
};
use crate::value::{Column, Schema};

use super::{invalid, plan_rows, Chain, PlanError, QueryPlan};

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

    fn has(&self, column: &str) -> bool {
        self.source.schema.index_of(column).is_some()
    }
}

/// The sides' columns under their joined names, and what a reference in the query means.
struct Sides<'a> {
    sides: Vec<Side<'a>>,
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
            None => {
                let owners: Vec<&Side<'_>> = self.sides.iter().filter(|s| s.has(name)).collect();
                match owners[..] {
                    [] => Ok(None),
                    [side] => Ok(Some(side.joined_name(name))),
                    _ => invalid(format!(
                        "Column '{name}' is ambiguous. Could be any of: {}",
                        owners
                            .iter()
                            .map(|s| format!("{}.{name}", s.alias))
                            .collect::<Vec<_>>()
                            .join(", ")
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

    fn schema(&self) -> Schema {
        let columns = self
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
        Schema { columns }
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
                    for side in &self.sides {
                        for column in &side.source.schema.columns {
                            projection.push(SelectItem::Expr {
                                expr: Expr::Column(side.joined_name(&column.name)),
                                alias: None,
                            });
                        }
                    }
                }
                SelectItem::Expr { expr, alias } => {
                    let alias = match (alias, expr) {
                        (Some(alias), _) => Some(alias.clone()),
                        (None, Expr::Column(name)) => Some(name.clone()),
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
    }
}

/// The two sides of `ON a = b` (rewritten to joined names), the left side's first.
fn equi_join(join: &Join, sides: &Sides<'_>) -> Result<(Expr, Expr), PlanError> {
    let on = sides.rewrite(&join.on)?;
    let Expr::Binary(BinaryOp::Eq, a, b) = &on else {
        return invalid(format!(
            "Unsupported join expression: {}. A join takes ON a = b, each side reading one source.",
            join.on
        ));
    };
    match (&sides.sides_read(a)[..], &sides.sides_read(b)[..]) {
        ([0], [1]) => Ok(((**a).clone(), (**b).clone())),
        ([1], [0]) => Ok(((**b).clone(), (**a).clone())),
        _ => invalid(format!(
            "Each side of the join comparison must contain references from exactly one source: {}",
            join.on
        )),
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
    let (&[left, right], [join]) = (sources, &query.joins[..]) else {
        return invalid(
            "advisor-engine joins two sources; a query with more joins is not supported yet",
        );
    };
    let left_alias = query
        .from_alias
        .clone()
        .unwrap_or_else(|| left.name.clone());
    let right_alias = join.alias.clone().unwrap_or_else(|| right.name.clone());
    if left_alias == right_alias {
        return invalid(format!(
            "Can not join '{left_alias}' to '{right_alias}': self joins are not yet supported."
        ));
    }
    let sides = Sides {
        sides: vec![
            Side {
                source: left,
                alias: left_alias,
                offset: 0,
            },
            Side {
                source: right,
                alias: right_alias,
                offset: left.schema.columns.len(),
            },
        ],
    };
    let (left_key, right_key) = equi_join(join, &sides)?;
    let mut schema = sides.schema();
    let op = match (left.kind, right.kind) {
        (SourceKind::Stream, SourceKind::Table) => {
            if !matches!(join.kind, JoinKind::Inner | JoinKind::Left) {
                return invalid(format!(
                    "Invalid join type: {} join not supported for stream-table join. Got {} [{}] JOIN {}.",
                    join.kind.to_string().to_ascii_lowercase().replace(' ', "-"),
                    left.name,
                    join.kind,
                    right.name
                ));
            }
            if join.within.is_some() {
                return invalid(
                    "A window definition was provided for a Stream-Table join. These joins are not windowed. Please drop the window definition (ie. the WITHIN clause) and try to execute your join again.",
                );
            }
            let table = &sides.sides[1];
            let keys: Vec<&Column> = right.schema.key_columns().map(|(_, c)| c).collect();
            let [pk] = keys[..] else {
                return invalid(format!(
                    "{} has {} PRIMARY KEY columns; a stream-table join needs one",
                    right.name,
                    keys.len()
                ));
            };
            let pk_name = table.joined_name(&pk.name);
            if right_key != Expr::Column(pk_name.clone()) {
                return invalid(format!(
                    "Cannot repartition a TABLE source. If this is a join, make sure that the criteria uses the TABLE's key column {}.{} instead of {}",
                    table.alias,
                    pk.name,
                    right_key
                ));
            }
            let pk_place = schema
                .index_of(&pk_name)
                .ok_or_else(|| PlanError::Invalid(format!("no column {pk_name}")))?;
            // The join key is the output's key: the stream's join column, or the table's key.
            schema.columns[pk_place].key = true;
            if let Expr::Column(stream_column) = &left_key {
                if let Some(place) = schema.index_of(stream_column) {
                    schema.columns[place].key = true;
                }
            }
            let stream_key = crate::expr::compile(&left_key, &schema, &mut crate::expr::Plain)?;
            let table_columns = table.offset..table.offset + right.schema.columns.len();
            Box::new(StreamTableJoin::new(
                join.kind,
                0,
                stream_key,
                pk_place,
                table_columns,
            ))
        }
        (SourceKind::Table, SourceKind::Stream) => {
            return invalid(format!(
                "Invalid join order: table-stream joins are not supported; only stream-table joins. Got {} [{}] JOIN {}.",
                left.name, join.kind, right.name
            ));
        }
        (SourceKind::Stream, SourceKind::Stream) => {
            return invalid("stream-stream joins are not supported by advisor-engine yet");
        }
        (SourceKind::Table, SourceKind::Table) => {
            return invalid("table-table joins are not supported by advisor-engine yet");
        }
    };
    let rewritten = sides.rewrite_query(query)?;
    let joined = SourceDef {
        name: left.name.clone(),
        kind: SourceKind::Stream,
        schema,
        topic: left.topic.clone(),
        formats: left.formats,
        timestamp: None,
        timestamp_format: None,
        window: None,
        watermark_delay: left.watermark_delay,
    };
    let mut chain = Chain::new(&joined, settings);
    // Both join keys are read, whatever the projection reads.
    chain.mark(&crate::expr::compile(
        &left_key,
        &joined.schema,
        &mut crate::expr::Plain,
    )?);
    chain.mark(&crate::expr::compile(
        &right_key,
        &joined.schema,
        &mut crate::expr::Plain,
    )?);
    chain.push(op, None);
    // The source's key-column rules do not hold for joined rows; the join's are checked
    // above.
    chain.at_source = false;
    plan_rows(kind, name, properties, &rewritten, chain)
}
