//! Request body limits: `CORTEX_MAX_BODY_BYTES` for every route, except a rule-set import on
//! the sync route, which may carry up to [`MAX_SYNC_BYTES`] (a whole rule set with its
//! layouts). A body over its limit gets 413 before any handler reads it.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cortex_core::ErrorCode;
use cortex_server::mutations::http::{MAX_SYNC_BYTES, SYNC_PATH};
use cortex_server::ApiError;

/// The limit for a request to `path`, with `max_body` the configured one.
fn limit_for(path: &str, max_body: usize) -> usize {
    if path == SYNC_PATH {
        max_body.max(MAX_SYNC_BYTES)
    } else {
        max_body
    }
}

/// Axum middleware; see the module docs. Handlers' own (axum's default) limit is switched
/// off in the router: this one bounds every body, however it is read.
pub async fn limit(State(max_body): State<usize>, req: Request, next: Next) -> Response {
    let limit = limit_for(req.uri().path(), max_body);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than this route's limit of {limit} bytes (CORTEX_MAX_BODY_BYTES)"),
        )
        .into_response();
    }
    // A body without a (truthful) length is cut off at the limit while it is read.
    next.run(req.map(|b| Body::new(http_body_util::Limited::new(b, limit))))
        .await
}
