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
use crate::federation::Federation;
use crate::Services;

pub const APPLY_PATH: &str = "/api/layout-mutation/apply";
pub const SYNC_PATH: &str = "/api/layout-mutation/sync";
pub const REPORT_PATH: &str = "/api/layout-mutation/report";
/// The analytics source of events the storefront's own pages report.
pub use crate::analytics::STOREFRONT_SOURCE;
/// Most events one `apply` may report.
pub use cortex_core::rules::MAX_APPLY_EVENTS;
/// Largest sync body (an import carries a whole rule set).
pub const MAX_SYNC_BYTES: usize = 4 * 1024 * 1024;
/// Largest body of a plain sync (it says a revision).
pub const MAX_SYNC_REQUEST_BYTES: usize = 4 * 1024;

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
    /// A browser app: a publishable key, or the token of a neuron that joined with one.
    fn is_browser(&self) -> bool {
        match self {
            Caller::Browser(_) => true,
            Caller::Neuron(t) => t.browser,
            Caller::User => false,
        }
    }

    /// The analytics source events from this caller are recorded under.
    fn source(&self) -> Option<String> {
        match self {
            Caller::Neuron(t) => Some(t.id.clone()),
            Caller::Browser(key) => Some(format!("{}{key}", crate::store::rollup::BROWSER_SOURCE)),
            Caller::User => None,
        }
    }
}

/// Who may resolve pages: a neuron (its token), a browser app (a publishable key from one of
/// its origins) or a signed-in user or API token (viewer and up, for previews).
async fn check_caller(
    federation: &Federation,
    extensions: &Extensions,
    headers: &HeaderMap,
    route: &str,
) -> Result<Caller, ApiError> {
    let bearer = crate::federation::http::bearer(headers).ok();
    if let Some(token) = bearer.filter(|t| t.starts_with(crate::federation::NEURON_TOKEN_PREFIX)) {
        return crate::federation::http::neuron_of(federation, extensions, Ok(token), route)
            .await
            .map(Caller::Neuron);
    }
    if headers.contains_key(cortex_core::federation::PUBLISHABLE_KEY_HEADER) {
        return federation
            .check_publishable_key(crate::federation::http::presented_key(headers))
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
    let caller = check_caller(
        &services.federation,
        &parts.extensions,
        &parts.headers,
        APPLY_PATH,
    )
    .await?;
    let body = read_body(
        body,
        MAX_APPLY_BYTES,
        "the most apply takes (a context that large is not a visitor's)",
    )
    .await?;
    let req: ApplyRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "body is not an apply request ({{\"pageSlug\": …, \"context\": {{…}}, \"explain\": false}}): {e}"
        ))
    })?;
    req.check().map_err(ApiError::bad_request)?;
    if caller.is_browser() {
        // A browser app gets the receipt its events about these rules must carry (its own,
        // per visitor: not the answer shared between visitors).
        let now = Utc::now();
        let mut applied = services.mutations.apply(&req, now).await?;
        let unit = req
            .context
            .user_id
            .clone()
            .or(req.context.anonymous_id.clone());
        let segment = req.context.segment(now);
        applied.receipt = Some(receipt_of(
            &services.receipts,
            unit,
            segment,
            &applied,
            &[],
            now,
        ));
        let bytes = serde_json::to_vec(&applied)
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        return Ok(JsonBytes(bytes.into()));
    }
    Ok(
        match services.mutations.apply_shared(&req, Utc::now()).await? {
            super::Answer::Shared(json) => JsonBytes(json.bytes()),
            super::Answer::Own(applied) => JsonBytes(
                serde_json::to_vec(&applied)
                    .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
                    .into(),
            ),
        },
    )
}

