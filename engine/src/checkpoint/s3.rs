//! Checkpoints in S3 through aws-sdk-s3, with the default credential chain (on Fargate the
//! task role) and `AWS_ENDPOINT_URL` honoured. Each unit's snapshot (a query's state, or one
//! partition's) is written as a new object first; then the unit's manifest, which names it,
//! is replaced. A crash between
//! the two leaves the previous manifest and its snapshot whole, so a restore never reads
//! half a checkpoint. Snapshots the manifest no longer names are pruned, all but the newest
//! few, which stay for inspection.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use super::CheckpointError;

/// Snapshots kept per query beside the one the manifest names.
const KEEP_OLD_SNAPSHOTS: usize = 2;

/// `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Empty, or ending in `/`.
    pub prefix: String,
}

impl std::str::FromStr for S3Location {
    type Err = CheckpointError;

    fn from_str(text: &str) -> Result<S3Location, CheckpointError> {
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| CheckpointError::Location(text.to_string()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(CheckpointError::Location(text.to_string()));
        }
        let prefix = prefix.trim_matches('/');
        Ok(S3Location {
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        })
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// What a unit's manifest says: the snapshot object to restore and its size.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    snapshot: String,
    bytes: u64,
}

pub struct S3Store {
    location: S3Location,
    client: aws_sdk_s3::Client,
    /// The SDK is async and the drive loop is not: calls run on this runtime of its own.
    runtime: tokio::runtime::Runtime,
    /// Orders snapshot names: milliseconds since the epoch, moved on by one when two saves
    /// share a millisecond.
    sequence: AtomicU64,
}

fn s3_error(
    action: &'static str,
    location: String,
    error: impl std::error::Error,
) -> CheckpointError {
    // The SDK's Display says only "service error"; its source chain says what happened.
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    CheckpointError::S3 {
        action,
        location,
        message,
    }
}

/// HTTPS for the SDK: rustls with ring and the system's roots, as advisor's own clients.
pub fn https_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

impl S3Store {
    pub fn open(location: S3Location) -> Result<S3Store, CheckpointError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| s3_error("start a client for", location.to_string(), e))?;
        let config = runtime.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(https_client())
                .load(),
        );
        // S3-compatible endpoints (moto, MinIO) need path-style addressing.
        let mut s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(std::env::var_os("AWS_ENDPOINT_URL").is_some());
        if config.region().is_none() {
            // A bucket is found from any region; the SDK needs one to sign with.
            s3_config = s3_config.region(aws_config::Region::new("us-east-1"));
        }
        let s3_config = s3_config.build();
        Ok(S3Store {
            location,
            client: aws_sdk_s3::Client::from_conf(s3_config),
            runtime,
            sequence: AtomicU64::new(0),
        })
    }

    fn key(&self, unit: &str, name: &str) -> String {
        format!("{}{unit}/{name}", self.location.prefix)
    }

    fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.location.bucket)
    }

    fn next_sequence(&self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let next = |last: u64| now.max(last + 1);
        let previous = self
            .sequence
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(next(last)))
            .unwrap_or(0);
        next(previous)
    }

    /// The object's bytes, or `None` when it does not exist.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CheckpointError> {
        let response = self
            .client
            .get_object()
            .bucket(&self.location.bucket)
            .key(key)
            .send()
            .await;
        let object = match response {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(s3_error("read", self.uri(key), e)),
        };
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| s3_error("read", self.uri(key), e))?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), CheckpointError> {
        self.client
            .put_object()
            .bucket(&self.location.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| s3_error("write", self.uri(key), e))?;
        Ok(())
    }

    /// Reads a unit's newest checkpoint that `accept` takes: the one its manifest names,
    /// then the older snapshots kept beside it, newest first.
    pub fn load(
        &self,
        unit: &str,
        accept: &mut super::Accept<'_>,
    ) -> Result<Option<u64>, CheckpointError> {
        self.runtime.block_on(async {
            let manifest_key = self.key(unit, "manifest.json");
            let named = match self.get(&manifest_key).await? {
                Some(manifest) => match serde_json::from_slice::<Manifest>(&manifest) {
                    Ok(manifest) => Some(self.key(unit, &manifest.snapshot)),
                    Err(e) => {
                        tracing::warn!(manifest = %self.uri(&manifest_key), "manifest skipped: {e}");
                        None
                    }
                },
                None => None,
            };
            let mut candidates: Vec<String> = named.clone().into_iter().collect();
            let mut older = self.snapshots(unit).await?;
            older.sort();
            older.reverse();
            candidates.extend(older.into_iter().filter(|key| Some(key) != named.as_ref()));
            let mut refused = None;
            for key in candidates {
                let Some(bytes) = self.get(&key).await? else {
                    tracing::warn!(snapshot = %self.uri(&key), "checkpoint skipped: the manifest names a snapshot that is not there");
                    continue;
                };
                match accept(&bytes) {
                    Ok(()) => {
                        tracing::info!(snapshot = %self.uri(&key), bytes = bytes.len(), "checkpoint read");
                        return Ok(Some(bytes.len() as u64));
                    }
                    Err(e) => {
                        tracing::warn!(snapshot = %self.uri(&key), "checkpoint skipped: {e}");
                        refused = Some(CheckpointError::Restore {
                            path: self.uri(&key),
                            message: e.to_string(),
                        });
                    }
                }
            }
            refused.map_or(Ok(None), Err)
        })
    }

    /// Writes a unit's checkpoint as a new snapshot, then its manifest naming it.
    pub fn save(&self, unit: &str, snapshot: Vec<u8>) -> Result<(), CheckpointError> {
        self.runtime.block_on(async {
            let name = format!("snapshot-{:020}.bin", self.next_sequence());
            let bytes = snapshot.len() as u64;
            self.put(&self.key(unit, &name), snapshot).await?;
            let manifest = Manifest {
                version: 2,
                snapshot: name.clone(),
                bytes,
            };
            let manifest =
                serde_json::to_vec_pretty(&manifest).map_err(|e| CheckpointError::Snapshot {
                    query: unit.to_string(),
                    message: e.to_string(),
                })?;
            self.put(&self.key(unit, "manifest.json"), manifest).await?;
            if let Err(e) = self.prune(unit, &name).await {
                // Old snapshots cost storage, not correctness: the next save tries again.
                tracing::warn!(unit, "cannot prune old snapshots: {e}");
            }
            Ok(())
        })
    }

    /// The keys of a unit's snapshots.
    async fn snapshots(&self, unit: &str) -> Result<Vec<String>, CheckpointError> {
        let prefix = self.key(unit, "snapshot-");
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.location.bucket)
                .prefix(&prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| s3_error("list", self.uri(&prefix), e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(keys)
    }

    /// Deletes the unit's snapshots older than the newest few, never `current`.
    async fn prune(&self, unit: &str, current: &str) -> Result<(), CheckpointError> {
        let mut keys = self.snapshots(unit).await?;
        // Zero-padded sequence numbers: the names sort by age.
        keys.sort();
        let current = self.key(unit, current);
        keys.retain(|k| *k != current);
        let stale = keys.len().saturating_sub(KEEP_OLD_SNAPSHOTS);
        for key in &keys[..stale] {
            self.client
                .delete_object()
                .bucket(&self.location.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| s3_error("delete", self.uri(key), e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_a_bucket_and_an_optional_prefix() {
        let location: S3Location = "s3://orders-checkpoints/engine/".parse().unwrap();
        assert_eq!(location.bucket, "orders-checkpoints");
        assert_eq!(location.prefix, "engine/");
        let bare: S3Location = "s3://orders-checkpoints".parse().unwrap();
        assert_eq!(bare.prefix, "");
        for bad in ["s3://", "s3://Orders", "s3://ab", "file:///tmp"] {
            assert!(bad.parse::<S3Location>().is_err(), "{bad}");
        }
    }
}
