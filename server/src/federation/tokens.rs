//! Neuron tokens: short-lived HS256 JWTs (`ctn_…`) handed out at registration and on every
//! heartbeat, and their revocation. A token says which neuron it is for and whether that
//! neuron is a browser app (a narrower token: see [`NeuronToken::browser`]). Removing or
//! retiring a neuron revokes every token issued to it before that moment, at once and on
//! every hub: the revocation is written to the database and announced to the other hubs.

use chrono::{DateTime, Duration, Utc};
use cortex_core::ErrorCode;
use jsonwebtoken::{decode, encode, Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::{fanout, unauthorized, Federation, NEURON_TOKEN_PREFIX};
use crate::error::ApiError;

pub(super) const AUDIENCE: &str = "cortex-neuron";

/// How long a revocation is kept: past a token's lifetime every token it covers has expired.
const KEEP_REVOCATIONS_FOR: Duration = Duration::hours(24);

#[derive(Debug, Serialize, Deserialize)]
struct NeuronClaims {
    aud: String,
    sub: String,
    iat: i64,
    exp: i64,
    /// Issued at, in milliseconds (revocation compares against it).
    #[serde(default)]
    ims: i64,
    /// A browser neuron's token.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    brw: bool,
}

/// What a valid neuron token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeuronToken {
    /// The neuron it was issued to.
    pub id: String,
    /// A browser neuron (joined with a publishable key): it may resolve pages, sync rules,
    /// report events and hold its own channel, but never read the impact report or take
    /// bundles pushed for server neurons.
    pub browser: bool,
    issued_ms: i64,
}

/// Neuron tokens verified lately: token → what it says and its expiry (Unix seconds). A
/// neuron sends the same token for minutes, and checking its signature and claims again on
/// every `apply` took a twentieth of the hub's CPU under load. Revocation is checked on
/// every use, cached or not. Bounded: when full, it starts over.
#[derive(Clone, Default)]
pub(super) struct VerifiedTokens(Arc<RwLock<HashMap<Box<str>, (NeuronToken, i64)>>>);

impl VerifiedTokens {
    pub(super) const MAX: usize = 4096;

    fn get(&self, token: &str, now: i64) -> Option<NeuronToken> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(token)
            .filter(|(_, exp)| *exp > now)
            .map(|(t, _)| t.clone())
    }

    fn put(&self, token: &str, said: &NeuronToken, exp: i64) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(token.into(), (said.clone(), exp));
    }
}

/// Revoked neurons: id → when (ms). Tokens issued to a neuron at or before that moment are
/// refused. Shared by every request of this hub; filled from the database and other hubs.
#[derive(Clone, Default)]
pub(super) struct Revocations(Arc<RwLock<HashMap<String, i64>>>);

impl Revocations {
    fn covers(&self, token: &NeuronToken) -> bool {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(&token.id).is_some_and(|at| token.issued_ms <= *at)
    }

    pub(super) fn note(&self, id: &str, at_ms: i64) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        let held = map.entry(id.to_string()).or_insert(at_ms);
        *held = (*held).max(at_ms);
    }

    fn forget_before(&self, before_ms: i64) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, at| *at >= before_ms);
    }
}

/// How long a WebSocket ticket may wait to be used.
pub const TICKET_TTL: Duration = Duration::seconds(30);
const TICKET_AUDIENCE: &str = "cortex-ws-ticket";
/// Prefix of WebSocket tickets.
pub const TICKET_PREFIX: &str = "ctw_";

#[derive(Debug, Serialize, Deserialize)]
struct TicketClaims {
    aud: String,
    sub: String,
    exp: i64,
    /// The neuron token's issue time (ms): revoking the neuron voids its tickets too.
    ims: i64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    brw: bool,
    /// Random: a ticket opens one socket.
    jti: String,
}

/// Tickets already used, until they expire (Unix seconds). Bounded: when full, the
/// expired ones go; if none has, new tickets are refused until some expire.
#[derive(Clone, Default)]
pub(super) struct UsedTickets(Arc<std::sync::Mutex<HashMap<String, i64>>>);

/// A ticket read and not yet used (see [`Federation::read_ws_ticket`]).
#[derive(Debug)]
pub struct WsTicketUse {
    jti: String,
    exp: i64,
}

impl UsedTickets {
    const MAX: usize = 100_000;

    fn used(&self, jti: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(jti)
    }

