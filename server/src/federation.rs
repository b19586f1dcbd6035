//! The federation hub: neurons join with a signed registration, heartbeat with a short-lived
//! neuron token, and a sweeper moves silent ones to `unhealthy` and then `retired`.

pub mod admin;
pub mod browser;
pub mod channel;
pub mod fanout;
pub mod http;
pub mod joins;
pub mod neuron_probe;
pub mod refusals;
pub mod tokens;

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use cortex_core::audit::AuditRecord;
pub use cortex_core::federation::PushResult;
use cortex_core::federation::{
    headers, signing_message, Admission, Heartbeat, JoinPolicy, Joined, Neuron, NeuronStatus,
    Registration, Transport, MAX_CLOCK_SKEW_MS,
};
use cortex_core::ErrorCode;
use jsonwebtoken::{DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

use crate::db_health::DbHealth;
use crate::error::ApiError;
use crate::store::DynStore;

/// Prefix of neuron tokens, so they are never mistaken for API tokens or sessions.
pub const NEURON_TOKEN_PREFIX: &str = "ctn_";
/// Settings key of the hub's identity (what neurons sign).
pub const HUB_ID_SETTING: &str = "federation.hub_id";
/// Settings key of the join policy (JSON).
pub const JOIN_POLICY_SETTING: &str = "federation.join_policy";
/// Largest registration body.
pub const MAX_REGISTRATION_BYTES: usize = 16 * 1024;
/// Largest heartbeat body.
pub const MAX_HEARTBEAT_BYTES: usize = 64 * 1024;
/// Largest bundle a push carries (its JSON).
pub const MAX_BUNDLE_BYTES: usize = 256 * 1024;

/// Timings of the federation, from the config.
#[derive(Debug, Clone, Copy)]
pub struct FederationSettings {
    pub heartbeat_interval: std::time::Duration,
    pub unhealthy_after: std::time::Duration,
    pub retire_after: std::time::Duration,
    pub token_ttl: std::time::Duration,
    /// Registrations per source address and minute (sustained).
    pub registrations_per_minute: u32,
    /// Most pending neurons.
    pub max_pending: u32,
    /// Probe endpoints on loopback addresses.
    pub probe_allow_loopback: bool,
    /// Browser neurons one publishable key may join per minute (sustained).
    pub browser_joins_per_minute: u32,
}

/// Acks waiting to be written: the highest revision per (neuron, scope). Ten thousand
/// neurons acking one push become one transaction instead of ten thousand.
type AckBuffer = Arc<
    std::sync::Mutex<
        std::collections::HashMap<(String, cortex_core::federation::Scope), (u64, DateTime<Utc>)>,
    >,
>;

/// How often buffered acks are written.
const ACK_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// How long the join policy and the kinds are reused before they are read again (they
/// change rarely; another hub's change shows within this time).
const POLICY_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// A value read from the database, reused for [`POLICY_TTL`].
type Cached<T> = Arc<std::sync::Mutex<Option<(std::time::Instant, T)>>>;

fn cached<T: Clone>(c: &Cached<T>) -> Option<T> {
    let guard = c.lock().unwrap_or_else(|p| p.into_inner());
    guard
        .as_ref()
        .filter(|(at, _)| at.elapsed() < POLICY_TTL)
        .map(|(_, v)| v.clone())
}

fn remember<T>(c: &Cached<T>, value: T) {
    *c.lock().unwrap_or_else(|p| p.into_inner()) = Some((std::time::Instant::now(), value));
}

/// The federation service. Cheap to clone.
#[derive(Clone)]
pub struct Federation {
    /// This hub's id in fan-out announcements (new at every start).
    hub_id: Arc<str>,
    acks: AckBuffer,
    refusals: refusals::Refusals,
    policy: Cached<JoinPolicy>,
    identity: Cached<String>,
    kinds: Cached<Arc<Vec<cortex_core::federation::NeuronKind>>>,
    browser_keys: Cached<Arc<Vec<cortex_core::federation::PublishableKey>>>,
    /// Origins of all publishable keys, for the CORS check (refreshed when keys are read).
    origins: Arc<std::sync::RwLock<std::collections::HashSet<String>>>,
    store: DynStore,
    encoding: Arc<EncodingKey>,
    decoding: Arc<DecodingKey>,
    verified: tokens::VerifiedTokens,
    revoked: tokens::Revocations,
    used_tickets: tokens::UsedTickets,
    settings: FederationSettings,
    channels: channel::Channels,
    joins: joins::JoinQueue,
    /// Registrations per source address.
    registrations: Arc<crate::analytics::limiter::RateLimiter>,
    /// Browser joins per publishable key (the key is public: anyone may use it).
    browser_joins: Arc<crate::analytics::limiter::RateLimiter>,
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message)
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Forbidden, message)
}

