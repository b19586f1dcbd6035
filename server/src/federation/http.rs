//! The neuron-facing HTTP routes. They read the raw body (the signature covers its bytes),
//! so they are plain axum handlers rather than server functions.

use axum::body::Bytes;
use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use cortex_core::federation::Joined;

use crate::error::ApiError;
use crate::Services;

pub const REGISTER_PATH: &str = "/api/federation/register";
pub const HEARTBEAT_PATH: &str = "/api/federation/heartbeat";

/// `POST /api/federation/register` and `POST /api/federation/heartbeat`.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Services: FromRef<S>,
{
    Router::new()
        .route(REGISTER_PATH, post(register))
        .route(HEARTBEAT_PATH, post(heartbeat))
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

async fn heartbeat(
    State(services): State<Services>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Joined>, ApiError> {
    ready(&services)?;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::new(
                cortex_core::ErrorCode::Unauthorized,
                "missing `Authorization: Bearer ctn_…` (the neuron token from registration)",
            )
        })?;
    let joined = services
        .federation
        .heartbeat(bearer.trim(), &body, Utc::now())
        .await?;
    Ok(Json(joined))
}
