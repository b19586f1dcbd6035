//! The fleet watch: every half minute each hub looks at the fleet for what is worth an alert
//! (failed migrations, fingerprint drift on the expected release, a kind with many neurons
//! unhealthy; the rules are in `cortex_core::federation::watch`) and raises each finding
//! once. A finding's key gives its alert a fixed id, so hubs sharing a database, and a hub
//! started again, keep one alert per condition.

use chrono::{DateTime, Utc};
use cortex_core::federation::watch::{
    fleet_findings, rate_findings, RATE_BASELINE_HOURS, RATE_WINDOW_MINUTES,
};

use super::Federation;
use crate::db_health::DbHealth;
use crate::error::ApiError;

/// How often the fleet is looked at.
pub const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Keys remembered before the memory is cleared (the database still keeps one alert per key).
const REMEMBERED: usize = 10_000;

impl Federation {
    /// Looks at the fleet once and raises an alert for each finding this hub has not raised
    /// before; returns how many it raised.
    pub async fn watch_fleet(&self, now: DateTime<Utc>) -> Result<usize, ApiError> {
        self.watch_fleet_with(now, true).await
    }

    /// [`Federation::watch_fleet`]; `below`: whether event rates far below usual are judged
    /// (not just after an outage, while the spooled events are still being stored).
    async fn watch_fleet_with(&self, now: DateTime<Utc>, below: bool) -> Result<usize, ApiError> {
        let neurons = self.store.list_neurons().await?;
        let expected = self.expected_by_kind().await?;
        let mut findings = fleet_findings(&neurons, &expected, now);
        let window = now - chrono::Duration::minutes(RATE_WINDOW_MINUTES);
        let rates = self
            .store
            .event_rates(now - chrono::Duration::hours(RATE_BASELINE_HOURS), window)
            .await?;
        findings.extend(rate_findings(&rates, &neurons, below, now));
        let fresh: Vec<_> = {
            let mut seen = self.watched.lock().unwrap_or_else(|p| p.into_inner());
            if seen.len() > REMEMBERED {
                seen.clear();
            }
            findings
                .into_iter()
                .filter(|f| seen.insert(f.key.clone()))
                .collect()
        };
        let raised = fresh.len();
        for f in fresh {
            tracing::warn!(kind = f.kind, subject = %f.subject, "{}", f.text);
            self.alert(crate::webhook::Alert {
                kind: f.kind,
                rule_id: f.subject,
                at: now,
                text: f.text,
                details: f.details,
                key: Some(f.key),
            });
        }
        Ok(raised)
    }

    /// Raises an alert for each database outage `health` saw end (kept once across the
    /// hubs that saw the same outage: keyed by the minute it began).
    pub fn raise_outages(&self, health: &DbHealth) {
        for o in health.take_outages() {
            let seconds = (o.to - o.from).num_milliseconds().max(0) as f64 / 1000.0;
            self.alert(crate::webhook::Alert {
                kind: "database",
                rule_id: "database".into(),
                at: o.to,
                text: format!(
                    "The database was unreachable for {seconds:.1} s (from {}); {} request(s) were refused meanwhile: {}",
                    o.from.format("%Y-%m-%d %H:%M:%S UTC"),
                    o.refused,
                    o.error
                ),
                details: serde_json::json!({"from": o.from, "to": o.to, "seconds": seconds,
                    "refused": o.refused, "error": o.error}),
                key: Some(format!("database:{}", o.from.timestamp() / 60)),
            });
        }
    }

    /// Runs [`Federation::watch_fleet`] every [`WATCH_EVERY`] while the database is ready,
    /// and raises the database outages seen since (as soon as it is back).
    pub async fn run_fleet_watch(self, health: DbHealth) {
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Rates far below usual are not judged for a window after an outage.
        let mut quiet_until = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = health.outage_ended() => {
                    quiet_until = Some(
                        std::time::Instant::now()
                            + std::time::Duration::from_secs(60 * RATE_WINDOW_MINUTES as u64),
                    );
                }
            }
            if health.is_ready() {
                self.raise_outages(&health);
            }
            let below = quiet_until.is_none_or(|t| std::time::Instant::now() >= t);
            if health.is_ready() {
                if let Err(e) = self.watch_fleet_with(Utc::now(), below).await {
                    tracing::warn!(error = %e.message, "fleet watch failed; will retry");
                }
            }
        }
    }
}
