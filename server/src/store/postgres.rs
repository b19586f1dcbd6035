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
    /// The same pool: Postgres handles concurrent writers itself.
    writer: Pool<Postgres>,
    /// New audit entries are keyed with it (none: plain hashes, as before keying).
    audit_key: Option<std::sync::Arc<cortex_core::audit::ChainKey>>,
    /// Closed while the database is unreachable.
    gate: std::sync::Arc<crate::store::Gate>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Key of the advisory lock that serialises audited writes across hub replicas.
const WRITE_LOCK_KEY: i64 = 0x636f_7274_6578; // "cortex"

/// Key of the advisory lock that serialises report rollup writes across hub replicas.
const ROLLUP_LOCK_KEY: i64 = 0x726f_6c6c_7570; // "rollup"

impl PgStore {
    /// Keys new audit entries with `key`.
    pub fn with_audit_key(mut self, key: Option<cortex_core::audit::ChainKey>) -> Self {
        self.audit_key = key.map(std::sync::Arc::new);
        self
    }

    /// The reading pool, unless the database is known to be unreachable.
    fn pool(&self) -> crate::store::StoreResult<Pool<Postgres>> {
        self.gate.pass().map(|()| self.pool.clone())
    }

    /// The writing pool, unless the database is known to be unreachable.
    fn writer(&self) -> crate::store::StoreResult<Pool<Postgres>> {
        self.gate.pass().map(|()| self.writer.clone())
    }

    /// The pool, gate or not (the health watch's checks).
    fn raw_pool(&self) -> Pool<Postgres> {
        self.pool.clone()
    }

    /// Nothing to do before a check: a dropped database is reconnected by the pool.
    async fn before_check(&self) {}

    /// Starts a read transaction that sees one moment throughout.
    const SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

    const BACKEND: Backend = Backend::Postgres;

