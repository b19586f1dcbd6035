//! One experiment at a glance, as the experiments page shows it: its state and policy, each
//! variant against the baseline, what the decision engine makes of it now, the newest
//! decision, a verdict in words, and two charts: each variant's lift over the baseline with
//! its sequential interval as the days add up (a band that narrows as the evidence grows),
//! and each variant's conversions per exposure day by day.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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
    /// Present when the comparison is adjusted by the visitors' history (CUPED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuped: Option<crate::report::Cuped>,
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
    /// What the numbers say, in words: the leading variant against the baseline (empty once
    /// a winner is served).
    #[serde(default)]
    pub verdict: String,
    /// Each variant's relative lift in conversion over the baseline with its sequential 95 %
    /// interval, from the visitors exposed up to each day (cumulative).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub lift: ChartData,
    /// Each variant's conversions per exposure, day by day.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub daily: ChartData,
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
                    cuped: comparison.and_then(|c| c.cuped),
                }
            })
            .collect();
        let days = (report.to - started).num_days().max(0);
        let mut out = ExperimentSummary {
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
            verdict: String::new(),
            lift: lift_chart(report, rule),
            daily: daily_chart(report, rule),
        };
        out.verdict = out.verdict(days);
        Some(out)
    }

    /// The verdict in words, `days` into the run: "b beats control on conversions: +4.1 %
    /// [1.2 %, 7.0 %], 97 % chance to win, 14 days".
    fn verdict(&self, days: i64) -> String {
        let days = match days {
            1 => "1 day".to_string(),
            n => format!("{n} days"),
        };
        if self.winner.is_some() {
            // The page says who is served instead.
            return String::new();
        }
        let Some(base) = self.arms.iter().find(|a| a.baseline) else {
            return String::new();
        };
        // Below the fewest visitors a policy may ask for, intervals are too wide to read.
        let floor = crate::stats::decision::MIN_UNITS_FLOOR;
        let Some((arm, lift)) = self
            .leader()
            .filter(|a| a.exposed_units >= floor && base.exposed_units >= floor)
            .and_then(|a| a.relative_lift.map(|l| (a, l)))
        else {
            return format!(
                "Not enough visitors yet to compare the variants ({days}; at least {floor} each)."
            );
        };
        let pct = |v: f64| format!("{:+.1} %", v * 100.0);
        let chance = arm
            .chance_to_win
            .map(|c| format!(", {:.0} % chance to win", c * 100.0))
            .unwrap_or_default();
        // CUPED: said when the visitors' history narrowed the interval.
        let adjusted = arm
            .cuped
            .and_then(|c| c.shown_narrower())
            .map(|n| {
                format!(
                    ", adjusted for visitors' earlier conversions ({:.0} % narrower)",
                    n * 100.0
                )
            })
            .unwrap_or_default();
        let numbers = format!(
            "{} [{}, {}]{chance}, {days}{adjusted}",
            pct(lift.value),
            pct(lift.low),
            pct(lift.high)
        );
        if lift.low > 0.0 {
            format!("{} beats {} on conversions: {numbers}", arm.key, base.key)
        } else if lift.high < 0.0 {
            format!(
                "{} loses to {} on conversions: {numbers}",
                arm.key, base.key
            )
        } else {
            format!(
                "No clear difference yet: {} against {} on conversions: {numbers}",
                arm.key, base.key
            )
        }
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

/// Exposures, conversions and newly exposed (converted) visitors of `rule` per variant and
/// day, and the report's days.
fn per_day<'a>(
    report: &'a LayoutReport,
    rule: &LayoutMutation,
) -> (Vec<String>, HashMap<(&'a str, &'a str), [u64; 4]>) {
    let mut cells: HashMap<(&str, &str), [u64; 4]> = HashMap::new();
    for d in report
        .days
        .iter()
        .filter(|d| d.mutation_id == rule.id.as_str())
    {
        let cell = cells
            .entry((d.variant.as_str(), d.day.as_str()))
            .or_default();
        for (slot, n) in cell.iter_mut().zip([
            d.exposures,
            d.conversions,
            d.new_units,
            d.new_converted_units,
        ]) {
            *slot += n;
        }
    }
    (report.range_days(), cells)
}

fn day_labels(days: &[String]) -> Vec<String> {
    days.iter()
        .map(|d| d.get(5..).unwrap_or(d).to_string())
        .collect()
}

/// How far the lift chart's band reaches: a few visitors give intervals of hundreds of
/// percent, which would flatten the rest of the chart.
const BAND_CLIP: f64 = 1.0;

