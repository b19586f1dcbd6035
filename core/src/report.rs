//! Impact of layout mutations: what `/api/layout-mutation/report` answers. Counts per rule
//! and variant (exposures, conversions, clicks, dwell), a daily series, and each variant
//! compared with its experiment's baseline, all with 95 % intervals.
//!
//! The statistics are deliberately simple: a Wilson score interval for a rate, a normal
//! interval for a mean, and a Newcombe (hybrid Wilson) interval for a difference of rates.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// z for a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;
/// Longest time range one report covers.
pub const MAX_REPORT_DAYS: i64 = 366;

/// Which events a report counts. Every field narrows it; none means all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportQuery {
    /// Only this page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// Only this rule (its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Only this variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// From this instant (default: 30 days before `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Up to this instant (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
}

impl ReportQuery {
    /// The time range this query covers at `now`, or why it is not one.
    pub fn range(&self, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
        let to = self.to.unwrap_or(now);
        let from = self.from.unwrap_or(to - chrono::Duration::days(30));
        if from >= to {
            return Err("from: must be before `to`".into());
        }
        if to - from > chrono::Duration::days(MAX_REPORT_DAYS) {
            return Err(format!(
                "from: a report covers at most {MAX_REPORT_DAYS} days"
            ));
        }
        for (field, v) in [
            ("page", &self.page),
            ("rule", &self.rule),
            ("variant", &self.variant),
        ] {
            if v.as_ref().is_some_and(|v| v.is_empty() || v.len() > 200) {
                return Err(format!("{field}: 1-200 characters"));
            }
        }
        Ok((from, to))
    }
}

/// When the experiment `history[0]` (the newest version first, as the store lists them)
/// runs now began: the oldest version switched on (else the oldest version) of the unbroken
/// run of newest versions that bucket visitors the same way (see [`crate::mutation::Experiment::same_bucketing`]). A decision
/// or an edit of anything else writes a new version and the experiment goes on; new
/// weights, variants, coverage or seed start it again (visitors would move between arms).
pub fn experiment_started(history: &[crate::rules::RuleVersion]) -> Option<DateTime<Utc>> {
    let newest = history.first()?.rule.experiment.as_ref()?;
    history
        .iter()
        .take_while(|v| {
            v.rule
                .experiment
                .as_ref()
                .is_some_and(|x| x.same_bucketing(newest))
        })
        // A draft saved switched off starts counting when it is switched on.
        .fold(None, |oldest: Option<(DateTime<Utc>, bool)>, v| {
            let active = v.rule.is_active && !v.deleted;
            match oldest {
                Some((_, true)) if !active => oldest,
                _ => Some((v.rule.timestamp, active)),
            }
        })
        .map(|(at, _)| at)
}

/// Raw sums for one rule and variant (or one day of them), as the store counts them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    pub mutation_id: String,
    /// Empty for a rule without variants.
    pub variant: String,
    pub exposures: u64,
    /// Distinct visitors exposed.
    pub exposed_units: u64,
    pub clicks: u64,
    /// Conversion events.
    pub conversions: u64,
    /// Distinct visitors who converted.
    pub converted_units: u64,
    pub dwell_count: u64,
    /// Sum of dwell times, ms.
    pub dwell_sum: f64,
    /// Sum of squared dwell times, ms².
    pub dwell_sum_sq: f64,
    /// Sum of the conversions' values (revenue; only servers report values).
    #[serde(default)]
    pub revenue_sum: f64,
    /// Sum of their squares.
    #[serde(default)]
    pub revenue_sum_sq: f64,
    /// Error events reported with this rule and variant.
    #[serde(default)]
    pub errors: u64,
    /// The same visitors' conversions before their first exposure, when the report has them
    /// (a report of one rule over a range that ends now): conversion is then compared
    /// adjusted by them (CUPED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_exposure: Option<PreExposure>,
}

/// One variant's visitors with their history before the experiment, as sums over the
/// visitors: `y` whether they converted on the rule (0 or 1), `x` the hours they converted in
/// (on anything) in the 14 days before their first exposure. CUPED reads them as a mean of
/// `y` adjusted by `x` (see [`crate::stats::Statistic::Adjusted`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PreExposure {
    /// Visitors exposed.
    pub units: u64,
    /// Those with any conversion before (`x > 0`).
    pub with_history: u64,
    /// Σy: those who converted on the rule.
    pub converted: u64,
    /// Σx.
    pub pre_sum: u64,
    /// Σx².
    pub pre_sum_sq: u64,
    /// Σxy.
    pub cross_sum: u64,
}

impl PreExposure {
    /// The conversion of these visitors adjusted by their history (`theta` is set when two
    /// arms are compared).
    pub fn statistic(&self) -> crate::stats::Statistic {
        use crate::stats::statistic::Sums;
        let y = self.converted.min(self.units) as f64;
        crate::stats::Statistic::Adjusted {
            n: self.units,
            post: Sums {
                sum: y,
                sum_squares: y,
            },
            pre: Sums {
                sum: self.pre_sum as f64,
                sum_squares: self.pre_sum_sq as f64,
            },
            products: self.cross_sum as f64,
            theta: 0.0,
        }
    }
}

