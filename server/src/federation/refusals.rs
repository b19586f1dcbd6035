//! Refused neuron requests (bad signatures, replays, stale clocks, unknown keys under an
//! allowlist, wrong tokens), counted per source address. A source that keeps failing raises
//! an alert on the dashboard; the first few refusals of each source in a window are audited
//! (all of them are counted), so a flood of forged requests cannot flood the audit log.

use chrono::{DateTime, Utc};
use cortex_core::federation::RefusalAlert;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Federation;
use crate::error::ApiError;
use cortex_core::audit::AuditRecord;
use cortex_core::ErrorCode;

/// Refusals from one source within this window count together.
pub const WINDOW: Duration = Duration::from_secs(10 * 60);
/// Refusals in the window that raise an alert.
pub const ALERT_AFTER: u32 = 10;
/// Refusals per source and window that are written to the audit log.
pub const AUDITED_PER_WINDOW: u32 = 3;
/// Sources per window whose refusals are kept as alerts (in the hub's alert list and to the
/// webhook); past it, the Federation page still lists every source, but no more alerts are
/// kept, so many addresses cannot crowd out the alerts that matter.
pub const KEPT_ALERTS_PER_WINDOW: u32 = 5;
/// Longest reason or neuron id an alert repeats (both come from the request).
const MAX_ALERT_FIELD: usize = 300;

struct Source {
    failures: u32,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    last_reason: String,
    last_neuron: Option<String>,
}

/// What to do about one counted refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub audit: bool,
    pub alert: bool,
}

/// The refusal counters. Cheap to clone.
#[derive(Clone, Default)]
pub struct Refusals {
    sources: Arc<Mutex<HashMap<String, Source>>>,
    /// Registrations turned away because the pending neurons were at their cap: how many in
    /// the window, since when, and the last one.
    capped: Arc<Mutex<Option<(u32, DateTime<Utc>, DateTime<Utc>)>>>,
    /// Alerts kept in the current window: since when, and how many.
    kept: Arc<Mutex<Option<(DateTime<Utc>, u32)>>>,
}

/// The source an alert about the pending cap is shown under.
pub const CAPPED_SOURCE: &str = "all sources (pending neurons at the cap)";

impl Refusals {
    /// Counts a refusal: whether it should also be audited, and whether it is the one that
    /// takes its source to [`ALERT_AFTER`] in the window (an alert to raise, once per window).
    pub fn record(
        &self,
        source: &str,
        neuron: Option<&str>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Counted {
        metrics::counter!("cortex_neuron_refusals_total").increment(1);
        let window = chrono::Duration::from_std(WINDOW).unwrap_or(chrono::Duration::minutes(10));
        let mut map = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, s| now - s.last_at < window);
        }
        let s = map.entry(source.to_string()).or_insert(Source {
            failures: 0,
            first_at: now,
            last_at: now,
            last_reason: String::new(),
            last_neuron: None,
        });
        if now - s.first_at >= window {
            s.failures = 0;
            s.first_at = now;
        }
        s.failures += 1;
        s.last_at = now;
        s.last_reason = reason.chars().take(300).collect();
        s.last_neuron = neuron.map(str::to_string);
        let (audit, reached) = (s.failures <= AUDITED_PER_WINDOW, s.failures == ALERT_AFTER);
        drop(map);
        Counted {
            audit,
            alert: reached && self.keep_alert(now, window),
        }
    }

    /// Whether one more alert may be kept in the window at `now` (see
    /// [`KEPT_ALERTS_PER_WINDOW`]); counts it if so.
    fn keep_alert(&self, now: DateTime<Utc>, window: chrono::Duration) -> bool {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let (since, n) = match *kept {
            Some((since, n)) if now - since < window => (since, n),
            _ => (now, 0),
        };
        if n >= KEPT_ALERTS_PER_WINDOW {
            return false;
        }
        *kept = Some((since, n + 1));
        true
    }

    /// Counts a refusal that is never audited (rate limits: a flood is counted, not logged);
    /// whether it raises an alert.
    pub fn count(
        &self,
        source: &str,
        neuron: Option<&str>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> bool {
        self.record(source, neuron, reason, now).alert
    }

    /// Counts a registration turned away at the pending cap (any source): the first one
    /// raises an alert, since an admin has to act.
    pub fn note_capped(&self, now: DateTime<Utc>) {
        let window = chrono::Duration::from_std(WINDOW).unwrap_or(chrono::Duration::minutes(10));
        let mut capped = self.capped.lock().unwrap_or_else(|p| p.into_inner());
        *capped = match *capped {
            Some((n, since, _)) if now - since < window => Some((n + 1, since, now)),
            _ => Some((1, now, now)),
        };
    }

    /// Sources with at least [`ALERT_AFTER`] refusals in the current window, worst first.
    pub fn alerts(&self, now: DateTime<Utc>) -> Vec<RefusalAlert> {
        let window = chrono::Duration::from_std(WINDOW).unwrap_or(chrono::Duration::minutes(10));
        let map = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<RefusalAlert> = map
            .iter()
            .filter(|(_, s)| s.failures >= ALERT_AFTER && now - s.first_at < window)
            .map(|(source, s)| RefusalAlert {
                source: source.clone(),
                failures: s.failures,
                since: s.first_at,
                last_at: s.last_at,
                last_reason: s.last_reason.clone(),
                last_neuron: s.last_neuron.clone(),
            })
            .collect();
        out.sort_by(|a, b| b.failures.cmp(&a.failures).then(a.source.cmp(&b.source)));
        let capped = *self.capped.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((n, since, last)) = capped.filter(|(_, since, _)| now - *since < window) {
            out.insert(
                0,
                RefusalAlert {
                    source: CAPPED_SOURCE.into(),
                    failures: n,
                    since,
                    last_at: last,
                    last_reason: "registrations refused: too many neurons wait for approval; approve or deny pending neurons (bulk actions on this page)".into(),
                    last_neuron: None,
                },
            );
        }
        out
    }
}

