//! The hub's status for the Settings/Status page. Viewer.

use crate::error::AppError;
pub use cortex_core::status::HubStatus;
use leptos::prelude::*;

/// Reports version, database, data dir, uptime and audit-chain integrity. Viewer.
#[server(name = GetStatus, prefix = "/api", endpoint = "status", input = leptos::server_fn::codec::GetUrl)]
pub async fn get_status() -> Result<HubStatus, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    Ok(cortex_server::status::hub_status(&services, &who).await?)
}
