//! A client of Confluent's Schema Registry REST API: `GET /schemas/ids/{id}`,
//! `GET /subjects/{subject}/versions/latest` and `POST /subjects/{subject}/versions`, with
//! basic auth and a TLS CA as ksqlDB's `ksql.schema.registry.*` settings give them.
//!
//! Schemas by id never change, so each is fetched once and kept (as Confluent's
//! CachedSchemaRegistryClient keeps them). A fetch that meets an outage waits it out with
//! exponential back-off, the outage reported meanwhile for /healthcheck; statement-time
//! calls (a subject's latest schema, a registration) give up after a few tries instead, so
//! that a statement is answered. A 401 or 403 (the registry does not take the engine's
//! credentials) is waited out the same way by a fetch: the record is not at fault, and a
//! dead letter per record would commit the whole stream past its offsets while the
//! credentials are being fixed (or rotated on the registry's side).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value as Json};

use crate::format::registry::{Registered, RegistryError, SchemaRegistry};

/// Where the registry is and how to reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// `ksql.schema.registry.url`, e.g. http://schema-registry:8081.
    pub url: String,
    /// `ksql.schema.registry.basic.auth.user.info`: `user:password` for basic auth.
    pub user_info: Option<String>,
    /// A PEM file of the CA certificates that sign the registry's TLS certificate (ksqlDB
    /// takes a trust store, `ksql.schema.registry.ssl.truststore.location`).
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryConfigError {
    #[error("cannot read the Schema Registry CA file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the Schema Registry CA file {0} holds no PEM certificate")]
    NoCertificate(String),
    #[error("the Schema Registry URL {0:?} is not an http:// or https:// URL")]
    Url(String),
}

/// How long to wait between tries, doubling from `first` up to `most`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub most: Duration,
}

impl Backoff {
    /// The waits between tries: `first`, doubling, then `most` for ever.
    pub fn waits(self) -> impl Iterator<Item = Duration> {
        std::iter::successors(Some(self.first), move |wait| {
            Some((*wait * 2).min(self.most))
        })
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(200),
            most: Duration::from_secs(10),
        }
    }
}

const STATEMENT_TRIES: u32 = 3;

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

pub struct HttpRegistry {
    base: String,
    agent: ureq::Agent,
    authorization: Option<String>,
    backoff: Backoff,
    by_id: Mutex<HashMap<u32, Arc<str>>>,
    outage: Mutex<Option<String>>,
}