/// Reads a body of at most `limit` bytes (413 over it, or over the hub's own limit; 400 if
/// it cannot be read). Called once the caller is known, so nobody unknown makes the hub
/// read a large body.
async fn read_body(body: axum::body::Body, limit: usize, why: &str) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
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
                format!("request is over {limit} bytes, {why}"),
            )
        } else {
            ApiError::bad_request(format!("the request body could not be read: {e}"))
        }
    })
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
    State(federation): State<Federation>,
    State(mutations): State<super::Mutations>,
    State(health): State<crate::db_health::DbHealth>,
    req: axum::extract::Request,
) -> Result<Json<cortex_core::rules::SyncAnswer>, ApiError> {
    use cortex_core::rules::SyncRequest;
    let (parts, body) = req.into_parts();
    // Who calls decides how much is read: an import (an editor's API token) may be 4 MiB,
    // a sync says a revision. Anyone else is turned away before the body is read.
    let authn = parts
        .extensions
        .get::<Authn>()
        .cloned()
        .unwrap_or(Authn::Anonymous);
    let importer = match &authn {
        Authn::Authenticated {
            principal,
            credential,
        } if principal.role.allows(Role::Editor)
            && !matches!(credential, crate::auth::Credential::SessionCookie { .. }) =>
        {
            Some(principal.clone())
        }
        _ => None,
    };
    if importer.is_none() {
        check_caller(&federation, &parts.extensions, &parts.headers, SYNC_PATH).await?;
    }
    let limit = if importer.is_some() {
        MAX_SYNC_BYTES
    } else {
        MAX_SYNC_REQUEST_BYTES
    };
    let body = read_body(
        body,
        limit,
        "the most a sync takes (an import needs an editor's API token)",
    )
    .await?;
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
            let principal = match importer {
                Some(p) => p,
                None => {
                    authn.require(Role::Editor)?;
                    return Err(ApiError::new(
                        ErrorCode::Forbidden,
                        "import with an API token (Authorization: Bearer ctx_…), not a browser session",
                    ));
                }
            };
            if !health.is_ready() {
                return Err(ApiError::from(crate::store::StoreError::Unavailable(
                    "database not ready".into(),
                )));
            }
            Ok(Json(mutations.import(set, &principal, |_, _| {}).await?))
        }
        (held, None) => Ok(Json(mutations.sync(held.unwrap_or_default()).await?)),
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
    if !credentialed {
        if crate::web::same_origin(&headers) == Some(true) {
            return Ok(Json(storefront_events(&services, &body).await?));
        }
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "send a neuron token (Authorization: Bearer ctn_…) or a publishable key (x-cortex-publishable-key); only this hub's own pages report without one",
        ));
    }
    let caller = check_caller(&services.federation, &extensions, &headers, REPORT_PATH).await?;
    let source = caller.source().ok_or_else(|| {
        ApiError::new(
            ErrorCode::Forbidden,
            "users read reports; events come from neurons (a neuron token), browser apps (a publishable key) or the storefront",
        )
    })?;
    let now = Utc::now();
    let batch = crate::analytics::Analytics::parse(&body)?;
    if !caller.is_browser() {
        return Ok(Json(
            services
                .analytics
                .ingest_from(
                    crate::analytics::Intake::Neuron,
                    &source,
                    &batch,
                    &body,
                    now,
                )
                .await?,
        ));
    }
    Ok(Json(browser_events(&services, &source, batch, now).await?))
}

/// Events from a browser app (a publishable key sits in public pages, so whoever reads it
/// may send them): public traffic, and events about a rule only with the receipt `apply`
/// gave for that page view, fitting it (as the storefront's own pages).
pub(crate) async fn browser_events(
    services: &Services,
    source: &str,
    mut batch: cortex_core::analytics::EventBatch,
    now: chrono::DateTime<Utc>,
) -> Result<cortex_core::analytics::BatchAck, ApiError> {
    use crate::mutations::receipts::Counted;
    let about_rules = batch.events.iter().any(|e| e.mutation_id.is_some());
    let visitor = if about_rules {
        Some(check_receipted(services, &mut batch, now, Counted::ByTheApp)?.visitor)
    } else {
        batch.receipt = None;
        // Only the hub says which segment a visitor is in (from a receipt it signed).
        for e in &mut batch.events {
            e.segment = None;
        }
        if let Some(i) = batch.events.iter().position(|e| {
            e.kind == cortex_core::analytics::EventKind::Conversion && e.value.is_some()
        }) {
            return Err(ApiError::bad_request(format!(
                "events[{i}].value: a browser's conversion carries no value; revenue is reported by a server with its neuron token"
            )));
        }
        None
    };
    ingest_public(services, visitor.as_deref(), source, &batch, now).await
}

/// Takes a checked public batch (written as it now stands: receipt and events checked) into
/// the analytics intake, on behalf of `visitor`.
async fn ingest_public(
    services: &Services,
    visitor: Option<&str>,
    source: &str,
    batch: &cortex_core::analytics::EventBatch,
    now: chrono::DateTime<Utc>,
) -> Result<cortex_core::analytics::BatchAck, ApiError> {
    let body =
        serde_json::to_vec(batch).map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    services
        .analytics
        .ingest_from(
            crate::analytics::Intake::Public { visitor },
            source,
            batch,
            &body,
            now,
        )
        .await
}

