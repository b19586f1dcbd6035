//! Self-healing: the hub knows which database it serves from (the identity row the first
//! migration writes) and keeps a last-known-good copy of the control state in its data dir
//! (`control-state.json`, mode 0600, replaced atomically whenever the state changes). A
//! database that comes back empty under another identity (dropped and created again, a new
//! file, a new server) gets the copy back: admins, sessions, tokens, neurons, kinds,
//! settings, bundles, layouts and rules; the audit chain goes on with one `recover` entry
//! naming the head it had. A database that holds control state of its own is another
//! database someone chose: the hub serves it as it is and says so.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cortex_core::audit::{AuditHead, AuditRecord, RECOVER_ACTION};

use crate::db_health::DbHealth;
use crate::store::control::{ControlState, Restored};
use crate::store::{DynStore, StoreError, StoreResult};

/// The copy's file name in the data dir.
pub const COPY_FILE: &str = "control-state.json";
/// The copy is rewritten at least this often, for what changes without an audit entry
/// (heartbeats, acknowledgements, token use).
const REFRESH_EVERY: Duration = Duration::from_secs(60);
/// How often the keeper looks for changes.
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// What [`Recovery::settle`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Settled {
    /// The database the hub knew.
    Same,
    /// A database the hub had no copy for (its first start), or one with control state of
    /// its own: served as it is.
    Adopted { database_id: String },
    /// A replaced database: the copy was put back.
    Restored {
        database_id: String,
        rows: u64,
        took: Duration,
    },
}

/// The database's identity and the last-known-good copy. Cheap to clone.
#[derive(Clone)]
pub struct Recovery {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    dir: PathBuf,
    /// The identity of the database the hub serves from, once settled.
    known: std::sync::Mutex<Option<String>>,
    /// One settle or copy at a time.
    busy: tokio::sync::Mutex<Kept>,
    /// The last copy written: when, and how many rows (for the Status page).
    last: std::sync::Mutex<Option<CopyInfo>>,
}

/// The last copy written, as the Status page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyInfo {
    pub taken_at: i64,
    pub rows: usize,
}

/// What the keeper needs of the last copy written: whether the state moved since, and
/// when the next may be written.
#[derive(Default)]
struct Kept {
    head: Option<(i64, String)>,
    at: Option<Instant>,
    /// How long writing it took: the next waits ten times that, so copying a large state
    /// costs the hub a tenth of a core at most.
    took: Duration,
}

