//! Automatic rollback: the rule that decides whether the neurons a change reached (a pushed
//! bundle, or a rollout's updates) got significantly worse than they were before it, and the
//! evidence it decides on. The hub gathers the evidence (`cortex_server::federation::guard`)
//! and acts on the verdict: the previous revision pushed again, or the previous release
//! rolled out again, with the rollout stopped, an alert and an audit record.

use super::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// When a change counts as having made things worse, per neuron kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct RollbackRule {
    /// Off: changes are still watched and alerted on, never rolled back by themselves.
    pub enabled: bool,
    /// How long after a change its neurons are watched, and how far back their "before" is
    /// read (1-1440 minutes).
    pub window_minutes: u32,
    /// Errors the watched neurons must report after the change before the error rate can
    /// count (1-1,000,000): a handful of errors is noise.
    pub min_errors: u64,
    /// How many times the error rate per minute before the change the rate after it must
    /// reach (1.1-100).
    pub error_ratio: f64,
    /// The share of the watched neurons (in %) that, unhealthy or silent, counts as worse
    /// (1-100).
    pub unhealthy_percent: u8,
    /// How many times their mean latency before the change (from `latency` events) the mean
    /// after it must reach (1.1-100; 0: latency is not judged). The mean must also rise by
    /// at least [`LATENCY_FLOOR_MS`].
    pub latency_ratio: f64,
    /// Latency samples needed both before and after the change before latency can count
    /// (1-1,000,000).
    pub min_latency_samples: u64,
}

/// A rise in mean latency smaller than this, in milliseconds, is noise whatever the ratio.
pub const LATENCY_FLOOR_MS: f64 = 20.0;

impl Default for RollbackRule {
    fn default() -> Self {
        Self {
            enabled: true,
            window_minutes: 10,
            min_errors: 20,
            error_ratio: 2.0,
            unhealthy_percent: 50,
            latency_ratio: 2.0,
            min_latency_samples: 20,
        }
    }
}

impl RollbackRule {
    pub fn validate(&self) -> Result<(), FieldError> {
        if !(1..=1440).contains(&self.window_minutes) {
            return Err(FieldError::new("windowMinutes", "1 to 1440 minutes"));
        }
        if !(1..=1_000_000).contains(&self.min_errors) {
            return Err(FieldError::new("minErrors", "1 to 1,000,000 errors"));
        }
        if !(1.1..=100.0).contains(&self.error_ratio) {
            return Err(FieldError::new("errorRatio", "a number from 1.1 to 100"));
        }
        if !(1..=100).contains(&self.unhealthy_percent) {
            return Err(FieldError::new("unhealthyPercent", "1 to 100"));
        }
        if self.latency_ratio != 0.0 && !(1.1..=100.0).contains(&self.latency_ratio) {
            return Err(FieldError::new(
                "latencyRatio",
                "a number from 1.1 to 100, or 0 not to judge latency",
            ));
        }
        if !(1..=1_000_000).contains(&self.min_latency_samples) {
            return Err(FieldError::new(
                "minLatencySamples",
                "1 to 1,000,000 samples",
            ));
        }
        Ok(())
    }

    /// The rule in words, for the page and the alert.
    pub fn describe(&self) -> String {
        format!(
            "within {} min: errors per minute at least {}× the {} min before (and at least {} errors), {}{} % or more of the neurons unhealthy or silent, or a failed post-migration",
            self.window_minutes, self.error_ratio, self.window_minutes, self.min_errors,
            if self.latency_ratio > 0.0 {
                format!("mean latency at least {}× before and {LATENCY_FLOOR_MS} ms more (at least {} samples each side), ", self.latency_ratio, self.min_latency_samples)
            } else {
                String::new()
            },
            self.unhealthy_percent
        )
    }
}

/// The rule for every kind, and the kinds that have their own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct RollbackRules {
    pub default: RollbackRule,
    pub kinds: BTreeMap<String, RollbackRule>,
}

impl RollbackRules {
    pub fn for_kind(&self, kind: &str) -> RollbackRule {
        self.kinds.get(kind).copied().unwrap_or(self.default)
    }

