//! The overview: the hub at a glance, answering "is everything all right, and what needs
//! me?". The hub gathers the numbers ([`Overview`]); what needs someone is decided here, from
//! them alone ([`Overview::needs_attention`]), so the page, the API and the tests agree.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::chart::{ChartData, Series, Unit};
use crate::federation::{KindVersions, Propagation, RefusalAlert};
use crate::report::Comparison;
use crate::status::HubStatus;

/// How long the overview's event chart looks back, and the width of its buckets.
pub const EVENT_WINDOW_HOURS: i64 = 6;
pub const EVENT_BUCKET_SECS: i64 = 300;

/// Events the hub stored in one bucket of time (by when they arrived).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RatePoint {
    /// The bucket's start.
    pub at: DateTime<Utc>,
    pub events: u64,
}

/// Rules by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RuleCounts {
    pub active: u64,
    pub inactive: u64,
    /// Rules naming a node their page no longer has (skipped at runtime).
    pub broken: u64,
    /// Active rules with an experiment.
    pub experiments: u64,
}

/// A running experiment and where it stands over the last 30 days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExperimentHeadline {
    pub rule_id: String,
    pub page: String,
    pub variants: u32,
    pub exposures: u64,
    /// The variant furthest from its baseline (a significant one first), if any was
    /// compared yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<Comparison>,
    /// The newest decision taken on it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub decided: Option<crate::mutation::DecisionRecord>,
}

impl ExperimentHeadline {
    /// The headline in words: "b vs control: +2.1 points (the interval excludes zero)".
    pub fn describe(&self) -> String {
        match &self.leader {
            None if self.exposures == 0 => "no exposures yet".into(),
            None => "not enough conversions to compare yet".into(),
            Some(c) => format!(
                "{} vs {}: {:+.1} points ({})",
                c.variant,
                c.baseline,
                c.difference.value * 100.0,
                if c.significant {
                    "the interval excludes zero"
                } else {
                    "not distinguishable yet"
                }
            ),
        }
    }

    /// Picks the leader among a rule's comparisons: significant ones before the rest, then
    /// the largest difference either way.
    pub fn leader_of<'a>(comparisons: impl Iterator<Item = &'a Comparison>) -> Option<Comparison> {
        comparisons
            .max_by(|a, b| {
                (a.significant, a.difference.value.abs())
                    .partial_cmp(&(b.significant, b.difference.value.abs()))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .cloned()
    }
}

/// The answer of `GET /api/overview`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub status: HubStatus,
    pub neurons: u64,
    /// Status → neurons.
    pub by_status: BTreeMap<String, u64>,
    /// Per kind, the versions its joined neurons run.
    pub versions: Vec<KindVersions>,
    pub rules: RuleCounts,
    pub experiments: Vec<ExperimentHeadline>,
    /// The newest pushes, newest first.
    pub pushes: Vec<Propagation>,
    /// Sources whose neuron requests keep being refused.
    pub alerts: Vec<RefusalAlert>,
    /// Changes a rule's guard rolled back in the last week, newest first.
    #[serde(default)]
    pub rollbacks: Vec<AutoRollback>,
    /// Events stored per bucket over the window (buckets without events are left out).
    pub event_rate: Vec<RatePoint>,
    pub now: DateTime<Utc>,
}

/// A change a rule's guard rolled back by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AutoRollback {
    pub rule_id: String,
    pub at: DateTime<Utc>,
    /// The evidence in words.
    pub why: String,
}

/// Days an automatic decision stays on the overview's list.
pub const RECENT_DECISION_DAYS: i64 = 7;

