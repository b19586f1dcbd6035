//! Neuron federation: what neurons send when they join and heartbeat, what the hub keeps
//! about them, and the signature both sides compute. Shared by the hub, the SDK and the
//! browser bundle.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod transitions;

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

/// Where a neuron is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum NeuronStatus {
    /// Waiting for an admin to approve it (approval join policy).
    Pending,
    /// Joined and heartbeating, healthy.
    Active,
    /// Heartbeating, but reports degraded or failing health.
    Degraded,
    /// Missed heartbeats beyond the grace period.
    Unhealthy,
    /// Told to finish its work and stop taking new work.
    Draining,
    /// Gone for good (or silent past the retire period); kept for history.
    Retired,
}

impl NeuronStatus {
    pub const ALL: [NeuronStatus; 6] = [
        NeuronStatus::Pending,
        NeuronStatus::Active,
        NeuronStatus::Degraded,
        NeuronStatus::Unhealthy,
        NeuronStatus::Draining,
        NeuronStatus::Retired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NeuronStatus::Pending => "pending",
            NeuronStatus::Active => "active",
            NeuronStatus::Degraded => "degraded",
            NeuronStatus::Unhealthy => "unhealthy",
            NeuronStatus::Draining => "draining",
            NeuronStatus::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the neuron may heartbeat and receive config.
    pub fn is_joined(self) -> bool {
        !matches!(self, NeuronStatus::Pending | NeuronStatus::Retired)
    }
}

impl std::fmt::Display for NeuronStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a neuron says about itself when it joins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Registration {
    /// Unique and stable across restarts: 1-64 of `a-z 0-9 . _ -`.
    pub id: String,
    /// Which app this is (neurons of one app share a slug): 1-64 of `a-z 0-9 . _ -`.
    pub slug: String,
    /// A kind the hub knows (`web-app`, `api-service`, `cli`, `agent`, `ai-worker`, or one
    /// an admin added).
    pub kind: String,
    /// The app's version (free text, 1-64 characters), for version-drift views.
    pub version: String,
    /// What it can do; each must be one its kind declares.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Free labels for grouping and push scopes, e.g. `eu`, `canary`.
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Base URL of a server neuron's API; the hub probes `<endpoint>/healthz`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Ed25519 public key, base64 (32 bytes). Empty for a browser neuron (it joins with a
    /// publishable key instead of a signature).
    #[serde(default)]
    pub public_key: String,
}

/// Why a registration (or heartbeat) was refused; `field` names the JSON field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    /// An error at `field` (a JSON path such as `events[3].name`).
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks an identifier: 1-64 of `a-z 0-9 . _ -`.
pub fn check_name(field: &str, value: &str) -> Result<(), FieldError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(field_error(
            field,
            format!("`{value}` must be 1-64 of a-z 0-9 . _ -"),
        ))
    }
}

/// Most capabilities and tags one neuron may declare.
pub const MAX_LABELS: usize = 32;

impl Registration {
    /// Checks everything that does not need the hub's state.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_name("id", &self.id)?;
        check_name("slug", &self.slug)?;
        check_name("kind", &self.kind)?;
        if self.version.trim().is_empty() || self.version.len() > 64 {
            return Err(field_error("version", "must be 1-64 characters"));
        }
        for (field, list) in [("capabilities", &self.capabilities), ("tags", &self.tags)] {
            if list.len() > MAX_LABELS {
                return Err(field_error(field, format!("at most {MAX_LABELS} entries")));
            }
            for (i, v) in list.iter().enumerate() {
                check_name(&format!("{field}[{i}]"), v)?;
            }
        }
        if let Some(r) = &self.region {
            check_name("region", r)?;
        }
        if let Some(e) = &self.endpoint {
            let scheme_ok = e.starts_with("http://") || e.starts_with("https://");
            if !scheme_ok || e.len() > 256 || e.contains(char::is_whitespace) {
                return Err(field_error(
                    "endpoint",
                    "must be an http:// or https:// URL of at most 256 characters",
                ));
            }
        }
        if self.public_key.len() != 44 {
            return Err(field_error(
                "publicKey",
                "must be an Ed25519 public key: 32 bytes, base64 (44 characters)",
            ));
        }
        Ok(())
    }

    /// Like [`Registration::validate`], for a browser neuron: no public key, no endpoint.
    pub fn validate_browser(&self) -> Result<(), FieldError> {
        if !self.public_key.is_empty() {
            return Err(field_error(
                "publicKey",
                "a browser neuron joins with a publishable key: leave publicKey out",
            ));
        }
        if self.endpoint.is_some() {
            return Err(field_error("endpoint", "browser neurons have no endpoint"));
        }
        Self {
            public_key: "A".repeat(44),
            ..self.clone()
        }
        .validate()
    }
}

/// Header a browser neuron sends its publishable key in.
pub const PUBLISHABLE_KEY_HEADER: &str = "x-cortex-publishable-key";

