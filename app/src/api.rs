//! Server functions: the admin UI's backend and the public API, at fixed paths.
//!
//! Each one checks its role first (see [`catalog`] for the whole table), calls one service
//! method and maps the error. Reads are `GET` with a query string; writes are `POST` and take
//! a form body or JSON.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod browser_keys;
pub mod catalog;
pub mod commands;
pub mod experiments;
pub mod federation;
pub mod layouts;
pub mod migration;
pub mod overview;
pub mod releases;
pub mod review;
pub mod rollouts;
pub mod scopes;
pub mod shop;
pub mod status;
pub mod suggestions;
pub mod tokens;
pub mod users;

/// JSON as server_fn's `Json` writes it, read back in the browser as text
/// (`serde_json::from_str`), the way Leptos reads a resource's data from the page when it
/// hydrates. A resource's type is then deserialized by one piece of code instead of two (one
/// for bytes, one for text): the storefront's server function uses it, since every visitor
/// downloads its code.
pub struct TextJsonEncoding;

/// [`TextJsonEncoding`] as a server function's output.
pub type TextJson = leptos::server_fn::codec::Post<TextJsonEncoding>;

impl leptos::server_fn::ContentType for TextJsonEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl leptos::server_fn::FormatType for TextJsonEncoding {
    const FORMAT_TYPE: leptos::server_fn::Format = leptos::server_fn::Format::Text;
}

impl<T: serde::Serialize> leptos::server_fn::Encodes<T> for TextJsonEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<leptos::server_fn::Bytes, Self::Error> {
        serde_json::to_vec(output).map(leptos::server_fn::Bytes::from)
    }
}

impl<T: serde::de::DeserializeOwned> leptos::server_fn::Decodes<T> for TextJsonEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: leptos::server_fn::Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde::de::Error::custom)?;
        serde_json::from_str(text)
    }
}

#[cfg(feature = "ssr")]
pub(crate) mod guard {
    //! The role check every server function starts with.
    use crate::error::AppError;
    use cortex_core::{user::Principal, ErrorCode, Role};
    use cortex_server::auth::Authn;
    use cortex_server::Services;
    use leptos::prelude::*;

    /// The services and what the middleware found out about the caller.
    pub(crate) fn context() -> Result<(Services, Authn), AppError> {
        let services = use_context::<Services>()
            .ok_or_else(|| AppError::new(ErrorCode::Internal, "services missing from context"))?;
        // Everything behind a server function needs the database; while /readyz already
        // knows it is down, say so at once instead of waiting for a pool timeout.
        if !services.health.is_ready() {
            return Err(unavailable());
        }
        let authn = use_context::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<Authn>().cloned())
            .unwrap_or(Authn::Anonymous);
        Ok((services, authn))
    }

    fn unavailable() -> AppError {
        AppError::new(
            ErrorCode::Unavailable,
            "the database is unreachable; changes are refused until it is back (see /readyz)",
        )
    }

    /// Returns the services and the caller if the caller has at least `role`.
    pub(crate) fn require(role: Role) -> Result<(Services, Principal), AppError> {
        let (services, authn) = context()?;
        let principal = authn.require(role)?.clone();
        Ok((services, principal))
    }

    /// Writes are refused while the database is down, with a message that says so.
    pub(crate) fn require_writable(services: &Services) -> Result<(), AppError> {
        if services.health.is_ready() {
            Ok(())
        } else {
            Err(unavailable())
        }
    }

    /// Whether this call is a plain form post from a page without JavaScript (it accepts
    /// HTML): such a caller gets a redirect to a page that shows the outcome, not JSON.
    pub(crate) fn plain_form_post() -> bool {
        use_context::<axum::http::request::Parts>().is_some_and(|p| {
            p.headers
                .get(axum::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"))
        })
    }

    /// Adds a `Set-Cookie` header to the response.
    pub(crate) fn set_cookie(value: &str) {
        if let (Some(res), Ok(v)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            axum::http::HeaderValue::from_str(value),
        ) {
            res.append_header(axum::http::header::SET_COOKIE, v);
        }
    }

    /// The value of a request cookie.
    pub(crate) fn request_cookie(name: &str) -> Option<String> {
        let parts = use_context::<axum::http::request::Parts>()?;
        cortex_server::web::request_cookie(&parts.headers, name).map(str::to_string)
    }

    /// The cookies this hub sets (one set of flags, `Secure` when configured).
    pub(crate) fn cookies() -> Option<cortex_server::web::Cookies> {
        use_context::<Services>().map(|s| s.auth.cookies())
    }

    /// Whether the request is a plain HTML form post (no JavaScript): it will be redirected.
    pub(crate) fn is_plain_form_post() -> bool {
        use_context::<axum::http::request::Parts>()
            .and_then(|p| p.headers.get(axum::http::header::ACCEPT).cloned())
            .and_then(|v| v.to_str().ok().map(|v| v.contains("text/html")))
            .unwrap_or(false)
    }

    /// The client's address, for the sign-in limit.
    pub(crate) fn client_ip() -> Option<std::net::IpAddr> {
        use_context::<axum::http::request::Parts>().and_then(|p| {
            p.extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip())
        })
    }
}
