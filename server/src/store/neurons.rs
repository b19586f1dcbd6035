//! Storage of the federation: neuron kinds, neurons and the nonces of signed requests.
//! Same shape as the rest of the store: one trait, SQL written once for both backends.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cortex_core::audit::AuditRecord;
use cortex_core::federation::{
    Bundle, BundleKind, Heartbeat, Neuron, NeuronKind, NeuronStatus, Scope,
};

use super::StoreResult;

/// A status change made by the sweeper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub id: String,
    pub to: NeuronStatus,
}

/// A neuron holds a revision of a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleAck {
    pub neuron_id: String,
    pub scope: Scope,
    pub revision: u64,
    pub at: DateTime<Utc>,
}

/// A registration to record (see [`NeuronStore::join_neurons`]).
#[derive(Debug, Clone)]
pub struct Join {
    /// The entry as the registration describes it; its status comes from `admission` and
    /// the neuron already registered under its id. Pin, first registration, health and probe
    /// of a known neuron are kept.
    pub neuron: Neuron,
    pub admission: cortex_core::federation::Admission,
    /// A signed request's nonce and how long to remember it: a nonce seen before makes the
    /// join [`JoinOutcome::Replayed`].
    pub nonce: Option<(String, DateTime<Utc>)>,
    /// Completed with the target, before and after.
    pub audit: AuditRecord,
}

/// What became of a [`Join`].
#[derive(Debug, Clone, PartialEq)]
pub enum JoinOutcome {
    /// Recorded (joined or pending, by its status); `was`: the status it had before, if it
    /// was registered.
    Joined {
        neuron: Box<Neuron>,
        was: Option<NeuronStatus>,
    },
    /// The nonce was used before: a replayed request. Nothing was recorded.
    Replayed,
    /// The policy refuses a neuron that is not registered yet. The nonce is remembered.
    Refused,
    /// The id is registered with another public key. The nonce is remembered.
    KeyConflict,
    /// It would wait for approval, but as many neurons as allowed already do. Nothing was
    /// recorded but the nonce.
    Capped,
}

/// Neurons and their kinds.
// `push_bundle` takes a bundle's parts plus its audit record, as every write here does.
#[allow(clippy::too_many_arguments)]
#[async_trait]
pub trait NeuronStore: Send + Sync {
    /// The kinds neurons may declare.
    async fn neuron_kinds(&self) -> StoreResult<Vec<NeuronKind>>;
    /// Adds a kind (or replaces one of the same name).
    async fn put_neuron_kind(&self, kind: NeuronKind, audit: AuditRecord) -> StoreResult<()>;

    /// One neuron.
    async fn neuron(&self, id: &str) -> StoreResult<Option<Neuron>>;
    /// All neurons, by region then id.
    async fn list_neurons(&self) -> StoreResult<Vec<Neuron>>;
    /// Records an entry as given (status included): inserts it, or updates the one with this
    /// id if it holds the same public key. A different key for a known id is a conflict.
    /// Registrations go through [`NeuronStore::join_neurons`]; this is for restores and tests.
    async fn register_neuron(&self, neuron: Neuron, audit: AuditRecord) -> StoreResult<Neuron>;
    /// Records registrations in one transaction: remembers their nonces, decides each one's
    /// status from its admission and the neuron already registered, upserts the joined and
    /// audits each change (a re-registration that changes nothing but the last-seen time is
    /// not audited). A new pending neuron past `max_pending` pending ones is
    /// [`JoinOutcome::Capped`]. Ids must be distinct. Outcomes are in the order of `joins`;
    /// an error (an unknown kind, say) fails them all.
    async fn join_neurons(&self, joins: &[Join], max_pending: u64)
        -> StoreResult<Vec<JoinOutcome>>;
    /// Records a heartbeat: last seen, health, checks, load, version. An active, degraded or
    /// unhealthy neuron becomes active or degraded by the health it reports; pending,
    /// draining and retired neurons keep their status. `NotFound` for an unknown id.
    async fn record_heartbeat(
        &self,
        id: &str,
        at: DateTime<Utc>,
        beat: &Heartbeat,
    ) -> StoreResult<Neuron>;
    /// Sets a neuron's status (approve, drain, retire, reactivate) if it is still `from`
    /// (`Conflict` otherwise: it changed since the caller read it, so the caller's checks no
    /// longer hold). Fills the audit target, before and after.
    async fn set_neuron_status(
        &self,
        id: &str,
        from: NeuronStatus,
        to: NeuronStatus,
        audit: AuditRecord,
    ) -> StoreResult<Neuron>;
    /// Pins a neuron (never retired for silence) or unpins it.
    async fn set_neuron_pinned(
        &self,
        id: &str,
        pinned: bool,
        audit: AuditRecord,
    ) -> StoreResult<Neuron>;
    /// Removes a neuron from the registry.
    async fn delete_neuron(&self, id: &str, audit: AuditRecord) -> StoreResult<Neuron>;
    /// Moves silent neurons along: active/degraded last seen before `unhealthy_before`
    /// become unhealthy; unhealthy ones last seen before `retire_before` and not pinned are
    /// retired. One audit record (actor `hub`) lists the changes, if any.
    async fn sweep_neurons(
        &self,
        unhealthy_before: DateTime<Utc>,
        retire_before: DateTime<Utc>,
    ) -> StoreResult<Vec<Transition>>;

