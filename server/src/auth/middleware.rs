//! The authentication middleware: resolves credentials once per request into an [`Authn`]
//! in the request's extensions, and refuses cross-site writes (CSRF).

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{api_token::TOKEN_PREFIX, AuthError, AuthService, Authn, Credential};
use crate::db_health::DbHealth;
use crate::error::ApiError;
use crate::web::{self, Bearer};

/// Paths that never need a principal (static files and probes), skipped to save a lookup.
fn is_public_asset(path: &str) -> bool {
    path.starts_with("/pkg/")
        || path == "/favicon.ico"
        || path == "/healthz"
        || path == "/readyz"
        || path == "/metrics"
}

/// Axum middleware: attaches [`Authn`] and enforces the CSRF rule for unsafe methods.
/// Its state is one reference count: axum clones every route's middleware for each request.
pub async fn authenticate(
    State(state): State<std::sync::Arc<(AuthService, DbHealth)>>,
    mut req: Request,
    next: Next,
) -> Response {
    let (auth, health) = &*state;
    if is_public_asset(req.uri().path()) {
        return next.run(req).await;
    }
    let authn = if health.is_ready() || !has_credentials(req.headers()) {
        resolve(auth, req.headers()).await
    } else {
        // Credentials cannot be checked without the database; do not wait for a pool timeout.
        Authn::Rejected(ApiError::from(crate::store::StoreError::Unavailable(
            "database not ready".into(),
        )))
    };
    // Neuron routes authenticate with signatures or neuron tokens, never cookies, and browser
    // neurons call them cross-origin (CORS decides which origins): no CSRF check there.
    let neuron_route = crate::federation::http::NEURON_PATHS.contains(&req.uri().path());
    let checked = if neuron_route {
        Ok(())
    } else {
        csrf_check(req.method(), req.headers(), &authn)
    };
    if let Err(e) = checked {
        return ApiError::from(e).into_response();
    }
    req.extensions_mut().insert(authn);
    next.run(req).await
}

fn has_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION) || session_cookie(headers).is_some()
}

async fn resolve(auth: &AuthService, headers: &HeaderMap) -> Authn {
    let result = match web::bearer(headers) {
        Bearer::Malformed => Err(AuthError::Unauthenticated(
            "Authorization header must be `Bearer <token>`".into(),
        )),
        // Neuron tokens open neuron routes only, which check them themselves.
        Bearer::Token(token) if token.starts_with(crate::federation::NEURON_TOKEN_PREFIX) => {
            return Authn::Anonymous
        }
        Bearer::Token(token) if token.starts_with(TOKEN_PREFIX) => auth
            .principal_for_token(token)
            .await
            .map(|p| (p, Credential::ApiToken)),
        Bearer::Token(token) => auth
            .principal_for_session(token)
            .await
            .map(|(p, session_id)| (p, Credential::SessionBearer { session_id })),
        Bearer::Absent => match session_cookie(headers) {
            Some(jwt) => auth
                .principal_for_session(jwt)
                .await
                .map(|(p, session_id)| (p, Credential::SessionCookie { session_id })),
            None => return Authn::Anonymous,
        },
    };
    match result {
        Ok((principal, credential)) => Authn::Authenticated {
            principal,
            credential,
        },
        Err(e) => Authn::Rejected(e.into()),
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    web::request_cookie(headers, web::SESSION_COOKIE)
}

/// Unsafe methods must come from this site. A present `Origin` (or `Referer`) must name the
/// host the request was sent to; a cookie-authenticated write without either is refused.
/// Requests authenticated by a bearer token carry no ambient authority and are not checked
/// unless they send an `Origin`.
fn csrf_check(method: &Method, headers: &HeaderMap, authn: &Authn) -> Result<(), AuthError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    match web::same_origin(headers) {
        Some(true) => Ok(()),
        Some(false) => {
            let source = headers
                .get(header::ORIGIN)
                .or_else(|| headers.get(header::REFERER))
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            Err(AuthError::Csrf(format!(
                "origin `{source}` does not match host `{host}`"
            )))
        }
        None if matches!(
            authn,
            Authn::Authenticated {
                credential: Credential::SessionCookie { .. },
                ..
            }
        ) =>
        {
            Err(AuthError::Csrf(
                "a cookie-authenticated write must send an Origin or Referer header".into(),
            ))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use cortex_core::{user::Principal, Role};

    fn cookie_authn() -> Authn {
        Authn::Authenticated {
            principal: Principal {
                actor: "user:a".into(),
                role: Role::Admin,
                user_id: None,
            },
            credential: Credential::SessionCookie {
                session_id: "s".into(),
            },
        }
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn same_origin_writes_pass_cross_origin_writes_fail() {
        let ok = headers(&[
            (header::HOST, "127.0.0.1:3000"),
            (header::ORIGIN, "http://127.0.0.1:3000"),
        ]);
        assert!(csrf_check(&Method::POST, &ok, &cookie_authn()).is_ok());
        let evil = headers(&[
            (header::HOST, "127.0.0.1:3000"),
            (header::ORIGIN, "http://evil.example"),
        ]);
        assert!(csrf_check(&Method::POST, &evil, &cookie_authn()).is_err());
        assert!(csrf_check(&Method::POST, &evil, &Authn::Anonymous).is_err());
        assert!(csrf_check(&Method::GET, &evil, &cookie_authn()).is_ok());
    }

    #[test]
    fn cookie_writes_need_an_origin_but_token_writes_do_not() {
        let bare = headers(&[(header::HOST, "127.0.0.1:3000")]);
        assert!(csrf_check(&Method::POST, &bare, &cookie_authn()).is_err());
        assert!(csrf_check(&Method::POST, &bare, &Authn::Anonymous).is_ok());
        let referer = headers(&[(header::HOST, "h:1"), (header::REFERER, "http://h:1/admin")]);
        assert!(csrf_check(&Method::POST, &referer, &cookie_authn()).is_ok());
    }
}
