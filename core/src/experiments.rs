//! One experiment at a glance, as the experiments page shows it: its state and policy, each
//! variant against the baseline, what the decision engine makes of it now, the newest
//! decision, and the cumulative conversion per variant day by day (lines that settle as the
//! evidence grows).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::chart::{ChartData, Series, Unit};
use crate::mutation::{Decision, DecisionRecord, LayoutMutation, Policy};
use crate::report::{wilson, Estimate, LayoutReport, SrmCheck};

/// One variant of an experiment over its whole runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ArmSummary {
    pub key: String,
    pub weight: f64,
    /// The baseline the others are compared with.
    pub baseline: bool,
    /// Switched off by a decision.
    pub stopped: bool,
    pub exposed_units: u64,
    pub converted_units: u64,
    pub conversion_rate: Option<Estimate>,
    /// Against the baseline: the relative lift with its sequential 95 % interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_lift: Option<Estimate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chance_to_win: Option<f64>,
}

/// One experiment (a variant rule) over its whole runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExperimentSummary {
    pub rule_id: String,
    pub page: String,
    /// The rule is switched on.
    pub active: bool,
    pub key: String,
    /// When the experiment began (see [`crate::report::experiment_started`]).
    pub started: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub policy: Policy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<String>,
    pub arms: Vec<ArmSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srm: Option<SrmCheck>,
    /// What the decision engine makes of it now (none once decided).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub suggestion: Option<Decision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub last_decision: Option<DecisionRecord>,
    /// The slice of a namespace the experiment takes, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub namespace: Option<crate::bucketing::Namespace>,
    /// Its weights are moved by a bandit.
    #[serde(default)]
    pub bandit: bool,
    /// Cumulative conversions per exposure per variant, one point per day.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub cumulative: ChartData,
}

impl ExperimentSummary {
    /// `running`, `decided` (a winner is served) or `off` (the rule is switched off).
    pub fn status(&self) -> &'static str {
        match (self.active, &self.winner) {
            (false, _) => "off",
            (true, Some(_)) => "decided",
            (true, None) => "running",
        }
    }

    /// The summary of `rule`'s experiment from `report` (the rule's events since `started`),
    /// or `None` for a rule without an experiment.
    pub fn of(
        rule: &LayoutMutation,
        started: DateTime<Utc>,
        report: &LayoutReport,
    ) -> Option<Self> {
        let x = rule.experiment.as_ref()?;
        let id = rule.id.as_str();
        let baseline = x.baseline();
        let arms = x
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let tally = report
                    .rows
                    .iter()
                    .find(|r| r.tally.mutation_id == id && r.tally.variant == v.key);
                let comparison = report
                    .comparisons
                    .iter()
                    .find(|c| c.mutation_id == id && c.variant == v.key);
                let (exposed, converted) =
                    tally.map_or((0, 0), |r| (r.tally.exposed_units, r.tally.converted_units));
                ArmSummary {
                    key: v.key.clone(),
                    weight: v.weight,
                    baseline: i == baseline,
                    stopped: x.stopped.contains(&v.key),
                    exposed_units: exposed,
                    converted_units: converted,
                    conversion_rate: wilson(converted.min(exposed), exposed),
                    relative_lift: comparison.and_then(|c| c.relative_lift),
                    p_value: comparison.and_then(|c| c.p_value),
                    chance_to_win: comparison.and_then(|c| c.chance_to_win),
                }
            })
            .collect();
        Some(ExperimentSummary {
            rule_id: id.to_string(),
            page: rule.page_slug.to_string(),
            active: rule.is_active,
            key: x.key.clone(),
            started,
            policy: x.policy(),
            winner: x.winner.clone(),
            arms,
            srm: report.srm.iter().find(|s| s.mutation_id == id).cloned(),
            suggestion: report.decision(rule, started),
            last_decision: x.decisions.last().cloned(),
            namespace: x.namespace.clone(),
            bandit: x.bandit.is_some(),
            cumulative: cumulative(report, rule),
        })
    }

    /// The variant with the largest lift over the baseline, if any was compared.
    pub fn leader(&self) -> Option<&ArmSummary> {
        self.arms
            .iter()
            .filter(|a| a.relative_lift.is_some())
            .max_by(|a, b| {
                let lift = |x: &ArmSummary| x.relative_lift.map_or(f64::MIN, |l| l.value);
                lift(a).total_cmp(&lift(b))
            })
    }
}

