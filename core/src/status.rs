//! The hub's status as its Status page shows it.

use serde::{Deserialize, Serialize};

/// What the Status page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HubStatus {
    pub version: String,
    pub backend: String,
    pub database_ok: bool,
    pub database_error: Option<String>,
    pub data_dir: String,
    pub uptime_secs: u64,
    pub users: i64,
    /// Entries verified (`{"Ok": n}`), or where the chain breaks (`{"Err": "..."}`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub audit_chain: Result<i64, String>,
    pub session_ttl_secs: u64,
    pub secure_cookies: bool,
    /// The chain's latest entry as the hub keeps it outside the database (none yet on a new
    /// hub).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub audit_head: Option<crate::audit::AuditHead>,
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
