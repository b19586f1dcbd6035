//! The hub's status as the Settings/Status page and `cortex doctor` report it.

use crate::store::StoreResult;
use crate::Services;

/// Verifies the whole audit chain with the hub's key, and (`with_head`) its end against the
/// head kept in the data dir. `Ok(Ok(n))`: n entries verified; `Ok(Err(break))`: where it
/// breaks.
pub async fn verify_audit_chain(
    services: &Services,
    with_head: bool,
) -> StoreResult<Result<i64, cortex_core::audit::ChainBreak>> {
    let report = crate::audit::verify(
        &services.store,
        Some(&services.audit_key),
        with_head.then_some(services.config.data_dir.as_path()),
    )
    .await?;
    Ok(match report.broken {
        Some(b) => Err(b),
        None => Ok(report.entries),
    })
}

/// What the Status page shows: version, database, data dir, uptime, users, the audit
/// chain, sessions and cookies, the analytics spool and the control-state copy. Viewer.
pub async fn hub_status(
    services: &Services,
    who: &cortex_core::user::Principal,
) -> Result<cortex_core::status::HubStatus, crate::ApiError> {
    use cortex_core::status::HubStatus;
    crate::auth::require_role(who, cortex_core::Role::Viewer)?;
    let (users, audit_chain) = if services.health.is_ready() {
        let users = services.store.count_users().await?;
        let chain = verify_audit_chain(services, true).await?;
        (users, chain.map_err(|b| b.to_string()))
    } else {
        (0, Err("database unreachable".into()))
    };
    let (storefront_events_recorded, storefront_events_shed) = services.analytics.own().counts();
    let copy = services.recovery.last_copy();
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
        audit_head: crate::audit::read_head(&services.config.data_dir)
            .ok()
            .flatten(),
        spool_backlog_bytes: services.analytics.spool().map_or(0, |s| s.backlog()),
        spool_refusing: services.analytics.spool().and_then(|s| s.refusing()),
        storefront_events_recorded,
        storefront_events_shed,
        control_copy_taken_at: copy.as_ref().map(|c| c.taken_at),
        control_copy_rows: copy.as_ref().map(|c| c.rows),
        public_url: services.config.public_url.clone(),
        warnings: cortex_core::status::warnings(
            services.config.cookies_secure(),
            services.config.public_url.as_deref(),
        ),
    })
}
