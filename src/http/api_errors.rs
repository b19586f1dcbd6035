//! Maps every API error to its real status code and the `{"error":{...}}` body, in one place.
//!
//! Server functions answer errors with 500 and a `serverfnerror` header; the body is our
//! `ApiErrorBody`, whose code decides the status. Errors produced outside our code (body
//! limit, unknown server function) are rewritten into the same shape.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cortex_app::api::catalog;
use cortex_core::{ApiErrorBody, ErrorCode};
use cortex_server::ApiError;

const SERVER_FN_ERROR_HEADER: &str = "serverfnerror";
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Axum middleware; see the module docs.
pub async fn normalise(req: Request, next: Next) -> Response {
    // Kept for the error message only: a clone of the URI shares its bytes.
    let uri = req.uri().clone();
    let method = req.method().clone();
    let res = next.run(req).await;
    let path = uri.path();
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));

    if res.headers().contains_key(SERVER_FN_ERROR_HEADER)
        && status == StatusCode::INTERNAL_SERVER_ERROR
    {
        return with_code_status(res).await;
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return ApiError::new(
            ErrorCode::PayloadTooLarge,
            "request body is larger than CORTEX_MAX_BODY_BYTES allows",
        )
        .into_response();
    }
    if status == StatusCode::METHOD_NOT_ALLOWED && !is_json && !path.starts_with("/api/") {
        // axum's empty 405 for a page or probe called with another method.
        let takes = catalog::ENDPOINTS
            .iter()
            .find(|e| e.path == path)
            .map_or("GET", |e| e.method);
        return ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("{path} takes {takes}, not {method}"),
        )
        .into_response();
    }
    if path.starts_with("/api/")
        && matches!(
            status,
            StatusCode::BAD_REQUEST | StatusCode::METHOD_NOT_ALLOWED
        )
        && !is_json
    {
        // leptos_axum's plain-text answer for a path with no server function behind it, or
        // axum's empty 405 for a server function called with the wrong method.
        return unknown_endpoint(&method, path);
    }
    res
}

async fn with_code_status(res: Response) -> Response {
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ERROR_BODY).await else {
        return ApiError::new(ErrorCode::Internal, "internal error").into_response();
    };
    if let Ok(err) = serde_json::from_slice::<ApiErrorBody>(&bytes) {
        parts.status = StatusCode::from_u16(err.error.code.status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let Some(secs) = err.error.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                parts.headers.insert(header::RETRY_AFTER, v);
            }
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn unknown_endpoint(method: &Method, path: &str) -> Response {
    let other = catalog::ENDPOINTS
        .iter()
        .find(|e| e.path == path && e.method != method.as_str());
    match other {
        Some(e) => ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("{path} takes {}, not {method}", e.method),
        )
        .into_response(),
        None => ApiError::new(
            ErrorCode::NotFound,
            format!("no endpoint at {path}; see /api/openapi.json"),
        )
        .into_response(),
    }
}