/// A key that lets browser apps on the listed origins join as neurons. It is not a secret
/// (it sits in the page); the origins are what it is tied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PublishableKey {
    /// `pk_` and 32 random characters.
    pub key: String,
    pub name: String,
    /// Exact origins (`https://shop.example.com`) pages may join from.
    pub origins: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Checks an origin as browsers send it: scheme, host and optional port, nothing else.
pub fn check_origin(field: &str, origin: &str) -> Result<(), FieldError> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let ok = rest.is_some_and(|r| {
        !r.is_empty()
            && r.len() <= 253
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(field_error(
            field,
            format!("`{origin}` is not an origin like https://shop.example.com (scheme, host, optional port; no path)"),
        ))
    }
}

/// A neuron kind: a plugin point. Kinds are data, not code: an admin can add one, and
/// registration checks a neuron's capabilities against its kind's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NeuronKind {
    pub name: String,
    /// `server` (signs with its key pair, may be probed) or `browser`.
    pub transport: Transport,
    pub description: String,
    /// Capabilities neurons of this kind may declare.
    pub capabilities: Vec<String>,
    /// Health checks neurons of this kind report (names shown on the dashboard).
    pub health_checks: Vec<String>,
    /// The path the hub probes on the origin of a server neuron's endpoint.
    #[serde(default = "default_health_path")]
    pub health_path: String,
}

fn default_health_path() -> String {
    "/healthz".into()
}

/// How a kind of neuron reaches the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum Transport {
    Server,
    Browser,
}

/// Health as a neuron reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum HealthState {
    #[default]
    Ok,
    Degraded,
    Failing,
}

/// One health check's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: String,
    pub state: HealthState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Load figures (all optional; shown as reported).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Load {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<f64>,
}

/// What a neuron sends on every heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    #[serde(default)]
    pub state: HealthState,
    #[serde(default)]
    pub checks: Vec<Check>,
    /// The version now running (a neuron may be upgraded in place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default)]
    pub load: Load,
}

impl Heartbeat {
    /// Limits: at most 32 checks, names and messages of sane length.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.checks.len() > 32 {
            return Err(field_error("checks", "at most 32 checks"));
        }
        for (i, c) in self.checks.iter().enumerate() {
            if c.name.is_empty() || c.name.len() > 64 {
                return Err(field_error(
                    &format!("checks[{i}].name"),
                    "must be 1-64 characters",
                ));
            }
            if c.message.as_ref().is_some_and(|m| m.len() > 1024) {
                return Err(field_error(
                    &format!("checks[{i}].message"),
                    "at most 1024 characters",
                ));
            }
        }
        if self
            .version
            .as_ref()
            .is_some_and(|v| v.trim().is_empty() || v.len() > 64)
        {
            return Err(field_error("version", "must be 1-64 characters"));
        }
        Ok(())
    }
}

/// A neuron as the hub knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Neuron {
    pub id: String,
    pub slug: String,
    pub kind: String,
    pub version: String,
    pub capabilities: Vec<String>,
    pub tags: Vec<String>,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub public_key: String,
    pub status: NeuronStatus,
    /// Pinned neurons are never retired for silence.
    pub pinned: bool,
    pub registered_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub health: HealthState,
    pub checks: Vec<Check>,
    pub load: Load,
    /// The hub's last HTTP probe of `<endpoint>/healthz` (server neurons with an endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
    /// The highest revision it acknowledged per scope (filled for the fleet view).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acked: Vec<Acked>,
}

/// Prefix of publishable keys. A browser neuron's registry entry holds the key it joined
/// with where a server neuron holds its public key, so its id stays bound to that key.
pub const PUBLISHABLE_KEY_PREFIX: &str = "pk_";

impl Neuron {
    /// Whether this is a browser neuron (joined with a publishable key).
    pub fn is_browser(&self) -> bool {
        self.public_key.starts_with(PUBLISHABLE_KEY_PREFIX)
    }
}

/// What a bulk action does to the neurons it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum BulkAction {
    /// Approve pending neurons (admin).
    Approve,
    /// Deny (remove) pending neurons.
    Deny,
}

impl BulkAction {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approve" => Some(BulkAction::Approve),
            "deny" => Some(BulkAction::Deny),
            _ => None,
        }
    }
}

/// What a bulk action did: the neurons it changed, and each one it could not change with
/// the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BulkOutcome {
    pub done: Vec<String>,
    pub failed: Vec<(String, String)>,
}

/// A revision of a scope a neuron holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Acked {
    pub scope: String,
    pub revision: u64,
    pub at: DateTime<Utc>,
}

/// What the hub saw when it probed a neuron's endpoint, as Consul does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    /// `ok` for a 2xx answer, `failing` otherwise.
    pub state: HealthState,
    /// The status code, or why there was none (refused, timed out).
    pub message: String,
    pub latency_ms: u64,
    pub at: DateTime<Utc>,
}

