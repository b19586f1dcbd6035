//! What the engine may decide about an experiment on its own, from the numbers alone: keep
//! waiting, promote a winner, switch a loser off, or refuse to decide (a sample ratio
//! mismatch). Conservative by default: a minimum sample and runtime, the sequential test
//! (valid at every daily look), a Holm correction across the arms, and guardrails that veto
//! a winner that hurts them. `core/tests/decision_simulation.rs` shows what this gives on
//! simulated experiments (false promotions, power, days to decide).

use serde::{Deserialize, Serialize};

use super::corrections::{adjust, Correction};
use super::frequentist::{sequential, SEQUENTIAL_TUNING};
use super::{srm, Difference, Statistic};

/// Whether the engine acts or only suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// Suggest only: an editor decides.
    #[default]
    Manual,
    /// Act: promote winners and switch losers off by itself.
    Auto,
}

/// A metric an experiment is judged on, as the report counts it per variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Metric {
    /// Visitors who converted / visitors exposed (higher is better).
    #[default]
    Conversion,
    /// Mean dwell per dwell report, ms (higher is better).
    Dwell,
    /// Clicks per exposure (higher is better).
    Clicks,
    /// Revenue (the values of conversions servers report) per visitor exposed (higher is
    /// better).
    Revenue,
    /// Error events per exposure (lower is better): a guardrail only.
    Errors,
}

impl Metric {
    /// Every metric, as the rule form lists them.
    pub const ALL: [Metric; 5] = [
        Metric::Conversion,
        Metric::Dwell,
        Metric::Clicks,
        Metric::Revenue,
        Metric::Errors,
    ];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Conversion => "conversion",
            Metric::Dwell => "dwell",
            Metric::Clicks => "clicks",
            Metric::Revenue => "revenue",
            Metric::Errors => "errors",
        }
    }

    /// More is better (all but errors).
    pub fn higher_is_better(self) -> bool {
        self != Metric::Errors
    }

    /// The metric with this JSON name.
    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// Bounds an editor may set a policy within.
pub const ALPHA_RANGE: (f64, f64) = (0.001, 0.2);
/// Fewest units per arm a policy may ask for (fewer makes the tests unreliable).
pub const MIN_UNITS_FLOOR: u64 = 100;
/// Longest minimum runtime, days.
pub const MAX_MIN_DAYS: u32 = 365;

/// A rule's decision policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Policy {
    pub mode: Mode,
    /// What a winner must improve.
    pub goal: Metric,
    /// What a winner must not make significantly worse.
    pub guardrails: Vec<Metric>,
    /// The error rate of the sequential test (two-sided), before the Holm correction.
    pub alpha: f64,
    /// Units each arm needs before anything is decided.
    pub min_units_per_arm: u64,
    /// Days the experiment must run before anything is decided (a week covers weekdays).
    pub min_days: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            mode: Mode::Manual,
            goal: Metric::Conversion,
            guardrails: vec![Metric::Dwell],
            alpha: 0.05,
            min_units_per_arm: 1000,
            min_days: 7,
        }
    }
}

impl Policy {
    /// `auto` or `manual`.
    pub fn mode_str(&self) -> &'static str {
        match self.mode {
            Mode::Auto => "auto",
            Mode::Manual => "manual",
        }
    }

    /// Why this policy cannot be saved (the field and what to fix), if it cannot.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let (lo, hi) = ALPHA_RANGE;
        if !(lo..=hi).contains(&self.alpha) {
            return Err(("alpha", format!("must be between {lo} and {hi}")));
        }
        if self.min_units_per_arm < MIN_UNITS_FLOOR || self.min_units_per_arm > 1_000_000_000 {
            return Err((
                "minUnitsPerArm",
                format!("must be between {MIN_UNITS_FLOOR} and 1000000000"),
            ));
        }
        if self.min_days == 0 || self.min_days > MAX_MIN_DAYS {
            return Err(("minDays", format!("must be between 1 and {MAX_MIN_DAYS}")));
        }
        if !self.goal.higher_is_better() {
            return Err((
                "goal",
                format!(
                    "{} can only be a guardrail: a goal is a metric a winner raises",
                    self.goal.as_str()
                ),
            ));
        }
        if self.guardrails.contains(&self.goal) {
            return Err((
                "guardrails",
                format!(
                    "{} is the goal; a guardrail watches another metric",
                    self.goal.as_str()
                ),
            ));
        }
        let mut seen = self.guardrails.clone();
        seen.sort_by_key(|m| m.as_str());
        seen.dedup();
        if seen.len() != self.guardrails.len() {
            return Err(("guardrails", "each metric at most once".into()));
        }
        Ok(())
    }
}

/// A guardrail metric of one arm: its statistic and whether higher is better (dwell) or
/// worse (errors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Guardrail {
    pub name: String,
    pub statistic: Statistic,
    pub higher_is_better: bool,
}

