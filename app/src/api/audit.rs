//! The audit log, newest first, with filters. Viewer.

use crate::error::AppError;
use cortex_core::audit::AuditEntry;

use leptos::prelude::*;

/// Lists audit entries. Filters: `actor` and `target` match substrings, `action` a prefix;
/// `before_seq` pages backwards; `limit` is 1 to 500 (default 50). Viewer.
#[server(name = ListAudit, prefix = "/api", endpoint = "audit", input = leptos::server_fn::codec::GetUrl)]
pub async fn list_audit(
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    before_seq: Option<i64>,
    limit: Option<u32>,
) -> Result<Vec<AuditEntry>, AppError> {
    let (services, _) = super::guard::require(cortex_core::Role::Viewer)?;
    for (name, v) in [("actor", &actor), ("action", &action), ("target", &target)] {
        if v.as_ref().is_some_and(|s| s.len() > 200) {
            return Err(AppError::new(
                cortex_core::ErrorCode::BadRequest,
                format!("{name} filter is longer than 200 characters"),
            ));
        }
    }
    let q = cortex_core::audit::AuditQuery {
        actor,
        action,
        target,
        before_seq,
        limit,
    };
    Ok(services
        .store
        .list_audit(&q)
        .await
        .map_err(cortex_server::ApiError::from)?)
}