/// A value with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// Impact of one rule and variant over the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ImpactRow {
    #[serde(flatten)]
    pub tally: Tally,
    /// Visitors who converted / visitors exposed. `None` before anyone was exposed.
    pub conversion_rate: Option<Estimate>,
    /// Clicks per exposure.
    pub click_rate: Option<f64>,
    /// Mean dwell, ms.
    pub dwell_ms: Option<Estimate>,
    /// Revenue (conversion values) per visitor exposed, with a 95 % interval; `None` without
    /// any value reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue_per_visitor: Option<Estimate>,
    /// Error events per exposure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
}

/// One day of one rule and variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DayRow {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub mutation_id: String,
    pub variant: String,
    pub exposures: u64,
    pub conversions: u64,
    pub clicks: u64,
    /// Visitors exposed for the first time that day (in a report of a range that ends now:
    /// for the first time at all; of a range in the past: for the first time in it).
    #[serde(default)]
    pub new_units: u64,
    /// Visitors who converted for the first time that day (as `new_units`).
    #[serde(default)]
    pub new_converted_units: u64,
}

/// A variant against its rule's baseline variant (the first in the rule, or `control`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub mutation_id: String,
    pub baseline: String,
    pub variant: String,
    /// Conversion rate of `variant` minus that of `baseline`, with its 95 % interval.
    pub difference: Estimate,
    /// The interval excludes zero.
    pub significant: bool,
    /// The relative lift in conversion rate with its always-valid 95 % confidence sequence
    /// (GrowthBook's sequential test): safe to read every day. `None` when it cannot be
    /// computed (no conversions in the baseline, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_lift: Option<Estimate>,
    /// The sequential test's p-value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// The Bayesian chance that the variant converts better than the baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chance_to_win: Option<f64>,
    /// Present when the lift, p-value and chance to win are adjusted by the visitors'
    /// conversions before the experiment (CUPED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuped: Option<Cuped>,
}

/// What adjusting by the visitors' history (CUPED) did to one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Cuped {
    /// Visitors of both arms.
    pub visitors: u64,
    /// Those who converted in the 14 days before their first exposure.
    pub with_history: u64,
    /// How much narrower the lift's interval is than without the adjustment (0.1: 10 %
    /// narrower; 0 when nobody has history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub narrower: Option<f64>,
}

impl Cuped {
    /// How much narrower the interval is, when that is worth saying (1 % or more).
    pub fn shown_narrower(&self) -> Option<f64> {
        self.narrower.filter(|n| *n >= 0.01)
    }
}

/// Are an experiment's visitors split as its weights say? (A chi-squared test of the
/// visitors exposed per variant.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SrmCheck {
    pub mutation_id: String,
    pub p_value: f64,
    /// Below 0.001: the assignment is broken, and no decision should be taken on it.
    pub flagged: bool,
}

/// The answer of `GET /api/layout-mutation/report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LayoutReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Per rule and variant over the whole range.
    pub rows: Vec<ImpactRow>,
    /// Per day, per rule and variant.
    pub days: Vec<DayRow>,
    /// Each experiment variant against its baseline.
    pub comparisons: Vec<Comparison>,
    /// The sample ratio check of each experiment with at least two variants exposed.
    #[serde(default)]
    pub srm: Vec<SrmCheck>,
}

/// A variant's conversion (visitors converted / exposed), adjusted by the visitors' history
/// where the report has it (CUPED).
fn conversion(tally: Option<&Tally>) -> crate::stats::Statistic {
    match tally {
        Some(t) => t
            .pre_exposure
            .map_or_else(|| proportion(t), |pre| pre.statistic()),
        None => crate::stats::Statistic::Proportion { n: 0, sum: 0.0 },
    }
}

/// A variant's conversion as it stands: visitors converted over visitors exposed.
fn proportion(t: &Tally) -> crate::stats::Statistic {
    crate::stats::Statistic::Proportion {
        n: t.exposed_units,
        sum: t.converted_units.min(t.exposed_units) as f64,
    }
}

/// What a variant's counts say of `metric`, as the decision engine tests it.
fn measure(
    metric: crate::stats::decision::Metric,
    tally: Option<&Tally>,
) -> crate::stats::Statistic {
    use crate::stats::decision::Metric;
    use crate::stats::statistic::Sums;
    use crate::stats::Statistic;
    match metric {
        Metric::Conversion => conversion(tally),
        Metric::Dwell => Statistic::Mean {
            n: tally.map_or(0, |t| t.dwell_count),
            sums: Sums {
                sum: tally.map_or(0.0, |t| t.dwell_sum),
                sum_squares: tally.map_or(0.0, |t| t.dwell_sum_sq),
            },
        },
        // Clicks per exposure, each exposure counted at most once.
        Metric::Clicks => {
            let n = tally.map_or(0, |t| t.exposures);
            Statistic::Proportion {
                n,
                sum: tally.map_or(0, |t| t.clicks.min(n)) as f64,
            }
        }
        // Revenue per visitor exposed. The sums are per conversion, so a visitor's squared
        // total is read as the sum of their conversions' squares: exact when a visitor
        // converts at most once, a slight underestimate of the variance otherwise.
        Metric::Revenue => Statistic::Mean {
            n: tally.map_or(0, |t| t.exposed_units),
            sums: Sums {
                sum: tally.map_or(0.0, |t| t.revenue_sum),
                sum_squares: tally.map_or(0.0, |t| t.revenue_sum_sq),
            },
        },
        // Errors per exposure, as a Poisson count (one added to each side; see
        // `Statistic::event_rate`).
        Metric::Errors => Statistic::event_rate(
            tally.map_or(0, |t| t.exposures),
            tally.map_or(0, |t| t.errors),
        ),
    }
}

