//! The hub probes server neurons that declared an endpoint, as Consul does: an HTTP `GET
//! <endpoint>/healthz` every heartbeat interval, two seconds at most, 2xx is ok. The result
//! is shown on the neuron's card beside what the neuron reports about itself, so a neuron
//! that heartbeats but cannot serve is visible.

use chrono::Utc;
use cortex_core::federation::{HealthState, Probe};
use futures::StreamExt;
use std::time::{Duration, Instant};

use super::Federation;
use crate::health::DbHealth;

/// Longest a probe waits for an answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Probes in flight at once.
const PROBES_AT_ONCE: usize = 32;

/// Probes one endpoint.
pub async fn probe(client: &reqwest::Client, endpoint: &str) -> Probe {
    let url = format!("{}/healthz", endpoint.trim_end_matches('/'));
    let started = Instant::now();
    let (state, message) = match client.get(&url).send().await {
        Ok(res) if res.status().is_success() => {
            (HealthState::Ok, format!("HTTP {}", res.status().as_u16()))
        }
        Ok(res) => (
            HealthState::Failing,
            format!("HTTP {}", res.status().as_u16()),
        ),
        Err(e) if e.is_timeout() => (
            HealthState::Failing,
            format!("no answer within {}s", PROBE_TIMEOUT.as_secs()),
        ),
        Err(e) if e.is_connect() => (
            HealthState::Failing,
            "connection refused or unreachable".into(),
        ),
        Err(_) => (HealthState::Failing, "request failed".into()),
    };
    Probe {
        state,
        message,
        latency_ms: started.elapsed().as_millis() as u64,
        at: Utc::now(),
    }
}

impl Federation {
    /// Probes every joined neuron with an endpoint once; returns how many were probed.
    pub async fn probe_all(&self, client: &reqwest::Client) -> usize {
        let neurons = match self.store.list_neurons().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "probes skipped: cannot list neurons");
                return 0;
            }
        };
        let targets: Vec<(String, String)> = neurons
            .into_iter()
            .filter(|n| n.status.is_joined())
            .filter_map(|n| n.endpoint.map(|e| (n.id, e)))
            .collect();
        let count = targets.len();
        futures::stream::iter(targets)
            .for_each_concurrent(PROBES_AT_ONCE, |(id, endpoint)| async move {
                let p = probe(client, &endpoint).await;
                if p.state != HealthState::Ok {
                    metrics::counter!("cortex_neuron_probe_failures_total").increment(1);
                }
                if let Err(e) = self.store.record_probe(&id, &p).await {
                    tracing::warn!(neuron = %id, error = %e, "could not record a probe");
                }
            })
            .await;
        count
    }

    /// Probes every heartbeat interval while the database is ready.
    pub async fn run_prober(self, health: DbHealth) {
        let client = match reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "neuron prober could not start");
                return;
            }
        };
        let mut tick = tokio::time::interval(self.settings.heartbeat_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if health.is_ready() {
                self.probe_all(&client).await;
            }
        }
    }
}
