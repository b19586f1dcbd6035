//! `AppError`: the error every server function returns. It is the wire body
//! `{"error":{"code","message"}}` itself, so browser, SSR and API clients see the same thing.

use cortex_core::{ApiErrorBody, ErrorCode};
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// A server function's error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(transparent)]
#[error("{}", .0.error.message)]
pub struct AppError(pub ApiErrorBody);

impl AppError {
    /// An error from a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ApiErrorBody::new(code, message))
    }
    /// The machine-readable code.
    pub fn code(&self) -> ErrorCode {
        self.0.error.code
    }
    /// The message for people.
    pub fn message(&self) -> &str {
        &self.0.error.message
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(e: ServerFnErrorErr) -> Self {
        match e {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::Deserialization(m) => {
                AppError::new(ErrorCode::BadRequest, format!("malformed input: {m}"))
            }
            ServerFnErrorErr::MissingArg(m) => {
                AppError::new(ErrorCode::BadRequest, format!("missing field: {m}"))
            }
            ServerFnErrorErr::Request(m) => AppError::new(
                ErrorCode::Unavailable,
                format!("could not reach Cortex: {m}"),
            ),
            ServerFnErrorErr::UnsupportedRequestMethod(m) => {
                AppError::new(ErrorCode::BadRequest, m)
            }
            ServerFnErrorErr::Registration(m) => AppError::new(ErrorCode::NotFound, m),
            other => AppError::new(ErrorCode::Internal, other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<cortex_server::ApiError> for AppError {
    fn from(e: cortex_server::ApiError) -> Self {
        let mut body = e.body();
        body.error.retry_after = e.retry_after;
        AppError(body)
    }
}
