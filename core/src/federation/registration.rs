//! Joining: what a neuron says about itself, the checks on it, the keys browser apps join
//! with, neuron kinds, and the join policy that admits, holds or refuses it.

use super::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a neuron says about itself when it joins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Registration {
    /// Unique and stable across restarts: 1-64 of `a-z 0-9 . _ -`.
    pub id: crate::ids::NeuronId,
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
    /// Fingerprints of its schema and API (see [`fingerprint`]), compared with its kind's
    /// expected release.
    #[serde(default, skip_serializing_if = "Fingerprints::is_empty")]
    pub fingerprints: Fingerprints,
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
        Err(FieldError::new(
            field,
            format!("`{value}` must be 1-64 of a-z 0-9 . _ -"),
        ))
    }
}

/// Checks free text shown to people (a version): 1-64 characters, none of them a control
/// character or a bidirectional formatting character (which can make a string read as
/// another on screen).
pub fn check_display_text(field: &str, value: &str) -> Result<(), FieldError> {
    let invisible = |c: char| c.is_control() || is_text_direction(c);
    if value.trim().is_empty() || value.len() > 64 {
        return Err(FieldError::new(field, "must be 1-64 characters"));
    }
    if value.chars().any(invisible) {
        return Err(FieldError::new(
            field,
            "must not contain control or text-direction characters",
        ));
    }
    Ok(())
}

/// Whether `c` is a bidirectional formatting character (it can make a string read as
/// another on screen).
pub fn is_text_direction(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Most capabilities and tags one neuron may declare.
pub const MAX_LABELS: usize = 32;

impl Registration {
    /// Checks everything that does not need the hub's state.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_name("id", &self.id)?;
        check_name("slug", &self.slug)?;
        check_name("kind", &self.kind)?;
        check_display_text("version", &self.version)?;
        for (field, list) in [("capabilities", &self.capabilities), ("tags", &self.tags)] {
            if list.len() > MAX_LABELS {
                return Err(FieldError::new(
                    field,
                    format!("at most {MAX_LABELS} entries"),
                ));
            }
            for (i, v) in list.iter().enumerate() {
                check_name(&format!("{field}[{i}]"), v)?;
            }
        }
        if let Some(r) = &self.region {
            check_name("region", r)?;
        }
        self.fingerprints.validate("fingerprints")?;
        if let Some(e) = &self.endpoint {
            let scheme_ok = e.starts_with("http://") || e.starts_with("https://");
            if !scheme_ok || e.len() > 256 || e.contains(char::is_whitespace) {
                return Err(FieldError::new(
                    "endpoint",
                    "must be an http:// or https:// URL of at most 256 characters",
                ));
            }
        }
        if self.public_key.len() != 44 {
            return Err(FieldError::new(
                "publicKey",
                "must be an Ed25519 public key: 32 bytes, base64 (44 characters)",
            ));
        }
        Ok(())
    }

    /// Like [`Registration::validate`], for a browser neuron: no public key, no endpoint.
    pub fn validate_browser(&self) -> Result<(), FieldError> {
        if !self.public_key.is_empty() {
            return Err(FieldError::new(
                "publicKey",
                "a browser neuron joins with a publishable key: leave publicKey out",
            ));
        }
        if self.endpoint.is_some() {
            return Err(FieldError::new(
                "endpoint",
                "browser neurons have no endpoint",
            ));
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
        Err(FieldError::new(
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
                return Err(FieldError::new(
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
            return Err(FieldError::new(
                "keys",
                format!("at most {MAX_POLICY_KEYS} keys"),
            ));
        }
        if self.tags.len() > MAX_POLICY_TAGS {
            return Err(FieldError::new(
                "tags",
                format!("at most {MAX_POLICY_TAGS} tags"),
            ));
        }
        for (i, t) in self.tags.iter().enumerate() {
            check_name(&format!("tags[{i}]"), t)?;
        }
        if self.key_tags.len() > MAX_POLICY_KEYS {
            return Err(FieldError::new(
                "key_tags",
                format!("at most {MAX_POLICY_KEYS} keys"),
            ));
        }
        for (key, tags) in &self.key_tags {
            if tags.is_empty() || tags.len() > MAX_LABELS {
                return Err(FieldError::new(
                    "key_tags",
                    format!("key `{key}`: 1 to {MAX_LABELS} tags"),
                ));
            }
            for (i, t) in tags.iter().enumerate() {
                check_name(&format!("key_tags[{key}][{i}]"), t)?;
            }
        }
        if self.mode == JoinMode::Allowlist && self.keys.is_empty() && self.tags.is_empty() {
            return Err(FieldError::new(
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
            fingerprints: Default::default(),
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
        assert_eq!(bad(|r| r.version = "1.0\u{202e}".into()), "version");
        assert_eq!(bad(|r| r.version = "1.0\u{0}".into()), "version");
        assert_eq!(bad(|r| r.version = "1.0\r\n".into()), "version");
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
