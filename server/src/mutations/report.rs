//! The rules' impact over a time range, with each experiment's variants compared.

use chrono::{DateTime, Utc};

use super::Mutations;
use crate::error::ApiError;

/// How long an experiment's visitor history (CUPED) is reused: reading it is one pass over
/// the conversions of its weeks (half a second for 350,000 of them on Postgres), and it
/// moves slowly, while a rule's page may be opened often.
pub const HISTORY_FRESH: std::time::Duration = std::time::Duration::from_secs(60);

/// Most histories kept; when full, they are read afresh.
const MAX_HISTORIES: usize = 1000;

/// Visitor histories by rule, variant and first hour, with when they were read.
pub(super) type HistoryCache = std::sync::Arc<
    std::sync::Mutex<
        std::collections::HashMap<
            (String, String, i64),
            (std::time::Instant, cortex_core::report::PreExposure),
        >,
    >,
>;

impl Mutations {
    /// The history of rule `rule`'s variant's visitors from hour `hour` on (see
    /// [`crate::store::events::EventStore::pre_exposure`]), read at most once per
    /// [`HISTORY_FRESH`].
    async fn visitor_history(
        &self,
        rule: &str,
        variant: &str,
        hour: i64,
    ) -> Result<cortex_core::report::PreExposure, ApiError> {
        let key = (rule.to_string(), variant.to_string(), hour);
        let held = self.history_cache.lock().ok().and_then(|held| {
            held.get(&key)
                .filter(|(at, _)| at.elapsed() < HISTORY_FRESH)
                .map(|(_, p)| *p)
        });
        if let Some(p) = held {
            return Ok(p);
        }
        let p = self.store.pre_exposure(rule, variant, hour).await?;
        if let Ok(mut held) = self.history_cache.lock() {
            if held.len() >= MAX_HISTORIES {
                held.clear();
            }
            held.insert(key, (std::time::Instant::now(), p));
        }
        Ok(p)
    }

    /// Impact of the rules over a time range: counts with intervals per rule and variant,
    /// per day, and each experiment variant against its baseline.
    pub async fn report(
        &self,
        query: &cortex_core::report::ReportQuery,
        now: DateTime<Utc>,
    ) -> Result<cortex_core::report::LayoutReport, ApiError> {
        use cortex_core::report::{compare, ImpactRow, LayoutReport};
        let (from, to) = query.range(now).map_err(ApiError::bad_request)?;
        // A range that ends now is read from the hourly rollup when it starts on a whole
        // hour (the default start, 30 days back, is taken from the start of its hour); a
        // range in the past, of one page, or from a given moment inside an hour counts the
        // events themselves.
        let whole_hour =
            |t: DateTime<Utc>| t.timestamp_millis() % crate::store::rollup::HOUR_MS == 0;
        let rolled = to >= now && query.page.is_none() && query.from.is_none_or(whole_hour);
        let (from, (tallies, days)) = if rolled {
            let hour = from
                .timestamp_millis()
                .div_euclid(crate::store::rollup::HOUR_MS);
            let start = DateTime::from_timestamp_millis(hour * crate::store::rollup::HOUR_MS)
                .unwrap_or(from);
            let counted = self
                .store
                .rollup_tallies(query.rule.as_deref(), query.variant.as_deref(), hour)
                .await?;
            (start, counted)
        } else {
            (from, self.store.layout_tallies(query, from, to).await?)
        };
        let mut rows: Vec<ImpactRow> = tallies.into_iter().map(ImpactRow::from_tally).collect();
        // One rule's report over a range that ends now adjusts its experiment's conversion
        // by the visitors' conversions before they first saw it (CUPED).
        if let (true, Some(_), None) = (rolled, &query.rule, &query.variant) {
            let hour = from
                .timestamp_millis()
                .div_euclid(crate::store::rollup::HOUR_MS);
            for row in rows.iter_mut().filter(|r| !r.tally.variant.is_empty()) {
                let t = &row.tally;
                let history = self
                    .visitor_history(&t.mutation_id, &t.variant, hour)
                    .await?;
                row.tally.pre_exposure = Some(cortex_core::report::PreExposure {
                    units: t.exposed_units,
                    converted: t.converted_units.min(t.exposed_units),
                    ..history
                });
            }
        }
        let loaded = self.current();
        let (comparisons, srm) = compare(&rows, |id| {
            loaded
                .set
                .rules
                .iter()
                .find(|r| r.id == id)
                .and_then(|r| r.experiment.as_ref())
                .map(|e| {
                    // A switched-off variant gets no more visitors: the split is checked
                    // among the others. A bandit's weights move during its run, so no
                    // weight says what split to expect (NaN: not checked).
                    e.variants
                        .iter()
                        .filter(|v| !e.stopped.contains(&v.key))
                        .map(|v| {
                            let weight = if e.bandit.is_some() {
                                f64::NAN
                            } else {
                                v.weight
                            };
                            (v.key.clone(), weight)
                        })
                        .collect()
                })
                .unwrap_or_default()
        });
        Ok(LayoutReport {
            from,
            to,
            rows,
            days,
            comparisons,
            srm,
        })
    }
}

impl Mutations {
    /// Where visitors clicked on rule `id`'s page views between `from` and `to`, per
    /// variant, laid over its page's newest base layout (see `cortex_core::heatmap`); empty
    /// when the page has no layout. Viewer.
    pub async fn heatmap(
        &self,
        id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        who: &cortex_core::user::Principal,
    ) -> Result<cortex_core::heatmap::Heatmap, ApiError> {
        crate::auth::require_role(who, cortex_core::Role::Viewer)?;
        let head = self
            .store
            .rule_head(id)
            .await?
            .ok_or_else(|| super::no_rule(id))?;
        let loaded = self.current();
        let Some(layout) = loaded.layout(&head.rule.page_slug) else {
            return Ok(cortex_core::heatmap::Heatmap::default());
        };
        let order: Vec<String> = head
            .rule
            .experiment
            .as_ref()
            .map(|x| x.variants.iter().map(|v| v.key.clone()).collect())
            .unwrap_or_else(|| vec![String::new()]);
        let counts = self.store.heat_cells(id, from, to).await?;
        let depths = self.store.scroll_depths(id, from, to).await?;
        Ok(cortex_core::heatmap::Heatmap {
            scroll: cortex_core::heatmap::scroll_chart(&depths, &order),
            ..cortex_core::heatmap::Heatmap::of(&counts, layout, &order)
        })
    }
}