/// Join policy, set by an admin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JoinPolicy {
    pub mode: JoinMode,
    /// Allowlist: public keys (base64) that may join.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Allowlist: a neuron whose key an admin bound one of these tags to (`key_tags`) may
    /// join. The tags a neuron declares about itself never admit it.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Tags an admin gave to public keys (base64 key → tags): what `tags` is matched with.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub key_tags: std::collections::BTreeMap<String, Vec<String>>,
}

/// How neurons are admitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum JoinMode {
    /// Any correctly signed neuron joins.
    Open,
    /// Only listed keys or tags join; others are refused.
    Allowlist,
    /// Everyone waits as `pending` until an admin approves (the default: safe).
    #[default]
    Approval,
}

impl JoinMode {
    pub fn as_str(self) -> &'static str {
        match self {
            JoinMode::Open => "open",
            JoinMode::Allowlist => "allowlist",
            JoinMode::Approval => "approval",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [JoinMode::Open, JoinMode::Allowlist, JoinMode::Approval]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// What the policy decides for a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Join,
    Wait,
    Refuse,
}

impl Admission {
    /// The status a registration gets, given the status of the neuron already registered
    /// under its id, if any. A neuron already in keeps its place across restarts (draining
    /// stays draining, unhealthy comes back active); a new, pending or retired one gets what
    /// the policy decided. `None`: refused.
    pub fn status(self, existing: Option<NeuronStatus>) -> Option<NeuronStatus> {
        match existing {
            Some(s @ (NeuronStatus::Active | NeuronStatus::Degraded | NeuronStatus::Draining)) => {
                Some(s)
            }
            Some(NeuronStatus::Unhealthy) => Some(NeuronStatus::Active),
            _ => match self {
                Admission::Join => Some(NeuronStatus::Active),
                Admission::Wait => Some(NeuronStatus::Pending),
                Admission::Refuse => None,
            },
        }
    }
}

/// Splits a list typed into a form: entries separated by commas, spaces or lines.
pub fn split_list(text: &str) -> Vec<String> {
    text.split([',', '\n', '\r', ' ', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Most keys and tags a join policy lists.
pub const MAX_POLICY_KEYS: usize = 10_000;
pub const MAX_POLICY_TAGS: usize = 1_000;

impl Admission {
    /// The status a registration `incoming` gets, given the entry already registered under
    /// its id. A neuron that names a different endpoint than the one it was admitted with is
    /// decided afresh by the policy (under approval: pending again), so an approved neuron
    /// cannot point the hub's prober somewhere new on its own.
    pub fn status_for(self, existing: Option<&Neuron>, incoming: &Neuron) -> Option<NeuronStatus> {
        let kept = existing
            .filter(|b| b.endpoint == incoming.endpoint)
            .map(|b| b.status);
        self.status(kept)
    }
}

impl JoinPolicy {
    /// Parses key-bound tags as a form gives them: one key per line, then its tags
    /// (`KEY tag1, tag2`).
    pub fn parse_key_tags(
        text: &str,
    ) -> Result<std::collections::BTreeMap<String, Vec<String>>, FieldError> {
        let mut out = std::collections::BTreeMap::new();
        for (i, line) in text.lines().map(str::trim).enumerate() {
            if line.is_empty() {
                continue;
            }
            let (key, tags) = line.split_once([' ', '\t']).unwrap_or((line, ""));
            let tags = split_list(tags);
            if tags.is_empty() {
                return Err(field_error(
                    "key_tags",
                    format!(
                        "line {}: a key and then its tags, e.g. `KEY eu, canary`",
                        i + 1
                    ),
                ));
            }
            out.insert(key.to_string(), tags);
        }
        Ok(out)
    }

    /// Checks what needs no cryptography: list sizes, tag names, and that an allowlist lists
    /// something. (The hub checks that each key is an Ed25519 public key.)
    pub fn check(&self) -> Result<(), FieldError> {
        if self.keys.len() > MAX_POLICY_KEYS {
            return Err(field_error(
                "keys",
                format!("at most {MAX_POLICY_KEYS} keys"),
            ));
        }
        if self.tags.len() > MAX_POLICY_TAGS {
            return Err(field_error(
                "tags",
                format!("at most {MAX_POLICY_TAGS} tags"),
            ));
        }
        for (i, t) in self.tags.iter().enumerate() {
            check_name(&format!("tags[{i}]"), t)?;
        }
        if self.key_tags.len() > MAX_POLICY_KEYS {
            return Err(field_error(
                "key_tags",
                format!("at most {MAX_POLICY_KEYS} keys"),
            ));
        }
        for (key, tags) in &self.key_tags {
            if tags.is_empty() || tags.len() > MAX_LABELS {
                return Err(field_error(
                    "key_tags",
                    format!("key `{key}`: 1 to {MAX_LABELS} tags"),
                ));
            }
            for (i, t) in tags.iter().enumerate() {
                check_name(&format!("key_tags[{key}][{i}]"), t)?;
            }
        }
        if self.mode == JoinMode::Allowlist && self.keys.is_empty() && self.tags.is_empty() {
            return Err(field_error(
                "mode",
                "an allowlist needs at least one key or tag (or nobody can join)",
            ));
        }
        Ok(())
    }

    pub fn admit(&self, r: &Registration) -> Admission {
        match self.mode {
            JoinMode::Open => Admission::Join,
            JoinMode::Approval => Admission::Wait,
            JoinMode::Allowlist => {
                let granted = self.key_tags.get(&r.public_key);
                let listed = self.keys.contains(&r.public_key)
                    || granted.is_some_and(|g| g.iter().any(|t| self.tags.contains(t)));
                if listed {
                    Admission::Join
                } else {
                    Admission::Refuse
                }
            }
        }
    }
}

/// The hub's answer to a registration or heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Joined {
    pub status: NeuronStatus,
    /// A short-lived neuron token (`Authorization: Bearer`) once joined; none while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<DateTime<Utc>>,
    /// How often the hub expects a heartbeat.
    pub heartbeat_seconds: u32,
}

/// Which neurons the fleet view lists: by status, by a search over id, app, kind, version
/// and tags, a page at a time. The counts always cover the whole fleet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FleetQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NeuronStatus>,
    /// Case-insensitive substring of id, slug, kind, version or a tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub q: String,
    /// Neurons skipped (paging).
    #[serde(default)]
    pub offset: u32,
    /// Neurons listed, at most [`MAX_FLEET_PAGE`] (0: [`FLEET_PAGE`]).
    #[serde(default)]
    pub limit: u32,
}

/// Neurons listed per page by default, and at most.
pub const FLEET_PAGE: u32 = 60;
pub const MAX_FLEET_PAGE: u32 = 500;

impl FleetQuery {
    /// The page size this query asks for.
    pub fn page_size(&self) -> u32 {
        match self.limit {
            0 => FLEET_PAGE,
            n => n.min(MAX_FLEET_PAGE),
        }
    }

    /// Whether neuron `n` matches the status and the search.
    pub fn matches(&self, n: &Neuron) -> bool {
        if self.status.is_some_and(|s| s != n.status) {
            return false;
        }
        let needle = self.q.trim().to_lowercase();
        needle.is_empty()
            || n.id.contains(&needle)
            || n.slug.contains(&needle)
            || n.kind.contains(&needle)
            || n.version.to_lowercase().contains(&needle)
            || n.tags.iter().any(|t| t.contains(&needle))
    }
}

/// Counts for the fleet summary, and one page of the neurons a [`FleetQuery`] asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FleetHealth {
    pub total: u64,
    /// Status → count.
    pub by_status: std::collections::BTreeMap<String, u64>,
    /// Version → count (version drift).
    pub by_version: std::collections::BTreeMap<String, u64>,
    /// Region → count (`-` for none).
    pub by_region: std::collections::BTreeMap<String, u64>,
    /// Neurons that match the query (all pages).
    #[serde(default)]
    pub matched: u64,
    /// Where this page starts among the matches.
    #[serde(default)]
    pub offset: u32,
    /// The page: at most the query's page size of the matches, by region then id.
    pub neurons: Vec<Neuron>,
}

impl FleetHealth {
    /// Summarises every neuron, listing all of them.
    pub fn of(neurons: Vec<Neuron>) -> Self {
        Self::page(
            neurons,
            &FleetQuery {
                limit: u32::MAX,
                ..Default::default()
            },
        )
    }

