//! Where the queries' state is saved between runs: each query's snapshot (its operators'
//! state by key group, with the input offsets it reflects) in a local folder or in S3
//! (`s3`), written atomically either way.

mod metrics;
pub mod s3;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use metrics::{metrics_text, CheckpointMetrics, METRICS};
pub use s3::{S3Location, S3Store};

use crate::engine::Engine;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot write state to {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot snapshot {query}: {message}")]
    Snapshot { query: String, message: String },
    #[error("cannot restore state from {path}: {message}")]
    Restore { path: String, message: String },
    #[error("{0:?} is not an S3 location: write s3://bucket or s3://bucket/prefix")]
    Location(String),
    #[error("cannot {action} {location}: {message}")]
    S3 {
        action: &'static str,
        location: String,
        message: String,
    },
}

/// Where checkpoints go: `--checkpoint-dir` (or `--state-dir`) as a folder or an S3 URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3(S3Location),
}

impl Location {
    /// `s3://bucket/prefix` is S3; anything else is a folder.
    pub fn parse(text: &str) -> Result<Location, CheckpointError> {
        if text.starts_with("s3://") {
            Ok(Location::S3(text.parse()?))
        } else {
            Ok(Location::Local(PathBuf::from(text)))
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(dir) => write!(f, "{}", dir.display()),
            Location::S3(location) => write!(f, "{location}"),
        }
    }
}

/// A checkpoint store of either kind, with its figures in /metrics.
pub enum Store {
    Local(LocalStore),
    S3(S3Store),
}

impl Store {
    pub fn open(location: &Location) -> Result<Store, CheckpointError> {
        Ok(match location {
            Location::Local(dir) => Store::Local(LocalStore::new(dir)),
            Location::S3(location) => Store::S3(S3Store::open(location.clone())?),
        })
    }

    /// True when the store is slow enough that commits between checkpoints only confirm
    /// outputs (S3), rather than saving state at every commit (a local folder).
    pub fn is_remote(&self) -> bool {
        matches!(self, Store::S3(_))
    }

    pub fn restore(&self, engine: &mut Engine) -> Result<(), CheckpointError> {
        let started = Instant::now();
        let bytes = match self {
            Store::Local(store) => store.restore(engine)?,
            Store::S3(store) => store.restore(engine)?,
        };
        METRICS.restored(bytes, started.elapsed());
        Ok(())
    }

    pub fn save(&self, engine: &Engine, changed: &BTreeSet<String>) -> Result<(), CheckpointError> {
        let started = Instant::now();
        let saved = match self {
            Store::Local(store) => store.save(engine, changed),
            Store::S3(store) => store.save(engine, changed),
        };
        match saved {
            Ok(bytes) => {
                METRICS.saved(bytes, started.elapsed());
                Ok(())
            }
            Err(e) => {
                METRICS.failed();
                Err(e)
            }
        }
    }
}

/// A query's snapshot, its error naming the query.
fn snapshot_of(query: &crate::query::PersistentQuery) -> Result<Vec<u8>, CheckpointError> {
    query.snapshot().map_err(|e| CheckpointError::Snapshot {
        query: query.id.clone(),
        message: e.to_string(),
    })
}

/// A folder with one snapshot file per query.
#[derive(Debug, Clone)]
pub struct LocalStore {
    dir: PathBuf,
}

impl LocalStore {
    pub fn new(dir: impl Into<PathBuf>) -> LocalStore {
        LocalStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, query: &str) -> PathBuf {
        self.dir.join(format!("{query}.json"))
    }

    /// Puts back each query's saved state, where there is one; returns the bytes read.
    pub fn restore(&self, engine: &mut Engine) -> Result<u64, CheckpointError> {
        let mut total = 0;
        for query in &mut engine.queries {
            let path = self.path(&query.id);
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(CheckpointError::Restore {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })
                }
            };
            query
                .restore(&bytes)
                .map_err(|e| CheckpointError::Restore {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
            total += bytes.len() as u64;
            tracing::info!(query = %query.id, path = %path.display(), "state restored");
        }
        Ok(total)
    }

    /// Saves the state of the queries named in `changed`; returns the bytes written. A query
    /// terminated since it changed has nothing left to save.
    pub fn save(
        &self,
        engine: &Engine,
        changed: &BTreeSet<String>,
    ) -> Result<u64, CheckpointError> {
        let mut total = 0;
        std::fs::create_dir_all(&self.dir).map_err(|source| CheckpointError::Write {
            path: self.dir.display().to_string(),
            source,
        })?;
        for query in engine.queries.iter().filter(|q| changed.contains(&q.id)) {
            let path = self.path(&query.id);
            let failed = |source| CheckpointError::Write {
                path: path.display().to_string(),
                source,
            };
            let snapshot = snapshot_of(query)?;
            // Write then rename, so a crash never leaves half a snapshot.
            let temporary = path.with_extension("json.tmp");
            total += snapshot.len() as u64;
            std::fs::write(&temporary, snapshot).map_err(failed)?;
            std::fs::rename(&temporary, &path).map_err(failed)?;
        }
        Ok(total)
    }
}
