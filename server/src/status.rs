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