impl LayoutReport {
    /// What the decision engine makes of `rule`'s experiment in this report, under the
    /// experiment's policy, if it has one still running. `started`: when the experiment
    /// began (its runtime counts from there; see [`experiment_started`]). Switched-off
    /// variants take no part.
    pub fn decision(
        &self,
        rule: &crate::mutation::LayoutMutation,
        started: DateTime<Utc>,
    ) -> Option<crate::stats::decision::Decision> {
        use crate::stats::decision::{decide, Arm, Guardrail};
        let experiment = rule.experiment.as_ref().filter(|x| x.running())?;
        let policy = experiment.policy();
        let baseline = experiment.baseline();
        // The baseline first, then the variants still running, in the rule's order.
        let order = std::iter::once(baseline).chain((0..experiment.variants.len()).filter(|&i| {
            i != baseline && !experiment.stopped.contains(&experiment.variants[i].key)
        }));
        let mut arms: Vec<Arm> = order
            .map(|i| {
                let v = &experiment.variants[i];
                let tally = self.tally(rule.id.as_str(), &v.key);
                Arm {
                    key: v.key.clone(),
                    weight: v.weight,
                    units: tally.map_or(0, |t| t.exposed_units),
                    goal: measure(policy.goal, tally),
                    guardrails: policy
                        .guardrails
                        .iter()
                        .map(|&g| Guardrail {
                            name: g.as_str().into(),
                            statistic: measure(g, tally),
                            higher_is_better: g.higher_is_better(),
                        })
                        .collect(),
                }
            })
            .collect();
        if experiment.bandit.is_some() {
            // A bandit's weights move during its run (and its visitors keep their variant),
            // so no one set of weights says what split to expect: the split check compares
            // the arms with their own shares, which it always passes.
            let total: u64 = arms.iter().map(|a| a.units).sum();
            for a in &mut arms {
                a.weight = if total == 0 {
                    1.0
                } else {
                    a.units as f64 / total as f64
                };
            }
        }
        let days = (self.to - started).num_days().max(0) as u32;
        Some(decide(&arms, days, &policy))
    }

    /// Each variant's goal metric (as the experiment's policy names it) and visitors, in
    /// the rule's order: what a bandit weighs. `None` for a switched-off variant.
    pub fn goals(
        &self,
        rule: &crate::mutation::LayoutMutation,
    ) -> Vec<(Option<crate::stats::Statistic>, u64)> {
        let Some(x) = rule.experiment.as_ref() else {
            return Vec::new();
        };
        let goal = x.policy().goal;
        x.variants
            .iter()
            .map(|v| {
                // Unadjusted: a bandit's posterior reads a plain proportion (a Beta), which
                // an arm without conversions yet still has.
                let tally = self.tally(rule.id.as_str(), &v.key).map(|t| Tally {
                    pre_exposure: None,
                    ..t.clone()
                });
                let units = tally.as_ref().map_or(0, |t| t.exposed_units);
                let live = !x.stopped.contains(&v.key);
                (live.then(|| measure(goal, tally.as_ref())), units)
            })
            .collect()
    }

    /// The counts of rule `id`'s variant `variant`, if it had any.
    fn tally(&self, id: &str, variant: &str) -> Option<&Tally> {
        self.rows
            .iter()
            .find(|r| r.tally.mutation_id == id && r.tally.variant == variant)
            .map(|r| &r.tally)
    }

    /// The days of the range, `YYYY-MM-DD`, oldest first (at most 366).
    pub fn range_days(&self) -> Vec<String> {
        let mut day = self.from.date_naive();
        let last = self.to.date_naive();
        let mut out = Vec::new();
        while day <= last && out.len() < 366 {
            out.push(day.format("%Y-%m-%d").to_string());
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        out
    }

    /// One rule's daily exposures per variant, and its daily conversions per exposure per
    /// variant with the Wilson 95 % interval as a band: the rule page's two charts. Every
    /// day of the range is a point (no exposures: 0, and no rate).
    pub fn daily_charts(&self, rule: &str) -> (crate::chart::ChartData, crate::chart::ChartData) {
        use crate::chart::{ChartData, Series, Unit};
        let days = self.range_days();
        let mut variants: Vec<String> = Vec::new();
        for r in self.rows.iter().filter(|r| r.tally.mutation_id == rule) {
            if !variants.contains(&r.tally.variant) {
                variants.push(r.tally.variant.clone());
            }
        }
        let name = |v: &str| {
            if v.is_empty() {
                "all".to_string()
            } else {
                v.to_string()
            }
        };
        let cell = |variant: &str, day: &str| {
            self.days
                .iter()
                .filter(|d| d.mutation_id == rule && d.variant == variant && d.day == day)
                .fold((0u64, 0u64), |(e, c), d| {
                    (e + d.exposures, c + d.conversions)
                })
        };
        let mut exposures = Vec::new();
        let mut conversion = Vec::new();
        for v in &variants {
            let cells: Vec<(u64, u64)> = days.iter().map(|d| cell(v, d)).collect();
            exposures.push(Series {
                name: name(v),
                values: cells.iter().map(|(e, _)| Some(*e as f64)).collect(),
                band: vec![],
            });
            let estimates: Vec<Option<Estimate>> =
                cells.iter().map(|(e, c)| wilson(*c, *e)).collect();
            conversion.push(Series {
                name: name(v),
                values: estimates.iter().map(|e| e.map(|e| e.value)).collect(),
                band: estimates
                    .iter()
                    .map(|e| e.map(|e| (e.low, e.high)))
                    .collect(),
            });
        }
        let labels: Vec<String> = days
            .iter()
            .map(|d| d.get(5..).unwrap_or(d).to_string())
            .collect();
        (
            ChartData {
                x_labels: labels.clone(),
                series: exposures,
                unit: Unit::Count,
                ..Default::default()
            },
            ChartData {
                x_labels: labels,
                series: conversion,
                unit: Unit::Percent,
                ..Default::default()
            },
        )
    }
}

/// Wilson score interval for `successes` out of `n`.
pub fn wilson(successes: u64, n: u64) -> Option<Estimate> {
    if n == 0 {
        return None;
    }
    let n_f = n as f64;
    let p = (successes.min(n)) as f64 / n_f;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n_f)) / (1.0 + z2 / n_f);
    let half = Z95 * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / (1.0 + z2 / n_f);
    Some(Estimate {
        value: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    })
}

