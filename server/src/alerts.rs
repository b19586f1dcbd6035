//! The hub's alert list (see `cortex_core::alerts`): what the dashboard's Alerts page and
//! `GET /api/alerts` show, acknowledging one, and pruning old ones. Alerts are raised where
//! things happen (decisions, guards, refused neuron requests) and kept by
//! [`crate::webhook::keep`].

use chrono::{DateTime, Utc};
use cortex_core::alerts::{AlertEntry, KEPT_DAYS, MAX_LISTED};
use cortex_core::audit::AuditRecord;
use cortex_core::user::Principal;
use cortex_core::{ErrorCode, Role};

use crate::auth::require_role;
use crate::error::ApiError;
use crate::store::DynStore;

/// The newest alerts, newest first (at most [`MAX_LISTED`]). Viewer.
pub async fn list(store: &DynStore, who: &Principal) -> Result<Vec<AlertEntry>, ApiError> {
    require_role(who, Role::Viewer)?;
    Ok(store
        .recent_alerts(MAX_LISTED)
        .await?
        .iter()
        .map(crate::webhook::QueuedAlert::entry)
        .collect())
}

/// Acknowledges alert `id` (audited as `alert.acknowledge`): it stays listed, marked with
/// who and when. 400 for a malformed id, 404 for no such alert, 409 when it was
/// acknowledged already. Operator.
pub async fn acknowledge(
    store: &DynStore,
    who: &Principal,
    id: &str,
    now: DateTime<Utc>,
) -> Result<AlertEntry, ApiError> {
    require_role(who, Role::Operator)?;
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(ApiError::bad_request(
            "id: an alert id (as `GET /api/alerts` lists it)",
        ));
    }
    let audit = AuditRecord::new(
        who.actor.as_str(),
        "alert.acknowledge",
        format!("alert:{id}"),
    );
    match store.acknowledge_alert(id, &who.actor, now, audit).await? {
        None => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no alert `{id}`"),
        )),
        Some(false) => Err(ApiError::new(
            ErrorCode::Conflict,
            format!("alert `{id}` was acknowledged already"),
        )),
        Some(true) => store
            .get_alert(id)
            .await?
            .map(|a| a.entry())
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no alert `{id}`"))),
    }
}

/// Prunes old alerts hourly (see [`prune`]) until the hub stops, while the database is up.
pub async fn run_pruner(store: DynStore, health: crate::db_health::DbHealth) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        if !health.is_ready() {
            continue;
        }
        match prune(&store, Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(alerts = n, "pruned old alerts"),
            Err(e) => tracing::warn!(error = %e.message, "could not prune old alerts"),
        }
    }
}

/// Deletes alerts older than [`KEPT_DAYS`] that wait for nothing; returns how many.
pub async fn prune(store: &DynStore, now: DateTime<Utc>) -> Result<u64, ApiError> {
    Ok(store
        .prune_alerts(now - chrono::Duration::days(KEPT_DAYS))
        .await?)
}
