//! Guarded changes: after a rule is switched on or changed, its page's conversion (visitors
//! who converted / visitors who viewed the page) and its errors (error events per page view)
//! are compared with the same length of time just before the change. If either is
//! significantly worse (the sequential test, valid however often the hub looks), the change
//! is rolled back by itself. A rule opts in with `guard`.

use serde::{Deserialize, Serialize};

use super::frequentist::{sequential, SEQUENTIAL_TUNING};
use super::{Difference, Statistic};

/// A rule's guard: how long a change is watched, the test's error rate, and the visitors
/// each side needs before anything is concluded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Guard {
    /// Hours after a change during which it is watched (and as long before it, the baseline).
    pub window_hours: u32,
    /// The sequential test's error rate (two-sided).
    pub alpha: f64,
    /// Visitors the page needs before and after the change before anything is concluded.
    pub min_units: u64,
}

impl Default for Guard {
    fn default() -> Self {
        Guard {
            window_hours: 24,
            alpha: 0.05,
            min_units: 500,
        }
    }
}

/// Longest watch, hours (a month).
pub const MAX_WINDOW_HOURS: u32 = 24 * 31;

impl Guard {
    /// Why this guard cannot be saved (the field and what to fix), if it cannot.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.window_hours == 0 || self.window_hours > MAX_WINDOW_HOURS {
            return Err((
                "windowHours",
                format!("must be between 1 and {MAX_WINDOW_HOURS}"),
            ));
        }
        let (lo, hi) = super::decision::ALPHA_RANGE;
        if !(lo..=hi).contains(&self.alpha) {
            return Err(("alpha", format!("must be between {lo} and {hi}")));
        }
        if self.min_units < super::decision::MIN_UNITS_FLOOR || self.min_units > 1_000_000_000 {
            return Err((
                "minUnits",
                format!(
                    "must be between {} and 1000000000",
                    super::decision::MIN_UNITS_FLOOR
                ),
            ));
        }
        Ok(())
    }
}

/// Visitors who viewed a page in a time range, how many of them converted, and the page's
/// views and error events then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageConversion {
    pub units: u64,
    pub converted: u64,
    #[serde(default)]
    pub views: u64,
    #[serde(default)]
    pub errors: u64,
}

impl PageConversion {
    fn statistic(self) -> Statistic {
        Statistic::Proportion {
            n: self.units,
            sum: self.converted.min(self.units) as f64,
        }
    }

    /// Errors per page view (see [`Statistic::event_rate`]).
    fn error_statistic(self) -> Statistic {
        Statistic::event_rate(self.views, self.errors)
    }
}

/// What a guard rolled a change back for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GuardMetric {
    /// The page's conversion fell (`lift` is the relative change).
    #[default]
    Conversion,
    /// The page's errors per view rose (`lift` is the change in errors per view).
    Errors,
}

/// What the guard concludes about a change so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "verdict",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum GuardVerdict {
    /// Not enough visitors yet on one side.
    Wait { why: String },
    /// No significant harm so far.
    Hold,
    /// The page converts significantly worse, or errs significantly more, since the
    /// change: roll it back.
    RollBack {
        before: PageConversion,
        after: PageConversion,
        #[serde(default)]
        metric: GuardMetric,
        /// Relative change in conversion (or the change in errors per view), with its
        /// interval and p-value.
        lift: f64,
        ci: (f64, f64),
        p_value: f64,
    },
}

impl GuardVerdict {
    /// The verdict in words.
    pub fn describe(&self) -> String {
        match self {
            GuardVerdict::Wait { why } => format!("watching: {why}"),
            GuardVerdict::Hold => "watching: no significant harm so far".into(),
            GuardVerdict::RollBack {
                before,
                after,
                metric: GuardMetric::Errors,
                lift,
                ci,
                p_value,
            } => format!(
                "the page's errors rose by {:+.2} [{:+.2}, {:+.2}] per 100 views, p = {p_value:.4}: {} errors in {} views after the change, {} in {} before",
                lift * 100.0,
                ci.0 * 100.0,
                ci.1 * 100.0,
                after.errors,
                after.views,
                before.errors,
                before.views
            ),
            GuardVerdict::RollBack {
                before,
                after,
                metric: GuardMetric::Conversion,
                lift,
                ci,
                p_value,
            } => format!(
                "the page's conversion fell {:+.1} % [{:+.1} %, {:+.1} %], p = {p_value:.4}: {} of {} visitors converted after the change, {} of {} before",
                lift * 100.0,
                ci.0 * 100.0,
                ci.1 * 100.0,
                after.converted,
                after.units,
                before.converted,
                before.units
            ),
        }
    }
}

