//! The effect posterior of an arm against the baseline, as gbstats' `EffectBayesianABTest`:
//! a normal approximation of the effect, with a flat prior (the default) or a proper
//! Gaussian one; the chance to beat the baseline, the credible interval and the expected
//! loss ("risk") of choosing either.

use serde::{Deserialize, Serialize};
use statrs::distribution::{Continuous, ContinuousCDF, Normal};

use super::{effect, precheck, Difference, NoResult, Statistic};

/// A Gaussian prior on the effect, expressed as a relative effect (gbstats' default
/// `prior_type`): for an absolute comparison it is scaled by the baseline's mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prior {
    pub mean: f64,
    pub variance: f64,
}

/// A Bayesian comparison of an arm with the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BayesianResult {
    /// The posterior mean of the effect.
    pub expected: f64,
    /// The credible interval at `1 - alpha`.
    pub ci: (f64, f64),
    /// The chance the arm beats the baseline (for a metric where higher is better).
    pub chance_to_win: f64,
    /// Expected loss of keeping the baseline, and of choosing the arm.
    pub risk: (f64, f64),
    pub stddev: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_result: Option<NoResult>,
}

impl BayesianResult {
    fn none(why: NoResult) -> Self {
        Self {
            expected: 0.0,
            ci: (0.0, 0.0),
            chance_to_win: 0.5,
            risk: (0.0, 0.0),
            stddev: 0.0,
            no_result: Some(why),
        }
    }
}

/// Compares `b` with the baseline `a`; `prior: None` is the flat prior.
pub fn effect_test(
    a: &Statistic,
    b: &Statistic,
    difference: Difference,
    alpha: f64,
    prior: Option<Prior>,
) -> BayesianResult {
    let (a, b) = Statistic::adjusted_pair(a, b);
    if let Some(why) = precheck(&a, &b, difference, true) {
        return BayesianResult::none(why);
    }
    let (data_mean, data_variance) = effect(&a, &b, difference);
    let base = a.unadjusted_mean();
    let prior = prior.map(|p| match difference {
        Difference::Relative => p,
        Difference::Absolute => Prior {
            mean: p.mean * base.abs(),
            variance: p.variance * base * base,
        },
    });
    let (mean, precision) = match prior {
        None => (data_mean, 1.0 / data_variance),
        Some(p) => {
            let precision = 1.0 / data_variance + 1.0 / p.variance;
            (
                (data_mean / data_variance + p.mean / p.variance) / precision,
                precision,
            )
        }
    };
    let sd = (1.0 / precision).sqrt();
    let Ok(posterior) = Normal::new(mean, sd) else {
        return BayesianResult::none(NoResult::ZeroNegativeVariance);
    };
    BayesianResult {
        expected: mean,
        ci: (
            posterior.inverse_cdf(alpha / 2.0),
            posterior.inverse_cdf(1.0 - alpha / 2.0),
        ),
        chance_to_win: posterior.sf(0.0),
        risk: risk(mean, sd),
        stddev: sd,
        no_result: None,
    }
}

/// gbstats' `get_risk`: the expected loss of keeping the baseline (the arm's expected gain
/// where it is better) and of choosing the arm (its expected loss where it is worse), from
/// the means of the posterior truncated at zero.
fn risk(mu: f64, sigma: f64) -> (f64, f64) {
    let std = Normal::standard();
    let beta = -mu / sigma;
    let below = std.cdf(beta); // P(effect < 0)
    let above = std.sf(beta);
    let pdf = std.pdf(beta);
    // Means of the normal truncated to (-inf, 0] and to [0, inf).
    let mean_negative = mu - sigma * pdf / below;
    let mean_positive = mu + sigma * pdf / above;
    let keep_baseline = if above > 0.0 {
        above * mean_positive
    } else {
        0.0
    };
    let choose_arm = if below > 0.0 {
        -(below * mean_negative)
    } else {
        0.0
    };
    (keep_baseline, choose_arm)
}
