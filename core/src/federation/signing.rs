//! Signed neuron requests: the header names, the bytes a neuron signs and the hub's
//! identity it signs for, and the one-time ticket that opens the push channel.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Header names of a signed neuron request.
pub mod headers {
    /// The neuron's id.
    pub const NEURON: &str = "x-cortex-neuron";
    /// Milliseconds since the Unix epoch when the request was signed.
    pub const TIMESTAMP: &str = "x-cortex-timestamp";
    /// A fresh random string per request (16 to 64 characters).
    pub const NONCE: &str = "x-cortex-nonce";
    /// Base64 (standard, padded) Ed25519 signature of [`super::signing_message`].
    pub const SIGNATURE: &str = "x-cortex-signature";
}

/// How far a signed request's timestamp may be from the hub's clock.
pub const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// The bytes a neuron signs: method, path, SHA-256 of the body (hex), timestamp, nonce and
/// the id of the hub it is meant for ([`HubIdentity`]), one per line. Any change to any of
/// them breaks the signature, and a request signed for one hub is refused by every other.
pub fn signing_message(
    method: &str,
    path: &str,
    body: &[u8],
    timestamp_ms: i64,
    nonce: &str,
    hub_id: &str,
) -> Vec<u8> {
    let body_hash = hex::encode(Sha256::digest(body));
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path,
        body_hash,
        timestamp_ms,
        nonce,
        hub_id
    )
    .into_bytes()
}

/// Who a hub is, as `GET /api/federation/hub` says: the id neurons put in what they sign.
/// Hubs sharing one database share the id (they are one registry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HubIdentity {
    pub hub_id: String,
}

/// A one-time ticket for the push channel (`GET /api/federation/ws?ticket=…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WsTicket {
    pub ticket: String,
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_message_covers_every_part() {
        let base = signing_message("post", "/api/federation/register", b"{}", 1, "n", "h");
        assert!(String::from_utf8(base.clone())
            .unwrap()
            .starts_with("POST\n/api/federation/register\n"));
        for other in [
            signing_message("GET", "/api/federation/register", b"{}", 1, "n", "h"),
            signing_message("POST", "/api/federation/heartbeat", b"{}", 1, "n", "h"),
            signing_message("POST", "/api/federation/register", b"{ }", 1, "n", "h"),
            signing_message("POST", "/api/federation/register", b"{}", 2, "n", "h"),
            signing_message("POST", "/api/federation/register", b"{}", 1, "m", "h"),
            signing_message(
                "POST",
                "/api/federation/register",
                b"{}",
                1,
                "n",
                "other-hub",
            ),
        ] {
            assert_ne!(base, other);
        }
    }
}
