//! Automatic rollback: every few seconds each hub looks at the changes still in their watch
//! window (the newest push of each scope and kind, made by a person; each rollout's updated
//! neurons), gathers what the neurons they reached did before and since (errors, health,
//! failed post-migrations), and when the rule of their kind says it got significantly worse
//! (`cortex_core::federation::guard`), undoes it by itself: the previous revision is pushed
//! again, or the rollout is aborted and the previous release rolled out; an `autoRollback`
//! alert and an audit record carry the evidence. The rules are a setting, per kind. The
//! hub's own changes (its rollbacks, the rollouts it starts to go back) are not watched, so
//! a rollback is never rolled back.

use chrono::{DateTime, Duration, Utc};
use cortex_core::audit::AuditRecord;
use cortex_core::federation::guard::{judge, Evidence, RollbackRule, RollbackRules};
use cortex_core::federation::{
    Audience, Bundle, BundleKind, HealthState, Neuron, NeuronStatus, Rollout, RolloutState, Scope,
    UpdateState,
};
use cortex_core::user::Principal;
use cortex_core::{ErrorCode, Role};
use std::collections::{BTreeMap, BTreeSet};

use super::Federation;
use crate::auth::require_role;
use crate::db_health::DbHealth;
use crate::error::ApiError;
use crate::store::events::{ErrorCount, LatencyStat};

/// The setting the rules are kept in (JSON).
pub const RULES_SETTING: &str = "rollback_rules";

/// How often changes are looked at.
pub const GUARD_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Who the guard's changes are made by in the audit log.
const HUB: &str = "hub";

/// Pushes looked at per look (the newest).
const RECENT_PUSHES: u32 = 200;

/// After a rollout's switch, how long its neurons' latency is not judged (they start cold).
const LATENCY_WARM_UP: Duration = Duration::seconds(60);

impl Federation {
    /// The automatic rollback rules. Viewer.
    pub async fn rollback_rules(&self, who: &Principal) -> Result<RollbackRules, ApiError> {
        require_role(who, Role::Viewer)?;
        self.current_rules().await
    }

