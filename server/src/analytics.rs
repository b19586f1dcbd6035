//! Analytics intake: batches of events from neurons are checked, rate-limited, spooled to
//! disk (acknowledged only once durable) and drained into the database by one writer in
//! large transactions. Batch ids are counted once per neuron.

pub mod own;
pub mod spool;

use chrono::{DateTime, Utc};
use cortex_core::analytics::{BatchAck, EventBatch, MAX_BATCH_BYTES};
use cortex_core::backoff::Backoff;
use cortex_core::ErrorCode;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::db_health::DbHealth;
use crate::error::ApiError;
use crate::rate_limit::RateLimiter;
use crate::store::events::SpooledBatch;
use crate::store::DynStore;
use spool::{Spool, SpoolError};

/// How far ahead of the hub's clock an event may be dated.
pub const MAX_FUTURE: chrono::Duration = chrono::Duration::days(1);

/// Batch ids remembered in memory to answer `duplicate: true` at once (the database counts
/// each id once in any case).
const REMEMBERED_BATCHES: usize = 200_000;
/// Bytes of spool the writer takes per database transaction.
const DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// Limits of the intake, from the config.
#[derive(Debug, Clone, Copy)]
pub struct AnalyticsSettings {
    /// Events per second one neuron may send (sustained).
    pub events_per_second: u32,
    /// Bytes waiting for the database before batches are refused (503).
    pub spool_max_bytes: u64,
}

/// Spooled records as batches for the database.
fn parse_spooled(records: Vec<spool::Record>) -> Vec<SpooledBatch> {
    records
        .into_iter()
        .filter_map(|r| match serde_json::from_slice::<EventBatch>(&r.body) {
            Ok(batch) => Some(SpooledBatch {
                neuron_id: r.neuron_id,
                received_at: r.received_at,
                batch,
            }),
            Err(e) => {
                // Checked before it was spooled, so only a bug gets here: skip it.
                tracing::error!(neuron = %r.neuron_id, error = %e, "unreadable spooled batch skipped");
                None
            }
        })
        .collect()
}

/// The backlog public traffic may fill (see [`PUBLIC_SPOOL_SHARE`]).
fn public_room(spool: &Spool) -> u64 {
    (spool.max_backlog() as f64 * PUBLIC_SPOOL_SHARE) as u64
}

#[derive(Default)]
struct Remembered {
    set: HashSet<(String, String)>,
    order: VecDeque<(String, String)>,
}

/// Share of the spool public traffic (the storefront, browser apps) may fill; the rest is
/// kept for neurons, so a flood of page views cannot starve them.
pub const PUBLIC_SPOOL_SHARE: f64 = 0.5;
/// Events one storefront visitor may report per second, sustained, and at once.
pub const VISITOR_EVENTS_PER_SECOND: f64 = 5.0;
pub const VISITOR_EVENTS_BURST: f64 = 200.0;

/// The source the hub's own storefront events are counted under.
pub const STOREFRONT_SOURCE: &str = "storefront";

/// Where a batch comes from, for its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake<'a> {
    /// A neuron (its token): the neuron's own rate, the whole spool.
    Neuron,
    /// The public web (the storefront's pages, browser apps on a publishable key): at most
    /// [`PUBLIC_SPOOL_SHARE`] of the spool, and, for a known visitor, the visitor's rate.
    Public { visitor: Option<&'a str> },
}

/// The analytics service. Cheap to clone.
#[derive(Clone)]
pub struct Analytics {
    /// `None` in a process that does not serve (the command line): it refuses batches.
    spool: Option<Spool>,
    limiter: Arc<RateLimiter>,
    /// Events per storefront visitor.
    visitors: Arc<RateLimiter>,
    seen: Arc<Mutex<Remembered>>,
    /// The storefront's page views and exposures, on their way to the spool.
    own: Arc<own::OwnEvents>,
}

impl Analytics {
    /// Opens the spool under `dir`.
    pub fn open(dir: &std::path::Path, settings: AnalyticsSettings) -> std::io::Result<Self> {
        let rate = f64::from(settings.events_per_second.max(1));
        Ok(Self {
            spool: Some(Spool::open(dir, settings.spool_max_bytes)?),
            // A neuron may burst one second's worth, and always at least one full batch.
            limiter: Arc::new(RateLimiter::new(
                rate,
                rate.max(cortex_core::analytics::MAX_BATCH_EVENTS as f64),
            )),
            visitors: Arc::new(RateLimiter::new(
                VISITOR_EVENTS_PER_SECOND,
                VISITOR_EVENTS_BURST,
            )),
            seen: Arc::default(),
            own: Arc::default(),
        })
    }

