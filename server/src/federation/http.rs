//! The neuron-facing HTTP routes. They read the raw body (the signature covers its bytes),
//! so they are plain axum handlers rather than server functions.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, State};
use axum::http::{header, Extensions, HeaderMap};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use cortex_core::analytics::BatchAck;
use cortex_core::federation::Joined;
use std::net::SocketAddr;

use super::browser::PresentedKey;
use super::signatures::Signed;
use super::unauthorized;
use super::Federation;
use crate::db_health::DbHealth;
use crate::error::ApiError;
use crate::Services;
use cortex_core::federation::headers;

pub const REGISTER_PATH: &str = "/api/federation/register";
pub const HEARTBEAT_PATH: &str = "/api/federation/heartbeat";
pub const STREAM_ANALYTICS_PATH: &str = "/api/federation/stream-analytics";
pub const WS_TICKET_PATH: &str = "/api/federation/ws-ticket";
pub const HUB_PATH: &str = "/api/federation/hub";
/// The routes neurons call (signed or with a neuron token; never with a cookie).
pub const NEURON_PATHS: [&str; 9] = [
    REGISTER_PATH,
    WS_TICKET_PATH,
    HUB_PATH,
    HEARTBEAT_PATH,
    STREAM_ANALYTICS_PATH,
    super::channel::WS_PATH,
    crate::mutations::http::APPLY_PATH,
    crate::mutations::http::SYNC_PATH,
    crate::mutations::http::REPORT_PATH,
];

/// `POST /api/federation/register`, `…/heartbeat`, `…/stream-analytics` and the channel.
/// Cross-origin requests (browser neurons) are answered for the origins of publishable keys.
pub fn router<S>(federation: &super::Federation) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Services: FromRef<S>,
    super::Federation: FromRef<S>,
    crate::mutations::Mutations: FromRef<S>,
    DbHealth: FromRef<S>,
{
    let fed = federation.clone();
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::AllowOrigin::predicate(
            move |origin: &axum::http::HeaderValue, _| {
                origin.to_str().is_ok_and(|o| fed.is_allowed_origin(o))
            },
        ))
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            axum::http::HeaderName::from_static(cortex_core::federation::PUBLISHABLE_KEY_HEADER),
        ])
        .max_age(std::time::Duration::from_secs(600))
        // The layer's own `Vary` list is copied and joined on every request; the same
        // header is added below as one constant.
        .vary([] as [header::HeaderName; 0]);
    Router::new()
        .route(REGISTER_PATH, post(register))
        .route(HEARTBEAT_PATH, post(heartbeat))
        .route(STREAM_ANALYTICS_PATH, post(stream_analytics))
        .route(WS_TICKET_PATH, post(ws_ticket))
        .route(HUB_PATH, get(hub_identity))
        .route(super::channel::WS_PATH, get(super::channel::upgrade))
        .route(
            crate::mutations::http::APPLY_PATH,
            post(crate::mutations::http::apply),
        )
        .route(
            crate::mutations::http::SYNC_PATH,
            post(crate::mutations::http::sync),
        )
        .route(
            crate::mutations::http::REPORT_PATH,
            get(crate::mutations::http::report).post(crate::mutations::http::report_events),
        )
        // One stack (outermost first): each `Router::layer` call boxes every route again.
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::middleware::map_response(vary_on_cors))
                .layer(cors),
        )
}

/// Answers on these routes depend on the CORS request headers (what tower-http's CORS layer
/// adds by default).
async fn vary_on_cors(mut res: axum::response::Response) -> axum::response::Response {
    res.headers_mut().append(
        header::VARY,
        axum::http::HeaderValue::from_static(
            "origin, access-control-request-method, access-control-request-headers",
        ),
    );
    res
}

fn ready(health: &DbHealth) -> Result<(), ApiError> {
    if health.is_ready() {
        Ok(())
    } else {
        Err(ApiError::from(crate::store::StoreError::Unavailable(
            "database not ready".into(),
        )))
    }
}

/// The client address, for counting refusals per source.
pub fn source(extensions: &Extensions) -> String {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".into(), |c| c.0.ip().to_string())
}

