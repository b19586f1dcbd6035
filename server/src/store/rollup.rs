//! The report rollup: what rule reports count, kept per rule, variant and hour as events are
//! written (in the same transaction), so a report of a range that ends now reads a few rows
//! per hour instead of every event.
//!
//! Event counts (exposures, clicks, conversions and their values, dwell, errors) add up per
//! hour. Visitors do not: a
//! visitor seen in two hours is one visitor. So `rule_units` keeps, per rule, variant and
//! visitor, the latest hour the visitor was exposed (and converted), and `rule_hours.units`
//! counts each visitor once, in that hour. The visitors seen from hour `h` on are then the sum
//! of `units` over the hours from `h`: exact for any range that starts on an hour and ends
//! after the newest event. Events arriving late or out of order only move a visitor to a
//! later hour, never to an earlier one, so the order batches are written in does not matter.
//!
//! The same is kept for each visitor's first hour (`new_units`, `new_converted_units`): the
//! visitors seen up to a day, for the experiments page's cumulative lift.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::events::SpooledBatch;
use cortex_core::analytics::EventKind;

/// How the sources of browser apps' batches (a publishable key) begin.
pub(crate) const BROWSER_SOURCE: &str = "browser:";

/// Milliseconds in a rollup hour.
pub const HOUR_MS: i64 = 3_600_000;

/// Most rows one statement reads or writes.
pub(crate) const CHUNK: usize = 1000;

/// A rule's variant (empty for none) and an hour.
pub(crate) type HourKey = (String, String, i64);

/// A rule's variant and a visitor.
pub(crate) type UnitKey = (String, String, String);

/// The hours a set of batches saw per visitor (what `merge_units` folds in).
pub(crate) type SeenUnits = BTreeMap<UnitKey, UnitHours>;

/// The hours stored per visitor before a merge (what `merge_units` returns).
pub(crate) type StoredUnits = HashMap<UnitKey, UnitHours>;

/// What one rule's variant counted in one hour (the deltas to add, when written).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct HourCounts {
    pub events: i64,
    pub exposures: i64,
    pub clicks: i64,
    pub conversions: i64,
    pub dwell_count: i64,
    pub dwell_sum: f64,
    pub dwell_sum_sq: f64,
    pub units: i64,
    pub converted_units: i64,
    /// Visitors first exposed (first converted) in this hour.
    pub new_units: i64,
    pub new_converted_units: i64,
    pub revenue_sum: f64,
    pub revenue_sum_sq: f64,
    pub errors: i64,
}

/// The latest and the first hour a visitor was exposed to a rule's variant, and converted
/// on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UnitHours {
    pub exposed: Option<i64>,
    pub converted: Option<i64>,
    pub first_exposed: Option<i64>,
    pub first_converted: Option<i64>,
}

impl UnitHours {
    /// These hours with `seen` folded in: the later latest hours, the earlier first ones.
    pub fn merged(self, seen: UnitHours) -> UnitHours {
        UnitHours {
            exposed: self.exposed.max(seen.exposed),
            converted: self.converted.max(seen.converted),
            first_exposed: earliest(self.first_exposed, seen.first_exposed),
            first_converted: earliest(self.first_converted, seen.first_converted),
        }
    }
}

/// A `rule_units` row (`mutation_id`, `variant`, `unit` and the four hours), as both
/// backends read it.
pub(crate) fn unit_row<'r, R>(r: &'r R) -> Result<(UnitKey, UnitHours), sqlx::Error>
where
    R: sqlx::Row,
    &'r str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok((
        (
            r.try_get("mutation_id")?,
            r.try_get("variant")?,
            r.try_get("unit")?,
        ),
        UnitHours {
            exposed: r.try_get("exposed_hour")?,
            converted: r.try_get("converted_hour")?,
            first_exposed: r.try_get("first_exposed_hour")?,
            first_converted: r.try_get("first_converted_hour")?,
        },
    ))
}

/// The earlier of two hours, either of which may be unknown.
fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What a set of batches adds to the rollup.
#[derive(Debug, Default)]
pub(crate) struct Rollup {
    pub hours: BTreeMap<HourKey, HourCounts>,
    /// The latest hours the batches saw per visitor, before [`Rollup::settle`].
    units: SeenUnits,
    /// The visitors' hours with a conversion (on any rule or none): their history, for
    /// adjusting an experiment by what its visitors did before it (see [`PRE_EXPOSURE_SQL`]).
    pub converted: BTreeSet<(String, i64)>,
}