    /// Intake for a process that does not serve (the command line): no spool is opened,
    /// so it never competes with a running hub for the data dir.
    pub fn offline() -> Self {
        Self {
            spool: None,
            limiter: Arc::new(RateLimiter::new(1.0, 1.0)),
            visitors: Arc::new(RateLimiter::new(1.0, 1.0)),
            seen: Arc::default(),
            own: Arc::default(),
        }
    }

    /// The spool, in a serving process.
    pub fn spool(&self) -> Option<&Spool> {
        self.spool.as_ref()
    }

    /// The storefront's own events (page views and exposures the hub rendered).
    pub fn own(&self) -> &own::OwnEvents {
        &self.own
    }

    /// Records the events of one storefront page view the hub rendered: spooled within
    /// [`own::FLUSH_EVERY`], under the storefront's own budget (see [`own`]).
    pub fn record_own(&self, events: Vec<cortex_core::analytics::Event>) {
        self.own.record(events);
    }

    /// Spools the storefront's own events until the hub stops (see [`own`]).
    pub async fn run_own(self) {
        let Some(spool) = self.spool.clone() else {
            return;
        };
        let room = public_room(&spool);
        self.own.run(spool, STOREFRONT_SOURCE, room).await;
    }

    /// Spools the storefront's own events waiting now (at shutdown).
    pub async fn flush_own(&self) {
        if let Some(spool) = &self.spool {
            if let Err(why) = self
                .own
                .flush(spool, STOREFRONT_SOURCE, public_room(spool))
                .await
            {
                let (_, shed) = self.own.counts();
                tracing::warn!(%why, waiting = self.own.waiting(), shed, "storefront events not spooled at shutdown");
            }
        }
    }

