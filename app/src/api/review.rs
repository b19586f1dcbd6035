//! Conflicts between editors: each scope's policy (last write wins or review, protected or
//! not) and the change requests stale or protected pushes become.

use crate::error::AppError;
pub use cortex_core::federation::review::{
    ChangeRequest, ChangeRequestView, ConflictMode, ScopePolicies, ScopePolicy,
};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
fn bad(message: String) -> AppError {
    AppError::new(cortex_core::ErrorCode::BadRequest, message)
}

/// An id (`what` it names): required, at most 128 bytes.
#[cfg(feature = "ssr")]
pub(crate) fn required_id(id: Option<String>, what: &str) -> Result<String, AppError> {
    let id = id.unwrap_or_default().trim().to_string();
    if id.is_empty() || id.len() > 128 {
        return Err(bad(format!("id: required ({what})")));
    }
    Ok(id)
}

#[cfg(feature = "ssr")]
fn request_id(id: Option<String>) -> Result<String, AppError> {
    required_id(id, "a change request id")
}

/// Every scope's conflict policy (scopes left out are last write wins, unprotected). Viewer.
#[server(name = ScopePoliciesFn, prefix = "/api", endpoint = "federation/scope-policies", input = leptos::server_fn::codec::GetUrl)]
pub async fn scope_policies() -> Result<ScopePolicies, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    Ok(services.federation.scope_policies(&who).await?)
}

/// Sets one scope's conflict policy (audited as `scope-policy.set`). Admin.
#[server(name = SetScopePolicy, prefix = "/api", endpoint = "federation/scope-policies/set")]
pub async fn set_scope_policy(
    scope: Option<String>,
    #[server(default)] mode: Option<String>,
    #[server(default)] protected: Option<String>,
) -> Result<ScopePolicies, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Admin)?;
    super::guard::require_writable(&services)?;
    let scope: cortex_core::federation::Scope = scope
        .unwrap_or_default()
        .trim()
        .parse()
        .map_err(|e: cortex_core::federation::FieldError| bad(e.to_string()))?;
    let mode = match mode.as_deref().map(str::trim) {
        None | Some("") => ConflictMode::default(),
        Some(m) => ConflictMode::parse(m)
            .ok_or_else(|| bad(format!("mode: `{m}` is not lastWriteWins or review")))?,
    };
    let protected = match protected.as_deref().map(str::trim) {
        None | Some("") | Some("false") | Some("off") => false,
        Some("true") | Some("on") => true,
        Some(p) => return Err(bad(format!("protected: `{p}` is not true or false"))),
    };
    Ok(services
        .federation
        .set_scope_policy(&scope, ScopePolicy { mode, protected }, &who)
        .await?)
}

/// Change requests, newest first (at most 100): `state` open, applied or rejected, or all
/// when left out. Viewer.
#[server(name = ChangeRequestsFn, prefix = "/api", endpoint = "federation/change-requests", input = leptos::server_fn::codec::GetUrl)]
pub async fn change_requests(
    #[server(default)] state: Option<String>,
) -> Result<Vec<ChangeRequest>, AppError> {
    use cortex_core::federation::review::ChangeRequestState;
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    let state = match state.as_deref().map(str::trim) {
        None | Some("") | Some("all") => None,
        Some(s) => Some(ChangeRequestState::parse(s).ok_or_else(|| {
            bad(format!(
                "state: `{s}` is not open, applied, rejected or all"
            ))
        })?),
    };
    Ok(services.federation.change_requests(state, &who).await?)
}

/// One change request with the diff from its scope's current revision of its kind. Viewer.
#[server(name = ChangeRequestFn, prefix = "/api", endpoint = "federation/change-request", input = leptos::server_fn::codec::GetUrl)]
pub async fn change_request(id: Option<String>) -> Result<ChangeRequestView, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    let id = request_id(id)?;
    Ok(services.federation.change_request(&id, &who).await?)
}

/// Comments on an open change request (audited as `changeRequest.comment`). Editor.
#[server(name = CommentChangeRequest, prefix = "/api", endpoint = "federation/change-requests/comment")]
pub async fn comment_change_request(
    id: Option<String>,
    text: Option<String>,
) -> Result<ChangeRequest, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Editor)?;
    super::guard::require_writable(&services)?;
    let id = request_id(id)?;
    Ok(services
        .federation
        .comment_change_request(&id, &text.unwrap_or_default(), &who)
        .await?)
}