/// The signature headers of a request, parsed.
struct Signed<'a> {
    neuron: &'a str,
    timestamp_ms: i64,
    nonce: &'a str,
    signature: ed25519_dalek::Signature,
}

fn header<'a>(h: &'a axum::http::HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    h.get(name).and_then(|v| v.to_str().ok()).ok_or_else(|| {
        unauthorized(format!(
            "missing `{name}` header: neuron requests are signed (see README_federation.md)"
        ))
    })
}

fn parse_signed(h: &axum::http::HeaderMap) -> Result<Signed<'_>, ApiError> {
    let neuron = header(h, headers::NEURON)?;
    let timestamp_ms = header(h, headers::TIMESTAMP)?.parse::<i64>().map_err(|_| {
        unauthorized(format!(
            "`{}` must be milliseconds since the Unix epoch",
            headers::TIMESTAMP
        ))
    })?;
    let nonce = header(h, headers::NONCE)?;
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
        .decode(header(h, headers::SIGNATURE)?)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
        .map(|b| ed25519_dalek::Signature::from_bytes(&b))
        .ok_or_else(|| {
            unauthorized(format!(
                "`{}` must be a base64 Ed25519 signature (64 bytes)",
                headers::SIGNATURE
            ))
        })?;
    Ok(Signed {
        neuron,
        timestamp_ms,
        nonce,
        signature,
    })
}

fn check_registration_size(body: &[u8]) -> Result<(), ApiError> {
    if body.len() > MAX_REGISTRATION_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("a registration is at most {MAX_REGISTRATION_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn parse_registration(body: &[u8]) -> Result<Registration, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "registration is not valid JSON of the expected shape: {e}"
        ))
    })
}

