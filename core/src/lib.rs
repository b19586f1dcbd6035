//! cortex-core: everything the hub, the browser bundle and the SDK must agree on.
//!
//! Pure: no IO, no async runtime, compiles to `wasm32-unknown-unknown`.

pub mod alerts;
pub mod analytics;
pub mod api;
pub mod audit;
pub mod backoff;
pub mod bucketing;
pub mod chart;
pub mod context;
pub mod experiments;
pub mod federation;
pub mod heatmap;
pub mod ids;
pub mod layout;
pub mod mac;
pub mod mutation;
pub mod overview;
pub mod report;
pub mod resolve;
pub mod role;
pub mod rules;
pub mod schedule;
pub mod stats;
pub mod status;
pub mod suggest;
pub mod targeting;
pub mod urls;
pub mod user;

pub use api::{ApiErrorBody, ErrorCode};
pub use role::Role;
