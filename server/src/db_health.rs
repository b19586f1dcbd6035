//! Database health: the start-up self-check (connect with backoff, migrate, issue the setup
//! token) and a watcher that keeps `/readyz` truthful while the hub runs.

use cortex_core::backoff::Backoff;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::AuthService;
use crate::recovery::{Recovery, Settled};
use crate::store::{DynStore, StoreError};

/// Shared view of the database's state.
#[derive(Clone, Default)]
pub struct DbHealth {
    inner: Arc<DbHealthInner>,
}

#[derive(Default)]
struct DbHealthInner {
    ready: AtomicBool,
    /// Not ready because the database was replaced and is being restored.
    restoring: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// Outages that ended and were not yet raised as alerts (at most [`KEPT_OUTAGES`]).
    outages: Mutex<Vec<Outage>>,
    /// Wakes whoever raises them.
    ended: tokio::sync::Notify,
}

/// A time the database was unreachable, once it is over.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    pub from: chrono::DateTime<chrono::Utc>,
    pub to: chrono::DateTime<chrono::Utc>,
    /// Requests refused meanwhile.
    pub refused: u64,
    /// The first error seen.
    pub error: String,
}

/// Ended outages kept until they are raised (the oldest are dropped beyond it).
const KEPT_OUTAGES: usize = 100;

impl DbHealth {
    /// Whether the database answered and is migrated.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }
    /// Whether the database was replaced and the hub is restoring its control state.
    pub fn is_restoring(&self) -> bool {
        !self.is_ready() && self.inner.restoring.load(Ordering::Acquire)
    }
    fn set_restoring(&self, on: bool) {
        self.inner.restoring.store(on, Ordering::Release);
    }
    /// The last error seen while it was not.
    pub fn last_error(&self) -> Option<String> {
        self.inner
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    /// Records an outage that ended, to be raised as an alert once the database takes it.
    pub fn note_outage(&self, outage: Outage) {
        let mut kept = self.inner.outages.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= KEPT_OUTAGES {
            kept.remove(0);
        }
        kept.push(outage);
        drop(kept);
        self.inner.ended.notify_one();
    }
    /// The outages that ended since the last call.
    pub fn take_outages(&self) -> Vec<Outage> {
        std::mem::take(&mut *self.inner.outages.lock().unwrap_or_else(|p| p.into_inner()))
    }
    /// Returns when an outage ends (at once if one ended unseen).
    pub async fn outage_ended(&self) {
        self.inner.ended.notified().await;
    }
    /// Marks the database ready, for a caller that checked and migrated it itself (a bench
    /// or tool that runs the writer without the start-up self-check).
    pub fn mark_ready(&self) {
        self.set(None);
    }
    fn set(&self, error: Option<String>) {
        self.inner.ready.store(error.is_none(), Ordering::Release);
        *self
            .inner
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = error;
    }
}

/// What the bootstrap reports once the database is ready the first time.
pub type OnReady = Box<dyn FnOnce(Option<String>) + Send>;

/// Runs forever: connects (retrying with capped exponential backoff and a clear log line),
/// migrates, settles which database this is (restoring the control state into a replaced
/// one), issues the setup token if there are no users, then watches the connection.
pub async fn run(
    store: DynStore,
    auth: AuthService,
    health: DbHealth,
    timing: Timing,
    recovery: Recovery,
    on_ready: OnReady,
) {
    let retry_max = timing.retry_max;
    let backend = store.backend().as_str();
    let mut backoff = Backoff::new(Duration::from_millis(250), retry_max);
    // Unreachable at start: an outage too, raised once the database answers.
    let mut unreachable: Option<(chrono::DateTime<chrono::Utc>, String)> = None;
    loop {
        let delay = backoff.next_wait();
        match bring_up(&store, &recovery).await {
            Ok(settled) => {
                tracing::debug!(?settled, "database settled");
                if let Some((from, error)) = unreachable.take() {
                    health.note_outage(Outage {
                        from,
                        to: chrono::Utc::now(),
                        refused: REFUSED.swap(0, Ordering::Relaxed),
                        error,
                    });
                }
                break;
            }
            Err(e @ StoreError::Unavailable(_)) => {
                tracing::warn!(backend, error = %e, "database unreachable; retrying in {delay:?}");
                unreachable.get_or_insert_with(|| (chrono::Utc::now(), e.to_string()));
                health.set(Some(format!("unreachable: {e}")));
            }
            Err(e) => {
                tracing::error!(backend, error = %e, "database reachable but not usable (migration or restore failed); retrying in {delay:?}");
                health.set(Some(e.to_string()));
            }
        }
        tokio::time::sleep(delay).await;
    }
    health.set(None);
    tracing::info!(backend, "database ready");
    let setup = match auth.issue_setup_token().await {
        Ok(token) => token,
        Err(e) => {
            tracing::error!(error = %e, "could not issue a setup token");
            None
        }
    };
    on_ready(setup);
    watch(store, health, timing, recovery).await;
}

/// Pings (closing the store's gate while the database does not answer, so requests fail at
/// once), migrates and settles the database's identity.
async fn bring_up(store: &DynStore, recovery: &Recovery) -> Result<Settled, StoreError> {
    if let Err(e) = store.ping().await {
        store.gate().close();
        return Err(e);
    }
    store.gate().open();
    store.migrate().await?;
    recovery.settle().await
}

/// Requests refused because the database was away, since the last outage ended (every hub
/// in the process: one per process in production).
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// Counts a request refused because the database is away: the outage is logged once when
/// it ends, with the count, instead of a line per request.
pub fn note_refused() {
    REFUSED.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("cortex_db_refused_total").increment(1);
}

/// How often to check and how long to wait between reconnect attempts.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Pause between checks while the database is fine.
    pub check_interval: Duration,
    /// Longest pause between reconnect attempts.
    pub retry_max: Duration,
}

