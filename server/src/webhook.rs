//! Alerts to a webhook: every alert the hub raises (an experiment promoted or a variant
//! switched off by Cortex itself, a change a guard rolls back, a flood of refused neuron
//! requests; see `crate::alerts`) is POSTed as JSON to
//! `CORTEX_ALERT_WEBHOOK_URL`, signed with HMAC-SHA256 under `CORTEX_ALERT_WEBHOOK_SECRET`.
//! Each alert is kept in the database first (the `alerts` table) and retried with growing
//! pauses until the receiver answers 2xx, for about seven hours: a hub that stops, or a
//! receiver that is down, delays an alert but does not lose it. Any hub sharing the database
//! may deliver it: a hub claims one alert at a time, for a minute, while it sends it, and
//! records the outcome only while its claim holds.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Header with the body's signature: `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "x-cortex-signature";

/// Pauses before the second, third, … attempt; after the last, the alert is given up
/// (it stays listed as failed).
pub const RETRIES: [Duration; 7] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(3600),
    Duration::from_secs(6 * 3600),
];

/// How long a hub holds an alert it is sending before another hub may take it: well beyond
/// one attempt (10 s).
const LEASE: Duration = Duration::from_secs(60);

/// Most alerts one round sends (the next round goes on).
const MAX_PER_ROUND: usize = 50;

/// How often the delivery loop looks for due alerts (it is also woken by each new one).
const POLL: Duration = Duration::from_secs(1);

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AlertState {
    Pending,
    Delivered,
    Failed,
    /// Raised without a webhook configured: kept for the dashboard only.
    DashboardOnly,
}

/// An alert as the database keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuedAlert {
    pub id: String,
    pub kind: String,
    pub rule_id: String,
    pub at: DateTime<Utc>,
    /// The JSON body, exactly as it is signed and sent.
    pub body: String,
    pub attempts: u32,
    pub state: AlertState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// It waits for the webhook (one was configured when it was raised).
    pub deliver: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
}

impl QueuedAlert {
    /// A new alert to keep: waiting for the webhook when `deliver`.
    pub fn of(alert: &Alert, deliver: bool) -> serde_json::Result<QueuedAlert> {
        Ok(QueuedAlert {
            id: alert
                .key
                .as_deref()
                .map(keyed_id)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            kind: alert.kind.to_string(),
            rule_id: alert.rule_id.clone(),
            at: alert.at,
            body: serde_json::to_string(alert)?,
            attempts: 0,
            state: if deliver {
                AlertState::Pending
            } else {
                AlertState::DashboardOnly
            },
            last_error: None,
            deliver,
            acknowledged_at: None,
            acknowledged_by: None,
        })
    }

    /// As the dashboard lists it (the text read from its body).
    pub fn entry(&self) -> cortex_core::alerts::AlertEntry {
        use cortex_core::alerts::Delivery;
        let text = serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|b| b.get("text").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or_default();
        cortex_core::alerts::AlertEntry {
            id: self.id.clone(),
            kind: self.kind.clone(),
            subject: self.rule_id.clone(),
            at: self.at,
            text,
            delivery: match self.state {
                AlertState::Pending => Delivery::Pending,
                AlertState::Delivered => Delivery::Delivered,
                AlertState::Failed => Delivery::Failed,
                AlertState::DashboardOnly => Delivery::DashboardOnly,
            },
            attempts: self.attempts,
            last_error: self.last_error.clone(),
            acknowledged_at: self.acknowledged_at,
            acknowledged_by: self.acknowledged_by.clone(),
        }
    }
}

/// Keeps `alert` in `store` (in the background: the caller does not wait), waiting for the
/// webhook when `deliver`; then runs `then`. An alert that cannot be stored is logged.
pub fn keep(
    store: crate::store::DynStore,
    alert: Alert,
    deliver: bool,
    then: impl FnOnce() + Send + 'static,
) {
    tokio::spawn(async move {
        let queued = match QueuedAlert::of(&alert, deliver) {
            Ok(q) => q,
            Err(e) => {
                tracing::warn!(error = %e, "could not write an alert");
                return;
            }
        };
        match store.queue_alert(&queued, Utc::now()).await {
            Ok(()) => then(),
            Err(e) => {
                tracing::error!(error = %e, subject = %alert.rule_id, kind = alert.kind, "could not keep an alert; the audit log has its change")
            }
        }
    });
}

/// Raises `alert`: kept for the dashboard, and sent to `webhook` if there is one.
pub fn raise(store: &crate::store::DynStore, webhook: Option<&Webhook>, alert: Alert) {
    match webhook {
        Some(w) => w.send(alert),
        None => keep(store.clone(), alert, false, || {}),
    }
}

/// The columns a [`QueuedAlert`] is read from.
pub(crate) const ALERT_COLS: &str =
    "id, kind, rule_id, at, body, attempts, delivered_at, failed_at, last_error, deliver, acknowledged_at, acknowledged_by";