impl HttpRegistry {
    pub fn new(
        config: &RegistryConfig,
        backoff: Backoff,
    ) -> Result<HttpRegistry, RegistryConfigError> {
        let base = config.url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(RegistryConfigError::Url(config.url.clone()));
        }
        let mut builder = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false);
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|source| RegistryConfigError::CaFile {
                path: path.display().to_string(),
                source,
            })?;
            let certificates: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(certificate)) => Some(certificate),
                    _ => None,
                })
                .collect();
            if certificates.is_empty() {
                return Err(RegistryConfigError::NoCertificate(
                    path.display().to_string(),
                ));
            }
            builder = builder.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&certificates))
                    .build(),
            );
        }
        Ok(HttpRegistry {
            base,
            agent: builder.build().into(),
            authorization: config.user_info.as_ref().map(|user_info| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(user_info)
                )
            }),
            backoff,
            by_id: Mutex::new(HashMap::new()),
            outage: Mutex::new(None),
        })
    }

    /// One request; `Ok` holds the status and body of any answer the registry gave.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Json>,
    ) -> Result<(u16, Json), RegistryError> {
        let url = format!("{}{path}", self.base);
        let answer = match (method, body) {
            ("POST", Some(body)) => {
                let mut request = self.agent.post(&url).header("Content-Type", CONTENT_TYPE);
                if let Some(authorization) = &self.authorization {
                    request = request.header("Authorization", authorization);
                }
                request.send(body.to_string())
            }
            _ => {
                let mut request = self.agent.get(&url).header("Accept", CONTENT_TYPE);
                if let Some(authorization) = &self.authorization {
                    request = request.header("Authorization", authorization);
                }
                request.call()
            }
        };
        let mut response = answer.map_err(|e| {
            RegistryError::Unavailable(format!("{method} {url}: {e}{}", tls_hint(&e)))
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| RegistryError::Unavailable(format!("{method} {url}: {e}")))?;
        if status >= 500 {
            return Err(RegistryError::Unavailable(format!(
                "{method} {url} answered {status}: {text}"
            )));
        }
        let json = serde_json::from_str(&text).unwrap_or(Json::String(text));
        Ok((status, json))
    }

    /// A 401 or 403 in words that name the setting to look at; `None` for other statuses.
    fn credentials_refused(&self, status: u16, body: &Json) -> Option<String> {
        let hint = match (status, self.authorization.is_some()) {
            (401, true) => "the registry does not accept the basic auth credentials of --schema-registry-user-info (ENGINE_SCHEMA_REGISTRY_USER_INFO, ksql.schema.registry.basic.auth.user.info, [schema_registry] basic_auth_user_info)",
            (401, false) => "the registry wants basic auth credentials: give them with --schema-registry-user-info USER:PASSWORD (ENGINE_SCHEMA_REGISTRY_USER_INFO, ksql.schema.registry.basic.auth.user.info, [schema_registry] basic_auth_user_info)",
            (403, _) => "the registry does not allow the user of --schema-registry-user-info this request",
            _ => return None,
        };
        Some(format!("{}: {hint}", refusal(status, body)))
    }

    /// Retries while the registry is unavailable: `tries` times, or for ever when `None`.
    fn with_retries<T>(
        &self,
        tries: Option<u32>,
        mut attempt: impl FnMut() -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut waits = self.backoff.waits();
        let mut tried = 0;
        loop {
            match attempt() {
                Err(RegistryError::Unavailable(reason)) => {
                    tried += 1;
                    self.set_outage(Some(reason.clone()));
                    if tries.is_some_and(|tries| tried >= tries) {
                        return Err(RegistryError::Unavailable(reason));
                    }
                    let wait = waits.next().unwrap_or(self.backoff.most);
                    tracing::warn!(%reason, "the Schema Registry is unavailable; retrying in {wait:?}");
                    std::thread::sleep(wait);
                }
                other => {
                    self.set_outage(None);
                    return other;
                }
            }
        }
    }

    fn set_outage(&self, outage: Option<String>) {
        if let Ok(mut slot) = self.outage.lock() {
            *slot = outage;
        }
    }
}

/// What to do about a certificate the engine does not trust: the registry is not down, and
/// waiting will not help until the CA is given.
fn tls_hint(error: &ureq::Error) -> &'static str {
    if error.to_string().contains("invalid peer certificate") {
        " (the registry's TLS certificate is not signed by a CA the engine trusts: give the CA's PEM file with --schema-registry-ca, ENGINE_SCHEMA_REGISTRY_CA, ksql.schema.registry.ssl.truststore.location or [schema_registry] ca_file)"
    } else {
        ""
    }
}

/// The registry's own words for an answer that is not a success.
fn refusal(status: u16, body: &Json) -> String {
    let message = body
        .get("message")
        .and_then(Json::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| body.to_string());
    match body.get("error_code") {
        Some(code) => format!("{message} (status {status}, error code {code})"),
        None => format!("{message} (status {status})"),
    }
}

fn schema_text(body: &Json) -> Result<String, RegistryError> {
    body.get("schema")
        .and_then(Json::as_str)
        .map(str::to_string)
        .ok_or_else(|| RegistryError::Garbled(format!("no schema in {body}")))
}

