//! The error shape every public endpoint answers with: `{"error":{"code","message"}}`.

use serde::{Deserialize, Serialize};

/// Machine-readable error codes. Each maps to exactly one HTTP status (see [`ErrorCode::status`]).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The input was malformed or failed validation.
    BadRequest,
    /// No credentials, or credentials that are invalid, expired or tampered with.
    Unauthorized,
    /// Valid credentials without the role the endpoint needs, or a failed CSRF check.
    Forbidden,
    /// The thing named does not exist.
    NotFound,
    /// The path exists but not for this HTTP method.
    MethodNotAllowed,
    /// The request conflicts with the current state (duplicate name, setup already done).
    Conflict,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// Too many attempts; retry later.
    RateLimited,
    /// The database is unreachable; the hub serves what it can and refuses writes.
    Unavailable,
    /// A bug or an unexpected fault; details are in the server log under the request id.
    Internal,
}

impl ErrorCode {
    /// The HTTP status for this code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// The inner object of an error response.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorDetail {
    /// What kind of error, for programs.
    pub code: ErrorCode,
    /// What went wrong and what to fix, for people.
    pub message: String,
    /// For `rate_limited`: seconds to wait (also sent as `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// An error response body: `{"error":{"code":"...","message":"..."}}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// The error.
    pub error: ApiErrorDetail,
}

/// Longest error message sent: messages quote the input they refuse, and a megabyte of
/// input must not come back as a megabyte of error.
pub const MAX_ERROR_MESSAGE: usize = 1000;

impl ApiErrorBody {
    /// Builds a body from a code and a message (cut to [`MAX_ERROR_MESSAGE`] bytes).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_ERROR_MESSAGE {
            let mut cut = MAX_ERROR_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        Self {
            error: ApiErrorDetail {
                code,
                message,
                retry_after: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut() {
        let body = ApiErrorBody::new(ErrorCode::BadRequest, "é".repeat(5000));
        assert!(body.error.message.len() <= MAX_ERROR_MESSAGE + '…'.len_utf8());
        assert!(body.error.message.ends_with('…'));
    }

    #[test]
    fn error_body_has_the_documented_shape() {
        let body = ApiErrorBody::new(ErrorCode::PayloadTooLarge, "too big");
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "payload_too_large", "message": "too big"}})
        );
        assert_eq!(ErrorCode::PayloadTooLarge.status(), 413);
    }

    #[test]
    fn code_names_match_serde() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::Unauthorized,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::Conflict,
            ErrorCode::PayloadTooLarge,
            ErrorCode::RateLimited,
            ErrorCode::Unavailable,
            ErrorCode::Internal,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }
}
