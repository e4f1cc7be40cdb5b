//! The Schema Registry as the formats see it: writer schemas by id, a subject's latest
//! schema, and registering an output's schema. A trait, so that the parser, planner and
//! operators stay free of HTTP; the runtime gives the Confluent REST client
//! (`connector::schema_registry`).

use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered that the schema or subject does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The registry answered and refused the request (an incompatible schema, bad auth).
    #[error("the Schema Registry refused the request: {0}")]
    Refused(String),
    /// The registry could not be reached, or answered with a server error.
    #[error("the Schema Registry is unavailable: {0}")]
    Unavailable(String),
    /// What the registry sent is not what its API promises.
    #[error("the Schema Registry sent an answer that does not read: {0}")]
    Garbled(String),
}

/// A subject's schema as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub id: u32,
    /// The schema's JSON text.
    pub schema: String,
}

pub trait SchemaRegistry: Send + Sync {
    /// The schema text registered under `id`. Waits out an outage (retrying with back-off)
    /// rather than failing: a record whose schema cannot be fetched yet is neither lost nor
    /// dead-lettered. `NotFound` when the registry does not know the id.
    fn schema_by_id(&self, id: u32) -> Result<Arc<str>, RegistryError>;

    /// The latest schema of a subject; `None` when the subject does not exist.
    fn latest(&self, subject: &str) -> Result<Option<Registered>, RegistryError>;

    /// Registers `schema` under `subject` (an existing identical schema keeps its id).
    fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError>;

    /// What keeps the registry from answering now, while an outage lasts.
    fn outage(&self) -> Option<String>;
}

/// What the formats need beyond a WITH clause to build codecs: the Schema Registry, when
/// one is configured.
#[derive(Clone, Default)]
pub struct Codecs {
    registry: Option<Arc<dyn SchemaRegistry>>,
}

impl std::fmt::Debug for Codecs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codecs")
            .field("registry", &self.registry.is_some())
            .finish()
    }
}

impl Codecs {
    pub fn with_registry(registry: Arc<dyn SchemaRegistry>) -> Codecs {
        Codecs {
            registry: Some(registry),
        }
    }

    pub fn registry(&self) -> Option<&Arc<dyn SchemaRegistry>> {
        self.registry.as_ref()
    }
}

/// The subject a topic's value (or key) schema is registered under, as Confluent's default
/// TopicNameStrategy names it.
pub fn subject(topic: &str, key: bool) -> String {
    format!("{topic}-{}", if key { "key" } else { "value" })
}
