//! The hub's alerts as the dashboard lists them: every alert Cortex raises (an experiment
//! decided by itself, a change rolled back by a guard, a source whose neuron requests keep
//! being refused) is kept, shown on the Alerts page until an operator acknowledges it, and
//! sent to the webhook if one is configured.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an alert's delivery to the webhook stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum Delivery {
    /// Waits for its next attempt.
    Pending,
    Delivered,
    /// Given up after the last retry.
    Failed,
    /// No webhook was configured when it was raised: it is on the dashboard only.
    DashboardOnly,
}

impl Delivery {
    /// In words, for the dashboard.
    pub fn describe(self) -> &'static str {
        match self {
            Delivery::Pending => "webhook: pending",
            Delivery::Delivered => "webhook: delivered",
            Delivery::Failed => "webhook: failed",
            Delivery::DashboardOnly => "dashboard only",
        }
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AlertEntry {
    pub id: String,
    /// `decision`, `autoRollback`, `refusals`, `migration`, `drift` or `unhealthy`.
    pub kind: String,
    /// What it is about: a rule id, or the source address of refused requests.
    pub subject: String,
    pub at: DateTime<Utc>,
    /// What happened, in words.
    pub text: String,
    pub delivery: Delivery,
    /// Attempts made to deliver it to the webhook.
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
}

/// Most alerts the list shows.
pub const MAX_LISTED: u32 = 200;

/// How long alerts that wait for nothing are kept.
pub const KEPT_DAYS: i64 = 90;
