//! Postgres: for production and for several hub replicas sharing one database.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Postgres};
use std::str::FromStr;
use std::time::Duration;

use crate::config::Backend;

/// Postgres-backed [`Store`](crate::store::Store).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool<Postgres>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Key of the advisory lock that serialises audited writes across hub replicas.
const WRITE_LOCK_KEY: i64 = 0x636f_7274_6578; // "cortex"

impl PgStore {
    const BACKEND: Backend = Backend::Postgres;

    /// Prepares a pool for `url` without connecting, so start-up survives a database that is down.
    pub fn open_lazy(url: &str) -> Result<Self, crate::store::StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| crate::store::StoreError::Other(format!("bad Postgres URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    /// Audited writes take a transaction-scoped advisory lock, so the audit chain stays
    /// linear even with several hubs writing.
    async fn begin_write(&self) -> crate::store::StoreResult<sqlx::Transaction<'_, Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    async fn run_migrations(&self) -> crate::store::StoreResult<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| crate::store::StoreError::Other(format!("migration failed: {e}")))
    }
}

super::common::impl_store!(PgStore, sqlx::postgres::PgRow);
super::neurons::impl_neuron_store!(PgStore, sqlx::postgres::PgRow);
