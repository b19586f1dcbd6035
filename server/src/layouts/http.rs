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
/// Largest sync body (an import carries a whole rule set).
pub const MAX_SYNC_BYTES: usize = 4 * 1024 * 1024;

/// Who may resolve pages: a neuron (its token), a browser app (a publishable key from one of
/// its origins) or a signed-in user or API token (viewer and up, for previews).
async fn check_caller(
    services: &Services,
    extensions: &Extensions,
    headers: &HeaderMap,
    route: &str,
) -> Result<(), ApiError> {
    let bearer = crate::federation::http::bearer(headers).ok();
    if let Some(token) = bearer.filter(|t| t.starts_with(crate::federation::NEURON_TOKEN_PREFIX)) {
        return crate::federation::http::neuron_of(services, extensions, Ok(token), route)
            .await
            .map(|_| ());
    }
    if headers.contains_key(cortex_core::federation::PUBLISHABLE_KEY_HEADER) {
        return services
            .federation
            .check_publishable_key(headers)
            .await
            .map(|_| ());
    }
    extensions
        .get::<Authn>()
        .cloned()
        .unwrap_or(Authn::Anonymous)
        .require(Role::Viewer)
        .map(|_| ())
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

/// Resolves a page for a visitor.
pub async fn apply(
    State(services): State<Services>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Applied>, ApiError> {
    check_caller(&services, &extensions, &headers, APPLY_PATH).await?;
    if body.len() > MAX_APPLY_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request is {} bytes; at most {MAX_APPLY_BYTES} (a context that large is not a visitor's)", body.len()),
        ));
    }
    let req: ApplyRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "body is not an apply request ({{\"pageSlug\": …, \"context\": {{…}}, \"explain\": false}}): {e}"
        ))
    })?;
    let slug = req.page_slug.trim();
    if slug.is_empty() || slug.len() > 100 {
        return Err(ApiError::bad_request("pageSlug: 1-100 characters"));
    }
    Ok(Json(services.mutations.apply(&req, Utc::now()).await?))
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
                services.mutations.import(set, &principal.actor).await?,
            ))
        }
        (held, None) => {
            check_caller(&services, &extensions, &headers, SYNC_PATH).await?;
            Ok(Json(services.mutations.sync(held.unwrap_or(0)).await?))
        }
    }
}