async fn register(
    State(federation): State<Federation>,
    State(health): State<DbHealth>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Joined>, ApiError> {
    ready(&health)?;
    // Before any work (the signature check costs CPU): a flood from one address is turned
    // away here, counted, and never reaches the database or the audit log.
    federation.check_registration_rate(&source(&extensions))?;
    super::registration::check_registration_size(&body)?;
    let browser = headers.contains_key(cortex_core::federation::PUBLISHABLE_KEY_HEADER);
    let joined = if browser {
        federation
            .register_browser(presented_key(&headers), &body, Utc::now())
            .await
    } else {
        match signed(&headers) {
            Ok(signed) => {
                federation
                    .register(&signed, REGISTER_PATH, &body, Utc::now())
                    .await
            }
            Err(e) => Err(e),
        }
    };
    match joined {
        Ok(joined) => Ok(Json(joined)),
        Err(e) => {
            let claimed = headers
                .get(cortex_core::federation::headers::NEURON)
                .and_then(|v| v.to_str().ok());
            federation
                .note_refusal(&source(&extensions), claimed, REGISTER_PATH, &e)
                .await;
            Err(e)
        }
    }
}

/// A publishable key and the origin a browser request presents it from.
pub(crate) fn presented_key(h: &HeaderMap) -> PresentedKey<'_> {
    let value = |name| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    PresentedKey {
        key: value(cortex_core::federation::PUBLISHABLE_KEY_HEADER),
        origin: value(header::ORIGIN.as_str()),
    }
}

/// The signature headers of a signed neuron request, or the 401 to answer.
fn header<'a>(h: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    h.get(name).and_then(|v| v.to_str().ok()).ok_or_else(|| {
        unauthorized(format!(
            "missing `{name}` header: neuron requests are signed (see README_federation.md)"
        ))
    })
}

pub(crate) fn signed(h: &HeaderMap) -> Result<Signed<'_>, ApiError> {
    // A request missing several headers hears of the first.
    let neuron = header(h, headers::NEURON)?;
    let timestamp = header(h, headers::TIMESTAMP)?;
    let nonce = header(h, headers::NONCE)?;
    let signature = header(h, headers::SIGNATURE)?;
    Signed::parse(neuron, timestamp, nonce, signature)
}

/// What a request's neuron token says; a missing or bad token is counted against the
/// request's source as a refusal.
pub(crate) async fn neuron_of(
    federation: &Federation,
    extensions: &Extensions,
    token: Result<&str, ApiError>,
    route: &str,
) -> Result<super::tokens::NeuronToken, ApiError> {
    let checked = token.and_then(|t| federation.verify_token(t));
    if let Err(e) = &checked {
        federation
            .note_refusal(&source(extensions), None, route, e)
            .await;
    }
    checked
}

/// The request's bearer token (see [`crate::web::bearer`]), or the 401 to answer.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    match crate::web::bearer(headers) {
        crate::web::Bearer::Token(t) => Ok(t),
        _ => Err(ApiError::new(
            cortex_core::ErrorCode::Unauthorized,
            "missing `Authorization: Bearer ctn_…` (the neuron token from registration)",
        )),
    }
}

async fn heartbeat(
    State(federation): State<Federation>,
    State(health): State<DbHealth>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Joined>, ApiError> {
    ready(&health)?;
    let neuron = neuron_of(&federation, &extensions, bearer(&headers), HEARTBEAT_PATH).await?;
    let joined = federation.heartbeat(&neuron.id, &body, Utc::now()).await?;
    Ok(Json(joined))
}

/// Takes a batch of events. Needs no database: the batch is acknowledged once it is in the
/// spool, so neurons keep reporting while the database is away.
async fn stream_analytics(
    State(services): State<Services>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<BatchAck>, ApiError> {
    let neuron = neuron_of(
        &services.federation,
        &extensions,
        bearer(&headers),
        STREAM_ANALYTICS_PATH,
    )
    .await?;
    if neuron.browser {
        // A browser app's events are public traffic, about rules only with a receipt.
        let batch = crate::analytics::Analytics::parse(&body)?;
        let ack = crate::mutations::http::browser_events(&services, &neuron.id, batch, Utc::now())
            .await?;
        return Ok(Json(ack));
    }
    let ack = services
        .analytics
        .ingest(&neuron.id, &body, Utc::now())
        .await?;
    Ok(Json(ack))
}

/// A one-time ticket for the push channel (`GET /api/federation/ws?ticket=…`), for browsers,
/// which cannot send `Authorization` on a WebSocket.
async fn ws_ticket(
    State(federation): State<Federation>,
    extensions: Extensions,
    headers: HeaderMap,
) -> Result<Json<cortex_core::federation::WsTicket>, ApiError> {
    let said = neuron_of(&federation, &extensions, bearer(&headers), WS_TICKET_PATH).await?;
    let (ticket, expires_at) = federation.issue_ws_ticket(&said, Utc::now())?;
    Ok(Json(cortex_core::federation::WsTicket {
        ticket,
        expires_at,
    }))
}

/// Who this hub is, for signing: registrations sign the hub's id, so a captured one cannot
/// be replayed against another hub.
async fn hub_identity(
    State(federation): State<Federation>,
    State(health): State<DbHealth>,
) -> Result<Json<cortex_core::federation::HubIdentity>, ApiError> {
    ready(&health)?;
    Ok(Json(federation.identity().await?))
}
