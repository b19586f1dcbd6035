//! The overview: the hub at a glance. Viewer.

use crate::error::AppError;
pub use cortex_core::overview::Overview;
use leptos::prelude::*;

/// The hub's status, the fleet by status and version, rules and running experiments, the
/// newest pushes, refusal alerts and the event rate of the last hours. Viewer.
#[server(name = GetOverview, prefix = "/api", endpoint = "overview", input = leptos::server_fn::codec::GetUrl)]
pub async fn get_overview() -> Result<Overview, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    Ok(cortex_server::overview::hub_overview(&services, &who).await?)
}
