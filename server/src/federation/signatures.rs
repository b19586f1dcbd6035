//! Signed neuron requests: the signature a neuron sends (parsed from its headers at the
//! HTTP edge), checked against its public key, the hub's clock and the hub's id.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use cortex_core::federation::{signing_message, MAX_CLOCK_SKEW_MS};

use super::{unauthorized, Federation};
use crate::error::ApiError;

/// The signature headers of a request, parsed.
pub struct Signed<'a> {
    pub neuron: &'a str,
    pub timestamp_ms: i64,
    pub nonce: &'a str,
    pub signature: ed25519_dalek::Signature,
}

/// Decodes a base64 Ed25519 public key.
pub fn public_key(b64: &str) -> Result<ed25519_dalek::VerifyingKey, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok())
        .ok_or_else(|| {
            ApiError::bad_request("publicKey: not an Ed25519 public key (32 bytes, base64)")
        })
}

impl Federation {
    /// Checks a signed request: timestamp within five minutes of the hub's clock and a
    /// signature by `key` over method, path, body, timestamp, nonce and this hub's id. The
    /// nonce is checked (and remembered) where the request is recorded.
    pub(super) async fn verify_signature(
        &self,
        signed: &Signed<'_>,
        method: &str,
        path: &str,
        body: &[u8],
        key: &ed25519_dalek::VerifyingKey,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let skew = now.timestamp_millis() - signed.timestamp_ms;
        if skew.abs() > MAX_CLOCK_SKEW_MS {
            return Err(unauthorized(format!(
                "request timestamp is {}s away from the hub's clock (limit {}s): sign with the current time, and check the neuron's clock",
                skew / 1000,
                MAX_CLOCK_SKEW_MS / 1000
            )));
        }
        let hub = self.identity().await?.hub_id;
        let message = signing_message(method, path, body, signed.timestamp_ms, signed.nonce, &hub);
        key.verify_strict(&message, &signed.signature).map_err(|_| {
            unauthorized(format!("signature does not match: sign METHOD, path, SHA-256 of the body, timestamp, nonce and this hub's id ({hub}, from GET /api/federation/hub) with the neuron's key"))
        })
    }
}