/// One arm: its key, its weight, the visitors assigned to it, the goal metric and its
/// guardrails (the same names in the same order for every arm). The first arm is the
/// baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arm {
    pub key: String,
    pub weight: f64,
    /// Visitors assigned (exposed): what the split check and the minimum sample count, whatever
    /// the goal measures per visitor (a dwell metric has several reports per visitor).
    pub units: u64,
    pub goal: Statistic,
    #[serde(default)]
    pub guardrails: Vec<Guardrail>,
}

/// What the engine decides, with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "decision",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Decision {
    /// Not yet: why.
    Wait { why: String },
    /// The assignment is broken: no decision until it is fixed.
    Blocked { srm_p_value: f64 },
    /// `variant` beats the baseline on the goal and hurts no guardrail.
    Promote {
        variant: String,
        lift: f64,
        ci: (f64, f64),
        p_value: f64,
    },
    /// `variant` is worse than the baseline on the goal: switch it off.
    Demote {
        variant: String,
        lift: f64,
        ci: (f64, f64),
        p_value: f64,
    },
}

impl Decision {
    /// Its JSON tag: `wait`, `blocked`, `promote` or `demote`.
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::Wait { .. } => "wait",
            Decision::Blocked { .. } => "blocked",
            Decision::Promote { .. } => "promote",
            Decision::Demote { .. } => "demote",
        }
    }

    /// What carrying it out does, as `promote b` or `demote b`; none for a wait or a block.
    pub fn action(&self) -> Option<String> {
        match self {
            Decision::Promote { variant, .. } => Some(format!("promote {variant}")),
            Decision::Demote { variant, .. } => Some(format!("demote {variant}")),
            Decision::Wait { .. } | Decision::Blocked { .. } => None,
        }
    }

    /// The decision in words, e.g. "promote b: +12.3 % [+4.1 %, +20.5 %], p = 0.004".
    pub fn describe(&self) -> String {
        match self {
            Decision::Wait { why } => format!("wait: {why}"),
            Decision::Blocked { srm_p_value } => format!(
                "blocked: visitors are not split as the weights say (sample ratio mismatch, p = {srm_p_value:.5})"
            ),
            Decision::Promote {
                variant,
                lift,
                ci,
                p_value,
            } => format!("promote {variant}: {}", evidence(*lift, *ci, *p_value)),
            Decision::Demote {
                variant,
                lift,
                ci,
                p_value,
            } => format!("switch {variant} off: {}", evidence(*lift, *ci, *p_value)),
        }
    }
}

/// "+12.3 % [+4.1 %, +20.5 %], p = 0.004".
fn evidence(lift: f64, ci: (f64, f64), p_value: f64) -> String {
    let pct = |x: f64| format!("{:+.1} %", x * 100.0);
    format!(
        "{} [{}, {}], p = {p_value:.3}",
        pct(lift),
        pct(ci.0),
        pct(ci.1)
    )
}

/// Decides on an experiment that has run `days` days so far.
pub fn decide(arms: &[Arm], days: u32, policy: &Policy) -> Decision {
    let Some((baseline, rest)) = arms.split_first() else {
        return Decision::Wait {
            why: "no arms".into(),
        };
    };
    if rest.is_empty() {
        return Decision::Wait {
            why: "one arm: nothing to compare".into(),
        };
    }
    let users: Vec<u64> = arms.iter().map(|a| a.units).collect();
    let weights: Vec<f64> = arms.iter().map(|a| a.weight).collect();
    let p = srm::check(&users, &weights);
    if p < srm::SRM_THRESHOLD {
        return Decision::Blocked { srm_p_value: p };
    }
    if days < policy.min_days {
        return Decision::Wait {
            why: format!("running {days} of at least {} days", policy.min_days),
        };
    }
    if let Some(short) = arms.iter().find(|a| a.units < policy.min_units_per_arm) {
        return Decision::Wait {
            why: format!(
                "{} has {} of at least {} units",
                short.key, short.units, policy.min_units_per_arm
            ),
        };
    }
    let tests: Vec<_> = rest
        .iter()
        .map(|arm| {
            sequential(
                &baseline.goal,
                &arm.goal,
                Difference::Relative,
                policy.alpha,
                SEQUENTIAL_TUNING,
            )
        })
        .collect();
    let p_values: Vec<f64> = tests.iter().map(|t| t.p_value).collect();
    let adjusted = adjust(&p_values, Correction::Holm);
    // Winners: significant after the correction, better, and no guardrail significantly
    // worse. The largest lift wins.
    let mut best: Option<(usize, f64)> = None;
    let mut worst: Option<(usize, f64)> = None;
    for (i, (t, p)) in tests.iter().zip(&adjusted).enumerate() {
        if t.no_result.is_some() || *p >= policy.alpha {
            continue;
        }
        if t.expected > 0.0 {
            let hurts = rest[i]
                .guardrails
                .iter()
                .zip(&baseline.guardrails)
                .any(|(g, base)| {
                    guardrail_worse(
                        &base.statistic,
                        &g.statistic,
                        g.higher_is_better,
                        policy.alpha,
                    )
                });
            if !hurts && best.is_none_or(|(_, l)| t.expected > l) {
                best = Some((i, t.expected));
            }
        } else if worst.is_none_or(|(_, l)| t.expected < l) {
            worst = Some((i, t.expected));
        }
    }
    let verdict = |i: usize| {
        let t = &tests[i];
        (rest[i].key.clone(), t.expected, t.ci, adjusted[i])
    };
    if let Some((i, _)) = best {
        let (variant, lift, ci, p_value) = verdict(i);
        return Decision::Promote {
            variant,
            lift,
            ci,
            p_value,
        };
    }
    if let Some((i, _)) = worst {
        let (variant, lift, ci, p_value) = verdict(i);
        return Decision::Demote {
            variant,
            lift,
            ci,
            p_value,
        };
    }
    Decision::Wait {
        why: "no arm differs from the baseline yet".into(),
    }
}

