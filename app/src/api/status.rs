//! The hub's status for the Settings/Status page. Viewer.

use crate::error::AppError;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the Status page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HubStatus {
    pub version: String,
    pub backend: String,
    pub database_ok: bool,
    pub database_error: Option<String>,
    pub data_dir: String,
    pub uptime_secs: u64,
    pub users: i64,
    /// Entries verified (`{"Ok": n}`), or where the chain breaks (`{"Err": "..."}`).
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub audit_chain: Result<i64, String>,
    pub session_ttl_secs: u64,
    pub secure_cookies: bool,
    /// The chain's latest entry as the hub keeps it outside the database (none yet on a new
    /// hub).
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub audit_head: Option<cortex_core::audit::AuditHead>,
    /// The analytics spool: bytes waiting for the database, and why it refuses batches
    /// (a full disk, say) while it does.
    pub spool_backlog_bytes: u64,
    pub spool_refusing: Option<String>,
    /// The storefront's own page views and exposures since the hub started: recorded, and
    /// shed because the spool could not take them in time (should stay 0).
    pub storefront_events_recorded: u64,
    pub storefront_events_shed: u64,
    /// The last-known-good copy of the control state in the data dir: when it was taken (ms
    /// since the epoch) and how many rows it holds.
    pub control_copy_taken_at: Option<i64>,
    pub control_copy_rows: Option<usize>,
}

/// Reports version, database, data dir, uptime and audit-chain integrity. Viewer.
#[server(name = GetStatus, prefix = "/api", endpoint = "status", input = leptos::server_fn::codec::GetUrl)]
pub async fn get_status() -> Result<HubStatus, AppError> {
    let (services, _) = super::guard::require(cortex_core::Role::Viewer)?;
    let api = |e| AppError::from(cortex_server::ApiError::from(e));
    let (users, audit_chain) = if services.health.is_ready() {
        let users = services.store.count_users().await.map_err(api)?;
        let chain = cortex_server::status::verify_audit_chain(&services, true)
            .await
            .map_err(api)?;
        (users, chain.map_err(|b| b.to_string()))
    } else {
        (0, Err("database unreachable".into()))
    };
    let (storefront_events_recorded, storefront_events_shed) = services.analytics.own().counts();
    Ok(HubStatus {
        version: env!("CARGO_PKG_VERSION").into(),
        backend: services.backend().as_str().into(),
        database_ok: services.health.is_ready(),
        database_error: services.health.last_error(),
        data_dir: services.config.data_dir.display().to_string(),
        uptime_secs: services.started_at.elapsed().as_secs(),
        users,
        audit_chain,
        session_ttl_secs: services.config.session_ttl.as_secs(),
        secure_cookies: services.config.cookies_secure(),
        audit_head: cortex_server::audit::read_head(&services.config.data_dir)
            .ok()
            .flatten(),
        spool_backlog_bytes: services.analytics.spool().map_or(0, |s| s.backlog()),
        spool_refusing: services.analytics.spool().and_then(|s| s.refusing()),
        storefront_events_recorded,
        storefront_events_shed,
        control_copy_taken_at: services.recovery.last_copy().map(|c| c.taken_at),
        control_copy_rows: services.recovery.last_copy().map(|c| c.rows),
    })
}
