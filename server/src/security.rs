//! Security headers on every response. HTML pages get a Content-Security-Policy that lets
//! scripts run only from this origin or with the page's own nonce (Leptos puts it on its
//! hydration scripts), so markup that slipped into a page cannot run; no page may be framed
//! by another site; browsers must not guess content types; and over https, browsers are
//! told to stay on https.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The Content-Security-Policy of an HTML page whose inline scripts carry `nonce`.
/// `wasm-unsafe-eval` lets the page compile its own WebAssembly (it grants no `eval`);
/// styles may be inline (Tailwind classes and a few `style` attributes, which cannot run
/// code).
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; \
         font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// The policy if the nonce could not go in a header (no inline script may run).
const FALLBACK_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; \
     object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Settings of [`headers`].
#[derive(Debug, Clone, Copy)]
pub struct HeaderSettings {
    /// Send `Strict-Transport-Security` (the hub's public URL is https).
    pub hsts: bool,
}

/// The nonce of one response's inline scripts, made by [`headers`] and handed to the page
/// renderer in the request's extensions (the app gives it to Leptos, which puts it on its
/// hydration scripts), so the header and the page always agree.
#[derive(Debug, Clone)]
pub struct CspNonce(pub std::sync::Arc<str>);

impl CspNonce {
    fn fresh() -> Self {
        use base64::Engine as _;
        let mut bytes = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
        Self(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(bytes)
                .into(),
        )
    }
}

/// Axum middleware: adds the security headers to every response, and the page's
/// Content-Security-Policy with a fresh nonce to every HTML page.
pub async fn headers(
    State(settings): State<HeaderSettings>,
    mut req: Request,
    next: Next,
) -> Response {
    let nonce = CspNonce::fresh();
    req.extensions_mut().insert(nonce.clone());
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if settings.hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        let csp = HeaderValue::from_str(&content_security_policy(&nonce.0))
            .unwrap_or(HeaderValue::from_static(FALLBACK_CSP));
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_only_this_origin_and_the_nonce_to_run_scripts() {
        let csp = content_security_policy("abc123");
        assert!(csp.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval';"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains(" 'unsafe-eval'"));
        assert!(!csp.contains("script-src 'self' 'unsafe-inline'"));
        assert!(HeaderValue::from_str(&csp).is_ok());
    }
}
