//! The federation hub: neurons join with a signed registration, heartbeat with a short-lived
//! neuron token, and a sweeper moves silent ones to `unhealthy` and then `retired`.

mod acks;
pub mod admin;
pub mod browser;
pub mod channel;
pub mod fanout;
mod guard;
mod heartbeats;
pub mod http;
pub mod joins;
pub mod neuron_probe;
pub mod overrides;
mod pushes;
pub mod refusals;
mod registration;
mod releases;
pub mod review;
mod rollback;
mod rollouts;
pub mod signatures;
pub mod tokens;
mod watch;

use cortex_core::federation::JoinPolicy;
pub use cortex_core::federation::PushResult;
use cortex_core::ErrorCode;
use jsonwebtoken::{DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

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

/// What a neuron an operator retired is told (who did it is in the audit log, not sent to
/// the neuron, which may be a public browser tab).
pub const RETIRED_REASON: &str = "retired by an operator: drain and leave";

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
    acks: acks::AckBuffer,
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
    registrations: Arc<crate::rate_limit::RateLimiter>,
    /// Browser joins per publishable key (the key is public: anyone may use it).
    browser_joins: Arc<crate::rate_limit::RateLimiter>,
    /// Where alerts also go, once the hub has set it up.
    webhook: Arc<std::sync::OnceLock<crate::webhook::Webhook>>,
    /// Keys of the fleet findings this hub has raised (see [`Federation::watch_fleet`]).
    watched: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message)
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Forbidden, message)
}

impl Federation {
    pub fn new(store: DynStore, secret: &SecretString, settings: FederationSettings) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        Self {
            hub_id: uuid::Uuid::new_v4().simple().to_string().into(),
            acks: acks::AckBuffer::default(),
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
            registrations: Arc::new(crate::rate_limit::RateLimiter::new(
                f64::from(settings.registrations_per_minute.max(1)) / 60.0,
                f64::from(settings.registrations_per_minute.max(1)),
            )),
            browser_joins: Arc::new(crate::rate_limit::RateLimiter::new(
                f64::from(settings.browser_joins_per_minute.max(1)) / 60.0,
                f64::from(settings.browser_joins_per_minute.max(1)),
            )),
            webhook: Arc::default(),
            watched: Arc::default(),
        }
    }

    /// Sends the alerts this federation raises (refused requests) to `webhook` too.
    pub fn set_webhook(&self, webhook: crate::webhook::Webhook) {
        let _ = self.webhook.set(webhook);
    }

    /// Keeps `alert` for the dashboard and sends it to the webhook, if there is one.
    pub(crate) fn alert(&self, alert: crate::webhook::Alert) {
        crate::webhook::raise(&self.store, self.webhook.get(), alert);
    }

    /// The live push channels.
    pub fn channels(&self) -> &channel::Channels {
        &self.channels
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
}
