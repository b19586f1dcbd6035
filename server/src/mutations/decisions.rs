//! The decision engine at work: experiments whose policy is `auto` are decided by the hub
//! itself (a winner promoted, a loser switched off), an editor can carry out a suggestion by
//! hand, and either can be undone in one step. Each decision is a new rule version, audited
//! with its evidence (the rule version holds the decision and its numbers) and pushed to
//! every neuron like any change. What may be decided, and when, is `cortex_core::stats::
//! decision`; what a decision does to a rule is `Experiment::decided`.

use chrono::{DateTime, Utc};
use cortex_core::audit::AuditRecord;
use cortex_core::mutation::{Decision, DecisionRecord, Reweight, DECIDER};
use cortex_core::rules::RuleVersion;
use cortex_core::stats::decision::Mode;
use cortex_core::user::Principal;
use cortex_core::{ErrorCode, Role};

use super::Mutations;
use crate::auth::require_role;
use crate::db_health::DbHealth;
use crate::error::ApiError;
use crate::store::layouts::Head;

/// What the engine makes of one rule's experiment now, and the version it read.
struct Verdict {
    pub head: RuleVersion,
    pub decision: Decision,
}

impl Mutations {
    /// The ids of the active rules in force whose experiment still runs and is `wanted`.
    fn running_experiments(
        &self,
        wanted: impl Fn(&cortex_core::mutation::Experiment) -> bool,
    ) -> Vec<String> {
        self.current()
            .set
            .rules
            .iter()
            .filter(|r| r.is_active)
            .filter(|r| {
                r.experiment
                    .as_ref()
                    .is_some_and(|x| x.running() && wanted(x))
            })
            .map(|r| r.id.to_string())
            .collect()
    }

    /// What the engine would decide on rule `id`'s running experiment now (none: no
    /// running experiment). Viewer.
    pub async fn suggestion(
        &self,
        id: &str,
        who: &Principal,
    ) -> Result<Option<Decision>, ApiError> {
        require_role(who, Role::Viewer)?;
        Ok(self.verdict(id, Utc::now()).await?.map(|v| v.decision))
    }

    /// The decision the engine takes on rule `id`'s running experiment now, from every
    /// exposure since the experiment began (at most a year back).
    async fn verdict(&self, id: &str, now: DateTime<Utc>) -> Result<Option<Verdict>, ApiError> {
        let Some(s) = self.since_start(id, now).await? else {
            return Ok(None);
        };
        Ok(s.report
            .decision(&s.head.rule, s.started)
            .map(|decision| Verdict {
                head: s.head,
                decision,
            }))
    }

