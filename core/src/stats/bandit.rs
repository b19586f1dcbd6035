//! Allocation by a multi-armed bandit: Thompson sampling with a floor share per arm. Each
//! arm's goal metric gives a posterior (a Beta for a conversion rate, a normal for a mean);
//! the share of random draws in which an arm is the best is its chance to be best, and its
//! next weight is that chance, squeezed so that every arm keeps at least the floor (an arm
//! that looks bad early can still recover). Draws are seeded, so the same numbers give the
//! same weights on every hub.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::{Beta, Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::Statistic;

/// How a bandit experiment moves its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Bandit {
    /// The least weight any arm keeps, 0 to 1 / arms (default 0.05).
    pub floor: f64,
    /// Hours between two weight changes (default 24, 1 to 168).
    pub interval_hours: u32,
    /// Visitors every arm needs before the first weight change (burn-in; default 100).
    pub min_units_per_arm: u64,
}

impl Default for Bandit {
    fn default() -> Self {
        Self {
            floor: 0.05,
            interval_hours: 24,
            min_units_per_arm: 100,
        }
    }
}

/// Random draws per weight change: the chance to be best is then known to about ±0.005.
pub const DRAWS: usize = 10_000;

/// Weights are written with this many decimals.
const DECIMALS: f64 = 10_000.0;

impl Bandit {
    /// Why this setting cannot be used with `arms` arms (the field and what to fix), if so.
    pub fn check(&self, arms: usize) -> Result<(), (&'static str, String)> {
        let most = 1.0 / arms.max(1) as f64;
        if !(0.0..=most).contains(&self.floor) {
            return Err((
                "floor",
                format!("between 0 and {most:.4} (1 / the number of variants)"),
            ));
        }
        if !(1..=168).contains(&self.interval_hours) {
            return Err(("intervalHours", "1 to 168 hours".into()));
        }
        if self.min_units_per_arm > 10_000_000 {
            return Err(("minUnitsPerArm", "at most 10,000,000".into()));
        }
        Ok(())
    }

    /// The next weights for arms measuring `goals` (each arm's goal metric, in the rule's
    /// order; `None` when the arm is switched off and gets no weight), and each arm's chance
    /// to be best. `None` while an arm has fewer than `min_units_per_arm` units or a mean
    /// metric has too few values to know its spread. `seed` picks the draws.
    pub fn weights(&self, goals: &[Option<Statistic>], seed: u64) -> Option<Allocation> {
        let live: Vec<(usize, &Statistic)> = goals
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.as_ref().map(|g| (i, g)))
            .collect();
        if live.len() < 2 || live.iter().any(|(_, g)| g.n() < self.min_units_per_arm) {
            return None;
        }
        let best = chance_to_be_best(&live.iter().map(|(_, g)| *g).collect::<Vec<_>>(), seed)?;
        let floor = self.floor.min(1.0 / live.len() as f64);
        let spare = 1.0 - floor * live.len() as f64;
        let mut weights = vec![0.0; goals.len()];
        let mut chance = vec![0.0; goals.len()];
        for (&(i, _), p) in live.iter().zip(&best) {
            weights[i] = ((floor + spare * p) * DECIMALS).round() / DECIMALS;
            chance[i] = p.clamp(0.0, 1.0);
        }
        // Rounding can leave the sum a few ten-thousandths off 1: the largest weight absorbs it.
        let total: f64 = weights.iter().sum();
        if let Some(top) = weights.iter_mut().max_by(|a, b| a.total_cmp(b)) {
            *top = ((*top + 1.0 - total) * DECIMALS).round() / DECIMALS;
        }
        Some(Allocation { weights, chance })
    }
}

/// A bandit's next weights and each arm's chance to be best (both in the rule's order).
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub weights: Vec<f64>,
    pub chance: Vec<f64>,
}