    /// The longest window of any kind: how far back changes are looked at.
    pub fn longest_window_minutes(&self) -> u32 {
        self.kinds
            .values()
            .map(|r| r.window_minutes)
            .chain([self.default.window_minutes])
            .max()
            .unwrap_or(10)
    }
}

/// What the watched neurons of one kind did before and after a change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub kind: String,
    /// The neurons watched (those the change reached).
    pub neurons: Vec<String>,
    pub errors_before: u64,
    pub minutes_before: f64,
    pub errors_after: u64,
    pub minutes_after: f64,
    /// Watched neurons unhealthy or silent now.
    pub unhealthy: Vec<String>,
    /// Watched neurons whose post-migration failed.
    pub failed_post_migrations: Vec<String>,
    /// Their latency samples (milliseconds) before the change: how many, and their sum.
    #[serde(default)]
    pub latency_samples_before: u64,
    #[serde(default)]
    pub latency_ms_sum_before: f64,
    /// The same, after it.
    #[serde(default)]
    pub latency_samples_after: u64,
    #[serde(default)]
    pub latency_ms_sum_after: f64,
}

impl Evidence {
    pub fn rate_before(&self) -> f64 {
        self.errors_before as f64 / self.minutes_before.max(1.0)
    }

    pub fn rate_after(&self) -> f64 {
        self.errors_after as f64 / self.minutes_after.max(1.0)
    }

    /// Mean latency before the change, in milliseconds (none without samples).
    pub fn latency_before(&self) -> Option<f64> {
        (self.latency_samples_before > 0)
            .then(|| self.latency_ms_sum_before / self.latency_samples_before as f64)
    }

    /// Mean latency after it.
    pub fn latency_after(&self) -> Option<f64> {
        (self.latency_samples_after > 0)
            .then(|| self.latency_ms_sum_after / self.latency_samples_after as f64)
    }
}