    /// Writes what `decision` does to the experiment of `head` (the newest version, read
    /// just before) as the rule's next version, audited as `layout-mutation.decide` by
    /// `actor`, then loads and pushes it. `None` when the decision changes nothing.
    async fn carry_out(
        &self,
        head: &RuleVersion,
        decision: &Decision,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<RuleVersion>, ApiError> {
        let Some(experiment) = head.rule.experiment.as_ref() else {
            return Ok(None);
        };
        let Some(next) = experiment.decided(decision, now, actor, head.rule.version + 1) else {
            return Ok(None);
        };
        let mut rule = head.rule.clone();
        rule.experiment = Some(next);
        let audit = AuditRecord::new(actor, "layout-mutation.decide", String::new());
        self.write_over(head, rule, false, audit).await.map(Some)
    }

    /// Decides every running experiment whose policy is `auto` and carries out a promotion
    /// or a switch-off (a wait or a block changes nothing). Returns what it did. A rule that
    /// cannot be decided (its events unreadable, an editor saving at the same moment) is
    /// skipped with a warning and looked at again next time.
    pub async fn decide_experiments(&self, now: DateTime<Utc>) -> Vec<DecisionRecord> {
        let auto = self.running_experiments(|x| x.policy().mode == Mode::Auto);
        let mut done = Vec::new();
        for id in auto {
            let step = async {
                let Some(v) = self.verdict(&id, now).await? else {
                    return Ok(None);
                };
                // The stored head may be newer than the set in force: decide on what is stored.
                let auto = v.head.rule.is_active
                    && v.head
                        .rule
                        .experiment
                        .as_ref()
                        .is_some_and(|x| x.policy().mode == Mode::Auto);
                if !auto {
                    return Ok(None);
                }
                self.carry_out(&v.head, &v.decision, DECIDER, now).await
            };
            match step.await {
                Ok(Some(saved)) => {
                    let record = saved
                        .rule
                        .experiment
                        .as_ref()
                        .and_then(|x| x.decisions.last().cloned());
                    if let Some(r) = record {
                        tracing::info!(rule = %id, decision = %r.decision.describe(), "decided an experiment");
                        self.alert(crate::webhook::Alert {
                            kind: "decision",
                            rule_id: id.clone(),
                            at: r.at,
                            text: format!(
                                "Cortex decided experiment {id} by itself: {}",
                                r.decision.describe()
                            ),
                            details: serde_json::to_value(&r).unwrap_or_default(),
                            key: None,
                        });
                        done.push(r);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(rule = %id, error = %e, "could not decide an experiment"),
            }
        }
        done
    }

    /// Moves the weights of every running bandit whose interval has passed (whatever its
    /// policy's mode: allocation is the bandit's job, promotion the policy's), from each
    /// variant's goal metric since the experiment began. Each change is a new rule version,
    /// recorded in `experiment.reweights` with the chances that gave it, audited as
    /// `layout-mutation.reweight` by `cortex:decider`, and pushed like any change. A rule
    /// that cannot be weighed now is skipped with a warning and looked at again next time.
    pub async fn reweight_bandits(&self, now: DateTime<Utc>) -> Vec<Reweight> {
        let bandits = self.running_experiments(|x| x.bandit.is_some());
        let mut done = Vec::new();
        for id in bandits {
            match self.reweight(&id, now).await {
                Ok(Some(r)) => {
                    tracing::info!(rule = %id, weights = ?r.weights, "a bandit moved its weights");
                    done.push(r);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(rule = %id, error = %e, "could not weigh a bandit"),
            }
        }
        done
    }

    /// [`Mutations::reweight_bandits`] for one rule: the change it wrote, if any.
    async fn reweight(&self, id: &str, now: DateTime<Utc>) -> Result<Option<Reweight>, ApiError> {
        // Not due since its last change: no need to read its events.
        let last = self
            .current()
            .set
            .rules
            .iter()
            .find(|r| r.id == id)
            .and_then(|r| {
                let x = r.experiment.as_ref()?;
                let interval = i64::from(x.bandit.as_ref()?.interval_hours);
                x.reweights
                    .last()
                    .map(|w| w.at + chrono::Duration::hours(interval))
            });
        if last.is_some_and(|due| due > now) {
            return Ok(None);
        }
        let Some(s) = self.since_start(id, now).await? else {
            return Ok(None);
        };
        let rule = &s.head.rule;
        let Some(x) = rule
            .experiment
            .as_ref()
            .filter(|x| x.running() && rule.is_active)
        else {
            return Ok(None);
        };
        let (Some(bandit), Some(due)) = (x.bandit.as_ref(), x.next_reweight(s.started)) else {
            return Ok(None);
        };
        if due > now {
            return Ok(None);
        }
        let (goals, units): (Vec<_>, Vec<_>) = s.report.goals(rule).into_iter().unzip();
        // Seeded by the experiment and its change count: every hub draws the same.
        let seed =
            u64::from(cortex_core::bucketing::fnv1a32(&x.key)) << 16 | x.reweights.len() as u64;
        let Some(next) = bandit
            .weights(&goals, seed)
            .and_then(|a| x.reweighted(&a.weights, &a.chance, &units, now, rule.version + 1))
        else {
            return Ok(None);
        };
        let change = next.reweights.last().cloned();
        let mut rule = rule.clone();
        rule.experiment = Some(next);
        let mut audit = AuditRecord::new(DECIDER, "layout-mutation.reweight", String::new());
        audit.after = serde_json::to_value(&change).unwrap_or_default();
        self.write_over(&s.head, rule, false, audit).await?;
        Ok(change)
    }

    /// Runs [`Mutations::reweight_bandits`] and [`Mutations::decide_experiments`] every
    /// `every` while the database is ready.
    pub async fn run_decider(self, health: DbHealth, every: std::time::Duration) {
        super::run_every(health, every, move || {
            let this = self.clone();
            async move {
                let now = Utc::now();
                this.reweight_bandits(now).await;
                this.decide_experiments(now).await;
            }
        })
        .await
    }

    /// Carries out what the engine suggests for rule `id` now, as an editor's decision:
    /// only if the rule is still at `base` (the version the editor looked at) and the engine
    /// still says `expect` (`promote b` or `demote b`, as [`Decision::action`] names it);
    /// otherwise 409, saying what changed. Editor.
    pub async fn decide_now(
        &self,
        id: &str,
        base: u32,
        expect: &str,
        who: &Principal,
    ) -> Result<RuleVersion, ApiError> {
        require_role(who, Role::Editor)?;
        let now = Utc::now();
        let v = self.verdict(id, now).await?.ok_or_else(|| {
            ApiError::new(
                ErrorCode::Conflict,
                format!("rule `{id}` has no running experiment to decide"),
            )
        })?;
        if v.head.rule.version != base {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "version: `{id}` changed since you looked (version {base}; it is now version {}); reload the page",
                    v.head.rule.version
                ),
            ));
        }
        if v.decision.action().as_deref() != Some(expect.trim()) {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "nothing to carry out as `{}`: the engine now says {}",
                    expect.trim(),
                    v.decision.describe()
                ),
            ));
        }
        self.carry_out(&v.head, &v.decision, who.actor.as_str(), now)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Conflict,
                    format!("nothing to carry out: {}", v.decision.describe()),
                )
            })
    }

    /// Undoes the decision that wrote rule `id`'s newest version: the version before it
    /// is restored, with its policy set to `manual` so the engine does not take the same
    /// decision again (an editor can switch it back to `auto`). `version`: the version the
    /// decision wrote, as the editor saw it (a newer decision is not undone by mistake: 409).
    /// Audited as `layout-mutation.undo-decision`. Editor.
    pub async fn undo_decision(
        &self,
        id: &str,
        version: u32,
        who: &Principal,
    ) -> Result<RuleVersion, ApiError> {
        require_role(who, Role::Editor)?;
        let history = self.store.rule_history(id).await?;
        let head = history.first().ok_or_else(|| super::no_rule(id))?;
        head
            .rule
            .experiment
            .as_ref()
            .and_then(|x| x.decisions.last())
            .filter(|d| d.version == head.rule.version && d.version == version)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Conflict,
                    format!(
                        "version: the newest version of `{id}` is {}, not a decision's version {version}: reload the page, or roll back to the version you want",
                        head.rule.version
                    ),
                )
            })?;
        let before = head
            .rule
            .rollback_pointer
            .and_then(|p| history.iter().find(|v| v.rule.version == p))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("the version before the decision on `{id}` is gone"),
                )
            })?;
        let mut rule = before.rule.clone();
        if let Some(x) = rule.experiment.as_mut() {
            let mut policy = x.policy();
            policy.mode = Mode::Manual;
            x.policy = Some(policy);
        }
        let audit = AuditRecord::new(
            who.actor.as_str(),
            "layout-mutation.undo-decision",
            String::new(),
        );
        self.write(
            rule,
            before.deleted,
            Head::Version(head.rule.version),
            audit,
        )
        .await
    }
}
