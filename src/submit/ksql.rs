//! A ksqlDB REST client: statements to /ksql in order, each after the previous one's
//! command sequence number, and queries streamed from /query.

use serde_json::{json, Value};

use super::split::Piece;

#[derive(Debug, thiserror::Error)]
pub enum KsqlError {
    #[error("cannot reach ksqlDB at {endpoint}: {message}")]
    Unreachable { endpoint: String, message: String },
    #[error("line {line}: the server refused the statement: {message}")]
    Statement { line: usize, message: String },
    #[error("the server answered {status}: {body}")]
    Http { status: u16, body: String },
}

pub struct Client {
    endpoint: String,
    http: reqwest::Client,
}

/// What one statement did, for the summary table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub line: usize,
    pub statement: String,
    pub result: String,
    pub command_sequence_number: Option<i64>,
    /// With --dry-run: what advisor-engine's parser said of the statement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<super::check::Check>,
}

fn summary(entity: &Value) -> String {
    if let Some(message) = entity["commandStatus"]["message"].as_str() {
        return message.to_string();
    }
    match entity["@type"].as_str() {
        Some(kind @ ("streams" | "tables" | "queries")) => {
            format!("{} {kind}", entity[kind].as_array().map_or(0, Vec::len))
        }
        Some(kind) => kind.to_string(),
        None => "done".to_string(),
    }
}

impl Client {
    pub fn new(endpoint: &str) -> Client {
        Client {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    fn unreachable(&self, e: reqwest::Error) -> KsqlError {
        KsqlError::Unreachable {
            endpoint: self.endpoint.clone(),
            message: e.to_string(),
        }
    }

    /// Sends the statements in order; stops at the first the server refuses.
    pub async fn submit(
        &self,
        pieces: &[Piece],
        progress: &mut dyn FnMut(&Outcome),
    ) -> Result<Vec<Outcome>, KsqlError> {
        let mut outcomes = Vec::new();
        let mut sequence: Option<i64> = None;
        for piece in pieces {
            let mut body = json!({"ksql": piece.text, "streamsProperties": {}});
            if let Some(sequence) = sequence {
                body["commandSequenceNumber"] = json!(sequence);
            }
            let response = self
                .http
                .post(format!("{}/ksql", self.endpoint))
                .header("Content-Type", "application/vnd.ksql.v1+json")
                .header("Accept", "application/vnd.ksql.v1+json")
                .body(body.to_string())
                .send()
                .await
                .map_err(|e| self.unreachable(e))?;
            let status = response.status().as_u16();
            let text = response.text().await.map_err(|e| self.unreachable(e))?;
            let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if status >= 400 {
                return Err(match parsed["message"].as_str() {
                    Some(message) => KsqlError::Statement {
                        line: piece.line,
                        message: message.to_string(),
                    },
                    None => KsqlError::Http { status, body: text },
                });
            }
            for entity in parsed.as_array().into_iter().flatten() {
                if let Some(number) = entity["commandSequenceNumber"].as_i64() {
                    sequence = Some(number);
                }
                let outcome = Outcome {
                    line: piece.line,
                    statement: piece.text.clone(),
                    result: summary(entity),
                    command_sequence_number: entity["commandSequenceNumber"].as_i64(),
                    check: None,
                };
                progress(&outcome);
                outcomes.push(outcome);
            }
        }
        Ok(outcomes)
    }

    /// Runs a query and hands each chunk of the streamed answer to `chunk` as it arrives.
    pub async fn query(&self, sql: &str, chunk: &mut dyn FnMut(&str)) -> Result<(), KsqlError> {
        let response = self
            .http
            .post(format!("{}/query", self.endpoint))
            .header("Content-Type", "application/vnd.ksql.v1+json")
            .body(json!({"ksql": sql, "streamsProperties": {}}).to_string())
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        if status >= 400 {
            let text = response.text().await.map_err(|e| self.unreachable(e))?;
            let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            return Err(match parsed["message"].as_str() {
                Some(message) => KsqlError::Statement {
                    line: 1,
                    message: message.to_string(),
                },
                None => KsqlError::Http { status, body: text },
            });
        }
        let mut response = response;
        while let Some(bytes) = response.chunk().await.map_err(|e| self.unreachable(e))? {
            chunk(&String::from_utf8_lossy(&bytes));
        }
        Ok(())
    }
}
