//! A manual override of one neuron's config: pinned to a revision of one of its scopes (that
//! revision's body is its config, whatever is pushed later), and/or some keys set over the
//! config in force, until an optional expiry. The hub keeps it and sends the neuron an
//! [`OverrideOrder`] (on connect and on every change); the SDK applies it with
//! [`overridden`], and drops it by itself once expired.

use super::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Keys an override may set.
pub const MAX_OVERRIDE_KEYS: usize = 100;
/// The keys' size, as JSON.
pub const MAX_OVERRIDE_BYTES: usize = 64 * 1024;
/// The longest an override may last, in days.
pub const MAX_OVERRIDE_DAYS: i64 = 90;
/// A reason's length, in characters.
pub const MAX_OVERRIDE_REASON: usize = 500;

/// A revision of a scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PinnedRevision {
    pub scope: Scope,
    pub revision: u64,
}

/// One neuron's override, as the hub keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConfigOverride {
    pub neuron_id: String,
    /// Its config is this revision's body (absent: the config in force).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<PinnedRevision>,
    /// Keys set over the config (after the pin).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub keys: serde_json::Map<String, serde_json::Value>,
    /// When it ends by itself (absent: when cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl ConfigOverride {
    /// Checks what a person asks for: a pin or keys (or both); at most
    /// [`MAX_OVERRIDE_KEYS`] keys and [`MAX_OVERRIDE_BYTES`] bytes; an expiry in the future,
    /// at most [`MAX_OVERRIDE_DAYS`] away; a reason of at most [`MAX_OVERRIDE_REASON`]
    /// characters (tidied).
    pub fn validate(&mut self, now: DateTime<Utc>) -> Result<(), FieldError> {
        if self.pin.is_none() && self.keys.is_empty() {
            return Err(FieldError::new(
                "keys",
                "give keys to set, a revision to pin, or both",
            ));
        }
        if self.keys.len() > MAX_OVERRIDE_KEYS {
            return Err(FieldError::new(
                "keys",
                format!("at most {MAX_OVERRIDE_KEYS} keys"),
            ));
        }
        let bytes = serde_json::Value::Object(self.keys.clone())
            .to_string()
            .len();
        if bytes > MAX_OVERRIDE_BYTES {
            return Err(FieldError::new(
                "keys",
                format!("at most {MAX_OVERRIDE_BYTES} bytes as JSON (these are {bytes})"),
            ));
        }
        if let Some(at) = self.expires_at {
            if at <= now {
                return Err(FieldError::new("expires", "must be in the future"));
            }
            if at > now + chrono::Duration::days(MAX_OVERRIDE_DAYS) {
                return Err(FieldError::new(
                    "expires",
                    format!("at most {MAX_OVERRIDE_DAYS} days away"),
                ));
            }
        }
        self.reason = super::review::tidy_text("reason", &self.reason, MAX_OVERRIDE_REASON, true)?;
        Ok(())
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// How it reads on a neuron's card.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.pin {
            parts.push(format!("pinned to {}#{}", p.scope, p.revision));
        }
        if !self.keys.is_empty() {
            let keys: Vec<&str> = self.keys.keys().map(String::as_str).collect();
            parts.push(format!("sets {}", keys.join(", ")));
        }
        let mut s = parts.join("; ");
        if let Some(at) = self.expires_at {
            s.push_str(&format!(" until {}", at.format("%Y-%m-%d %H:%M UTC")));
        }
        s
    }
}

/// What the hub sends a neuron about its override (`None` in the message: it has none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideOrder {
    /// The pinned revision, body included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<Bundle>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub keys: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    pub set_by: String,
}