    /// Takes a batch from neuron `neuron_id`: checks size and shape, applies the neuron's rate
    /// limit, and returns once the batch is durably spooled (or was seen before).
    pub async fn ingest(
        &self,
        neuron_id: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<BatchAck, ApiError> {
        let batch = Self::parse(body)?;
        self.ingest_parsed(neuron_id, &batch, body, now).await
    }

    /// A batch from a request body: its size checked, then parsed.
    pub fn parse(body: &[u8]) -> Result<EventBatch, ApiError> {
        if body.len() > MAX_BATCH_BYTES {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("a batch is at most {MAX_BATCH_BYTES} bytes; send smaller batches"),
            ));
        }
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("not an event batch: {e}")))
    }

    /// Like [`Analytics::ingest`], for a batch already parsed from `body`.
    pub async fn ingest_parsed(
        &self,
        neuron_id: &str,
        batch: &EventBatch,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<BatchAck, ApiError> {
        self.ingest_from(Intake::Neuron, neuron_id, batch, body, now)
            .await
    }

    /// Takes a batch under the limits of where it comes from (see [`Intake`]), counted
    /// under `source`.
    pub async fn ingest_from(
        &self,
        intake: Intake<'_>,
        neuron_id: &str,
        batch: &EventBatch,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<BatchAck, ApiError> {
        batch
            .validate()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        // An event from the future would count as seen in every report until then.
        if let Some(i) = batch.events.iter().position(|e| e.at > now + MAX_FUTURE) {
            return Err(ApiError::bad_request(format!(
                "events[{i}].at: more than a day after the hub's clock; check the sender's clock"
            )));
        }
        if let Some(i) = batch
            .events
            .iter()
            .position(|e| e.at.timestamp_millis() < 0)
        {
            return Err(ApiError::bad_request(format!(
                "events[{i}].at: before 1970; check the sender's clock"
            )));
        }
        let key = (neuron_id.to_string(), batch.batch_id.clone());
        let ack = |duplicate| BatchAck {
            batch_id: batch.batch_id.clone(),
            events: batch.events.len() as u32,
            duplicate,
        };
        if self.lock_seen().set.contains(&key) {
            metrics::counter!("cortex_event_batches_duplicate_total").increment(1);
            return Ok(ack(true));
        }
        if let Intake::Public {
            visitor: Some(visitor),
        } = intake
        {
            if let Err(wait) = self.visitors.take(visitor, batch.events.len() as f64) {
                metrics::counter!("cortex_event_batches_limited_total").increment(1);
                return Err(ApiError {
                    code: ErrorCode::RateLimited,
                    message:
                        "this visitor reports too many events; retry after the delay in Retry-After"
                            .into(),
                    retry_after: Some(wait.as_secs().max(1)),
                });
            }
        }
        if let Err(wait) = self.limiter.take(neuron_id, batch.events.len() as f64) {
            metrics::counter!("cortex_event_batches_limited_total").increment(1);
            return Err(ApiError {
                code: ErrorCode::RateLimited,
                message: format!(
                    "neuron `{neuron_id}` is over its event rate limit; retry after the delay in Retry-After"
                ),
                retry_after: Some(wait.as_secs().max(1)),
            });
        }
        let spool = self.spool.as_ref().ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unavailable,
                "this process does not take analytics",
            )
        })?;
        let room = match intake {
            Intake::Neuron => spool.max_backlog(),
            Intake::Public { .. } => public_room(spool),
        };
        spool
            .append_within(neuron_id, now, body, room)
            .await
            .map_err(|e| match e {
                SpoolError::Full(_) => ApiError {
                    code: ErrorCode::Unavailable,
                    message: e.to_string(),
                    retry_after: Some(5),
                },
                SpoolError::Io(_) => {
                    tracing::error!(error = %e, "analytics batch refused");
                    ApiError::new(ErrorCode::Unavailable, e.to_string())
                }
            })?;
        metrics::counter!("cortex_events_spooled_total").increment(batch.events.len() as u64);
        self.remember(key);
        Ok(ack(false))
    }

    fn lock_seen(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember(&self, key: (String, String)) {
        let mut seen = self.lock_seen();
        if seen.set.insert(key.clone()) {
            seen.order.push_back(key);
            while seen.order.len() > REMEMBERED_BATCHES {
                if let Some(old) = seen.order.pop_front() {
                    seen.set.remove(&old);
                }
            }
        }
    }

    /// Moves spooled batches into the database until nothing is left; returns how many
    /// events were written. Stops at the first database error (the spool keeps them).
    pub async fn drain_once(&self, store: &DynStore) -> Result<u64, crate::store::StoreError> {
        let mut written = 0;
        let Some(spool) = &self.spool else {
            return Ok(0);
        };
        loop {
            let (records, at) = spool
                .read(DRAIN_BYTES)
                .await
                .map_err(|e| crate::store::StoreError::Other(e.to_string()))?;
            if records.is_empty() {
                return Ok(written);
            }
            // Parsing up to 16 MiB of JSON takes tens of milliseconds: off the async workers,
            // so requests (and channel opens) do not wait behind the backlog being written.
            let batches = tokio::task::spawn_blocking(move || parse_spooled(records))
                .await
                .map_err(|e| crate::store::StoreError::Other(e.to_string()))?;
            let outcome = store.write_event_batches(&batches).await?;
            written += outcome.events;
            metrics::counter!("cortex_events_written_total").increment(outcome.events);
            spool
                .commit(at)
                .await
                .map_err(|e| crate::store::StoreError::Other(e.to_string()))?;
        }
    }

    /// The writer: drains the spool whenever new batches are durable, retrying with backoff
    /// while the database is away. Runs for the life of the hub.
    pub async fn run_writer(self, store: DynStore, health: DbHealth) {
        let Some(spool) = self.spool.clone() else {
            return;
        };
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        loop {
            if !health.is_ready() {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            match self.drain_once(&store).await {
                Ok(_) => backoff.reset(),
                Err(e) => {
                    tracing::warn!(error = %e, backlog = spool.backlog(), "analytics writer: database write failed; events stay spooled");
                    tokio::time::sleep(backoff.next_wait()).await;
                    continue;
                }
            }
            metrics::gauge!("cortex_spool_backlog_bytes").set(spool.backlog() as f64);
            let at = spool.durable();
            if spool.cursor() >= at {
                // Wake on new data, or now and then to notice the database came back.
                let _ = tokio::time::timeout(Duration::from_secs(1), spool.wait_past(at)).await;
            }
        }
    }
}
