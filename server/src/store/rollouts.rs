//! Storage of rollouts: each kind's rollouts to a release (at most one running or paused at
//! a time) and each neuron's update in one. Same shape as the rest of the store: one trait,
//! SQL written once for both backends.

use async_trait::async_trait;
use cortex_core::audit::AuditRecord;
use cortex_core::federation::{NeuronUpdate, Rollout, RolloutState};

use super::StoreResult;

/// Most finished rollouts [`RolloutStore::rollouts`] returns (the running and paused ones
/// come too).
pub const RECENT_ROLLOUTS: u32 = 20;

/// Rollouts and neurons' updates.
#[async_trait]
pub trait RolloutStore: Send + Sync {
    /// Writes a new rollout and its audit record. `Conflict` when its kind already has a
    /// running or paused one; `NotFound` when the release does not exist.
    async fn create_rollout(&self, rollout: &Rollout, audit: AuditRecord) -> StoreResult<()>;
    /// The running and paused rollouts and the [`RECENT_ROLLOUTS`] newest others, newest
    /// first.
    async fn rollouts(&self) -> StoreResult<Vec<Rollout>>;
    /// The running rollouts.
    async fn running_rollouts(&self) -> StoreResult<Vec<Rollout>>;
    async fn rollout(&self, id: &str) -> StoreResult<Option<Rollout>>;
    /// Moves a rollout from state `from` to `rollout.state` with its reason and stage, with
    /// an audit record when given (its after filled in, and its before unless the caller set
    /// one: an automatic rollback's evidence). `Conflict` when it is no
    /// longer in `from` (someone else moved it first).
    async fn change_rollout(
        &self,
        rollout: &Rollout,
        from: RolloutState,
        audit: Option<AuditRecord>,
    ) -> StoreResult<()>;
    /// Each neuron's update in these rollouts.
    async fn neuron_updates(&self, rollout_ids: &[String]) -> StoreResult<Vec<NeuronUpdate>>;
    /// Records that `update`'s order is being sent; false when this neuron was already sent
    /// this rollout's order (by this hub or another).
    async fn claim_update(&self, update: &NeuronUpdate) -> StoreResult<bool>;
    /// Records what a neuron said about an order it was sent; false when it was never sent
    /// that order, or its update had already ended (done and failed are final).
    async fn record_update(&self, update: &NeuronUpdate) -> StoreResult<bool>;
}

