//! Events the hub makes itself while it renders its own pages: the storefront's page views
//! and the exposures each view showed. They are trusted (the hub counted them), so they are
//! not held to a neuron's rate: they wait in memory and are spooled as a few large batches,
//! a batch per [`FLUSH_EVERY`] or per [`MAX_BATCH_EVENTS`] events, whichever comes first.
//! One spool append per batch, not one per page view, is what lets a busy storefront record
//! every view.
//!
//! Their budget: at most [`MAX_PENDING`] events wait in memory, and in the spool they may use
//! the public share (as every public source). While the spool is full they stay in memory
//! and are spooled when there is room; only past [`MAX_PENDING`] are events shed, and shed
//! events are counted (`cortex_storefront_events_shed_total`, and the Status page), never
//! only logged.
//!
//! Each event stays its own row: reports count distinct visitors per rule and variant, so
//! views cannot be folded into one counted row without losing who saw what.

use chrono::Utc;
use cortex_core::analytics::{Event, EventBatch, MAX_BATCH_EVENTS};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

use super::spool::Spool;

/// Events waiting in memory at most (about 300 bytes each: under 64 MiB).
pub const MAX_PENDING: usize = 200_000;
/// Longest a recorded event waits before it is spooled.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Pause before trying again while the spool refuses.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// The hub's own events on their way to the spool.
#[derive(Default)]
pub struct OwnEvents {
    pending: Mutex<VecDeque<Event>>,
    full: Notify,
    recorded: AtomicU64,
    shed: AtomicU64,
}

impl OwnEvents {
    /// Takes the events of one page view. Never waits; past [`MAX_PENDING`] the view is
    /// shed whole (counted), so no view is left half recorded.
    pub fn record(&self, events: Vec<Event>) {
        let n = events.len();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() + n > MAX_PENDING {
            drop(pending);
            if self.shed.fetch_add(n as u64, Ordering::Relaxed) == 0 {
                tracing::warn!(
                    waiting = MAX_PENDING,
                    "storefront events are being shed: the spool has not taken them fast enough (counted in cortex_storefront_events_shed_total and on the Status page)"
                );
            }
            metrics::counter!("cortex_storefront_events_shed_total").increment(n as u64);
            return;
        }
        pending.extend(events);
        let ready = pending.len() >= MAX_BATCH_EVENTS;
        drop(pending);
        self.recorded.fetch_add(n as u64, Ordering::Relaxed);
        if ready {
            self.full.notify_one();
        }
    }

    /// Events recorded and shed since the hub started.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.recorded.load(Ordering::Relaxed),
            self.shed.load(Ordering::Relaxed),
        )
    }

    /// Events waiting in memory.
    pub fn waiting(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Spools everything waiting, in batches of at most [`MAX_BATCH_EVENTS`], as `source`
    /// within `room` bytes of backlog. Stops at the first refusal (the events stay waiting,
    /// in order) and says why.
    pub async fn flush(&self, spool: &Spool, source: &str, room: u64) -> Result<(), String> {
        loop {
            let events: Vec<Event> = {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                let n = pending.len().min(MAX_BATCH_EVENTS);
                pending.drain(..n).collect()
            };
            if events.is_empty() {
                return Ok(());
            }
            let batch = EventBatch {
                batch_id: uuid::Uuid::new_v4().to_string(),
                events,
                receipt: None,
            };
            let body = serde_json::to_vec(&batch).map_err(|e| e.to_string())?;
            if let Err(e) = spool.append_within(source, Utc::now(), &body, room).await {
                // Back at the front, in order: they are spooled when there is room.
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                for e in batch.events.into_iter().rev() {
                    pending.push_front(e);
                }
                return Err(e.to_string());
            }
            metrics::counter!("cortex_events_spooled_total").increment(batch.events.len() as u64);
        }
    }

    /// Spools what waits every [`FLUSH_EVERY`], or at once when a batch is full; while the
    /// spool refuses, tries again every second (logged once per refusal spell).
    pub async fn run(&self, spool: Spool, source: &str, room: u64) {
        let mut refused = false;
        loop {
            let _ = tokio::time::timeout(FLUSH_EVERY, self.full.notified()).await;
            match self.flush(&spool, source, room).await {
                Ok(()) => {
                    if std::mem::take(&mut refused) {
                        tracing::info!("storefront events are spooled again");
                    }
                }
                Err(why) => {
                    if !std::mem::replace(&mut refused, true) {
                        tracing::warn!(%why, waiting = self.waiting(), "storefront events wait in memory: the spool refuses them");
                    }
                    tokio::time::sleep(RETRY_EVERY).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(n: usize) -> Vec<Event> {
        (0..n)
            .map(|_| Event::new(cortex_core::analytics::EventKind::PageView, Utc::now()))
            .collect()
    }

    #[tokio::test]
    async fn views_wait_while_the_spool_refuses_and_are_spooled_in_order_later() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 30).unwrap();
        let own = OwnEvents::default();
        own.record(view(2));
        own.flush(&spool, "storefront", u64::MAX).await.unwrap();
        for _ in 0..3 {
            own.record(view(2));
        }
        // Something waits in the spool and there is no room past it: refused, nothing lost.
        assert!(own.flush(&spool, "storefront", 0).await.is_err());
        assert_eq!(own.waiting(), 6);
        own.flush(&spool, "storefront", u64::MAX).await.unwrap();
        assert_eq!(own.waiting(), 0);
        let (records, _) = spool.read(usize::MAX).await.unwrap();
        let events: usize = records
            .iter()
            .map(|r| {
                serde_json::from_slice::<EventBatch>(&r.body)
                    .unwrap()
                    .events
                    .len()
            })
            .sum();
        assert_eq!(events, 8);
        assert_eq!(own.counts(), (8, 0));
    }

    #[test]
    fn past_the_budget_whole_views_are_shed_and_counted() {
        let own = OwnEvents::default();
        own.record(view(MAX_PENDING - 1));
        own.record(view(3));
        own.record(view(1));
        assert_eq!(own.waiting(), MAX_PENDING);
        assert_eq!(own.counts(), (MAX_PENDING as u64, 3));
    }
}