/// Whether the arm is significantly worse than the baseline on a guardrail. A metric where
/// lower is better (errors) is compared as an absolute difference: its baseline is often
/// near zero, where a relative change says nothing.
fn guardrail_worse(base: &Statistic, arm: &Statistic, higher_is_better: bool, alpha: f64) -> bool {
    let difference = if higher_is_better {
        Difference::Relative
    } else {
        Difference::Absolute
    };
    let t = sequential(base, arm, difference, alpha, SEQUENTIAL_TUNING);
    if t.no_result.is_some() {
        return false;
    }
    if higher_is_better {
        t.ci.1 < 0.0
    } else {
        t.ci.0 > 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(key: &str, n: u64, converted: f64) -> Arm {
        Arm {
            key: key.into(),
            weight: 0.5,
            units: n,
            goal: Statistic::Proportion { n, sum: converted },
            guardrails: vec![],
        }
    }

    #[test]
    fn waits_for_days_and_units_then_promotes_a_clear_winner() {
        let policy = Policy::default();
        let arms = [arm("control", 20_000, 2_000.0), arm("b", 20_000, 2_600.0)];
        assert!(matches!(decide(&arms, 3, &policy), Decision::Wait { .. }));
        let small = [arm("control", 500, 50.0), arm("b", 500, 80.0)];
        assert!(matches!(decide(&small, 10, &policy), Decision::Wait { .. }));
        match decide(&arms, 10, &policy) {
            Decision::Promote {
                variant, lift, ci, ..
            } => {
                assert_eq!(variant, "b");
                assert!((lift - 0.3).abs() < 1e-9 && ci.0 > 0.0);
            }
            other => panic!("{other:?}"),
        }
        let losing = [arm("control", 20_000, 2_600.0), arm("b", 20_000, 2_000.0)];
        assert!(matches!(
            decide(&losing, 10, &policy),
            Decision::Demote { .. }
        ));
    }

    #[test]
    fn the_kind_is_the_json_tag() {
        let d = Decision::Wait { why: "w".into() };
        assert_eq!(serde_json::to_value(&d).unwrap()["decision"], d.kind());
        let b = Decision::Blocked { srm_p_value: 0.0 };
        assert_eq!(serde_json::to_value(&b).unwrap()["decision"], b.kind());
    }

    #[test]
    fn a_broken_split_blocks_every_decision() {
        let arms = [arm("control", 20_000, 2_000.0), arm("b", 23_000, 3_000.0)];
        assert!(matches!(
            decide(&arms, 10, &Policy::default()),
            Decision::Blocked { .. }
        ));
    }

    #[test]
    fn a_winner_that_hurts_a_guardrail_is_not_promoted() {
        let errors = |n: u64, e: f64| Guardrail {
            name: "errors".into(),
            statistic: Statistic::Proportion { n, sum: e },
            higher_is_better: false,
        };
        let mut base = arm("control", 20_000, 2_000.0);
        base.guardrails = vec![errors(20_000, 100.0)];
        let mut b = arm("b", 20_000, 2_600.0);
        b.guardrails = vec![errors(20_000, 400.0)];
        assert!(matches!(
            decide(&[base.clone(), b], 10, &Policy::default()),
            Decision::Wait { .. }
        ));
        let mut fine = arm("b", 20_000, 2_600.0);
        fine.guardrails = vec![errors(20_000, 105.0)];
        assert!(matches!(
            decide(&[base, fine], 10, &Policy::default()),
            Decision::Promote { .. }
        ));
    }
}
