//! Every experiment over its whole runtime, for the experiments page: one summary per
//! variant rule (see `cortex_core::experiments`), the running ones first.

use chrono::{DateTime, Duration, Utc};
use cortex_core::experiments::ExperimentSummary;
use cortex_core::report::{experiment_started, LayoutReport, ReportQuery, MAX_REPORT_DAYS};
use cortex_core::rules::RuleVersion;
use cortex_core::user::Principal;
use cortex_core::Role;

use super::Mutations;
use crate::auth::require_role;
use crate::error::ApiError;

/// Most experiments the page lists (the rules changed most recently).
pub const MAX_EXPERIMENTS: usize = 200;

/// How long the experiments page's answer is reused while the rule set stays the same: it
/// reads every experiment's events, and many viewers may open the page at once.
pub const EXPERIMENTS_FRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// The last answer: the rule-set revision and time it was computed at.
pub(super) type Cache = std::sync::Arc<
    std::sync::Mutex<
        Option<(
            cortex_core::ids::Revision,
            std::time::Instant,
            Vec<ExperimentSummary>,
        )>,
    >,
>;

/// A rule's experiment and its events since it began.
pub(super) struct SinceStart {
    /// The rule's newest version.
    pub head: RuleVersion,
    pub started: DateTime<Utc>,
    pub report: LayoutReport,
}

impl Mutations {
    /// Rule `id`'s newest version with the report of its experiment since it began (at
    /// most a year back), if it has an experiment and is not deleted; 404 for no such rule.
    pub(super) async fn since_start(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SinceStart>, ApiError> {
        let history = self.store.rule_history(id).await?;
        let head = history.first().ok_or_else(|| super::no_rule(id))?;
        let Some(started) = experiment_started(&history).filter(|_| !head.deleted) else {
            return Ok(None);
        };
        // At least a second of range, should another hub's clock have started it "later".
        let from = started
            .max(now - Duration::days(MAX_REPORT_DAYS))
            .min(now - Duration::seconds(1));
        // From the start of that hour: the report then reads the hourly rollup. For a
        // restarted experiment this takes in up to an hour of the run before it (the same
        // variant keys, bucketed the earlier way).
        let hour = crate::store::rollup::HOUR_MS;
        let floored =
            DateTime::from_timestamp_millis(from.timestamp_millis().div_euclid(hour) * hour)
                .unwrap_or(from);
        // Still within the longest report.
        let from = if now - floored > Duration::days(MAX_REPORT_DAYS) {
            floored + Duration::hours(1)
        } else {
            floored
        };
        let query = ReportQuery {
            rule: Some(id.to_string()),
            from: Some(from),
            to: Some(now),
            ..ReportQuery::default()
        };
        let report = self.report(&query, now).await?;
        Ok(Some(SinceStart {
            head: head.clone(),
            started,
            report,
        }))
    }

    /// Every experiment that is not deleted, with its numbers since it began (at most a
    /// year back): running ones first, then decided, then switched off; newest first within
    /// each. The answer is reused for [`EXPERIMENTS_FRESH`] while the rules stay the same.
    /// Viewer.
    pub async fn experiments(
        &self,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<Vec<ExperimentSummary>, ApiError> {
        require_role(who, Role::Viewer)?;
        let revision = self.current().set.revision;
        let cached = |c: &Cache| {
            c.lock().ok().and_then(|held| {
                held.as_ref()
                    .filter(|(r, at, _)| *r == revision && at.elapsed() < EXPERIMENTS_FRESH)
                    .map(|(_, _, list)| list.clone())
            })
        };
        if let Some(list) = cached(&self.experiments_cache) {
            return Ok(list);
        }
        let list = self.compute_experiments(now).await?;
        if let Ok(mut held) = self.experiments_cache.lock() {
            *held = Some((revision, std::time::Instant::now(), list.clone()));
        }
        Ok(list)
    }

    async fn compute_experiments(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<ExperimentSummary>, ApiError> {
        let mut heads = self.store.rule_heads().await?;
        heads.retain(|h| !h.deleted && h.rule.experiment.is_some());
        heads.sort_by(|a, b| b.rule.timestamp.cmp(&a.rule.timestamp));
        heads.truncate(MAX_EXPERIMENTS);
        let mut out = Vec::new();
        for head in &heads {
            if let Some(s) = self.since_start(head.rule.id.as_str(), now).await? {
                out.extend(ExperimentSummary::of(&s.head.rule, s.started, &s.report));
            }
        }
        let rank = |s: &ExperimentSummary| match s.status() {
            "running" => 0,
            "decided" => 1,
            _ => 2,
        };
        out.sort_by(|a, b| rank(a).cmp(&rank(b)).then(b.started.cmp(&a.started)));
        Ok(out)
    }
}
