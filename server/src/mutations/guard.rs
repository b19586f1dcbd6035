//! Guarded changes at work: every change of a rule with a `guard` is watched for its window;
//! if the page converts significantly worse, or errs significantly more, than in the same
//! time before the change, the
//! hub rolls the change back by itself (the version before it, or the rule switched off if
//! it had none), audited as `layout-mutation.auto-rollback` with the evidence, pushed to
//! every neuron, and listed on the overview. The test is `cortex_core::stats::guard`.

use chrono::{DateTime, Duration, Utc};
use cortex_core::audit::AuditRecord;
use cortex_core::mutation::{Layer, LayoutMutation, GUARD};
use cortex_core::rules::RuleVersion;
use cortex_core::stats::guard::{watch, GuardStatus, GuardVerdict};
use cortex_core::user::Principal;
use cortex_core::Role;

use super::Mutations;
use crate::auth::require_role;
use crate::error::ApiError;
use crate::store::layouts::Head;

impl Mutations {
    /// What the guard makes of `head` (a rule's newest version) now: `None` when the rule
    /// has no guard, is off or deleted, was itself written by the guard, or its window is
    /// over.
    async fn guard_verdict(
        &self,
        head: &RuleVersion,
        now: DateTime<Utc>,
    ) -> Result<Option<GuardStatus>, ApiError> {
        let rule = &head.rule;
        let Some(guard) = rule.guard.as_ref() else {
            return Ok(None);
        };
        let window = Duration::hours(i64::from(guard.window_hours));
        let (start, until) = (rule.timestamp, rule.timestamp + window);
        // A bandit's weight change is the engine's routine, not a change to watch (watching it
        // would restart the window at every change and could roll the bandit back).
        let reweight = rule
            .experiment
            .as_ref()
            .and_then(|x| x.reweights.last())
            .is_some_and(|r| r.version == rule.version);
        if head.deleted || !rule.is_active || rule.created_by == GUARD || reweight || now >= until {
            return Ok(None);
        }
        let page = (rule.layer != Layer::Global).then(|| rule.page_slug.as_str());
        let before = self
            .store
            .page_conversion(page, start - window, start)
            .await?;
        let after = self
            .store
            .page_conversion(page, start, now.max(start))
            .await?;
        Ok(Some(GuardStatus {
            version: rule.version,
            until,
            verdict: watch(before, after, guard),
        }))
    }

    /// Where rule `id`'s guard stands now (none: no guard watching). Viewer.
    pub async fn guard_status(
        &self,
        id: &str,
        who: &Principal,
    ) -> Result<Option<GuardStatus>, ApiError> {
        require_role(who, Role::Viewer)?;
        match self.store.rule_head(id).await? {
            Some(head) => self.guard_verdict(&head, Utc::now()).await,
            None => Err(super::no_rule(id)),
        }
    }

    /// Looks at every guarded rule's newest change and rolls back those that made their page
    /// convert significantly worse. Returns the rules rolled back and why. A rule that cannot
    /// be looked at (its events unreadable, an editor saving at the same moment) is skipped
    /// with a warning and looked at again next time.
    pub async fn guard_changes(&self, now: DateTime<Utc>) -> Vec<(String, GuardVerdict)> {
        let guarded: Vec<String> = self
            .current()
            .set
            .rules
            .iter()
            .filter(|r| r.guard.is_some() && r.is_active)
            .map(|r| r.id.to_string())
            .collect();
        let mut done = Vec::new();
        for id in guarded {
            let step = async {
                let history = self.store.rule_history(&id).await?;
                let Some(head) = history.first() else {
                    return Ok(None);
                };
                let Some(status) = self.guard_verdict(head, now).await? else {
                    return Ok(None);
                };
                if !matches!(status.verdict, GuardVerdict::RollBack { .. }) {
                    return Ok(None);
                }
                let reverted = reverted(&head.rule, &history);
                let mut audit =
                    AuditRecord::new(GUARD, "layout-mutation.auto-rollback", String::new());
                audit.after = serde_json::json!({
                    "guard": status.verdict,
                    "why": status.verdict.describe(),
                    "rolledBackVersion": head.rule.version,
                });
                self.write(reverted, false, Head::Version(head.rule.version), audit)
                    .await?;
                Ok::<_, ApiError>(Some(status.verdict))
            };
            match step.await {
                Ok(Some(verdict)) => {
                    tracing::warn!(rule = %id, why = %verdict.describe(), "rolled back a change that hurt its page");
                    self.alert(crate::webhook::Alert {
                        kind: "autoRollback",
                        rule_id: id.clone(),
                        at: now,
                        text: format!(
                            "Cortex rolled back a change of rule {id} by itself: {}",
                            verdict.describe()
                        ),
                        details: serde_json::to_value(&verdict).unwrap_or_default(),
                        key: None,
                    });
                    done.push((id, verdict));
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(rule = %id, error = %e, "could not check a guarded change")
                }
            }
        }
        done
    }

    /// Runs [`Mutations::guard_changes`] every `every` while the database is ready.
    pub async fn run_guard(self, health: crate::db_health::DbHealth, every: std::time::Duration) {
        super::run_every(health, every, move || {
            let this = self.clone();
            async move {
                this.guard_changes(Utc::now()).await;
            }
        })
        .await
    }
}

/// What undoing the newest change of a rule writes: the version before it as it was, or,
/// for a rule's first version, the rule switched off.
fn reverted(head: &LayoutMutation, history: &[RuleVersion]) -> LayoutMutation {
    head.rollback_pointer
        .and_then(|p| history.iter().find(|v| v.rule.version == p && !v.deleted))
        .map(|v| v.rule.clone())
        .unwrap_or_else(|| LayoutMutation {
            is_active: false,
            ..head.clone()
        })
}
