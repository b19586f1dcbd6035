//! SQLite: the embedded default. One file in the data dir, WAL journal, zero setup.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};
use std::str::FromStr;
use std::time::Duration;

use crate::config::Backend;

/// SQLite-backed [`Store`](crate::store::Store).
#[derive(Clone)]
pub struct SqliteStore {
    /// Swapped for new ones when the file is deleted or replaced under the hub.
    pools: std::sync::Arc<std::sync::RwLock<Pools>>,
    options: SqliteConnectOptions,
    /// The file's (device, inode) when last checked: another one means it was replaced.
    file: std::sync::Arc<std::sync::Mutex<Option<(u64, u64)>>>,
    /// New audit entries are keyed with it (none: plain hashes, as before keying).
    audit_key: Option<std::sync::Arc<cortex_core::audit::ChainKey>>,
    /// Closed while the database is unreachable.
    gate: std::sync::Arc<crate::store::Gate>,
}

/// The pools on one file.
#[derive(Clone)]
struct Pools {
    pool: Pool<Sqlite>,
    /// One connection for every write: writers queue here (asynchronously, in order) instead
    /// of colliding on SQLite's file lock and sleeping in its busy handler.
    writer: Pool<Sqlite>,
}

impl Pools {
    fn open(options: &SqliteConnectOptions) -> Self {
        // Connections are kept, not recycled: a new one opened after the file was deleted
        // would pair a new file with the old one's WAL. One is opened only through a pool
        // handed out after the file was checked (see `SqliteStore::pool`).
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options.clone());
        // Writes are durable when they commit (`synchronous=FULL` syncs the WAL on every
        // commit): the analytics spool deletes what it acknowledged once the database has
        // it, and an audited change must not be lost to a power cut after its answer.
        // (`NORMAL` would let a power cut roll back the last commits.)
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options.clone().synchronous(SqliteSynchronous::Full));
        Self { pool, writer }
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

impl SqliteStore {
    /// Keys new audit entries with `key`.
    pub fn with_audit_key(mut self, key: Option<cortex_core::audit::ChainKey>) -> Self {
        self.audit_key = key.map(std::sync::Arc::new);
        self
    }

    fn pools(&self) -> Pools {
        self.pools.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The reading pool, unless the database is known to be unreachable or its file was
    /// replaced (then nothing touches the new file until the health watch reopens it).
    fn pool(&self) -> crate::store::StoreResult<Pool<Sqlite>> {
        self.gate.pass()?;
        self.same_file()?;
        Ok(self.pools().pool)
    }

    /// The writing pool, on the same terms as [`SqliteStore::pool`].
    fn writer(&self) -> crate::store::StoreResult<Pool<Sqlite>> {
        self.gate.pass()?;
        self.same_file()?;
        Ok(self.pools().writer)
    }

    /// The file at the path, as (device, inode); `None` when there is none. Other errors
    /// (a transient one) say nothing: `Err`.
    fn file_identity(&self) -> Result<Option<(u64, u64)>, ()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            match std::fs::metadata(self.options.get_filename()) {
                Ok(m) => Ok(Some((m.dev(), m.ino()))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(_) => Err(()),
            }
        }
        #[cfg(not(unix))]
        {
            Err(())
        }
    }

    /// Whether the file is gone or another than the one seen (`seen`) when last checked.
    fn replaced(seen: Option<(u64, u64)>, now: Option<(u64, u64)>) -> bool {
        seen.is_some_and(|was| Some(was) != now)
    }