impl SchemaRegistry for HttpRegistry {
    fn schema_by_id(&self, id: u32) -> Result<Arc<str>, RegistryError> {
        if let Some(found) = self.by_id.lock().ok().and_then(|c| c.get(&id).cloned()) {
            return Ok(found);
        }
        let path = format!("/schemas/ids/{id}");
        let (status, body) = self.with_retries(None, || {
            let (status, body) = self.request("GET", &path, None)?;
            match self.credentials_refused(status, &body) {
                Some(reason) => Err(RegistryError::Unavailable(format!(
                    "GET {}{path}: {reason}",
                    self.base
                ))),
                None => Ok((status, body)),
            }
        })?;
        match status {
            200 => {
                let text: Arc<str> = schema_text(&body)?.into();
                if let Ok(mut cache) = self.by_id.lock() {
                    cache.insert(id, text.clone());
                }
                Ok(text)
            }
            404 => Err(RegistryError::NotFound(refusal(status, &body))),
            _ => Err(RegistryError::Refused(refusal(status, &body))),
        }
    }

    fn latest(&self, subject: &str) -> Result<Option<Registered>, RegistryError> {
        let (status, body) = self.with_retries(Some(STATEMENT_TRIES), || {
            self.request("GET", &format!("/subjects/{subject}/versions/latest"), None)
        })?;
        match status {
            200 => Ok(Some(Registered {
                id: body
                    .get("id")
                    .and_then(Json::as_u64)
                    .and_then(|id| u32::try_from(id).ok())
                    .ok_or_else(|| RegistryError::Garbled(format!("no id in {body}")))?,
                schema: schema_text(&body)?,
            })),
            404 => Ok(None),
            _ => Err(RegistryError::Refused(
                self.credentials_refused(status, &body)
                    .unwrap_or_else(|| refusal(status, &body)),
            )),
        }
    }

    fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let body = json!({ "schema": schema });
        let (status, answer) = self.with_retries(Some(STATEMENT_TRIES), || {
            self.request(
                "POST",
                &format!("/subjects/{subject}/versions"),
                Some(&body),
            )
        })?;
        match status {
            200 => {
                let id = answer
                    .get("id")
                    .and_then(Json::as_u64)
                    .and_then(|id| u32::try_from(id).ok())
                    .ok_or_else(|| RegistryError::Garbled(format!("no id in {answer}")))?;
                if let Ok(mut cache) = self.by_id.lock() {
                    cache.insert(id, schema.into());
                }
                Ok(id)
            }
            _ => Err(RegistryError::Refused(
                self.credentials_refused(status, &answer)
                    .unwrap_or_else(|| refusal(status, &answer)),
            )),
        }
    }

    fn outage(&self) -> Option<String> {
        self.outage.lock().ok().and_then(|o| o.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_the_first_up_to_the_most() {
        let waits: Vec<u64> = Backoff::default()
            .waits()
            .take(9)
            .map(|w| w.as_millis() as u64)
            .collect();
        assert_eq!(
            waits,
            [200, 400, 800, 1_600, 3_200, 6_400, 10_000, 10_000, 10_000]
        );
    }

    /// An outage is tried again after each wait and reported meanwhile; the answer that
    /// comes once it is over clears it. Statement-time calls give up after their tries.
    #[test]
    fn an_outage_is_retried_with_back_off_and_reported_until_it_ends() {
        let backoff = Backoff {
            first: Duration::from_millis(5),
            most: Duration::from_millis(20),
        };
        let config = RegistryConfig {
            url: "http://127.0.0.1:9".into(),
            ..RegistryConfig::default()
        };
        let registry = HttpRegistry::new(&config, backoff).unwrap();
        let mut calls = 0;
        let started = std::time::Instant::now();
        let answer = registry.with_retries(None, || {
            calls += 1;
            if calls < 5 {
                assert!(calls == 1 || registry.outage().is_some());
                Err(RegistryError::Unavailable("connection refused".into()))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(answer.unwrap(), 5);
        // Four waits: 5 + 10 + 20 + 20 ms.
        assert!(
            started.elapsed() >= Duration::from_millis(55),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(registry.outage(), None);
        let given_up = registry.with_retries(Some(STATEMENT_TRIES), || {
            Err::<(), _>(RegistryError::Unavailable("connection refused".into()))
        });
        assert!(matches!(given_up, Err(RegistryError::Unavailable(_))));
        assert!(registry.outage().is_some());
    }
}
