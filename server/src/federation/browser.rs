//! Browser neurons: a web app joins with a publishable key (not a secret: it sits in the
//! page) that is tied to the exact origins an admin listed. The hub checks the browser's
//! `Origin` header against them, admits only browser kinds, and answers cross-origin
//! requests (CORS) only for listed origins.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use cortex_core::audit::AuditRecord;
use cortex_core::federation::{
    check_origin, Admission, Joined, PublishableKey, Transport, PUBLISHABLE_KEY_HEADER,
};
use cortex_core::ErrorCode;
use std::sync::Arc;

use super::{cached, remember, Federation};
use crate::error::ApiError;

/// Settings key of the publishable keys (JSON list).
pub const PUBLISHABLE_KEYS_SETTING: &str = "federation.publishable_keys";
/// Most publishable keys and origins per key.
pub const MAX_KEYS: usize = 100;
pub const MAX_ORIGINS: usize = 20;

/// What a browser request presents: a publishable key, and the `Origin` it comes from.
#[derive(Debug, Clone, Copy, Default)]
pub struct PresentedKey<'a> {
    pub key: &'a str,
    pub origin: &'a str,
}

impl Federation {
    /// The publishable keys (cached for a moment; refreshes the CORS origins).
    pub async fn publishable_keys(&self) -> Result<Arc<Vec<PublishableKey>>, ApiError> {
        if let Some(k) = cached(&self.browser_keys) {
            return Ok(k);
        }
        let keys: Vec<PublishableKey> = match self.store.setting(PUBLISHABLE_KEYS_SETTING).await? {
            Some(json) => serde_json::from_str(&json).unwrap_or_default(),
            None => Vec::new(),
        };
        let keys = Arc::new(keys);
        self.remember_keys(keys.clone());
        Ok(keys)
    }

    fn remember_keys(&self, keys: Arc<Vec<PublishableKey>>) {
        let origins = keys
            .iter()
            .flat_map(|k| k.origins.iter().cloned())
            .collect();
        *self.origins.write().unwrap_or_else(|p| p.into_inner()) = origins;
        remember(&self.browser_keys, keys);
    }

    /// Whether some publishable key lists `origin` (for CORS; no database call).
    pub fn is_allowed_origin(&self, origin: &str) -> bool {
        self.origins
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(origin)
    }

    async fn save_keys(
        &self,
        keys: Vec<PublishableKey>,
        mut audit: AuditRecord,
    ) -> Result<(), ApiError> {
        let json =
            serde_json::to_string(&keys).map_err(|e| ApiError::bad_request(e.to_string()))?;
        audit.target = PUBLISHABLE_KEYS_SETTING.into();
        self.store
            .put_setting(PUBLISHABLE_KEYS_SETTING, &json, Some(audit))
            .await?;
        self.remember_keys(Arc::new(keys));
        Ok(())
    }

