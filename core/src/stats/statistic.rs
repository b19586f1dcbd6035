//! What one arm measured, as sums (so they can be added up as events arrive): a proportion,
//! a mean, a ratio of two per-unit sums (the delta method), or a mean adjusted with the same
//! units' pre-exposure values (CUPED). Means and variances follow gbstats' `statistics.py`.

use serde::{Deserialize, Serialize};

/// Sums of one per-unit quantity.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sums {
    pub sum: f64,
    pub sum_squares: f64,
}

impl Sums {
    fn mean(&self, n: u64) -> f64 {
        if n == 0 {
            0.0
        } else {
            self.sum / n as f64
        }
    }

    fn variance(&self, n: u64) -> f64 {
        if n <= 1 {
            return 0.0;
        }
        let n = n as f64;
        (self.sum_squares - self.sum * self.sum / n) / (n - 1.0)
    }
}

/// One arm's measurements of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Statistic {
    /// `sum` of `n` units converted (a 0/1 metric).
    Proportion { n: u64, sum: f64 },
    /// A numeric metric per unit (revenue, dwell).
    Mean { n: u64, sums: Sums },
    /// Numerator over denominator per unit (e.g. clicks per exposure), with the sum of
    /// their products for the covariance.
    Ratio {
        n: u64,
        numerator: Sums,
        denominator: Sums,
        products: f64,
    },
    /// A metric after exposure adjusted by the same units' value before it (CUPED); `theta`
    /// is set from both arms by [`Statistic::adjusted_pair`].
    Adjusted {
        n: u64,
        post: Sums,
        pre: Sums,
        products: f64,
        theta: f64,
    },
}

impl Statistic {
    /// `count` events over `n` units (errors over exposures, say) as a mean per unit with a
    /// Poisson count's variance (its mean), one event added: a side without any events has
    /// no variance to test against otherwise, and the added event pulls both sides toward
    /// each other (conservative). With no units, an empty mean.
    pub fn event_rate(n: u64, count: u64) -> Statistic {
        let sum = count as f64 + 1.0;
        let per = if n == 0 { 0.0 } else { sum / n as f64 };
        Statistic::Mean {
            n,
            sums: Sums {
                sum: if n == 0 { 0.0 } else { sum },
                // Σx² of a Poisson count per unit: n·(λ + λ²) = sum + sum²/n.
                sum_squares: if n == 0 { 0.0 } else { sum + sum * per },
            },
        }
    }

    /// Units measured.
    pub fn n(&self) -> u64 {
        match self {
            Statistic::Proportion { n, .. }
            | Statistic::Mean { n, .. }
            | Statistic::Ratio { n, .. }
            | Statistic::Adjusted { n, .. } => *n,
        }
    }

    /// The estimate (adjusted for CUPED).
    pub fn mean(&self) -> f64 {
        match self {
            Statistic::Proportion { n, sum } => {
                if *n == 0 {
                    0.0
                } else {
                    sum / *n as f64
                }
            }
            Statistic::Mean { n, sums } => sums.mean(*n),
            Statistic::Ratio {
                numerator,
                denominator,
                ..
            } => {
                if denominator.sum == 0.0 {
                    0.0
                } else {
                    numerator.sum / denominator.sum
                }
            }
            Statistic::Adjusted {
                n,
                post,
                pre,
                theta,
                ..
            } => post.mean(*n) - theta * pre.mean(*n),
        }
    }

    /// The mean before any adjustment.
    pub fn unadjusted_mean(&self) -> f64 {
        match self {
            Statistic::Adjusted { n, post, .. } => post.mean(*n),
            other => other.mean(),
        }
    }

