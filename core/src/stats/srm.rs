//! Sample ratio mismatch: are the visitors assigned to the arms in the proportions the
//! weights ask for? A chi-squared test of the counts, as gbstats' `check_srm`; a p-value
//! under [`SRM_THRESHOLD`] means the assignment is broken and no decision may be taken.

use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Below this p-value an experiment is flagged (GrowthBook's default).
pub const SRM_THRESHOLD: f64 = 0.001;

/// The p-value of the counts `users` against `weights` (arms with no weight are left out of
/// the statistic, not of the degrees of freedom, as in gbstats). No users: 1.
pub fn check(users: &[u64], weights: &[f64]) -> f64 {
    let total: u64 = users.iter().sum();
    if total == 0 || users.len() < 2 {
        return 1.0;
    }
    let total_weight: f64 = weights.iter().sum();
    let x: f64 = users
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0.0)
        .map(|(o, w)| {
            let e = w / total_weight * total as f64;
            (*o as f64 - e).powi(2) / e
        })
        .sum();
    match ChiSquared::new((users.len() - 1) as f64) {
        Ok(chi2) => chi2.sf(x),
        Err(_) => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_even_split_passes_and_a_skewed_one_is_flagged() {
        assert!(check(&[5000, 5010], &[0.5, 0.5]) > 0.9);
        assert!(check(&[5000, 5600], &[0.5, 0.5]) < SRM_THRESHOLD);
        assert_eq!(check(&[0, 0], &[0.5, 0.5]), 1.0);
    }
}
