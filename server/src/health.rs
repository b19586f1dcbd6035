//! Database health: the start-up self-check (connect with backoff, migrate, issue the setup
//! token) and a watcher that keeps `/readyz` truthful while the hub runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::auth::AuthService;
use crate::store::DynStore;

/// Shared view of the database's state.
#[derive(Clone, Default)]
pub struct DbHealth {
    inner: Arc<DbHealthInner>,
}

#[derive(Default)]
struct DbHealthInner {
    ready: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl DbHealth {
    /// Whether the database answered and is migrated.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }
    /// The last error seen while it was not.
    pub fn last_error(&self) -> Option<String> {
        self.inner
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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
/// migrates, issues the setup token if there are no users, then watches the connection.
pub async fn run(
    store: DynStore,
    auth: AuthService,
    health: DbHealth,
    timing: Timing,
    on_ready: OnReady,
) {
    let retry_max = timing.retry_max;
    let backend = store.backend().as_str();
    let mut delay = Duration::from_millis(250);
    loop {
        match store.ping().await {
            Ok(()) => match store.migrate().await {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!(backend, error = %e, "database reachable but migration failed; retrying in {delay:?}");
                    health.set(Some(e.to_string()));
                }
            },
            Err(e) => {
                tracing::warn!(backend, error = %e, "database unreachable; retrying in {delay:?}");
                health.set(Some(format!("unreachable: {e}")));
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(retry_max);
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
    watch(store, health, timing).await;
}

/// How often to check and how long to wait between reconnects.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Pause between checks while the database is fine.
    pub check_interval: Duration,
    /// Longest pause between reconnect attempts.
    pub retry_max: Duration,
}

async fn watch(store: DynStore, health: DbHealth, timing: Timing) {
    let Timing {
        check_interval,
        retry_max,
    } = timing;
    let mut delay = check_interval;
    loop {
        tokio::time::sleep(delay).await;
        match store.ping().await {
            Ok(()) if health.is_ready() => delay = check_interval,
            Ok(()) => {
                // Back after an outage: the database may have been replaced, so migrate again.
                match store.migrate().await {
                    Ok(()) => {
                        tracing::info!("database reachable again");
                        health.set(None);
                    }
                    Err(e) => health.set(Some(e.to_string())),
                }
                delay = check_interval;
            }
            Err(e) => {
                if health.is_ready() {
                    tracing::error!(error = %e, "database connection lost; serving read-only from memory, retrying");
                }
                health.set(Some(format!("unreachable: {e}")));
                delay = (delay * 2)
                    .min(retry_max)
                    .max(check_interval.min(Duration::from_millis(500)));
            }
        }
    }
}