    /// Forgets nonces that expired before `now`; returns how many.
    async fn prune_nonces(&self, now: DateTime<Utc>) -> StoreResult<u64>;
    /// Removes browser neurons (tabs) last seen before `before` and not pinned, with their
    /// acks; returns how many. Not audited: they join and leave with page views.
    async fn remove_silent_browser_neurons(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    /// Records that every token issued to neuron `id` until `at` is void (shared by the
    /// hubs on one database; a later revocation of the same neuron moves the time on).
    async fn revoke_neuron(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()>;
    /// Revocations made at or after `since`: (neuron id, when).
    async fn revocations_since(
        &self,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<(String, DateTime<Utc>)>>;
    /// Forgets revocations older than `before` (every token they cover has expired).
    async fn prune_revocations(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    /// Stores a bundle as the next revision of its scope (audited), unless `check` says it
    /// waits for review: then it is stored as an open change request instead (audited as
    /// `changeRequest.open`). The check and the write are one transaction, so a push that
    /// passed it cannot overwrite one it did not see.
    #[allow(clippy::too_many_arguments)]
    async fn push_bundle(
        &self,
        scope: &Scope,
        kind: BundleKind,
        body: &serde_json::Value,
        created_by: &str,
        at: DateTime<Utc>,
        audience: &cortex_core::federation::Audience,
        check: &PushCheck,
        audit: AuditRecord,
    ) -> StoreResult<Pushed>;
    /// The newest revision of `kind` in `scope`, if any.
    async fn newest_revision(&self, scope: &Scope, kind: BundleKind) -> StoreResult<Option<u64>>;
    /// How many revisions of `kind` `scope` holds after revision `after`.
    async fn count_revisions_after(
        &self,
        scope: &Scope,
        kind: BundleKind,
        after: u64,
    ) -> StoreResult<u64>;
    /// What a neuron may have missed: for each (scope, last revision held), the bundles newer
    /// than that revision (the newest 1000, newest first). `cortex_core::federation::latest_for`
    /// picks what one neuron gets.
    async fn bundles_since(&self, since: &[(Scope, u64)]) -> StoreResult<Vec<Bundle>>;
    /// The most recent bundles of all scopes, newest first.
    async fn recent_bundles(&self, limit: u32) -> StoreResult<Vec<Bundle>>;
    /// One revision of a scope.
    async fn bundle(&self, scope: &Scope, revision: u64) -> StoreResult<Option<Bundle>>;
    /// Records the hub's probe of a neuron's endpoint (no audit: it is telemetry).
    async fn record_probe(
        &self,
        id: &str,
        probe: &cortex_core::federation::Probe,
    ) -> StoreResult<()>;
    /// Records that neurons hold revisions (a lower revision never replaces a higher), in one
    /// transaction. At most one ack per (neuron, scope).
    async fn ack_bundles(&self, acks: &[BundleAck]) -> StoreResult<()>;
    /// Every neuron's acknowledged revisions (for the fleet view).
    async fn all_acks(&self) -> StoreResult<Vec<BundleAck>>;
    /// How many neurons hold at least `revision` of `scope`.
    async fn count_acks(&self, scope: &Scope, revision: u64) -> StoreResult<u64>;
    /// When neurons acknowledged exactly `revision` of `scope`, earliest first (at most
    /// `limit`): how a push spread. A neuron that has since taken a newer revision is not
    /// counted, so this is exact for a scope's newest push.
    async fn ack_times(
        &self,
        scope: &Scope,
        revision: u64,
        limit: u32,
    ) -> StoreResult<Vec<DateTime<Utc>>>;
}

/// How a push is checked against its scope (see `cortex_core::federation::review`).
#[derive(Debug, Clone, Default)]
pub struct PushCheck {
    /// The revision of its kind it was made from (`Some(0)`: nothing yet; `None`: not named).
    pub base: Option<u64>,
    /// The scope's policy (the default, last write wins, for the hub's own pushes).
    pub policy: cortex_core::federation::review::ScopePolicy,
    /// Refuse (`Conflict`) unless `base` is still the newest revision of its kind, whatever
    /// the policy: for the hub's own undo of a revision, which must not overwrite a newer one.
    pub only_if_current: bool,
}

/// What a push became.
#[derive(Debug, Clone)]
pub enum Pushed {
    Applied(Bundle),
    Held(cortex_core::federation::review::ChangeRequest),
}

impl Pushed {
    /// The bundle, when it was applied.
    pub fn applied(self) -> Option<Bundle> {
        match self {
            Pushed::Applied(b) => Some(b),
            Pushed::Held(_) => None,
        }
    }
}

/// Implements [`NeuronStore`] for a backend (see `common.rs` for the conventions).
macro_rules! impl_neuron_store {
    ($store:ty, $row:ty) => {
        const NEURON_COLS: &str = "id, slug, kind, version, capabilities, tags, region, endpoint, public_key, status, pinned, registered_at, last_seen_at, health, checks_json, load_json, schema_fingerprint, api_fingerprint";
        /// What a read returns: the written columns, the hub's own probe and the last migration.
        const NEURON_READ: &str = "id, slug, kind, version, capabilities, tags, region, endpoint, public_key, status, pinned, registered_at, last_seen_at, health, checks_json, load_json, schema_fingerprint, api_fingerprint, probe_json, migration_json";

        fn neuron_from_row(r: &$row) -> StoreResult<cortex_core::federation::Neuron> {
            use cortex_core::federation::{HealthState, Neuron, NeuronStatus};
            let json = |c: &str| -> StoreResult<serde_json::Value> { Ok(parse_json(&r.try_get::<String, _>(c)?)) };
            let status: String = r.try_get("status")?;
            let health: String = r.try_get("health")?;
            Ok(Neuron {
                id: r.try_get::<String, _>("id")?.into(),
                slug: r.try_get("slug")?,
                kind: r.try_get("kind")?,
                version: r.try_get("version")?,
                capabilities: serde_json::from_value(json("capabilities")?).unwrap_or_default(),
                tags: serde_json::from_value(json("tags")?).unwrap_or_default(),
                region: r.try_get("region")?,
                endpoint: r.try_get("endpoint")?,
                public_key: r.try_get("public_key")?,
                status: NeuronStatus::parse(&status)
                    .ok_or_else(|| StoreError::Other(format!("bad neuron status `{status}` in database")))?,
                pinned: r.try_get("pinned")?,
                registered_at: from_ms(r.try_get("registered_at")?),
                last_seen_at: from_ms(r.try_get("last_seen_at")?),
                health: serde_json::from_value(serde_json::Value::String(health)).unwrap_or(HealthState::Failing),
                checks: serde_json::from_value(json("checks_json")?).unwrap_or_default(),
                load: serde_json::from_value(json("load_json")?).unwrap_or_default(),
                probe: serde_json::from_str(&r.try_get::<String, _>("probe_json")?).ok(),
                acked: Vec::new(),
                fingerprints: cortex_core::federation::Fingerprints {
                    schema: r.try_get("schema_fingerprint")?,
                    api: r.try_get("api_fingerprint")?,
                },
                migration: r
                    .try_get::<Option<String>, _>("migration_json")?
                    .and_then(|m| serde_json::from_str(&m).ok()),
                drift: Vec::new(),
        config_override: None,
            })
        }

        /// A neuron as its audit records hold it: without its last migration, whose output
        /// the neuron wrote and which has no place in the permanent log.
        fn audited(n: &cortex_core::federation::Neuron) -> serde_json::Value {
            let mut v = serde_json::to_value(n).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.remove("migration");
                o.remove("drift");
            }
            v
        }

        fn health_str(h: cortex_core::federation::HealthState) -> &'static str {
            use cortex_core::federation::HealthState;
            match h {
                HealthState::Ok => "ok",
                HealthState::Degraded => "degraded",
                HealthState::Failing => "failing",
            }
        }

        impl $store {
            async fn neuron_in(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                id: &str,
            ) -> StoreResult<cortex_core::federation::Neuron> {
                let row = sqlx::query(&format!("SELECT {NEURON_READ} FROM neurons WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("no neuron with id `{id}`")))?;
                neuron_from_row(&row)
            }

            /// Sets a neuron's pin and audits it, with before and after.
            async fn update_pinned(
                &self,
                id: &str,
                pinned: bool,
                mut audit: AuditRecord,
            ) -> StoreResult<cortex_core::federation::Neuron> {
                let mut tx = self.begin_write().await?;
                let before = Self::neuron_in(&mut tx, id).await?;
                sqlx::query("UPDATE neurons SET pinned = $1 WHERE id = $2")
                    .bind(pinned)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let after = Self::neuron_in(&mut tx, id).await?;
                audit.target = format!("neuron:{id}");
                audit.before = audited(&before);
                audit.after = audited(&after);
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(after)
            }
        }

        fn bundle_from_row(r: &$row) -> StoreResult<cortex_core::federation::Bundle> {
            let scope: String = r.try_get("scope")?;
            let kind: String = r.try_get("kind")?;
            Ok(cortex_core::federation::Bundle {
                scope: scope.parse().map_err(|_| StoreError::Other(format!("bad scope `{scope}` in database")))?,
                revision: r.try_get::<i64, _>("revision")? as u64,
                kind: cortex_core::federation::BundleKind::parse(&kind)
                    .ok_or_else(|| StoreError::Other(format!("bad bundle kind `{kind}` in database")))?,
                body: parse_json(&r.try_get::<String, _>("body")?),
                created_by: r.try_get("created_by")?,
                created_at: from_ms(r.try_get("created_at")?),
                audience: serde_json::from_str(&r.try_get::<String, _>("audience_json")?).unwrap_or_default(),
                base_revision: r.try_get::<Option<i64>, _>("base_revision")?.map(|v| v.max(0) as u64),
                overwrote: r.try_get::<Option<i64>, _>("overwrote")?.map(|v| v.max(0) as u64),
            })
        }

        const BUNDLE_COLS: &str = "scope, revision, kind, body, created_by, created_at, audience_json, base_revision, overwrote";

        impl $store {
            /// The newest revision of `kind` in `scope`, read in `tx`.
            pub(crate) async fn newest_of_kind_in(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                scope: &cortex_core::federation::Scope,
                kind: cortex_core::federation::BundleKind,
            ) -> StoreResult<Option<u64>> {
                let r: Option<i64> = sqlx::query("SELECT MAX(revision) AS r FROM bundles WHERE scope = $1 AND kind = $2")
                    .bind(scope.to_string())
                    .bind(kind.as_str())
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get("r")?;
                Ok(r.map(|v| v.max(0) as u64))
            }

            /// Writes `bundle` as the next revision of its scope in `tx` (its revision is
            /// set here) with its audit record.
            pub(crate) async fn insert_bundle_in(
                &self,
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                mut bundle: cortex_core::federation::Bundle,
                mut audit: AuditRecord,
            ) -> StoreResult<cortex_core::federation::Bundle> {
                let scope_text = bundle.scope.to_string();
                let last: Option<i64> = sqlx::query("SELECT MAX(revision) AS r FROM bundles WHERE scope = $1")
                    .bind(&scope_text)
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get("r")?;
                let revision = last.unwrap_or(0) + 1;
                let opt = |v: Option<u64>| v.map(|v| v.min(i64::MAX as u64) as i64);
                sqlx::query(&format!("INSERT INTO bundles ({BUNDLE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
                    .bind(&scope_text)
                    .bind(revision)
                    .bind(bundle.kind.as_str())
                    .bind(bundle.body.to_string())
                    .bind(&bundle.created_by)
                    .bind(ms(bundle.created_at))
                    .bind(if bundle.audience.is_everyone() { String::new() } else { serde_json::to_string(&bundle.audience).unwrap_or_default() })
                    .bind(opt(bundle.base_revision))
                    .bind(opt(bundle.overwrote))
                    .execute(&mut **tx)
                    .await?;
                bundle.revision = revision as u64;
                bundle.created_at = from_ms(ms(bundle.created_at));
                audit.target = format!("bundle:{scope_text}#{revision}");
                let mut after = serde_json::json!({"scope": scope_text, "revision": revision, "kind": bundle.kind.as_str(),
                    "bytes": bundle.body.to_string().len(), "audience": bundle.audience});
                if let Some(b) = bundle.base_revision {
                    after["baseRevision"] = b.into();
                }
                if let Some(o) = bundle.overwrote {
                    after["overwrote"] = o.into();
                }
                audit.after = after;
                self.audit_in(tx, audit).await?;
                Ok(bundle)
            }
        }

        #[async_trait]
        impl crate::store::neurons::NeuronStore for $store {
            async fn neuron_kinds(&self) -> StoreResult<Vec<cortex_core::federation::NeuronKind>> {
                let rows = sqlx::query("SELECT name, transport, description, capabilities, health_checks, health_path FROM neuron_kinds ORDER BY name")
                    .fetch_all(&self.pool()?)
                    .await?;
                rows.iter()
                    .map(|r| {
                        let transport: String = r.try_get("transport")?;
                        Ok(cortex_core::federation::NeuronKind {
                            name: r.try_get("name")?,
                            transport: serde_json::from_value(serde_json::Value::String(transport.clone()))
                                .map_err(|_| StoreError::Other(format!("bad transport `{transport}` in database")))?,
                            description: r.try_get("description")?,
                            capabilities: serde_json::from_value(parse_json(&r.try_get::<String, _>("capabilities")?)).unwrap_or_default(),
                            health_checks: serde_json::from_value(parse_json(&r.try_get::<String, _>("health_checks")?)).unwrap_or_default(),
                            health_path: r.try_get("health_path")?,
                        })
                    })
                    .collect()
            }

            async fn put_neuron_kind(&self, kind: cortex_core::federation::NeuronKind, mut audit: AuditRecord) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let transport = serde_json::to_value(kind.transport).unwrap_or_default();
                sqlx::query(
                    "INSERT INTO neuron_kinds (name, transport, description, capabilities, health_checks, health_path) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (name) DO UPDATE SET transport = $2, description = $3, capabilities = $4, health_checks = $5, health_path = $6",
                )
                .bind(&kind.name)
                .bind(transport.as_str().unwrap_or("server"))
                .bind(&kind.description)
                .bind(serde_json::to_string(&kind.capabilities).unwrap_or_default())
                .bind(serde_json::to_string(&kind.health_checks).unwrap_or_default())
                .bind(&kind.health_path)
                .execute(&mut *tx)
                .await?;
                audit.target = format!("neuron-kind:{}", kind.name);
                audit.after = serde_json::to_value(&kind).unwrap_or_default();
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn neuron(&self, id: &str) -> StoreResult<Option<cortex_core::federation::Neuron>> {
                sqlx::query(&format!("SELECT {NEURON_READ} FROM neurons WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool()?)
                    .await?
                    .as_ref()
                    .map(neuron_from_row)
                    .transpose()
            }

            async fn list_neurons(&self) -> StoreResult<Vec<cortex_core::federation::Neuron>> {
                let rows = sqlx::query(&format!("SELECT {NEURON_READ} FROM neurons ORDER BY COALESCE(region, ''), id"))
                    .fetch_all(&self.pool()?)
                    .await?;
                rows.iter().map(neuron_from_row).collect()
            }

            async fn register_neuron(&self, n: cortex_core::federation::Neuron, mut audit: AuditRecord) -> StoreResult<cortex_core::federation::Neuron> {
                let mut tx = self.begin_write().await?;
                let before = match Self::neuron_in(&mut tx, &n.id).await {
                    Ok(b) => Some(b),
                    Err(StoreError::NotFound(_)) => None,
                    Err(e) => return Err(e),
                };
                if let Some(b) = &before {
                    if b.public_key != n.public_key {
                        return Err(StoreError::Conflict(format!(
                            "neuron id `{}` is registered with another public key; use a new id, or have an admin remove the old neuron",
                            n.id
                        )));
                    }
                }
                sqlx::query(&format!(
                    "INSERT INTO neurons ({NEURON_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
                     ON CONFLICT (id) DO UPDATE SET slug = $2, kind = $3, version = $4, capabilities = $5, tags = $6, region = $7,
                        endpoint = $8, status = $10, last_seen_at = $13,
                        schema_fingerprint = COALESCE($17, neurons.schema_fingerprint), api_fingerprint = COALESCE($18, neurons.api_fingerprint),
                        migration_json = CASE WHEN neurons.version = $4 THEN neurons.migration_json END"
                ))
                .bind(n.id.as_str())
                .bind(&n.slug)
                .bind(&n.kind)
                .bind(&n.version)
                .bind(serde_json::to_string(&n.capabilities).unwrap_or_default())
                .bind(serde_json::to_string(&n.tags).unwrap_or_default())
                .bind(&n.region)
                .bind(&n.endpoint)
                .bind(&n.public_key)
                .bind(n.status.as_str())
                .bind(n.pinned)
                .bind(ms(n.registered_at))
                .bind(ms(n.last_seen_at))
                .bind(health_str(n.health))
                .bind(serde_json::to_string(&n.checks).unwrap_or_default())
                .bind(serde_json::to_string(&n.load).unwrap_or_default())
                .bind(&n.fingerprints.schema)
                .bind(&n.fingerprints.api)
                .execute(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                        StoreError::Conflict(format!("unknown neuron kind `{}`", n.kind))
                    }
                    _ => StoreError::from(e),
                })?;
                let after = Self::neuron_in(&mut tx, &n.id).await?;
                audit.target = format!("neuron:{}", n.id);
                audit.before = before.as_ref().map(audited).unwrap_or_default();
                audit.after = audited(&after);
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(after)
            }

            async fn join_neurons(&self, joins: &[crate::store::neurons::Join], max_pending: u64) -> StoreResult<Vec<crate::store::neurons::JoinOutcome>> {
                use crate::store::neurons::JoinOutcome;
                use std::collections::{HashMap, HashSet};
                if joins.is_empty() {
                    return Ok(Vec::new());
                }
                let ids: HashSet<&str> = joins.iter().map(|j| j.neuron.id.as_str()).collect();
                if ids.len() != joins.len() {
                    return Err(StoreError::Other("join_neurons: ids must be distinct".into()));
                }
                let mut tx = self.begin_write().await?;

                // Nonces first: a replayed request records nothing else.
                let signed: Vec<(&str, &str, i64)> = joins
                    .iter()
                    .filter_map(|j| j.nonce.as_ref().map(|(n, until)| (j.neuron.id.as_str(), n.as_str(), ms(*until))))
                    .collect();
                let mut fresh: HashSet<(String, String)> = HashSet::new();
                if !signed.is_empty() {
                    let mut qb = sqlx::QueryBuilder::new("INSERT INTO neuron_nonces (neuron_id, nonce, expires_at) ");
                    qb.push_values(&signed, |mut v, (id, nonce, until)| {
                        v.push_bind(id.to_string()).push_bind(nonce.to_string()).push_bind(*until);
                    });
                    qb.push(" ON CONFLICT DO NOTHING RETURNING neuron_id, nonce");
                    let keep = crate::store::keep_prepared(signed.len(), 0);
                    for r in qb.build().persistent(keep).fetch_all(&mut *tx).await? {
                        fresh.insert((r.try_get("neuron_id")?, r.try_get("nonce")?));
                    }
                }

                let mut qb = sqlx::QueryBuilder::new(format!("SELECT {NEURON_READ} FROM neurons WHERE id IN ("));
                let mut list = qb.separated(", ");
                for id in &ids {
                    list.push_bind(id.to_string());
                }
                qb.push(")");
                let mut existing: HashMap<String, cortex_core::federation::Neuron> = HashMap::new();
                for r in qb.build().persistent(crate::store::keep_prepared(ids.len(), 0)).fetch_all(&mut *tx).await? {
                    let n = neuron_from_row(&r)?;
                    existing.insert(n.id.to_string(), n);
                }

                let pending_now: i64 = sqlx::query("SELECT COUNT(*) AS n FROM neurons WHERE status = 'pending'")
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("n")?;
                let mut pending = pending_now.max(0) as u64;
                let mut outcomes = Vec::with_capacity(joins.len());
                let mut writes = Vec::new();
                for j in joins {
                    use cortex_core::federation::NeuronStatus;
                    let before = existing.get(j.neuron.id.as_str());
                    let outcome = if j.nonce.as_ref().is_some_and(|(n, _)| !fresh.contains(&(j.neuron.id.to_string(), n.clone()))) {
                        JoinOutcome::Replayed
                    } else if before.is_some_and(|b| b.public_key != j.neuron.public_key) {
                        JoinOutcome::KeyConflict
                    } else if let Some(status) = j.admission.status_for(before, &j.neuron) {
                        let newly_pending = status == NeuronStatus::Pending
                            && before.is_none_or(|b| b.status != NeuronStatus::Pending);
                        if newly_pending && pending >= max_pending {
                            JoinOutcome::Capped
                        } else {
                            pending += u64::from(newly_pending);
                            let mut n = j.neuron.clone();
                            n.status = status;
                            writes.push(n);
                            JoinOutcome::Joined {
                                neuron: Box::new(j.neuron.clone()),
                                was: before.map(|b| b.status),
                            }
                        }
                    } else {
                        JoinOutcome::Refused
                    };
                    outcomes.push(outcome);
                }

                if !writes.is_empty() {
                    let mut qb = sqlx::QueryBuilder::new(format!("INSERT INTO neurons ({NEURON_COLS}) "));
                    qb.push_values(&writes, |mut v, n| {
                        v.push_bind(n.id.to_string())
                            .push_bind(n.slug.clone())
                            .push_bind(n.kind.clone())
                            .push_bind(n.version.clone())
                            .push_bind(serde_json::to_string(&n.capabilities).unwrap_or_default())
                            .push_bind(serde_json::to_string(&n.tags).unwrap_or_default())
                            .push_bind(n.region.clone())
                            .push_bind(n.endpoint.clone())
                            .push_bind(n.public_key.clone())
                            .push_bind(n.status.as_str())
                            .push_bind(n.pinned)
                            .push_bind(ms(n.registered_at))
                            .push_bind(ms(n.last_seen_at))
                            .push_bind(health_str(n.health))
                            .push_bind(serde_json::to_string(&n.checks).unwrap_or_default())
                            .push_bind(serde_json::to_string(&n.load).unwrap_or_default())
                            .push_bind(n.fingerprints.schema.clone())
                            .push_bind(n.fingerprints.api.clone());
                    });
                    qb.push(format!(
                        " ON CONFLICT (id) DO UPDATE SET slug = excluded.slug, kind = excluded.kind, version = excluded.version,
                            capabilities = excluded.capabilities, tags = excluded.tags, region = excluded.region,
                            endpoint = excluded.endpoint, status = excluded.status, last_seen_at = excluded.last_seen_at,
                            schema_fingerprint = COALESCE(excluded.schema_fingerprint, neurons.schema_fingerprint),
                            api_fingerprint = COALESCE(excluded.api_fingerprint, neurons.api_fingerprint),
                            migration_json = CASE WHEN neurons.version = excluded.version THEN neurons.migration_json END
                          RETURNING {NEURON_READ}"
                    ));
                    let rows = qb.build().persistent(crate::store::keep_prepared(writes.len(), 0)).fetch_all(&mut *tx).await.map_err(|e| match &e {
                        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                            StoreError::Conflict("a registration names an unknown neuron kind".into())
                        }
                        _ => StoreError::from(e),
                    })?;
                    let mut after: HashMap<String, cortex_core::federation::Neuron> = HashMap::new();
                    for r in &rows {
                        let n = neuron_from_row(r)?;
                        after.insert(n.id.to_string(), n);
                    }
                    let mut audits = Vec::with_capacity(after.len());
                    for (j, outcome) in joins.iter().zip(outcomes.iter_mut()) {
                        let JoinOutcome::Joined { neuron: n, .. } = outcome else { continue };
                        let now = after.remove(j.neuron.id.as_str()).ok_or_else(|| StoreError::Other(format!("neuron `{}` was not written", j.neuron.id)))?;
                        let before = existing.get(now.id.as_str());
                        // A neuron asking again (pending, or restarting) with nothing new is
                        // not a change worth an audit entry: only its last-seen time moved.
                        let unchanged = before.is_some_and(|b| {
                            let mut seen = b.clone();
                            seen.last_seen_at = now.last_seen_at;
                            seen == now
                        });
                        // Browser tabs come and go with page views: counted, not audited.
                        if !unchanged && !now.is_browser() {
                            let mut audit = j.audit.clone();
                            audit.target = format!("neuron:{}", now.id);
                            audit.before = before.map(audited).unwrap_or_default();
                            audit.after = audited(&now);
                            audits.push(audit);
                        }
                        **n = now;
                    }
                    self.audits_in(&mut tx, audits).await?;
                }
                tx.commit().await?;
                Ok(outcomes)
            }

            async fn record_heartbeat(&self, id: &str, at: DateTime<Utc>, beat: &cortex_core::federation::Heartbeat) -> StoreResult<cortex_core::federation::Neuron> {
                use cortex_core::federation::HealthState;
                let live = if beat.state == HealthState::Ok { "active" } else { "degraded" };
                let row = sqlx::query(&format!(
                    "UPDATE neurons SET last_seen_at = $1, health = $2, checks_json = $3, load_json = $4,
                        version = COALESCE($5, version),
                        status = CASE WHEN status IN ('active', 'degraded', 'unhealthy') THEN $6 ELSE status END,
                        schema_fingerprint = COALESCE($8, schema_fingerprint), api_fingerprint = COALESCE($9, api_fingerprint),
                        migration_json = COALESCE($10, migration_json)
                     WHERE id = $7 RETURNING {NEURON_READ}"
                ))
                .bind(ms(at))
                .bind(health_str(beat.state))
                .bind(serde_json::to_string(&beat.checks).unwrap_or_default())
                .bind(serde_json::to_string(&beat.load).unwrap_or_default())
                .bind(&beat.version)
                .bind(live)
                .bind(id)
                .bind(&beat.fingerprints.schema)
                .bind(&beat.fingerprints.api)
                .bind(beat.migration.as_ref().map(|m| serde_json::to_string(m).unwrap_or_default()))
                .fetch_optional(&self.writer()?)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("no neuron with id `{id}`")))?;
                neuron_from_row(&row)
            }

            async fn set_neuron_status(&self, id: &str, from: cortex_core::federation::NeuronStatus, to: cortex_core::federation::NeuronStatus, mut audit: AuditRecord) -> StoreResult<cortex_core::federation::Neuron> {
                let mut tx = self.begin_write().await?;
                let before = Self::neuron_in(&mut tx, id).await?;
                let changed = sqlx::query("UPDATE neurons SET status = $1 WHERE id = $2 AND status = $3")
                    .bind(to.as_str())
                    .bind(id)
                    .bind(from.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if changed == 0 {
                    return Err(StoreError::Conflict(format!(
                        "neuron `{id}` is {} now, not {from}: reload and try again",
                        before.status
                    )));
                }
                let after = Self::neuron_in(&mut tx, id).await?;
                audit.target = format!("neuron:{id}");
                audit.before = audited(&before);
                audit.after = audited(&after);
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(after)
            }

            async fn set_neuron_pinned(&self, id: &str, pinned: bool, audit: AuditRecord) -> StoreResult<cortex_core::federation::Neuron> {
                self.update_pinned(id, pinned, audit).await
            }

            async fn delete_neuron(&self, id: &str, mut audit: AuditRecord) -> StoreResult<cortex_core::federation::Neuron> {
                let mut tx = self.begin_write().await?;
                let before = Self::neuron_in(&mut tx, id).await?;
                sqlx::query("DELETE FROM neurons WHERE id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM neuron_nonces WHERE neuron_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM bundle_acks WHERE neuron_id = $1").bind(id).execute(&mut *tx).await?;
                // A neuron joining later under the same id must not inherit it.
                sqlx::query("DELETE FROM neuron_overrides WHERE neuron_id = $1").bind(id).execute(&mut *tx).await?;
                audit.target = format!("neuron:{id}");
                audit.before = audited(&before);
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(before)
            }

            async fn sweep_neurons(&self, unhealthy_before: DateTime<Utc>, retire_before: DateTime<Utc>) -> StoreResult<Vec<crate::store::neurons::Transition>> {
                use cortex_core::federation::NeuronStatus;
                use crate::store::neurons::Transition;
                let mut tx = self.begin_write().await?;
                let mut changes = Vec::new();
                for (sql, cutoff, to) in [
                    ("UPDATE neurons SET status = 'retired' WHERE status = 'unhealthy' AND NOT pinned AND last_seen_at < $1 RETURNING id", retire_before, NeuronStatus::Retired),
                    ("UPDATE neurons SET status = 'unhealthy' WHERE status IN ('active', 'degraded') AND last_seen_at < $1 RETURNING id", unhealthy_before, NeuronStatus::Unhealthy),
                ] {
                    for r in sqlx::query(sql).bind(ms(cutoff)).fetch_all(&mut *tx).await? {
                        changes.push(Transition { id: r.try_get("id")?, to });
                    }
                }
                if !changes.is_empty() {
                    let mut audit = AuditRecord::new("hub", "neuron.sweep", "neurons");
                    audit.after = serde_json::json!(changes
                        .iter()
                        .map(|t| serde_json::json!({"id": t.id, "status": t.to}))
                        .collect::<Vec<_>>());
                    self.audit_in(&mut tx, audit).await?;
                }
                tx.commit().await?;
                Ok(changes)
            }

            async fn remove_silent_browser_neurons(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                let mut tx = self.writer()?.begin().await?;
                let gone: Vec<String> = sqlx::query(
                    "DELETE FROM neurons WHERE public_key LIKE 'pk\\_%' ESCAPE '\\' AND NOT pinned AND last_seen_at < $1 RETURNING id",
                )
                .bind(ms(before))
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<Result<_, _>>()?;
                for chunk in gone.chunks(500) {
                    let mut qb = sqlx::QueryBuilder::new("DELETE FROM bundle_acks WHERE neuron_id IN (");
                    let mut list = qb.separated(", ");
                    for id in chunk {
                        list.push_bind(id.clone());
                    }
                    qb.push(")");
                    qb.build().persistent(crate::store::keep_prepared(chunk.len(), 500)).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(gone.len() as u64)
            }

            async fn revoke_neuron(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO neuron_revocations (neuron_id, revoked_at) VALUES ($1, $2)
                     ON CONFLICT (neuron_id) DO UPDATE SET revoked_at = excluded.revoked_at
                     WHERE excluded.revoked_at > neuron_revocations.revoked_at",
                )
                .bind(id)
                .bind(ms(at))
                .execute(&self.writer()?)
                .await?;
                Ok(())
            }

            async fn revocations_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<(String, DateTime<Utc>)>> {
                let rows = sqlx::query("SELECT neuron_id, revoked_at FROM neuron_revocations WHERE revoked_at >= $1")
                    .bind(ms(since))
                    .fetch_all(&self.pool()?)
                    .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("neuron_id")?, from_ms(r.try_get("revoked_at")?))))
                    .collect()
            }

            async fn prune_revocations(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                Ok(sqlx::query("DELETE FROM neuron_revocations WHERE revoked_at < $1")
                    .bind(ms(before))
                    .execute(&self.writer()?)
                    .await?
                    .rows_affected())
            }

            async fn prune_nonces(&self, now: DateTime<Utc>) -> StoreResult<u64> {
                Ok(sqlx::query("DELETE FROM neuron_nonces WHERE expires_at < $1")
                    .bind(ms(now))
                    .execute(&self.writer()?)
                    .await?
                    .rows_affected())
            }

            async fn push_bundle(
                &self,
                scope: &cortex_core::federation::Scope,
                kind: cortex_core::federation::BundleKind,
                body: &serde_json::Value,
                created_by: &str,
                at: DateTime<Utc>,
                audience: &cortex_core::federation::Audience,
                check: &crate::store::neurons::PushCheck,
                mut audit: AuditRecord,
            ) -> StoreResult<crate::store::neurons::Pushed> {
                use cortex_core::federation::review::{self, Verdict};
                let mut tx = self.begin_write().await?;
                let current = Self::newest_of_kind_in(&mut tx, scope, kind).await?;
                if check.only_if_current && check.base.unwrap_or(0) != current.unwrap_or(0) {
                    return Err(StoreError::Conflict(format!(
                        "`{scope}` {} moved on to revision {} since revision {}",
                        kind.as_str(),
                        current.unwrap_or(0),
                        check.base.unwrap_or(0)
                    )));
                }
                let pushed = match review::verdict(check.policy, check.base, current) {
                    Verdict::Apply { overwrote } => {
                        let bundle = cortex_core::federation::Bundle {
                            scope: scope.clone(),
                            revision: 0,
                            kind,
                            body: body.clone(),
                            created_by: created_by.to_string(),
                            created_at: at,
                            audience: audience.clone(),
                            base_revision: check.base,
                            overwrote,
                        };
                        crate::store::neurons::Pushed::Applied(self.insert_bundle_in(&mut tx, bundle, audit).await?)
                    }
                    Verdict::Review(reason) => {
                        let open: i64 = sqlx::query("SELECT COUNT(*) AS n FROM change_requests WHERE state = 'open'")
                            .fetch_one(&mut *tx)
                            .await?
                            .try_get("n")?;
                        if open.max(0) as u64 >= review::MAX_OPEN_REQUESTS {
                            return Err(StoreError::Conflict(format!(
                                "this push waits for review, but {} change requests are open already; approve or reject some first",
                                review::MAX_OPEN_REQUESTS
                            )));
                        }
                        let request = review::ChangeRequest {
                            id: uuid::Uuid::new_v4().simple().to_string(),
                            scope: scope.clone(),
                            kind,
                            body: body.clone(),
                            audience: audience.clone(),
                            base_revision: check.base,
                            reason,
                            state: review::ChangeRequestState::Open,
                            created_by: created_by.to_string(),
                            created_at: from_ms(ms(at)),
                            decided_by: None,
                            decided_at: None,
                            applied_revision: None,
                            decision_note: String::new(),
                            comments: Vec::new(),
                        };
                        Self::write_change_request_in(&mut tx, &request, true).await?;
                        audit.action = "changeRequest.open".into();
                        audit.target = format!("changeRequest:{}", request.id);
                        audit.after = serde_json::json!({"scope": scope.to_string(), "kind": kind.as_str(),
                            "baseRevision": check.base, "currentRevision": current, "reason": reason.as_str(),
                            "bytes": body.to_string().len(), "audience": audience});
                        self.audit_in(&mut tx, audit).await?;
                        crate::store::neurons::Pushed::Held(request)
                    }
                };
                tx.commit().await?;
                Ok(pushed)
            }

            async fn newest_revision(&self, scope: &cortex_core::federation::Scope, kind: cortex_core::federation::BundleKind) -> StoreResult<Option<u64>> {
                let r: Option<i64> = sqlx::query("SELECT MAX(revision) AS r FROM bundles WHERE scope = $1 AND kind = $2")
                    .bind(scope.to_string())
                    .bind(kind.as_str())
                    .fetch_one(&self.pool()?)
                    .await?
                    .try_get("r")?;
                Ok(r.map(|v| v.max(0) as u64))
            }

            async fn count_revisions_after(&self, scope: &cortex_core::federation::Scope, kind: cortex_core::federation::BundleKind, after: u64) -> StoreResult<u64> {
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM bundles WHERE scope = $1 AND kind = $2 AND revision > $3")
                    .bind(scope.to_string())
                    .bind(kind.as_str())
                    .bind(after.min(i64::MAX as u64) as i64)
                    .fetch_one(&self.pool()?)
                    .await?
                    .try_get("n")?;
                Ok(n.max(0) as u64)
            }

            async fn bundles_since(&self, since: &[(cortex_core::federation::Scope, u64)]) -> StoreResult<Vec<cortex_core::federation::Bundle>> {
                let mut out = Vec::new();
                for (scope, after) in since {
                    let rows = sqlx::query(&format!(
                        "SELECT {BUNDLE_COLS} FROM bundles WHERE scope = $1 AND revision > $2
                         ORDER BY revision DESC LIMIT 1000"
                    ))
                    .bind(scope.to_string())
                    .bind(*after as i64)
                    .fetch_all(&self.pool()?)
                    .await?;
                    for r in &rows {
                        out.push(bundle_from_row(r)?);
                    }
                }
                Ok(out)
            }

async fn bundle(&self, scope: &cortex_core::federation::Scope, revision: u64) -> StoreResult<Option<cortex_core::federation::Bundle>> {
                sqlx::query(&format!("SELECT {BUNDLE_COLS} FROM bundles WHERE scope = $1 AND revision = $2"))
                    .bind(scope.to_string())
                    .bind(revision.min(i64::MAX as u64) as i64)
                    .fetch_optional(&self.pool()?)
                    .await?
                    .as_ref()
                    .map(bundle_from_row)
                    .transpose()
            }

                        async fn recent_bundles(&self, limit: u32) -> StoreResult<Vec<cortex_core::federation::Bundle>> {
                let rows = sqlx::query(&format!("SELECT {BUNDLE_COLS} FROM bundles ORDER BY created_at DESC, revision DESC LIMIT $1"))
                    .bind(i64::from(limit.clamp(1, 500)))
                    .fetch_all(&self.pool()?)
                    .await?;
                rows.iter().map(bundle_from_row).collect()
            }

            async fn record_probe(&self, id: &str, probe: &cortex_core::federation::Probe) -> StoreResult<()> {
                sqlx::query("UPDATE neurons SET probe_json = $1 WHERE id = $2")
                    .bind(serde_json::to_string(probe).unwrap_or_default())
                    .bind(id)
                    .execute(&self.writer()?)
                    .await?;
                Ok(())
            }

            async fn ack_bundles(&self, acks: &[crate::store::neurons::BundleAck]) -> StoreResult<()> {
                let mut tx = self.writer()?.begin().await?;
                for chunk in acks.chunks(500) {
                    let mut qb = sqlx::QueryBuilder::new("INSERT INTO bundle_acks (neuron_id, scope, revision, acked_at) ");
                    qb.push_values(chunk, |mut v, a| {
                        v.push_bind(a.neuron_id.clone())
                            .push_bind(a.scope.to_string())
                            .push_bind(a.revision as i64)
                            .push_bind(ms(a.at));
                    });
                    qb.push(
                        " ON CONFLICT (neuron_id, scope) DO UPDATE SET revision = excluded.revision, acked_at = excluded.acked_at
                          WHERE excluded.revision > bundle_acks.revision",
                    );
                    qb.build().persistent(crate::store::keep_prepared(chunk.len(), 500)).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn all_acks(&self) -> StoreResult<Vec<crate::store::neurons::BundleAck>> {
                let rows = sqlx::query("SELECT neuron_id, scope, revision, acked_at FROM bundle_acks ORDER BY neuron_id, scope")
                    .fetch_all(&self.pool()?)
                    .await?;
                rows.iter()
                    .map(|r| {
                        let scope: String = r.try_get("scope")?;
                        Ok(crate::store::neurons::BundleAck {
                            neuron_id: r.try_get("neuron_id")?,
                            scope: scope.parse().map_err(|_| StoreError::Other(format!("bad scope `{scope}` in database")))?,
                            revision: r.try_get::<i64, _>("revision")? as u64,
                            at: from_ms(r.try_get("acked_at")?),
                        })
                    })
                    .collect()
            }

            async fn ack_times(&self, scope: &cortex_core::federation::Scope, revision: u64, limit: u32) -> StoreResult<Vec<DateTime<Utc>>> {
                let rows = sqlx::query("SELECT acked_at FROM bundle_acks WHERE scope = $1 AND revision = $2 ORDER BY acked_at LIMIT $3")
                    .bind(scope.to_string())
                    .bind(revision as i64)
                    .bind(i64::from(limit.clamp(1, 100_000)))
                    .fetch_all(&self.pool()?)
                    .await?;
                rows.iter().map(|r| Ok(from_ms(r.try_get("acked_at")?))).collect()
            }

            async fn count_acks(&self, scope: &cortex_core::federation::Scope, revision: u64) -> StoreResult<u64> {
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM bundle_acks WHERE scope = $1 AND revision >= $2")
                    .bind(scope.to_string())
                    .bind(revision as i64)
                    .fetch_one(&self.pool()?)
                    .await?
                    .try_get("n")?;
                Ok(n as u64)
            }
        }
    };
}
pub(crate) use impl_neuron_store;
