//! `cortex copy-to`: every table of a hub's SQLite database, copied into an empty PostgreSQL
//! database, to move a hub from the embedded default to production storage in one step:
//! admins (with their password hashes), sessions, tokens, neurons, pushes, analytics, layout
//! rules with their history, and the audit log with its hash chain, all as they are.
//!
//! The copy is one transaction on the target: it is all there or not at all. Every hub on the
//! SQLite database must be stopped first (checked: a running hub holds its spool's lock), so
//! nothing is written while it is read.

use std::collections::BTreeSet;

use futures::TryStreamExt;
use sqlx::sqlite::SqliteRow;
use sqlx::{ConnectOptions, Connection, Postgres, QueryBuilder, Row};

use crate::backup::{refuse_while_a_hub_runs, sqlite_options, BackupError};
use crate::config::{Backend, Config};

/// Tables the migrations fill with rows of their own; their rows are replaced by the source's
/// (the database identity too: a copy is the same database moved, not a replaced one).
const SEEDED: &[&str] = &["neuron_kinds", "database_identity"];
/// Postgres allows 65,535 bound values in one statement; a batch stays well below.
const BATCH_VALUES: usize = 30_000;
const BATCH_ROWS: usize = 1_000;

/// What a finished copy moved: each table with its rows, in copy order.
#[derive(Debug)]
pub struct Copied {
    pub tables: Vec<(String, u64)>,
}

impl Copied {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// A column as the target stores it.
struct Column {
    name: String,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    BigInt,
    Int,
    Bool,
    Double,
    Text,
}

impl Kind {
    fn of(table: &str, column: &str, data_type: &str) -> Result<Self, BackupError> {
        Ok(match data_type {
            "bigint" => Kind::BigInt,
            "integer" => Kind::Int,
            "boolean" => Kind::Bool,
            "double precision" => Kind::Double,
            "text" => Kind::Text,
            other => {
                return Err(BackupError::Refused(format!(
                    "{table}.{column} has type {other}, which copy-to does not know"
                )))
            }
        })
    }
}

/// Copies every table of `config`'s SQLite database into the empty Postgres database at
/// `target`, bringing its schema up to date first. `progress(table, copied, total)` is called
/// after each batch.
pub async fn copy_to_postgres(
    config: &Config,
    target: &str,
    mut progress: impl FnMut(&str, u64, u64),
) -> Result<Copied, BackupError> {
    let refused = |why: String| BackupError::Refused(why);
    if config.backend().map_err(|e| refused(e.to_string()))? != Backend::Sqlite {
        return Err(refused(
            "copy-to reads a SQLite database; this hub's is already on Postgres (use backup and restore to move it)".into(),
        ));
    }
    let scheme = target.split(':').next().unwrap_or_default();
    if !matches!(scheme, "postgres" | "postgresql") {
        return Err(refused(format!(
            "the target must be a postgres:// URL, not {scheme}:"
        )));
    }
    refuse_while_a_hub_runs(config)?;
    let source_options = sqlite_options(&config.database_url())?;
    if !source_options.get_filename().is_file() {
        return Err(refused(format!(
            "there is no SQLite database at {}: set CORTEX_DATA_DIR (or DATABASE_URL) as the hub has it",
            source_options.get_filename().display()
        )));
    }
    // Both schemas are brought up to date by the code a hub runs at start; the copy then
    // writes through the target store's own pool.
    use crate::store::Store;
    let source_store = crate::store::sqlite::SqliteStore::open_lazy(&config.database_url())
        .map_err(|e| refused(e.to_string()))?;
    source_store
        .migrate()
        .await
        .map_err(|e| refused(format!("the SQLite database: {e}")))?;
    drop(source_store);
    let target_store =
        crate::store::postgres::PgStore::open_lazy(target).map_err(|e| refused(e.to_string()))?;
    target_store
        .migrate()
        .await
        .map_err(|e| refused(format!("the Postgres database: {e}")))?;
    let pool = target_store
        .postgres_pool()
        .ok_or_else(|| refused("the target store is not Postgres".into()))?;
    // Reading a whole table is one long statement by design: not worth a warning.
    let mut sqlite = source_options
        .read_only(true)
        .disable_statement_logging()
        .connect()
        .await?;
    // One read transaction: every table as of the same moment.
    let mut source = sqlite.begin().await?;

    // Creation order: a table is made after the tables it refers to.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '_sqlx_migrations' ORDER BY rowid",
    )
    .fetch_all(&mut *source)
    .await?;
    let target_tables: BTreeSet<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
         AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await?
    .into_iter()
    .collect();
    let source_tables: BTreeSet<String> = tables.iter().cloned().collect();
    if source_tables != target_tables {
        return Err(refused(format!(
            "the schemas differ (only in SQLite: {:?}; only in Postgres: {:?}): run the same Cortex version on both",
            source_tables.difference(&target_tables).collect::<Vec<_>>(),
            target_tables.difference(&source_tables).collect::<Vec<_>>()
        )));
    }
    for table in &tables {
        if SEEDED.contains(&table.as_str()) {
            continue;
        }
        let n: i64 = sqlx::query_scalar(&count_of(table))
            .fetch_one(&pool)
            .await?;
        if n > 0 {
            return Err(refused(format!(
                "the Postgres database already holds data ({table} has {n} rows): copy-to fills an empty database only"
            )));
        }
    }

