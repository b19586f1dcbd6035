//! The rules' impact over a time range, with each experiment's variants compared.

use chrono::{DateTime, Utc};

use super::Mutations;
use crate::error::ApiError;

impl Mutations {
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
        let rows: Vec<ImpactRow> = tallies.into_iter().map(ImpactRow::from_tally).collect();
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
        Ok(cortex_core::heatmap::Heatmap::of(&counts, layout, &order))
    }
}
