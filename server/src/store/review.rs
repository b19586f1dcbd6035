//! Storage of change requests and neuron overrides. Change requests: pushes held for review (`NeuronStore::push_bundle` opens
//! them), their comments, and the decision (approved and pushed as the scope's next revision
//! in the same transaction, or rejected). Overrides: one neuron's config pinned or overridden
//! until an expiry. Same shape as the rest of the store: one trait,
//! SQL written once for both backends.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cortex_core::audit::AuditRecord;
use cortex_core::federation::overrides::ConfigOverride;
use cortex_core::federation::review::{ChangeRequest, ChangeRequestState, ReviewComment};
use cortex_core::federation::Bundle;

use super::StoreResult;

/// What is done with an open change request.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Pushed as the scope's next revision, if the newest revision of its kind is still
    /// `seen`, the one the approver read the diff against (`None`: none yet).
    Approve { seen: Option<u64> },
    /// Turned down, with a reason (may be empty).
    Reject { note: String },
}

/// Change requests.
#[async_trait]
pub trait ReviewStore: Send + Sync {
    /// Change requests, newest first, in `state` (all: `None`), at most `limit`.
    async fn change_requests(
        &self,
        state: Option<ChangeRequestState>,
        limit: u32,
    ) -> StoreResult<Vec<ChangeRequest>>;
    async fn change_request(&self, id: &str) -> StoreResult<Option<ChangeRequest>>;
    /// Adds a comment to an open change request (audited). `NotFound`; `Conflict` when it is
    /// decided or holds `max` comments already.
    async fn comment_change_request(
        &self,
        id: &str,
        comment: &ReviewComment,
        max: usize,
        audit: AuditRecord,
    ) -> StoreResult<ChangeRequest>;
    /// Decides an open change request as `by` at `at` (audited): approving pushes its body as
    /// the next revision of its scope in the same transaction, keeping the request's base and
    /// naming the revision it replaces as overwritten when that is not its base. `Conflict`
    /// when it was decided already, or (approving) when the scope moved on from the revision
    /// the approver saw; `NotFound`.
    async fn decide_change_request(
        &self,
        id: &str,
        decision: &Decision,
        by: &str,
        at: DateTime<Utc>,
        audit: AuditRecord,
    ) -> StoreResult<(ChangeRequest, Option<Bundle>)>;

    /// Sets a neuron's override, replacing any it had (audited, with the one replaced).
    async fn put_override(&self, o: &ConfigOverride, audit: AuditRecord) -> StoreResult<()>;
    /// Removes a neuron's override (audited); the one removed, if any (no record when none).
    /// With `expired_by`, only an override expired by then is removed (one set anew in the
    /// meantime stays).
    async fn remove_override(
        &self,
        neuron_id: &str,
        expired_by: Option<DateTime<Utc>>,
        audit: AuditRecord,
    ) -> StoreResult<Option<ConfigOverride>>;
    /// Every override, by neuron id.
    async fn overrides(&self) -> StoreResult<Vec<ConfigOverride>>;
    async fn override_of(&self, neuron_id: &str) -> StoreResult<Option<ConfigOverride>>;
}