/// Checks a public batch against the receipt it carries (see [`crate::mutations::receipts`]):
/// signed by this hub, recent, and every event about what that page view showed; each
/// exposure reported once. Refusals are counted.
fn check_receipted(
    services: &Services,
    batch: &mut cortex_core::analytics::EventBatch,
    now: chrono::DateTime<Utc>,
    counted: crate::mutations::receipts::Counted,
) -> Result<crate::mutations::receipts::Receipt, ApiError> {
    let refused = |e: ApiError| {
        metrics::counter!("cortex_storefront_events_refused_total").increment(1);
        e
    };
    let text = batch.receipt.clone().ok_or_else(|| {
        refused(ApiError::new(
            ErrorCode::Forbidden,
            "receipt: events about rules carry the receipt of the page view (from the page, or from apply)",
        ))
    })?;
    let receipt = services.receipts.verify(&text, now).map_err(refused)?;
    crate::mutations::receipts::check_against(&receipt, batch, now, counted).map_err(refused)?;
    for e in &batch.events {
        if let (cortex_core::analytics::EventKind::Exposure, Some(rule)) = (e.kind, &e.mutation_id)
        {
            if !services.receipts.first_exposure(&text, rule) {
                return Err(refused(ApiError::new(
                    ErrorCode::Forbidden,
                    format!("rule `{rule}`: this page view reported its exposure already"),
                )));
            }
        }
    }
    Ok(receipt)
}

/// Impact of the rules: per rule and variant, per day, and experiment comparisons, with
/// 95 % intervals. Filters: `page`, `rule`, `variant`, `from`, `to` (RFC 3339). Viewers and
/// neurons.
pub async fn report(
    State(federation): State<Federation>,
    State(mutations): State<super::Mutations>,
    extensions: Extensions,
    headers: HeaderMap,
    query: Result<
        axum::extract::Query<cortex_core::report::ReportQuery>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Json<cortex_core::report::LayoutReport>, ApiError> {
    match check_caller(&federation, &extensions, &headers, REPORT_PATH).await? {
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
    Ok(Json(mutations.report(&query, Utc::now()).await?))
}

/// Events from the storefront's own pages: only with the page's receipt, and only about
/// what the hub showed that visitor (see [`crate::mutations::receipts`]).
async fn storefront_events(
    services: &Services,
    body: &[u8],
) -> Result<cortex_core::analytics::BatchAck, ApiError> {
    let now = Utc::now();
    let mut batch = crate::analytics::Analytics::parse(body)?;
    let receipt = check_receipted(
        services,
        &mut batch,
        now,
        crate::mutations::receipts::Counted::ByTheHub,
    )?;
    ingest_public(
        services,
        Some(&receipt.visitor),
        STOREFRONT_SOURCE,
        &batch,
        now,
    )
    .await
}

pub use crate::web::VISITOR_COOKIE;

/// A visitor id as the storefront issues them.
pub fn valid_visitor_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The receipt of a storefront page view: what this visitor was shown, and what the
/// browser may still show after an event beyond that (`possible`, see
/// [`crate::mutations::in_page::InPage`]).
pub fn storefront_receipt(
    receipts: &super::receipts::Receipts,
    unit: Option<String>,
    segment: Option<String>,
    applied: &Applied,
    possible: &[crate::mutations::in_page::Shown],
) -> String {
    receipt_of(receipts, unit, segment, applied, possible, Utc::now())
}

/// The signed receipt of one page view (see [`crate::mutations::receipts`]).
fn receipt_of(
    receipts: &super::receipts::Receipts,
    unit: Option<String>,
    segment: Option<String>,
    applied: &Applied,
    possible: &[crate::mutations::in_page::Shown],
    now: chrono::DateTime<Utc>,
) -> String {
    let pair = |x: &cortex_core::resolve::Exposure| {
        (
            x.rule_id.to_string(),
            x.variant_key.as_ref().map(|v| v.to_string()),
        )
    };
    receipts.sign(&crate::mutations::receipts::Receipt {
        visitor: unit.unwrap_or_default(),
        page: applied.layout.page_slug.to_string(),
        // What the browser may apply itself (not what was applied here: `possible` leaves
        // that out).
        deferred: possible.to_vec(),
        exposures: applied.exposures.iter().map(pair).collect(),
        issued: now.timestamp(),
        segment,
    })
}

/// Records a storefront page view and its exposures (the server rendered them, so they are
/// counted with or without JavaScript). The page does not wait: they are spooled within a
/// fraction of a second under the storefront's own budget (see [`crate::analytics::own`]).
pub fn record_storefront_view(
    analytics: &crate::analytics::Analytics,
    unit: Option<String>,
    segment: Option<String>,
    applied: &Applied,
) {
    use cortex_core::analytics::{Event, EventKind};
    let now = Utc::now();
    let event = |kind| Event {
        unit: unit.clone(),
        page_slug: Some(applied.layout.page_slug.to_string()),
        segment: segment.clone(),
        ..Event::new(kind, now)
    };
    let mut events = Vec::with_capacity(1 + applied.exposures.len());
    events.push(event(EventKind::PageView));
    events.extend(applied.exposures.iter().map(|x| Event {
        mutation_id: Some(x.rule_id.to_string()),
        variant: x.variant_key.as_ref().map(|v| v.to_string()),
        ..event(EventKind::Exposure)
    }));
    analytics.record_own(events);
}