/// Where a guarded rule's newest change stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardStatus {
    /// The change watched (the rule's newest version), and until when.
    pub version: u32,
    pub until: chrono::DateTime<chrono::Utc>,
    pub verdict: GuardVerdict,
}

/// Compares the page's conversion and errors since a change (`after`) with the same length
/// of time before it (`before`). Errors are compared as an absolute change in errors per
/// view (a page without errors before has no relative change), at the same `alpha`.
pub fn watch(before: PageConversion, after: PageConversion, guard: &Guard) -> GuardVerdict {
    for (side, c) in [("before", before), ("after", after)] {
        if c.units < guard.min_units {
            return GuardVerdict::Wait {
                why: format!(
                    "{} of at least {} visitors {side} the change",
                    c.units, guard.min_units
                ),
            };
        }
    }
    let t = sequential(
        &before.statistic(),
        &after.statistic(),
        Difference::Relative,
        guard.alpha,
        SEQUENTIAL_TUNING,
    );
    if t.no_result.is_none() && t.ci.1 < 0.0 {
        return GuardVerdict::RollBack {
            before,
            after,
            metric: GuardMetric::Conversion,
            lift: t.expected,
            ci: t.ci,
            p_value: t.p_value,
        };
    }
    if before.views > 0 && after.views > 0 && after.errors > 0 {
        let e = sequential(
            &before.error_statistic(),
            &after.error_statistic(),
            Difference::Absolute,
            guard.alpha,
            SEQUENTIAL_TUNING,
        );
        if e.no_result.is_none() && e.ci.0 > 0.0 {
            return GuardVerdict::RollBack {
                before,
                after,
                metric: GuardMetric::Errors,
                lift: e.expected,
                ci: e.ci,
                p_value: e.p_value,
            };
        }
    }
    GuardVerdict::Hold
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(units: u64, converted: u64) -> PageConversion {
        PageConversion {
            units,
            converted,
            views: units * 2,
            errors: 0,
        }
    }

    #[test]
    fn errors_that_rise_roll_back_and_a_few_hold() {
        let g = Guard::default();
        let with = |errors: u64| PageConversion {
            errors,
            ..c(5_000, 500)
        };
        // 10,000 views a side: 20 errors before, 200 after.
        match watch(with(20), with(200), &g) {
            v @ GuardVerdict::RollBack {
                metric: GuardMetric::Errors,
                ..
            } => {
                assert!(
                    v.describe()
                        .starts_with("the page's errors rose by +1.80 ["),
                    "{}",
                    v.describe()
                );
            }
            other => panic!("{other:?}"),
        }
        // From none at all, too, and when every view errs (more errors than views).
        for after in [150, 30_000] {
            assert!(
                matches!(
                    watch(with(0), with(after), &g),
                    GuardVerdict::RollBack {
                        metric: GuardMetric::Errors,
                        ..
                    }
                ),
                "{after}"
            );
        }
        assert_eq!(watch(with(20), with(24), &g), GuardVerdict::Hold);
        assert_eq!(
            watch(with(200), with(20), &g),
            GuardVerdict::Hold,
            "fewer is fine"
        );
    }

    #[test]
    fn a_clear_drop_rolls_back_and_noise_holds() {
        let g = Guard::default();
        assert!(matches!(
            watch(c(100, 10), c(5_000, 100), &g),
            GuardVerdict::Wait { .. }
        ));
        match watch(c(5_000, 500), c(5_000, 300), &g) {
            v @ GuardVerdict::RollBack { .. } => {
                let GuardVerdict::RollBack { lift, ci, .. } = v else {
                    unreachable!()
                };
                assert!((lift + 0.4).abs() < 1e-9 && ci.1 < 0.0);
                assert!(v
                    .describe()
                    .starts_with("the page's conversion fell -40.0 %"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(watch(c(5_000, 500), c(5_000, 490), &g), GuardVerdict::Hold);
        assert_eq!(
            watch(c(5_000, 500), c(5_000, 700), &g),
            GuardVerdict::Hold,
            "better is fine"
        );
    }

    #[test]
    fn bounds_are_checked() {
        assert!(Guard::default().check().is_ok());
        let bad = |g: Guard| g.check().unwrap_err().0;
        assert_eq!(
            bad(Guard {
                window_hours: 0,
                ..Guard::default()
            }),
            "windowHours"
        );
        assert_eq!(
            bad(Guard {
                alpha: 0.5,
                ..Guard::default()
            }),
            "alpha"
        );
        assert_eq!(
            bad(Guard {
                min_units: 1,
                ..Guard::default()
            }),
            "minUnits"
        );
    }
}
