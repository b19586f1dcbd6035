//! A scope's history and rolling it back by hand: the revisions pushed to it, the diff a
//! rollback would make, and the rollback (the chosen revision pushed again).

use crate::error::AppError;
pub use cortex_core::federation::rollback::{RollbackPreview, ScopeHistory};
use cortex_core::federation::PushResult;
use leptos::prelude::*;

/// The scope named (checked after the role, so a caller without one learns only that).
#[cfg(feature = "ssr")]
fn parse_scope(scope: Option<String>) -> Result<cortex_core::federation::Scope, AppError> {
    let scope = scope.unwrap_or_default();
    if scope.trim().is_empty() {
        return Err(AppError::new(
            cortex_core::ErrorCode::BadRequest,
            "scope: required (global, tag:<tag> or neuron:<id>)",
        ));
    }
    scope
        .trim()
        .parse()
        .map_err(|e: cortex_core::federation::FieldError| {
            AppError::new(cortex_core::ErrorCode::BadRequest, e.to_string())
        })
}

#[cfg(feature = "ssr")]
fn required_revision(revision: Option<u64>) -> Result<u64, AppError> {
    revision.ok_or_else(|| {
        AppError::new(
            cortex_core::ErrorCode::BadRequest,
            "revision: required (a revision number the scope's history lists)",
        )
    })
}

/// The revisions pushed to `scope`, newest first (at most 50), the newest of each kind
/// marked current. Viewer.
#[server(name = ScopeHistoryFn, prefix = "/api", endpoint = "federation/scope-history", input = leptos::server_fn::codec::GetUrl)]
pub async fn scope_history(scope: Option<String>) -> Result<ScopeHistory, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    let scope = parse_scope(scope)?;
    Ok(services.federation.scope_history(&scope, &who).await?)
}

/// What rolling `scope` back to `revision` would change: a diff from the current bundle of
/// that kind. Viewer.
#[server(name = RollbackPreviewFn, prefix = "/api", endpoint = "federation/rollback-preview", input = leptos::server_fn::codec::GetUrl)]
pub async fn rollback_preview(
    scope: Option<String>,
    revision: Option<u64>,
) -> Result<RollbackPreview, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    let scope = parse_scope(scope)?;
    let revision = required_revision(revision)?;
    Ok(services
        .federation
        .rollback_preview(&scope, revision, &who)
        .await?)
}

/// Rolls `scope` back to `revision`: its body pushed again as the next revision, to
/// everyone in the scope (audited as `bundle.rollback`). Editor.
#[server(name = RollbackScope, prefix = "/api", endpoint = "federation/rollback")]
pub async fn rollback_scope(
    scope: Option<String>,
    revision: Option<u64>,
) -> Result<PushResult, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Editor)?;
    super::guard::require_writable(&services)?;
    let scope = parse_scope(scope)?;
    let revision = required_revision(revision)?;
    Ok(services
        .federation
        .rollback_scope(&scope, revision, &who)
        .await?)
}
