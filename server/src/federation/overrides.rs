//! Manual overrides of one neuron's config (`cortex_core::federation::overrides`): set and
//! cleared by editors, ended by the hub once expired, sent to the neuron wherever it is
//! connected (on connect, and on every change).

use chrono::{DateTime, Utc};
use cortex_core::audit::AuditRecord;
use cortex_core::federation::overrides::{ConfigOverride, OverrideOrder};
use cortex_core::federation::{BundleKind, HubMessage};
use cortex_core::user::Principal;
use cortex_core::{ErrorCode, Role};

use super::{fanout, Federation};
use crate::auth::require_role;
use crate::error::ApiError;

/// Who ends expired overrides in the audit log.
const HUB: &str = "hub";

impl Federation {
    /// Every neuron's override. Viewer.
    pub async fn overrides(&self, who: &Principal) -> Result<Vec<ConfigOverride>, ApiError> {
        require_role(who, Role::Viewer)?;
        Ok(self.store.overrides().await?)
    }

    /// Sets neuron `o.neuron_id`'s override (replacing any it had) and sends it to the
    /// neuron. The neuron must be a joined server neuron; a pinned revision must be a config
    /// revision of one of its scopes. Audited as `override.set`. Editor.
    pub async fn set_override(
        &self,
        mut o: ConfigOverride,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<ConfigOverride, ApiError> {
        require_role(who, Role::Editor)?;
        o.created_by = who.actor.clone();
        o.created_at = crate::store::ms_precision(now);
        o.validate(now)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let neuron = self.store.neuron(&o.neuron_id).await?.ok_or_else(|| {
            ApiError::new(ErrorCode::NotFound, format!("no neuron `{}`", o.neuron_id))
        })?;
        if neuron.is_browser() {
            return Err(ApiError::bad_request(
                "id: a browser neuron takes no override (its config comes from its page)",
            ));
        }
        self.may_override(&neuron, who).await?;
        if let Some(pin) = &o.pin {
            if !pin.scope.covers(neuron.id.as_str(), &neuron.tags) {
                return Err(ApiError::bad_request(format!(
                    "pin_scope: `{}` is not one of this neuron's scopes",
                    pin.scope
                )));
            }
            match self.store.bundle(&pin.scope, pin.revision).await? {
                Some(b) if b.kind == BundleKind::Config => {}
                Some(b) => {
                    return Err(ApiError::bad_request(format!(
                        "pin_revision: revision {} of `{}` is {}, not config",
                        pin.revision,
                        pin.scope,
                        b.kind.as_str()
                    )))
                }
                None => {
                    return Err(ApiError::bad_request(format!(
                        "pin_revision: `{}` has no revision {}",
                        pin.scope, pin.revision
                    )))
                }
            }
        }
        let audit = AuditRecord::new(&who.actor, "override.set", String::new());
        self.store.put_override(&o, audit).await?;
        self.send_override(&o.neuron_id).await;
        Ok(o)
    }

    /// An override changes the neuron's config outside review: where one of its scopes is
    /// reviewed or protected, only an admin sets or clears one (403).
    async fn may_override(
        &self,
        neuron: &cortex_core::federation::Neuron,
        who: &Principal,
    ) -> Result<(), ApiError> {
        if who.role >= Role::Admin {
            return Ok(());
        }
        match self
            .scope_policies_now()
            .await?
            .reviewed_scope_of(&neuron.id, &neuron.tags)
        {
            Some(scope) => Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("this neuron's scope `{scope}` is under review or protected: only an admin overrides its config"),
            )),
            None => Ok(()),
        }
    }

    /// Clears a neuron's override (the pushed config is in force again). Audited as
    /// `override.clear`. 404 when it has none; 403 for an editor where a scope of the
    /// neuron is reviewed. Editor.
    pub async fn clear_override(
        &self,
        neuron_id: &str,
        who: &Principal,
    ) -> Result<ConfigOverride, ApiError> {
        require_role(who, Role::Editor)?;
        if let Some(neuron) = self.store.neuron(neuron_id).await? {
            self.may_override(&neuron, who).await?;
        }
        let audit = AuditRecord::new(&who.actor, "override.clear", String::new());
        let removed = self
            .store
            .remove_override(neuron_id, None, audit)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("neuron `{neuron_id}` has no override"),
                )
            })?;
        self.send_override(neuron_id).await;
        Ok(removed)
    }

    /// Ends the overrides expired at `now` (audited as `override.expire` by `hub`) and tells
    /// their neurons; returns how many.
    pub async fn expire_overrides(&self, now: DateTime<Utc>) -> Result<usize, ApiError> {
        let mut ended = 0;
        for o in self.store.overrides().await? {
            if !o.is_expired(now) {
                continue;
            }
            let audit = AuditRecord::new(HUB, "override.expire", String::new());
            // Another hub may have ended it first, or an editor set a new one since it was
            // read: then there is nothing to say.
            if self
                .store
                .remove_override(&o.neuron_id, Some(now), audit)
                .await?
                .is_some()
            {
                self.send_override(&o.neuron_id).await;
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// What neuron `id` is told about its override now (`None`: it has none).
    pub(crate) async fn override_order(&self, id: &str) -> Result<Option<OverrideOrder>, ApiError> {
        let Some(o) = self.store.override_of(id).await? else {
            return Ok(None);
        };
        let pinned = match &o.pin {
            Some(p) => self.store.bundle(&p.scope, p.revision).await?,
            None => None,
        };
        Ok(Some(OverrideOrder {
            pinned,
            keys: o.keys,
            expires_at: o.expires_at,
            set_by: o.created_by,
        }))
    }

    /// Sends neuron `id` its override if it is connected here, and has the other hubs do so.
    pub(crate) async fn send_override(&self, id: &str) {
        self.tell_override(id).await;
        self.announce(fanout::Announcement::Override {
            hub: self.hub_id.to_string(),
            neuron: id.to_string(),
        })
        .await;
    }

    /// Sends neuron `id` its override if it is connected here.
    pub(crate) async fn tell_override(&self, id: &str) {
        if !self.channels.is_connected(id) {
            return;
        }
        match self.override_order(id).await {
            Ok(order) => {
                self.channels
                    .send_to(&[id.to_string()], &HubMessage::Override { order });
            }
            Err(e) => tracing::warn!(error = %e.message, neuron = id, "override not readable"),
        }
    }
}

/// An expiry as a form gives it: empty (none) or a duration from `now` such as `30m`, `2h`
/// or `7d`.
pub fn parse_expiry(
    text: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, cortex_core::federation::FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || {
        cortex_core::federation::FieldError::new(
            "expires_in",
            format!("`{text}` is not a duration such as 30m, 2h or 7d"),
        )
    };
    let d = humantime_serde::re::humantime::parse_duration(text).map_err(|_| bad())?;
    let d = chrono::Duration::from_std(d).map_err(|_| bad())?;
    now.checked_add_signed(d).map(Some).ok_or_else(bad)
}