/// Implements [`ReviewStore`] for a backend (see `common.rs` for the conventions).
macro_rules! impl_review_store {
    ($store:ty, $row:ty) => {
        const CHANGE_COLS: &str = "id, scope, kind, body, audience_json, base_revision, reason, state, created_by, created_at, decided_by, decided_at, applied_revision, decision_note, comments_json";

        fn change_request_from_row(r: &$row) -> StoreResult<cortex_core::federation::review::ChangeRequest> {
            use cortex_core::federation::review::{ChangeRequestState, ReviewReason};
            let scope: String = r.try_get("scope")?;
            let kind: String = r.try_get("kind")?;
            let reason: String = r.try_get("reason")?;
            let state: String = r.try_get("state")?;
            let bad = |what: &str, v: &str| StoreError::Other(format!("bad change request {what} `{v}` in database"));
            Ok(cortex_core::federation::review::ChangeRequest {
                id: r.try_get("id")?,
                scope: scope.parse().map_err(|_| bad("scope", &scope))?,
                kind: cortex_core::federation::BundleKind::parse(&kind).ok_or_else(|| bad("kind", &kind))?,
                body: parse_json(&r.try_get::<String, _>("body")?),
                audience: serde_json::from_str(&r.try_get::<String, _>("audience_json")?).unwrap_or_default(),
                base_revision: r.try_get::<Option<i64>, _>("base_revision")?.map(|v| v.max(0) as u64),
                reason: ReviewReason::parse(&reason).ok_or_else(|| bad("reason", &reason))?,
                state: ChangeRequestState::parse(&state).ok_or_else(|| bad("state", &state))?,
                created_by: r.try_get("created_by")?,
                created_at: from_ms(r.try_get("created_at")?),
                decided_by: r.try_get("decided_by")?,
                decided_at: r.try_get::<Option<i64>, _>("decided_at")?.map(from_ms),
                applied_revision: r.try_get::<Option<i64>, _>("applied_revision")?.map(|v| v.max(0) as u64),
                decision_note: r.try_get("decision_note")?,
                comments: serde_json::from_str(&r.try_get::<String, _>("comments_json")?).unwrap_or_default(),
            })
        }

        impl $store {
            /// Writes a change request in `tx`: a new one (`insert`) or its decision and
            /// comments.
            pub(crate) async fn write_change_request_in(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                cr: &cortex_core::federation::review::ChangeRequest,
                insert: bool,
            ) -> StoreResult<()> {
                let opt = |v: Option<u64>| v.map(|v| v.min(i64::MAX as u64) as i64);
                let comments = serde_json::to_string(&cr.comments).unwrap_or_else(|_| "[]".into());
                if insert {
                    sqlx::query(&format!(
                        "INSERT INTO change_requests ({CHANGE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
                    ))
                    .bind(&cr.id)
                    .bind(cr.scope.to_string())
                    .bind(cr.kind.as_str())
                    .bind(cr.body.to_string())
                    .bind(if cr.audience.is_everyone() { String::new() } else { serde_json::to_string(&cr.audience).unwrap_or_default() })
                    .bind(opt(cr.base_revision))
                    .bind(cr.reason.as_str())
                    .bind(cr.state.as_str())
                    .bind(&cr.created_by)
                    .bind(ms(cr.created_at))
                    .bind(&cr.decided_by)
                    .bind(cr.decided_at.map(ms))
                    .bind(opt(cr.applied_revision))
                    .bind(&cr.decision_note)
                    .bind(comments)
                    .execute(&mut **tx)
                    .await?;
                } else {
                    sqlx::query(
                        "UPDATE change_requests SET state = $1, decided_by = $2, decided_at = $3, applied_revision = $4, decision_note = $5, comments_json = $6 WHERE id = $7",
                    )
                    .bind(cr.state.as_str())
                    .bind(&cr.decided_by)
                    .bind(cr.decided_at.map(ms))
                    .bind(opt(cr.applied_revision))
                    .bind(&cr.decision_note)
                    .bind(comments)
                    .bind(&cr.id)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }

            /// An open change request, read in `tx`.
            async fn open_change_request_in(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                id: &str,
            ) -> StoreResult<cortex_core::federation::review::ChangeRequest> {
                let row = sqlx::query(&format!("SELECT {CHANGE_COLS} FROM change_requests WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("no change request `{id}`")))?;
                let cr = change_request_from_row(&row)?;
                if cr.state != cortex_core::federation::review::ChangeRequestState::Open {
                    return Err(StoreError::Conflict(format!(
                        "change request {id} is {} already{}",
                        cr.state.as_str(),
                        cr.decided_by.as_deref().map(|b| format!(" (by {b})")).unwrap_or_default()
                    )));
                }
                Ok(cr)
            }
        }

        const OVERRIDE_COLS: &str = "neuron_id, pin_scope, pin_revision, keys_json, expires_at, reason, created_by, created_at";

        fn override_from_row(r: &$row) -> StoreResult<cortex_core::federation::overrides::ConfigOverride> {
            let pin = match (r.try_get::<Option<String>, _>("pin_scope")?, r.try_get::<Option<i64>, _>("pin_revision")?) {
                (Some(scope), Some(revision)) => Some(cortex_core::federation::overrides::PinnedRevision {
                    scope: scope.parse().map_err(|_| StoreError::Other(format!("bad override scope `{scope}` in database")))?,
                    revision: revision.max(0) as u64,
                }),
                _ => None,
            };
            Ok(cortex_core::federation::overrides::ConfigOverride {
                neuron_id: r.try_get("neuron_id")?,
                pin,
                keys: match parse_json(&r.try_get::<String, _>("keys_json")?) {
                    serde_json::Value::Object(m) => m,
                    _ => Default::default(),
                },
                expires_at: r.try_get::<Option<i64>, _>("expires_at")?.map(from_ms),
                reason: r.try_get("reason")?,
                created_by: r.try_get("created_by")?,
                created_at: from_ms(r.try_get("created_at")?),
            })
        }

        impl $store {
            async fn override_in(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                neuron_id: &str,
            ) -> StoreResult<Option<cortex_core::federation::overrides::ConfigOverride>> {
                sqlx::query(&format!("SELECT {OVERRIDE_COLS} FROM neuron_overrides WHERE neuron_id = $1"))
                    .bind(neuron_id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .as_ref()
                    .map(override_from_row)
                    .transpose()
            }
        }

        #[async_trait]
        impl crate::store::review::ReviewStore for $store {
            async fn put_override(
                &self,
                o: &cortex_core::federation::overrides::ConfigOverride,
                mut audit: AuditRecord,
            ) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let before = Self::override_in(&mut tx, &o.neuron_id).await?;
                sqlx::query("DELETE FROM neuron_overrides WHERE neuron_id = $1")
                    .bind(&o.neuron_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(&format!("INSERT INTO neuron_overrides ({OVERRIDE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
                    .bind(&o.neuron_id)
                    .bind(o.pin.as_ref().map(|p| p.scope.to_string()))
                    .bind(o.pin.as_ref().map(|p| p.revision.min(i64::MAX as u64) as i64))
                    .bind(serde_json::Value::Object(o.keys.clone()).to_string())
                    .bind(o.expires_at.map(ms))
                    .bind(&o.reason)
                    .bind(&o.created_by)
                    .bind(ms(o.created_at))
                    .execute(&mut *tx)
                    .await?;
                audit.target = format!("neuron:{}", o.neuron_id);
                audit.before = serde_json::to_value(&before).unwrap_or_default();
                audit.after = serde_json::to_value(o).unwrap_or_default();
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn remove_override(
                &self,
                neuron_id: &str,
                expired_by: Option<DateTime<Utc>>,
                mut audit: AuditRecord,
            ) -> StoreResult<Option<cortex_core::federation::overrides::ConfigOverride>> {
                let mut tx = self.begin_write().await?;
                let Some(before) = Self::override_in(&mut tx, neuron_id).await? else {
                    return Ok(None);
                };
                if expired_by.is_some_and(|now| !before.is_expired(now)) {
                    return Ok(None);
                }
                sqlx::query("DELETE FROM neuron_overrides WHERE neuron_id = $1")
                    .bind(neuron_id)
                    .execute(&mut *tx)
                    .await?;
                audit.target = format!("neuron:{neuron_id}");
                audit.before = serde_json::to_value(&before).unwrap_or_default();
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(Some(before))
            }

            async fn overrides(&self) -> StoreResult<Vec<cortex_core::federation::overrides::ConfigOverride>> {
                let rows = sqlx::query(&format!("SELECT {OVERRIDE_COLS} FROM neuron_overrides ORDER BY neuron_id"))
                    .fetch_all(&self.pool()?)
                    .await?;
                rows.iter().map(override_from_row).collect()
            }

            async fn override_of(&self, neuron_id: &str) -> StoreResult<Option<cortex_core::federation::overrides::ConfigOverride>> {
                sqlx::query(&format!("SELECT {OVERRIDE_COLS} FROM neuron_overrides WHERE neuron_id = $1"))
                    .bind(neuron_id)
                    .fetch_optional(&self.pool()?)
                    .await?
                    .as_ref()
                    .map(override_from_row)
                    .transpose()
            }

            async fn change_requests(
                &self,
                state: Option<cortex_core::federation::review::ChangeRequestState>,
                limit: u32,
            ) -> StoreResult<Vec<cortex_core::federation::review::ChangeRequest>> {
                let rows = match state {
                    Some(s) => sqlx::query(&format!("SELECT {CHANGE_COLS} FROM change_requests WHERE state = $1 ORDER BY created_at DESC, id LIMIT $2"))
                        .bind(s.as_str())
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool()?)
                        .await?,
                    None => sqlx::query(&format!("SELECT {CHANGE_COLS} FROM change_requests ORDER BY created_at DESC, id LIMIT $1"))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool()?)
                        .await?,
                };
                rows.iter().map(change_request_from_row).collect()
            }

            async fn change_request(&self, id: &str) -> StoreResult<Option<cortex_core::federation::review::ChangeRequest>> {
                sqlx::query(&format!("SELECT {CHANGE_COLS} FROM change_requests WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool()?)
                    .await?
                    .as_ref()
                    .map(change_request_from_row)
                    .transpose()
            }

            async fn comment_change_request(
                &self,
                id: &str,
                comment: &cortex_core::federation::review::ReviewComment,
                max: usize,
                mut audit: AuditRecord,
            ) -> StoreResult<cortex_core::federation::review::ChangeRequest> {
                let mut tx = self.begin_write().await?;
                let mut cr = Self::open_change_request_in(&mut tx, id).await?;
                if cr.comments.len() >= max {
                    return Err(StoreError::Conflict(format!("change request {id} holds {max} comments already")));
                }
                cr.comments.push(comment.clone());
                Self::write_change_request_in(&mut tx, &cr, false).await?;
                audit.target = format!("changeRequest:{id}");
                audit.after = serde_json::json!({"comment": comment.text});
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(cr)
            }

            async fn decide_change_request(
                &self,
                id: &str,
                decision: &crate::store::review::Decision,
                by: &str,
                at: DateTime<Utc>,
                mut audit: AuditRecord,
            ) -> StoreResult<(cortex_core::federation::review::ChangeRequest, Option<cortex_core::federation::Bundle>)> {
                use cortex_core::federation::review::ChangeRequestState;
                let mut tx = self.begin_write().await?;
                let mut cr = Self::open_change_request_in(&mut tx, id).await?;
                cr.decided_by = Some(by.to_string());
                cr.decided_at = Some(from_ms(ms(at)));
                audit.target = format!("changeRequest:{id}");
                let bundle = match decision {
                    crate::store::review::Decision::Approve { seen } => {
                        let current = Self::newest_of_kind_in(&mut tx, &cr.scope, cr.kind).await?;
                        if current != *seen {
                            let name = |r: Option<u64>| r.map_or("none".to_string(), |r| format!("revision {r}"));
                            return Err(StoreError::Conflict(format!(
                                "`{}` {} moved on to {} since the diff you approved (against {}); read the request again",
                                cr.scope,
                                cr.kind.as_str(),
                                name(current),
                                name(*seen)
                            )));
                        }
                        let bundle = cortex_core::federation::Bundle {
                            scope: cr.scope.clone(),
                            revision: 0,
                            kind: cr.kind,
                            body: cr.body.clone(),
                            // Made by its author; applied by the approver (the audit's actor).
                            created_by: cr.created_by.clone(),
                            created_at: at,
                            audience: cr.audience.clone(),
                            base_revision: cr.base_revision,
                            overwrote: current.filter(|c| Some(*c) != cr.base_revision),
                        };
                        let mut push_audit = AuditRecord::new(by, "bundle.push", String::new());
                        push_audit.before = serde_json::json!({"changeRequest": id, "author": cr.created_by});
                        let bundle = self.insert_bundle_in(&mut tx, bundle, push_audit).await?;
                        cr.state = ChangeRequestState::Applied;
                        cr.applied_revision = Some(bundle.revision);
                        audit.after = serde_json::json!({"state": "applied", "revision": bundle.revision, "scope": cr.scope.to_string(), "author": cr.created_by});
                        Some(bundle)
                    }
                    crate::store::review::Decision::Reject { note } => {
                        cr.state = ChangeRequestState::Rejected;
                        cr.decision_note = note.clone();
                        audit.after = serde_json::json!({"state": "rejected", "note": note, "author": cr.created_by});
                        None
                    }
                };
                Self::write_change_request_in(&mut tx, &cr, false).await?;
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok((cr, bundle))
            }
        }
    };
}

pub(crate) use impl_review_store;
