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

/// A checkpoint store of either kind, with its figures in /metrics. What it stores are
/// units: a query's whole state (named by the query id), or the state of one partition of a
/// query's repartition topic (`exchange::unit_name`), each written atomically on its own, so
/// a checkpoint writes only the units that changed.
pub enum Store {
    Local(LocalStore),
    S3(S3Store),
}

/// Checks a unit's bytes as they are read back: an error skips to the unit's previous
/// complete checkpoint.
pub type Accept<'a> = dyn FnMut(&[u8]) -> Result<(), crate::state::RestoreError> + 'a;

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

    /// Reads a unit's newest checkpoint that `accept` takes, falling back to older ones when
    /// it refuses one (corrupt, torn); `None` when the unit has no checkpoint. Returns the
    /// bytes read.
    pub fn load(
        &self,
        unit: &str,
        accept: &mut Accept<'_>,
    ) -> Result<Option<u64>, CheckpointError> {
        match self {
            Store::Local(store) => store.load(unit, accept),
            Store::S3(store) => store.load(unit, accept),
        }
    }

    fn save_unit(&self, unit: &str, bytes: Vec<u8>) -> Result<(), CheckpointError> {
        match self {
            Store::Local(store) => store.save(unit, bytes),
            Store::S3(store) => store.save(unit, bytes),
        }
    }

    /// Puts back the whole state of each query that has one saved (queries whose keyed
    /// state goes through a repartition topic restore each partition as it is assigned).
    pub fn restore(&self, engine: &mut Engine) -> Result<(), CheckpointError> {
        let started = Instant::now();
        let mut total = 0;
        for query in &mut engine.queries {
            let id = query.id.clone();
            let read = self.load(&id, &mut |bytes| query.restore(bytes).map(|_| ()))?;
            if let Some(bytes) = read {
                total += bytes;
                tracing::info!(query = %id, bytes, "state restored");
            }
        }
        METRICS.restored(total, started.elapsed());
        Ok(())
    }

    /// Saves the state of the queries named in `changed`: a query's whole state, or the
    /// partitions of its repartition topic that changed.
    pub fn save(&self, engine: &Engine, changed: &BTreeSet<String>) -> Result<(), CheckpointError> {
        let started = Instant::now();
        let saved = self.save_changed(engine, changed);
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

    fn save_changed(
        &self,
        engine: &Engine,
        changed: &BTreeSet<String>,
    ) -> Result<u64, CheckpointError> {
        let mut total = 0;
        for query in engine.queries.iter().filter(|q| changed.contains(&q.id)) {
            let failed = |e: crate::state::RestoreError| CheckpointError::Snapshot {
                query: query.id.clone(),
                message: e.to_string(),
            };
            if !query.exchanges().is_empty() {
                for saved in query.partition_snapshots().map_err(failed)? {
                    total += saved.bytes.len() as u64;
                    let unit = crate::exchange::unit_name(&query.id, saved.step, saved.partition);
                    self.save_unit(&unit, saved.bytes)?;
                }
            } else {
                let bytes = query.snapshot().map_err(failed)?;
                total += bytes.len() as u64;
                self.save_unit(&query.id, bytes)?;
            }
        }
        Ok(total)
    }
}

/// A folder with one file per unit, and the one before it beside it.
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

    fn path(&self, unit: &str) -> PathBuf {
        self.dir.join(format!("{unit}.json"))
    }

    fn previous(path: &Path) -> PathBuf {
        path.with_extension("json.previous")
    }

    pub fn load(
        &self,
        unit: &str,
        accept: &mut Accept<'_>,
    ) -> Result<Option<u64>, CheckpointError> {
        let path = self.path(unit);
        let mut refused = None;
        for candidate in [path.clone(), Self::previous(&path)] {
            let bytes = match std::fs::read(&candidate) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(CheckpointError::Restore {
                        path: candidate.display().to_string(),
                        message: e.to_string(),
                    })
                }
            };
            match accept(&bytes) {
                Ok(()) => return Ok(Some(bytes.len() as u64)),
                Err(e) => {
                    tracing::warn!(path = %candidate.display(), "checkpoint skipped: {e}");
                    refused = Some(CheckpointError::Restore {
                        path: candidate.display().to_string(),
                        message: e.to_string(),
                    });
                }
            }
        }
        refused.map_or(Ok(None), Err)
    }

    pub fn save(&self, unit: &str, bytes: Vec<u8>) -> Result<(), CheckpointError> {
        let path = self.path(unit);
        let failed = |source| CheckpointError::Write {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        // Write then rename, so a crash never leaves half a checkpoint; the one before stays
        // beside it for a restore that finds the newest unreadable.
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, bytes).map_err(failed)?;
        if path.exists() {
            std::fs::rename(&path, Self::previous(&path)).map_err(failed)?;
        }
        std::fs::rename(&temporary, &path).map_err(failed)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_keeps_the_checkpoint_before_and_falls_back_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        store.save("Q/partition-0", b"first".to_vec()).unwrap();
        store.save("Q/partition-0", b"second".to_vec()).unwrap();
        let mut read = Vec::new();
        let loaded = store
            .load("Q/partition-0", &mut |bytes| {
                read = bytes.to_vec();
                Ok(())
            })
            .unwrap();
        assert_eq!((loaded, read.as_slice()), (Some(6), &b"second"[..]));
        // The newest refused (corrupt): the one before it is read.
        let mut read = Vec::new();
        let loaded = store
            .load("Q/partition-0", &mut |bytes| {
                if bytes == b"second" {
                    return Err(crate::state::RestoreError("torn".into()));
                }
                read = bytes.to_vec();
                Ok(())
            })
            .unwrap();
        assert_eq!((loaded, read.as_slice()), (Some(5), &b"first"[..]));
        // Both refused: an error naming the file; nothing saved: nothing to restore.
        assert!(store
            .load("Q/partition-0", &mut |_| Err(crate::state::RestoreError(
                "torn".into()
            )))
            .is_err());
        assert_eq!(store.load("Q/partition-1", &mut |_| Ok(())).unwrap(), None);
    }
}