    /// Summarises every neuron and lists the page of matches `query` asks for.
    pub fn page(neurons: Vec<Neuron>, query: &FleetQuery) -> Self {
        let mut h = FleetHealth {
            total: neurons.len() as u64,
            offset: query.offset,
            ..Default::default()
        };
        for n in &neurons {
            *h.by_status.entry(n.status.to_string()).or_default() += 1;
            *h.by_version.entry(n.version.clone()).or_default() += 1;
            *h.by_region
                .entry(n.region.clone().unwrap_or_else(|| "-".into()))
                .or_default() += 1;
        }
        let size = if query.limit == u32::MAX {
            usize::MAX
        } else {
            query.page_size() as usize
        };
        let matching = neurons.into_iter().filter(|n| query.matches(n));
        let mut matched = 0u64;
        for n in matching {
            if matched >= u64::from(query.offset) && h.neurons.len() < size {
                h.neurons.push(n);
            }
            matched += 1;
        }
        h.matched = matched;
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Registration {
        Registration {
            id: "shop-eu-1".into(),
            slug: "shop".into(),
            kind: "api-service".into(),
            version: "1.4.2".into(),
            capabilities: vec!["layout-rules".into()],
            tags: vec!["eu".into()],
            region: Some("eu-west".into()),
            endpoint: Some("http://10.0.0.5:8080".into()),
            public_key: "A".repeat(43) + "=",
        }
    }

    #[test]
    fn registrations_are_checked_field_by_field() {
        assert!(reg().validate().is_ok());
        let bad = |f: fn(&mut Registration)| {
            let mut r = reg();
            f(&mut r);
            r.validate().unwrap_err().field
        };
        assert_eq!(bad(|r| r.id = "Shop 1".into()), "id");
        assert_eq!(
            bad(|r| r.tags = vec!["ok".into(), "NOT OK".into()]),
            "tags[1]"
        );
        assert_eq!(bad(|r| r.endpoint = Some("ftp://x".into())), "endpoint");
        assert_eq!(bad(|r| r.public_key = "short".into()), "publicKey");
        assert_eq!(bad(|r| r.version = " ".into()), "version");
    }

    #[test]
    fn a_known_neuron_keeps_its_place_and_a_new_one_gets_the_policy() {
        use NeuronStatus::*;
        for (existing, admission, want) in [
            (None, Admission::Join, Some(Active)),
            (None, Admission::Wait, Some(Pending)),
            (None, Admission::Refuse, None),
            (Some(Draining), Admission::Refuse, Some(Draining)),
            (Some(Degraded), Admission::Wait, Some(Degraded)),
            (Some(Unhealthy), Admission::Refuse, Some(Active)),
            (Some(Pending), Admission::Wait, Some(Pending)),
            (Some(Pending), Admission::Join, Some(Active)),
            (Some(Retired), Admission::Refuse, None),
            (Some(Retired), Admission::Join, Some(Active)),
        ] {
            assert_eq!(
                admission.status(existing),
                want,
                "{existing:?} {admission:?}"
            );
        }
    }

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

    #[test]
    fn join_policy_admits_by_mode() {
        let r = reg();
        assert_eq!(JoinPolicy::default().admit(&r), Admission::Wait);
        let open = JoinPolicy {
            mode: JoinMode::Open,
            ..Default::default()
        };
        assert_eq!(open.admit(&r), Admission::Join);
        let mut list = JoinPolicy {
            mode: JoinMode::Allowlist,
            ..Default::default()
        };
        assert_eq!(list.admit(&r), Admission::Refuse);
        list.tags = vec!["eu".into()];
        assert_eq!(
            list.admit(&r),
            Admission::Refuse,
            "a tag the neuron declares about itself admits nothing"
        );
        list.key_tags
            .insert(r.public_key.clone(), vec!["eu".into(), "web".into()]);
        assert_eq!(
            list.admit(&r),
            Admission::Join,
            "a tag an admin bound to its key"
        );
        list.key_tags.clear();
        list.tags.clear();
        list.keys = vec![r.public_key.clone()];
        assert_eq!(list.admit(&r), Admission::Join);
    }
}

/// Where a bundle goes: every neuron, neurons with a tag, or one neuron. Written as
/// `global`, `tag:<tag>` or `neuron:<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Global,
    Tag(String),
    Neuron(String),
}

impl Scope {
    /// Whether a neuron with this id and these tags receives bundles of this scope.
    pub fn covers(&self, id: &str, tags: &[String]) -> bool {
        match self {
            Scope::Global => true,
            Scope::Tag(t) => tags.contains(t),
            Scope::Neuron(n) => n == id,
        }
    }