/// Approves an open change request: it is pushed as its scope's next revision (audited as
/// `changeRequest.approve` and `bundle.push`), if the scope still holds `seen_revision`, the
/// current revision its diff was read against (0: none). Another editor than its author, or
/// an admin.
#[server(name = ApproveChangeRequest, prefix = "/api", endpoint = "federation/change-requests/approve")]
pub async fn approve_change_request(
    id: Option<String>,
    seen_revision: Option<String>,
) -> Result<ChangeRequest, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Editor)?;
    super::guard::require_writable(&services)?;
    let id = request_id(id)?;
    let seen = match seen_revision.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() => r.parse::<u64>().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        bad(
            "seen_revision: the request's currentRevision you read its diff against (0: none)"
                .into(),
        )
    })?;
    let (request, _) = services
        .federation
        .approve_change_request(&id, (seen > 0).then_some(seen), &who)
        .await?;
    Ok(request)
}

/// Rejects an open change request, with an optional reason; it stays in the history
/// (audited as `changeRequest.reject`). Editor.
#[server(name = RejectChangeRequest, prefix = "/api", endpoint = "federation/change-requests/reject")]
pub async fn reject_change_request(
    id: Option<String>,
    #[server(default)] note: Option<String>,
) -> Result<ChangeRequest, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Editor)?;
    super::guard::require_writable(&services)?;
    let id = request_id(id)?;
    Ok(services
        .federation
        .reject_change_request(&id, &note.unwrap_or_default(), &who)
        .await?)
}

pub use cortex_core::federation::overrides::ConfigOverride;

/// Every neuron's config override. Viewer.
#[server(name = OverridesFn, prefix = "/api", endpoint = "federation/overrides", input = leptos::server_fn::codec::GetUrl)]
pub async fn overrides() -> Result<Vec<ConfigOverride>, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    Ok(services.federation.overrides(&who).await?)
}

/// Overrides one neuron's config: keys set over it and/or a pinned revision of one of its
/// scopes, until an optional expiry (audited as `override.set`). Editor.
#[server(name = SetOverride, prefix = "/api", endpoint = "federation/neurons/override")]
pub async fn set_override(
    id: Option<String>,
    #[server(default)] keys: Option<String>,
    #[server(default)] pin_scope: Option<String>,
    #[server(default)] pin_revision: Option<String>,
    #[server(default)] expires_in: Option<String>,
    #[server(default)] reason: Option<String>,
) -> Result<ConfigOverride, AppError> {
    use cortex_core::federation::overrides::PinnedRevision;
    let (services, who) = super::guard::require(cortex_core::Role::Editor)?;
    super::guard::require_writable(&services)?;
    let id = required_id(id, "a neuron id")?;
    let keys = match keys.as_deref().map(str::trim) {
        None | Some("") => Default::default(),
        Some(k) if k.len() > cortex_core::federation::overrides::MAX_OVERRIDE_BYTES => {
            return Err(bad(format!(
                "keys: at most {} bytes",
                cortex_core::federation::overrides::MAX_OVERRIDE_BYTES
            )))
        }
        Some(k) => match serde_json::from_str::<serde_json::Value>(k) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(_) => return Err(bad("keys: a JSON object of the keys to set".into())),
            Err(e) => return Err(bad(format!("keys: not JSON ({e})"))),
        },
    };
    let pin = match (
        pin_scope
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty()),
        pin_revision
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty()),
    ) {
        (None, None) => None,
        (Some(s), Some(r)) => Some(PinnedRevision {
            scope: s
                .parse()
                .map_err(|e: cortex_core::federation::FieldError| bad(e.to_string()))?,
            revision: r
                .parse()
                .map_err(|_| bad(format!("pin_revision: `{r}` is not a revision number")))?,
        }),
        _ => {
            return Err(bad(
                "pin_scope and pin_revision go together: give both to pin, or neither".into(),
            ))
        }
    };
    let now = chrono::Utc::now();
    let expires_at = cortex_server::federation::overrides::parse_expiry(
        expires_in.as_deref().unwrap_or_default(),
        now,
    )
    .map_err(|e| bad(e.to_string()))?;
    let o = ConfigOverride {
        neuron_id: id,
        pin,
        keys,
        expires_at,
        reason: reason.unwrap_or_default(),
        created_by: String::new(),
        created_at: now,
    };
    Ok(services.federation.set_override(o, &who, now).await?)
}

/// Clears one neuron's config override (audited as `override.clear`). Editor.
#[server(name = ClearOverride, prefix = "/api", endpoint = "federation/neurons/override/clear")]
pub async fn clear_override(id: Option<String>) -> Result<ConfigOverride, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Editor)?;
    super::guard::require_writable(&services)?;
    let id = required_id(id, "a neuron id")?;
    Ok(services.federation.clear_override(&id, &who).await?)
}
