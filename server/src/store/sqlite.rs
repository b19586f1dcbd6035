//! SQLite: the embedded default. One file in the data dir, WAL journal, zero setup.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};
use std::str::FromStr;
use std::time::Duration;

use crate::config::Backend;

/// SQLite-backed [`Store`](crate::store::Store).
#[derive(Clone)]
pub struct SqliteStore {
    pool: Pool<Sqlite>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

impl SqliteStore {
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
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    /// `BEGIN IMMEDIATE` takes SQLite's write lock up front, so the read of the last audit
    /// hash and the append that follows cannot interleave with another writer.
    async fn begin_write(&self) -> crate::store::StoreResult<sqlx::Transaction<'_, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn run_migrations(&self) -> crate::store::StoreResult<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| crate::store::StoreError::Other(format!("migration failed: {e}")))
    }
}

super::common::impl_store!(SqliteStore, sqlx::sqlite::SqliteRow);
super::neurons::impl_neuron_store!(SqliteStore, sqlx::sqlite::SqliteRow);
