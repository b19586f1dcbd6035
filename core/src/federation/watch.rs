//! What about the fleet is worth an alert: a neuron whose migration failed, neurons that run
//! their kind's expected release but report another schema or API fingerprint, and a kind
//! with many of its neurons unhealthy at once. Each finding carries a key that names the
//! condition, so every hub that sees it raises it once (version drift alone is not alerted:
//! it is what a rollout looks like).

use super::*;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A kind is unhealthy in bulk when at least this many of its joined neurons are…
pub const BULK_UNHEALTHY_MIN: usize = 3;
/// …and they are at least this share of them.
pub const BULK_UNHEALTHY_SHARE: f64 = 0.3;
/// Neurons named in one alert's text (the details list them all, up to 100).
const NAMED: usize = 5;

/// One condition worth an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetFinding {
    /// `migration`, `drift` or `unhealthy`.
    pub kind: &'static str,
    /// The neuron or kind it is about.
    pub subject: String,
    /// Names the condition: the same condition seen again (by this hub or another) has the
    /// same key.
    pub key: String,
    pub text: String,
    pub details: serde_json::Value,
}

fn named(ids: &[&str]) -> String {
    let mut s = ids
        .iter()
        .take(NAMED)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > NAMED {
        s.push_str(&format!(" and {} more", ids.len() - NAMED));
    }
    s
}

/// The last `n` characters of `s`.
fn tail(s: &str, n: usize) -> &str {
    let count = s.chars().count();
    match s.char_indices().nth(count.saturating_sub(n)) {
        Some((i, _)) if count > n => &s[i..],
        _ => s,
    }
}

/// The fleet's findings now: failed migrations of joined neurons, fingerprint drift among
/// neurons on their kind's expected version (`expected`: kind → release), and kinds with
/// many neurons unhealthy (keyed by the hour, so a lasting outage alerts once an hour).
pub fn fleet_findings(
    neurons: &[Neuron],
    expected: &BTreeMap<String, Release>,
    now: DateTime<Utc>,
) -> Vec<FleetFinding> {
    let mut found = Vec::new();
    let joined: Vec<&Neuron> = neurons.iter().filter(|n| n.status.is_joined()).collect();
    for n in &joined {
        let Some(m) = n
            .migration
            .as_ref()
            .filter(|m| m.state == MigrationState::Failed)
        else {
            continue;
        };
        let phase = match m.phase {
            MigrationPhase::Pre => "before the switch",
            MigrationPhase::Post => "after the switch",
        };
        found.push(FleetFinding {
            kind: "migration",
            subject: n.id.to_string(),
            key: format!("migration:{}:{}:{}", n.id, m.id, m.at.timestamp_millis()),
            text: format!(
                "Migration {} failed on {} ({} {}, {phase}): {}",
                m.id,
                n.id,
                n.kind,
                n.version,
                tail(m.output_tail.trim(), 200)
            ),
            details: serde_json::json!({"neuron": n.id.as_str(), "kind": n.kind, "version": n.version, "migration": m}),
        });
    }
    let mut by_kind: BTreeMap<&str, Vec<&Neuron>> = BTreeMap::new();
    for n in &joined {
        by_kind.entry(n.kind.as_str()).or_default().push(n);
    }
    for (kind, members) in &by_kind {
        if let Some(release) = expected.get(*kind) {
            // (what, reported) → neurons, among those on the expected version.
            let mut differing: BTreeMap<(DriftKind, String), Vec<&str>> = BTreeMap::new();
            for n in members.iter().filter(|n| n.version == release.version) {
                for d in drift(n, release) {
                    differing
                        .entry((d.what, d.reported.unwrap_or_else(|| "nothing".into())))
                        .or_default()
                        .push(n.id.as_str());
                }
            }
            for ((what, reported), ids) in differing {
                let expected_print = match what {
                    DriftKind::Schema => release.fingerprints.schema.clone(),
                    DriftKind::Api => release.fingerprints.api.clone(),
                    DriftKind::Version => None,
                }
                .unwrap_or_default();
                found.push(FleetFinding {
                    kind: "drift",
                    subject: kind.to_string(),
                    key: format!("drift:{kind}:{}:{}:{reported}", release.version, what.as_str()),
                    text: format!(
                        "{} neuron{} of {kind} run{} the expected release {} but report{} {} {} fingerprint {reported} (expected {expected_print}): {}",
                        ids.len(),
                        if ids.len() == 1 { "" } else { "s" },
                        if ids.len() == 1 { "s" } else { "" },
                        release.version,
                        if ids.len() == 1 { "s" } else { "" },
                        if reported == "nothing" { "no" } else { "the" },
                        what.as_str(),
                        named(&ids)
                    ),
                    details: serde_json::json!({"kind": kind, "release": release.version, "what": what,
                        "expected": expected_print, "reported": reported,
                        "neurons": ids.iter().take(100).collect::<Vec<_>>()}),
                });
            }
        }
        let unhealthy: Vec<&str> = members
            .iter()
            .filter(|n| n.status == NeuronStatus::Unhealthy)
            .map(|n| n.id.as_str())
            .collect();
        if unhealthy.len() >= BULK_UNHEALTHY_MIN
            && unhealthy.len() as f64 >= BULK_UNHEALTHY_SHARE * members.len() as f64
        {
            found.push(FleetFinding {
                kind: "unhealthy",
                subject: kind.to_string(),
                key: format!("unhealthy:{kind}:{}", now.timestamp() / 3600),
                text: format!(
                    "{} of {} {kind} neurons are unhealthy (no heartbeat): {}",
                    unhealthy.len(),
                    members.len(),
                    named(&unhealthy)
                ),
                details: serde_json::json!({"kind": kind, "unhealthy": unhealthy.len(), "joined": members.len(),
                    "neurons": unhealthy.iter().take(100).collect::<Vec<_>>()}),
            });
        }
    }
    found
}