    let mut tx = pool.begin().await?;
    for table in SEEDED {
        sqlx::query(&format!("DELETE FROM {}", quoted(table)))
            .execute(&mut *tx)
            .await?;
    }
    let mut copied = Vec::new();
    for table in &tables {
        let columns = columns(&mut tx, table).await?;
        let names = columns
            .iter()
            .map(|c| quoted(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let total: i64 = sqlx::query_scalar(&count_of(table))
            .fetch_one(&mut *source)
            .await?;
        let total = total as u64;
        let batch = (BATCH_VALUES / columns.len().max(1)).clamp(1, BATCH_ROWS);
        let select = format!("SELECT {names} FROM {} ORDER BY rowid", quoted(table));
        let mut rows = sqlx::query(&select).fetch(&mut *source);
        let mut done = 0u64;
        let mut chunk: Vec<SqliteRow> = Vec::with_capacity(batch);
        loop {
            let row = rows.try_next().await?;
            let last = row.is_none();
            chunk.extend(row);
            if chunk.len() == batch || (last && !chunk.is_empty()) {
                insert_rows(&mut tx, table, &names, &columns, &chunk).await?;
                done += chunk.len() as u64;
                chunk.clear();
                progress(table, done, total);
            }
            if last {
                break;
            }
        }
        drop(rows);
        if done == 0 {
            progress(table, 0, 0);
        }
        if done != total {
            return Err(refused(format!(
                "{table}: SQLite counted {total} rows but gave {done}; nothing was kept"
            )));
        }
        copied.push((table.clone(), done));
    }
    // Every table holds what the source holds, or nothing is kept.
    for (table, n) in &copied {
        let there: i64 = sqlx::query_scalar(&count_of(table))
            .fetch_one(&mut *tx)
            .await?;
        if there as u64 != *n {
            return Err(refused(format!(
                "{table}: {n} rows copied but {there} found; nothing was kept"
            )));
        }
    }
    tx.commit().await?;
    Ok(Copied { tables: copied })
}

/// Inserts `rows` (read in the target's column order) into `table` in one statement.
async fn insert_rows(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    table: &str,
    names: &str,
    columns: &[Column],
    rows: &[SqliteRow],
) -> Result<(), BackupError> {
    let mut insert: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("INSERT INTO {} ({names}) ", quoted(table)));
    let mut bad = None;
    insert.push_values(rows, |mut values, row| {
        for (i, c) in columns.iter().enumerate() {
            let decoded = match c.kind {
                Kind::BigInt => row.try_get::<Option<i64>, _>(i).map(|v| {
                    values.push_bind(v);
                }),
                Kind::Int => row.try_get::<Option<i32>, _>(i).map(|v| {
                    values.push_bind(v);
                }),
                Kind::Bool => row.try_get::<Option<bool>, _>(i).map(|v| {
                    values.push_bind(v);
                }),
                Kind::Double => row.try_get::<Option<f64>, _>(i).map(|v| {
                    values.push_bind(v);
                }),
                Kind::Text => row.try_get::<Option<String>, _>(i).map(|v| {
                    values.push_bind(v);
                }),
            };
            if let Err(e) = decoded {
                bad.get_or_insert(format!("{table}.{}: {e}", c.name));
            }
        }
    });
    if let Some(bad) = bad {
        return Err(BackupError::Refused(format!(
            "a value cannot be copied: {bad}"
        )));
    }
    insert.build().execute(&mut **tx).await?;
    Ok(())
}

/// The target's columns of `table`, in order.
async fn columns(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    table: &str,
) -> Result<Vec<Column>, BackupError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|(name, data_type)| {
            Ok(Column {
                kind: Kind::of(table, &name, &data_type)?,
                name,
            })
        })
        .collect()
}

/// The statement that counts `table`'s rows.
fn count_of(table: &str) -> String {
    format!("SELECT count(*) FROM {}", quoted(table))
}

/// An identifier as SQL text, quoted (names come from the databases' own catalogues).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