/// Whether the change made things worse, and why.
pub fn judge(rule: &RollbackRule, e: &Evidence) -> Option<String> {
    if e.neurons.is_empty() {
        return None;
    }
    if let Some(n) = e.failed_post_migrations.first() {
        return Some(format!("neuron {n}'s post-migration failed"));
    }
    let unhealthy = e.unhealthy.len() as u64;
    if unhealthy > 0
        && unhealthy * 100 >= u64::from(rule.unhealthy_percent) * e.neurons.len() as u64
    {
        return Some(format!(
            "{unhealthy} of {} {} neurons are unhealthy or silent (the rule: {} %)",
            e.neurons.len(),
            e.kind,
            rule.unhealthy_percent
        ));
    }
    let (before, after) = (e.rate_before(), e.rate_after());
    if e.errors_after >= rule.min_errors && after >= rule.error_ratio * before {
        return Some(format!(
            "{} neurons report {:.1} errors a minute since the change, {:.1} before ({} errors since; the rule: {}× with at least {})",
            e.kind, after, before, e.errors_after, rule.error_ratio, rule.min_errors
        ));
    }
    if let (Some(before), Some(after)) = (e.latency_before(), e.latency_after()) {
        if rule.latency_ratio > 0.0
            && e.latency_samples_before >= rule.min_latency_samples
            && e.latency_samples_after >= rule.min_latency_samples
            && after >= rule.latency_ratio * before
            && after - before >= LATENCY_FLOOR_MS
        {
            return Some(format!(
                "{} neurons answer in {after:.0} ms on average since the change, {before:.0} ms before ({} and {} samples; the rule: {}×)",
                e.kind, e.latency_samples_after, e.latency_samples_before, rule.latency_ratio
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(before: u64, after: u64) -> Evidence {
        Evidence {
            kind: "api-service".into(),
            neurons: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            errors_before: before,
            minutes_before: 10.0,
            errors_after: after,
            minutes_after: 2.0,
            unhealthy: vec![],
            failed_post_migrations: vec![],
            ..Default::default()
        }
    }

    #[test]
    fn latency_must_double_with_enough_samples_on_both_sides() {
        let rule = RollbackRule::default();
        let with = |n_before: u64, before_ms: f64, n_after: u64, after_ms: f64| Evidence {
            latency_samples_before: n_before,
            latency_ms_sum_before: before_ms * n_before as f64,
            latency_samples_after: n_after,
            latency_ms_sum_after: after_ms * n_after as f64,
            ..evidence(0, 0)
        };
        let slower = judge(&rule, &with(40, 50.0, 30, 120.0)).unwrap();
        assert!(
            slower.contains("120 ms on average since the change, 50 ms before"),
            "{slower}"
        );
        // Slower, but not twice as slow.
        assert_eq!(judge(&rule, &with(40, 50.0, 30, 90.0)), None);
        // Twice as slow, but by less than the floor: noise.
        assert_eq!(judge(&rule, &with(40, 0.05, 30, 0.2)), None);
        assert_eq!(judge(&rule, &with(40, 0.0, 30, 0.0)), None);
        // Latency not judged at all.
        let off = RollbackRule {
            latency_ratio: 0.0,
            ..rule
        };
        assert!(off.validate().is_ok());
        assert_eq!(judge(&off, &with(40, 50.0, 30, 500.0)), None);
        // Too few samples on either side to know.
        assert_eq!(judge(&rule, &with(5, 50.0, 30, 500.0)), None);
        assert_eq!(judge(&rule, &with(40, 50.0, 5, 500.0)), None);
        // No latency reported at all: the rule is silent about it.
        assert_eq!(judge(&rule, &evidence(0, 0)), None);
    }

    #[test]
    fn errors_must_double_and_reach_the_minimum() {
        let rule = RollbackRule::default();
        // 10 errors over 10 min before (1/min); after: 19 in 2 min is too few to count.
        assert_eq!(judge(&rule, &evidence(10, 19)), None);
        // 20 in 2 min: 10/min, ten times the rate before.
        assert!(judge(&rule, &evidence(10, 20))
            .unwrap()
            .contains("10.0 errors a minute"));
        // A busy neuron that always errs: 100/min before, 150/min after is not double.
        assert_eq!(judge(&rule, &evidence(1000, 300)), None);
        // No errors before: the minimum alone decides.
        assert!(judge(&rule, &evidence(0, 20)).is_some());
    }

    #[test]
    fn unhealthy_neurons_and_failed_post_migrations_count() {
        let rule = RollbackRule::default();
        let mut e = evidence(0, 0);
        e.unhealthy = vec!["a".into()];
        assert_eq!(judge(&rule, &e), None, "1 of 4 is under 50 %");
        e.unhealthy.push("b".into());
        assert!(judge(&rule, &e).unwrap().contains("2 of 4"));
        let mut e = evidence(0, 0);
        e.failed_post_migrations = vec!["c".into()];
        assert!(judge(&rule, &e).unwrap().contains("post-migration"));
        // Nothing watched: nothing to judge.
        assert_eq!(judge(&rule, &Evidence::default()), None);
    }

    #[test]
    fn rules_are_checked_and_chosen_per_kind() {
        assert!(RollbackRule::default().validate().is_ok());
        for (bad, field) in [
            (
                RollbackRule {
                    window_minutes: 0,
                    ..Default::default()
                },
                "windowMinutes",
            ),
            (
                RollbackRule {
                    min_errors: 0,
                    ..Default::default()
                },
                "minErrors",
            ),
            (
                RollbackRule {
                    error_ratio: 1.0,
                    ..Default::default()
                },
                "errorRatio",
            ),
            (
                RollbackRule {
                    error_ratio: f64::NAN,
                    ..Default::default()
                },
                "errorRatio",
            ),
            (
                RollbackRule {
                    unhealthy_percent: 0,
                    ..Default::default()
                },
                "unhealthyPercent",
            ),
            (
                RollbackRule {
                    latency_ratio: 1.0,
                    ..Default::default()
                },
                "latencyRatio",
            ),
            (
                RollbackRule {
                    min_latency_samples: 0,
                    ..Default::default()
                },
                "minLatencySamples",
            ),
        ] {
            assert_eq!(bad.validate().unwrap_err().field, field);
        }
        let mut rules = RollbackRules::default();
        rules.kinds.insert(
            "agent".into(),
            RollbackRule {
                window_minutes: 30,
                ..Default::default()
            },
        );
        assert_eq!(rules.for_kind("agent").window_minutes, 30);
        assert_eq!(rules.for_kind("api-service").window_minutes, 10);
        assert_eq!(rules.longest_window_minutes(), 30);
    }
}
