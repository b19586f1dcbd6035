//! The neuron-facing HTTP routes. They read the raw body (the signature covers its bytes),
//! so they are plain axum handlers rather than server functions.

use axum::body::Bytes;
use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use cortex_core::analytics::BatchAck;
use cortex_core::federation::Joined;

use crate::error::ApiError;
use crate::Services;

pub const REGISTER_PATH: &str = "/api/federation/register";
pub const HEARTBEAT_PATH: &str = "/api/federation/heartbeat";
pub const STREAM_ANALYTICS_PATH: &str = "/api/federation/stream-analytics";

/// `POST /api/federation/register` and `POST /api/federation/heartbeat`.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Services: FromRef<S>,
{
    Router::new()
        .route(REGISTER_PATH, post(register))
        .route(HEARTBEAT_PATH, post(heartbeat))
        .route(STREAM_ANALYTICS_PATH, post(stream_analytics))
        .route(super::channel::WS_PATH, get(super::channel::upgrade))
}

fn ready(services: &Services) -> Result<(), ApiError> {
    if services.health.is_ready() {
        Ok(())
    } else {
        Err(ApiError::from(crate::store::StoreError::Unavailable(
            "database not ready".into(),
        )))
    }
}

async fn register(
    State(services): State<Services>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Joined>, ApiError> {
    ready(&services)?;
    let joined = services
        .federation
        .register(&headers, REGISTER_PATH, &body, Utc::now())
        .await?;
    Ok(Json(joined))
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::new(
                cortex_core::ErrorCode::Unauthorized,
                "missing `Authorization: Bearer ctn_…` (the neuron token from registration)",
            )
        })
}

async fn heartbeat(
    State(services): State<Services>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Joined>, ApiError> {
    ready(&services)?;
    let joined = services
        .federation
        .heartbeat(bearer(&headers)?, &body, Utc::now())
        .await?;
    Ok(Json(joined))
}

/// Takes a batch of events. Needs no database: the batch is acknowledged once it is in the
/// spool, so neurons keep reporting while the database is away.
async fn stream_analytics(
    State(services): State<Services>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<BatchAck>, ApiError> {
    let neuron = services.federation.verify_token(bearer(&headers)?)?;
    let ack = services
        .analytics
        .ingest(&neuron, &body, Utc::now())
        .await?;
    Ok(Json(ack))
}