    /// Creates a publishable key for `origins` (audited as `publishable-key.create`).
    pub async fn create_publishable_key(
        &self,
        name: &str,
        origins: Vec<String>,
        actor: &str,
    ) -> Result<PublishableKey, ApiError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(ApiError::bad_request("name: 1-64 printable characters"));
        }
        if origins.is_empty() || origins.len() > MAX_ORIGINS {
            return Err(ApiError::bad_request(format!(
                "origins: 1 to {MAX_ORIGINS} origins, e.g. https://shop.example.com"
            )));
        }
        for (i, o) in origins.iter().enumerate() {
            check_origin(&format!("origins[{i}]"), o)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
        }
        let mut keys = (*self.publishable_keys().await?).clone();
        if keys.len() >= MAX_KEYS {
            return Err(ApiError::bad_request(format!(
                "at most {MAX_KEYS} publishable keys; revoke one first"
            )));
        }
        let mut random = [0u8; 24];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
        let key = PublishableKey {
            key: format!(
                "pk_{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
            ),
            name: name.to_string(),
            origins,
            created_by: actor.to_string(),
            created_at: Utc::now(),
        };
        keys.push(key.clone());
        let mut audit = AuditRecord::new(actor, "publishable-key.create", String::new());
        audit.after = serde_json::json!({"key": key.key, "name": key.name, "origins": key.origins});
        self.save_keys(keys, audit).await?;
        Ok(key)
    }

    /// Revokes a publishable key: no new browser neuron joins with it (audited).
    pub async fn revoke_publishable_key(
        &self,
        key: &str,
        actor: &str,
    ) -> Result<PublishableKey, ApiError> {
        let mut keys = (*self.publishable_keys().await?).clone();
        let Some(i) = keys.iter().position(|k| k.key == key) else {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("no publishable key `{key}`"),
            ));
        };
        let gone = keys.remove(i);
        let mut audit = AuditRecord::new(actor, "publishable-key.revoke", String::new());
        audit.before =
            serde_json::json!({"key": gone.key, "name": gone.name, "origins": gone.origins});
        self.save_keys(keys, audit).await?;
        Ok(gone)
    }

    /// A browser neuron joins: its publishable key must be known and list the request's
    /// `Origin`, and its kind must be a browser kind. The key is the admission: it joins
    /// active (the join policy governs signed registrations).
    pub async fn register_browser(
        &self,
        presented: PresentedKey<'_>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Joined, ApiError> {
        super::registration::check_registration_size(body)?;
        let key = self.check_publishable_key(presented).await?;
        // The key is public: whoever reads it may join tabs with it, from any number of
        // addresses. So joins are limited per key too (and tabs that go silent are removed).
        self.browser_joins.take(&key.key, 1.0).map_err(|wait| {
            metrics::counter!("cortex_registrations_limited_total").increment(1);
            ApiError {
                code: ErrorCode::RateLimited,
                message: format!(
                    "too many browser neurons join with publishable key `{}` (CORTEX_BROWSER_JOINS_PER_MINUTE); retry after the delay in Retry-After",
                    key.name
                ),
                retry_after: Some(wait.as_secs().max(1)),
            }
        })?;
        let mut reg = super::registration::parse_registration(body)?;
        reg.validate_browser()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        self.check_kind(&reg, Transport::Browser).await?;
        // The id is bound to the key it joined with, as a server neuron's is to its public
        // key: no browser takes over a server neuron's id, or one another key's page holds.
        reg.public_key = key.key;
        let audit = AuditRecord::new(String::new(), "neuron.register", String::new());
        self.join(reg, Admission::Join, None, audit, now).await
    }

    /// Checks that `origin` (the request's `Origin`) is one of the origins of publishable
    /// key `key` (a browser neuron's push channel: the key it joined with must still exist).
    pub async fn check_key_origin(
        &self,
        key: &str,
        origin: &str,
    ) -> Result<PublishableKey, ApiError> {
        let keys = self.publishable_keys().await?;
        let Some(found) = keys.iter().find(|k| k.key == key) else {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "the publishable key this browser neuron joined with was revoked; join again with a current key",
            ));
        };
        if !found.origins.iter().any(|o| o == origin) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("origin `{origin}` is not allowed for publishable key `{}`; an admin can add it", found.name),
            ));
        }
        Ok(found.clone())
    }

    /// A browser request's publishable key: known, not revoked, and listing the request's
    /// `Origin`.
    pub async fn check_publishable_key(
        &self,
        presented: PresentedKey<'_>,
    ) -> Result<PublishableKey, ApiError> {
        if !self
            .publishable_keys()
            .await?
            .iter()
            .any(|k| k.key == presented.key)
        {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                format!(
                    "`{PUBLISHABLE_KEY_HEADER}` is not a publishable key of this hub (or it was revoked)"
                ),
            ));
        }
        self.check_key_origin(presented.key, presented.origin).await
    }
}