/// The window an event rate is judged over, in minutes.
pub const RATE_WINDOW_MINUTES: i64 = 15;
/// How far back a neuron's usual rate is taken from, in hours.
pub const RATE_BASELINE_HOURS: i64 = 24;
/// A neuron's usual rate is known once it has sent events for this many windows.
pub const RATE_MIN_HISTORY_WINDOWS: f64 = 8.0;
/// Far from usual: at least this many times above it, or this many times below.
pub const RATE_FACTOR: f64 = 5.0;
/// Fewest events in a window (the window's, far above; the usual, far below) worth an
/// alert: a quiet neuron's ups and downs are not news.
pub const RATE_MIN_EVENTS: f64 = 100.0;

/// One neuron's events: in the window just past, and before it in the baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRate {
    pub neuron_id: String,
    /// Events in the window just past.
    pub recent: u64,
    /// Events in the baseline before the window.
    pub before: u64,
    /// Its first batch in the baseline (how long its usual rate has been seen).
    pub first_at: DateTime<Utc>,
}

/// Server neurons whose events in the window just past (ending `now`) are far above or far
/// below their usual rate (their events per window over the baseline before it, counted from
/// their first batch). Browser neurons and the hub's own storefront follow visitors, not the
/// neuron, and are not judged. Far below is judged only when `below` (not while stored
/// events may still be on their way, after an outage) and for a neuron that still heartbeats
/// (`active`): a silent one is the unhealthy alert's. Keyed by the neuron, the direction and
/// the hour, so a lasting anomaly alerts once an hour.
pub fn rate_findings(
    rates: &[EventRate],
    neurons: &[Neuron],
    below: bool,
    now: DateTime<Utc>,
) -> Vec<FleetFinding> {
    let window_start = now - chrono::Duration::minutes(RATE_WINDOW_MINUTES);
    let mut found = Vec::new();
    for r in rates {
        let seen_minutes = (window_start - r.first_at).num_seconds() as f64 / 60.0;
        let windows = seen_minutes / RATE_WINDOW_MINUTES as f64;
        if windows < RATE_MIN_HISTORY_WINDOWS {
            continue;
        }
        let Some(neuron) = neurons
            .iter()
            .find(|n| n.id.as_str() == r.neuron_id && !n.is_browser())
        else {
            continue;
        };
        let usual = r.before as f64 / windows;
        let recent = r.recent as f64;
        let heartbeating = neuron.status == NeuronStatus::Active;
        let direction = if recent >= RATE_MIN_EVENTS && recent >= RATE_FACTOR * usual.max(1.0) {
            "above"
        } else if below && heartbeating && usual >= RATE_MIN_EVENTS && recent * RATE_FACTOR <= usual
        {
            "below"
        } else {
            continue;
        };
        found.push(FleetFinding {
            kind: "eventRate",
            subject: r.neuron_id.clone(),
            key: format!("rate:{}:{direction}:{}", r.neuron_id, now.timestamp() / 3600),
            text: format!(
                "{} sent {} events in the last {RATE_WINDOW_MINUTES} minutes, far {direction} its usual {:.0} ({:.1}x)",
                r.neuron_id,
                r.recent,
                usual,
                if usual > 0.0 { recent / usual } else { recent }
            ),
            details: serde_json::json!({"neuron": r.neuron_id, "direction": direction,
                "recent": r.recent, "usualPerWindow": (usual * 10.0).round() / 10.0,
                "windowMinutes": RATE_WINDOW_MINUTES, "baselineHours": RATE_BASELINE_HOURS}),
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    fn neuron(id: &str, version: &str, schema: &str, status: NeuronStatus) -> Neuron {
        Neuron {
            slug: "shop".into(),
            status,
            fingerprints: Fingerprints {
                schema: Some(schema.into()),
                api: None,
            },
            ..test_neuron(id, "api-service", version)
        }
    }

    fn expected() -> BTreeMap<String, Release> {
        let r = ReleaseForCreate {
            kind: "api-service".into(),
            version: "2.0".into(),
            bundle: None,
            pre_migrations: vec![],
            post_migrations: vec![],
            fingerprints: Fingerprints {
                schema: Some("sha256:good".into()),
                api: None,
            },
            notes: String::new(),
        }
        .into_release("user:op", at());
        [("api-service".to_string(), r)].into()
    }

    #[test]
    fn an_event_rate_far_from_usual_is_found_either_way() {
        use NeuronStatus::{Active, Unhealthy};
        let neurons = vec![
            neuron("burst", "2.0", "s", Active),
            neuron("quiet", "2.0", "s", Active),
            neuron("gone", "2.0", "s", Unhealthy),
            neuron("steady", "2.0", "s", Active),
        ];
        let day = at() - chrono::Duration::hours(24);
        let rate = |id: &str, recent: u64, before: u64, first_at| EventRate {
            neuron_id: id.into(),
            recent,
            before,
            first_at,
        };
        // 95 windows of history before the window just past: usual 200 per window.
        let rates = vec![
            rate("burst", 5_000, 19_000, day),
            rate("quiet", 10, 19_000, day),
            rate("gone", 0, 19_000, day),
            rate("steady", 230, 19_000, day),
            // Too new to know its usual rate.
            rate("new", 5_000, 100, at() - chrono::Duration::hours(1)),
            // Quiet and a little busier: not news.
            rate("small", 60, 950, day),
            // Not a server neuron (the hub's storefront, a browser tab): visitors, not news.
            rate("storefront", 50_000, 19_000, day),
        ];
        let found = rate_findings(&rates, &neurons, true, at());
        let got: Vec<(&str, &str)> = found
            .iter()
            .map(|f| (f.subject.as_str(), f.details["direction"].as_str().unwrap()))
            .collect();
        assert_eq!(got, [("burst", "above"), ("quiet", "below")]);
        assert_eq!(
            found[0].text,
            "burst sent 5000 events in the last 15 minutes, far above its usual 200 (25.0x)"
        );
        assert_eq!(
            found[0].key,
            rate_findings(&rates, &neurons, true, at())[0].key
        );
        assert_ne!(
            found[0].key,
            rate_findings(&rates, &neurons, true, at() + chrono::Duration::hours(1))[0].key
        );
        // Just after an outage, stored events may still be on their way: no "below".
        let after_outage = rate_findings(&rates, &neurons, false, at());
        assert_eq!(after_outage.len(), 1);
        assert_eq!(after_outage[0].subject, "burst");
    }

    #[test]
    fn failed_migrations_fingerprint_drift_and_bulk_unhealthy_are_found() {
        use NeuronStatus::{Active, Retired, Unhealthy};
        let mut failed = neuron("a", "2.0", "sha256:good", Active);
        failed.migration = Some(MigrationReport {
            id: "0042_total".into(),
            phase: MigrationPhase::Pre,
            state: MigrationState::Failed,
            at: at(),
            output_tail: format!("{}ERROR: column exists", "x".repeat(500)),
        });
        let mut neurons = vec![
            failed,
            neuron("b", "2.0", "sha256:bad", Active),
            neuron("c", "2.0", "sha256:bad", Active),
            // Version drift alone is a rollout, not an alert; a retired neuron is not counted.
            neuron("d", "1.9", "sha256:old", Active),
            neuron("e", "2.0", "sha256:bad", Retired),
        ];
        let found = fleet_findings(&neurons, &expected(), at());
        let kinds: Vec<&str> = found.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, ["migration", "drift"]);
        assert!(found[0].text.starts_with(
            "Migration 0042_total failed on a (api-service 2.0, before the switch): "
        ));
        assert!(found[0].text.ends_with("ERROR: column exists") && found[0].text.len() < 300);
        assert_eq!(
            found[1].text,
            "2 neurons of api-service run the expected release 2.0 but report the schema fingerprint sha256:bad (expected sha256:good): b, c"
        );
        // The same condition has the same key; another fingerprint is another condition.
        let again = fleet_findings(&neurons, &expected(), at());
        assert_eq!(found, again);
        neurons[2].fingerprints.schema = Some("sha256:worse".into());
        let changed = fleet_findings(&neurons, &expected(), at());
        assert_eq!(changed.len(), 3);
        assert_ne!(changed[1].key, changed[2].key);

        // Three of five unhealthy: an alert, keyed by the hour.
        for n in neurons.iter_mut().take(4).skip(1) {
            n.status = Unhealthy;
        }
        let found = fleet_findings(&neurons, &BTreeMap::new(), at());
        let bulk: Vec<&FleetFinding> = found.iter().filter(|f| f.kind == "unhealthy").collect();
        assert_eq!(bulk.len(), 1);
        assert_eq!(
            bulk[0].text,
            "3 of 4 api-service neurons are unhealthy (no heartbeat): b, c, d"
        );
        let later = fleet_findings(
            &neurons,
            &BTreeMap::new(),
            at() + chrono::Duration::hours(1),
        );
        assert_ne!(
            bulk[0].key,
            later.iter().find(|f| f.kind == "unhealthy").unwrap().key
        );
        // Two of many is not bulk.
        let mut many: Vec<Neuron> = (0..10)
            .map(|i| neuron(&format!("n{i}"), "2.0", "s", Active))
            .collect();
        many[0].status = Unhealthy;
        many[1].status = Unhealthy;
        assert!(fleet_findings(&many, &BTreeMap::new(), at())
            .iter()
            .all(|f| f.kind != "unhealthy"));
    }
}
