//! Where the queries' state is saved between runs: each query's snapshot (its operators'
//! state by key group, with the input offsets it reflects) in a local folder, written
//! atomically.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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

    /// Puts back each query's saved state, where there is one.
    pub fn restore(&self, engine: &mut Engine) -> Result<(), CheckpointError> {
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
            tracing::info!(query = %query.id, path = %path.display(), "state restored");
        }
        Ok(())
    }

    /// Saves the state of the queries named in `changed`. A query terminated since it
    /// changed has nothing left to save.
    pub fn save(&self, engine: &Engine, changed: &BTreeSet<String>) -> Result<(), CheckpointError> {
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
            let snapshot = query.snapshot().map_err(|e| CheckpointError::Snapshot {
                query: query.id.clone(),
                message: e.to_string(),
            })?;
            // Write then rename, so a crash never leaves half a snapshot.
            let temporary = path.with_extension("json.tmp");
            std::fs::write(&temporary, snapshot).map_err(failed)?;
            std::fs::rename(&temporary, &path).map_err(failed)?;
        }
        Ok(())
    }
}
