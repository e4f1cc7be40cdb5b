//! The engine's catalog of streams and tables and its persistent queries; statements come in,
//! queries come out. The REST API and the queries-file runner both drive this.

use std::collections::BTreeMap;

use crate::catalog::SourceDef;
use crate::plan::{self, PlanError};
use crate::query::PersistentQuery;
use crate::settings::Settings;
use crate::sql::ast::{Located, SourceKind, Statement};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("line {line}: {message}")]
    Statement { line: usize, message: String },
}

/// What a statement did.
#[derive(Debug, Clone, PartialEq)]
pub enum Executed {
    Created {
        kind: SourceKind,
        name: String,
    },
    QueryStarted {
        id: String,
        kind: SourceKind,
        name: String,
    },
}

#[derive(Default)]
pub struct Engine {
    pub sources: BTreeMap<String, SourceDef>,
    pub queries: Vec<PersistentQuery>,
    /// The server properties queries are planned with.
    pub settings: Settings,
    next_query: usize,
}

impl Engine {
    /// An engine whose queries follow `settings` (engine.toml's `[ksql]`, `--ksql-config`).
    pub fn with_settings(settings: Settings) -> Engine {
        Engine {
            settings,
            ..Engine::default()
        }
    }

    fn error<T>(located: &Located, message: impl Into<String>) -> Result<T, EngineError> {
        Err(EngineError::Statement {
            line: located.line,
            message: message.into(),
        })
    }

    fn plan_error(located: &Located, error: PlanError) -> EngineError {
        EngineError::Statement {
            line: located.line,
            message: error.to_string(),
        }
    }

    /// `Some` when the name is taken: IF NOT EXISTS makes it a no-op, else it is an error.
    fn existing(
        &self,
        located: &Located,
        kind: SourceKind,
        name: &str,
        if_not_exists: bool,
        or_replace: bool,
    ) -> Option<Result<Executed, EngineError>> {
        if !self.sources.contains_key(name) || or_replace {
            return None;
        }
        Some(if if_not_exists {
            Ok(Executed::Created {
                kind,
                name: name.to_string(),
            })
        } else {
            Self::error(
                located,
                format!("Cannot add {kind} '{name}': A {kind} with the same name already exists"),
            )
        })
    }

    /// Runs a CREATE statement: registers a source, or plans and starts a query.
    pub fn execute(&mut self, located: &Located) -> Result<Executed, EngineError> {
        match &located.statement {
            Statement::CreateSource {
                kind,
                name,
                columns,
                properties,
                if_not_exists,
                or_replace,
            } => {
                if let Some(result) = self.existing(located, *kind, name, *if_not_exists, *or_replace) {
                    return result;
                }
                let source = SourceDef::declared(*kind, name, columns, properties)
                    .map_err(|e| Self::plan_error(located, e.into()))?;
                self.sources.insert(name.clone(), source);
                Ok(Executed::Created {
                    kind: *kind,
                    name: name.clone(),
                })
            }
            Statement::CreateAsSelect {
                kind,
                name,
                properties,
                query,
                if_not_exists,
                or_replace,
            } => {
                if let Some(result) = self.existing(located, *kind, name, *if_not_exists, *or_replace) {
                    return result;
                }
                let Some(source) = self.sources.get(query.source_name()) else {
                    return Self::error(located, format!("{} does not exist", query.source_name()));
                };
                let mut inputs = vec![source];
                for join in &query.joins {
                    let Some(joined) = self.sources.get(&join.source) else {
                        return Self::error(located, format!("{} does not exist", join.source));
                    };
                    inputs.push(joined);
                }
                let prefix = match kind {
                    SourceKind::Stream => "CSAS",
                    SourceKind::Table => "CTAS",
                };
                let id = format!("{prefix}_{name}_{}", self.next_query);
                let planned = if query.joins.is_empty() {
                    plan::plan(*kind, name, properties, query, source, &self.settings)
                } else {
                    plan::join::plan_join(*kind, name, properties, query, &inputs, &self.settings)
                }
                .map_err(|e| Self::plan_error(located, e))?;
                let planned = PersistentQuery::new(id.clone(), located.text.clone(), planned, &inputs);
                self.next_query += 1;
                self.sources.insert(name.clone(), planned.sink.clone());
                self.queries.push(planned);
                Ok(Executed::QueryStarted {
                    id,
                    kind: *kind,
                    name: name.clone(),
                })
            }
            other => Self::error(
                located,
                format!(
                    "{} is not a statement a queries file can run; it takes CREATE STREAM, CREATE TABLE and CREATE ... AS SELECT",
                    statement_name(other)
                ),
            ),
        }
    }

    /// The source a name or a Kafka topic refers to.
    pub fn source_for(&self, name_or_topic: &str) -> Option<&SourceDef> {
        let upper = name_or_topic.to_ascii_uppercase();
        self.sources
            .get(&upper)
            .or_else(|| self.sources.get(name_or_topic))
            .or_else(|| self.sources.values().find(|s| s.topic == name_or_topic))
    }
}

fn statement_name(statement: &Statement) -> &'static str {
    match statement {
        Statement::Select(_) => "SELECT",
        Statement::Show(_) => "SHOW",
        Statement::Describe(_) => "DESCRIBE",
        Statement::Drop { .. } => "DROP",
        Statement::Terminate(_) => "TERMINATE",
        Statement::CreateSource { .. } | Statement::CreateAsSelect { .. } => "CREATE",
    }
}