/// The alert a source raises when its refusals reach [`ALERT_AFTER`] in a window (the
/// reason and neuron shortened: both come from the request).
pub(crate) fn refusal_alert(
    source: &str,
    neuron: Option<&str>,
    route: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> crate::webhook::Alert {
    let short = |s: &str| s.chars().take(MAX_ALERT_FIELD).collect::<String>();
    let reason = short(reason);
    crate::webhook::Alert {
        kind: "refusals",
        rule_id: short(source),
        at: now,
        text: format!(
            "{ALERT_AFTER} neuron requests from {} refused within {} minutes; the last: {reason}",
            short(source),
            WINDOW.as_secs() / 60
        ),
        details: serde_json::json!({"source": short(source), "route": route,
            "neuron": neuron.map(short), "reason": reason}),
        key: None,
    }
}

impl Federation {
    /// Counts a refused neuron request (401/403) from `source`; the first few per source and
    /// window are audited as `neuron.refused`.
    pub async fn note_refusal(
        &self,
        source: &str,
        neuron: Option<&str>,
        route: &str,
        error: &ApiError,
    ) {
        if !matches!(error.code, ErrorCode::Unauthorized | ErrorCode::Forbidden) {
            return;
        }
        let now = Utc::now();
        let counted = self.refusals.record(source, neuron, &error.message, now);
        if counted.alert {
            self.alert(refusal_alert(source, neuron, route, &error.message, now));
        }
        if counted.audit {
            let actor = neuron.map_or_else(|| "anonymous".to_string(), |n| format!("neuron:{n}"));
            let mut audit = AuditRecord::new(actor, "neuron.refused", format!("source:{source}"));
            audit.after = serde_json::json!({"route": route, "reason": error.message});
            if let Err(e) = self.store.append_audit(audit).await {
                tracing::warn!(error = %e, "could not audit a refused neuron request");
            }
        }
    }

    /// Sources whose neuron requests keep being refused (shown on the dashboard).
    pub fn refusal_alerts(&self) -> Vec<cortex_core::federation::RefusalAlert> {
        self.refusals.alerts(Utc::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_sources_keep_only_a_few_alerts_per_window() {
        let r = Refusals::default();
        let t0 = DateTime::from_timestamp(1_764_000_000, 0).unwrap();
        let raised = |r: &Refusals, at: DateTime<Utc>, sources: std::ops::Range<u32>| {
            sources
                .filter(|i| {
                    (0..ALERT_AFTER)
                        .map(|_| r.count(&format!("2001:db8::{i}"), None, "bad", at))
                        .any(|alert| alert)
                })
                .count() as u32
        };
        assert_eq!(raised(&r, t0, 0..50), KEPT_ALERTS_PER_WINDOW);
        // The next window keeps alerts again.
        let later = t0 + chrono::Duration::minutes(11);
        assert_eq!(raised(&r, later, 50..52), 2);
        // A long reason is cut.
        let a = refusal_alert(
            "10.0.0.1",
            Some(&"n".repeat(5000)),
            "/x",
            &"r".repeat(5000),
            t0,
        );
        assert!(a.text.len() < 500, "{}", a.text.len());
        assert_eq!(a.details["neuron"].as_str().unwrap().len(), MAX_ALERT_FIELD);
    }

    #[test]
    fn a_source_that_keeps_failing_raises_an_alert_and_is_audited_only_at_first() {
        let r = Refusals::default();
        let t0 = DateTime::from_timestamp(1_764_000_000, 0).unwrap();
        let counted: Vec<Counted> = (0..ALERT_AFTER + 5)
            .map(|i| {
                r.record(
                    "10.0.0.9",
                    Some("shop-1"),
                    "signature does not match",
                    t0 + chrono::Duration::seconds(i as i64),
                )
            })
            .collect();
        assert_eq!(
            counted.iter().filter(|c| c.audit).count(),
            AUDITED_PER_WINDOW as usize
        );
        // One alert is raised, by the refusal that reaches the threshold.
        let raised: Vec<usize> = (0..counted.len()).filter(|&i| counted[i].alert).collect();
        assert_eq!(raised, vec![ALERT_AFTER as usize - 1]);
        r.record("10.0.0.7", None, "nonce was used before", t0);
        let alerts = r.alerts(t0 + chrono::Duration::seconds(30));
        assert_eq!(alerts.len(), 1, "one source over the threshold");
        assert_eq!(alerts[0].source, "10.0.0.9");
        assert_eq!(alerts[0].failures, ALERT_AFTER + 5);
        assert_eq!(alerts[0].last_neuron.as_deref(), Some("shop-1"));
        assert!(
            r.alerts(t0 + chrono::Duration::minutes(11)).is_empty(),
            "the window passes"
        );
        assert!(
            r.record(
                "10.0.0.9",
                None,
                "again",
                t0 + chrono::Duration::minutes(11)
            )
            .audit,
            "a new window audits again"
        );
    }
}