/// The longest pause between reconnect attempts during an outage: each attempt is cheap
/// (one connection, bounded by the store's check timeout), and the hub is back within a
/// second or two of the database.
const RECONNECT_MAX: Duration = Duration::from_secs(1);

async fn watch(store: DynStore, health: DbHealth, timing: Timing, recovery: Recovery) {
    let Timing {
        check_interval,
        retry_max,
    } = timing;
    let reconnect_max = retry_max.min(RECONNECT_MAX);
    let mut delay = check_interval;
    let mut outage: Option<(Instant, chrono::DateTime<chrono::Utc>, String)> = None;
    // A single failed check may be a busy pool, not an outage: one more, shortly, decides.
    let mut suspect = false;
    loop {
        // A query that found the database away or its tables gone wakes the check early.
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = crate::store::CHECK_NOW.notified() => {}
        }
        let checked = recovery.is_same().await;
        if checked.is_ok() {
            suspect = false;
        }
        match checked {
            Ok(true) if outage.is_none() && health.is_ready() => delay = check_interval,
            Err(e) if outage.is_none() && !suspect => {
                tracing::debug!(error = %e, "a database check failed; checking again");
                suspect = true;
                delay = Duration::from_millis(250);
            }
            Ok(same) => {
                // Reachable again, or replaced: bring the schema up to date, restore a
                // replaced database, and only then serve.
                if !same {
                    health.set_restoring(true);
                    health.set(Some("the database was replaced; restoring".into()));
                    tracing::warn!("the database is not the one this hub knew (dropped and created again, or another one): migrating and restoring");
                }
                match bring_up(&store, &recovery).await {
                    Ok(_) => {
                        if let Some((since, from, error)) = outage.take() {
                            let refused = REFUSED.swap(0, Ordering::Relaxed);
                            tracing::warn!(
                                after_ms = since.elapsed().as_millis() as u64,
                                refused,
                                "database reachable again; {refused} requests were refused during the outage"
                            );
                            health.note_outage(Outage {
                                from,
                                to: chrono::Utc::now(),
                                refused,
                                error,
                            });
                        }
                        health.set(None);
                        health.set_restoring(false);
                        delay = check_interval;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the database answers but could not be migrated or restored; retrying");
                        health.set(Some(e.to_string()));
                        delay = reconnect_max;
                    }
                }
            }
            Err(e) => {
                if outage.is_none() {
                    REFUSED.store(0, Ordering::Relaxed);
                    tracing::error!(error = %e, "database connection lost: pages serve from memory, analytics spool to disk, changes are refused; retrying every second");
                    outage = Some((Instant::now(), chrono::Utc::now(), e.to_string()));
                }
                store.gate().close();
                health.set(Some(format!("unreachable: {e}")));
                delay = (delay * 2)
                    .min(reconnect_max)
                    .max(check_interval.min(Duration::from_millis(250)));
            }
        }
    }
}