    /// The variance of one unit's value.
    pub fn variance(&self) -> f64 {
        match self {
            Statistic::Proportion { .. } => {
                let p = self.mean();
                p * (1.0 - p)
            }
            Statistic::Mean { n, sums } => sums.variance(*n),
            Statistic::Ratio {
                n,
                numerator,
                denominator,
                products,
            } => {
                let dm = denominator.mean(*n);
                if dm == 0.0 || *n <= 1 {
                    return 0.0;
                }
                let mm = numerator.mean(*n);
                let cov = covariance(*n, numerator, denominator, *products);
                numerator.variance(*n) / dm.powi(2) - 2.0 * cov * mm / dm.powi(3)
                    + mm.powi(2) * denominator.variance(*n) / dm.powi(4)
            }
            Statistic::Adjusted {
                n,
                post,
                pre,
                products,
                theta,
            } => {
                if *n <= 1 {
                    return 0.0;
                }
                post.variance(*n) + theta * theta * pre.variance(*n)
                    - 2.0 * theta * covariance(*n, post, pre, *products)
            }
        }
    }

    /// Two arms ready to compare: CUPED arms get the `theta` that minimises the variance
    /// of both together (gbstats' `compute_theta`); without variance before or after, they
    /// fall back to the unadjusted metric.
    pub fn adjusted_pair(a: &Statistic, b: &Statistic) -> (Statistic, Statistic) {
        if let (
            Statistic::Adjusted {
                n: na,
                post: post_a,
                pre: pre_a,
                products: prod_a,
                ..
            },
            Statistic::Adjusted {
                n: nb,
                post: post_b,
                pre: pre_b,
                products: prod_b,
                ..
            },
        ) = (a, b)
        {
            let n = na + nb;
            let post = Sums {
                sum: post_a.sum + post_b.sum,
                sum_squares: post_a.sum_squares + post_b.sum_squares,
            };
            let pre = Sums {
                sum: pre_a.sum + pre_b.sum,
                sum_squares: pre_a.sum_squares + pre_b.sum_squares,
            };
            let theta = if pre.variance(n) == 0.0 || post.variance(n) == 0.0 {
                0.0
            } else {
                covariance(n, &post, &pre, prod_a + prod_b) / pre.variance(n)
            };
            let with = |s: &Statistic| match s {
                Statistic::Adjusted {
                    n,
                    post,
                    pre,
                    products,
                    ..
                } if theta != 0.0 => Statistic::Adjusted {
                    n: *n,
                    post: *post,
                    pre: *pre,
                    products: *products,
                    theta,
                },
                Statistic::Adjusted { n, post, .. } => Statistic::Mean { n: *n, sums: *post },
                other => other.clone(),
            };
            return (with(a), with(b));
        }
        (a.clone(), b.clone())
    }
}

fn covariance(n: u64, x: &Sums, y: &Sums, products: f64) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    let n = n as f64;
    (products - x.sum * y.sum / n) / (n - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportions_and_means_have_the_textbook_variance() {
        let p = Statistic::Proportion { n: 100, sum: 20.0 };
        assert_eq!(p.mean(), 0.2);
        assert!((p.variance() - 0.16).abs() < 1e-12);
        // 2, 4, 6: mean 4, sample variance 4.
        let m = Statistic::Mean {
            n: 3,
            sums: Sums {
                sum: 12.0,
                sum_squares: 56.0,
            },
        };
        assert_eq!(m.mean(), 4.0);
        assert!((m.variance() - 4.0).abs() < 1e-12);
        assert_eq!(Statistic::Proportion { n: 0, sum: 0.0 }.mean(), 0.0);
    }

    #[test]
    fn cuped_without_variance_falls_back_to_the_plain_mean() {
        let flat = Sums {
            sum: 10.0,
            sum_squares: 10.0,
        };
        let post = Sums {
            sum: 12.0,
            sum_squares: 56.0,
        };
        let arm = Statistic::Adjusted {
            n: 10,
            post,
            pre: flat,
            products: 12.0,
            theta: 0.0,
        };
        let (a, _) = Statistic::adjusted_pair(&arm, &arm);
        assert_eq!(a, Statistic::Mean { n: 10, sums: post });
    }
}
