//! Experiment statistics, computed as GrowthBook's statistics engine (`gbstats` 0.8) does, so
//! an analyst can check Cortex's numbers against it (CI does: `core/tests/gbstats-oracle.py`
//! answers the fixtures in `core/tests/fixtures/stats.json` and `core/tests/stats_parity.rs`
//! requires agreement to 1e-6).
//!
//! - [`statistic`]: what is measured per arm (a proportion, a mean, a ratio by the delta
//!   method, a mean adjusted with pre-exposure data as CUPED does).
//! - [`frequentist`]: Welch's t-test, fixed horizon or sequential (always-valid confidence
//!   sequences, so looking every day does not inflate false positives).
//! - [`bayesian`]: the effect posterior (flat or proper Gaussian prior): chance to beat
//!   control, credible interval, expected loss.
//! - [`srm`]: the sample ratio mismatch check.
//! - [`corrections`]: Holm and Benjamini–Hochberg adjustments for many arms and metrics.
//! - [`decision`]: what the engine may decide by itself (promote, demote, wait, blocked).
//! - [`bandit`]: allocation by Thompson sampling, with a floor share per arm.

pub mod bandit;
pub mod bayesian;
pub mod corrections;
pub mod decision;
pub mod frequentist;
pub mod guard;
pub mod srm;
pub mod statistic;

pub use statistic::Statistic;

/// How the effect is expressed: `(b - a) / a` (relative) or `b - a` (absolute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Difference {
    Relative,
    Absolute,
}

/// Why a comparison could not be made; the result is then uninformative (as gbstats').
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NoResult {
    /// The baseline's mean is zero: a relative effect has no meaning.
    ZeroNegativeBaselineVariation,
    /// An arm has no variance (or a negative one): nothing to test.
    ZeroNegativeVariance,
    /// An arm has no units.
    NoUnitsInVariation,
}

/// The effect of an arm against the baseline and its variance, by the delta method for
/// relative effects (gbstats' `frequentist_diff` and `frequentist_variance`).
pub(crate) fn effect(a: &Statistic, b: &Statistic, difference: Difference) -> (f64, f64) {
    let (ma, mb) = (a.mean(), b.mean());
    let (ua, ub) = (a.unadjusted_mean(), b.unadjusted_mean());
    let (va, vb) = (a.variance(), b.variance());
    let (na, nb) = (a.n() as f64, b.n() as f64);
    match difference {
        Difference::Relative => {
            // gbstats divides by the unadjusted baseline unless it is zero.
            let base = if ua != 0.0 { ua } else { ma };
            (
                (mb - ma) / base,
                vb / (ua * ua * nb) + va * ub * ub / (ua.powi(4) * na),
            )
        }
        Difference::Absolute => (mb - ma, vb / nb + va / na),
    }
}

/// The checks gbstats makes before comparing two arms.
pub(crate) fn precheck(
    a: &Statistic,
    b: &Statistic,
    difference: Difference,
    bayesian: bool,
) -> Option<NoResult> {
    let zero_baseline = a.mean() == 0.0 || a.unadjusted_mean() == 0.0;
    if zero_baseline && (difference == Difference::Relative || !bayesian) {
        return Some(NoResult::ZeroNegativeBaselineVariation);
    }
    if bayesian && (a.n() == 0 || b.n() == 0) {
        return Some(NoResult::NoUnitsInVariation);
    }
    if a.variance() <= 0.0 || b.variance() <= 0.0 {
        return Some(NoResult::ZeroNegativeVariance);
    }
    None
}
