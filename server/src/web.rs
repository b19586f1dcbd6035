//! One helper for each browser-facing primitive, so flags and checks cannot drift between
//! copies: the cookies the hub sets (built with the `cookie` crate, one set of flags), the
//! bearer token of a request, and the same-origin check.

use axum::http::{header, HeaderMap};
use cookie::{Cookie, SameSite};
use std::time::Duration;

/// The cookies the hub sets. `secure`: add `Secure` (the hub is reached over https, or
/// `CORTEX_SECURE_COOKIES` says so).
#[derive(Debug, Clone, Copy)]
pub struct Cookies {
    pub secure: bool,
}

/// Name of the sign-in session cookie.
pub const SESSION_COOKIE: &str = "cortex_session";
/// Name of the cookie that keeps an anonymous storefront visitor's id.
pub const VISITOR_COOKIE: &str = "cortex_vid";
/// Name of the cookie that keeps the variants a storefront visitor saw in bandit experiments
/// (see [`crate::mutations::sticky`]).
pub const STICKY_COOKIE: &str = "cortex_sticky";
/// Name of the cookie that carries a new API token's secret across the redirect of a form
/// post without JavaScript.
pub const FLASH_COOKIE: &str = "cortex_new_token";

impl Cookies {
    fn build(
        &self,
        name: &'static str,
        value: &str,
        path: &'static str,
        same_site: SameSite,
        max_age: Duration,
    ) -> String {
        Cookie::build((name, value.to_string()))
            .path(path)
            .http_only(true)
            .same_site(same_site)
            .secure(self.secure)
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
            ))
            .build()
            .to_string()
    }

    /// The session cookie holding a signed session token.
    pub fn session(&self, jwt: &str, ttl: Duration) -> String {
        self.build(SESSION_COOKIE, jwt, "/", SameSite::Strict, ttl)
    }

    /// Clears the session cookie.
    pub fn clear_session(&self) -> String {
        self.build(SESSION_COOKIE, "", "/", SameSite::Strict, Duration::ZERO)
    }

    /// A storefront visitor's id for a year. `Lax`: it must come along when a visitor
    /// follows a link to the shop from another site.
    pub fn visitor(&self, id: &str) -> String {
        self.build(
            VISITOR_COOKIE,
            id,
            "/",
            SameSite::Lax,
            Duration::from_secs(365 * 24 * 3600),
        )
    }

    /// The variants a storefront visitor saw in bandit experiments, for a year (encoded by
    /// [`crate::mutations::sticky::encode`]).
    pub fn sticky(&self, value: &str) -> String {
        self.build(
            STICKY_COOKIE,
            value,
            "/",
            SameSite::Lax,
            Duration::from_secs(365 * 24 * 3600),
        )
    }

    /// A new token's secret for five minutes, for the admin pages only.
    pub fn flash(&self, secret: &str) -> String {
        self.build(
            FLASH_COOKIE,
            secret,
            "/admin",
            SameSite::Strict,
            Duration::from_secs(300),
        )
    }

    /// Clears the flash cookie.
    pub fn clear_flash(&self) -> String {
        self.build(FLASH_COOKIE, "", "/admin", SameSite::Strict, Duration::ZERO)
    }
}

/// The value of request cookie `name` (the first non-empty one).
pub fn request_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, v)| *n == name && !v.is_empty())
        .map(|(_, v)| v.trim())
}

/// What a request's `Authorization` header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer<'h> {
    /// No `Authorization` header.
    Absent,
    /// `Authorization: Bearer <token>` (the scheme in any case, as RFC 6750 allows).
    Token(&'h str),
    /// Some other scheme, or an empty token.
    Malformed,
}

/// The bearer token of a request.
pub fn bearer(headers: &HeaderMap) -> Bearer<'_> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Bearer::Absent;
    };
    let Ok(value) = value.to_str() else {
        return Bearer::Malformed;
    };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => match token.trim() {
            "" => Bearer::Malformed,
            t => Bearer::Token(t),
        },
        _ => Bearer::Malformed,
    }
}

/// Whether a request says it comes from a page of this hub: `Some(true)` when its `Origin`
/// (or, without one, its `Referer`) names the host it was sent to, `Some(false)` when it
/// names another, `None` when it sends neither (or `Origin: null`).
pub fn same_origin(headers: &HeaderMap) -> Option<bool> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .filter(|v| *v != "null")?;
    let source_host = url::Url::parse(source).ok().map(|u| match u.port() {
        Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
        None => u.host_str().unwrap_or_default().to_string(),
    });
    Some(!host.is_empty() && source_host.as_deref() == Some(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn every_cookie_carries_the_same_flags() {
        for secure in [false, true] {
            let c = Cookies { secure };
            for set in [
                c.session("jwt", Duration::from_secs(60)),
                c.clear_session(),
                c.visitor("v1"),
                c.flash("ctx_x"),
                c.clear_flash(),
            ] {
                assert!(set.contains("HttpOnly"), "{set}");
                assert!(set.contains("SameSite="), "{set}");
                assert_eq!(set.contains("Secure"), secure, "{set}");
                assert!(set.contains("Path=/"), "{set}");
            }
        }
        assert!(Cookies { secure: false }
            .clear_session()
            .contains("Max-Age=0"));
    }

    #[test]
    fn bearer_tokens_in_any_case_and_nothing_else() {
        assert_eq!(bearer(&HeaderMap::new()), Bearer::Absent);
        let h = |v| headers(&[(header::AUTHORIZATION, v)]);
        assert_eq!(bearer(&h("Bearer abc")), Bearer::Token("abc"));
        assert_eq!(bearer(&h("bearer  abc ")), Bearer::Token("abc"));
        assert_eq!(bearer(&h("BEARER abc")), Bearer::Token("abc"));
        assert_eq!(bearer(&h("Basic abc")), Bearer::Malformed);
        assert_eq!(bearer(&h("Bearer ")), Bearer::Malformed);
        assert_eq!(bearer(&h("Bearerabc")), Bearer::Malformed);
    }

    #[test]
    fn same_origin_compares_host_and_port() {
        let h = |o: &str| headers(&[(header::HOST, "127.0.0.1:3000"), (header::ORIGIN, o)]);
        assert_eq!(same_origin(&h("http://127.0.0.1:3000")), Some(true));
        assert_eq!(same_origin(&h("http://127.0.0.1:3001")), Some(false));
        assert_eq!(same_origin(&h("http://evil.example")), Some(false));
        assert_eq!(same_origin(&h("null")), None);
        assert_eq!(
            same_origin(&headers(&[(header::HOST, "h:1")])),
            None,
            "neither Origin nor Referer"
        );
        let referer = headers(&[(header::HOST, "h:1"), (header::REFERER, "http://h:1/admin")]);
        assert_eq!(same_origin(&referer), Some(true));
    }

    #[test]
    fn finds_a_cookie_among_others() {
        let h = headers(&[(header::COOKIE, "a=1; cortex_session=tok; b=2")]);
        assert_eq!(request_cookie(&h, SESSION_COOKIE), Some("tok"));
        let empty = headers(&[(header::COOKIE, "cortex_session=")]);
        assert_eq!(request_cookie(&empty, SESSION_COOKIE), None);
    }
}
