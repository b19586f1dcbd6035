//! Rollouts as people run them: starting one (a kind, a tag's neurons or one neuron moved to
//! a described release, staged), widening its stage, pausing, resuming and aborting it; and
//! the driver every hub runs, which sends the `update` order to the neurons of a running
//! stage connected to it, records what they answer, pauses a rollout when a neuron's update
//! fails, and finishes it once every neuron it targets runs the release. The rules (who is
//! due, what counts as done) are in `cortex_core::federation::rollouts`.

use chrono::{DateTime, Utc};
use cortex_core::audit::AuditRecord;
use cortex_core::federation::{
    Audience, HubMessage, NeuronUpdate, Rollout, RolloutAction, RolloutForCreate, RolloutState,
    RolloutView, Scope, UpdateState,
};
use cortex_core::user::Principal;
use cortex_core::Role;

use super::Federation;
use crate::auth::require_role;
use crate::db_health::DbHealth;
use crate::error::ApiError;

/// How often each hub sends due orders and looks for finished rollouts.
pub const DRIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// How long an order may go without word from its neuron before it is sent again.
pub const RESEND_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Who the driver's own changes are made by in the audit log.
const HUB: &str = "hub";

impl Federation {
    /// The running and paused rollouts and the newest finished ones, each with its counts
    /// and every neuron's update. Viewer.
    pub async fn rollouts(&self, who: &Principal) -> Result<Vec<RolloutView>, ApiError> {
        require_role(who, Role::Viewer)?;
        let rollouts = self.store.rollouts().await?;
        if rollouts.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = rollouts.iter().map(|r| r.id.clone()).collect();
        let mut updates = self.store.neuron_updates(&ids).await?;
        let neurons = self.store.list_neurons().await?;
        Ok(rollouts
            .into_iter()
            .map(|rollout| {
                let (mine, rest) = updates.drain(..).partition(|u| u.rollout_id == rollout.id);
                updates = rest;
                RolloutView {
                    progress: rollout.progress(&neurons, &mine),
                    rollout,
                    updates: mine,
                }
            })
            .collect())
    }