    /// Prepares a pool for `url` without connecting, so start-up survives a database that is down.
    pub fn open_lazy(url: &str) -> Result<Self, crate::store::StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| crate::store::StoreError::Other(format!("bad Postgres URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy_with(options);
        Ok(Self {
            writer: pool.clone(),
            pool,
            audit_key: None,
            gate: Default::default(),
        })
    }

    /// Audited writes take a transaction-scoped advisory lock, so the audit chain stays
    /// linear even with several hubs writing.
    async fn begin_write(&self) -> crate::store::StoreResult<sqlx::Transaction<'_, Postgres>> {
        let mut tx = self.pool()?.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Report rollup writes from several hubs take turns: each reads its visitors' hours
    /// and writes the moves, which must not interleave with another hub's.
    async fn lock_rollup(
        tx: &mut sqlx::Transaction<'_, Postgres>,
    ) -> crate::store::StoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ROLLUP_LOCK_KEY)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Merges the hours `seen` into `rule_units` in one statement (the later latest hours,
    /// the earlier first ones; rows that would not change are left alone) and returns the
    /// hours stored before for the visitors that had any (the statement's snapshot). Runs
    /// under the rollup lock.
    async fn merge_units(
        tx: &mut sqlx::Transaction<'_, Postgres>,
        seen: &crate::store::rollup::SeenUnits,
    ) -> crate::store::StoreResult<crate::store::rollup::StoredUnits> {
        const CHUNK: usize = 20_000;
        let all: Vec<_> = seen.iter().collect();
        let mut stored = std::collections::HashMap::new();
        for chunk in all.chunks(CHUNK) {
            let col = |f: fn(&crate::store::rollup::UnitKey) -> &String| -> Vec<&str> {
                chunk.iter().map(|(k, _)| f(k).as_str()).collect()
            };
            let hours =
                |f: fn(&crate::store::rollup::UnitHours) -> Option<i64>| -> Vec<Option<i64>> {
                    chunk.iter().map(|(_, h)| f(h)).collect()
                };
            let rows = sqlx::query(
                "WITH k AS (
                   SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[],
                                        $6::int8[], $7::int8[])
                     AS k (mutation_id, variant, unit, exposed_hour, converted_hour,
                           first_exposed_hour, first_converted_hour)),
                 old AS (
                   SELECT r.mutation_id, r.variant, r.unit, r.exposed_hour, r.converted_hour,
                          r.first_exposed_hour, r.first_converted_hour
                     FROM rule_units r JOIN k USING (mutation_id, variant, unit)),
                 merged AS (
                   INSERT INTO rule_units AS r (mutation_id, variant, unit, exposed_hour,
                          converted_hour, first_exposed_hour, first_converted_hour)
                   SELECT * FROM k
                   ON CONFLICT (mutation_id, variant, unit) DO UPDATE SET
                     exposed_hour = GREATEST(r.exposed_hour, excluded.exposed_hour),
                     converted_hour = GREATEST(r.converted_hour, excluded.converted_hour),
                     first_exposed_hour = LEAST(r.first_exposed_hour, excluded.first_exposed_hour),
                     first_converted_hour = LEAST(r.first_converted_hour, excluded.first_converted_hour)
                   WHERE r.exposed_hour IS DISTINCT FROM GREATEST(r.exposed_hour, excluded.exposed_hour)
                      OR r.converted_hour IS DISTINCT FROM GREATEST(r.converted_hour, excluded.converted_hour)
                      OR r.first_exposed_hour IS DISTINCT FROM LEAST(r.first_exposed_hour, excluded.first_exposed_hour)
                      OR r.first_converted_hour IS DISTINCT FROM LEAST(r.first_converted_hour, excluded.first_converted_hour))
                 SELECT * FROM old",
            )
            .bind(col(|k| &k.0))
            .bind(col(|k| &k.1))
            .bind(col(|k| &k.2))
            .bind(hours(|h| h.exposed))
            .bind(hours(|h| h.converted))
            .bind(hours(|h| h.first_exposed))
            .bind(hours(|h| h.first_converted))
            .fetch_all(&mut **tx)
            .await?;
            for r in rows {
                let (key, hours) = crate::store::rollup::unit_row(&r)?;
                stored.insert(key, hours);
            }
        }
        Ok(stored)
    }

    /// Marks each batch id as counted in one statement; `true` for the ones not counted before.
    async fn claim_batches(
        tx: &mut sqlx::Transaction<'_, Postgres>,
        batches: &[&crate::store::events::SpooledBatch],
    ) -> crate::store::StoreResult<Vec<bool>> {
        use sqlx::Row as _;
        let neurons: Vec<&str> = batches.iter().map(|b| b.neuron_id.as_str()).collect();
        let ids: Vec<&str> = batches.iter().map(|b| b.batch.batch_id.as_str()).collect();
        let counts: Vec<i32> = batches
            .iter()
            .map(|b| b.batch.events.len() as i32)
            .collect();
        let received: Vec<i64> = batches
            .iter()
            .map(|b| b.received_at.timestamp_millis())
            .collect();
        let fresh: std::collections::HashSet<(String, String)> = sqlx::query(
            "INSERT INTO event_batches (neuron_id, batch_id, events, received_at)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::int[], $4::bigint[])
             ON CONFLICT DO NOTHING
             RETURNING neuron_id, batch_id",
        )
        .bind(&neurons)
        .bind(&ids)
        .bind(&counts)
        .bind(&received)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("neuron_id")?, r.try_get("batch_id")?)))
        .collect::<Result<_, sqlx::Error>>()?;
        Ok(batches
            .iter()
            .map(|b| fresh.contains(&(b.neuron_id.clone(), b.batch.batch_id.clone())))
            .collect())
    }

    /// Inserts the events of `batches` with one `COPY`.
    async fn insert_events(
        tx: &mut sqlx::Transaction<'_, Postgres>,
        batches: &[&crate::store::events::SpooledBatch],
    ) -> crate::store::StoreResult<u64> {
        if batches.is_empty() {
            return Ok(0);
        }
        let text = crate::store::events::pg_copy_text(batches);
        let mut copy = tx
            .copy_in_raw(&format!(
                "COPY events ({}) FROM STDIN",
                crate::store::events::EVENT_INSERT_COLS
            ))
            .await?;
        copy.send(text).await?;
        Ok(copy.finish().await?)
    }

    fn as_postgres(pool: &Pool<Postgres>) -> Option<sqlx::PgPool> {
        Some(pool.clone())
    }

    async fn run_migrations(&self) -> crate::store::StoreResult<()> {
        MIGRATOR
            .run(&self.raw_pool())
            .await
            .map_err(|e| crate::store::StoreError::Other(format!("migration failed: {e}")))
    }
}

super::common::impl_store!(PgStore, sqlx::postgres::PgRow);
super::neurons::impl_neuron_store!(PgStore, sqlx::postgres::PgRow);
super::events::impl_event_store!(PgStore, sqlx::postgres::PgRow);
super::layouts::impl_layout_store!(PgStore, sqlx::postgres::PgRow);
super::control::impl_control_store!(PgStore, sqlx::postgres::PgRow);
super::releases::impl_release_store!(PgStore, sqlx::postgres::PgRow);
super::rollouts::impl_rollout_store!(PgStore, sqlx::postgres::PgRow);
super::review::impl_review_store!(PgStore, sqlx::postgres::PgRow);