impl Rollup {
    /// The counts of `batches`' rule events (events naming a rule, of the kinds reports
    /// count), and the latest hours of their visitors.
    pub fn of(batches: &[&SpooledBatch]) -> Self {
        let mut out = Self::default();
        for b in batches {
            // A visitor's history comes from servers (a neuron token) and from pages whose
            // receipt named the visitor: a browser app's batch about no rule was checked
            // against no receipt, so whoever holds its public key could write any
            // visitor's past into it.
            if b.neuron_id.starts_with(BROWSER_SOURCE)
                && !b.batch.events.iter().any(|e| e.mutation_id.is_some())
            {
                continue;
            }
            for e in &b.batch.events {
                if let (EventKind::Conversion, Some(unit)) = (e.kind, &e.unit) {
                    let hour = e.at.timestamp_millis().div_euclid(HOUR_MS);
                    out.converted.insert((unit.clone(), hour));
                }
            }
        }
        for e in batches.iter().flat_map(|b| &b.batch.events) {
            let Some(rule) = &e.mutation_id else { continue };
            if !matches!(
                e.kind,
                EventKind::Exposure
                    | EventKind::Click
                    | EventKind::Conversion
                    | EventKind::Dwell
                    | EventKind::Error
            ) {
                continue;
            }
            let variant = e.variant.clone().unwrap_or_default();
            let hour = e.at.timestamp_millis().div_euclid(HOUR_MS);
            let c = out
                .hours
                .entry((rule.clone(), variant.clone(), hour))
                .or_default();
            c.events += 1;
            match e.kind {
                EventKind::Exposure => c.exposures += 1,
                EventKind::Click => c.clicks += 1,
                EventKind::Conversion => {
                    c.conversions += 1;
                    if let Some(v) = e.value {
                        c.revenue_sum += v;
                        c.revenue_sum_sq += v * v;
                    }
                }
                EventKind::Error => c.errors += 1,
                _ => {
                    if let Some(v) = e.value {
                        c.dwell_count += 1;
                        c.dwell_sum += v;
                        c.dwell_sum_sq += v * v;
                    }
                }
            }
            let Some(unit) = &e.unit else { continue };
            if !matches!(e.kind, EventKind::Exposure | EventKind::Conversion) {
                continue;
            }
            let u = out
                .units
                .entry((rule.clone(), variant, unit.clone()))
                .or_default();
            let (latest, first) = if e.kind == EventKind::Exposure {
                (&mut u.exposed, &mut u.first_exposed)
            } else {
                (&mut u.converted, &mut u.first_converted)
            };
            *latest = (*latest).max(Some(hour));
            *first = earliest(*first, Some(hour));
        }
        out
    }

    /// The latest and first hours the batches saw per visitor: what the store merges into
    /// `rule_units` (see [`UnitHours::merged`]) before [`Rollup::settle`].
    pub fn units(&self) -> &SeenUnits {
        &self.units
    }

    /// Folds in the hours stored for the batches' visitors before they were merged
    /// (absent: never seen): each visitor whose latest (or first) hour moves is counted in
    /// its new hour and no longer in its old one. Returns the visitor rows that changed.
    pub fn settle(&mut self, stored: &StoredUnits) -> Vec<(UnitKey, UnitHours)> {
        let mut write = Vec::new();
        for (key, seen) in std::mem::take(&mut self.units) {
            let old = stored.get(&key).copied().unwrap_or_default();
            let new = old.merged(seen);
            if new == old {
                continue;
            }
            let (rule, variant) = (&key.0, &key.1);
            let mut moved =
                |from: Option<i64>, to: Option<i64>, count: fn(&mut HourCounts) -> &mut i64| {
                    if from == to {
                        return;
                    }
                    for (hour, delta) in [(from, -1), (to, 1)] {
                        let Some(hour) = hour else { continue };
                        let c = self
                            .hours
                            .entry((rule.clone(), variant.clone(), hour))
                            .or_default();
                        *count(c) += delta;
                    }
                };
            moved(old.exposed, new.exposed, |c| &mut c.units);
            moved(old.converted, new.converted, |c| &mut c.converted_units);
            moved(old.first_exposed, new.first_exposed, |c| &mut c.new_units);
            moved(old.first_converted, new.first_converted, |c| {
                &mut c.new_converted_units
            });
            write.push((key, new));
        }
        write
    }
}

/// The statements that build the rollup from the events stored: the parts of the
/// migrations that added it after `-- Built once`, run again by
/// [`super::events::EventStore::rebuild_rollup`].
pub(crate) fn backfill_statements() -> impl Iterator<Item = &'static str> {
    const MIGRATIONS: [&str; 2] = [
        include_str!("../../../migrations/sqlite/0012_report_rollup.sql"),
        include_str!("../../../migrations/sqlite/0014_visitor_history.sql"),
    ];
    MIGRATIONS.into_iter().flat_map(|migration| {
        let backfill = migration
            .find("-- Built once")
            .map_or("", |at| &migration[at..]);
        backfill.split(";\n").filter(|s| {
            s.lines()
                .any(|l| !l.trim().is_empty() && !l.starts_with("--"))
        })
    })
}