    /// Starts moving the neurons `form` names to a described release (audited as
    /// `rollout.start`); the first stage's neurons are sent the order at once. 400 for a
    /// malformed form, an unknown release, or one neuron not of the kind; 409 when the kind
    /// has a running or paused rollout. Operator.
    pub async fn start_rollout(
        &self,
        form: RolloutForCreate,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<Rollout, ApiError> {
        require_role(who, Role::Operator)?;
        form.validate()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if self
            .store
            .release(&form.kind, &form.version)
            .await?
            .is_none()
        {
            return Err(ApiError::bad_request(format!(
                "version: kind `{}` has no release `{}`; describe it on the Releases page first",
                form.kind, form.version
            )));
        }
        let scope = form.scope.unwrap_or(Scope::Global);
        if let Scope::Neuron(id) = &scope {
            match self.store.neuron(id).await? {
                Some(n) if n.kind == form.kind => {}
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "scope: no neuron `{id}` of kind `{}`",
                        form.kind
                    )))
                }
            }
        }
        let previous = self
            .previous_release(&form.kind, &form.version, &scope)
            .await?;
        let rollout = Rollout {
            id: uuid::Uuid::new_v4().simple().to_string(),
            kind: form.kind,
            version: form.version,
            previous,
            scope,
            audience: form.audience,
            state: RolloutState::Running,
            reason: String::new(),
            created_by: who.actor.clone(),
            created_at: now,
            updated_at: now,
        };
        let audit = AuditRecord::new(&who.actor, "rollout.start", String::new());
        self.store.create_rollout(&rollout, audit).await?;
        self.drive_rollouts(now).await?;
        Ok(rollout)
    }

    /// Pauses, resumes or aborts a rollout (audited as `rollout.<action>`; a resumed one sends
    /// its due orders at once). 404 for an unknown rollout; 409 when the action does not fit
    /// its state (or someone moved it first). Operator.
    pub async fn act_on_rollout(
        &self,
        id: &str,
        action: RolloutAction,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<Rollout, ApiError> {
        require_role(who, Role::Operator)?;
        let rollout = self.known_rollout(id).await?;
        let to = action
            .apply(rollout.state)
            .map_err(|m| ApiError::new(cortex_core::ErrorCode::Conflict, m))?;
        let changed = Rollout {
            state: to,
            reason: format!("{} by {}", action.past(), who.actor),
            updated_at: now,
            ..rollout.clone()
        };
        let audit = AuditRecord::new(
            &who.actor,
            format!("rollout.{}", action.as_str()),
            String::new(),
        );
        self.store
            .change_rollout(&changed, rollout.state, Some(audit))
            .await?;
        if to == RolloutState::Running {
            self.drive_rollouts(now).await?;
        }
        Ok(changed)
    }

    /// Sets a running or paused rollout's stage (audited as `rollout.stage`): widening it
    /// sends the order to the neurons it adds (when it runs). 404 unknown; 409 finished.
    /// Operator.
    pub async fn stage_rollout(
        &self,
        id: &str,
        audience: Audience,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<Rollout, ApiError> {
        require_role(who, Role::Operator)?;
        let rollout = self.known_rollout(id).await?;
        if !rollout.state.is_active() {
            return Err(ApiError::new(
                cortex_core::ErrorCode::Conflict,
                format!(
                    "a {} rollout has no stage to change",
                    rollout.state.as_str()
                ),
            ));
        }
        let changed = Rollout {
            audience,
            updated_at: now,
            ..rollout.clone()
        };
        let audit = AuditRecord::new(&who.actor, "rollout.stage", String::new());
        self.store
            .change_rollout(&changed, rollout.state, Some(audit))
            .await?;
        self.drive_rollouts(now).await?;
        Ok(changed)
    }

    /// What a rollout of `kind` to `version` would go back to: the kind's expected release,
    /// or else the described version most of the neurons in `scope` run.
    async fn previous_release(
        &self,
        kind: &str,
        version: &str,
        scope: &Scope,
    ) -> Result<Option<String>, ApiError> {
        let expected = self
            .store
            .expected_releases()
            .await?
            .into_iter()
            .find(|e| e.kind == kind && e.version != version);
        if let Some(e) = expected {
            return Ok(Some(e.version));
        }
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for n in self.store.list_neurons().await? {
            if n.kind == kind
                && n.status.is_joined()
                && n.version != version
                && scope.covers(&n.id, &n.tags)
            {
                *counts.entry(n.version).or_default() += 1;
            }
        }
        let mut by_count: Vec<(String, usize)> = counts.into_iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1));
        for (v, _) in by_count {
            if self.store.release(kind, &v).await?.is_some() {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    async fn known_rollout(&self, id: &str) -> Result<Rollout, ApiError> {
        self.store.rollout(id).await?.ok_or_else(|| {
            ApiError::new(
                cortex_core::ErrorCode::NotFound,
                format!("no rollout `{id}`"),
            )
        })
    }

    /// Sends every running rollout's order to its due neurons connected to this hub (each
    /// neuron is sent a rollout's order once, whichever hub it is on), and finishes the
    /// rollouts whose every targeted neuron runs the release (a whole kind's then makes the
    /// release the expected one). Returns how many orders were sent.
    pub async fn drive_rollouts(&self, now: DateTime<Utc>) -> Result<u64, ApiError> {
        let running = self.store.running_rollouts().await?;
        if running.is_empty() {
            return Ok(0);
        }
        let neurons = self.store.list_neurons().await?;
        let ids: Vec<String> = running.iter().map(|r| r.id.clone()).collect();
        let updates = self.store.neuron_updates(&ids).await?;
        let mut sent = 0;
        for rollout in running {
            let mine: Vec<NeuronUpdate> = updates
                .iter()
                .filter(|u| u.rollout_id == rollout.id)
                .cloned()
                .collect();
            let progress = rollout.progress(&neurons, &mine);
            if rollout.is_complete(&progress) {
                self.finish_rollout(&rollout, now).await?;
                continue;
            }
            let due: Vec<String> = rollout
                .due(&neurons, &mine)
                .into_iter()
                .map(|n| n.id.to_string())
                .filter(|id| self.channels.is_connected(id))
                .collect();
            // Orders with no word for a while (lost with a dropped socket, or the neuron
            // restarted) are sent again: a neuron answers an order it knows with how it
            // stands, and runs one it lost.
            let quiet = now - chrono::Duration::from_std(RESEND_AFTER).unwrap_or_default();
            let again: Vec<&NeuronUpdate> = mine
                .iter()
                .filter(|u| {
                    !u.state.is_final() && u.at < quiet && self.channels.is_connected(&u.neuron_id)
                })
                .collect();
            if due.is_empty() && again.is_empty() {
                continue;
            }
            let Some(release) = self.store.release(&rollout.kind, &rollout.version).await? else {
                continue;
            };
            let order = HubMessage::Update {
                order: rollout.order(&release),
            };
            for id in due {
                let claim = NeuronUpdate {
                    rollout_id: rollout.id.clone(),
                    neuron_id: id.clone(),
                    state: UpdateState::Sent,
                    step: String::new(),
                    message: String::new(),
                    at: now,
                };
                if self.store.claim_update(&claim).await? {
                    sent += self.channels.send_to(&[id], &order).sent;
                }
            }
            for u in again {
                let touched = NeuronUpdate {
                    at: now,
                    ..u.clone()
                };
                if self.store.record_update(&touched).await? {
                    sent += self
                        .channels
                        .send_to(std::slice::from_ref(&u.neuron_id), &order)
                        .sent;
                }
            }
        }
        Ok(sent)
    }

    /// Marks a rollout done (audited as `rollout.done` by the hub); a whole kind's makes its
    /// release the kind's expected one.
    async fn finish_rollout(&self, rollout: &Rollout, now: DateTime<Utc>) -> Result<(), ApiError> {
        let done = Rollout {
            state: RolloutState::Done,
            reason: format!("every neuron it targets runs {}", rollout.version),
            updated_at: now,
            ..rollout.clone()
        };
        let audit = AuditRecord::new(HUB, "rollout.done", String::new());
        match self
            .store
            .change_rollout(&done, RolloutState::Running, Some(audit))
            .await
        {
            Ok(()) => {}
            // Another hub finished (or someone paused) it first.
            Err(crate::store::StoreError::Conflict(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if rollout.scope == Scope::Global {
            let expectation = cortex_core::federation::Expectation {
                kind: rollout.kind.clone(),
                version: rollout.version.clone(),
                set_by: HUB.into(),
                set_at: now,
            };
            let audit = AuditRecord::new(HUB, "release.expect", String::new());
            self.store.set_expected_release(&expectation, audit).await?;
        }
        Ok(())
    }

    /// What a neuron said about an update order it was sent. A failure pauses the rollout
    /// (audited as `rollout.pause` by the hub, its reason naming the neuron, step and message) and raises
    /// an `update` alert. 400 when this neuron was never sent that order or its update ended.
    pub async fn neuron_update_status(
        &self,
        neuron: &str,
        report: NeuronUpdate,
    ) -> Result<(), ApiError> {
        let report = NeuronUpdate {
            neuron_id: neuron.to_string(),
            state: match report.state {
                UpdateState::Sent => UpdateState::Running,
                s => s,
            },
            ..report
        }
        .tidy();
        if !self.store.record_update(&report).await? {
            return Err(ApiError::bad_request(format!(
                "no update `{}` under way for this neuron",
                report.rollout_id
            )));
        }
        if report.state != UpdateState::Failed {
            return Ok(());
        }
        let Some(rollout) = self.store.rollout(&report.rollout_id).await? else {
            return Ok(());
        };
        let reason = format!(
            "neuron {} failed at {}: {}",
            neuron,
            if report.step.is_empty() {
                "its update"
            } else {
                &report.step
            },
            report.message.lines().last().unwrap_or("no message")
        );
        // The hub's own rollouts (going back after an automatic rollback) are not paused:
        // stopping the way back would leave the fleet on the release that hurt.
        let pausing = rollout.state == RolloutState::Running && rollout.created_by != HUB;
        if pausing {
            let paused = Rollout {
                state: RolloutState::Paused,
                reason: reason.clone(),
                updated_at: report.at,
                ..rollout.clone()
            };
            let audit = AuditRecord::new(HUB, "rollout.pause", String::new());
            match self
                .store
                .change_rollout(&paused, RolloutState::Running, Some(audit))
                .await
            {
                Ok(()) | Err(crate::store::StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.alert(crate::webhook::Alert {
            kind: "update",
            rule_id: format!("rollout:{}", rollout.id),
            at: report.at,
            text: if pausing {
                format!(
                    "The rollout of {} {} is paused: {reason}",
                    rollout.kind, rollout.version
                )
            } else {
                format!(
                    "An update in the rollout of {} {} failed: {reason}",
                    rollout.kind, rollout.version
                )
            },
            details: serde_json::to_value(&report).unwrap_or_default(),
            key: Some(format!("update:{}:{}", rollout.id, neuron)),
        });
        Ok(())
    }

    /// Runs [`Federation::drive_rollouts`] every [`DRIVE_EVERY`] while the database is ready.
    pub async fn run_rollouts(self, health: DbHealth) {
        let mut tick = tokio::time::interval(DRIVE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if health.is_ready() {
                if let Err(e) = self.drive_rollouts(Utc::now()).await {
                    tracing::warn!(error = %e.message, "rollout driver failed; will retry");
                }
            }
        }
    }
}