    /// The scopes a neuron listens to.
    pub fn all_for(id: &str, tags: &[String]) -> Vec<Scope> {
        let mut v = vec![Scope::Global, Scope::Neuron(id.to_string())];
        v.extend(tags.iter().map(|t| Scope::Tag(t.clone())));
        v
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Tag(t) => write!(f, "tag:{t}"),
            Scope::Neuron(n) => write!(f, "neuron:{n}"),
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        let scope = match s.split_once(':') {
            None if s == "global" => Scope::Global,
            Some(("tag", t)) => {
                check_name("scope", t)?;
                Scope::Tag(t.into())
            }
            Some(("neuron", n)) => {
                check_name("scope", n)?;
                Scope::Neuron(n.into())
            }
            _ => {
                return Err(field_error(
                    "scope",
                    format!("`{s}` is not `global`, `tag:<tag>` or `neuron:<id>`"),
                ))
            }
        };
        Ok(scope)
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Scope {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("`global`, `tag:<tag>` or `neuron:<id>`"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Scope {}

/// What a bundle carries. Each push of a kind to a scope replaces the previous one: a bundle
/// is a whole document, so the latest revision is all a neuron needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum BundleKind {
    Config,
    Experiments,
    Offers,
    LayoutRules,
}

impl BundleKind {
    pub const ALL: [BundleKind; 4] = [
        BundleKind::Config,
        BundleKind::Experiments,
        BundleKind::Offers,
        BundleKind::LayoutRules,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BundleKind::Config => "config",
            BundleKind::Experiments => "experiments",
            BundleKind::Offers => "offers",
            BundleKind::LayoutRules => "layoutRules",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Who a staged push goes to: neurons with one of `tags`, and a stable `percent` of the
/// others in the scope. Empty: everyone in the scope. A neuron's bucket depends only on the
/// scope and its id, so raising the percentage keeps everyone already in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Audience {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl Audience {
    /// Everyone in the scope (not staged).
    pub fn is_everyone(&self) -> bool {
        self.percent.is_none_or(|p| p >= 100) && self.tags.is_empty()
    }

    /// Whether neuron `id` with `tags` gets a push to `scope` with this audience.
    pub fn includes(&self, scope: &Scope, id: &str, tags: &[String]) -> bool {
        if self.is_everyone() || self.tags.iter().any(|t| tags.contains(t)) {
            return true;
        }
        self.percent.is_some_and(|p| {
            crate::bucketing::fnv1a32(&format!("{scope}/{id}")) % 100 < u32::from(p)
        })
    }

    /// Whether a push to `scope` with this audience goes to neuron `id` with `tags`: the
    /// scope covers it and the audience includes it.
    pub fn reaches(&self, scope: &Scope, id: &str, tags: &[String]) -> bool {
        scope.covers(id, tags) && self.includes(scope, id, tags)
    }

    /// The audience of a staged push as a form gives it: a percentage (1-100; 100 or empty:
    /// everyone) and tags separated by commas, spaces or lines (at most 32).
    pub fn parse_form(percent: &str, tags: &str) -> Result<Self, FieldError> {
        let percent = match percent.trim() {
            "" => None,
            p => match p.trim_end_matches('%').trim().parse::<u8>() {
                Ok(n) if (1..=100).contains(&n) => Some(n).filter(|n| *n < 100),
                _ => {
                    return Err(field_error(
                        "rollout_percent",
                        format!("`{p}` is not a whole number from 1 to 100"),
                    ))
                }
            },
        };
        let tags = split_list(tags);
        if tags.len() > 32 {
            return Err(field_error("rollout_tags", "at most 32 tags"));
        }
        for (i, t) in tags.iter().enumerate() {
            check_name(&format!("rollout_tags[{i}]"), t)?;
        }
        Ok(Self { percent, tags })
    }

    /// How it reads on the dashboard.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.tags.is_empty() {
            parts.push(format!("tags {}", self.tags.join(", ")));
        }
        if let Some(p) = self.percent.filter(|p| *p < 100) {
            parts.push(format!("{p}%"));
        }
        if parts.is_empty() {
            "everyone".into()
        } else {
            parts.join(" + ")
        }
    }
}

/// Of `bundles` (newer than what a neuron holds), those it should get: in its scopes and
/// audiences, the latest of each kind per scope, oldest first.
pub fn latest_for(bundles: Vec<Bundle>, id: &str, tags: &[String]) -> Vec<Bundle> {
    let mut latest: std::collections::BTreeMap<(Scope, BundleKind), Bundle> = Default::default();
    for b in bundles {
        if !b.audience.reaches(&b.scope, id, tags) {
            continue;
        }
        let key = (b.scope.clone(), b.kind);
        if latest
            .get(&key)
            .is_none_or(|held| held.revision < b.revision)
        {
            latest.insert(key, b);
        }
    }
    let mut out: Vec<Bundle> = latest.into_values().collect();
    out.sort_by(|a, b| (&a.scope, a.revision).cmp(&(&b.scope, b.revision)));
    out
}

/// A pushed document with its place in its scope's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub scope: Scope,
    /// Monotonic per scope, from 1.
    pub revision: u64,
    pub kind: BundleKind,
    pub body: serde_json::Value,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// A staged push reaches only this audience (absent: everyone in the scope).
    #[serde(default, skip_serializing_if = "Audience::is_everyone")]
    pub audience: Audience,
}

impl Bundle {
    /// Whether a browser neuron `id` may take this bundle: layout rules, experiments and
    /// offers (they end up in public pages anyway), but `config` only when pushed to that
    /// neuron alone. Config meant for server neurons (secrets, internal addresses) never
    /// reaches a browser, whatever tags the browser claims.
    pub fn reaches_browser(&self, id: &str) -> bool {
        self.kind != BundleKind::Config || self.scope == Scope::Neuron(id.to_string())
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PushResult {
    pub scope: String,
    pub revision: u64,
    pub kind: String,
    /// Joined neurons in the scope (by the registry), connected or not.
    pub targeted: u64,
    /// Connected neurons it was sent to right away; the others get it when they reconnect.
    pub sent: u64,
    /// Connected neurons too slow to take it (disconnected; they catch up on reconnect).
    pub dropped: u64,
    /// The staged audience (absent: everyone in the scope).
    #[serde(default, skip_serializing_if = "Audience::is_everyone")]
    pub audience: Audience,
}

/// A recent push and how far it has spread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Propagation {
    pub scope: String,
    pub revision: u64,
    pub kind: BundleKind,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Size of the body in bytes (JSON).
    pub bytes: u64,
    /// Joined neurons in the scope now.
    pub targeted: u64,
    /// Neurons that acknowledged this revision or a later one.
    pub acked: u64,
    /// The staged audience (absent: everyone in the scope).
    #[serde(default, skip_serializing_if = "Audience::is_everyone")]
    pub audience: Audience,
    /// The body of a staged push, to promote it to the whole scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_body: Option<serde_json::Value>,
}

/// A source address whose neuron requests keep being refused (forged or replayed
/// signatures, stale clocks, unknown keys, wrong tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RefusalAlert {
    /// The client address.
    pub source: String,
    /// Refusals in the current window.
    pub failures: u32,
    pub since: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub last_reason: String,
    /// The neuron id the last request claimed, if any.
    pub last_neuron: Option<String>,
}

/// Hub → neuron, over `/api/federation/ws` (JSON text frames).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum HubMessage {
    /// Sent once the socket is up.
    #[serde(rename_all = "camelCase")]
    Welcome {
        neuron: String,
        status: NeuronStatus,
        heartbeat_seconds: u32,
    },
    /// A bundle (new, or missed while away). Ack it with its scope and revision.
    Push { bundle: Bundle },
    /// A fresh neuron token (sent in answer to each heartbeat).
    #[serde(rename_all = "camelCase")]
    Token {
        token: String,
        expires_at: DateTime<Utc>,
    },
    /// Something the neuron sent was refused (a malformed message closes the socket).
    Error { message: String },
    /// The hub no longer holds this neuron as joined (removed, retired, sent back to pending,
    /// or its database was replaced and did not bring it back): the socket closes after this,
    /// and the neuron registers again (with backoff) and takes what it missed.
    Rejoin { reason: String },
    /// Sent after the bundles a `hello` asked for: the neuron now holds everything.
    Synced {
        /// How many bundles the catch-up sent.
        sent: u32,
    },
    /// An operator's command; answer with `commandResult` and the same id.
    Command { id: String, command: Command },
    /// A batch of events is durably stored.
    EventsAck(crate::analytics::BatchAck),
}

/// What an operator can ask a neuron to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum Command {
    /// Re-fetch the config it holds and re-apply it, without a restart.
    HotReload,
    /// Say its revisions again (a `hello`) and take whatever it missed.
    Sync,
}