/// The registry entry a registration describes. Recording it keeps what the hub already
/// knew of the neuron (pinned, first registration, health, last probe) and sets the status.
fn registry_entry(reg: Registration, now: DateTime<Utc>) -> Neuron {
    Neuron {
        id: reg.id,
        slug: reg.slug,
        kind: reg.kind,
        version: reg.version,
        capabilities: reg.capabilities,
        tags: reg.tags,
        region: reg.region,
        endpoint: reg.endpoint,
        public_key: reg.public_key,
        status: NeuronStatus::Pending,
        pinned: false,
        registered_at: now,
        last_seen_at: now,
        health: Default::default(),
        checks: Vec::new(),
        load: Default::default(),
        probe: None,
        acked: Vec::new(),
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
    pub fn new(store: DynStore, secret: &SecretString, settings: FederationSettings) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        Self {
            hub_id: uuid::Uuid::new_v4().simple().to_string().into(),
            acks: AckBuffer::default(),
            refusals: refusals::Refusals::default(),
            policy: Cached::default(),
            identity: Cached::default(),
            kinds: Cached::default(),
            browser_keys: Cached::default(),
            origins: Arc::default(),
            store,
            encoding: Arc::new(EncodingKey::from_secret(bytes)),
            decoding: Arc::new(DecodingKey::from_secret(bytes)),
            verified: tokens::VerifiedTokens::default(),
            revoked: tokens::Revocations::default(),
            used_tickets: tokens::UsedTickets::default(),
            settings,
            channels: channel::Channels::default(),
            joins: joins::JoinQueue::default(),
            registrations: Arc::new(crate::analytics::limiter::RateLimiter::new(
                f64::from(settings.registrations_per_minute.max(1)) / 60.0,
                f64::from(settings.registrations_per_minute.max(1)),
            )),
            browser_joins: Arc::new(crate::analytics::limiter::RateLimiter::new(
                f64::from(settings.browser_joins_per_minute.max(1)) / 60.0,
                f64::from(settings.browser_joins_per_minute.max(1)),
            )),
        }
    }

    /// The live push channels.
    pub fn channels(&self) -> &channel::Channels {
        &self.channels
    }

    /// Stores a bundle (a JSON object of at most [`MAX_BUNDLE_BYTES`]) as the next revision
    /// of `scope` and sends it to every connected neuron in the scope at once. Editor;
    /// audited as `bundle.push`.
    pub async fn push(
        &self,
        scope: &cortex_core::federation::Scope,
        kind: cortex_core::federation::BundleKind,
        body: &serde_json::Value,
        audience: &cortex_core::federation::Audience,
        who: &cortex_core::user::Principal,
    ) -> Result<PushResult, ApiError> {
        crate::auth::require_role(who, cortex_core::Role::Editor)?;
        if !body.is_object() {
            return Err(ApiError::bad_request("body: a bundle is a JSON object"));
        }
        let size = body.to_string().len();
        if size > MAX_BUNDLE_BYTES {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("body: a bundle is at most {MAX_BUNDLE_BYTES} bytes (this one is {size})"),
            ));
        }
        self.store_and_send(scope, kind, body, audience, &who.actor)
            .await
    }

    /// [`Federation::push`] without its checks, for the hub's own pushes (the layout rule
    /// set after every change, as `hub`).
    pub(crate) async fn store_and_send(
        &self,
        scope: &cortex_core::federation::Scope,
        kind: cortex_core::federation::BundleKind,
        body: &serde_json::Value,
        audience: &cortex_core::federation::Audience,
        actor: &str,
    ) -> Result<PushResult, ApiError> {
        let audit = AuditRecord::new(actor, "bundle.push", String::new());
        let bundle = self
            .store
            .push_bundle(scope, kind, body, actor, Utc::now(), audience, audit)
            .await?;
        let delivery = self.channels.deliver(&bundle);
        self.announce(fanout::Announcement::Bundle {
            hub: self.hub_id.to_string(),
            scope: scope.clone(),
            revision: bundle.revision,
        })
        .await;
        let targeted = self.targeted(scope, audience).await?;
        Ok(PushResult {
            scope: scope.to_string(),
            revision: bundle.revision,
            kind: kind.as_str().to_string(),
            targeted,
            sent: delivery.sent,
            dropped: delivery.dropped,
            audience: audience.clone(),
        })
    }

    /// Joined neurons (connected or not) a push to `scope` with `audience` is meant for.
    async fn targeted(
        &self,
        scope: &cortex_core::federation::Scope,
        audience: &cortex_core::federation::Audience,
    ) -> Result<u64, ApiError> {
        Ok(self
            .store
            .list_neurons()
            .await?
            .iter()
            .filter(|n| n.status.is_joined() && audience.reaches(scope, &n.id, &n.tags))
            .count() as u64)
    }

    /// Sends an operator command to every connected neuron in `scope` and records it with a
    /// pending report per neuron (audited as `command.<name>`); answers arrive over the
    /// channel. Operator.
    pub async fn command(
        &self,
        scope: &cortex_core::federation::Scope,
        command: cortex_core::federation::Command,
        who: &cortex_core::user::Principal,
    ) -> Result<cortex_core::federation::CommandRun, ApiError> {
        use cortex_core::federation::{CommandOutcome, CommandReport, CommandRun, HubMessage};
        crate::auth::require_role(who, cortex_core::Role::Operator)?;
        let actor = who.actor.as_str();
        let targeted = self.targeted(scope, &Default::default()).await?;
        let now = Utc::now();
        let ids = self.channels.connected_in(scope, &Default::default());
        let run = CommandRun {
            id: uuid::Uuid::new_v4().simple().to_string(),
            command,
            scope: scope.to_string(),
            created_by: actor.to_string(),
            created_at: now,
            targeted,
            sent: ids.len() as u64,
            reports: ids
                .iter()
                .map(|id| CommandReport {
                    neuron_id: id.clone(),
                    outcome: CommandOutcome::Pending,
                    message: String::new(),
                    at: now,
                })
                .collect(),
        };
        // Stored before it is sent, so no answer can arrive for a command the hub does not know.
        let audit = AuditRecord::new(
            actor,
            format!("command.{}", command.as_str()),
            String::new(),
        );
        self.store.create_command(&run, audit).await?;
        let delivery = self.channels.send_to(
            &ids,
            &HubMessage::Command {
                id: run.id.clone(),
                command,
            },
        );
        if delivery.dropped > 0 {
            tracing::warn!(command = %run.id, dropped = delivery.dropped, "command not delivered to slow neurons");
        }
        self.announce(fanout::Announcement::Command {
            hub: self.hub_id.to_string(),
            id: run.id.clone(),
            scope: scope.clone(),
            command,
        })
        .await;
        Ok(run)
    }

    /// Counts a refused neuron request (401/403) from `source`; the first few per source and
    /// window are audited as `neuron.refused`.
    pub async fn note_refusal(
        &self,
        source: &str,
        neuron: Option<&str>,
        route: &str,
        error: &ApiError,
    ) {
        if !matches!(error.code, ErrorCode::Unauthorized | ErrorCode::Forbidden) {
            return;
        }
        if self
            .refusals
            .record(source, neuron, &error.message, Utc::now())
        {
            let actor = neuron.map_or_else(|| "anonymous".to_string(), |n| format!("neuron:{n}"));
            let mut audit = AuditRecord::new(actor, "neuron.refused", format!("source:{source}"));
            audit.after = serde_json::json!({"route": route, "reason": error.message});
            if let Err(e) = self.store.append_audit(audit).await {
                tracing::warn!(error = %e, "could not audit a refused neuron request");
            }
        }
    }

    /// Counts a registration from `source` against its rate; over it, a 429 to answer (not
    /// audited: a flood must not flood the audit log; counted and shown as an alert).
    pub fn check_registration_rate(&self, source: &str) -> Result<(), ApiError> {
        self.registrations.take(source, 1.0).map_err(|wait| {
            metrics::counter!("cortex_registrations_limited_total").increment(1);
            self.refusals.count(
                source,
                None,
                "registration rate limit (CORTEX_REGISTRATIONS_PER_MINUTE)",
                Utc::now(),
            );
            ApiError {
                code: ErrorCode::RateLimited,
                message: format!(
                    "too many registrations from {source}; retry after the delay in Retry-After"
                ),
                retry_after: Some(wait.as_secs().max(1)),
            }
        })
    }

    /// Sources whose neuron requests keep being refused (shown on the dashboard).
    pub fn refusal_alerts(&self) -> Vec<cortex_core::federation::RefusalAlert> {
        self.refusals.alerts(Utc::now())
    }

    /// Notes that a neuron holds `revision` of `scope`; written within [`ACK_FLUSH_EVERY`].
    pub fn record_ack(
        &self,
        neuron_id: &str,
        scope: cortex_core::federation::Scope,
        revision: u64,
        at: DateTime<Utc>,
    ) {
        let mut acks = self.acks.lock().unwrap_or_else(|p| p.into_inner());
        let held = acks
            .entry((neuron_id.to_string(), scope))
            .or_insert((revision, at));
        if revision >= held.0 {
            *held = (revision, at);
        }
    }

    /// Writes the buffered acks in one transaction; on failure they stay buffered.
    pub async fn flush_acks(&self) -> Result<usize, ApiError> {
        let taken: Vec<_> = {
            let mut acks = self.acks.lock().unwrap_or_else(|p| p.into_inner());
            acks.drain().collect()
        };
        if taken.is_empty() {
            return Ok(0);
        }
        let rows: Vec<crate::store::neurons::BundleAck> = taken
            .iter()
            .map(
                |((neuron_id, scope), (revision, at))| crate::store::neurons::BundleAck {
                    neuron_id: neuron_id.clone(),
                    scope: scope.clone(),
                    revision: *revision,
                    at: *at,
                },
            )
            .collect();
        if let Err(e) = self.store.ack_bundles(&rows).await {
            for ((id, scope), (revision, at)) in taken {
                self.record_ack(&id, scope, revision, at);
            }
            return Err(e.into());
        }
        Ok(rows.len())
    }

    /// Runs [`Federation::flush_acks`] every [`ACK_FLUSH_EVERY`] while the database is ready.
    pub async fn run_ack_writer(self, health: DbHealth) {
        let mut tick = tokio::time::interval(ACK_FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if health.is_ready() {
                if let Err(e) = self.flush_acks().await {
                    tracing::warn!(error = %e, "writing acks failed; will retry");
                }
            }
        }
    }

    pub fn settings(&self) -> FederationSettings {
        self.settings
    }

    /// Who this hub is: the id neurons sign (`GET /api/federation/hub`). Made once per
    /// database and shared by the hubs on it.
    pub async fn identity(&self) -> Result<cortex_core::federation::HubIdentity, ApiError> {
        if let Some(id) = cached(&self.identity) {
            return Ok(cortex_core::federation::HubIdentity { hub_id: id });
        }
        let id = match self.store.setting(HUB_ID_SETTING).await? {
            Some(id) => id,
            // Requests racing on a new hub (or hubs starting on one database) all get the
            // id written first: each writing its own made neurons sign for an id the hub
            // no longer held.
            None => {
                let fresh = format!("hub_{}", uuid::Uuid::new_v4().simple());
                self.store.setting_or_insert(HUB_ID_SETTING, &fresh).await?
            }
        };
        remember(&self.identity, id.clone());
        Ok(cortex_core::federation::HubIdentity { hub_id: id })
    }

    /// Checks a signed request: timestamp within five minutes of the hub's clock and a
    /// signature by `key` over method, path, body, timestamp, nonce and this hub's id. The
    /// nonce is checked (and remembered) where the request is recorded.
    async fn verify_signature(
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

    /// The join policy in force (approval when none was set).
    pub async fn join_policy(&self) -> Result<JoinPolicy, ApiError> {
        if let Some(p) = cached(&self.policy) {
            return Ok(p);
        }
        let policy: JoinPolicy = match self.store.setting(JOIN_POLICY_SETTING).await? {
            Some(json) => serde_json::from_str(&json).unwrap_or_default(),
            None => JoinPolicy::default(),
        };
        remember(&self.policy, policy.clone());
        Ok(policy)
    }

    /// Sets the join policy after checking it (every key an Ed25519 public key). Admin;
    /// audited.
    pub async fn set_join_policy(
        &self,
        policy: &JoinPolicy,
        who: &cortex_core::user::Principal,
    ) -> Result<(), ApiError> {
        crate::auth::require_role(who, cortex_core::Role::Admin)?;
        policy
            .check()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        for k in policy.keys.iter().chain(policy.key_tags.keys()) {
            public_key(k).map_err(|_| {
                ApiError::bad_request(format!("keys: `{k}` is not a base64 Ed25519 public key"))
            })?;
        }
        let actor = who.actor.as_str();
        let json =
            serde_json::to_string(policy).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let mut audit = AuditRecord::new(actor, "federation.join-policy", JOIN_POLICY_SETTING);
        audit.before = serde_json::to_value(self.join_policy().await?).unwrap_or_default();
        audit.after = serde_json::to_value(policy).unwrap_or_default();
        self.store
            .put_setting(JOIN_POLICY_SETTING, &json, Some(audit))
            .await?;
        remember(&self.policy, policy.clone());
        Ok(())
    }

    /// A signed registration: checks it, applies the join policy, records the neuron and,
    /// once it has joined, hands out a neuron token.
    pub async fn register(
        &self,
        request_headers: &axum::http::HeaderMap,
        path: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Joined, ApiError> {
        check_registration_size(body)?;
        let signed = parse_signed(request_headers)?;
        let reg = parse_registration(body)?;
        reg.validate()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if let Some(endpoint) = &reg.endpoint {
            // Addresses never probed are refused at once; loopback only when probed.
            neuron_probe::probe_url(endpoint, neuron_probe::DEFAULT_HEALTH_PATH, true)
                .map_err(|why| ApiError::bad_request(format!("endpoint: {why}")))?;
        }
        if signed.neuron != reg.id {
            return Err(unauthorized(format!(
                "`{}` header says `{}` but the body registers `{}`",
                headers::NEURON,
                signed.neuron,
                reg.id
            )));
        }
        let key = public_key(&reg.public_key)?;
        self.verify_signature(&signed, "POST", path, body, &key, now)
            .await?;
        self.check_kind(&reg, Transport::Server).await?;
        let admission = self.join_policy().await?.admit(&reg);
        let nonce = (
            signed.nonce.to_string(),
            now + Duration::milliseconds(2 * MAX_CLOCK_SKEW_MS),
        );
        let audit = AuditRecord::new(String::new(), "neuron.register", String::new());
        self.join(reg, admission, Some(nonce), audit, now).await
    }

    /// Records a registration that passed its checks (batched with others waiting; see
    /// [`joins`]) and answers it.
    async fn join(
        &self,
        reg: Registration,
        admission: Admission,
        nonce: Option<(String, DateTime<Utc>)>,
        mut audit: AuditRecord,
        now: DateTime<Utc>,
    ) -> Result<Joined, ApiError> {
        use crate::store::neurons::{Join, JoinOutcome};
        audit.actor = format!("neuron:{}", reg.id);
        let join = Join {
            neuron: registry_entry(reg, now),
            admission,
            nonce,
            audit,
        };
        let id = join.neuron.id.clone();
        match self
            .joins
            .submit(&self.store, join, u64::from(self.settings.max_pending))
            .await?
        {
            JoinOutcome::Joined { neuron, was } => {
                // Sent back to pending (it named another endpoint): the tokens it holds stop.
                if was.is_some_and(NeuronStatus::is_joined) && !neuron.status.is_joined() {
                    self.revoke(&neuron.id).await;
                }
                Ok(self.joined(&neuron, now))
            }
            JoinOutcome::Replayed => Err(unauthorized(
                "nonce was used before: this looks like a replayed request",
            )),
            JoinOutcome::Refused => Err(forbidden(
                "join policy is `allowlist` and neither this neuron's key nor any of its tags is listed; ask an admin",
            )),
            JoinOutcome::KeyConflict => Err(ApiError::from(crate::store::StoreError::Conflict(format!(
                "neuron id `{id}` is registered with another public key; use a new id, or have an admin remove the old neuron"
            )))),
            JoinOutcome::Capped => {
                metrics::counter!("cortex_registrations_capped_total").increment(1);
                self.refusals.note_capped(Utc::now());
                Err(ApiError {
                    code: ErrorCode::Unavailable,
                    message: format!(
                        "{} neurons already wait for approval (CORTEX_MAX_PENDING_NEURONS); an admin must approve or deny some first",
                        self.settings.max_pending
                    ),
                    retry_after: Some(self.settings.heartbeat_interval.as_secs().max(1)),
                })
            }
        }
    }

    /// The kinds the hub knows (read again after a moment).
    pub(crate) async fn kinds(
        &self,
    ) -> Result<Arc<Vec<cortex_core::federation::NeuronKind>>, ApiError> {
        Ok(match cached(&self.kinds) {
            Some(k) => k,
            None => {
                let k = Arc::new(self.store.neuron_kinds().await?);
                remember(&self.kinds, k.clone());
                k
            }
        })
    }

    async fn check_kind(&self, reg: &Registration, transport: Transport) -> Result<(), ApiError> {
        let kinds = self.kinds().await?;
        let Some(kind) = kinds.iter().find(|k| k.name == reg.kind) else {
            let names: Vec<&str> = kinds.iter().map(|k| k.name.as_str()).collect();
            return Err(ApiError::bad_request(format!(
                "kind: unknown kind `{}`; this hub knows {}",
                reg.kind,
                names.join(", ")
            )));
        };
        match (kind.transport, transport) {
            (Transport::Browser, Transport::Server) => {
                return Err(ApiError::bad_request(format!(
                    "kind: `{}` is a browser kind; browser neurons join with a publishable key, not a signed registration",
                    kind.name
                )))
            }
            (Transport::Server, Transport::Browser) => {
                return Err(ApiError::bad_request(format!(
                    "kind: `{}` is a server kind; a publishable key admits browser kinds only",
                    kind.name
                )))
            }
            _ => {}
        }
        if let Some((i, c)) = reg
            .capabilities
            .iter()
            .enumerate()
            .find(|(_, c)| !kind.capabilities.contains(c))
        {
            return Err(ApiError::bad_request(format!(
                "capabilities[{i}]: `{c}` is not a capability of kind `{}` (it has: {})",
                kind.name,
                kind.capabilities.join(", ")
            )));
        }
        Ok(())
    }

    fn joined(&self, neuron: &Neuron, now: DateTime<Utc>) -> Joined {
        let token = neuron
            .status
            .is_joined()
            .then(|| self.issue_token(&neuron.id, neuron.is_browser(), now))
            .flatten();
        Joined {
            status: neuron.status,
            token_expires_at: token.as_ref().map(|(_, exp)| *exp),
            token: token.map(|(t, _)| t),
            heartbeat_seconds: self.settings.heartbeat_interval.as_secs().max(1) as u32,
        }
    }

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