/// Each variant's relative lift in conversion over the baseline (visitors converted per
/// visitor exposed, both counted from the start up to each day), with its sequential 95 %
/// interval, both clipped at ±100 %; no point while either side has too few visitors.
fn lift_chart(report: &LayoutReport, rule: &LayoutMutation) -> ChartData {
    use crate::stats::{frequentist, Difference, Statistic};
    let Some(x) = rule.experiment.as_ref() else {
        return ChartData::default();
    };
    let (days, cells) = per_day(report, rule);
    let cumulative = |key: &str| -> Vec<Statistic> {
        let (mut n, mut sum) = (0u64, 0u64);
        days.iter()
            .map(|day| {
                if let Some(c) = cells.get(&(key, day.as_str())) {
                    n += c[2];
                    sum += c[3];
                }
                Statistic::Proportion {
                    n,
                    sum: sum.min(n) as f64,
                }
            })
            .collect()
    };
    let Some(base) = x.variants.get(x.baseline()).map(|v| &v.key) else {
        return ChartData::default();
    };
    let control = cumulative(base);
    let series = x
        .variants
        .iter()
        .filter(|v| &v.key != base)
        .map(|v| {
            let (values, band) = cumulative(&v.key)
                .iter()
                .zip(&control)
                .map(|(b, a)| {
                    let r = frequentist::sequential(
                        a,
                        b,
                        Difference::Relative,
                        0.05,
                        frequentist::SEQUENTIAL_TUNING,
                    );
                    let clip = |v: f64| v.clamp(-BAND_CLIP, BAND_CLIP);
                    match r.no_result {
                        None if r.expected.is_finite() => {
                            (Some(clip(r.expected)), Some((clip(r.ci.0), clip(r.ci.1))))
                        }
                        _ => (None, None),
                    }
                })
                .unzip();
            Series {
                name: v.key.clone(),
                values,
                band,
            }
        })
        .collect();
    ChartData {
        x_labels: day_labels(&days),
        series,
        unit: Unit::Percent,
        reference: Some(("no difference".into(), 0.0)),
        ..Default::default()
    }
}

/// Each variant's conversions per exposure on each day (no point on a day without
/// exposures).
fn daily_chart(report: &LayoutReport, rule: &LayoutMutation) -> ChartData {
    let (days, cells) = per_day(report, rule);
    let series = rule
        .experiment
        .iter()
        .flat_map(|x| x.variants.iter())
        .map(|v| Series {
            name: v.key.clone(),
            values: days
                .iter()
                .map(|day| {
                    cells
                        .get(&(v.key.as_str(), day.as_str()))
                        .filter(|c| c[0] > 0)
                        .map(|c| c[1] as f64 / c[0] as f64)
                })
                .collect(),
            band: vec![],
        })
        .collect();
    ChartData {
        x_labels: day_labels(&days),
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
            new_units: e,
            new_converted_units: c,
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
        // Day by day: control 10 % and 10 %; b 30 %, then 10 %.
        let series = |chart: &ChartData, k: &str| {
            chart
                .series
                .iter()
                .find(|x| x.name == k)
                .map(|x| x.values.clone())
        };
        assert_eq!(s.daily.x_labels, ["11-01", "11-02", "11-03"]);
        assert_eq!(
            series(&s.daily, "control").unwrap(),
            [Some(0.1), Some(0.1), None]
        );
        assert_eq!(series(&s.daily, "b").unwrap(), [None, Some(0.3), Some(0.1)]);
        assert_eq!(series(&s.daily, "c").unwrap(), [None, None, None]);
        // Lift over control, cumulative: nothing on day one (no b), then b's 30 % against
        // 10 % (+200 %, drawn clipped at +100 %), then 20 % against 10 % (+100 %).
        assert!(
            series(&s.lift, "control").is_none(),
            "no line for the baseline"
        );
        let lift = series(&s.lift, "b").unwrap();
        assert_eq!(lift[0], None);
        assert_eq!(lift[1], Some(BAND_CLIP), "{lift:?}");
        assert!((lift[2].unwrap() - 1.0).abs() < 1e-9, "{lift:?}");
        let band = &s.lift.series[0].band;
        assert!(
            band[1].unwrap().1 <= BAND_CLIP && band[2].unwrap().0 < 1.0,
            "{band:?}"
        );
        assert_eq!(s.lift.reference, Some(("no difference".into(), 0.0)));
        assert!(
            s.verdict
                .starts_with("b beats control on conversions: +100.0 % [")
                || s.verdict
                    .starts_with("No clear difference yet: b against control"),
            "{}",
            s.verdict
        );
        assert!(
            s.verdict.ends_with("chance to win, 2 days"),
            "{}",
            s.verdict
        );
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
