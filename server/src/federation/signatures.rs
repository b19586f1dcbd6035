//! Signed neuron requests: the signature a neuron sends (parsed from its headers at the
//! HTTP edge), checked against its public key, the hub's clock and the hub's id.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use cortex_core::federation::{headers, signing_message, MAX_CLOCK_SKEW_MS};

use super::{unauthorized, Federation};
use crate::error::ApiError;

/// What a signed request says about its signature (from its `x-cortex-*` headers), checked
/// for shape. Made only by [`Signed::parse`].
pub struct Signed<'a> {
    pub(super) neuron: &'a str,
    pub(super) timestamp_ms: i64,
    pub(super) nonce: &'a str,
    pub(super) signature: ed25519_dalek::Signature,
}

impl<'a> Signed<'a> {
    /// The four values a signed request sends (the neuron's id, the timestamp in ms, the
    /// nonce, the base64 signature), checked: the error (401) names the header that is
    /// wrong.
    pub fn parse(
        neuron: &'a str,
        timestamp_ms: &str,
        nonce: &'a str,
        signature: &str,
    ) -> Result<Self, ApiError> {
        let timestamp_ms = timestamp_ms.parse::<i64>().map_err(|_| {
            unauthorized(format!(
                "`{}` must be milliseconds since the Unix epoch",
                headers::TIMESTAMP
            ))
        })?;
        if !(16..=64).contains(&nonce.len())
            || !nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(unauthorized(format!(
                "`{}` must be 16-64 characters of A-Z a-z 0-9 - _",
                headers::NONCE
            )));
        }
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
            .map(|b| ed25519_dalek::Signature::from_bytes(&b))
            .ok_or_else(|| {
                unauthorized(format!(
                    "`{}` must be a base64 Ed25519 signature (64 bytes)",
                    headers::SIGNATURE
                ))
            })?;
        Ok(Self {
            neuron,
            timestamp_ms,
            nonce,
            signature,
        })
    }

    /// The neuron the request says it comes from.
    pub fn neuron(&self) -> &str {
        self.neuron
    }
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