/// How far back a visitor's history counts for CUPED: the 14 days before their first
/// exposure (GrowthBook's default lookback).
pub const PRE_EXPOSURE_HOURS: i64 = 14 * 24;

/// The visitors of one rule's variant exposed from an hour on who converted (on anything)
/// in the [`PRE_EXPOSURE_HOURS`] before their first exposure to it: per visitor, `x` the
/// hours they converted in then and `y` whether they converted on the rule since that hour
/// (0 or 1), summed: what CUPED adjusts with (every other visitor has `x` = 0). The hour of
/// the first exposure itself is left out of the history (a conversion in it may have
/// followed the exposure), and history is read from [`PRE_EXPOSURE_HOURS`] before the
/// range's start on. Read from the conversions of those weeks (few, next to exposures), each
/// looked up in `rule_units` by its key, so the cost follows the site's conversions, not the
/// experiment's visitors. `$1` the rule, `$2` the variant, `$3` the first hour, `$4` the
/// lookback in hours.
pub(crate) const PRE_EXPOSURE_SQL: &str = "SELECT CAST(COUNT(*) AS BIGINT) AS with_history,
            CAST(SUM(x) AS BIGINT) AS pre_sum, CAST(SUM(x * x) AS BIGINT) AS pre_sum_sq,
            CAST(SUM(x * y) AS BIGINT) AS cross_sum
       FROM (SELECT c.unit, COUNT(*) AS x,
                    MAX(CASE WHEN u.converted_hour >= $3 THEN 1 ELSE 0 END) AS y
               FROM unit_conversions c
               JOIN rule_units u ON u.mutation_id = $1 AND u.variant = $2 AND u.unit = c.unit
              WHERE c.hour >= $3 - $4 AND u.exposed_hour >= $3
                AND c.hour < u.first_exposed_hour AND c.hour >= u.first_exposed_hour - $4
              GROUP BY c.unit) AS t";

/// The report query over the rollup: `$1` the first hour, `$2` the rule (empty: all), `$3`
/// the variant (empty: all).
pub(crate) const TALLY_SQL: &str = "SELECT mutation_id, variant,
            CAST(SUM(exposures) AS BIGINT) AS exposures, CAST(SUM(units) AS BIGINT) AS exposed_units, CAST(SUM(clicks) AS BIGINT) AS clicks,
            CAST(SUM(conversions) AS BIGINT) AS conversions, CAST(SUM(converted_units) AS BIGINT) AS converted_units,
            CAST(SUM(dwell_count) AS BIGINT) AS dwell_count, SUM(dwell_sum) AS dwell_sum,
            SUM(dwell_sum_sq) AS dwell_sum_sq, SUM(revenue_sum) AS revenue_sum,
            SUM(revenue_sum_sq) AS revenue_sum_sq, CAST(SUM(errors) AS BIGINT) AS errors
       FROM rule_hours
      WHERE hour >= $1 AND ($2 = '' OR mutation_id = $2) AND ($3 = '' OR variant = $3)
      GROUP BY mutation_id, variant
     HAVING SUM(events) > 0
      ORDER BY mutation_id, variant
      LIMIT 5000";

