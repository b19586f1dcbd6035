//! The Alerts page's data and action: every alert the hub raised (automatic decisions,
//! rollbacks, refused neuron requests), newest first, and acknowledging one.

use crate::error::AppError;
pub use cortex_core::alerts::AlertEntry;
use leptos::prelude::*;

/// The newest alerts, newest first (at most 200). Viewer.
#[server(name = ListAlerts, prefix = "/api", endpoint = "alerts", input = leptos::server_fn::codec::GetUrl)]
pub async fn list_alerts() -> Result<Vec<AlertEntry>, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    Ok(cortex_server::alerts::list(&services.store, &who).await?)
}

/// Acknowledges alert `id` (audited as `alert.acknowledge`): it stays listed, marked with
/// who and when. No such alert: 404; acknowledged already: 409. Operator.
#[server(name = AcknowledgeAlert, prefix = "/api", endpoint = "alerts/acknowledge")]
pub async fn acknowledge_alert(id: String) -> Result<AlertEntry, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Operator)?;
    super::guard::require_writable(&services)?;
    Ok(cortex_server::alerts::acknowledge(&services.store, &who, &id, chrono::Utc::now()).await?)
}
