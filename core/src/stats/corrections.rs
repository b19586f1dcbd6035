//! Adjusting p-values when many arms or metrics are tested at once, so the chance of any
//! false positive (Holm) or the share of false discoveries (Benjamini–Hochberg) stays at
//! the level asked for. The report says which is in force.

use serde::{Deserialize, Serialize};

/// Which correction a report applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Correction {
    /// Holm–Bonferroni: controls the family-wise error rate.
    #[default]
    Holm,
    /// Benjamini–Hochberg: controls the false discovery rate.
    BenjaminiHochberg,
    /// None (one arm and one metric, or the analyst's choice).
    None,
}

/// The adjusted p-values, in the order given (each at most 1).
pub fn adjust(p_values: &[f64], correction: Correction) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    let mut out = vec![1.0; m];
    match correction {
        Correction::None => return p_values.iter().map(|p| p.min(1.0)).collect(),
        Correction::Holm => {
            // Step down: the k-th smallest times (m - k), never below an earlier one.
            let mut running: f64 = 0.0;
            for (k, &i) in order.iter().enumerate() {
                running = running.max(((m - k) as f64 * p_values[i]).min(1.0));
                out[i] = running;
            }
        }
        Correction::BenjaminiHochberg => {
            // Step up: the k-th smallest times m / k, never above a later one.
            let mut running: f64 = 1.0;
            for (k, &i) in order.iter().enumerate().rev() {
                running = running.min((m as f64 / (k + 1) as f64 * p_values[i]).min(1.0));
                out[i] = running;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
    }

    #[test]
    fn holm_and_benjamini_hochberg_match_their_textbook_examples() {
        // statsmodels' multipletests on [0.01, 0.04, 0.03, 0.005].
        let p = [0.01, 0.04, 0.03, 0.005];
        assert!(close(
            &adjust(&p, Correction::Holm),
            &[0.03, 0.06, 0.06, 0.02]
        ));
        assert!(close(
            &adjust(&p, Correction::BenjaminiHochberg),
            &[0.02, 0.04, 0.04, 0.02]
        ));
        assert!(close(&adjust(&p, Correction::None), &p));
        assert!(adjust(&[], Correction::Holm).is_empty());
        assert_eq!(adjust(&[0.9, 0.8], Correction::Holm), vec![1.0, 1.0]);
    }
}
