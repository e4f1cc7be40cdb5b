//! The engine's catalog of streams and tables and its persistent queries; statements come in,
//! queries come out. The REST API and the queries-file runner both drive this.

use std::collections::BTreeMap;

use crate::catalog::{property, SourceDef};
use crate::format::{registry, Codecs, EncodeError, Format, Formats};
use crate::plan::{self, PlanError};
use crate::query::PersistentQuery;
use crate::settings::Settings;
use crate::sql::ast::{ColumnDef, Located, Properties, SourceKind, Statement};

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
    /// What the formats need beyond a WITH clause: the Schema Registry, for AVRO.
    pub codecs: Codecs,
    /// The most state, in bytes, a query may hold (`--state-budget`); none by default.
    pub state_budget: Option<u64>,
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

    /// An engine that stops a query whose state passes `budget` bytes.
    pub fn with_state_budget(mut self, budget: Option<u64>) -> Engine {
        self.state_budget = budget;
        self
    }

    /// An engine whose AVRO sources and outputs use these codecs' Schema Registry.
    pub fn with_codecs(mut self, codecs: Codecs) -> Engine {
        self.codecs = codecs;
        self
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
                let columns = self
                    .inferred_columns(columns, properties)
                    .map_err(|message| EngineError::Statement {
                        line: located.line,
                        message,
                    })?;
                if columns.is_empty() {
                    return Self::error(located, "The statement does not define any columns.");
                }
                let source = SourceDef::declared(*kind, name, &columns, properties)
                    .map_err(|e| Self::plan_error(located, e.into()))?;
                self.needs_registry(&source.formats)
                    .map_err(|e| Self::plan_error_text(located, e))?;
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
                self.needs_registry(&planned.sink.formats)
                    .map_err(|e| Self::plan_error_text(located, e))?;
                let planned = PersistentQuery::new(
                    id.clone(),
                    located.text.clone(),
                    planned,
                    &inputs,
                    &self.codecs,
                );
                planned
                    .prepare_outputs()
                    .map_err(|e| Self::plan_error_text(located, e))?;
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

    fn plan_error_text(located: &Located, error: EncodeError) -> EngineError {
        EngineError::Statement {
            line: located.line,
            message: error.to_string(),
        }
    }

    /// AVRO reads and writes through a Schema Registry: without one, a statement that
    /// would use it is refused up front, as ksqlDB refuses it.
    fn needs_registry(&self, formats: &Formats) -> Result<(), EncodeError> {
        let avro = formats.key == Format::Avro || formats.value == Format::Avro;
        if avro && self.codecs.registry().is_none() {
            return Err(EncodeError::NoRegistry);
        }
        Ok(())
    }

    /// The declared columns, with those an AVRO source leaves out taken from the latest
    /// schema of its topic's subjects, as ksqlDB infers them: the value columns when none
    /// is declared, and the key columns when none is declared and the key is AVRO too.
    fn inferred_columns(
        &self,
        columns: &[ColumnDef],
        properties: &Properties,
    ) -> Result<Vec<ColumnDef>, String> {
        let (Ok(Some(formats)), Some(topic)) = (
            Formats::from_properties(properties, None),
            property(properties, "KAFKA_TOPIC"),
        ) else {
            return Ok(columns.to_vec());
        };
        let infer_values = formats.value == Format::Avro && columns.iter().all(|c| c.key);
        let infer_keys = formats.key == Format::Avro && !columns.iter().any(|c| c.key);
        if !infer_values && !infer_keys {
            return Ok(columns.to_vec());
        }
        let registry = self
            .codecs
            .registry()
            .ok_or_else(|| EncodeError::NoRegistry.to_string())?;
        let mut found = Vec::new();
        for (key, wanted) in [(true, infer_keys), (false, infer_values)] {
            if !wanted {
                continue;
            }
            let subject = registry::subject(&topic, key);
            let latest = registry.latest(&subject).map_err(|e| e.to_string())?;
            let Some(latest) = latest else {
                if key {
                    // A topic without a key schema has no key columns, as in ksqlDB.
                    continue;
                }
                return Err(format!(
                    "Schema for message values on topic '{topic}' does not exist in the Schema Registry. Subject: {subject}"
                ));
            };
            let inferred = crate::format::inferred_columns(&latest.schema, key).map_err(|e| {
                format!("the latest schema of subject {subject} is not Avro the engine reads: {e}")
            })?;
            found.extend(inferred.into_iter().map(|(name, sql_type)| ColumnDef {
                name,
                sql_type,
                key,
            }));
        }
        let mut all: Vec<ColumnDef> = columns.iter().filter(|c| c.key).cloned().collect();
        all.extend(found.iter().filter(|c| c.key).cloned());
        all.extend(columns.iter().filter(|c| !c.key).cloned());
        all.extend(found.into_iter().filter(|c| !c.key));
        Ok(all)
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