/// Cumulative conversions per exposure of each variant of `rule`, day by day over the
/// report's range (no point before a variant's first exposure).
fn cumulative(report: &LayoutReport, rule: &LayoutMutation) -> ChartData {
    let id = rule.id.as_str();
    let days = report.range_days();
    // Exposures and conversions by variant and day, summed once.
    let mut cells: std::collections::HashMap<(&str, &str), (u64, u64)> = Default::default();
    for d in report.days.iter().filter(|d| d.mutation_id == id) {
        let cell = cells
            .entry((d.variant.as_str(), d.day.as_str()))
            .or_default();
        cell.0 += d.exposures;
        cell.1 += d.conversions;
    }
    let series = rule
        .experiment
        .iter()
        .flat_map(|x| x.variants.iter())
        .map(|v| {
            let (mut exposures, mut conversions) = (0u64, 0u64);
            let values = days
                .iter()
                .map(|day| {
                    if let Some((e, c)) = cells.get(&(v.key.as_str(), day.as_str())) {
                        exposures += e;
                        conversions += c;
                    }
                    (exposures > 0).then(|| conversions as f64 / exposures as f64)
                })
                .collect();
            Series {
                name: v.key.clone(),
                values,
                band: vec![],
            }
        })
        .collect();
    ChartData {
        x_labels: days
            .iter()
            .map(|d| d.get(5..).unwrap_or(d).to_string())
            .collect(),
        series,
        unit: Unit::Percent,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{DayRow, ImpactRow, Tally};

    #[test]
    fn a_summary_reads_the_report_per_variant_and_accumulates_day_by_day() {
        let rule: LayoutMutation = serde_json::from_value(serde_json::json!({
            "id": "r", "layoutId": "home", "pageSlug": "home", "mutationType": "variant",
            "mutationPayload": {}, "layer": "module", "version": 2,
            "createdBy": "user:a", "timestamp": "2026-11-01T00:00:00Z", "isActive": true,
            "experiment": {"key": "k", "stopped": ["c"], "variants": [
                {"key": "b", "weight": 0.4}, {"key": "control", "weight": 0.4}, {"key": "c", "weight": 0.2}
            ], "policy": {"mode": "auto"}}
        }))
        .unwrap();
        let row = |v: &str, n: u64, c: u64| {
            ImpactRow::from_tally(Tally {
                mutation_id: "r".into(),
                variant: v.into(),
                exposures: n,
                exposed_units: n,
                converted_units: c,
                conversions: c,
                ..Tally::default()
            })
        };
        let day = |d: &str, v: &str, e: u64, c: u64| DayRow {
            day: d.into(),
            mutation_id: "r".into(),
            variant: v.into(),
            exposures: e,
            conversions: c,
            clicks: 0,
        };
        let rows = vec![row("control", 200, 20), row("b", 200, 40), row("c", 50, 1)];
        let (comparisons, srm) =
            crate::report::compare(&rows, |_| vec![("control".into(), 0.5), ("b".into(), 0.5)]);
        let report = LayoutReport {
            from: "2026-11-01T00:00:00Z".parse().unwrap(),
            to: "2026-11-03T12:00:00Z".parse().unwrap(),
            rows,
            days: vec![
                day("2026-11-01", "control", 100, 10),
                day("2026-11-02", "control", 100, 10),
                day("2026-11-02", "b", 100, 30),
                day("2026-11-03", "b", 100, 10),
            ],
            comparisons,
            srm,
        };
        let s =
            ExperimentSummary::of(&rule, "2026-11-01T00:00:00Z".parse().unwrap(), &report).unwrap();
        assert_eq!(s.status(), "running");
        assert_eq!(s.policy.mode, crate::stats::decision::Mode::Auto);
        let keys: Vec<(&str, bool, bool)> = s
            .arms
            .iter()
            .map(|a| (a.key.as_str(), a.baseline, a.stopped))
            .collect();
        assert_eq!(
            keys,
            [
                ("b", false, false),
                ("control", true, false),
                ("c", false, true)
            ]
        );
        assert_eq!(s.leader().map(|a| a.key.as_str()), Some("b"));
        assert!((s.arms[0].conversion_rate.unwrap().value - 0.2).abs() < 1e-12);
        assert!(
            matches!(s.suggestion, Some(Decision::Wait { .. })),
            "two days of seven"
        );
        // Cumulative: control 10 %, 10 %, 10 %; b nothing, then 30 %, then 20 %.
        let series = |k: &str| {
            s.cumulative
                .series
                .iter()
                .find(|x| x.name == k)
                .unwrap()
                .values
                .clone()
        };
        assert_eq!(s.cumulative.x_labels, ["11-01", "11-02", "11-03"]);
        assert_eq!(series("control"), [Some(0.1), Some(0.1), Some(0.1)]);
        assert_eq!(series("b"), [None, Some(0.3), Some(0.2)]);
        assert_eq!(series("c"), [None, None, None]);
        let mut decided = rule.clone();
        decided.experiment.as_mut().unwrap().winner = Some("b".into());
        let s = ExperimentSummary::of(&decided, decided.timestamp, &report).unwrap();
        assert_eq!((s.status(), s.suggestion), ("decided", None));
        decided.is_active = false;
        assert_eq!(
            ExperimentSummary::of(&decided, decided.timestamp, &report)
                .unwrap()
                .status(),
            "off"
        );
    }
}
