//! `/healthz` (alive), `/readyz` (database ok) and `/metrics` (Prometheus).

use axum::extract::{FromRef, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

use crate::config::Backend;
use crate::health::DbHealth;

/// The `/readyz` body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `degraded`.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Whether the database answered and is migrated.
    pub database_ok: bool,
    /// The last database error, while it is not ok.
    pub error: Option<String>,
}

/// Routes for probes, generic over any state that holds their parts.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    DbHealth: FromRef<S>,
    Backend: FromRef<S>,
    PrometheusHandle: FromRef<S>,
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
) -> impl IntoResponse {
    let ok = health.is_ready();
    let body = Readiness {
        status: if ok { "ready" } else { "degraded" },
        backend: backend.as_str(),
        database_ok: ok,
        error: health.last_error(),
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, [(header::CACHE_CONTROL, "no-store")], Json(body))
}

async fn metrics(State(handle): State<PrometheusHandle>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
}