impl Command {
    pub const ALL: [Command; 2] = [Command::HotReload, Command::Sync];

    pub fn as_str(self) -> &'static str {
        match self {
            Command::HotReload => "hotReload",
            Command::Sync => "sync",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// How a command ended on one neuron.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum CommandOutcome {
    /// Sent, no answer yet.
    Pending,
    Done,
    Failed,
}

impl CommandOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandOutcome::Pending => "pending",
            CommandOutcome::Done => "done",
            CommandOutcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Done, Self::Failed]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// One neuron's answer to a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CommandReport {
    pub neuron_id: String,
    pub outcome: CommandOutcome,
    /// Why it failed (or what it did).
    pub message: String,
    pub at: DateTime<Utc>,
}

/// A command sent to a scope and what came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CommandRun {
    pub id: String,
    pub command: Command,
    pub scope: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Joined neurons in the scope when it was sent.
    pub targeted: u64,
    /// Connected neurons it was sent to.
    pub sent: u64,
    pub reports: Vec<CommandReport>,
}

impl CommandRun {
    /// Reports with this outcome.
    pub fn count(&self, outcome: CommandOutcome) -> usize {
        self.reports.iter().filter(|r| r.outcome == outcome).count()
    }
}

/// Neuron → hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum NeuronMessage {
    /// First message: the last revision the neuron holds per scope (none: send everything).
    Hello {
        #[serde(default)]
        revisions: std::collections::BTreeMap<Scope, u64>,
    },
    /// The neuron applied (or at least stored) this revision.
    Ack { scope: Scope, revision: u64 },
    /// A heartbeat over the socket; answered with a `token`.
    Heartbeat(Heartbeat),
    /// How a command ended here.
    #[serde(rename_all = "camelCase")]
    CommandResult {
        id: String,
        ok: bool,
        #[serde(default)]
        message: String,
    },
    /// A batch of events; answered with `eventsAck` once it is durable.
    Events(crate::analytics::EventBatch),
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    #[test]
    fn config_reaches_a_browser_only_when_pushed_to_it_alone() {
        let bundle = |scope: &str, kind| Bundle {
            scope: scope.parse().unwrap(),
            revision: 1,
            kind,
            body: serde_json::json!({}),
            created_by: "u".into(),
            created_at: DateTime::<Utc>::default(),
            audience: Audience::default(),
        };
        assert!(!bundle("global", BundleKind::Config).reaches_browser("tab-1"));
        assert!(!bundle("tag:web", BundleKind::Config).reaches_browser("tab-1"));
        assert!(!bundle("neuron:tab-2", BundleKind::Config).reaches_browser("tab-1"));
        assert!(bundle("neuron:tab-1", BundleKind::Config).reaches_browser("tab-1"));
        for kind in [
            BundleKind::LayoutRules,
            BundleKind::Experiments,
            BundleKind::Offers,
        ] {
            assert!(bundle("global", kind).reaches_browser("tab-1"));
        }
    }

    #[test]
    fn scopes_round_trip_and_cover() {
        for s in ["global", "tag:eu", "neuron:shop-1"] {
            let scope: Scope = s.parse().unwrap();
            assert_eq!(scope.to_string(), s);
            assert_eq!(serde_json::to_value(&scope).unwrap(), serde_json::json!(s));
        }
        assert!("tag:".parse::<Scope>().is_err());
        assert!("planet:mars".parse::<Scope>().is_err());
        let tags = vec!["eu".to_string()];
        assert!(Scope::Tag("eu".into()).covers("a", &tags));
        assert!(!Scope::Tag("us".into()).covers("a", &tags));
        assert!(Scope::Neuron("a".into()).covers("a", &tags));
        assert!(Scope::Global.covers("b", &[]));
    }

    #[test]
    fn a_staged_audience_is_stable_and_grows_monotonically() {
        let scope = Scope::Global;
        let ids: Vec<String> = (0..2000).map(|i| format!("n-{i}")).collect();
        let count = |a: &Audience| ids.iter().filter(|id| a.includes(&scope, id, &[])).count();
        let ten = Audience {
            percent: Some(10),
            tags: vec![],
        };
        let fifty = Audience {
            percent: Some(50),
            tags: vec![],
        };
        assert!((150..250).contains(&count(&ten)), "{}", count(&ten));
        assert!((900..1100).contains(&count(&fifty)), "{}", count(&fifty));
        assert!(ids
            .iter()
            .filter(|id| ten.includes(&scope, id, &[]))
            .all(|id| fifty.includes(&scope, id, &[])));
        let canary = Audience {
            percent: None,
            tags: vec!["canary".into()],
        };
        assert!(canary.includes(&scope, "x", &["canary".into()]));
        assert!(!canary.includes(&scope, "x", &["stable".into()]));
        assert!(Audience::default().includes(&scope, "x", &[]));
        assert_eq!(
            Audience {
                percent: Some(10),
                tags: vec!["canary".into()]
            }
            .describe(),
            "tags canary + 10%"
        );
    }

    #[test]
    fn a_neuron_catches_up_on_the_latest_bundle_meant_for_it() {
        let b = |revision: u64, audience: Audience| Bundle {
            scope: Scope::Global,
            revision,
            kind: BundleKind::Config,
            body: serde_json::json!({"r": revision}),
            created_by: "t".into(),
            created_at: DateTime::from_timestamp(0, 0).unwrap(),
            audience,
        };
        let canary = Audience {
            percent: None,
            tags: vec!["canary".into()],
        };
        let missed = vec![b(4, Audience::default()), b(5, canary.clone())];
        assert_eq!(
            latest_for(missed.clone(), "n", &["stable".into()])[0].revision,
            4
        );
        assert_eq!(latest_for(missed, "n", &["canary".into()])[0].revision, 5);
    }

    #[test]
    fn messages_are_tagged() {
        let hello: NeuronMessage =
            serde_json::from_str(r#"{"type":"hello","revisions":{"global":3,"tag:eu":1}}"#)
                .unwrap();
        let NeuronMessage::Hello { revisions } = hello else {
            panic!()
        };
        assert_eq!(revisions[&Scope::Global], 3);
        let ack = serde_json::to_value(NeuronMessage::Ack {
            scope: Scope::Global,
            revision: 4,
        })
        .unwrap();
        assert_eq!(
            ack,
            serde_json::json!({"type": "ack", "scope": "global", "revision": 4})
        );
        let beat: NeuronMessage =
            serde_json::from_str(r#"{"type":"heartbeat","state":"ok"}"#).unwrap();
        assert!(matches!(beat, NeuronMessage::Heartbeat(_)));
        let events: NeuronMessage = serde_json::from_str(
            r#"{"type":"events","batchId":"b1","events":[{"kind":"click","at":"2026-11-29T10:00:00Z"}]}"#,
        )
        .unwrap();
        let NeuronMessage::Events(batch) = events else {
            panic!()
        };
        assert_eq!(batch.batch_id, "b1");
        let result: NeuronMessage = serde_json::from_str(
            r#"{"type":"commandResult","id":"c1","ok":false,"message":"no config"}"#,
        )
        .unwrap();
        assert!(matches!(
            result,
            NeuronMessage::CommandResult { ok: false, .. }
        ));
        let cmd = serde_json::to_value(HubMessage::Command {
            id: "c1".into(),
            command: Command::HotReload,
        })
        .unwrap();
        assert_eq!(
            cmd,
            serde_json::json!({"type": "command", "id": "c1", "command": "hotReload"})
        );
    }
}
