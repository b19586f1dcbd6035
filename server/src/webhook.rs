//! Alerts to a webhook: every decision Cortex takes by itself (an experiment promoted or a
//! variant switched off) and every change a guard rolls back is POSTed as JSON to
//! `CORTEX_ALERT_WEBHOOK_URL`, signed with HMAC-SHA256 under `CORTEX_ALERT_WEBHOOK_SECRET`,
//! and retried with backoff when the receiver fails or does not answer 2xx. Deliveries in
//! flight are lost when the hub stops; the audit log keeps every alert's change.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Header with the body's signature: `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "x-cortex-signature";

/// Pauses before the second, third and fourth attempt.
const RETRIES: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
];

/// One alert, as the receiver gets it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `decision` or `autoRollback`.
    pub kind: &'static str,
    pub rule_id: String,
    pub at: DateTime<Utc>,
    /// What happened, in words.
    pub text: String,
    /// The evidence (the decision or the guard's verdict, as JSON).
    pub details: serde_json::Value,
}

/// Where alerts go. Cheap to clone.
#[derive(Clone)]
pub struct Webhook {
    url: url::Url,
    secret: Arc<SecretString>,
    client: reqwest::Client,
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
    /// A webhook to `url` (checked at start-up: http or https), signing with `secret`.
    pub fn new(url: url::Url, secret: SecretString) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            // The operator named this URL; a redirect could lead anywhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Webhook {
            url,
            secret: Arc::new(secret),
            client,
        })
    }

    /// Sends `alert` in the background, retrying on failure.
    pub fn send(&self, alert: Alert) {
        let this = self.clone();
        tokio::spawn(async move {
            let body = match serde_json::to_vec(&alert) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "could not write an alert");
                    return;
                }
            };
            if !this.deliver(&body).await {
                tracing::warn!(rule = %alert.rule_id, kind = alert.kind, "the alert webhook did not take an alert after every retry");
            }
        });
    }

    /// Posts `body` until the receiver answers 2xx, at most `1 + RETRIES` times.
    async fn deliver(&self, body: &[u8]) -> bool {
        let sig = signature(self.secret.expose_secret().as_bytes(), body);
        for pause in std::iter::once(None).chain(RETRIES.iter().map(Some)) {
            if let Some(p) = pause {
                tokio::time::sleep(*p).await;
            }
            let sent = self
                .client
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, &sig)
                .body(body.to_vec())
                .send()
                .await;
            match sent {
                Ok(res) if res.status().is_success() => return true,
                Ok(res) => tracing::warn!(
                    status = res.status().as_u16(),
                    "the alert webhook refused an alert"
                ),
                Err(e) => tracing::warn!(error = %e, "could not reach the alert webhook"),
            }
        }
        false
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
