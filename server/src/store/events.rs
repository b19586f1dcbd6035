//! Storage of analytics events and operator commands. The event writer is the hot path: it
//! takes thousands of spooled batches per call, counts each batch id once per neuron, and
//! inserts their events in one transaction (multi-row inserts on SQLite, `COPY` on Postgres;
//! each backend supplies `claim_batches` and `insert_events`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cortex_core::analytics::{Event, EventBatch, EventKind, NeuronEvent};
use cortex_core::audit::AuditRecord;
use cortex_core::federation::{CommandOutcome, CommandRun};
use cortex_core::report::{DayRow, ReportQuery, Tally};

use super::StoreResult;

/// A batch as it came out of the spool.
#[derive(Debug, Clone, PartialEq)]
pub struct SpooledBatch {
    pub neuron_id: String,
    pub received_at: DateTime<Utc>,
    pub batch: EventBatch,
}

/// What one write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventsWritten {
    /// Batches stored for the first time.
    pub batches: u64,
    /// Batches whose id was already counted (skipped).
    pub duplicates: u64,
    /// Events inserted.
    pub events: u64,
}

/// Which reported events to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// One neuron, or all.
    pub neuron_id: Option<String>,
    /// Kinds to include (empty: errors and logs).
    pub kinds: Vec<EventKind>,
    /// Case-insensitive text to find in the message or name.
    pub text: Option<String>,
    pub limit: u32,
}