    /// The rules now. A stored value that does not read fails (500) rather than falling
    /// back to the defaults an operator had changed.
    async fn current_rules(&self) -> Result<RollbackRules, ApiError> {
        match self.store.setting(RULES_SETTING).await? {
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                ApiError::new(
                    ErrorCode::Internal,
                    format!("the `{RULES_SETTING}` setting does not read: {e}"),
                )
            }),
            None => Ok(RollbackRules::default()),
        }
    }

    /// Sets the rule for one kind (`None`: the default for every kind without its own), or
    /// removes a kind's own rule (`rule: None`). Audited as `rollback-rules.set`. 400 for a
    /// rule out of bounds or an unknown kind. Operator.
    pub async fn set_rollback_rule(
        &self,
        kind: Option<&str>,
        rule: Option<RollbackRule>,
        who: &Principal,
    ) -> Result<RollbackRules, ApiError> {
        require_role(who, Role::Operator)?;
        if let Some(r) = &rule {
            r.validate()
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
        }
        if kind.is_none() && rule.is_none() {
            return Err(ApiError::bad_request(
                "kind: the default rule cannot be removed, only changed",
            ));
        }
        if let Some(k) = kind {
            if !self.store.neuron_kinds().await?.iter().any(|x| x.name == k) {
                return Err(ApiError::bad_request(format!("kind: no neuron kind `{k}`")));
            }
        }
        // Read and written in one transaction: two operators changing two kinds at once both
        // keep their change.
        let (actor, kind) = (who.actor.clone(), kind.map(str::to_string));
        let update = move |now: Option<&str>| {
            let before: RollbackRules = match now {
                Some(json) => serde_json::from_str(json)
                    .map_err(|e| format!("the `{RULES_SETTING}` setting does not read: {e}"))?,
                None => RollbackRules::default(),
            };
            let mut rules = before.clone();
            match (&kind, rule) {
                (None, Some(r)) => rules.default = r,
                (Some(k), Some(r)) => {
                    rules.kinds.insert(k.clone(), r);
                }
                (Some(k), None) => {
                    rules.kinds.remove(k);
                }
                (None, None) => {}
            }
            let mut audit = AuditRecord::new(&actor, "rollback-rules.set", RULES_SETTING);
            audit.before = serde_json::to_value(&before).unwrap_or_default();
            audit.after = serde_json::to_value(&rules).unwrap_or_default();
            let json = serde_json::to_string(&rules).map_err(|e| e.to_string())?;
            Ok((json, audit))
        };
        let json = self
            .store
            .update_setting(RULES_SETTING, &update)
            .await?
            .map_err(|m| ApiError::new(ErrorCode::Internal, m))?;
        serde_json::from_str(&json).map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
    }

    /// Looks at every change in its window once and undoes those that made things worse;
    /// returns how many it undid.
    pub async fn guard_changes(&self, now: DateTime<Utc>) -> Result<usize, ApiError> {
        let rules = self.current_rules().await?;
        let since = now - Duration::minutes(i64::from(rules.longest_window_minutes()));
        let pushes = self.watched_pushes(since, now).await?;
        let rollouts: Vec<Rollout> = self
            .store
            .rollouts()
            .await?
            .into_iter()
            .filter(|r| r.created_by != HUB)
            .filter(|r| {
                r.state.is_active()
                    || (r.state == RolloutState::Done
                        && r.updated_at
                            >= now
                                - Duration::minutes(i64::from(
                                    rules.for_kind(&r.kind).window_minutes,
                                )))
            })
            .collect();
        if pushes.is_empty() && rollouts.is_empty() {
            return Ok(0);
        }
        let neurons = self.store.list_neurons().await?;
        let longest = Duration::minutes(i64::from(rules.longest_window_minutes()));
        let mut undone = 0;
        if !pushes.is_empty() {
            let acks = self.store.all_acks().await?;
            for push in pushes {
                let reached: BTreeSet<&str> = acks
                    .iter()
                    .filter(|a| a.scope == push.scope && a.revision >= push.revision)
                    .map(|a| a.neuron_id.as_str())
                    .collect();
                let errors = self
                    .store
                    .error_counts(push.created_at - longest, push.created_at, now)
                    .await?;
                let latency = self
                    .store
                    .latency_stats(
                        push.created_at - longest,
                        push.created_at,
                        push.created_at,
                        now,
                    )
                    .await?;
                let watched: Vec<&Neuron> = neurons
                    .iter()
                    .filter(|n| reached.contains(n.id.as_str()) && !n.is_browser())
                    .collect();
                if let Some((rule, evidence, reason)) = verdict(
                    &rules,
                    &watched,
                    (&errors, &latency),
                    &[],
                    push.created_at,
                    now,
                ) {
                    undone +=
                        usize::from(self.undo_push(&push, &rule, evidence, &reason, now).await?);
                }
            }
        }
        for rollout in rollouts {
            let updates = self
                .store
                .neuron_updates(std::slice::from_ref(&rollout.id))
                .await?;
            // Neurons that switched: done, or past the switch. The change is when the first
            // of them said so (a staged rollout may have started long before).
            let switched: Vec<_> = updates
                .iter()
                .filter(|u| u.state == UpdateState::Done || u.step.starts_with("post "))
                .collect();
            let Some(at) = switched.iter().map(|u| u.at).min() else {
                continue;
            };
            let updated: BTreeSet<&str> = switched.iter().map(|u| u.neuron_id.as_str()).collect();
            let failed_post: Vec<String> = updates
                .iter()
                .filter(|u| u.state == UpdateState::Failed && u.step.starts_with("post "))
                .map(|u| u.neuron_id.clone())
                .collect();
            let watched: Vec<&Neuron> = neurons
                .iter()
                .filter(|n| updated.contains(n.id.as_str()))
                .collect();
            let errors = self.store.error_counts(at - longest, at, now).await?;
            // Neurons that switched start cold: their first minute is not judged.
            let latency = self
                .store
                .latency_stats(at - longest, at, at + LATENCY_WARM_UP, now)
                .await?;
            if let Some((rule, evidence, reason)) =
                verdict(&rules, &watched, (&errors, &latency), &failed_post, at, now)
            {
                undone += usize::from(
                    self.undo_rollout(&rollout, &rule, evidence, &reason, now)
                        .await?,
                );
            }
        }
        Ok(undone)
    }

    /// The newest push of each scope and kind made by a person within its window (layout
    /// rules have their own guard; the hub's own pushes, rollbacks included, are not watched).
    async fn watched_pushes(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Bundle>, ApiError> {
        let recent = self.store.recent_bundles(RECENT_PUSHES).await?;
        let mut newest: BTreeMap<(Scope, BundleKind), Bundle> = BTreeMap::new();
        for b in recent {
            newest.entry((b.scope.clone(), b.kind)).or_insert(b);
        }
        Ok(newest
            .into_values()
            .filter(|b| {
                b.kind != BundleKind::LayoutRules
                    && b.created_by != HUB
                    && b.created_at >= since
                    && b.created_at <= now
            })
            .collect())
    }

    /// Pushes the revision before `push` again (audited as `bundle.autoRollback` with the
    /// evidence) unless something newer was pushed meanwhile; raises an `autoRollback` alert
    /// either way, once. Whether it pushed.
    async fn undo_push(
        &self,
        push: &Bundle,
        rule: &RollbackRule,
        evidence: Evidence,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, ApiError> {
        let history = self.store.bundles_since(&[(push.scope.clone(), 0)]).await?;
        let current = history
            .iter()
            .filter(|b| b.kind == push.kind)
            .map(|b| b.revision)
            .max();
        if current != Some(push.revision) {
            return Ok(false);
        }
        let previous = history
            .iter()
            .filter(|b| b.kind == push.kind && b.revision < push.revision)
            .max_by_key(|b| b.revision);
        let key =
            |outcome: &str| format!("autoRollback:{}#{}:{outcome}", push.scope, push.revision);
        let details = serde_json::json!({
            "scope": push.scope.to_string(), "kind": push.kind.as_str(), "revision": push.revision,
            "rolledBackTo": previous.map(|p| p.revision), "reason": reason,
            "rule": rule, "evidence": evidence,
        });
        let pushed = match previous {
            Some(p) if rule.enabled => {
                let mut audit = AuditRecord::new(HUB, "bundle.autoRollback", String::new());
                audit.before = details.clone();
                // Only over the revision judged: a newer push, or another hub's rollback of
                // the same revision, wins.
                let check = crate::store::neurons::PushCheck {
                    base: Some(push.revision),
                    only_if_current: true,
                    ..Default::default()
                };
                match self
                    .store_and_send_checked(
                        &push.scope,
                        push.kind,
                        &p.body,
                        &Audience::default(),
                        &check,
                        audit,
                    )
                    .await
                {
                    Ok(_) => true,
                    Err(e) if e.code == cortex_core::ErrorCode::Conflict => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
            _ => false,
        };
        let text = match (previous, pushed) {
            (Some(p), true) => format!(
                "Revision {} of `{}` ({}) was rolled back to revision {} by itself: {reason}",
                push.revision, push.scope, push.kind.as_str(), p.revision
            ),
            (Some(_), false) => format!(
                "Revision {} of `{}` ({}) made things worse and was left in place (automatic rollback is off for this kind): {reason}",
                push.revision, push.scope, push.kind.as_str()
            ),
            (None, _) => format!(
                "Revision {} of `{}` ({}) made things worse, and there is no earlier revision to go back to: {reason}",
                push.revision, push.scope, push.kind.as_str()
            ),
        };
        tracing::warn!(scope = %push.scope, revision = push.revision, "{text}");
        self.alert(crate::webhook::Alert {
            kind: "autoRollback",
            rule_id: format!("bundle:{}#{}", push.scope, push.revision),
            at: now,
            text,
            details,
            key: Some(key(if pushed { "rolledBack" } else { "alerted" })),
        });
        Ok(pushed)
    }

    /// Aborts `rollout` (audited as `rollout.autoRollback` with the evidence) and rolls its
    /// previous release out again to the same neurons; raises an `autoRollback` alert.
    /// Whether it aborted it (another hub may have first).
    async fn undo_rollout(
        &self,
        rollout: &Rollout,
        rule: &RollbackRule,
        evidence: Evidence,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, ApiError> {
        let details = serde_json::json!({
            "rollout": rollout.id, "kind": rollout.kind, "version": rollout.version,
            "rolledBackTo": rollout.previous, "reason": reason, "rule": rule, "evidence": evidence,
        });
        let key = |outcome: &str| format!("autoRollback:rollout:{}:{outcome}", rollout.id);
        if !rule.enabled {
            self.alert(crate::webhook::Alert {
                kind: "autoRollback",
                rule_id: format!("rollout:{}", rollout.id),
                at: now,
                text: format!(
                    "The rollout of {} {} made things worse and was left running (automatic rollback is off for this kind): {reason}",
                    rollout.kind, rollout.version
                ),
                details,
                key: Some(key("alerted")),
            });
            return Ok(false);
        }
        // Running or paused it stops; done, it is marked so it is looked at no more. Either
        // way it reads as aborted, with why.
        let aborted = Rollout {
            state: RolloutState::Aborted,
            reason: if rollout.state.is_active() {
                format!("rolled back by itself: {reason}")
            } else {
                format!("rolled back by itself after it finished: {reason}")
            },
            updated_at: now,
            ..rollout.clone()
        };
        let mut audit = AuditRecord::new(HUB, "rollout.autoRollback", String::new());
        audit.before = details.clone();
        match self
            .store
            .change_rollout(&aborted, rollout.state, Some(audit))
            .await
        {
            Ok(()) => {}
            // Another hub (or a person) moved it first.
            Err(crate::store::StoreError::Conflict(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let back = match &rollout.previous {
            Some(previous) => {
                let back = Rollout {
                    id: uuid::Uuid::new_v4().simple().to_string(),
                    version: previous.clone(),
                    previous: None,
                    audience: Audience::default(),
                    state: RolloutState::Running,
                    reason: format!("rolling {} back by itself", rollout.version),
                    created_by: HUB.into(),
                    created_at: now,
                    updated_at: now,
                    ..rollout.clone()
                };
                let audit = AuditRecord::new(HUB, "rollout.start", String::new());
                match self.store.create_rollout(&back, audit).await {
                    Ok(()) => Some(back),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not start the rollback rollout");
                        None
                    }
                }
            }
            None => None,
        };
        let text = match &back {
            Some(b) => format!(
                "The rollout of {} {} was stopped and {} is being rolled out again, by itself: {reason}",
                rollout.kind, rollout.version, b.version
            ),
            None => format!(
                "The rollout of {} {} was stopped by itself ({}): {reason}",
                rollout.kind,
                rollout.version,
                "no earlier described release to go back to"
            ),
        };
        tracing::warn!(rollout = %rollout.id, "{text}");
        self.alert(crate::webhook::Alert {
            kind: "autoRollback",
            rule_id: format!("rollout:{}", rollout.id),
            at: now,
            text,
            details,
            key: Some(key("rolledBack")),
        });
        if back.is_some() {
            self.drive_rollouts(now).await?;
        }
        Ok(true)
    }

    /// Runs [`Federation::guard_changes`] every [`GUARD_EVERY`] while the database is ready.
    pub async fn run_guard(self, health: DbHealth) {
        let mut tick = tokio::time::interval(GUARD_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if health.is_ready() {
                if let Err(e) = self.guard_changes(Utc::now()).await {
                    tracing::warn!(error = %e.message, "automatic rollback look failed; will retry");
                }
                if let Err(e) = self.expire_overrides(Utc::now()).await {
                    tracing::warn!(error = %e.message, "ending expired overrides failed; will retry");
                }
            }
        }
    }
}

/// The first kind among `watched` whose rule says the change made it worse: its rule, the
/// evidence and the reason.
fn verdict(
    rules: &RollbackRules,
    watched: &[&Neuron],
    (errors, latency): (&[ErrorCount], &[LatencyStat]),
    failed_post: &[String],
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(RollbackRule, Evidence, String)> {
    let mut kinds: BTreeMap<&str, Vec<&Neuron>> = BTreeMap::new();
    for n in watched {
        kinds.entry(n.kind.as_str()).or_default().push(n);
    }
    for (kind, neurons) in kinds {
        let rule = rules.for_kind(kind);
        let window = Duration::minutes(i64::from(rule.window_minutes));
        if now - at > window {
            continue;
        }
        let ids: BTreeSet<&str> = neurons.iter().map(|n| n.id.as_str()).collect();
        let (before, after) = errors
            .iter()
            .filter(|e| ids.contains(e.neuron_id.as_str()))
            .fold((0, 0), |(b, a), e| (b + e.before, a + e.after));
        let mut evidence = Evidence {
            kind: kind.to_string(),
            neurons: ids.iter().map(|s| s.to_string()).collect(),
            errors_before: before,
            // The errors before were counted over the longest window of any kind.
            minutes_before: f64::from(rules.longest_window_minutes()),
            errors_after: after,
            minutes_after: (now - at).num_seconds().max(0) as f64 / 60.0,
            unhealthy: neurons
                .iter()
                .filter(|n| {
                    n.status == NeuronStatus::Unhealthy
                        || n.health == HealthState::Failing
                        || n.probe
                            .as_ref()
                            .is_some_and(|p| p.state == HealthState::Failing)
                })
                .map(|n| n.id.to_string())
                .collect(),
            failed_post_migrations: failed_post
                .iter()
                .filter(|id| ids.contains(id.as_str()))
                .cloned()
                .collect(),
            ..Default::default()
        };
        // The same neurons on both sides: one that reports only after the change would skew
        // the mean.
        for l in latency.iter().filter(|l| {
            ids.contains(l.neuron_id.as_str()) && l.samples_before > 0 && l.samples_after > 0
        }) {
            evidence.latency_samples_before += l.samples_before;
            evidence.latency_ms_sum_before += l.ms_sum_before;
            evidence.latency_samples_after += l.samples_after;
            evidence.latency_ms_sum_after += l.ms_sum_after;
        }
        if let Some(reason) = judge(&rule, &evidence) {
            return Some((rule, evidence, reason));
        }
    }
    None
}