    /// Marks `jti` used; false when it was used before (or there is no room).
    fn take(&self, jti: &str, exp: i64, now: i64) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= Self::MAX {
            map.retain(|_, e| *e > now);
            if map.len() >= Self::MAX {
                return false;
            }
        }
        map.insert(jti.to_string(), exp).is_none()
    }
}

impl Federation {
    /// A one-time ticket that opens the push channel for the neuron `token` names, for
    /// clients that cannot send headers on a WebSocket (browsers): valid [`TICKET_TTL`],
    /// for one connection, and void when the neuron is revoked.
    pub fn issue_ws_ticket(
        &self,
        token: &NeuronToken,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), ApiError> {
        let exp = now + TICKET_TTL;
        let claims = TicketClaims {
            aud: TICKET_AUDIENCE.into(),
            sub: token.id.clone(),
            exp: exp.timestamp(),
            ims: token.issued_ms,
            brw: token.browser,
            jti: crate::auth::api_token::random_id(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map(|t| (format!("{TICKET_PREFIX}{t}"), exp))
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("ticket not signed: {e}")))
    }

    /// What a WebSocket ticket says, if it is valid and unused, without using it: the
    /// caller checks the rest (the neuron, the page's origin) and then calls
    /// [`Federation::use_ws_ticket`], so a ticket tried from a wrong origin stays usable.
    pub fn read_ws_ticket(&self, ticket: &str) -> Result<(NeuronToken, WsTicketUse), ApiError> {
        let bad = || {
            unauthorized(
                "WebSocket ticket is invalid, expired or used: get a new one from POST /api/federation/ws-ticket",
            )
        };
        let jwt = ticket.strip_prefix(TICKET_PREFIX).ok_or_else(bad)?;
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_audience(&[TICKET_AUDIENCE]);
        v.set_required_spec_claims(&["exp", "aud", "sub"]);
        let claims = decode::<TicketClaims>(jwt, &self.decoding, &v)
            .map_err(|_| bad())?
            .claims;
        if self.used_tickets.used(&claims.jti) {
            return Err(bad());
        }
        let said = NeuronToken {
            id: claims.sub,
            browser: claims.brw,
            issued_ms: claims.ims,
        };
        if self.revoked.covers(&said) {
            return Err(bad());
        }
        Ok((
            said,
            WsTicketUse {
                jti: claims.jti,
                exp: claims.exp,
            },
        ))
    }

    /// Uses up a ticket read with [`Federation::read_ws_ticket`]; false if it was used
    /// meanwhile.
    pub fn use_ws_ticket(&self, ticket: WsTicketUse) -> bool {
        self.used_tickets
            .take(&ticket.jti, ticket.exp, Utc::now().timestamp())
    }

    /// A token for neuron `id`, valid for the configured lifetime.
    pub(super) fn issue_token(
        &self,
        id: &str,
        browser: bool,
        now: DateTime<Utc>,
    ) -> Option<(String, DateTime<Utc>)> {
        let exp =
            now + Duration::from_std(self.settings.token_ttl).unwrap_or(Duration::minutes(15));
        let claims = NeuronClaims {
            aud: AUDIENCE.into(),
            sub: id.into(),
            iat: now.timestamp(),
            exp: exp.timestamp(),
            ims: now.timestamp_millis(),
            brw: browser,
        };
        match encode(&Header::new(Algorithm::HS256), &claims, &self.encoding) {
            Ok(t) => Some((format!("{NEURON_TOKEN_PREFIX}{t}"), exp)),
            Err(e) => {
                tracing::error!(error = %e, "could not sign a neuron token");
                None
            }
        }
    }