    /// Refuses when the file is not the one the pools opened (one `stat`).
    fn same_file(&self) -> crate::store::StoreResult<()> {
        let seen = *self.file.lock().unwrap_or_else(|p| p.into_inner());
        match self.file_identity() {
            Ok(now) if Self::replaced(seen, now) => {
                crate::store::CHECK_NOW.notify_waiters();
                Err(crate::store::StoreError::Unavailable(
                    "the SQLite file was deleted or replaced; the hub is reopening and restoring it".into(),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The reading pool, gate or not (the health watch's checks).
    fn raw_pool(&self) -> Pool<Sqlite> {
        self.pools().pool
    }

    /// Before the health watch's check: when the file was deleted or replaced under the hub
    /// (its connections would go on with the old, unlinked one), close the pools (the last
    /// connection takes the old WAL with it) and open the path again, so the check finds
    /// the new file, empty, and the hub restores it.
    async fn before_check(&self) {
        let Ok(now) = self.file_identity() else {
            return;
        };
        let old = {
            let mut seen = self.file.lock().unwrap_or_else(|p| p.into_inner());
            if !Self::replaced(*seen, now) {
                // Remember the file the pools open.
                *seen = seen.or(now);
                return;
            }
            // Forget the replaced file and put fresh pools in place in one step (under the
            // lock), so no call sees the file forgotten while the old pools still serve:
            // it would read the old, unlinked file.
            *seen = None;
            std::mem::replace(
                &mut *self.pools.write().unwrap_or_else(|p| p.into_inner()),
                Pools::open(&self.options),
            )
        };
        let path = self.options.get_filename();
        tracing::warn!(path = %path.display(), "the SQLite file was deleted or replaced under the running hub: reopening it");
        old.writer.close().await;
        old.pool.close().await;
    }

    /// Starts a read transaction that sees one moment throughout.
    const SNAPSHOT: &'static str = "BEGIN";

    const BACKEND: Backend = Backend::Sqlite;

    /// Prepares a pool for `url` (`sqlite://PATH`); the file is created on first connect.
    pub fn open_lazy(url: &str) -> Result<Self, crate::store::StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| crate::store::StoreError::Other(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        Ok(Self {
            pools: std::sync::Arc::new(std::sync::RwLock::new(Pools::open(&options))),
            options,
            file: Default::default(),
            audit_key: None,
            gate: Default::default(),
        })
    }

    /// `BEGIN IMMEDIATE` takes SQLite's write lock up front, so the read of the last audit
    /// hash and the append that follows cannot interleave with another writer.
    async fn begin_write(&self) -> crate::store::StoreResult<sqlx::Transaction<'_, Sqlite>> {
        Ok(self.writer()?.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Marks each batch id as counted; `true` for the ones not counted before.
    async fn claim_batches(
        tx: &mut sqlx::Transaction<'_, Sqlite>,
        batches: &[&crate::store::events::SpooledBatch],
    ) -> crate::store::StoreResult<Vec<bool>> {
        let mut out = Vec::with_capacity(batches.len());
        for b in batches {
            let r = sqlx::query(
                "INSERT INTO event_batches (neuron_id, batch_id, events, received_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&b.neuron_id)
            .bind(&b.batch.batch_id)
            .bind(b.batch.events.len() as i64)
            .bind(b.received_at.timestamp_millis())
            .execute(&mut **tx)
            .await?;
            out.push(r.rows_affected() == 1);
        }
        Ok(out)
    }

    /// Inserts the events of `batches` with multi-row inserts.
    async fn insert_events(
        tx: &mut sqlx::Transaction<'_, Sqlite>,
        batches: &[&crate::store::events::SpooledBatch],
    ) -> crate::store::StoreResult<u64> {
        const ROWS: usize = 500;
        let rows: Vec<(
            &crate::store::events::SpooledBatch,
            &cortex_core::analytics::Event,
        )> = batches
            .iter()
            .flat_map(|b| b.batch.events.iter().map(move |e| (*b, e)))
            .collect();
        for chunk in rows.chunks(ROWS) {
            let mut qb = sqlx::QueryBuilder::<Sqlite>::new(format!(
                "INSERT INTO events ({}) ",
                crate::store::events::EVENT_INSERT_COLS
            ));
            qb.push_values(chunk, |mut v, (b, e)| {
                v.push_bind(&b.neuron_id)
                    .push_bind(&b.batch.batch_id)
                    .push_bind(e.kind.as_str())
                    .push_bind(e.at.timestamp_millis())
                    .push_bind(b.received_at.timestamp_millis())
                    .push_bind(&e.unit)
                    .push_bind(&e.page_slug)
                    .push_bind(&e.mutation_id)
                    .push_bind(&e.variant)
                    .push_bind(&e.name)
                    .push_bind(e.value)
                    .push_bind(&e.message)
                    .push_bind(&e.segment);
            });
            qb.build()
                .persistent(crate::store::keep_prepared(chunk.len(), ROWS))
                .execute(&mut **tx)
                .await?;
        }
        Ok(rows.len() as u64)
    }

    /// SQLite has one writer at a time: the rollup needs no lock of its own.
    async fn lock_rollup(_: &mut sqlx::Transaction<'_, Sqlite>) -> crate::store::StoreResult<()> {
        Ok(())
    }

    /// Merges the hours `seen` into `rule_units` (read, folded, written back; one writer
    /// at a time); returns the hours stored before for the visitors that had any.
    async fn merge_units(
        tx: &mut sqlx::Transaction<'_, Sqlite>,
        seen: &crate::store::rollup::SeenUnits,
    ) -> crate::store::StoreResult<crate::store::rollup::StoredUnits> {
        use crate::store::rollup::CHUNK;
        let keys: Vec<_> = seen.keys().collect();
        let mut stored = std::collections::HashMap::new();
        for chunk in keys.chunks(CHUNK) {
            let mut qb = sqlx::QueryBuilder::<Sqlite>::new(
                "SELECT mutation_id, variant, unit, exposed_hour, converted_hour,
                        first_exposed_hour, first_converted_hour
                   FROM rule_units WHERE (mutation_id, variant, unit) IN (VALUES ",
            );
            let mut list = qb.separated(", ");
            for (m, v, u) in chunk {
                list.push("(")
                    .push_bind_unseparated(m)
                    .push_unseparated(", ")
                    .push_bind_unseparated(v)
                    .push_unseparated(", ")
                    .push_bind_unseparated(u)
                    .push_unseparated(")");
            }
            qb.push(")");
            for r in qb.build().fetch_all(&mut **tx).await? {
                let (key, hours) = crate::store::rollup::unit_row(&r)?;
                stored.insert(key, hours);
            }
        }
        let changed: Vec<_> = seen
            .iter()
            .filter_map(|(k, s)| {
                let old = stored.get(k).copied().unwrap_or_default();
                let new = old.merged(*s);
                (new != old).then_some((k, new))
            })
            .collect();
        for chunk in changed.chunks(CHUNK) {
            let mut qb = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO rule_units (mutation_id, variant, unit, exposed_hour, converted_hour,
                     first_exposed_hour, first_converted_hour) ",
            );
            qb.push_values(chunk, |mut row, ((m, v, u), h)| {
                row.push_bind(m)
                    .push_bind(v)
                    .push_bind(u)
                    .push_bind(h.exposed)
                    .push_bind(h.converted)
                    .push_bind(h.first_exposed)
                    .push_bind(h.first_converted);
            });
            qb.push(
                " ON CONFLICT (mutation_id, variant, unit) DO UPDATE
                  SET exposed_hour = excluded.exposed_hour,
                      converted_hour = excluded.converted_hour,
                      first_exposed_hour = excluded.first_exposed_hour,
                      first_converted_hour = excluded.first_converted_hour",
            );
            qb.build().execute(&mut **tx).await?;
        }
        Ok(stored)
    }

    /// SQLite has one hub per database: nothing to fan out.
    fn as_postgres(_: &Pool<Sqlite>) -> Option<sqlx::PgPool> {
        None
    }

    async fn run_migrations(&self) -> crate::store::StoreResult<()> {
        MIGRATOR
            .run(&self.raw_pool())
            .await
            .map_err(|e| crate::store::StoreError::Other(format!("migration failed: {e}")))
    }
}

super::common::impl_store!(SqliteStore, sqlx::sqlite::SqliteRow);
super::neurons::impl_neuron_store!(SqliteStore, sqlx::sqlite::SqliteRow);
super::events::impl_event_store!(SqliteStore, sqlx::sqlite::SqliteRow);
super::layouts::impl_layout_store!(SqliteStore, sqlx::sqlite::SqliteRow);
super::control::impl_control_store!(SqliteStore, sqlx::sqlite::SqliteRow);
super::releases::impl_release_store!(SqliteStore, sqlx::sqlite::SqliteRow);
super::rollouts::impl_rollout_store!(SqliteStore, sqlx::sqlite::SqliteRow);
super::review::impl_review_store!(SqliteStore, sqlx::sqlite::SqliteRow);

#[cfg(test)]
mod tests {
    use super::*;

    /// A store on a file in a new temporary directory (kept while the guard lives).
    fn temp_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        (dir, SqliteStore::open_lazy(&url).unwrap())
    }

    /// Writes are synced when they commit (the spool deletes what the database holds, and
    /// a power cut must not take back a commit); reads need not be.
    #[tokio::test]
    async fn writes_are_durable_at_commit() {
        let (_dir, store) = temp_store();
        let level = |pool: Pool<Sqlite>| async move {
            let row: (i64,) = sqlx::query_as("PRAGMA synchronous")
                .fetch_one(&pool)
                .await
                .unwrap();
            row.0
        };
        assert_eq!(level(store.pools().writer).await, 2, "FULL on the writer");
        assert_eq!(level(store.pools().pool).await, 1, "NORMAL for readers");
    }

    /// Batches of every size do not pile up prepared statements on the writer (each size
    /// is its own SQL text; kept, they held about 100 MiB after 10,000 neurons acked).
    #[tokio::test]
    async fn batches_of_varying_size_keep_few_prepared_statements() {
        use crate::store::neurons::{BundleAck, NeuronStore};
        use crate::store::Store;
        use sqlx::Connection;
        let (_dir, store) = temp_store();
        store.migrate().await.unwrap();
        let at = chrono::Utc::now();
        for n in 1..=40usize {
            let acks: Vec<BundleAck> = (0..n)
                .map(|i| BundleAck {
                    neuron_id: format!("n-{i}"),
                    scope: cortex_core::federation::Scope::Global,
                    revision: n as u64,
                    at,
                })
                .collect();
            store.ack_bundles(&acks).await.unwrap();
        }
        assert_eq!(
            store
                .count_acks(&cortex_core::federation::Scope::Global, 40)
                .await
                .unwrap(),
            40
        );
        let writer = store.pools().writer.acquire().await.unwrap();
        let cached = writer.cached_statements_size();
        assert!(
            cached <= 4,
            "{cached} statements kept prepared after 40 batch sizes"
        );
    }
}