/// The per-day query over the rollup, with the same parameters as [`TALLY_SQL`].
pub(crate) const DAYS_SQL: &str = "SELECT hour / 24 AS day, mutation_id, variant,
            CAST(SUM(exposures) AS BIGINT) AS exposures, CAST(SUM(conversions) AS BIGINT) AS conversions, CAST(SUM(clicks) AS BIGINT) AS clicks,
            CAST(SUM(new_units) AS BIGINT) AS new_units, CAST(SUM(new_converted_units) AS BIGINT) AS new_converted_units
       FROM rule_hours
      WHERE hour >= $1 AND ($2 = '' OR mutation_id = $2) AND ($3 = '' OR variant = $3)
      GROUP BY hour / 24, mutation_id, variant
     HAVING SUM(events) > 0
      ORDER BY day, mutation_id, variant
      LIMIT 20000";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use cortex_core::analytics::{Event, EventBatch};

    fn event(kind: EventKind, hour: i64, unit: &str) -> Event {
        let mut e = Event::new(
            kind,
            DateTime::from_timestamp_millis(hour * HOUR_MS + 5).unwrap(),
        );
        e.unit = Some(unit.into());
        e.mutation_id = Some("m".into());
        e.variant = Some("b".into());
        e
    }

    fn batch(events: Vec<Event>) -> SpooledBatch {
        SpooledBatch {
            neuron_id: "n".into(),
            received_at: DateTime::from_timestamp_millis(0).unwrap(),
            batch: EventBatch {
                batch_id: "x".into(),
                events,
                receipt: None,
            },
        }
    }

    fn key(hour: i64) -> HourKey {
        ("m".into(), "b".into(), hour)
    }

    #[test]
    fn a_visitor_moves_to_their_latest_hour_and_never_back() {
        let b = batch(vec![
            event(EventKind::Exposure, 10, "u"),
            event(EventKind::Exposure, 12, "u"),
            event(EventKind::Click, 12, "u"),
        ]);
        let mut r = Rollup::of(&[&b]);
        let unit: UnitKey = ("m".into(), "b".into(), "u".into());
        let stored = HashMap::from([(
            unit.clone(),
            UnitHours {
                exposed: Some(11),
                first_exposed: Some(11),
                ..UnitHours::default()
            },
        )]);
        let write = r.settle(&stored);
        assert_eq!(
            write,
            vec![(
                unit.clone(),
                UnitHours {
                    exposed: Some(12),
                    first_exposed: Some(10),
                    ..UnitHours::default()
                }
            )]
        );
        assert_eq!(r.hours[&key(11)].units, -1);
        assert_eq!(r.hours[&key(12)].units, 1);
        assert_eq!(r.hours[&key(12)].exposures, 1);
        assert_eq!(r.hours[&key(12)].clicks, 1);
        assert_eq!(r.hours[&key(10)].units, 0);
        // First seen at 10 now, not 11.
        assert_eq!(r.hours[&key(10)].new_units, 1);
        assert_eq!(r.hours[&key(11)].new_units, -1);

        // A late event from an earlier hour counts as an event; the visitor's latest hour
        // stays and their first moves.
        let late = batch(vec![event(EventKind::Exposure, 9, "u")]);
        let mut r = Rollup::of(&[&late]);
        let stored = HashMap::from([(unit, write[0].1)]);
        assert_eq!(r.settle(&stored)[0].1.first_exposed, Some(9));
        assert_eq!(r.hours[&key(9)].exposures, 1);
        assert_eq!(r.hours[&key(9)].units, 0);
        assert_eq!(r.hours[&key(9)].new_units, 1);
        assert_eq!(r.hours[&key(10)].new_units, -1);
    }

    #[test]
    fn the_backfill_is_the_migrations_and_both_backends_share_it() {
        let statements: Vec<_> = backfill_statements().collect();
        assert_eq!(statements.len(), 3);
        assert!(statements[0].contains("INSERT INTO rule_units"));
        assert!(statements[1].contains("INSERT INTO rule_hours"));
        assert!(statements[2].contains("INSERT INTO unit_conversions"));
        assert_eq!(
            include_str!("../../../migrations/sqlite/0012_report_rollup.sql"),
            include_str!("../../../migrations/postgres/0012_report_rollup.sql")
        );
        assert_eq!(
            include_str!("../../../migrations/sqlite/0014_visitor_history.sql"),
            include_str!("../../../migrations/postgres/0014_visitor_history.sql")
        );
    }

    #[test]
    fn history_comes_only_from_servers_and_receipted_pages() {
        let mut bought = event(EventKind::Conversion, 3, "victim");
        bought.mutation_id = None;
        let from = |source: &str, events: Vec<Event>| SpooledBatch {
            neuron_id: source.into(),
            ..batch(events)
        };
        // A neuron's and the storefront's count.
        for source in ["shop-api", "storefront"] {
            let b = from(source, vec![bought.clone()]);
            assert_eq!(Rollup::of(&[&b]).converted.len(), 1, "{source}");
        }
        // A browser app's batch about no rule was checked against no receipt: not history.
        let b = from("browser:pk_1", vec![bought.clone()]);
        assert!(Rollup::of(&[&b]).converted.is_empty());
        // About a rule, it carried the receipt naming its visitor: history.
        let b = from(
            "browser:pk_1",
            vec![bought, event(EventKind::Click, 3, "victim")],
        );
        assert_eq!(Rollup::of(&[&b]).converted.len(), 1);
    }

    #[test]
    fn other_events_are_not_counted() {
        let mut page = event(EventKind::PageView, 1, "u");
        page.mutation_id = None;
        let mut no_rule = event(EventKind::Exposure, 1, "u");
        no_rule.mutation_id = None;
        let b = batch(vec![page, no_rule, event(EventKind::Log, 1, "u")]);
        let mut r = Rollup::of(&[&b]);
        assert!(r.settle(&HashMap::new()).is_empty());
        assert!(r.hours.is_empty());
    }
}
