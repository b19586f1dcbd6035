//! cortex-server: all of Cortex's IO. Configuration, storage (SQLite and Postgres), auth,
//! the audit log, federation, layout mutations, analytics, health and metrics. It never
//! depends on the Leptos app.
//!
//! Health, by direction: [`probes`] answers `/healthz`, `/readyz` and `/metrics` (inbound);
//! [`federation::neuron_probe`] checks the neurons' own endpoints (outbound); [`db_health`]
//! watches the database the hub runs on.

pub mod alerts;
pub mod analytics;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod config;
pub mod copy;
pub mod db_health;
pub mod error;
pub mod federation;
pub mod fsutil;
pub mod llm;
pub mod mutations;
pub mod overview;
pub mod probes;
pub mod rate_limit;
pub mod recovery;
pub mod security;
pub mod services;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod webhook;

pub use error::ApiError;
pub use services::Services;
