//! `POST /api/layout-mutation/apply`: a plain axum handler (it reads the raw body, so it can
//! limit and explain a bad one, and it accepts neuron credentials, which server functions do
//! not see). Served with the neuron routes, so browser apps on a publishable key's origins
//! may call it cross-origin.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap};
use axum::Json;
use chrono::Utc;
use cortex_core::rules::{Applied, ApplyRequest, MAX_APPLY_BYTES};
use cortex_core::{ErrorCode, Role};

use crate::auth::Authn;
use crate::error::ApiError;
use crate::Services;

pub const APPLY_PATH: &str = "/api/layout-mutation/apply";
pub const SYNC_PATH: &str = "/api/layout-mutation/sync";
pub const REPORT_PATH: &str = "/api/layout-mutation/report";
/// The analytics source of events the storefront's own pages report.
pub const STOREFRONT_SOURCE: &str = "storefront";
/// Most events one `apply` may report.
pub const MAX_APPLY_EVENTS: usize = 50;
/// Largest sync body (an import carries a whole rule set).
pub const MAX_SYNC_BYTES: usize = 4 * 1024 * 1024;

/// Who is calling a layout-mutation route.
pub enum Caller {
    /// A neuron, by its token (a browser neuron's token is narrower: see
    /// [`crate::federation::tokens::NeuronToken::browser`]).
    Neuron(crate::federation::tokens::NeuronToken),
    /// A browser app, by a publishable key from one of its origins (the key's name).
    Browser(String),
    /// A signed-in user or API token (viewer and up, for previews and reports).
    User,
}

impl Caller {
    /// The analytics source events from this caller are recorded under.
    fn source(&self) -> Option<String> {
        match self {
            Caller::Neuron(t) => Some(t.id.clone()),
            Caller::Browser(key) => Some(format!("browser:{key}")),
            Caller::User => None,
        }
    }
}

/// Who may resolve pages: a neuron (its token), a browser app (a publishable key from one of
/// its origins) or a signed-in user or API token (viewer and up, for previews).
async fn check_caller(
    services: &Services,
    extensions: &Extensions,
    headers: &HeaderMap,
    route: &str,
) -> Result<Caller, ApiError> {
    let bearer = crate::federation::http::bearer(headers).ok();
    if let Some(token) = bearer.filter(|t| t.starts_with(crate::federation::NEURON_TOKEN_PREFIX)) {
        return crate::federation::http::neuron_of(services, extensions, Ok(token), route)
            .await
            .map(Caller::Neuron);
    }
    if headers.contains_key(cortex_core::federation::PUBLISHABLE_KEY_HEADER) {
        return services
            .federation
            .check_publishable_key(headers)
            .await
            .map(|k| Caller::Browser(k.name));
    }
    extensions
        .get::<Authn>()
        .cloned()
        .unwrap_or(Authn::Anonymous)
        .require(Role::Viewer)
        .map(|_| Caller::User)
        .map_err(|e| {
            if e.code == ErrorCode::Unauthorized {
                ApiError::new(
                    ErrorCode::Unauthorized,
                    "send a neuron token (Authorization: Bearer ctn_…), a publishable key (x-cortex-publishable-key) or a user's credentials",
                )
            } else {
                e
            }
        })
}

