//! Welch's t-test on the effect of an arm against the baseline, as gbstats'
//! `TwoSidedTTest`, and its sequential form (`SequentialTwoSidedTTest`): an always-valid
//! confidence sequence (Waudby-Smith et al. 2023, eq. 9) and its p-value (eq. 155), which
//! stay valid however often someone, or the automation, looks.

use serde::{Deserialize, Serialize};
use statrs::distribution::{Continuous, ContinuousCDF, StudentsT};

use super::{effect, precheck, Difference, NoResult, Statistic};

/// gbstats' default tuning of the confidence sequence: the sample size it is tightest at.
pub const SEQUENTIAL_TUNING: f64 = 5000.0;

/// A frequentist comparison of an arm with the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrequentistResult {
    /// The effect (relative or absolute).
    pub expected: f64,
    /// The confidence interval at `1 - alpha`.
    pub ci: (f64, f64),
    pub p_value: f64,
    /// Standard error of the effect.
    pub stddev: f64,
    /// Why there is no result (then the numbers are uninformative zeros, p-value 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_result: Option<NoResult>,
}

impl FrequentistResult {
    fn none(why: NoResult) -> Self {
        Self {
            expected: 0.0,
            ci: (0.0, 0.0),
            p_value: 1.0,
            stddev: 0.0,
            no_result: Some(why),
        }
    }
}

/// Welch–Satterthwaite degrees of freedom.
fn dof(a: &Statistic, b: &Statistic) -> f64 {
    let (va, vb) = (a.variance(), b.variance());
    let (na, nb) = (a.n() as f64, b.n() as f64);
    (vb / nb + va / na).powi(2)
        / (vb.powi(2) / (nb.powi(2) * (nb - 1.0)) + va.powi(2) / (na.powi(2) * (na - 1.0)))
}

fn student(dof: f64) -> Option<StudentsT> {
    StudentsT::new(0.0, 1.0, dof).ok()
}

/// The quantile of `t` at `p`: statrs' estimate (good to about 1e-6), polished by Newton's
/// method on its far more exact CDF, so intervals agree with scipy's to 1e-9.
fn quantile(t: &StudentsT, p: f64) -> f64 {
    let mut x = t.inverse_cdf(p);
    for _ in 0..4 {
        let density = t.pdf(x);
        if density.is_nan() || density <= 0.0 {
            break;
        }
        let step = (t.cdf(x) - p) / density;
        x -= step;
        if step.abs() < 1e-14 * x.abs().max(1.0) {
            break;
        }
    }
    x
}

/// The fixed-horizon two-sided test: valid for one look at a sample size set in advance.
pub fn two_sided(
    a: &Statistic,
    b: &Statistic,
    difference: Difference,
    alpha: f64,
) -> FrequentistResult {
    let (a, b) = Statistic::adjusted_pair(a, b);
    if let Some(why) = precheck(&a, &b, difference, false) {
        return FrequentistResult::none(why);
    }
    let (expected, variance) = effect(&a, &b, difference);
    let sd = variance.sqrt();
    let Some(t) = student(dof(&a, &b)) else {
        return FrequentistResult::none(NoResult::ZeroNegativeVariance);
    };
    let z = (expected / sd).abs();
    let width = quantile(&t, 1.0 - alpha / 2.0) * sd;
    FrequentistResult {
        expected,
        ci: (expected - width, expected + width),
        p_value: 2.0 * (1.0 - t.cdf(z)),
        stddev: sd,
        no_result: None,
    }
}

/// The sequential test: its interval and p-value hold at every look, so results can be
/// read (and acted on) every day without inflating false positives.
pub fn sequential(
    a: &Statistic,
    b: &Statistic,
    difference: Difference,
    alpha: f64,
    tuning: f64,
) -> FrequentistResult {
    let (a, b) = Statistic::adjusted_pair(a, b);
    if let Some(why) = precheck(&a, &b, difference, false) {
        return FrequentistResult::none(why);
    }
    let (expected, variance) = effect(&a, &b, difference);
    let n = (a.n() + b.n()) as f64;
    let rho = ((-2.0 * alpha.ln() + (-2.0 * alpha.ln() + 1.0).ln()) / tuning).sqrt();
    let s2 = variance * n;
    let nr2p1 = n * rho * rho + 1.0;
    let width =
        s2.sqrt() * ((2.0 * nr2p1) * (nr2p1.sqrt() / alpha).ln() / (n * rho).powi(2)).sqrt();
    let st2 = expected * expected * n / variance;
    let evalue = (rho * rho * st2 / (2.0 * nr2p1)).exp() / nr2p1.sqrt();
    FrequentistResult {
        expected,
        ci: (expected - width, expected + width),
        p_value: (1.0 / evalue).min(1.0),
        stddev: variance.sqrt(),
        no_result: None,
    }
}