impl OverrideOrder {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// The config bundle neuron `id` uses under `order`, given the one in force without it:
/// the pinned revision (or the one in force), with the keys set over its body (an object).
/// The result keeps the scope and revision it came from (the neuron's own scope, revision 0,
/// when it had no config).
pub fn overridden(order: &OverrideOrder, in_force: Option<&Bundle>, id: &str) -> Bundle {
    let mut bundle = order
        .pinned
        .clone()
        .or_else(|| in_force.cloned())
        .unwrap_or_else(|| Bundle {
            scope: Scope::Neuron(id.to_string()),
            revision: 0,
            kind: BundleKind::Config,
            body: serde_json::json!({}),
            created_by: order.set_by.clone(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            audience: Audience::default(),
            base_revision: None,
            overwrote: None,
        });
    if !order.keys.is_empty() {
        if !bundle.body.is_object() {
            bundle.body = serde_json::json!({});
        }
        if let Some(body) = bundle.body.as_object_mut() {
            for (k, v) in &order.keys {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    bundle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(revision: u64, body: serde_json::Value) -> Bundle {
        Bundle {
            scope: Scope::Global,
            revision,
            kind: BundleKind::Config,
            body,
            created_by: "t".into(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            audience: Audience::default(),
            base_revision: None,
            overwrote: None,
        }
    }

    fn keys(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn keys_go_over_the_config_in_force_or_the_pinned_revision() {
        let now = config(5, serde_json::json!({"theme": "dark", "limit": 1}));
        let order = OverrideOrder {
            pinned: None,
            keys: keys(serde_json::json!({"limit": 9})),
            expires_at: None,
            set_by: "user:ann".into(),
        };
        let b = overridden(&order, Some(&now), "n1");
        assert_eq!(b.body, serde_json::json!({"theme": "dark", "limit": 9}));
        assert_eq!(b.revision, 5);
        let pinned = OverrideOrder {
            pinned: Some(config(2, serde_json::json!({"theme": "light"}))),
            ..order.clone()
        };
        let b = overridden(&pinned, Some(&now), "n1");
        assert_eq!(b.body, serde_json::json!({"theme": "light", "limit": 9}));
        assert_eq!(b.revision, 2);
        let b = overridden(&order, None, "n1");
        assert_eq!(
            (b.scope, b.body),
            (Scope::Neuron("n1".into()), serde_json::json!({"limit": 9}))
        );
    }

    #[test]
    fn an_override_needs_something_to_do_and_is_bounded() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut o = ConfigOverride {
            neuron_id: "n1".into(),
            pin: None,
            keys: Default::default(),
            expires_at: None,
            reason: " incident 42\u{202e} ".into(),
            created_by: "user:ann".into(),
            created_at: now,
        };
        assert_eq!(o.validate(now).unwrap_err().field, "keys");
        o.keys = keys(serde_json::json!({"limit": 9}));
        o.validate(now).unwrap();
        assert_eq!(o.reason, "incident 42");
        o.expires_at = Some(now - chrono::Duration::seconds(1));
        assert_eq!(o.validate(now).unwrap_err().field, "expires");
        o.expires_at = Some(now + chrono::Duration::days(91));
        assert_eq!(o.validate(now).unwrap_err().field, "expires");
        o.expires_at = Some(now + chrono::Duration::hours(2));
        o.validate(now).unwrap();
        assert!(!o.is_expired(now) && o.is_expired(now + chrono::Duration::hours(2)));
        o.keys = (0..=MAX_OVERRIDE_KEYS)
            .map(|i| (format!("k{i}"), serde_json::json!(i)))
            .collect();
        assert_eq!(o.validate(now).unwrap_err().field, "keys");
        o.keys = keys(serde_json::json!({"big": "x".repeat(MAX_OVERRIDE_BYTES)}));
        assert_eq!(o.validate(now).unwrap_err().field, "keys");
        o.keys = Default::default();
        o.pin = Some(PinnedRevision {
            scope: Scope::Global,
            revision: 3,
        });
        o.validate(now).unwrap();
        assert!(o.describe().starts_with("pinned to global#3 until "));
    }
}
