//! Registration: a signed registration (or a browser's join) checked, admitted by the join
//! policy and the neuron's kind, recorded in a batch with others, and answered.

use chrono::{DateTime, Duration, Utc};
use cortex_core::audit::AuditRecord;
use cortex_core::federation::{
    headers, Admission, JoinPolicy, Joined, Neuron, NeuronStatus, Registration, Transport,
    MAX_CLOCK_SKEW_MS,
};
use cortex_core::ErrorCode;
use std::sync::Arc;

use super::signatures::{public_key, Signed};
use super::{
    cached, forbidden, neuron_probe, remember, unauthorized, Federation, JOIN_POLICY_SETTING,
    MAX_REGISTRATION_BYTES,
};
use crate::error::ApiError;

pub(crate) fn check_registration_size(body: &[u8]) -> Result<(), ApiError> {
    if body.len() > MAX_REGISTRATION_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("a registration is at most {MAX_REGISTRATION_BYTES} bytes"),
        ));
    }
    Ok(())
}

pub(super) fn parse_registration(body: &[u8]) -> Result<Registration, ApiError> {
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
        fingerprints: reg.fingerprints,
        migration: None,
        drift: Vec::new(),
        config_override: None,
    }
}

impl Federation {
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
        signed: &Signed<'_>,
        path: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Joined, ApiError> {
        check_registration_size(body)?;
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
        self.verify_signature(signed, "POST", path, body, &key, now)
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
    pub(super) async fn join(
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

    /// The kinds neurons may join as, for people. Viewer.
    pub async fn neuron_kinds(
        &self,
        who: &cortex_core::user::Principal,
    ) -> Result<Vec<cortex_core::federation::NeuronKind>, ApiError> {
        crate::auth::require_role(who, cortex_core::Role::Viewer)?;
        Ok(self.store.neuron_kinds().await?)
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

    pub(super) async fn check_kind(
        &self,
        reg: &Registration,
        transport: Transport,
    ) -> Result<(), ApiError> {
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

    pub(super) fn joined(&self, neuron: &Neuron, now: DateTime<Utc>) -> Joined {
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

    /// Counts a registration from `source` against its rate; over it, a 429 to answer (not
    /// audited: a flood must not flood the audit log; counted and shown as an alert).
    pub fn check_registration_rate(&self, source: &str) -> Result<(), ApiError> {
        self.registrations.take(source, 1.0).map_err(|wait| {
            metrics::counter!("cortex_registrations_limited_total").increment(1);
            let (now, reason) = (
                Utc::now(),
                "registration rate limit (CORTEX_REGISTRATIONS_PER_MINUTE)",
            );
            if self.refusals.count(source, None, reason, now) {
                self.alert(super::refusals::refusal_alert(
                    source,
                    None,
                    super::http::REGISTER_PATH,
                    reason,
                    now,
                ));
            }
            ApiError {
                code: ErrorCode::RateLimited,
                message: format!(
                    "too many registrations from {source}; retry after the delay in Retry-After"
                ),
                retry_after: Some(wait.as_secs().max(1)),
            }
        })
    }
}