/// Resolves a page for a visitor. The hottest route: it takes the request whole (extracting
/// headers and extensions would copy them), and visitors whose rules decide alike share one
/// serialised answer.
pub async fn apply(
    State(services): State<Services>,
    req: axum::extract::Request,
) -> Result<JsonBytes, ApiError> {
    let (parts, body) = req.into_parts();
    check_caller(&services, &parts.extensions, &parts.headers, APPLY_PATH).await?;
    let body = axum::body::to_bytes(body, MAX_APPLY_BYTES)
        .await
        .map_err(|e| {
            // This limit or the hub's (CORTEX_MAX_BODY_BYTES), whichever the body hit first.
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            let over_limit = std::iter::from_fn(|| {
                let now = cause?;
                cause = now.source();
                Some(now)
            })
            .any(|c| c.is::<http_body_util::LengthLimitError>());
            if over_limit {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("request is over {MAX_APPLY_BYTES} bytes, the most apply takes (a context that large is not a visitor's)"),
                )
            } else {
                ApiError::bad_request(format!("the request body could not be read: {e}"))
            }
        })?;
    let req: ApplyRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "body is not an apply request ({{\"pageSlug\": …, \"context\": {{…}}, \"explain\": false}}): {e}"
        ))
    })?;
    let slug = req.page_slug.trim();
    if slug.is_empty() || slug.len() > 100 {
        return Err(ApiError::bad_request("pageSlug: 1-100 characters"));
    }
    if req.events.len() > MAX_APPLY_EVENTS {
        return Err(ApiError::bad_request(format!(
            "events: at most {MAX_APPLY_EVENTS} (report each kind of event once, the largest scroll depth and time on page)"
        )));
    }
    Ok(JsonBytes(
        services.mutations.apply_json(&req, Utc::now()).await?,
    ))
}

/// A JSON answer already serialised (`apply` reuses answers between visitors).
pub struct JsonBytes(Bytes);

impl axum::response::IntoResponse for JsonBytes {
    fn into_response(self) -> axum::response::Response {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}

/// Sync: `{"revision": n}` answers nothing new, the changes since `n`, or the full rule set
/// (callers as for apply). `{"import": <rule set>}` imports another hub's export: an editor,
/// with an API token (not a browser session, since this route skips the same-origin check).
pub async fn sync(
    State(services): State<Services>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<cortex_core::rules::SyncAnswer>, ApiError> {
    use cortex_core::rules::SyncRequest;
    if body.len() > MAX_SYNC_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request is {} bytes; at most {MAX_SYNC_BYTES}", body.len()),
        ));
    }
    let req: SyncRequest = if body.is_empty() {
        SyncRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "body is not a sync request ({{\"revision\": n}} or {{\"import\": {{…}}}}): {e}"
            ))
        })?
    };
    match (req.revision, req.import) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "send either `revision` (to sync) or `import` (to import), not both",
        )),
        (_, Some(set)) => {
            let authn = extensions
                .get::<Authn>()
                .cloned()
                .unwrap_or(Authn::Anonymous);
            let principal = authn.require(Role::Editor)?.clone();
            if matches!(
                authn,
                Authn::Authenticated {
                    credential: crate::auth::Credential::SessionCookie { .. },
                    ..
                }
            ) {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "import with an API token (Authorization: Bearer ctx_…), not a browser session",
                ));
            }
            if !services.health.is_ready() {
                return Err(ApiError::from(crate::store::StoreError::Unavailable(
                    "database not ready".into(),
                )));
            }
            Ok(Json(
                services
                    .mutations
                    .import(set, &principal.actor, |_, _| {})
                    .await?,
            ))
        }
        (held, None) => {
            check_caller(&services, &extensions, &headers, SYNC_PATH).await?;
            Ok(Json(services.mutations.sync(held.unwrap_or(0)).await?))
        }
    }
}

/// Records a batch of exposures and outcomes (`view`, `click`, `conversion`, `dwell`) as
/// analytics events, acknowledged once durable. Callers: a neuron, a browser app with its
/// publishable key, or this hub's own storefront pages (same origin, no credential).
pub async fn report_events(
    State(services): State<Services>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<cortex_core::analytics::BatchAck>, ApiError> {
    let credentialed = headers.contains_key(axum::http::header::AUTHORIZATION)
        || headers.contains_key(cortex_core::federation::PUBLISHABLE_KEY_HEADER);
    let source = if credentialed {
        check_caller(&services, &extensions, &headers, REPORT_PATH)
            .await?
            .source()
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Forbidden,
                    "users read reports; events come from neurons (a neuron token), browser apps (a publishable key) or the storefront",
                )
            })?
    } else if crate::web::same_origin(&headers) == Some(true) {
        return Ok(Json(storefront_events(&services, &headers, &body).await?));
    } else {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "send a neuron token (Authorization: Bearer ctn_…) or a publishable key (x-cortex-publishable-key); only this hub's own pages report without one",
        ));
    };
    Ok(Json(
        services
            .analytics
            .ingest(&source, &body, Utc::now())
            .await?,
    ))
}

