//! Acknowledged revisions: each neuron's ack of a bundle is buffered and written in one
//! transaction with the others every [`ACK_FLUSH_EVERY`].

use chrono::{DateTime, Utc};
use std::sync::Arc;

use super::Federation;
use crate::db_health::DbHealth;
use crate::error::ApiError;

/// Acks waiting to be written: the highest revision per (neuron, scope). Ten thousand
/// neurons acking one push become one transaction instead of ten thousand.
pub(super) type AckBuffer = Arc<
    std::sync::Mutex<
        std::collections::HashMap<(String, cortex_core::federation::Scope), (u64, DateTime<Utc>)>,
    >,
>;

/// How often buffered acks are written.
const ACK_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl Federation {
    /// Notes that a neuron holds `revision` of `scope`; written within [`ACK_FLUSH_EVERY`].
    pub fn record_ack(
        &self,
        neuron_id: &str,
        scope: cortex_core::federation::Scope,
        revision: u64,
        at: DateTime<Utc>,
    ) {
        let mut acks = self.acks.lock().unwrap_or_else(|p| p.into_inner());
        let held = acks
            .entry((neuron_id.to_string(), scope))
            .or_insert((revision, at));
        if revision >= held.0 {
            *held = (revision, at);
        }
    }

    /// Writes the buffered acks in one transaction; on failure they stay buffered.
    pub async fn flush_acks(&self) -> Result<usize, ApiError> {
        let taken: Vec<_> = {
            let mut acks = self.acks.lock().unwrap_or_else(|p| p.into_inner());
            acks.drain().collect()
        };
        if taken.is_empty() {
            return Ok(0);
        }
        let rows: Vec<crate::store::neurons::BundleAck> = taken
            .iter()
            .map(
                |((neuron_id, scope), (revision, at))| crate::store::neurons::BundleAck {
                    neuron_id: neuron_id.clone(),
                    scope: scope.clone(),
                    revision: *revision,
                    at: *at,
                },
            )
            .collect();
        if let Err(e) = self.store.ack_bundles(&rows).await {
            for ((id, scope), (revision, at)) in taken {
                self.record_ack(&id, scope, revision, at);
            }
            return Err(e.into());
        }
        Ok(rows.len())
    }

    /// Runs [`Federation::flush_acks`] every [`ACK_FLUSH_EVERY`] while the database is ready.
    pub async fn run_ack_writer(self, health: DbHealth) {
        let mut tick = tokio::time::interval(ACK_FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if health.is_ready() {
                if let Err(e) = self.flush_acks().await {
                    tracing::warn!(error = %e, "writing acks failed; will retry");
                }
            }
        }
    }
}
