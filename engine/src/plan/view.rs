//! Pull and push queries on tables: a SELECT over a table built by CREATE TABLE ... AS
//! SELECT, planned against the catalog as persistent queries are, and evaluated over the
//! table's rows (pull) or each change the building query makes (push).

use serde_json::Value;

use crate::engine::Engine;
use crate::sql::ast::SourceKind;

/// Column names, types and key flags of a result.
#[derive(Clone)]
pub struct Columns {
    pub names: Vec<String>,
    pub types: Vec<String>,
    pub keys: Vec<bool>,
}

/// A SELECT over a table built by CREATE TABLE ... AS SELECT: its WHERE and columns over the
/// table's rows as the table shows them (key columns, window bounds, values). Pull queries
/// run it over the current rows, push queries over each change.
pub struct TableView {
    /// The id of the query that builds the table.
    pub owner: String,
    windowed: bool,
    filter: Option<crate::expr::Compiled>,
    projection: Vec<crate::expr::Compiled>,
    pub columns: Columns,
}

impl TableView {
    pub fn plan(engine: &Engine, query: &crate::sql::ast::Query) -> Result<TableView, String> {
        use crate::expr::{compile, Plain};
        use crate::sql::ast::{Expr, SelectItem};
        super::refuse_joins(query).map_err(|e| e.to_string())?;
        let from = query.from_name().ok_or_else(|| {
            "pull and push queries on tables read the table by name, not a derived table"
                .to_string()
        })?;
        let source = engine
            .sources
            .get(from)
            .ok_or_else(|| format!("{from} does not exist"))?;
        let Some(owner) = engine
            .queries
            .iter()
            .find(|q| q.sink.name == source.name && source.kind == SourceKind::Table)
        else {
            return Err(format!(
                "{} is not queryable: pull and push queries read tables created by CREATE TABLE ... AS SELECT",
                source.name
            ));
        };
        let mut schema = crate::value::Schema::default();
        for (_, column) in source.schema.key_columns() {
            schema.columns.push(column.clone());
        }
        if source.window.is_some() {
            for name in ["WINDOWSTART", "WINDOWEND"] {
                schema.columns.push(crate::value::Column {
                    name: name.into(),
                    sql_type: crate::sql::ast::SqlType::Bigint,
                    key: true,
                });
            }
        }
        for (_, column) in source.schema.value_columns() {
            schema.columns.push(column.clone());
        }
        let filter = match &query.filter {
            Some(f) => Some(compile(f, &schema, &mut Plain).map_err(|e| e.to_string())?),
            None => None,
        };
        let mut names = Vec::new();
        let mut types = Vec::new();
        let mut keys = Vec::new();
        let mut projection = Vec::new();
        let mut generated = 0;
        for item in &query.projection {
            match item {
                SelectItem::Wildcard | SelectItem::SourceWildcard(_) => {
                    for (i, column) in schema.columns.iter().enumerate() {
                        names.push(column.name.clone());
                        types.push(column.sql_type.to_string());
                        keys.push(column.key);
                        projection.push(crate::expr::Compiled::Column(i));
                    }
                }
                SelectItem::Expr { expr, alias } => {
                    let compiled = compile(expr, &schema, &mut Plain).map_err(|e| e.to_string())?;
                    names.push(alias.clone().unwrap_or_else(|| match expr {
                        Expr::Column(n) => n.clone(),
                        _ => {
                            generated += 1;
                            format!("KSQL_COL_{}", generated - 1)
                        }
                    }));
                    match &compiled {
                        crate::expr::Compiled::Column(i) => {
                            types.push(schema.columns[*i].sql_type.to_string());
                            keys.push(schema.columns[*i].key);
                        }
                        _ => {
                            types.push(crate::sql::ast::SqlType::String.to_string());
                            keys.push(false);
                        }
                    }
                    projection.push(compiled);
                }
            }
        }
        Ok(TableView {
            owner: owner.id.clone(),
            windowed: source.window.is_some(),
            filter,
            projection,
            columns: Columns { names, types, keys },
        })
    }

    /// One table row as the SELECT shows it; `None` when WHERE leaves it out (or it is a
    /// tombstone).
    pub fn evaluate(
        &self,
        record: &crate::query::OutputRecord,
    ) -> Result<Option<Vec<Value>>, String> {
        use crate::expr::Context;
        use crate::value::Value as Cell;
        let Some(values) = &record.value else {
            return Ok(None);
        };
        let mut row: Vec<Cell> = record.key.clone();
        if self.windowed {
            let (start, end) = record.window.unwrap_or((0, 0));
            row.push(Cell::Integer(start));
            row.push(Cell::Integer(end));
        }
        row.extend(values.iter().cloned());
        let ctx = Context {
            row: &row,
            rowtime: record.timestamp,
            window: record.window,
            slots: &[],
        };
        if let Some(filter) = &self.filter {
            if !filter.test(&ctx).map_err(|e| e.to_string())? {
                return Ok(None);
            }
        }
        self.projection
            .iter()
            .map(|c| c.eval(&ctx).map(|v| v.to_json()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(|e| e.to_string())
    }
}
