//! Heartbeats and the sweeper: a joined neuron's heartbeat keeps it in the fleet; the
//! sweeper moves silent ones to `unhealthy` and then `retired`.

use chrono::{DateTime, Duration, Utc};
use cortex_core::federation::{Heartbeat, Joined};
use cortex_core::ErrorCode;

use super::{forbidden, Federation, MAX_HEARTBEAT_BYTES};
use crate::db_health::DbHealth;
use crate::error::ApiError;

impl Federation {
    /// A heartbeat from neuron `id` (its token already verified); answers with a fresh token.
    pub async fn heartbeat(
        &self,
        id: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Joined, ApiError> {
        if body.len() > MAX_HEARTBEAT_BYTES {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("a heartbeat is at most {MAX_HEARTBEAT_BYTES} bytes"),
            ));
        }
        let beat: Heartbeat = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "heartbeat is not valid JSON of the expected shape: {e}"
            ))
        })?;
        self.beat(id, &beat, now).await
    }

    /// Records a heartbeat of neuron `id` (over HTTP or the push channel).
    pub async fn beat(
        &self,
        id: &str,
        beat: &Heartbeat,
        now: DateTime<Utc>,
    ) -> Result<Joined, ApiError> {
        beat.validate()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let current = self
            .store
            .neuron(id)
            .await?
            .ok_or_else(|| forbidden(format!("neuron `{id}` was removed; register again")))?;
        if !current.status.is_joined() {
            return Err(forbidden(format!(
                "neuron `{id}` is {}; register again",
                current.status
            )));
        }
        // A migration's output is made safe to show here rather than refused (see
        // `MigrationReport::tidy`). Browser apps run no migrations: whoever holds the
        // public publishable key could otherwise post made-up failures.
        let tidied;
        let beat = match &beat.migration {
            Some(m) => {
                tidied = Heartbeat {
                    migration: (!current.is_browser()).then(|| m.clone().tidy()),
                    ..beat.clone()
                };
                &tidied
            }
            None => beat,
        };
        let neuron = self.store.record_heartbeat(id, now, beat).await?;
        Ok(self.joined(&neuron, now))
    }

    /// One sweep: silent neurons become unhealthy, then retired; old nonces are forgotten.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<usize, ApiError> {
        let ago = |d: std::time::Duration| now - Duration::from_std(d).unwrap_or(Duration::zero());
        let changes = self
            .store
            .sweep_neurons(
                ago(self.settings.unhealthy_after),
                ago(self.settings.retire_after),
            )
            .await?;
        for t in &changes {
            tracing::info!(neuron = %t.id, status = %t.to, "neuron fell silent");
        }
        // Browser tabs that went away: removed, not kept as unhealthy and retired rows.
        let tabs = self
            .store
            .remove_silent_browser_neurons(ago(self.settings.unhealthy_after))
            .await?;
        if tabs > 0 {
            metrics::counter!("cortex_browser_neurons_removed_total").increment(tabs);
            tracing::debug!(tabs, "silent browser neurons removed");
        }
        self.store.prune_nonces(now).await?;
        self.load_revocations(now).await?;
        // Keeps the CORS origins current (another hub may have changed the keys).
        self.publishable_keys().await?;
        Ok(changes.len())
    }

    /// Runs [`Federation::sweep`] every half heartbeat interval while the database is ready.
    pub async fn run_sweeper(self, health: DbHealth) {
        let every =
            (self.settings.heartbeat_interval / 2).max(std::time::Duration::from_millis(200));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if health.is_ready() {
                if let Err(e) = self.sweep(Utc::now()).await {
                    tracing::warn!(error = %e, "neuron sweep failed; will retry");
                }
            }
        }
    }
}
