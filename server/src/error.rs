//! `ApiError`: the one place where every layer's error becomes an HTTP status and the
//! `{"error":{"code","message"}}` body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cortex_core::{ApiErrorBody, ErrorCode};

use crate::auth::AuthError;
use crate::store::StoreError;

/// An error as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds to wait before retrying (sent as `Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    /// 400 with what to fix.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
    /// The wire body.
    pub fn body(&self) -> ApiErrorBody {
        ApiErrorBody::new(self.code, self.message.clone())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
            StoreError::NotFound(m) => ApiError::new(ErrorCode::NotFound, m),
            StoreError::Unavailable(m) => {
                // The health watch logs the outage once, with how much it refused.
                crate::db_health::note_refused();
                tracing::debug!(error = %m, "database unavailable");
                ApiError::new(
                    ErrorCode::Unavailable,
                    "the database is unreachable; changes are refused until it is back (see /readyz)",
                )
            }
            StoreError::Other(m) => {
                tracing::error!(error = %m, "store error");
                ApiError::new(
                    ErrorCode::Internal,
                    "internal error; see the server log for this request id",
                )
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let message = e.to_string();
        let (code, retry_after) = match e {
            AuthError::Store(s) => return s.into(),
            AuthError::Internal(m) => {
                tracing::error!(error = %m, "auth internal error");
                return ApiError::new(
                    ErrorCode::Internal,
                    "internal error; see the server log for this request id",
                );
            }
            AuthError::InvalidCredentials | AuthError::Unauthenticated(_) => {
                (ErrorCode::Unauthorized, None)
            }
            AuthError::Forbidden(_) | AuthError::Csrf(_) => (ErrorCode::Forbidden, None),
            AuthError::Invalid(_) => (ErrorCode::BadRequest, None),
            AuthError::RateLimited { retry_after } => {
                (ErrorCode::RateLimited, Some(retry_after.as_secs().max(1)))
            }
            AuthError::Busy => (ErrorCode::Unavailable, Some(2)),
        };
        ApiError {
            code,
            message,
            retry_after,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status(), axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}