impl Recovery {
    /// Recovery for `store`, keeping its copy in `dir` (the data dir).
    pub fn new(store: DynStore, dir: &Path) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                dir: dir.to_path_buf(),
                known: std::sync::Mutex::new(None),
                busy: tokio::sync::Mutex::new(Kept::default()),
                last: std::sync::Mutex::new(None),
            }),
        }
    }

    fn path(&self) -> PathBuf {
        self.inner.dir.join(COPY_FILE)
    }

    /// The identity of the database the hub serves from, once settled.
    pub fn known(&self) -> Option<String> {
        self.inner
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_known(&self, id: Option<String>) {
        *self.inner.known.lock().unwrap_or_else(|p| p.into_inner()) = id;
    }

    /// The last copy this hub wrote, if it wrote one yet.
    pub fn last_copy(&self) -> Option<CopyInfo> {
        *self.inner.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last-known-good copy, if the data dir holds one.
    pub fn read_copy(&self) -> std::io::Result<Option<ControlState>> {
        read_copy(&self.inner.dir)
    }

    /// Whether the database is still the one the hub settled on. `Ok(false)`: it has no
    /// identity (no tables: dropped and created again) or another one.
    pub async fn is_same(&self) -> StoreResult<bool> {
        let id = self.inner.store.database_id().await?;
        Ok(id.is_some() && id == self.known())
    }

    /// After migrating: compares the database's identity with the one the hub knows (from
    /// memory, or from its copy after a restart) and restores the copy into a replaced,
    /// empty database. Then writes a fresh copy of what the database holds.
    pub async fn settle(&self) -> StoreResult<Settled> {
        let mut kept = self.inner.busy.lock().await;
        let store = &self.inner.store;
        let id = store.database_id().await?.ok_or_else(|| {
            StoreError::Other("the database has no identity row after migrating".into())
        })?;
        // The copy (tens of MB on a large fleet) is read only when the database is not the
        // one the hub already knows: not after every outage.
        let in_memory = self.known();
        let copy = if in_memory.as_deref() == Some(id.as_str()) {
            None
        } else {
            match self.read_copy() {
                Ok(copy) => copy,
                Err(e) => {
                    tracing::error!(error = %e, path = %self.path().display(), "the last-known-good copy is unreadable; it cannot be restored from");
                    None
                }
            }
        };
        let known = in_memory.or_else(|| copy.as_ref().map(|c| c.database_id.clone()));
        // Another database than the one the hub knew (not a first start).
        let moved = known.as_ref().is_some_and(|k| k != &id);
        let settled = match (known, copy) {
            (Some(known), _) if known == id => Settled::Same,
            (Some(known), Some(copy)) => {
                let started = Instant::now();
                let recover = recover_record(&known, &id, &copy);
                match store.restore_control_state(&copy, recover).await? {
                    Restored::Done { rows, entry } => {
                        tracing::debug!(
                            seq = entry.seq,
                            "the audit chain goes on with a recover entry"
                        );
                        let took = started.elapsed();
                        tracing::warn!(
                            previous = %known,
                            database = %id,
                            rows,
                            took_ms = took.as_millis() as u64,
                            copy_taken_at = copy.taken_at,
                            "the database was replaced: restored the control state from the last-known-good copy"
                        );
                        metrics::counter!("cortex_db_restores_total").increment(1);
                        Settled::Restored {
                            database_id: id.clone(),
                            rows,
                            took,
                        }
                    }
                    Restored::NotEmpty => {
                        tracing::warn!(
                            previous = %known,
                            database = %id,
                            "the database is not the one this hub knew, and holds admins or rules of its own (another hub restored it, or it was chosen on purpose): serving it as it is"
                        );
                        Settled::Adopted {
                            database_id: id.clone(),
                        }
                    }
                }
            }
            (known, _) => {
                if let Some(known) = known {
                    tracing::warn!(previous = %known, database = %id, "the database was replaced and no last-known-good copy is left to restore from");
                }
                Settled::Adopted {
                    database_id: id.clone(),
                }
            }
        };
        if moved {
            self.on_new_database(&settled).await;
        }
        self.set_known(Some(id));
        kept.head = None;
        // The database is ready either way: a copy that cannot be written now is written
        // by the keeper later.
        if let Err(e) = self.write_copy(&mut kept).await {
            tracing::warn!(error = %e, "could not copy the control state after settling; the keeper retries");
        }
        Ok(settled)
    }

    /// After the hub moved to another database: keep a copy of another database's state
    /// aside rather than overwrite it, and point the audit head at the new chain (its
    /// `recover` entry, or nothing: a database of its own has its own chain).
    async fn on_new_database(&self, settled: &Settled) {
        if let (Settled::Adopted { database_id }, Ok(Some(copy))) = (settled, self.read_copy()) {
            if &copy.database_id != database_id {
                let aside = self
                    .inner
                    .dir
                    .join(format!("control-state.{}.json", copy.database_id));
                match std::fs::rename(self.path(), &aside) {
                    Ok(()) => {
                        tracing::warn!(path = %aside.display(), "the last-known-good copy of the previous database is kept aside")
                    }
                    Err(e) => tracing::warn!(error = %e, "could not keep the previous copy aside"),
                }
            }
        }
        let first = self
            .inner
            .store
            .audit_chain(0, 1)
            .await
            .ok()
            .and_then(|c| c.into_iter().next());
        let dir = &self.inner.dir;
        let reset = match first {
            Some(e) if cortex_core::audit::is_keyed_recovery(&e) => crate::audit::write_head(
                dir,
                &AuditHead {
                    seq: e.seq,
                    keyed_since: Some(e.seq),
                    hash: e.hash,
                },
            ),
            _ => match std::fs::remove_file(dir.join(crate::audit::HEAD_FILE)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        };
        if let Err(e) = reset {
            tracing::warn!(error = %e, "could not reset the audit head for the new database");
        }
    }

    /// Writes the copy if the control state may have changed since the last one (the audit
    /// chain moved, or [`REFRESH_EVERY`] passed). Never from a database the hub did not
    /// settle on: a replaced, empty one must not overwrite the copy that restores it.
    pub async fn keep(&self) -> StoreResult<bool> {
        let mut kept = self.inner.busy.lock().await;
        if kept.at.is_some_and(|at| at.elapsed() < kept.took * 10) {
            return Ok(false);
        }
        let head = self.inner.store.audit_head().await?;
        let stale = kept.at.is_none_or(|at| at.elapsed() >= REFRESH_EVERY);
        if head == kept.head && !stale {
            return Ok(false);
        }
        self.write_copy(&mut kept).await
    }

    async fn write_copy(&self, kept: &mut Kept) -> StoreResult<bool> {
        let started = Instant::now();
        let state = self.inner.store.control_state().await?;
        if Some(&state.database_id) != self.known().as_ref() {
            // Replaced under the hub since it last checked: the health watch restores.
            crate::store::CHECK_NOW.notify_waiters();
            return Ok(false);
        }
        let bytes = serde_json::to_vec(&state).map_err(|e| StoreError::Other(e.to_string()))?;
        let path = self.path();
        let written =
            tokio::task::spawn_blocking(move || crate::fsutil::write_private(&path, &bytes))
                .await
                .map_err(|e| StoreError::Other(e.to_string()))?;
        if let Err(e) = written {
            // A full disk, say: try again in a while, not every tick.
            kept.at = Some(Instant::now());
            kept.took = kept.took.max(Duration::from_secs(1));
            return Err(StoreError::Other(format!(
                "could not write the last-known-good copy of the control state: {e}"
            )));
        }
        metrics::gauge!("cortex_control_copy_rows").set(state.rows() as f64);
        *self.inner.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(CopyInfo {
            taken_at: state.taken_at,
            rows: state.rows(),
        });
        kept.head = state.audit_head;
        kept.at = Some(Instant::now());
        kept.took = started.elapsed();
        Ok(true)
    }

    /// Keeps the copy current while the database is ready.
    pub async fn run_keeper(self, health: DbHealth) {
        let mut tick = tokio::time::interval(LOOK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut warned = false;
        loop {
            tick.tick().await;
            if !health.is_ready() || self.known().is_none() {
                continue;
            }
            match self.keep().await {
                Ok(_) => warned = false,
                Err(e) if !warned => {
                    tracing::warn!(error = %e, "could not copy the control state; will retry");
                    warned = true;
                }
                Err(_) => {}
            }
        }
    }
}

/// The copy in `dir`, if there is one.
pub fn read_copy(dir: &Path) -> std::io::Result<Option<ControlState>> {
    crate::fsutil::read_json(dir, COPY_FILE)
}

/// The `recover` audit record: which database was lost, which replaced it, from what.
fn recover_record(previous: &str, database: &str, copy: &ControlState) -> AuditRecord {
    let mut record = AuditRecord::new("hub", RECOVER_ACTION, format!("database:{database}"));
    record.before = serde_json::json!({
        "database": previous,
        "auditHead": copy.audit_head.as_ref().map(|(seq, hash)| serde_json::json!({"seq": seq, "hash": hash})),
    });
    record.after = serde_json::json!({
        "database": database,
        "copyTakenAt": copy.taken_at,
        "rows": copy.tables.iter().map(|t| (t.name.clone(), t.rows.len())).collect::<std::collections::BTreeMap<_, _>>(),
    });
    record
}
