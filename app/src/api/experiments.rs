//! The experiments page's data. Viewer.

use crate::error::AppError;
pub use cortex_core::experiments::ExperimentSummary;
use leptos::prelude::*;

/// Every experiment (variant rule) that is not deleted, over its whole runtime: state and
/// policy, each variant against the baseline, what the decision engine suggests, the newest
/// decision, a verdict, the cumulative lift over the baseline and the daily conversion per variant. Running ones first. Viewer.
#[server(name = ListExperiments, prefix = "/api", endpoint = "experiments", input = leptos::server_fn::codec::GetUrl)]
pub async fn list_experiments() -> Result<Vec<ExperimentSummary>, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    Ok(services
        .mutations
        .experiments(&who, chrono::Utc::now())
        .await?)
}