/// Each arm's chance to have the highest true value of its metric, by [`DRAWS`] draws from
/// each posterior: a proportion's is Beta(1 + conversions, 1 + the others); a mean's is the
/// normal around it with its standard error. `None` if a mean has fewer than two values.
pub fn chance_to_be_best(arms: &[&Statistic], seed: u64) -> Option<Vec<f64>> {
    enum Posterior {
        Beta(Beta<f64>),
        Normal(Normal<f64>),
    }
    let posteriors = arms
        .iter()
        .map(|s| match s {
            Statistic::Proportion { n, sum } => {
                let sum = sum.clamp(0.0, *n as f64);
                Beta::new(1.0 + sum, 1.0 + *n as f64 - sum)
                    .ok()
                    .map(Posterior::Beta)
            }
            other => {
                if other.n() < 2 {
                    return None;
                }
                let se = (other.variance().max(0.0) / other.n() as f64).sqrt();
                Normal::new(other.mean(), se).ok().map(Posterior::Normal)
            }
        })
        .collect::<Option<Vec<_>>>()?;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut wins = vec![0f64; arms.len()];
    let mut tied = Vec::with_capacity(arms.len());
    for _ in 0..DRAWS {
        let mut best = f64::NEG_INFINITY;
        tied.clear();
        for (i, p) in posteriors.iter().enumerate() {
            let x = match p {
                Posterior::Beta(b) => b.sample(&mut rng),
                Posterior::Normal(n) => n.sample(&mut rng),
            };
            if x > best {
                best = x;
                tied.clear();
            }
            if x == best {
                tied.push(i);
            }
        }
        // Equal draws (arms without spread) share the win.
        for &i in &tied {
            wins[i] += 1.0 / tied.len() as f64;
        }
    }
    Some(wins.iter().map(|&w| w / DRAWS as f64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(n: u64, conversions: u64) -> Option<Statistic> {
        Some(Statistic::Proportion {
            n,
            sum: conversions as f64,
        })
    }

    #[test]
    fn a_clear_winner_takes_all_but_the_floors() {
        let b = Bandit::default();
        let a = b
            .weights(&[rate(2_000, 200), rate(2_000, 300), rate(2_000, 190)], 7)
            .unwrap();
        assert_eq!(a.weights, vec![0.05, 0.9, 0.05]);
        assert!(a.chance[1] > 0.999, "{:?}", a.chance);
        assert!((a.weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn equal_arms_share_equally_and_the_same_seed_gives_the_same_weights() {
        let b = Bandit::default();
        let goals = [rate(5_000, 500), rate(5_000, 500)];
        let a = b.weights(&goals, 1).unwrap();
        assert!((a.weights[0] - 0.5).abs() < 0.03, "{:?}", a.weights);
        assert_eq!(a, b.weights(&goals, 1).unwrap());
        assert!((a.weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn nothing_moves_before_the_burn_in_and_switched_off_arms_get_nothing() {
        let b = Bandit::default();
        assert!(b.weights(&[rate(99, 10), rate(500, 50)], 1).is_none());
        let a = b
            .weights(&[rate(1_000, 100), None, rate(1_000, 100)], 1)
            .unwrap();
        assert_eq!(a.weights[1], 0.0);
        assert!((a.weights[0] + a.weights[2] - 1.0).abs() < 1e-9);
        assert!(b.weights(&[rate(1_000, 100), None], 1).is_none());
    }

    #[test]
    fn means_use_their_standard_error() {
        use crate::stats::statistic::Sums;
        let mean = |n: u64, m: f64, sd: f64| {
            let sum = m * n as f64;
            Some(Statistic::Mean {
                n,
                sums: Sums {
                    sum,
                    sum_squares: sd * sd * (n as f64 - 1.0) + sum * sum / n as f64,
                },
            })
        };
        let b = Bandit {
            floor: 0.1,
            ..Bandit::default()
        };
        let a = b
            .weights(&[mean(400, 10.0, 5.0), mean(400, 12.0, 5.0)], 3)
            .unwrap();
        assert_eq!(a.weights, vec![0.1, 0.9]);
    }

    #[test]
    fn arms_without_spread_share_the_win_when_equal() {
        use crate::stats::statistic::Sums;
        let flat = Some(Statistic::Mean {
            n: 500,
            sums: Sums {
                sum: 500.0 * 3.0,
                sum_squares: 500.0 * 9.0,
            },
        });
        let a = Bandit::default().weights(&[flat.clone(), flat], 1).unwrap();
        assert_eq!(a.chance, vec![0.5, 0.5]);
        assert_eq!(a.weights, vec![0.5, 0.5]);
    }

    #[test]
    fn settings_are_bounded() {
        assert!(Bandit::default().check(2).is_ok());
        let floor = Bandit {
            floor: 0.4,
            ..Bandit::default()
        };
        assert_eq!(floor.check(3).unwrap_err().0, "floor");
        let interval = Bandit {
            interval_hours: 0,
            ..Bandit::default()
        };
        assert_eq!(interval.check(2).unwrap_err().0, "intervalHours");
    }
}