/// Impact of the rules: per rule and variant, per day, and experiment comparisons, with
/// 95 % intervals. Filters: `page`, `rule`, `variant`, `from`, `to` (RFC 3339). Viewers and
/// neurons.
pub async fn report(
    State(services): State<Services>,
    extensions: Extensions,
    headers: HeaderMap,
    query: Result<
        axum::extract::Query<cortex_core::report::ReportQuery>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Json<cortex_core::report::LayoutReport>, ApiError> {
    match check_caller(&services, &extensions, &headers, REPORT_PATH).await? {
        Caller::Browser(_) => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "reports are for users and neurons, not publishable keys",
            ))
        }
        Caller::Neuron(t) if t.browser => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "reports are for users and server neurons, not browser neurons",
            ))
        }
        _ => {}
    }
    let axum::extract::Query(query) = query.map_err(|e| {
        ApiError::bad_request(format!(
            "query: {} (filters: page, rule, variant, from, to as RFC 3339)",
            e.body_text()
        ))
    })?;
    Ok(Json(services.mutations.report(&query, Utc::now()).await?))
}

/// Events from the storefront's own pages: a visitor's browser cannot read its (HttpOnly)
/// visitor cookie, so events without a `unit` get it here.
async fn storefront_events(
    services: &Services,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<cortex_core::analytics::BatchAck, ApiError> {
    let mut batch = crate::analytics::Analytics::parse(body)?;
    if let Some(visitor) = visitor_cookie(headers) {
        for e in batch.events.iter_mut().filter(|e| e.unit.is_none()) {
            e.unit = Some(visitor.to_string());
        }
    }
    let body = serde_json::to_vec(&batch)
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    services
        .analytics
        .ingest_parsed(STOREFRONT_SOURCE, &batch, &body, Utc::now())
        .await
}

/// The storefront's visitor cookie, if it is well formed.
pub fn visitor_cookie(headers: &HeaderMap) -> Option<&str> {
    crate::web::request_cookie(headers, VISITOR_COOKIE).filter(|v| valid_visitor_id(v))
}

pub use crate::web::VISITOR_COOKIE;

/// A visitor id as the storefront issues them.
pub fn valid_visitor_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Records a storefront page view and its exposures (the server rendered them, so they are
/// counted with or without JavaScript). In the background: the page does not wait for the
/// spool, and a full spool only loses these counts (logged).
pub fn record_storefront_view(services: &Services, unit: Option<String>, applied: &Applied) {
    use cortex_core::analytics::{Event, EventBatch, EventKind};
    let now = Utc::now();
    let event = |kind| Event {
        unit: unit.clone(),
        page_slug: Some(applied.layout.page_slug.clone()),
        ..Event::new(kind, now)
    };
    let mut events = vec![event(EventKind::PageView)];
    events.extend(applied.exposures.iter().map(|x| Event {
        mutation_id: Some(x.rule_id.to_string()),
        variant: x.variant_key.as_ref().map(|v| v.to_string()),
        ..event(EventKind::Exposure)
    }));
    let batch = EventBatch {
        batch_id: uuid::Uuid::new_v4().to_string(),
        events,
    };
    let analytics = services.analytics.clone();
    tokio::spawn(async move {
        let Ok(body) = serde_json::to_vec(&batch) else {
            return;
        };
        if let Err(e) = analytics
            .ingest_parsed(STOREFRONT_SOURCE, &batch, &body, now)
            .await
        {
            metrics::counter!("cortex_storefront_views_lost_total").increment(1);
            tracing::warn!(error = %e.message, "storefront page view not recorded");
        }
    });
}