    /// What a bearer token says, if it is a valid, unrevoked neuron token.
    pub fn verify_token(&self, bearer: &str) -> Result<NeuronToken, ApiError> {
        let jwt = bearer.strip_prefix(NEURON_TOKEN_PREFIX).ok_or_else(|| {
            unauthorized(
                "expected a neuron token (`Authorization: Bearer ctn_…`, from registration)",
            )
        })?;
        let now = Utc::now().timestamp();
        let said = match self.verified.get(jwt, now) {
            Some(said) => said,
            None => {
                let mut v = Validation::new(Algorithm::HS256);
                v.leeway = 0;
                v.set_audience(&[AUDIENCE]);
                v.set_required_spec_claims(&["exp", "aud", "sub"]);
                let claims = decode::<NeuronClaims>(jwt, &self.decoding, &v)
                    .map_err(|e| match e.kind() {
                        jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                            unauthorized("neuron token expired; register again to get a new one")
                        }
                        _ => {
                            unauthorized("neuron token is invalid (tampered, or from another hub)")
                        }
                    })?
                    .claims;
                let said = NeuronToken {
                    id: claims.sub,
                    browser: claims.brw,
                    issued_ms: if claims.ims > 0 {
                        claims.ims
                    } else {
                        claims.iat.saturating_mul(1000)
                    },
                };
                self.verified.put(jwt, &said, claims.exp);
                said
            }
        };
        if self.revoked.covers(&said) {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                format!(
                    "neuron token was revoked: neuron `{}` was removed or retired; register again",
                    said.id
                ),
            ));
        }
        Ok(said)
    }

    /// Revokes every token issued to neuron `id` until now and closes its socket: here at
    /// once, on the other hubs through the database and an announcement.
    pub(super) async fn revoke(&self, id: &str) {
        self.revoke_with(id, None).await;
    }

    /// [`Federation::revoke`], telling the neuron first that it is retired (`retire`: why),
    /// wherever it is connected, so it leaves instead of registering again.
    pub(super) async fn revoke_with(&self, id: &str, retire: Option<&str>) {
        let at = Utc::now();
        self.revoked.note(id, at.timestamp_millis());
        if let Some(reason) = retire {
            self.tell_retired(id, reason);
        }
        self.channels.kick(id);
        if let Err(e) = self.store.revoke_neuron(id, at).await {
            // This hub already refuses the tokens; others learn it from the announcement.
            tracing::warn!(neuron = %id, error = %e, "revocation not written to the database");
        }
        self.announce(fanout::Announcement::Revoke {
            hub: self.hub_id.to_string(),
            neuron: id.to_string(),
            at_ms: at.timestamp_millis(),
            retire: retire.map(str::to_string),
        })
        .await;
    }

    /// Queues a `retire` message on neuron `id`'s socket, if it is connected here (the
    /// socket's writer sends what is queued before it closes).
    pub(super) fn tell_retired(&self, id: &str, reason: &str) {
        self.channels.send_to(
            &[id.to_string()],
            &cortex_core::federation::wire::HubMessage::Retire {
                reason: reason.to_string(),
            },
        );
    }

    /// Reads the revocations of the last day from the database (at start and on every
    /// sweep: a hub that missed an announcement catches up within a sweep).
    pub(super) async fn load_revocations(&self, now: DateTime<Utc>) -> Result<(), ApiError> {
        let since = now - KEEP_REVOCATIONS_FOR;
        for (id, at) in self.store.revocations_since(since).await? {
            self.revoked.note(&id, at.timestamp_millis());
        }
        self.revoked.forget_before(since.timestamp_millis());
        self.store.prune_revocations(since).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: &str, issued_ms: i64) -> NeuronToken {
        NeuronToken {
            id: id.into(),
            browser: false,
            issued_ms,
        }
    }

    #[test]
    fn a_remembered_token_counts_only_until_it_expires() {
        let seen = VerifiedTokens::default();
        seen.put("t1", &token("shop", 0), 1_000);
        assert_eq!(seen.get("t1", 999).map(|t| t.id), Some("shop".into()));
        assert_eq!(seen.get("t1", 1_000), None, "expired at its exp");
        assert_eq!(seen.get("t2", 0), None, "never seen");
        for i in 0..VerifiedTokens::MAX {
            seen.put(&format!("x{i}"), &token("n", 0), 2_000);
        }
        let len = seen.0.read().unwrap().len();
        assert!(len <= VerifiedTokens::MAX, "bounded: {len}");
    }

    #[test]
    fn a_ticket_is_used_once() {
        let used = UsedTickets::default();
        assert!(used.take("j1", 100, 0));
        assert!(!used.take("j1", 100, 0), "second use");
        assert!(used.take("j2", 100, 0));
    }

    #[test]
    fn a_revocation_covers_tokens_issued_until_then_only() {
        let r = Revocations::default();
        r.note("shop", 5_000);
        assert!(r.covers(&token("shop", 4_999)));
        assert!(r.covers(&token("shop", 5_000)));
        assert!(!r.covers(&token("shop", 5_001)), "issued after: a new join");
        assert!(!r.covers(&token("other", 1)));
        r.note("shop", 1_000);
        assert!(
            r.covers(&token("shop", 4_000)),
            "an older note never narrows it"
        );
        r.forget_before(6_000);
        assert!(!r.covers(&token("shop", 1)));
    }
}