/// Mean with a normal 95 % interval, from a count, a sum and a sum of squares.
pub fn mean(count: u64, sum: f64, sum_sq: f64) -> Option<Estimate> {
    if count == 0 {
        return None;
    }
    let n = count as f64;
    let m = sum / n;
    let var = if count > 1 {
        ((sum_sq - n * m * m) / (n - 1.0)).max(0.0)
    } else {
        0.0
    };
    let half = Z95 * (var / n).sqrt();
    Some(Estimate {
        value: m,
        low: m - half,
        high: m + half,
    })
}

/// Difference of two rates (`b` − `a`) with Newcombe's hybrid score interval.
pub fn rate_difference(a: (u64, u64), b: (u64, u64)) -> Option<Estimate> {
    let ea = wilson(a.0, a.1)?;
    let eb = wilson(b.0, b.1)?;
    let d = eb.value - ea.value;
    let low = d - ((eb.value - eb.low).powi(2) + (ea.high - ea.value).powi(2)).sqrt();
    let high = d + ((eb.high - eb.value).powi(2) + (ea.value - ea.low).powi(2)).sqrt();
    Some(Estimate {
        value: d,
        low,
        high,
    })
}

impl ImpactRow {
    pub fn from_tally(tally: Tally) -> Self {
        Self {
            conversion_rate: wilson(tally.converted_units, tally.exposed_units),
            click_rate: (tally.exposures > 0).then(|| tally.clicks as f64 / tally.exposures as f64),
            dwell_ms: mean(tally.dwell_count, tally.dwell_sum, tally.dwell_sum_sq),
            revenue_per_visitor: (tally.revenue_sum != 0.0 || tally.revenue_sum_sq != 0.0)
                .then(|| mean(tally.exposed_units, tally.revenue_sum, tally.revenue_sum_sq))
                .flatten(),
            error_rate: (tally.errors > 0 && tally.exposures > 0)
                .then(|| tally.errors as f64 / tally.exposures as f64),
            tally,
        }
    }
}