/// How urgent something on the overview is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One thing someone should look at, and the page where they can act on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attention {
    pub severity: Severity,
    pub text: String,
    pub href: String,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Overview {
    /// Neurons with `status`.
    pub fn count(&self, status: &str) -> u64 {
        self.by_status.get(status).copied().unwrap_or(0)
    }

    /// What needs someone, most urgent first; empty when all is well.
    pub fn needs_attention(&self) -> Vec<Attention> {
        let mut out = Vec::new();
        let mut add = |severity, text: String, href: &str| {
            out.push(Attention {
                severity,
                text,
                href: href.to_string(),
            })
        };
        let s = &self.status;
        if !s.database_ok {
            add(
                Severity::Critical,
                format!(
                    "The database is unreachable: {}",
                    s.database_error.clone().unwrap_or_default()
                ),
                "/admin/status",
            );
        }
        if let Err(e) = &s.audit_chain {
            if s.database_ok {
                add(
                    Severity::Critical,
                    format!("The audit chain is broken: {e}"),
                    "/admin/audit",
                );
            }
        }
        if let Some(why) = &s.spool_refusing {
            add(
                Severity::Critical,
                format!("The analytics spool is full and refuses events: {why}"),
                "/admin/status",
            );
        }
        // Neurons by status that need someone, and the page listing them.
        for (status, severity, what) in [
            ("unhealthy", Severity::Critical, "missed their heartbeats"),
            ("pending", Severity::Warning, "waiting for approval"),
            ("degraded", Severity::Warning, "reporting degraded health"),
        ] {
            let n = self.count(status);
            if n > 0 {
                add(
                    severity,
                    format!("{} {what}", plural(n, "neuron", "neurons")),
                    &format!("/admin/federation?status={status}"),
                );
            }
        }
        if self.rules.broken > 0 {
            add(
                Severity::Warning,
                format!(
                    "{} naming nodes their page no longer has (skipped)",
                    plural(self.rules.broken, "rule", "rules")
                ),
                "/admin/layout-mutations?status=broken",
            );
        }
        if !self.alerts.is_empty() {
            let refused: u64 = self.alerts.iter().map(|a| u64::from(a.failures)).sum();
            add(
                Severity::Warning,
                format!(
                    "{} refused from {}",
                    plural(refused, "neuron request", "neuron requests"),
                    plural(self.alerts.len() as u64, "source", "sources")
                ),
                "/admin/federation#alerts",
            );
        }
        for k in self.versions.iter().filter(|k| k.drifts()) {
            let list: Vec<String> = k
                .versions
                .iter()
                .map(|(v, n)| format!("{v} ×{n}"))
                .collect();
            add(
                Severity::Info,
                format!("Version drift in {}: {}", k.kind, list.join(", ")),
                &format!(
                    "/admin/federation?q={}",
                    crate::urls::encode_component(&k.kind)
                ),
            );
        }
        for p in self.pushes.iter().filter(|p| p.acked < p.targeted) {
            if self.now - p.created_at > Duration::minutes(5) {
                add(
                    Severity::Info,
                    format!(
                        "Push {} revision {} reached {} of {} neurons",
                        p.scope, p.revision, p.acked, p.targeted
                    ),
                    "/admin/federation#push",
                );
            }
        }
        for e in self.experiments.iter() {
            let page = format!(
                "/admin/layout-mutations/{}#rule-decisions",
                crate::urls::encode_component(&e.rule_id)
            );
            if let Some(d) = e
                .decided
                .as_ref()
                .filter(|d| d.automatic() && self.now - d.at < Duration::days(RECENT_DECISION_DAYS))
            {
                add(
                    Severity::Warning,
                    format!(
                        "Cortex decided experiment {} by itself: {} (undo it on its page)",
                        e.rule_id,
                        d.decision.describe()
                    ),
                    &page,
                );
                continue;
            }
            if e.leader.as_ref().is_some_and(|c| c.significant) {
                add(
                    Severity::Info,
                    format!("Experiment {} has a result: {}", e.rule_id, e.describe()),
                    &format!(
                        "/admin/layout-mutations/{}",
                        crate::urls::encode_component(&e.rule_id)
                    ),
                );
            }
        }
        for r in &self.rollbacks {
            add(
                Severity::Critical,
                format!(
                    "Cortex rolled back a change of rule {} by itself: {}",
                    r.rule_id, r.why
                ),
                &format!(
                    "/admin/layout-mutations/{}#rule-history",
                    crate::urls::encode_component(&r.rule_id)
                ),
            );
        }
        for w in &s.warnings {
            add(Severity::Warning, w.clone(), "/admin/status");
        }
        out.sort_by_key(|a| a.severity);
        out
    }

    /// Events per minute over the window, one point per bucket (empty buckets: 0).
    pub fn event_chart(&self) -> ChartData {
        let bucket = EVENT_BUCKET_SECS;
        let end = self.now.timestamp().div_euclid(bucket) * bucket;
        let start = end - EVENT_WINDOW_HOURS * 3600 + bucket;
        let by_bucket: BTreeMap<i64, u64> = self
            .event_rate
            .iter()
            .map(|p| (p.at.timestamp().div_euclid(bucket) * bucket, p.events))
            .collect();
        let starts: Vec<i64> = (0..)
            .map(|k| start + k * bucket)
            .take_while(|t| *t <= end)
            .collect();
        ChartData {
            x_labels: starts
                .iter()
                .map(|t| {
                    DateTime::from_timestamp(*t, 0)
                        .map(|d| d.format("%H:%M").to_string())
                        .unwrap_or_default()
                })
                .collect(),
            series: vec![Series {
                name: String::new(),
                values: starts
                    .iter()
                    .map(|t| {
                        Some(by_bucket.get(t).copied().unwrap_or(0) as f64 * 60.0 / bucket as f64)
                    })
                    .collect(),
                band: vec![],
            }],
            unit: Unit::Count,
            ..Default::default()
        }
    }

    /// Events stored over the whole window.
    pub fn events_in_window(&self) -> u64 {
        self.event_rate.iter().map(|p| p.events).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Estimate;

    fn status() -> HubStatus {
        serde_json::from_value(serde_json::json!({
            "version": "1", "backend": "sqlite", "database_ok": true, "database_error": null,
            "data_dir": "/d", "uptime_secs": 1, "users": 1, "audit_chain": {"Ok": 3},
            "session_ttl_secs": 60, "secure_cookies": true, "audit_head": null,
            "spool_backlog_bytes": 0, "spool_refusing": null, "storefront_events_recorded": 0,
            "storefront_events_shed": 0, "control_copy_taken_at": null, "control_copy_rows": null,
            "public_url": "https://cortex.example", "warnings": []
        }))
        .expect("a status")
    }

    fn overview() -> Overview {
        Overview {
            status: status(),
            neurons: 0,
            by_status: BTreeMap::new(),
            versions: vec![],
            rules: RuleCounts::default(),
            experiments: vec![],
            pushes: vec![],
            alerts: vec![],
            rollbacks: vec![],
            event_rate: vec![],
            now: DateTime::from_timestamp(1_800_000_000, 0).expect("a time"),
        }
    }

    fn comparison(variant: &str, value: f64, significant: bool) -> Comparison {
        Comparison {
            mutation_id: "r".into(),
            baseline: "control".into(),
            variant: variant.into(),
            difference: Estimate {
                value,
                low: value - 0.01,
                high: value + 0.01,
            },
            significant,
            relative_lift: None,
            p_value: None,
            chance_to_win: None,
            cuped: None,
        }
    }

    #[test]
    fn all_well_needs_nobody() {
        assert!(overview().needs_attention().is_empty());
    }

    #[test]
    fn each_problem_links_to_where_it_is_fixed_most_urgent_first() {
        let mut o = overview();
        o.by_status.insert("pending".into(), 2);
        o.by_status.insert("unhealthy".into(), 1);
        o.rules.broken = 1;
        o.versions = vec![KindVersions {
            kind: "shop api".into(),
            versions: vec![("2.0".into(), 3), ("1.9".into(), 1)],
        }];
        o.status.warnings = vec!["Cookies are not Secure".into()];
        let a = o.needs_attention();
        let texts: Vec<(&str, &str)> = a
            .iter()
            .map(|a| (a.text.as_str(), a.href.as_str()))
            .collect();
        assert_eq!(
            texts,
            vec![
                (
                    "1 neuron missed their heartbeats",
                    "/admin/federation?status=unhealthy"
                ),
                (
                    "2 neurons waiting for approval",
                    "/admin/federation?status=pending"
                ),
                (
                    "1 rule naming nodes their page no longer has (skipped)",
                    "/admin/layout-mutations?status=broken"
                ),
                ("Cookies are not Secure", "/admin/status"),
                (
                    "Version drift in shop api: 2.0 ×3, 1.9 ×1",
                    "/admin/federation?q=shop%20api"
                ),
            ]
        );
    }

    #[test]
    fn a_database_outage_hides_the_audit_chain_it_could_not_read() {
        let mut o = overview();
        o.status.database_ok = false;
        o.status.database_error = Some("connection refused".into());
        o.status.audit_chain = Err("database unreachable".into());
        let a = o.needs_attention();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].severity, Severity::Critical);
        assert!(a[0].text.contains("connection refused"));
    }

    #[test]
    fn a_push_is_flagged_only_once_it_had_time_to_spread() {
        let mut o = overview();
        let push = |minutes_ago: i64| Propagation {
            scope: "kind:shop".into(),
            revision: 4,
            kind: crate::federation::BundleKind::Config,
            created_by: "user:a".into(),
            created_at: o.now - Duration::minutes(minutes_ago),
            bytes: 10,
            targeted: 5,
            acked: 3,
            audience: Default::default(),
            staged_body: None,
        };
        o.pushes = vec![push(1)];
        assert!(o.needs_attention().is_empty());
        o.pushes = vec![push(10)];
        assert_eq!(
            o.needs_attention()[0].text,
            "Push kind:shop revision 4 reached 3 of 5 neurons"
        );
    }

    #[test]
    fn the_leader_is_the_significant_one_then_the_largest() {
        let cs = [
            comparison("b", 0.05, false),
            comparison("c", 0.02, true),
            comparison("d", -0.03, false),
        ];
        assert_eq!(
            ExperimentHeadline::leader_of(cs.iter()).map(|c| c.variant),
            Some("c".into())
        );
        assert_eq!(
            ExperimentHeadline::leader_of(cs[..1].iter().chain(cs[2..].iter())).map(|c| c.variant),
            Some("b".into())
        );
        let h = ExperimentHeadline {
            rule_id: "r".into(),
            page: "home".into(),
            variants: 2,
            exposures: 10,
            leader: Some(cs[1].clone()),
            decided: None,
        };
        assert_eq!(
            h.describe(),
            "c vs control: +2.0 points (the interval excludes zero)"
        );
        // A decision Cortex took by itself is worth a look for a week, and says how to undo.
        let mut o = overview();
        let decided = |at, by: &str| crate::mutation::DecisionRecord {
            at,
            by: by.into(),
            version: 3,
            decision: crate::mutation::Decision::Promote {
                variant: "c".into(),
                lift: 0.1,
                ci: (0.02, 0.18),
                p_value: 0.01,
            },
        };
        o.experiments = vec![ExperimentHeadline {
            decided: Some(decided(o.now - Duration::days(1), crate::mutation::DECIDER)),
            ..h.clone()
        }];
        let items = o.needs_attention();
        let item = items
            .iter()
            .find(|a| a.text.contains("decided experiment r by itself: promote c"))
            .expect("the decision is listed");
        assert!(item.href.ends_with("/r#rule-decisions") && item.severity == Severity::Warning);
        o.experiments[0].decided =
            Some(decided(o.now - Duration::days(8), crate::mutation::DECIDER));
        assert!(!o
            .needs_attention()
            .iter()
            .any(|a| a.text.contains("by itself")));
        o.experiments[0].decided = Some(decided(o.now, "user:ana"));
        assert!(!o
            .needs_attention()
            .iter()
            .any(|a| a.text.contains("by itself")));
    }

    #[test]
    fn the_event_chart_fills_empty_buckets_and_reads_per_minute() {
        let mut o = overview();
        let bucket_start = |k: i64| {
            DateTime::from_timestamp(
                o.now.timestamp().div_euclid(EVENT_BUCKET_SECS) * EVENT_BUCKET_SECS
                    - k * EVENT_BUCKET_SECS,
                0,
            )
            .expect("a time")
        };
        o.event_rate = vec![
            RatePoint {
                at: bucket_start(0),
                events: 600,
            },
            RatePoint {
                at: bucket_start(2),
                events: 30,
            },
        ];
        let c = o.event_chart();
        let n = (EVENT_WINDOW_HOURS * 3600 / EVENT_BUCKET_SECS) as usize;
        assert_eq!(c.x_labels.len(), n);
        let values = &c.series[0].values;
        assert_eq!(values[n - 1], Some(120.0));
        assert_eq!(values[n - 2], Some(0.0));
        assert_eq!(values[n - 3], Some(6.0));
        assert_eq!(o.events_in_window(), 630);
    }
}