/// One alert, as the receiver gets it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `decision`, `autoRollback`, `refusals`, `migration`, `drift`, `unhealthy`, `eventRate`,
    /// `database` or `update`.
    pub kind: &'static str,
    /// The rule it is about (for `refusals`: the source address).
    pub rule_id: String,
    pub at: DateTime<Utc>,
    /// What happened, in words.
    pub text: String,
    /// The evidence (the decision or the guard's verdict, as JSON).
    pub details: serde_json::Value,
    /// Names a condition that may be seen again (by this hub later, or by another hub on
    /// the same database): an alert with a key is kept once. `None`: every raise is kept.
    #[serde(skip)]
    pub key: Option<String>,
}

/// The id of the alert about condition `key`: the same on every hub.
fn keyed_id(key: &str) -> String {
    use sha2::Digest as _;
    let h = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Where alerts go. Cheap to clone.
#[derive(Clone)]
pub struct Webhook {
    url: url::Url,
    secret: Arc<SecretString>,
    client: reqwest::Client,
    store: crate::store::DynStore,
    /// Wakes the delivery loop when an alert is queued.
    queued: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url.as_str())
            .finish()
    }
}

/// `sha256=<hex>`: the signature of `body` under `secret`, as [`SIGNATURE_HEADER`] carries it.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = cortex_core::mac::hmac_sha256(secret);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    /// A webhook to `url` (checked at start-up: http or https), signing with `secret`,
    /// keeping alerts in `store` until they are delivered.
    pub fn new(
        url: url::Url,
        secret: SecretString,
        store: crate::store::DynStore,
    ) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            // The operator named this URL; a redirect could lead anywhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Webhook {
            url,
            secret: Arc::new(secret),
            client,
            store,
            queued: Arc::default(),
        })
    }

    /// Keeps `alert` in the database and wakes the delivery loop (in the background: the
    /// caller does not wait). An alert that cannot be stored is logged.
    pub fn send(&self, alert: Alert) {
        let queued = self.queued.clone();
        keep(self.store.clone(), alert, true, move || queued.notify_one());
    }

    /// Delivers due alerts until the hub stops: every [`POLL`], and at once when one is
    /// queued. Waits while the database is unreachable.
    pub async fn run(self, health: crate::db_health::DbHealth) {
        loop {
            if health.is_ready() {
                self.deliver_due(Utc::now()).await;
            }
            let _ = tokio::time::timeout(POLL, self.queued.notified()).await;
        }
    }

    /// One round: claims the alerts due at `now` and makes one attempt at each, recording
    /// the outcome (delivered, due again after the next pause, or given up). Returns how
    /// many were delivered.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> usize {
        let mut delivered = 0;
        // One alert per claim: an attempt (at most 10 s) always ends inside its lease, so
        // no other hub takes an alert this one is still sending.
        for _ in 0..MAX_PER_ROUND {
            // From the clock as it is now: earlier attempts of this round took time.
            let lease = now.max(Utc::now()) + chrono::Duration::from_std(LEASE).unwrap_or_default();
            let a = match self.store.claim_alerts(now, lease, 1).await {
                Ok(mut due) if !due.is_empty() => due.remove(0),
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the alerts due");
                    break;
                }
            };
            let outcome = self.attempt(a.body.as_bytes()).await;
            let at = Utc::now();
            let retry_at = match &outcome {
                Ok(()) => None,
                Err(_) => RETRIES
                    .get(a.attempts as usize)
                    .and_then(|p| chrono::Duration::from_std(*p).ok())
                    .map(|p| at + p),
            };
            let error = outcome.as_ref().err().map(String::as_str);
            match (&outcome, retry_at) {
                (Ok(()), _) => {
                    delivered += 1;
                    metrics::counter!("cortex_alert_deliveries_total", "outcome" => "delivered")
                        .increment(1);
                }
                (Err(e), Some(_)) => {
                    metrics::counter!("cortex_alert_deliveries_total", "outcome" => "retry")
                        .increment(1);
                    tracing::warn!(error = %e, rule = %a.rule_id, attempt = a.attempts + 1, "the alert webhook did not take an alert; it is tried again");
                }
                (Err(e), None) => {
                    metrics::counter!("cortex_alert_deliveries_total", "outcome" => "failed")
                        .increment(1);
                    tracing::error!(error = %e, rule = %a.rule_id, attempts = a.attempts + 1, "the alert webhook did not take an alert after every retry; it is given up");
                }
            }
            if let Err(e) = self
                .store
                .alert_attempt(&a.id, lease, at, outcome.is_ok(), retry_at, error)
                .await
            {
                tracing::warn!(error = %e, "could not record an alert's delivery");
            }
        }
        delivered
    }

    /// Posts `body` once; why not, if the receiver did not answer 2xx.
    async fn attempt(&self, body: &[u8]) -> Result<(), String> {
        let sig = signature(self.secret.expose_secret().as_bytes(), body);
        let sent = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, &sig)
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(res) if res.status().is_success() => Ok(()),
            Ok(res) => Err(format!("the receiver answered {}", res.status().as_u16())),
            // The error names the URL the operator configured; keep only what happened.
            Err(e) if e.is_timeout() => Err("no answer within 10 s".into()),
            Err(e) if e.is_connect() => Err("could not connect".into()),
            Err(_) => Err("the request failed".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body_in_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