/// Each experiment variant against its rule's baseline (`control` when the rule has one,
/// else the first of `variants(rule)`, which lists each variant's key and weight in the
/// rule's order, else the alphabetically first), and each experiment's sample ratio check
/// against those weights.
pub fn compare(
    rows: &[ImpactRow],
    variants: impl Fn(&str) -> Vec<(String, f64)>,
) -> (Vec<Comparison>, Vec<SrmCheck>) {
    use crate::stats::{bayesian, frequentist, srm, Difference};
    let mut out = Vec::new();
    let mut checks = Vec::new();
    let mut ids: Vec<&str> = rows
        .iter()
        .filter(|r| !r.tally.variant.is_empty())
        .map(|r| r.tally.mutation_id.as_str())
        .collect();
    ids.dedup();
    for id in ids {
        let mine: Vec<&ImpactRow> = rows
            .iter()
            .filter(|r| r.tally.mutation_id == id && !r.tally.variant.is_empty())
            .collect();
        let declared = variants(id);
        let order: Vec<String> = declared.iter().map(|(k, _)| k.clone()).collect();
        // A weight that is not a number: the split is not checked (a bandit's).
        if declared.len() >= 2 && declared.iter().all(|(_, w)| w.is_finite()) {
            let users: Vec<u64> = declared
                .iter()
                .map(|(k, _)| {
                    mine.iter()
                        .find(|r| &r.tally.variant == k)
                        .map_or(0, |r| r.tally.exposed_units)
                })
                .collect();
            let weights: Vec<f64> = declared.iter().map(|(_, w)| *w).collect();
            let p_value = srm::check(&users, &weights);
            checks.push(SrmCheck {
                mutation_id: id.to_string(),
                p_value,
                flagged: p_value < srm::SRM_THRESHOLD,
            });
        }
        if mine.len() < 2 {
            continue;
        }
        let baseline = mine
            .iter()
            .find(|r| r.tally.variant == "control")
            .or_else(|| {
                order
                    .iter()
                    .find_map(|v| mine.iter().find(|r| &r.tally.variant == v))
            })
            .or_else(|| {
                mine.iter()
                    .min_by(|a, b| a.tally.variant.cmp(&b.tally.variant))
            })
            .copied();
        let Some(baseline) = baseline else { continue };
        for r in &mine {
            if r.tally.variant == baseline.tally.variant {
                continue;
            }
            let Some(d) = rate_difference(
                (baseline.tally.converted_units, baseline.tally.exposed_units),
                (r.tally.converted_units, r.tally.exposed_units),
            ) else {
                continue;
            };
            // Adjusted by the visitors' history when both arms have it (CUPED).
            let cuped = baseline.tally.pre_exposure.is_some() && r.tally.pre_exposure.is_some();
            let arm = |t: &Tally| {
                if cuped {
                    conversion(Some(t))
                } else {
                    proportion(t)
                }
            };
            let (a, b) = (arm(&baseline.tally), arm(&r.tally));
            let seq = frequentist::sequential(
                &a,
                &b,
                Difference::Relative,
                0.05,
                frequentist::SEQUENTIAL_TUNING,
            );
            let bayes = bayesian::effect_test(&a, &b, Difference::Relative, 0.05, None);
            let cuped = if cuped {
                let unadjusted = frequentist::sequential(
                    &proportion(&baseline.tally),
                    &proportion(&r.tally),
                    Difference::Relative,
                    0.05,
                    frequentist::SEQUENTIAL_TUNING,
                );
                let width = |ci: (f64, f64)| ci.1 - ci.0;
                let pre = |t: &Tally| t.pre_exposure.unwrap_or_default();
                let (pa, pb) = (pre(&baseline.tally), pre(&r.tally));
                Some(Cuped {
                    visitors: pa.units + pb.units,
                    with_history: pa.with_history + pb.with_history,
                    narrower: (seq.no_result.is_none()
                        && unadjusted.no_result.is_none()
                        && width(unadjusted.ci) > 0.0)
                        .then(|| 1.0 - width(seq.ci) / width(unadjusted.ci)),
                })
            } else {
                None
            };
            out.push(Comparison {
                cuped,
                mutation_id: id.to_string(),
                baseline: baseline.tally.variant.clone(),
                variant: r.tally.variant.clone(),
                significant: d.low > 0.0 || d.high < 0.0,
                difference: d,
                relative_lift: seq.no_result.is_none().then_some(Estimate {
                    value: seq.expected,
                    low: seq.ci.0,
                    high: seq.ci.1,
                }),
                p_value: seq.no_result.is_none().then_some(seq.p_value),
                chance_to_win: bayes.no_result.is_none().then_some(bayes.chance_to_win),
            });
        }
    }
    (out, checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-3
    }

    #[test]
    fn wilson_matches_published_values() {
        // 81 of 263: Wilson 95 % is 0.2553..0.3662 (Newcombe 1998, table I).
        let e = wilson(81, 263).unwrap();
        assert!(close(e.low, 0.2553) && close(e.high, 0.3662), "{e:?}");
        // 0 of 10 stays within [0, 1] and is not a point.
        let e = wilson(0, 10).unwrap();
        assert_eq!(e.low, 0.0);
        assert!(close(e.high, 0.2775), "{e:?}");
        assert!(wilson(0, 0).is_none());
    }

    #[test]
    fn newcombe_difference_matches_published_values() {
        // 56/70 vs 48/80: difference 0.2, interval 0.0524..0.3339 (Newcombe 1998, method 10).
        let d = rate_difference((48, 80), (56, 70)).unwrap();
        assert!(close(d.value, 0.2), "{d:?}");
        assert!(close(d.low, 0.0524) && close(d.high, 0.3339), "{d:?}");
    }

    #[test]
    fn mean_interval_from_sums() {
        // 2, 4, 6: mean 4, sd 2, half width 1.96 * 2 / sqrt(3).
        let e = mean(3, 12.0, 56.0).unwrap();
        assert!(close(e.value, 4.0));
        assert!(close(e.high - e.value, Z95 * 2.0 / 3f64.sqrt()), "{e:?}");
        assert_eq!(mean(1, 5.0, 25.0).unwrap().low, 5.0);
        assert!(mean(0, 0.0, 0.0).is_none());
    }

    fn row(id: &str, variant: &str, exposed: u64, converted: u64) -> ImpactRow {
        ImpactRow::from_tally(Tally {
            mutation_id: id.into(),
            variant: variant.into(),
            exposures: exposed,
            exposed_units: exposed,
            converted_units: converted,
            conversions: converted,
            ..Tally::default()
        })
    }

    #[test]
    fn history_that_predicts_conversion_narrows_the_interval() {
        use crate::stats::decision::Metric;
        // 400 of 2,000 visitors a side converted before; they convert far more often.
        let with = |variant: &str, converted: u64, cross_sum: u64| {
            let mut r = row("r", variant, 2000, converted);
            r.tally.pre_exposure = Some(PreExposure {
                units: 2000,
                with_history: 400,
                converted,
                pre_sum: 400,
                pre_sum_sq: 400,
                cross_sum,
            });
            r
        };
        let variants = |_: &str| vec![("a".to_string(), 0.5), ("b".to_string(), 0.5)];
        let adjusted = compare(&[with("a", 200, 150), with("b", 260, 160)], variants).0;
        let plain = compare(
            &[row("r", "a", 2000, 200), row("r", "b", 2000, 260)],
            variants,
        )
        .0;
        let (a, p) = (&adjusted[0], &plain[0]);
        assert!(p.cuped.is_none());
        let cuped = a.cuped.unwrap();
        assert_eq!((cuped.visitors, cuped.with_history), (4000, 800));
        let narrower = cuped.narrower.unwrap();
        // ρ² ≈ 0.2 here: the variance falls by a fifth, the interval by about a tenth.
        assert!(narrower > 0.05 && narrower < 0.5, "{narrower}");
        let (la, lp) = (a.relative_lift.unwrap(), p.relative_lift.unwrap());
        assert!((la.high - la.low) < (lp.high - lp.low));
        // b's visitors had as much history as a's: the lift barely moves.
        assert!((la.value - lp.value).abs() < 0.05, "{la:?} {lp:?}");
        // The decision engine measures the goal the same way.
        let t = &with("b", 260, 160).tally;
        assert!(matches!(
            measure(Metric::Conversion, Some(t)),
            crate::stats::Statistic::Adjusted { n: 2000, .. }
        ));
        // Without anyone's history the adjustment changes nothing.
        let none = |variant: &str, converted: u64| {
            let mut r = row("r", variant, 2000, converted);
            r.tally.pre_exposure = Some(PreExposure {
                units: 2000,
                converted,
                ..PreExposure::default()
            });
            r
        };
        let flat = compare(&[none("a", 200), none("b", 260)], variants).0;
        let lf = flat[0].relative_lift.unwrap();
        assert!((lf.value - lp.value).abs() < 1e-9);
        assert!(flat[0].cuped.unwrap().narrower.unwrap().abs() < 0.01);
    }

    #[test]
    fn variants_are_compared_with_the_baseline() {
        let rows = vec![
            row("r", "b", 1000, 150),
            row("r", "a", 1000, 100),
            row("plain", "", 50, 5),
            row("lonely", "x", 10, 1),
        ];
        let (out, srm) = compare(&rows, |_| vec![("a".into(), 0.5), ("b".into(), 0.5)]);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(
            (out[0].baseline.as_str(), out[0].variant.as_str()),
            ("a", "b")
        );
        assert!(close(out[0].difference.value, 0.05));
        assert!(out[0].significant);
        // GrowthBook's numbers beside it: 50 % relative lift, sequential p-value, chance to win.
        // The sequential interval is wider than the fixed-horizon one (the price of being
        // valid at every look): at 1,000 visitors a side it does not exclude zero yet...
        let lift = out[0].relative_lift.expect("a relative lift");
        assert!(close(lift.value, 0.5) && lift.low < 0.0, "{lift:?}");
        assert!(out[0].chance_to_win.unwrap() > 0.99);
        // ...at 10,000 it does.
        let more = vec![row("r", "b", 10_000, 1_500), row("r", "a", 10_000, 1_000)];
        let (more, _) = compare(&more, |_| vec![("a".into(), 0.5), ("b".into(), 0.5)]);
        assert!(more[0].relative_lift.unwrap().low > 0.0, "{more:?}");
        assert!(more[0].p_value.unwrap() < 0.05);
        // Each experiment is checked for a sample ratio mismatch; "lonely" has one variant.
        assert_eq!(srm.len(), 2, "{srm:?}");
        let r = srm.iter().find(|c| c.mutation_id == "r").unwrap();
        assert!(!r.flagged && close(r.p_value, 1.0), "an even split: {r:?}");
        let skewed = vec![row("s", "a", 1000, 100), row("s", "b", 1300, 100)];
        let (_, srm) = compare(&skewed, |_| vec![("a".into(), 0.5), ("b".into(), 0.5)]);
        assert!(srm[0].flagged, "{srm:?}");
        // A bandit's split is not checked (its weights move): no flag, however skewed.
        let (out, srm) = compare(&skewed, |_| {
            vec![("a".into(), f64::NAN), ("b".into(), f64::NAN)]
        });
        assert!(srm.is_empty() && out.len() == 1, "{srm:?}");
        // A control variant is the baseline whatever the order.
        let rows = vec![row("r", "control", 100, 10), row("r", "a", 100, 11)];
        let (out, _) = compare(&rows, |_| vec![("a".into(), 0.5), ("control".into(), 0.5)]);
        assert_eq!(out[0].baseline, "control");
        assert!(!out[0].significant);
    }

    #[test]
    fn ranges_are_checked() {
        let now = "2026-11-29T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert!(ReportQuery::default().range(now).is_ok());
        let q = ReportQuery {
            from: Some(now),
            to: Some(now - chrono::Duration::hours(1)),
            ..ReportQuery::default()
        };
        assert!(q.range(now).unwrap_err().starts_with("from"));
        let q = ReportQuery {
            from: Some(now - chrono::Duration::days(400)),
            ..ReportQuery::default()
        };
        assert!(q.range(now).is_err());
        let q = ReportQuery {
            page: Some(String::new()),
            ..ReportQuery::default()
        };
        assert!(q.range(now).unwrap_err().starts_with("page"));
    }

    #[test]
    fn the_decision_engine_reads_the_report_with_the_baseline_first() {
        use crate::stats::decision::Decision;
        let rule: crate::mutation::LayoutMutation = serde_json::from_value(serde_json::json!({
            "id": "r", "layoutId": "home", "pageSlug": "home", "mutationType": "variant",
            "mutationPayload": {}, "layer": "module", "priority": 0, "version": 1,
            "createdBy": "user:a", "timestamp": "2026-11-01T00:00:00Z", "isActive": true,
            "conditions": {}, "trigger": {"type": "pageLoad"},
            "experiment": {"key": "r", "variants": [
                {"key": "b", "weight": 0.5, "payload": []},
                {"key": "control", "weight": 0.5, "payload": []}
            ]}
        }))
        .unwrap();
        let report = |to: &str, b: u64| LayoutReport {
            from: "2026-10-20T00:00:00Z".parse().unwrap(),
            to: to.parse().unwrap(),
            rows: vec![row("r", "control", 20_000, 2_000), row("r", "b", 20_000, b)],
            days: vec![],
            comparisons: vec![],
            srm: vec![],
        };
        let early = report("2026-11-03T00:00:00Z", 2_600)
            .decision(&rule, rule.timestamp)
            .unwrap();
        assert!(
            matches!(&early, Decision::Wait { why } if why.contains("2 of at least 7 days")),
            "{early:?}"
        );
        match report("2026-11-20T00:00:00Z", 2_600)
            .decision(&rule, rule.timestamp)
            .unwrap()
        {
            Decision::Promote { variant, .. } => {
                assert_eq!(variant, "b", "control is the baseline")
            }
            other => panic!("{other:?}"),
        }
        let d = report("2026-11-20T00:00:00Z", 2_000)
            .decision(&rule, rule.timestamp)
            .unwrap();
        assert!(
            d.describe().starts_with("wait: no arm differs"),
            "{}",
            d.describe()
        );
    }

    #[test]
    fn revenue_can_be_the_goal_and_errors_a_guardrail() {
        use crate::stats::decision::{Decision, Metric, Policy};
        let rule: crate::mutation::LayoutMutation = serde_json::from_value(serde_json::json!({
            "id": "r", "layoutId": "home", "pageSlug": "home", "mutationType": "variant",
            "mutationPayload": {}, "layer": "module", "priority": 0, "version": 1,
            "createdBy": "user:a", "timestamp": "2026-11-01T00:00:00Z", "isActive": true,
            "experiment": {"key": "r", "variants": [
                {"key": "control", "weight": 0.5, "payload": []},
                {"key": "b", "weight": 0.5, "payload": []}
            ], "policy": {"goal": "revenue", "guardrails": ["errors"]}}
        }))
        .unwrap();
        // 20,000 visitors a side; one in ten orders for 50 (control) or 60 (b); errors per
        // exposure as given.
        let arm = |v: &str, price: f64, errors: u64| {
            let mut r = row("r", v, 20_000, 2_000);
            r.tally.revenue_sum = 2_000.0 * price;
            r.tally.revenue_sum_sq = 2_000.0 * price * price;
            r.tally.errors = errors;
            ImpactRow::from_tally(r.tally)
        };
        let report = |b_errors: u64| LayoutReport {
            from: "2026-10-20T00:00:00Z".parse().unwrap(),
            to: "2026-11-20T00:00:00Z".parse().unwrap(),
            rows: vec![arm("control", 50.0, 100), arm("b", 60.0, b_errors)],
            days: vec![],
            comparisons: vec![],
            srm: vec![],
        };
        let fine = report(105);
        let revenue = fine.rows[1].revenue_per_visitor.unwrap();
        assert!((revenue.value - 6.0).abs() < 1e-9, "{revenue:?}");
        assert!((fine.rows[1].error_rate.unwrap() - 105.0 / 20_000.0).abs() < 1e-12);
        match fine.decision(&rule, rule.timestamp).unwrap() {
            Decision::Promote { variant, lift, .. } => {
                assert_eq!(variant, "b");
                assert!((lift - 0.2).abs() < 1e-9, "{lift}");
            }
            other => panic!("{other:?}"),
        }
        // Four times the errors: the revenue winner is not promoted.
        let d = report(400).decision(&rule, rule.timestamp).unwrap();
        assert!(matches!(d, Decision::Wait { .. }), "{d:?}");
        // Nor from a clean baseline, nor when every page errs (more errors than exposures).
        for (base, b) in [(0, 300), (0, 20_000), (10, 60_000)] {
            let mut r = report(b);
            r.rows[0] = arm("control", 50.0, base);
            let d = r.decision(&rule, rule.timestamp).unwrap();
            assert!(matches!(d, Decision::Wait { .. }), "{base} → {b}: {d:?}");
        }
        // Errors are a guardrail only.
        let p = Policy {
            goal: Metric::Errors,
            guardrails: vec![],
            ..Policy::default()
        };
        assert_eq!(p.check().unwrap_err().0, "goal");
    }

    #[test]
    fn switched_off_variants_take_no_part_and_a_decided_experiment_is_not_decided_again() {
        use crate::stats::decision::Decision;
        let mut rule: crate::mutation::LayoutMutation = serde_json::from_value(serde_json::json!({
            "id": "r", "layoutId": "home", "pageSlug": "home", "mutationType": "variant",
            "mutationPayload": {}, "layer": "module", "priority": 0, "version": 3,
            "createdBy": "user:a", "timestamp": "2026-11-19T00:00:00Z", "isActive": true,
            "experiment": {"key": "r", "stopped": ["c"], "variants": [
                {"key": "control", "weight": 0.34, "payload": []},
                {"key": "b", "weight": 0.33, "payload": []},
                {"key": "c", "weight": 0.33, "payload": []}
            ]}
        }))
        .unwrap();
        // c stopped early with few visitors: it would fail the split check and the minimum
        // sample, yet the decision goes on between control and b.
        let report = LayoutReport {
            from: "2026-10-20T00:00:00Z".parse().unwrap(),
            to: "2026-11-20T00:00:00Z".parse().unwrap(),
            rows: vec![
                row("r", "control", 20_000, 2_000),
                row("r", "b", 20_000, 2_600),
                row("r", "c", 300, 10),
            ],
            days: vec![],
            comparisons: vec![],
            srm: vec![],
        };
        // Runtime counts from when the experiment began, not from the newest version.
        let started = "2026-11-01T00:00:00Z".parse().unwrap();
        assert!(matches!(
            report.decision(&rule, rule.timestamp),
            Some(Decision::Wait { .. })
        ));
        match report.decision(&rule, started) {
            Some(Decision::Promote { variant, .. }) => assert_eq!(variant, "b"),
            other => panic!("{other:?}"),
        }
        rule.experiment.as_mut().unwrap().winner = Some("b".into());
        assert_eq!(report.decision(&rule, started), None);
    }

    #[test]
    fn an_experiment_starts_at_the_oldest_version_of_its_unbroken_run() {
        let version = |v: u32, day: u32, key: Option<&str>| {
            let mut rule = serde_json::json!({
                "id": "r", "layoutId": "home", "pageSlug": "home", "mutationType": "hide",
                "mutationPayload": {"target": "hero"}, "layer": "module", "version": v,
                "createdBy": "user:a", "timestamp": format!("2026-11-{day:02}T00:00:00Z"), "isActive": true,
            });
            if let Some(k) = key {
                rule["mutationType"] = "variant".into();
                rule["mutationPayload"] = serde_json::json!({});
                rule["experiment"] =
                    serde_json::json!({"key": k, "variants": [{"key": "control", "weight": 1.0}]});
            }
            crate::rules::RuleVersion {
                rule: serde_json::from_value(rule).unwrap(),
                deleted: false,
                revision: crate::ids::Revision(u64::from(v)),
            }
        };
        let history = [
            version(5, 20, Some("x")),
            version(4, 10, Some("x")),
            version(3, 5, Some("old")),
            version(2, 3, Some("x")),
            version(1, 1, None),
        ];
        assert_eq!(
            experiment_started(&history),
            Some("2026-11-10T00:00:00Z".parse().unwrap())
        );
        assert_eq!(experiment_started(&history[4..]), None);
        // Saved switched off at first: it starts when it was switched on.
        let mut drafts = history.clone();
        drafts[1].rule.is_active = false;
        assert_eq!(
            experiment_started(&drafts),
            Some("2026-11-20T00:00:00Z".parse().unwrap())
        );
        drafts[0].rule.is_active = false;
        assert_eq!(
            experiment_started(&drafts[..2]),
            Some("2026-11-10T00:00:00Z".parse().unwrap()),
            "never on: the oldest"
        );
        assert_eq!(experiment_started(&[]), None);
    }

    #[test]
    fn daily_charts_cover_every_day_of_the_range_per_variant() {
        let day = |d: &str, v: &str, e: u64, c: u64| DayRow {
            day: d.into(),
            mutation_id: "r".into(),
            variant: v.into(),
            exposures: e,
            conversions: c,
            clicks: 0,
            new_units: 0,
            new_converted_units: 0,
        };
        let report = LayoutReport {
            from: "2026-11-01T10:00:00Z".parse().unwrap(),
            to: "2026-11-03T09:00:00Z".parse().unwrap(),
            rows: vec![
                row("r", "a", 30, 3),
                row("r", "b", 10, 5),
                row("other", "", 5, 0),
            ],
            days: vec![
                day("2026-11-01", "a", 20, 2),
                day("2026-11-03", "a", 10, 1),
                day("2026-11-02", "b", 10, 5),
            ],
            comparisons: vec![],
            srm: vec![],
        };
        let (exposures, conversion) = report.daily_charts("r");
        assert_eq!(exposures.x_labels, vec!["11-01", "11-02", "11-03"]);
        let names: Vec<&str> = exposures.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["a", "b"]);
        assert_eq!(
            exposures.series[0].values,
            vec![Some(20.0), Some(0.0), Some(10.0)]
        );
        assert_eq!(conversion.series[0].values[1], None);
        assert!(close(conversion.series[1].values[1].unwrap(), 0.5));
        let (lo, hi) = conversion.series[1].band[1].unwrap();
        assert!(lo < 0.5 && hi > 0.5);
        assert_eq!(conversion.unit, crate::chart::Unit::Percent);
    }
}