/// Implements [`RolloutStore`] for a backend (see `common.rs` for the conventions).
macro_rules! impl_rollout_store {
    ($store:ty, $row:ty) => {
        const ROLLOUT_COLS: &str = "id, kind, version, previous, scope, audience_json, state, reason, created_by, created_at, updated_at";

        fn rollout_from_row(r: &$row) -> StoreResult<cortex_core::federation::Rollout> {
            let scope: String = r.try_get("scope")?;
            let state: String = r.try_get("state")?;
            Ok(cortex_core::federation::Rollout {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                version: r.try_get("version")?,
                previous: r.try_get("previous")?,
                scope: scope
                    .parse()
                    .map_err(|_| StoreError::Other(format!("bad scope `{scope}` in database")))?,
                audience: serde_json::from_str(&r.try_get::<String, _>("audience_json")?)
                    .unwrap_or_default(),
                state: cortex_core::federation::RolloutState::parse(&state)
                    .ok_or_else(|| StoreError::Other(format!("bad rollout state `{state}` in database")))?,
                reason: r.try_get("reason")?,
                created_by: r.try_get("created_by")?,
                created_at: from_ms(r.try_get("created_at")?),
                updated_at: from_ms(r.try_get("updated_at")?),
            })
        }

        fn update_from_row(r: &$row) -> StoreResult<cortex_core::federation::NeuronUpdate> {
            let state: String = r.try_get("state")?;
            Ok(cortex_core::federation::NeuronUpdate {
                rollout_id: r.try_get("rollout_id")?,
                neuron_id: r.try_get("neuron_id")?,
                state: cortex_core::federation::UpdateState::parse(&state)
                    .ok_or_else(|| StoreError::Other(format!("bad update state `{state}` in database")))?,
                step: r.try_get("step")?,
                message: r.try_get("message")?,
                at: from_ms(r.try_get("at")?),
            })
        }

        #[async_trait]
        impl crate::store::rollouts::RolloutStore for $store {
            async fn create_rollout(
                &self,
                rollout: &cortex_core::federation::Rollout,
                mut audit: AuditRecord,
            ) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(&format!(
                    "INSERT INTO rollouts ({ROLLOUT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ))
                .bind(&rollout.id)
                .bind(&rollout.kind)
                .bind(&rollout.version)
                .bind(&rollout.previous)
                .bind(rollout.scope.to_string())
                .bind(serde_json::to_string(&rollout.audience).unwrap_or_default())
                .bind(rollout.state.as_str())
                .bind(&rollout.reason)
                .bind(&rollout.created_by)
                .bind(ms(rollout.created_at))
                .bind(ms(rollout.updated_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                        StoreError::NotFound(format!(
                            "kind `{}` has no release `{}`; describe it first",
                            rollout.kind, rollout.version
                        ))
                    }
                    _ => StoreError::from_sqlx(
                        e,
                        &format!(
                            "kind `{}` already has a running or paused rollout; finish or abort it first",
                            rollout.kind
                        ),
                    ),
                })?;
                audit.target = format!("rollout:{}", rollout.id);
                audit.after = serde_json::to_value(rollout).unwrap_or_default();
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn rollouts(&self) -> StoreResult<Vec<cortex_core::federation::Rollout>> {
                let rows = sqlx::query(&format!(
                    "SELECT {ROLLOUT_COLS} FROM rollouts WHERE state IN ('running', 'paused')
                     UNION ALL
                     SELECT {ROLLOUT_COLS} FROM (
                        SELECT {ROLLOUT_COLS} FROM rollouts WHERE state NOT IN ('running', 'paused')
                        ORDER BY created_at DESC, id DESC LIMIT $1) finished
                     ORDER BY created_at DESC, id DESC"
                ))
                .bind(i64::from(crate::store::rollouts::RECENT_ROLLOUTS))
                .fetch_all(&self.pool()?)
                .await?;
                rows.iter().map(rollout_from_row).collect()
            }

            async fn running_rollouts(
                &self,
            ) -> StoreResult<Vec<cortex_core::federation::Rollout>> {
                let rows = sqlx::query(&format!(
                    "SELECT {ROLLOUT_COLS} FROM rollouts WHERE state = 'running' ORDER BY created_at"
                ))
                .fetch_all(&self.pool()?)
                .await?;
                rows.iter().map(rollout_from_row).collect()
            }

            async fn rollout(
                &self,
                id: &str,
            ) -> StoreResult<Option<cortex_core::federation::Rollout>> {
                sqlx::query(&format!("SELECT {ROLLOUT_COLS} FROM rollouts WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool()?)
                    .await?
                    .as_ref()
                    .map(rollout_from_row)
                    .transpose()
            }

            async fn change_rollout(
                &self,
                rollout: &cortex_core::federation::Rollout,
                from: cortex_core::federation::RolloutState,
                audit: Option<AuditRecord>,
            ) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let before = sqlx::query(&format!(
                    "SELECT {ROLLOUT_COLS} FROM rollouts WHERE id = $1 AND state = $2"
                ))
                .bind(&rollout.id)
                .bind(from.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .as_ref()
                .map(rollout_from_row)
                .transpose()?
                .ok_or_else(|| {
                    StoreError::Conflict(format!(
                        "rollout {} is no longer {}; reload to see where it is",
                        rollout.id,
                        from.as_str()
                    ))
                })?;
                sqlx::query(
                    "UPDATE rollouts SET state = $2, reason = $3, audience_json = $4, updated_at = $5 WHERE id = $1",
                )
                .bind(&rollout.id)
                .bind(rollout.state.as_str())
                .bind(&rollout.reason)
                .bind(serde_json::to_string(&rollout.audience).unwrap_or_default())
                .bind(ms(rollout.updated_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    StoreError::from_sqlx(
                        e,
                        &format!(
                            "kind `{}` already has a running or paused rollout",
                            rollout.kind
                        ),
                    )
                })?;
                if let Some(mut audit) = audit {
                    audit.target = format!("rollout:{}", rollout.id);
                    if audit.before.is_null() {
                        audit.before = serde_json::to_value(&before).unwrap_or_default();
                    }
                    audit.after = serde_json::to_value(rollout).unwrap_or_default();
                    self.audit_in(&mut tx, audit).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn neuron_updates(
                &self,
                rollout_ids: &[String],
            ) -> StoreResult<Vec<cortex_core::federation::NeuronUpdate>> {
                let mut out = Vec::new();
                for id in rollout_ids {
                    let rows = sqlx::query(
                        "SELECT rollout_id, neuron_id, state, step, message, at FROM rollout_neurons
                         WHERE rollout_id = $1 ORDER BY neuron_id",
                    )
                    .bind(id)
                    .fetch_all(&self.pool()?)
                    .await?;
                    for r in &rows {
                        out.push(update_from_row(r)?);
                    }
                }
                Ok(out)
            }

            async fn claim_update(
                &self,
                u: &cortex_core::federation::NeuronUpdate,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO rollout_neurons (rollout_id, neuron_id, state, step, message, at)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (rollout_id, neuron_id) DO NOTHING",
                )
                .bind(&u.rollout_id)
                .bind(u.neuron_id.as_str())
                .bind(u.state.as_str())
                .bind(&u.step)
                .bind(&u.message)
                .bind(ms(u.at))
                .execute(&self.pool()?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn record_update(
                &self,
                u: &cortex_core::federation::NeuronUpdate,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE rollout_neurons SET state = $3, step = $4, message = $5, at = $6
                     WHERE rollout_id = $1 AND neuron_id = $2 AND state IN ('sent', 'running')",
                )
                .bind(&u.rollout_id)
                .bind(u.neuron_id.as_str())
                .bind(u.state.as_str())
                .bind(&u.step)
                .bind(&u.message)
                .bind(ms(u.at))
                .execute(&self.pool()?)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use impl_rollout_store;
