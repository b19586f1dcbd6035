//! What a server neuron needs to join a hub: its Ed25519 key pair (kept in a file), signed
//! registration, and heartbeats with the neuron token the hub hands out.

use base64::Engine as _;
use cortex_core::federation::{headers, signing_message, Heartbeat, Joined, Registration};
use ed25519_dalek::{Signer, SigningKey};
use std::path::Path;

use crate::{HubClient, SdkError};

/// A neuron's key pair.
#[derive(Clone)]
pub struct NeuronKey {
    signing: SigningKey,
}

impl std::fmt::Debug for NeuronKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NeuronKey")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl NeuronKey {
    /// A fresh random key pair.
    pub fn generate() -> Self {
        Self {
            signing: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// Loads the key from `path` (base64 of the 32-byte secret), or creates it there with
    /// owner-only permissions. Keep this file: the hub knows the neuron by this key.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                    .ok_or_else(|| {
                        std::io::Error::other(format!(
                            "{} is not a neuron key (base64 of 32 bytes)",
                            path.display()
                        ))
                    })?;
                Ok(Self {
                    signing: SigningKey::from_bytes(&bytes),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let text = base64::engine::general_purpose::STANDARD.encode(key.signing.to_bytes());
                write_private(path, text.as_bytes())?;
                Ok(key)
            }
            Err(e) => Err(e),
        }
    }

    /// The public key as the hub expects it (base64).
    pub fn public_key(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.signing.verifying_key().to_bytes())
    }

    /// The signature headers for a request to the hub whose id is `hub_id` (from
    /// `GET /api/federation/hub`; timestamp now, a fresh nonce).
    pub fn sign(
        &self,
        neuron_id: &str,
        hub_id: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Vec<(&'static str, String)> {
        let timestamp = chrono::Utc::now().timestamp_millis();
        self.sign_at(neuron_id, hub_id, method, path, body, timestamp, &nonce())
    }

    /// [`NeuronKey::sign`] with a given timestamp and nonce (tests, replays).
    #[allow(clippy::too_many_arguments)]
    pub fn sign_at(
        &self,
        neuron_id: &str,
        hub_id: &str,
        method: &str,
        path: &str,
        body: &[u8],
        timestamp_ms: i64,
        nonce: &str,
    ) -> Vec<(&'static str, String)> {
        let message = signing_message(method, path, body, timestamp_ms, nonce, hub_id);
        let signature = self.signing.sign(&message);
        vec![
            (headers::NEURON, neuron_id.to_string()),
            (headers::TIMESTAMP, timestamp_ms.to_string()),
            (headers::NONCE, nonce.to_string()),
            (
                headers::SIGNATURE,
                base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
            ),
        ]
    }
}

/// 24 random URL-safe characters.
pub fn nonce() -> String {
    use rand::RngCore;
    let mut b = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// The registration path.
pub const REGISTER_PATH: &str = "/api/federation/register";
/// The heartbeat path.
pub const HEARTBEAT_PATH: &str = "/api/federation/heartbeat";
/// The push channel path.
pub const WS_PATH: &str = "/api/federation/ws";
/// The analytics path.
pub const STREAM_ANALYTICS_PATH: &str = "/api/federation/stream-analytics";
/// Where the hub says who it is.
pub const HUB_PATH: &str = "/api/federation/hub";
/// Where a neuron gets a one-time ticket for the push channel.
pub const WS_TICKET_PATH: &str = "/api/federation/ws-ticket";

impl HubClient {
    /// The hub's id, which every signed request names (from `GET /api/federation/hub`,
    /// asked once and kept).
    pub async fn hub_id(&self) -> Result<String, SdkError> {
        if let Some(id) = self
            .hub_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(id);
        }
        let req = self.http.get(format!("{}{HUB_PATH}", self.base));
        let id: cortex_core::federation::HubIdentity = self.send(req).await?;
        *self.hub_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.hub_id.clone());
        Ok(id.hub_id)
    }

    /// Registers (or re-registers) a neuron, signed with `key`. While the join policy holds
    /// it `pending`, the answer has no token: call again every `heartbeat_seconds`.
    pub async fn register(
        &self,
        registration: &Registration,
        key: &NeuronKey,
    ) -> Result<Joined, SdkError> {
        let body =
            serde_json::to_vec(registration).map_err(|e| SdkError::Invalid(e.to_string()))?;
        let signed_for = |hub: String| {
            let mut req = self
                .http
                .post(format!("{}{REGISTER_PATH}", self.base))
                .header(reqwest::header::CONTENT_TYPE, "application/json");
            for (name, value) in key.sign(&registration.id, &hub, "POST", REGISTER_PATH, &body) {
                req = req.header(name, value);
            }
            req.body(body.clone())
        };
        match self.send(signed_for(self.hub_id().await?)).await {
            // The hub has another id now (a new database): ask again, sign again, once.
            Err(SdkError::Api {
                status: 401,
                body: e,
            }) if e.error.message.contains("hub's id") => {
                *self.hub_id.lock().unwrap_or_else(|p| p.into_inner()) = None;
                self.send(signed_for(self.hub_id().await?)).await
            }
            other => other,
        }
    }

    /// Sends a batch of events with the neuron token; the answer comes once the hub has it
    /// on disk. Resending a batch with the same id is safe (it is counted once).
    pub async fn stream_analytics(
        &self,
        neuron_token: &str,
        batch: &cortex_core::analytics::EventBatch,
    ) -> Result<cortex_core::analytics::BatchAck, SdkError> {
        let req = self
            .http
            .post(format!("{}{STREAM_ANALYTICS_PATH}", self.base))
            .bearer_auth(neuron_token)
            .json(batch);
        self.send(req).await
    }

    /// Sends a heartbeat with the neuron token; the answer carries a fresh token.
    pub async fn heartbeat(
        &self,
        neuron_token: &str,
        beat: &Heartbeat,
    ) -> Result<Joined, SdkError> {
        let req = self
            .http
            .post(format!("{}{HEARTBEAT_PATH}", self.base))
            .bearer_auth(neuron_token)
            .json(beat);
        self.send(req).await
    }
}
