//! `/healthz` (alive), `/readyz` (database ok) and `/metrics` (Prometheus, behind a bearer
//! token when `CORTEX_METRICS_TOKEN` is set).

use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

use crate::auth::api_token::constant_time_eq;
use crate::config::Backend;
use crate::db_health::DbHealth;
use crate::ApiError;
use cortex_core::ErrorCode;
use std::sync::Arc;

/// What `/metrics` serves, and the token it asks for (none: open to anyone who can reach it).
#[derive(Clone)]
pub struct Metrics {
    pub handle: PrometheusHandle,
    pub token: Option<Arc<str>>,
}

impl Metrics {
    /// Whether these request headers may read the metrics.
    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        crate::federation::http::bearer(headers)
            .is_ok_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
    }
}

/// The `/readyz` body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `degraded`.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Whether the database answered and is migrated.
    pub database_ok: bool,
    /// While it is not ok, that it is not (the error itself is on the Status page and in
    /// the log, not here: anyone can read `/readyz`).
    pub error: Option<String>,
    /// `ok`, or `full` while the analytics spool refuses batches (the disk is full or the
    /// backlog is at its limit); it resumes by itself when there is room.
    pub spool: &'static str,
}

/// Routes for probes, generic over any state that holds their parts.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    DbHealth: FromRef<S>,
    Backend: FromRef<S>,
    crate::analytics::Analytics: FromRef<S>,
    Metrics: FromRef<S>,
{
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], "ok")
}

async fn readyz(
    State(health): State<DbHealth>,
    State(backend): State<Backend>,
    State(analytics): State<crate::analytics::Analytics>,
) -> impl IntoResponse {
    let ok = health.is_ready();
    let spool_ok = analytics.spool().is_none_or(|s| s.refusing().is_none());
    let body = Readiness {
        status: if ok && spool_ok { "ready" } else { "degraded" },
        backend: backend.as_str(),
        database_ok: ok,
        error: (!ok).then(|| {
            if health.is_restoring() {
                "the database was replaced: the hub is restoring its control state into it"
            } else {
                "the database is unreachable or not migrated; see the Status page or the hub's log"
            }
            .to_string()
        }),
        spool: if spool_ok { "ok" } else { "full" },
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, [(header::CACHE_CONTROL, "no-store")], Json(body))
}

async fn metrics(State(metrics): State<Metrics>, headers: HeaderMap) -> Response {
    if !metrics.allows(&headers) {
        return ApiError::new(
            ErrorCode::Unauthorized,
            "send `Authorization: Bearer <CORTEX_METRICS_TOKEN>` (set it as the scraper's bearer token)",
        )
        .into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.handle.render(),
    )
        .into_response()
}
