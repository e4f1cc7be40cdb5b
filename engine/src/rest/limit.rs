//! The largest request body the REST API reads. A request that announces a bigger body
//! (Content-Length) is refused before any of it is read; one that streams a bigger body
//! without saying so is cut off when the handler's extractor reaches the limit. Both answer
//! 413 with ksqlDB's `generic_error` body, error code 41300 (ksqlDB's codes are the HTTP
//! status times 100).

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// 10 MiB: statements, a pull query or a batch of inserts fit many times over, and a
/// client cannot make the server buffer more than that per request.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// The middleware: refuses an announced body over `max` at once, and gives the extractors'
/// own 413 (a body that grew past `max`) ksqlDB's shape.
pub async fn limit_body(State(max): State<usize>, request: Request, next: Next) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let path = request.uri().path().to_string();
    if let Some(length) = announced.filter(|length| *length > max as u64) {
        tracing::warn!(%path, length, max, "refused a request body over the limit");
        return too_large(max);
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        tracing::warn!(%path, max, "cut off a request body over the limit");
        return too_large(max);
    }
    response
}

fn too_large(max: usize) -> Response {
    super::generic_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        41300,
        format!("The request body is larger than the server's limit of {max} bytes"),
    )
}