/// Analytics events and operator commands.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores spooled batches in one transaction; a batch id already stored for its neuron
    /// (or repeated in `batches`) is skipped.
    async fn write_event_batches(&self, batches: &[SpooledBatch]) -> StoreResult<EventsWritten>;
    /// All stored events.
    async fn count_events(&self) -> StoreResult<u64>;
    /// Reported events (errors and logs by default), newest first.
    async fn neuron_events(&self, query: &EventQuery) -> StoreResult<Vec<NeuronEvent>>;

    /// Records a command sent to a scope, with a pending report for each neuron it was sent to.
    async fn create_command(&self, run: &CommandRun, audit: AuditRecord) -> StoreResult<()>;
    /// A neuron's answer to a command it was sent; `false` if there was no such pending report.
    async fn report_command(
        &self,
        id: &str,
        neuron_id: &str,
        outcome: CommandOutcome,
        message: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Another hub sent a command to its own connected neurons: pending reports for them,
    /// counted as sent.
    async fn extend_command(
        &self,
        id: &str,
        neuron_ids: &[String],
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The most recent commands with their reports, newest first.
    async fn recent_commands(&self, limit: u32) -> StoreResult<Vec<CommandRun>>;

    /// Exposures, clicks, conversions and dwell of layout mutations between `from`
    /// (inclusive) and `to` (exclusive), per rule and variant, and per UTC day of them.
    async fn layout_tallies(
        &self,
        query: &ReportQuery,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<(Vec<Tally>, Vec<DayRow>)>;

    /// The same counts as [`EventStore::layout_tallies`] from the report rollup (see
    /// [`crate::store::rollup`]): the events from hour `from_hour` (milliseconds since the
    /// epoch / 3,600,000) on, of rule `rule` and variant `variant` (`None`: all).
    async fn rollup_tallies(
        &self,
        rule: Option<&str>,
        variant: Option<&str>,
        from_hour: i64,
    ) -> StoreResult<(Vec<Tally>, Vec<DayRow>)>;

    /// The visitors of rule `rule`'s variant `variant` exposed from hour `from_hour` on who
    /// converted (on anything) in the [`crate::store::rollup::PRE_EXPOSURE_HOURS`] before
    /// their first exposure: how many, and the sums CUPED adjusts with (see
    /// [`crate::store::rollup::PRE_EXPOSURE_SQL`]). `units` and `converted` are left 0: they
    /// are the report's own counts.
    async fn pre_exposure(
        &self,
        rule: &str,
        variant: &str,
        from_hour: i64,
    ) -> StoreResult<cortex_core::report::PreExposure>;

    /// Builds the report rollup again from the events stored (what the migration that added
    /// it did once), in one transaction; returns the rule rows it holds afterwards. For
    /// events loaded behind the hub's back, and for repair.
    async fn rebuild_rollup(&self) -> StoreResult<u64>;

    /// Visitors who viewed `page` (any page when `None`) between `from` (inclusive) and `to`
    /// (exclusive), and how many of them converted there in that time: a guard's measure.
    async fn page_conversion(
        &self,
        page: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<cortex_core::stats::guard::PageConversion>;

    /// Page views and clicks between `from` (inclusive) and `to` (exclusive), counted per
    /// page, segment and clicked node: what the suggestion engine compares. At most
    /// [`MAX_SEGMENT_ROWS`] rows, the largest counts first.
    async fn segment_counts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<cortex_core::suggest::SegmentCount>>;
    /// Visitors exposed to each rule's variant between `from` (inclusive) and `to`
    /// (exclusive), and those who converted, per segment and UTC hour of the day: what the
    /// suggestion engine compares across segments and times. At most [`MAX_SEGMENT_ROWS`]
    /// rows, the largest counts first.
    async fn rule_counts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<cortex_core::suggest::RuleCount>>;
    /// Clicks on rule `rule`'s page views between `from` (inclusive) and `to` (exclusive)
    /// that carry a heatmap cell, counted per variant, clicked node and cell. At most
    /// [`MAX_SEGMENT_ROWS`] rows, the largest counts first.
    async fn heat_cells(
        &self,
        rule: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<cortex_core::heatmap::CellCount>>;
    /// Page views of rule `rule` between `from` (inclusive) and `to` (exclusive) that
    /// reported how far down the page the visitor saw, per variant and deepest tenth (0, 10,
    /// … 100).
    async fn scroll_depths(
        &self,
        rule: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<cortex_core::heatmap::DepthCount>>;
    /// What editors did with suggestions, oldest first.
    async fn suggestion_states(&self) -> StoreResult<Vec<cortex_core::suggest::SuggestionState>>;
    /// Records what an editor did with a suggestion, and its audit record; `false` (and
    /// nothing written) if the suggestion has a state already.
    async fn set_suggestion_state(
        &self,
        state: &cortex_core::suggest::SuggestionState,
        audit: AuditRecord,
    ) -> StoreResult<bool>;

    /// Keeps an alert for the webhook until it is delivered, due at `due`. An alert whose id
    /// is kept already (the same condition raised again, see `webhook::Alert::key`) is
    /// left as it is.
    async fn queue_alert(
        &self,
        alert: &crate::webhook::QueuedAlert,
        due: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Claims up to `limit` alerts due at `now` (oldest first) for this hub until
    /// `lease_until`: another hub does not take them before then.
    async fn claim_alerts(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<crate::webhook::QueuedAlert>>;
    /// Records one delivery attempt of alert `id` claimed until `claimed_until`: delivered,
    /// due again at `retry_at`, or given up (`retry_at` none and not delivered). Nothing is
    /// recorded if another hub has claimed it since.
    async fn alert_attempt(
        &self,
        id: &str,
        claimed_until: DateTime<Utc>,
        at: DateTime<Utc>,
        delivered: bool,
        retry_at: Option<DateTime<Utc>>,
        error: Option<&str>,
    ) -> StoreResult<()>;
    /// The newest alerts, newest first.
    async fn recent_alerts(&self, limit: u32) -> StoreResult<Vec<crate::webhook::QueuedAlert>>;
    /// Marks alert `id` acknowledged by `by` at `at`, with its audit record; `None` when
    /// there is no such alert, `Some(false)` (nothing written) when it was acknowledged
    /// already.
    async fn acknowledge_alert(
        &self,
        id: &str,
        by: &str,
        at: DateTime<Utc>,
        audit: AuditRecord,
    ) -> StoreResult<Option<bool>>;
    /// Alert `id`, if there is one.
    async fn get_alert(&self, id: &str) -> StoreResult<Option<crate::webhook::QueuedAlert>>;
    /// Deletes the alerts raised before `before` that wait for nothing (delivered, given
    /// up, or never meant for a webhook); returns how many.
    async fn prune_alerts(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    /// Error events per neuron that reported any between `from` and `to`: how many before
    /// `split` and how many from it on (neurons with none are left out).
    async fn error_counts(
        &self,
        from: DateTime<Utc>,
        split: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ErrorCount>>;

    /// Latency events per neuron that reported any: how many and their sum from `from` to
    /// before `split`, and from `after` to before `to` (a warm-up may lie between).
    async fn latency_stats(
        &self,
        from: DateTime<Utc>,
        split: DateTime<Utc>,
        after: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<LatencyStat>>;

    /// Events stored since `since`, summed per `bucket_secs` of arrival time (buckets
    /// without events are left out), oldest first. Counts batches, not events, so it reads
    /// one row per batch.
    async fn event_rate(
        &self,
        since: DateTime<Utc>,
        bucket_secs: i64,
    ) -> StoreResult<Vec<cortex_core::overview::RatePoint>>;

    /// Per neuron that stored events since `since`: how many from `split` on, how many
    /// before, and its first batch since `since` (one row per neuron; counts batches).
    async fn event_rates(
        &self,
        since: DateTime<Utc>,
        split: DateTime<Utc>,
    ) -> StoreResult<Vec<cortex_core::federation::watch::EventRate>>;
}

/// One neuron's latency samples before and after a moment (see
/// [`EventStore::latency_stats`]): how many, and their sum in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyStat {
    pub neuron_id: String,
    pub samples_before: u64,
    pub ms_sum_before: f64,
    pub samples_after: u64,
    pub ms_sum_after: f64,
}

/// One neuron's errors before and after a moment (see [`EventStore::error_counts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCount {
    pub neuron_id: String,
    pub before: u64,
    pub after: u64,
}

/// Most rows [`EventStore::segment_counts`] returns.
pub const MAX_SEGMENT_ROWS: i64 = 20_000;

/// The filter shared by both report queries: `$1`..`$5` are from, to, page, rule, variant.
const TALLY_FILTER: &str = "mutation_id IS NOT NULL
    AND kind IN ('exposure', 'click', 'conversion', 'dwell', 'error')
    AND at >= $1 AND at < $2
    AND ($3 = '' OR page_slug = $3)
    AND ($4 = '' OR mutation_id = $4)
    AND ($5 = '' OR COALESCE(variant, '') = $5)";

/// The per-rule-and-variant report query (portable SQL).
pub(crate) fn tally_sql() -> String {
    format!(
        "SELECT mutation_id, COALESCE(variant, '') AS variant,
                SUM(CASE WHEN kind = 'exposure' THEN 1 ELSE 0 END) AS exposures,
                COUNT(DISTINCT CASE WHEN kind = 'exposure' THEN unit END) AS exposed_units,
                SUM(CASE WHEN kind = 'click' THEN 1 ELSE 0 END) AS clicks,
                SUM(CASE WHEN kind = 'conversion' THEN 1 ELSE 0 END) AS conversions,
                COUNT(DISTINCT CASE WHEN kind = 'conversion' THEN unit END) AS converted_units,
                SUM(CASE WHEN kind = 'dwell' AND value IS NOT NULL THEN 1 ELSE 0 END) AS dwell_count,
                SUM(CASE WHEN kind = 'dwell' THEN value END) AS dwell_sum,
                SUM(CASE WHEN kind = 'dwell' THEN value * value END) AS dwell_sum_sq,
                SUM(CASE WHEN kind = 'conversion' THEN value END) AS revenue_sum,
                SUM(CASE WHEN kind = 'conversion' THEN value * value END) AS revenue_sum_sq,
                SUM(CASE WHEN kind = 'error' THEN 1 ELSE 0 END) AS errors
           FROM events
          WHERE {TALLY_FILTER}
          GROUP BY mutation_id, COALESCE(variant, '')
          ORDER BY mutation_id, variant
          LIMIT 5000"
    )
}

/// The per-day report query (portable SQL; `at` is in milliseconds).
pub(crate) fn days_sql() -> String {
    format!(
        "SELECT at / 86400000 AS day, mutation_id, COALESCE(variant, '') AS variant,
                SUM(CASE WHEN kind = 'exposure' THEN 1 ELSE 0 END) AS exposures,
                SUM(CASE WHEN kind = 'conversion' THEN 1 ELSE 0 END) AS conversions,
                SUM(CASE WHEN kind = 'click' THEN 1 ELSE 0 END) AS clicks
           FROM events
          WHERE {TALLY_FILTER}
          GROUP BY at / 86400000, mutation_id, COALESCE(variant, '')
          ORDER BY day, mutation_id, variant
          LIMIT 20000"
    )
}

/// Per day, the visitors exposed (converted) for the first time in the range that day
/// (portable SQL, the same parameters as [`days_sql`]).
pub(crate) fn first_days_sql() -> String {
    format!(
        "SELECT first / 86400000 AS day, mutation_id, variant,
                SUM(CASE WHEN kind = 'exposure' THEN 1 ELSE 0 END) AS new_units,
                SUM(CASE WHEN kind = 'conversion' THEN 1 ELSE 0 END) AS new_converted_units
           FROM (SELECT mutation_id, COALESCE(variant, '') AS variant, kind, unit, MIN(at) AS first
                   FROM events
                  WHERE {TALLY_FILTER} AND unit IS NOT NULL AND kind IN ('exposure', 'conversion')
                  GROUP BY mutation_id, COALESCE(variant, ''), kind, unit) AS firsts
          GROUP BY first / 86400000, mutation_id, variant
          LIMIT 20000"
    )
}

/// `YYYY-MM-DD` of a day number since the epoch.
pub(crate) fn day_name(day: i64) -> String {
    DateTime::<Utc>::from_timestamp(day * 86_400, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The columns events are inserted with, in order.
pub const EVENT_INSERT_COLS: &str =
    "neuron_id, batch_id, kind, at, received_at, unit, page_slug, mutation_id, variant, name, value, message, segment";

/// Postgres `COPY … FROM STDIN` text-format rows for the events of `batches`, in
/// [`EVENT_INSERT_COLS`] order.
pub fn pg_copy_text(batches: &[&SpooledBatch]) -> Vec<u8> {
    use std::fmt::Write as _;
    fn field(out: &mut String, v: Option<&str>) {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\t');
        }
        match v {
            None => out.push_str("\\N"),
            Some(s) => {
                for c in s.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '\t' => out.push_str("\\t"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        c => out.push(c),
                    }
                }
            }
        }
    }
    let mut out = String::with_capacity(batches.len() * 160);
    for b in batches {
        let received = b.received_at.timestamp_millis();
        for e in &b.batch.events {
            field(&mut out, Some(&b.neuron_id));
            field(&mut out, Some(&b.batch.batch_id));
            field(&mut out, Some(e.kind.as_str()));
            let _ = write!(out, "\t{}\t{}", e.at.timestamp_millis(), received);
            field(&mut out, e.unit.as_deref());
            field(&mut out, e.page_slug.as_deref());
            field(&mut out, e.mutation_id.as_deref());
            field(&mut out, e.variant.as_deref());
            field(&mut out, e.name.as_deref());
            match e.value {
                Some(v) => {
                    let _ = write!(out, "\t{v}");
                }
                None => out.push_str("\t\\N"),
            }
            field(&mut out, e.message.as_deref());
            field(&mut out, e.segment.as_deref());
            out.push('\n');
        }
    }
    out.into_bytes()
}

/// Keeps the first of each (neuron, batch id) in `batches`.
pub(crate) fn first_of_each(batches: &[SpooledBatch]) -> Vec<&SpooledBatch> {
    let mut seen = std::collections::HashSet::new();
    batches
        .iter()
        .filter(|b| seen.insert((b.neuron_id.as_str(), b.batch.batch_id.as_str())))
        .collect()
}

pub(crate) fn event_from_parts(
    kind: &str,
    at: DateTime<Utc>,
    texts: [Option<String>; 6],
    value: Option<f64>,
) -> Option<Event> {
    let [unit, page_slug, mutation_id, variant, name, message] = texts;
    Some(Event {
        kind: EventKind::parse(kind)?,
        at,
        unit,
        page_slug,
        mutation_id,
        variant,
        name,
        value,
        message,
        segment: None,
    })
}

/// Implements [`EventStore`] for a backend (see `common.rs` for the conventions); the backend
/// supplies `claim_batches` and `insert_events`.
macro_rules! impl_event_store {
    ($store:ty, $row:ty) => {
        #[async_trait]
        impl crate::store::events::EventStore for $store {
            async fn write_event_batches(
                &self,
                batches: &[crate::store::events::SpooledBatch],
            ) -> StoreResult<crate::store::events::EventsWritten> {
                let unique = crate::store::events::first_of_each(batches);
                let mut tx = self.writer()?.begin().await?;
                let claimed = Self::claim_batches(&mut tx, &unique).await?;
                let fresh: Vec<&crate::store::events::SpooledBatch> = unique
                    .iter()
                    .zip(&claimed)
                    .filter(|(_, c)| **c)
                    .map(|(b, _)| *b)
                    .collect();
                let events = Self::insert_events(&mut tx, &fresh).await?;
                self.roll_up(&mut tx, &fresh).await?;
                tx.commit().await?;
                Ok(crate::store::events::EventsWritten {
                    batches: fresh.len() as u64,
                    duplicates: (batches.len() - fresh.len()) as u64,
                    events,
                })
            }

            async fn count_events(&self) -> StoreResult<u64> {
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM events")
                    .fetch_one(&self.pool()?)
                    .await?
                    .try_get("n")?;
                Ok(n as u64)
            }

            async fn neuron_events(
                &self,
                q: &crate::store::events::EventQuery,
            ) -> StoreResult<Vec<cortex_core::analytics::NeuronEvent>> {
                use cortex_core::analytics::EventKind;
                let kinds: Vec<EventKind> = if q.kinds.is_empty() {
                    vec![EventKind::Error, EventKind::Log]
                } else {
                    q.kinds.clone()
                };
                let kind_list = kinds
                    .iter()
                    .map(|k| format!("'{}'", k.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ");
                let text = q
                    .text
                    .as_deref()
                    .map(|t| format!("%{}%", like_escape(&t.to_lowercase())))
                    .unwrap_or_default();
                let rows = sqlx::query(&format!(
                    "SELECT neuron_id, kind, at, unit, page_slug, mutation_id, variant, name, value, message
                       FROM events
                      WHERE kind IN ({kind_list})
                        AND ($1 = '' OR neuron_id = $1)
                        AND ($2 = '' OR LOWER(COALESCE(message, '')) LIKE $2 ESCAPE '\\'
                                     OR LOWER(COALESCE(name, '')) LIKE $2 ESCAPE '\\')
                      ORDER BY at DESC
                      LIMIT $3"
                ))
                .bind(q.neuron_id.clone().unwrap_or_default())
                .bind(text)
                .bind(i64::from(q.limit.clamp(1, 1000)))
                .fetch_all(&self.pool()?)
                .await?;
                rows.iter()
                    .map(|r| {
                        let t = |c: &str| -> StoreResult<Option<String>> { Ok(r.try_get(c)?) };
                        let kind: String = r.try_get("kind")?;
                        let event = crate::store::events::event_from_parts(
                            &kind,
                            from_ms(r.try_get("at")?),
                            [t("unit")?, t("page_slug")?, t("mutation_id")?, t("variant")?, t("name")?, t("message")?],
                            r.try_get("value")?,
                        )
                        .ok_or_else(|| StoreError::Other(format!("bad event kind `{kind}` in database")))?;
                        Ok(cortex_core::analytics::NeuronEvent {
                            neuron_id: r.try_get("neuron_id")?,
                            event,
                        })
                    })
                    .collect()
            }

            async fn create_command(
                &self,
                run: &cortex_core::federation::CommandRun,
                mut audit: AuditRecord,
            ) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO commands (id, command, scope, created_by, created_at, targeted, sent)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&run.id)
                .bind(run.command.as_str())
                .bind(&run.scope)
                .bind(&run.created_by)
                .bind(ms(run.created_at))
                .bind(run.targeted as i64)
                .bind(run.sent as i64)
                .execute(&mut *tx)
                .await?;
                for r in &run.reports {
                    sqlx::query(
                        "INSERT INTO command_reports (command_id, neuron_id, outcome, message, at)
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&run.id)
                    .bind(&r.neuron_id)
                    .bind(r.outcome.as_str())
                    .bind(&r.message)
                    .bind(ms(r.at))
                    .execute(&mut *tx)
                    .await?;
                }
                audit.target = format!("command:{}", run.id);
                audit.after = serde_json::json!({
                    "command": run.command.as_str(), "scope": run.scope,
                    "targeted": run.targeted, "sent": run.sent,
                });
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn report_command(
                &self,
                id: &str,
                neuron_id: &str,
                outcome: cortex_core::federation::CommandOutcome,
                message: &str,
                at: DateTime<Utc>,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE command_reports SET outcome = $1, message = $2, at = $3
                      WHERE command_id = $4 AND neuron_id = $5 AND outcome = 'pending'",
                )
                .bind(outcome.as_str())
                .bind(message)
                .bind(ms(at))
                .bind(id)
                .bind(neuron_id)
                .execute(&self.writer()?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn extend_command(
                &self,
                id: &str,
                neuron_ids: &[String],
                at: DateTime<Utc>,
            ) -> StoreResult<()> {
                let mut tx = self.writer()?.begin().await?;
                let mut added = 0i64;
                for n in neuron_ids {
                    let r = sqlx::query(
                        "INSERT INTO command_reports (command_id, neuron_id, outcome, message, at)
                         VALUES ($1, $2, 'pending', '', $3) ON CONFLICT DO NOTHING",
                    )
                    .bind(id)
                    .bind(n)
                    .bind(ms(at))
                    .execute(&mut *tx)
                    .await?;
                    added += r.rows_affected() as i64;
                }
                sqlx::query("UPDATE commands SET sent = sent + $1 WHERE id = $2")
                    .bind(added)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn recent_commands(
                &self,
                limit: u32,
            ) -> StoreResult<Vec<cortex_core::federation::CommandRun>> {
                use cortex_core::federation::{Command, CommandOutcome, CommandReport, CommandRun};
                let rows = sqlx::query(
                    "SELECT id, command, scope, created_by, created_at, targeted, sent
                       FROM commands ORDER BY created_at DESC, id LIMIT $1",
                )
                .bind(i64::from(limit.clamp(1, 200)))
                .fetch_all(&self.pool()?)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let id: String = r.try_get("id")?;
                    let command: String = r.try_get("command")?;
                    let reports = sqlx::query(
                        "SELECT neuron_id, outcome, message, at FROM command_reports
                          WHERE command_id = $1 ORDER BY neuron_id",
                    )
                    .bind(&id)
                    .fetch_all(&self.pool()?)
                    .await?
                    .iter()
                    .map(|r| {
                        let outcome: String = r.try_get("outcome")?;
                        Ok(CommandReport {
                            neuron_id: r.try_get("neuron_id")?,
                            outcome: CommandOutcome::parse(&outcome).ok_or_else(|| {
                                StoreError::Other(format!("bad command outcome `{outcome}` in database"))
                            })?,
                            message: r.try_get("message")?,
                            at: from_ms(r.try_get("at")?),
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                    out.push(CommandRun {
                        command: Command::parse(&command).ok_or_else(|| {
                            StoreError::Other(format!("bad command `{command}` in database"))
                        })?,
                        id,
                        scope: r.try_get("scope")?,
                        created_by: r.try_get("created_by")?,
                        created_at: from_ms(r.try_get("created_at")?),
                        targeted: r.try_get::<i64, _>("targeted")? as u64,
                        sent: r.try_get::<i64, _>("sent")? as u64,
                        reports,
                    });
                }
                Ok(out)
            }

            async fn segment_counts(
                &self,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> StoreResult<Vec<cortex_core::suggest::SegmentCount>> {
                let rows = sqlx::query(
                    // The page reports one click event per rule it showed: a click counts
                    // once per visitor and moment.
                    "SELECT page_slug, COALESCE(segment, '') AS segment, kind,
                            CASE WHEN kind = 'click' THEN COALESCE(name, '') ELSE '' END AS node,
                            CASE WHEN kind = 'click'
                                 THEN COUNT(DISTINCT COALESCE(unit, '') || '|' || CAST(at AS TEXT))
                                 ELSE COUNT(*) END AS n
                       FROM events
                      WHERE kind IN ('pageView', 'click') AND page_slug IS NOT NULL
                        AND at >= $1 AND at < $2
                      GROUP BY 1, 2, 3, 4
                      ORDER BY n DESC, 1, 2, 3, 4
                      LIMIT $3",
                )
                .bind(ms(from))
                .bind(ms(to))
                .bind(crate::store::events::MAX_SEGMENT_ROWS)
                .fetch_all(&self.pool()?)
                .await?;
                rows.iter()
                    .map(|r| {
                        let n: i64 = r.try_get("n")?;
                        Ok(cortex_core::suggest::SegmentCount {
                            page: r.try_get("page_slug")?,
                            segment: r.try_get("segment")?,
                            kind: r.try_get("kind")?,
                            name: r.try_get("node")?,
                            count: n.max(0) as u64,
                        })
                    })
                    .collect()
            }

            async fn queue_alert(
                &self,
                a: &crate::webhook::QueuedAlert,
                due: DateTime<Utc>,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO alerts (id, kind, rule_id, at, body, attempts, next_at, deliver)
                     VALUES ($1, $2, $3, $4, $5, 0, $6, $7) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&a.id)
                .bind(&a.kind)
                .bind(&a.rule_id)
                .bind(ms(a.at))
                .bind(&a.body)
                .bind(ms(due))
                .bind(a.deliver)
                .execute(&self.writer()?)
                .await?;
                Ok(())
            }

            async fn claim_alerts(
                &self,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: u32,
            ) -> StoreResult<Vec<crate::webhook::QueuedAlert>> {
                let rows = sqlx::query(&format!(
                    "UPDATE alerts SET next_at = $1
                      WHERE id IN (SELECT id FROM alerts
                                    WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= $2
                                      AND deliver
                                    ORDER BY next_at, id LIMIT $3)
                        AND delivered_at IS NULL AND failed_at IS NULL AND next_at <= $2
                  RETURNING {}",
                    crate::webhook::ALERT_COLS
                ))
                .bind(ms(lease_until))
                .bind(ms(now))
                .bind(i64::from(limit))
                .fetch_all(&self.writer()?)
                .await?;
                let mut out = rows.iter().map(Self::alert_of).collect::<StoreResult<Vec<_>>>()?;
                out.sort_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
                Ok(out)
            }

            async fn alert_attempt(
                &self,
                id: &str,
                claimed_until: DateTime<Utc>,
                at: DateTime<Utc>,
                delivered: bool,
                retry_at: Option<DateTime<Utc>>,
                error: Option<&str>,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE alerts SET attempts = attempts + 1,
                            delivered_at = CASE WHEN $2 THEN $3 ELSE delivered_at END,
                            failed_at = CASE WHEN NOT $2 AND $4 IS NULL THEN $3 ELSE failed_at END,
                            next_at = COALESCE($4, next_at),
                            last_error = $5
                      WHERE id = $1 AND next_at = $6
                        AND delivered_at IS NULL AND failed_at IS NULL",
                )
                .bind(id)
                .bind(delivered)
                .bind(ms(at))
                .bind(retry_at.map(ms))
                .bind(error)
                .bind(ms(claimed_until))
                .execute(&self.writer()?)
                .await?;
                Ok(())
            }

            async fn acknowledge_alert(
                &self,
                id: &str,
                by: &str,
                at: DateTime<Utc>,
                mut audit: AuditRecord,
            ) -> StoreResult<Option<bool>> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE alerts SET acknowledged_at = $2, acknowledged_by = $3
                      WHERE id = $1 AND acknowledged_at IS NULL",
                )
                .bind(id)
                .bind(ms(at))
                .bind(by)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !done {
                    let known = sqlx::query("SELECT id FROM alerts WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .is_some();
                    return Ok(known.then_some(false));
                }
                audit.target = format!("alert:{id}");
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(Some(true))
            }

            async fn get_alert(&self, id: &str) -> StoreResult<Option<crate::webhook::QueuedAlert>> {
                let row = sqlx::query(&format!(
                    "SELECT {} FROM alerts WHERE id = $1",
                    crate::webhook::ALERT_COLS
                ))
                .bind(id)
                .fetch_optional(&self.pool()?)
                .await?;
                row.as_ref().map(Self::alert_of).transpose()
            }

            async fn prune_alerts(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                Ok(sqlx::query(
                    "DELETE FROM alerts WHERE at < $1
                        AND (delivered_at IS NOT NULL OR failed_at IS NOT NULL OR NOT deliver)",
                )
                .bind(ms(before))
                .execute(&self.writer()?)
                .await?
                .rows_affected())
            }

            async fn recent_alerts(&self, limit: u32) -> StoreResult<Vec<crate::webhook::QueuedAlert>> {
                let rows = sqlx::query(&format!(
                    "SELECT {} FROM alerts ORDER BY at DESC, id DESC LIMIT $1",
                    crate::webhook::ALERT_COLS
                ))
                .bind(i64::from(limit))
                .fetch_all(&self.pool()?)
                .await?;
                rows.iter().map(Self::alert_of).collect()
            }

            async fn rule_counts(
                &self,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> StoreResult<Vec<cortex_core::suggest::RuleCount>> {
                let rows = sqlx::query(
                    "SELECT mutation_id, COALESCE(variant, '') AS variant,
                            COALESCE(segment, '') AS segment, (at / 3600000) % 24 AS hour,
                            COUNT(DISTINCT CASE WHEN kind = 'exposure' THEN unit END) AS exposed,
                            COUNT(DISTINCT CASE WHEN kind = 'conversion' THEN unit END) AS converted
                       FROM events
                      WHERE mutation_id IS NOT NULL AND unit IS NOT NULL
                        AND kind IN ('exposure', 'conversion') AND at >= $1 AND at < $2
                      GROUP BY 1, 2, 3, 4
                      ORDER BY exposed DESC, 1, 2, 3, 4
                      LIMIT $3",
                )
                .bind(ms(from))
                .bind(ms(to))
                .bind(crate::store::events::MAX_SEGMENT_ROWS)
                .fetch_all(&self.pool()?)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(cortex_core::suggest::RuleCount {
                            rule: r.try_get("mutation_id")?,
                            variant: r.try_get("variant")?,
                            segment: r.try_get("segment")?,
                            hour: r.try_get::<i64, _>("hour")?.clamp(0, 23) as u8,
                            exposed: Self::count_of(r, "exposed")?,
                            converted: Self::count_of(r, "converted")?,
                        })
                    })
                    .collect()
            }

            async fn scroll_depths(
                &self,
                rule: &str,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> StoreResult<Vec<cortex_core::heatmap::DepthCount>> {
                let rows = sqlx::query(
                    "SELECT COALESCE(variant, '') AS variant,
                            CAST(value AS BIGINT) / 10 * 10 AS depth, COUNT(*) AS n
                       FROM events
                      WHERE kind = 'scroll' AND mutation_id = $1
                        AND value >= 0 AND value <= 100 AND CAST(value AS BIGINT) = value
                        AND at >= $2 AND at < $3
                      GROUP BY 1, 2
                      ORDER BY 1, 2
                      LIMIT 1000",
                )
                .bind(rule)
                .bind(ms(from))
                .bind(ms(to))
                .fetch_all(&self.pool()?)
                .await?;
                rows.iter()
                    .map(|r| {
                        let depth: i64 = r.try_get("depth")?;
                        Ok(cortex_core::heatmap::DepthCount {
                            variant: r.try_get("variant")?,
                            depth: depth.clamp(0, 100) as u32,
                            count: Self::count_of(r, "n")?,
                        })
                    })
                    .collect()
            }

            async fn heat_cells(
                &self,
                rule: &str,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> StoreResult<Vec<cortex_core::heatmap::CellCount>> {
                let rows = sqlx::query(
                    "SELECT COALESCE(variant, '') AS variant, name,
                            CAST(value AS BIGINT) AS cell, COUNT(*) AS n
                       FROM events
                      WHERE kind = 'click' AND mutation_id = $1 AND name IS NOT NULL
                        AND value >= 0 AND value < $4 AND CAST(value AS BIGINT) = value
                        AND at >= $2 AND at < $3
                      GROUP BY 1, 2, 3
                      ORDER BY n DESC, 1, 2, 3
                      LIMIT $5",
                )
                .bind(rule)
                .bind(ms(from))
                .bind(ms(to))
                .bind(cortex_core::heatmap::CELLS as f64)
                .bind(crate::store::events::MAX_SEGMENT_ROWS)
                .fetch_all(&self.pool()?)
                .await?;
                rows.iter()
                    .map(|r| {
                        let n: i64 = r.try_get("n")?;
                        let cell: i64 = r.try_get("cell")?;
                        Ok(cortex_core::heatmap::CellCount {
                            variant: r.try_get("variant")?,
                            node: r.try_get("name")?,
                            cell: cell.clamp(0, i64::from(u32::MAX)) as u32,
                            count: n.max(0) as u64,
                        })
                    })
                    .collect()
            }

            async fn suggestion_states(
                &self,
            ) -> StoreResult<Vec<cortex_core::suggest::SuggestionState>> {
                let rows = sqlx::query(
                    "SELECT id, state, actor, at, rule_id FROM suggestion_states ORDER BY at, id",
                )
                .fetch_all(&self.pool()?)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(cortex_core::suggest::SuggestionState {
                            id: r.try_get("id")?,
                            state: r.try_get("state")?,
                            actor: r.try_get("actor")?,
                            at: from_ms(r.try_get("at")?),
                            rule_id: r.try_get("rule_id")?,
                        })
                    })
                    .collect()
            }

            async fn set_suggestion_state(
                &self,
                state: &cortex_core::suggest::SuggestionState,
                mut audit: AuditRecord,
            ) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "INSERT INTO suggestion_states (id, state, actor, at, rule_id)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&state.id)
                .bind(&state.state)
                .bind(&state.actor)
                .bind(ms(state.at))
                .bind(&state.rule_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !done {
                    return Ok(false);
                }
                audit.target = format!("suggestion:{}", state.id);
                audit.after = serde_json::to_value(state).unwrap_or_default();
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn error_counts(
                &self,
                from: DateTime<Utc>,
                split: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> StoreResult<Vec<crate::store::events::ErrorCount>> {
                // The kind filter repeats the partial index's, so the index serves the range.
                let rows = sqlx::query(
                    "SELECT neuron_id,
                            CAST(SUM(CASE WHEN at < $2 THEN 1 ELSE 0 END) AS BIGINT) AS before,
                            CAST(SUM(CASE WHEN at >= $2 THEN 1 ELSE 0 END) AS BIGINT) AS after
                       FROM events
                      WHERE kind IN ('error', 'log') AND kind = 'error' AND at >= $1 AND at < $3
                      GROUP BY neuron_id",
                )
                .bind(from.timestamp_millis())
                .bind(split.timestamp_millis())
                .bind(to.timestamp_millis())
                .fetch_all(&self.pool()?)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(crate::store::events::ErrorCount {
                            neuron_id: r.try_get("neuron_id")?,
                            before: r.try_get::<i64, _>("before")?.max(0) as u64,
                            after: r.try_get::<i64, _>("after")?.max(0) as u64,
                        })
                    })
                    .collect()
            }

            async fn event_rate(
                &self,
                since: DateTime<Utc>,
                bucket_secs: i64,
            ) -> StoreResult<Vec<cortex_core::overview::RatePoint>> {
                let bucket_ms = bucket_secs.max(1) * 1000;
                let rows = sqlx::query(
                    "SELECT received_at / $1 AS bucket, CAST(SUM(events) AS BIGINT) AS n
                       FROM event_batches WHERE received_at >= $2
                      GROUP BY bucket ORDER BY bucket",
                )
                .bind(bucket_ms)
                .bind(since.timestamp_millis())
                .fetch_all(&self.pool()?)
                .await?;
                rows.iter()
                    .map(|r| {
                        let bucket: i64 = r.try_get("bucket")?;
                        let n: i64 = r.try_get("n")?;
                        Ok(cortex_core::overview::RatePoint {
                            at: from_ms(bucket * bucket_ms),
                            events: n.max(0) as u64,
                        })
                    })
                    .collect()
            }

            async fn latency_stats(
                &self,
                from: DateTime<Utc>,
                split: DateTime<Utc>,
                after: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> StoreResult<Vec<crate::store::events::LatencyStat>> {
                // The kind filter is the partial index's (on `at`), so the index serves the range.
                let rows = sqlx::query(
                    "SELECT neuron_id,
                            CAST(SUM(CASE WHEN at < $2 THEN 1 ELSE 0 END) AS BIGINT) AS n_before,
                            CAST(SUM(CASE WHEN at < $2 THEN value ELSE 0 END) AS DOUBLE PRECISION) AS sum_before,
                            CAST(SUM(CASE WHEN at >= $3 THEN 1 ELSE 0 END) AS BIGINT) AS n_after,
                            CAST(SUM(CASE WHEN at >= $3 THEN value ELSE 0 END) AS DOUBLE PRECISION) AS sum_after
                       FROM events
                      WHERE kind = 'latency' AND value IS NOT NULL AND at >= $1 AND at < $4
                      GROUP BY neuron_id ORDER BY neuron_id",
                )
                .bind(from.timestamp_millis())
                .bind(split.timestamp_millis())
                .bind(after.max(split).timestamp_millis())
                .bind(to.timestamp_millis())
                .fetch_all(&self.pool()?)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(crate::store::events::LatencyStat {
                            neuron_id: r.try_get("neuron_id")?,
                            samples_before: r.try_get::<i64, _>("n_before")?.max(0) as u64,
                            ms_sum_before: r.try_get::<f64, _>("sum_before")?,
                            samples_after: r.try_get::<i64, _>("n_after")?.max(0) as u64,
                            ms_sum_after: r.try_get::<f64, _>("sum_after")?,
                        })
                    })
                    .collect()
            }

            async fn event_rates(
                &self,
                since: DateTime<Utc>,
                split: DateTime<Utc>,
            ) -> StoreResult<Vec<cortex_core::federation::watch::EventRate>> {
                let rows = sqlx::query(
                    "SELECT neuron_id,
                            CAST(SUM(CASE WHEN received_at >= $2 THEN events ELSE 0 END) AS BIGINT) AS recent,
                            CAST(SUM(CASE WHEN received_at < $2 THEN events ELSE 0 END) AS BIGINT) AS before,
                            MIN(received_at) AS first_at
                       FROM event_batches WHERE received_at >= $1
                      GROUP BY neuron_id ORDER BY neuron_id",
                )
                .bind(since.timestamp_millis())
                .bind(split.timestamp_millis())
                .fetch_all(&self.pool()?)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(cortex_core::federation::watch::EventRate {
                            neuron_id: r.try_get("neuron_id")?,
                            recent: r.try_get::<i64, _>("recent")?.max(0) as u64,
                            before: r.try_get::<i64, _>("before")?.max(0) as u64,
                            first_at: from_ms(r.try_get("first_at")?),
                        })
                    })
                    .collect()
            }

            async fn page_conversion(
                &self,
                page: Option<&str>,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> StoreResult<cortex_core::stats::guard::PageConversion> {
                // Converted: visitors with a conversion on the page who also viewed it then.
                let row = sqlx::query(
                    "SELECT COUNT(DISTINCT CASE WHEN kind = 'pageView' THEN unit END) AS units,
                            SUM(CASE WHEN kind = 'pageView' THEN 1 ELSE 0 END) AS views,
                            SUM(CASE WHEN kind = 'error' AND neuron_id NOT LIKE 'browser:%'
                                     THEN 1 ELSE 0 END) AS errors,
                            COUNT(DISTINCT CASE WHEN kind = 'conversion' AND unit IN (
                                SELECT v.unit FROM events v
                                 WHERE v.kind = 'pageView' AND v.at >= $1 AND v.at < $2
                                   AND ($3 = '' OR v.page_slug = $3)) THEN unit END) AS converted
                       FROM events
                      WHERE kind IN ('pageView', 'conversion', 'error')
                        AND (unit IS NOT NULL OR kind = 'error')
                        AND at >= $1 AND at < $2 AND ($3 = '' OR page_slug = $3)",
                )
                .bind(ms(from))
                .bind(ms(to))
                .bind(page.unwrap_or_default())
                .fetch_one(&self.pool()?)
                .await?;
                let count = |c: &str| -> StoreResult<u64> {
                    Ok(row.try_get::<Option<i64>, _>(c)?.unwrap_or(0).max(0) as u64)
                };
                Ok(cortex_core::stats::guard::PageConversion {
                    units: count("units")?,
                    converted: count("converted")?,
                    views: count("views")?,
                    errors: count("errors")?,
                })
            }

            async fn layout_tallies(
                &self,
                q: &cortex_core::report::ReportQuery,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> StoreResult<(Vec<cortex_core::report::Tally>, Vec<cortex_core::report::DayRow>)> {
                let bind = |sql: String| {
                    let text = |v: &Option<String>| v.clone().unwrap_or_default();
                    (sql, ms(from), ms(to), text(&q.page), text(&q.rule), text(&q.variant))
                };
                let (sql, a, b, p, m, v) = bind(crate::store::events::tally_sql());
                let rows = sqlx::query(&sql)
                    .bind(a).bind(b).bind(p).bind(m).bind(v)
                    .fetch_all(&self.pool()?)
                    .await?;
                let tallies = rows.iter().map(Self::tally_of).collect::<StoreResult<Vec<_>>>()?;
                let (sql, a, b, p, m, v) = bind(crate::store::events::days_sql());
                let rows = sqlx::query(&sql)
                    .bind(a).bind(b).bind(p).bind(m).bind(v)
                    .fetch_all(&self.pool()?)
                    .await?;
                let mut days = rows.iter().map(Self::day_of).collect::<StoreResult<Vec<_>>>()?;
                let (sql, a, b, p, m, v) = bind(crate::store::events::first_days_sql());
                let firsts = sqlx::query(&sql)
                    .bind(a).bind(b).bind(p).bind(m).bind(v)
                    .fetch_all(&self.pool()?)
                    .await?;
                for r in &firsts {
                    let day = crate::store::events::day_name(r.try_get("day")?);
                    let (m, v): (String, String) = (r.try_get("mutation_id")?, r.try_get("variant")?);
                    if let Some(d) = days.iter_mut().find(|d| d.day == day && d.mutation_id == m && d.variant == v) {
                        d.new_units = Self::count_of(r, "new_units")?;
                        d.new_converted_units = Self::count_of(r, "new_converted_units")?;
                    }
                }
                Ok((tallies, days))
            }

            async fn rollup_tallies(
                &self,
                rule: Option<&str>,
                variant: Option<&str>,
                from_hour: i64,
            ) -> StoreResult<(Vec<cortex_core::report::Tally>, Vec<cortex_core::report::DayRow>)> {
                let pool = self.pool()?;
                let run = |sql: &'static str| {
                    sqlx::query(sql)
                        .bind(from_hour)
                        .bind(rule.unwrap_or_default().to_string())
                        .bind(variant.unwrap_or_default().to_string())
                        .fetch_all(&pool)
                };
                let tallies = run(crate::store::rollup::TALLY_SQL).await?;
                let days = run(crate::store::rollup::DAYS_SQL).await?;
                Ok((
                    tallies.iter().map(Self::tally_of).collect::<StoreResult<Vec<_>>>()?,
                    days.iter().map(Self::day_of).collect::<StoreResult<Vec<_>>>()?,
                ))
            }

            async fn pre_exposure(
                &self,
                rule: &str,
                variant: &str,
                from_hour: i64,
            ) -> StoreResult<cortex_core::report::PreExposure> {
                let r = sqlx::query(crate::store::rollup::PRE_EXPOSURE_SQL)
                    .bind(rule.to_string())
                    .bind(variant.to_string())
                    .bind(from_hour)
                    .bind(crate::store::rollup::PRE_EXPOSURE_HOURS)
                    .fetch_one(&self.pool()?)
                    .await?;
                let count = |c| Self::count_of(&r, c);
                Ok(cortex_core::report::PreExposure {
                    with_history: count("with_history")?,
                    pre_sum: count("pre_sum")?,
                    pre_sum_sq: count("pre_sum_sq")?,
                    cross_sum: count("cross_sum")?,
                    ..Default::default()
                })
            }

            async fn rebuild_rollup(&self) -> StoreResult<u64> {
                let mut tx = self.writer()?.begin().await?;
                Self::lock_rollup(&mut tx).await?;
                sqlx::query("DELETE FROM rule_hours").execute(&mut *tx).await?;
                sqlx::query("DELETE FROM rule_units").execute(&mut *tx).await?;
                sqlx::query("DELETE FROM unit_conversions").execute(&mut *tx).await?;
                for statement in crate::store::rollup::backfill_statements() {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM rule_hours")
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("n")?;
                tx.commit().await?;
                Ok(n.max(0) as u64)
            }
        }

        impl $store {
            fn alert_of(r: &$row) -> StoreResult<crate::webhook::QueuedAlert> {
                let state = if r.try_get::<Option<i64>, _>("delivered_at")?.is_some() {
                    crate::webhook::AlertState::Delivered
                } else if r.try_get::<Option<i64>, _>("failed_at")?.is_some() {
                    crate::webhook::AlertState::Failed
                } else {
                    crate::webhook::AlertState::Pending
                };
                let deliver: bool = r.try_get("deliver")?;
                Ok(crate::webhook::QueuedAlert {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    rule_id: r.try_get("rule_id")?,
                    at: from_ms(r.try_get("at")?),
                    body: r.try_get("body")?,
                    attempts: r.try_get::<i64, _>("attempts")?.max(0) as u32,
                    state: if deliver {
                        state
                    } else {
                        crate::webhook::AlertState::DashboardOnly
                    },
                    last_error: r.try_get("last_error")?,
                    deliver,
                    acknowledged_at: r.try_get::<Option<i64>, _>("acknowledged_at")?.map(from_ms),
                    acknowledged_by: r.try_get("acknowledged_by")?,
                })
            }

            fn count_of(r: &$row, c: &str) -> StoreResult<u64> {
                Ok(r.try_get::<Option<i64>, _>(c)?.unwrap_or(0).max(0) as u64)
            }

            /// A report row (see `tally_sql` and `rollup::TALLY_SQL`).
            fn tally_of(r: &$row) -> StoreResult<cortex_core::report::Tally> {
                let count = Self::count_of;
                Ok(cortex_core::report::Tally {
                    mutation_id: r.try_get("mutation_id")?,
                    variant: r.try_get("variant")?,
                    exposures: count(r, "exposures")?,
                    exposed_units: count(r, "exposed_units")?,
                    clicks: count(r, "clicks")?,
                    conversions: count(r, "conversions")?,
                    converted_units: count(r, "converted_units")?,
                    dwell_count: count(r, "dwell_count")?,
                    dwell_sum: r.try_get::<Option<f64>, _>("dwell_sum")?.unwrap_or(0.0),
                    dwell_sum_sq: r.try_get::<Option<f64>, _>("dwell_sum_sq")?.unwrap_or(0.0),
                    revenue_sum: r.try_get::<Option<f64>, _>("revenue_sum")?.unwrap_or(0.0),
                    revenue_sum_sq: r.try_get::<Option<f64>, _>("revenue_sum_sq")?.unwrap_or(0.0),
                    errors: count(r, "errors")?,
                    pre_exposure: None,
                })
            }

            /// A per-day report row (see `days_sql` and `rollup::DAYS_SQL`).
            fn day_of(r: &$row) -> StoreResult<cortex_core::report::DayRow> {
                let count = Self::count_of;
                Ok(cortex_core::report::DayRow {
                    day: crate::store::events::day_name(r.try_get("day")?),
                    mutation_id: r.try_get("mutation_id")?,
                    variant: r.try_get("variant")?,
                    exposures: count(r, "exposures")?,
                    conversions: count(r, "conversions")?,
                    clicks: count(r, "clicks")?,
                    // Not in the per-day query of events (see `first_days_sql`).
                    new_units: count(r, "new_units").unwrap_or(0),
                    new_converted_units: count(r, "new_converted_units").unwrap_or(0),
                })
            }

            /// Adds `batches`' rule events to the report rollup, in the writing transaction
            /// (see [`crate::store::rollup`]).
            async fn roll_up(
                &self,
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                batches: &[&crate::store::events::SpooledBatch],
            ) -> StoreResult<()> {
                use crate::store::rollup::{Rollup, CHUNK};
                let mut rollup = Rollup::of(batches);
                let converted: Vec<_> = std::mem::take(&mut rollup.converted).into_iter().collect();
                for chunk in converted.chunks(CHUNK) {
                    let mut qb =
                        sqlx::QueryBuilder::new("INSERT INTO unit_conversions (hour, unit) ");
                    qb.push_values(chunk, |mut row, (unit, hour)| {
                        row.push_bind(*hour).push_bind(unit);
                    });
                    qb.push(" ON CONFLICT (hour, unit) DO NOTHING");
                    qb.build().execute(&mut **tx).await?;
                }
                if rollup.hours.is_empty() {
                    return Ok(());
                }
                Self::lock_rollup(tx).await?;
                let stored = Self::merge_units(tx, rollup.units()).await?;
                rollup.settle(&stored);
                let hours: Vec<_> = rollup.hours.into_iter().collect();
                for chunk in hours.chunks(CHUNK) {
                    let mut qb = sqlx::QueryBuilder::new(
                        "INSERT INTO rule_hours (mutation_id, variant, hour, events, exposures, clicks,
                             conversions, dwell_count, dwell_sum, dwell_sum_sq, units, converted_units,
                             new_units, new_converted_units, revenue_sum, revenue_sum_sq, errors) ",
                    );
                    qb.push_values(chunk, |mut row, ((m, v, hour), c)| {
                        row.push_bind(m)
                            .push_bind(v)
                            .push_bind(*hour)
                            .push_bind(c.events)
                            .push_bind(c.exposures)
                            .push_bind(c.clicks)
                            .push_bind(c.conversions)
                            .push_bind(c.dwell_count)
                            .push_bind(c.dwell_sum)
                            .push_bind(c.dwell_sum_sq)
                            .push_bind(c.units)
                            .push_bind(c.converted_units)
                            .push_bind(c.new_units)
                            .push_bind(c.new_converted_units)
                            .push_bind(c.revenue_sum)
                            .push_bind(c.revenue_sum_sq)
                            .push_bind(c.errors);
                    });
                    qb.push(
                        " ON CONFLICT (mutation_id, variant, hour) DO UPDATE SET
                          events = rule_hours.events + excluded.events,
                          exposures = rule_hours.exposures + excluded.exposures,
                          clicks = rule_hours.clicks + excluded.clicks,
                          conversions = rule_hours.conversions + excluded.conversions,
                          dwell_count = rule_hours.dwell_count + excluded.dwell_count,
                          dwell_sum = rule_hours.dwell_sum + excluded.dwell_sum,
                          dwell_sum_sq = rule_hours.dwell_sum_sq + excluded.dwell_sum_sq,
                          units = rule_hours.units + excluded.units,
                          converted_units = rule_hours.converted_units + excluded.converted_units,
                          new_units = rule_hours.new_units + excluded.new_units,
                          new_converted_units = rule_hours.new_converted_units + excluded.new_converted_units,
                          revenue_sum = rule_hours.revenue_sum + excluded.revenue_sum,
                          revenue_sum_sq = rule_hours.revenue_sum_sq + excluded.revenue_sum_sq,
                          errors = rule_hours.errors + excluded.errors",
                    );
                    qb.build().execute(&mut **tx).await?;
                }
                Ok(())
            }
        }
    };
}

pub(crate) use impl_event_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_and_marks_nulls() {
        let mut e = Event::new(
            EventKind::Error,
            DateTime::from_timestamp_millis(5).unwrap(),
        );
        e.message = Some("tab\there\nnew \\ line".into());
        e.value = Some(1.5);
        e.segment = Some("device:mobile".into());
        let b = SpooledBatch {
            neuron_id: "n-1".into(),
            received_at: DateTime::from_timestamp_millis(7).unwrap(),
            batch: EventBatch {
                batch_id: "b".into(),
                events: vec![e],
                receipt: None,
            },
        };
        let text = String::from_utf8(pg_copy_text(&[&b])).unwrap();
        assert_eq!(
            text,
            "n-1\tb\terror\t5\t7\t\\N\t\\N\t\\N\t\\N\t\\N\t1.5\ttab\\there\\nnew \\\\ line\tdevice:mobile\n"
        );
    }
}
