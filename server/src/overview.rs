//! The overview page's numbers: the hub's status, the fleet by status and version, the
//! rules and running experiments, the newest pushes, refusal alerts and the recent event
//! rate, gathered in one call. What needs someone is decided from them in
//! `cortex_core::overview`.

use chrono::{Duration, Utc};
use cortex_core::federation::versions_by_kind;
use cortex_core::overview::{
    AutoRollback, ExperimentHeadline, Overview, RuleCounts, EVENT_BUCKET_SECS, EVENT_WINDOW_HOURS,
    RECENT_DECISION_DAYS,
};
use cortex_core::report::ReportQuery;
use cortex_core::rules::RuleFilter;
use cortex_core::user::Principal;
use cortex_core::Role;

use crate::auth::require_role;
use crate::{ApiError, Services};

/// Pushes the overview lists.
const PUSHES: usize = 5;

/// The hub at a glance. Viewer. With the database unreachable, only the status is filled
/// (it says so), rather than failing the page.
pub async fn hub_overview(services: &Services, who: &Principal) -> Result<Overview, ApiError> {
    require_role(who, Role::Viewer)?;
    let status = crate::status::hub_status(services, who).await?;
    let now = Utc::now();
    let mut overview = Overview {
        status,
        neurons: 0,
        by_status: Default::default(),
        versions: vec![],
        rules: RuleCounts::default(),
        experiments: vec![],
        pushes: vec![],
        alerts: services.federation.refusal_alerts(),
        rollbacks: vec![],
        event_rate: vec![],
        now,
    };
    if !services.health.is_ready() {
        return Ok(overview);
    }

    let neurons = services.store.list_neurons().await?;
    overview.neurons = neurons.len() as u64;
    for n in &neurons {
        *overview
            .by_status
            .entry(n.status.as_str().to_string())
            .or_default() += 1;
    }
    overview.versions = versions_by_kind(&neurons);

    let rows = services
        .mutations
        .list_rules(&RuleFilter::default(), who)
        .await?;
    let mut experiments = Vec::new();
    for r in rows.iter().filter(|r| !r.version.deleted) {
        match r.status() {
            "broken" => overview.rules.broken += 1,
            "active" => overview.rules.active += 1,
            _ => overview.rules.inactive += 1,
        }
        if r.version.rule.is_active {
            if let Some(x) = &r.version.rule.experiment {
                experiments.push(ExperimentHeadline {
                    rule_id: r.version.rule.id.to_string(),
                    page: r.version.rule.page_slug.to_string(),
                    variants: x.variants.len() as u32,
                    exposures: 0,
                    leader: None,
                    decided: x.decisions.last().cloned(),
                });
            }
        }
    }
    // Running: not yet decided (decided ones stay listed, with their decision).
    overview.rules.experiments = rows
        .iter()
        .filter(|r| !r.version.deleted && r.version.rule.is_active)
        .filter(|r| {
            r.version
                .rule
                .experiment
                .as_ref()
                .is_some_and(|x| x.running())
        })
        .count() as u64;
    if !experiments.is_empty() {
        // One pass over the events for every experiment at once.
        let report = services
            .mutations
            .report(&ReportQuery::default(), now)
            .await?;
        for e in &mut experiments {
            e.exposures = report
                .rows
                .iter()
                .filter(|r| r.tally.mutation_id == e.rule_id)
                .map(|r| r.tally.exposures)
                .sum();
            e.leader = ExperimentHeadline::leader_of(
                report
                    .comparisons
                    .iter()
                    .filter(|c| c.mutation_id == e.rule_id),
            );
        }
        experiments.sort_by(|a, b| {
            b.exposures
                .cmp(&a.exposures)
                .then(a.rule_id.cmp(&b.rule_id))
        });
    }
    overview.experiments = experiments;

    overview.rollbacks = services
        .store
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("layout-mutation.auto-rollback".into()),
            limit: Some(20),
            ..Default::default()
        })
        .await?
        .into_iter()
        .filter(|e| now - e.at < Duration::days(RECENT_DECISION_DAYS))
        .map(|e| AutoRollback {
            rule_id: e
                .record
                .target
                .trim_start_matches("layout-mutation:")
                .to_string(),
            at: e.at,
            why: e.record.after["why"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
        .collect();

    let mut pushes = services.federation.pushes(who).await?;
    pushes.truncate(PUSHES);
    overview.pushes = pushes;

    overview.event_rate = services
        .store
        .event_rate(now - Duration::hours(EVENT_WINDOW_HOURS), EVENT_BUCKET_SECS)
        .await?;
    Ok(overview)
}
