//! The hub's status as the Settings/Status page and `cortex doctor` report it.

use cortex_core::audit::ChainVerifier;

use crate::store::{DynStore, StoreResult};

/// Verifies the whole audit chain, in pages. `Ok(Ok(n))`: n entries verified;
/// `Ok(Err(break))`: where it breaks.
pub async fn verify_audit_chain(
    store: &DynStore,
) -> StoreResult<Result<i64, cortex_core::audit::ChainBreak>> {
    let mut v = ChainVerifier::default();
    loop {
        let page = store.audit_chain(v.verified(), 1000).await?;
        if page.is_empty() {
            return Ok(Ok(v.verified()));
        }
        for e in &page {
            if let Err(b) = v.push(e) {
                return Ok(Err(b));
            }
        }
    }
}
