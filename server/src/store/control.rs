//! The control state: every row an operator would miss if the database were replaced (admins
//! with their password hashes, sessions, API token hashes, neurons with their keys and status,
//! kinds, settings such as the join policy and the publishable keys, the latest bundle of
//! every scope and who took it, layouts and rules with their history). The hub keeps a copy
//! of it in its data dir and puts it back into a database that lost it (see `recovery`).
//!
//! Tables are described here by name and typed columns, so one description serves both
//! backends; a contract test checks it against the migrated schema, so a new table or column
//! cannot be forgotten silently.

use async_trait::async_trait;
use cortex_core::audit::{AuditEntry, AuditRecord};
use serde::{Deserialize, Serialize};

use super::StoreResult;

/// How a column is stored (every column may be NULL in the copy: `null`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Text,
    BigInt,
    Bool,
}

/// One table of the control state.
#[derive(Debug)]
pub struct ControlTable {
    pub name: &'static str,
    /// The columns, primary key first.
    pub columns: &'static [(&'static str, Cell)],
    /// How many of the first columns form the primary key.
    pub key: usize,
    /// Which rows are kept (`None`: all).
    pub only: Option<&'static str>,
}

use Cell::{BigInt, Bool, Text};

/// The control tables, in an order where a table comes after the tables it refers to.
pub const CONTROL_TABLES: &[ControlTable] = &[
    ControlTable {
        name: "users",
        columns: &[
            ("id", Text),
            ("username", Text),
            ("password_hash", Text),
            ("role", Text),
            ("created_at", BigInt),
        ],
        key: 1,
        only: None,
    },
    ControlTable {
        name: "sessions",
        columns: &[
            ("id", Text),
            ("user_id", Text),
            ("created_at", BigInt),
            ("expires_at", BigInt),
        ],
        key: 1,
        only: None,
    },
    ControlTable {
        name: "api_tokens",
        columns: &[
            ("id", Text),
            ("name", Text),
            ("role", Text),
            ("secret_hash", Text),
            ("created_by", Text),
            ("created_at", BigInt),
            ("expires_at", BigInt),
            ("last_used_at", BigInt),
            ("revoked_at", BigInt),
        ],
        key: 1,
        only: None,
    },
    ControlTable {
        name: "settings",
        columns: &[("key", Text), ("value", Text), ("updated_at", BigInt)],
        key: 1,
        only: None,
    },
    ControlTable {
        name: "neuron_kinds",
        columns: &[
            ("name", Text),
            ("transport", Text),
            ("description", Text),
            ("capabilities", Text),
            ("health_checks", Text),
            ("health_path", Text),
        ],
        key: 1,
        only: None,
    },
    ControlTable {
        name: "releases",
        columns: &[
            ("kind", Text),
            ("version", Text),
            ("bundle_scope", Text),
            ("bundle_revision", BigInt),
            ("pre_migrations", Text),
            ("post_migrations", Text),
            ("schema_fingerprint", Text),
            ("api_fingerprint", Text),
            ("notes", Text),
            ("created_by", Text),
            ("created_at", BigInt),
        ],
        key: 2,
        only: None,
    },
    ControlTable {
        name: "expected_releases",
        columns: &[
            ("kind", Text),
            ("version", Text),
            ("set_by", Text),
            ("set_at", BigInt),
        ],
        key: 1,
        only: None,
    },
    ControlTable {
        name: "rollouts",
        columns: &[
            ("id", Text),
            ("kind", Text),
            ("version", Text),
            ("previous", Text),
            ("scope", Text),
            ("audience_json", Text),
            ("state", Text),
            ("reason", Text),
            ("created_by", Text),
            ("created_at", BigInt),
            ("updated_at", BigInt),
        ],
        key: 1,
        only: None,
    },
    ControlTable {
        name: "change_requests",
        columns: &[
            ("id", Text),
            ("scope", Text),
            ("kind", Text),
            ("body", Text),
            ("audience_json", Text),
            ("base_revision", BigInt),
            ("reason", Text),
            ("state", Text),
            ("created_by", Text),
            ("created_at", BigInt),
            ("decided_by", Text),
            ("decided_at", BigInt),
            ("applied_revision", BigInt),
            ("decision_note", Text),
            ("comments_json", Text),
        ],
        key: 1,
        only: None,
    },
    ControlTable {
        name: "neuron_overrides",
        columns: &[
            ("neuron_id", Text),
            ("pin_scope", Text),
            ("pin_revision", BigInt),
            ("keys_json", Text),
            ("expires_at", BigInt),
            ("reason", Text),
            ("created_by", Text),
            ("created_at", BigInt),
        ],
        key: 1,
        only: None,
    },
    ControlTable {
        name: "neurons",
        columns: &[
            ("id", Text),
            ("slug", Text),
            ("kind", Text),
            ("version", Text),
            ("capabilities", Text),
            ("tags", Text),
            ("region", Text),
            ("endpoint", Text),
            ("public_key", Text),
            ("status", Text),
            ("pinned", Bool),
            ("registered_at", BigInt),
            ("last_seen_at", BigInt),
            ("health", Text),
            ("checks_json", Text),
            ("load_json", Text),
            ("probe_json", Text),
            ("schema_fingerprint", Text),
            ("api_fingerprint", Text),
            ("migration_json", Text),
        ],
        key: 1,
        only: None,
    },
    ControlTable {
        name: "neuron_revocations",
        columns: &[("neuron_id", Text), ("revoked_at", BigInt)],
        key: 1,
        only: None,
    },
    ControlTable {
        name: "bundles",
        columns: &[
            ("scope", Text),
            ("revision", BigInt),
            ("kind", Text),
            ("body", Text),
            ("created_by", Text),
            ("created_at", BigInt),
            ("audience_json", Text),
            ("base_revision", BigInt),
            ("overwrote", BigInt),
        ],
        key: 2,
        // The latest bundle of each kind in every scope (what a neuron syncs to; revisions go
        // on from the newest) and every revision an override pins.
        only: Some(
            "(scope, revision) IN (SELECT scope, max(revision) FROM bundles GROUP BY scope, kind)
             OR (scope, revision) IN (SELECT pin_scope, pin_revision FROM neuron_overrides WHERE pin_scope IS NOT NULL)",
        ),
    },
    ControlTable {
        name: "bundle_acks",
        columns: &[
            ("neuron_id", Text),
            ("scope", Text),
            ("revision", BigInt),
            ("acked_at", BigInt),
        ],
        key: 2,
        only: None,
    },
    ControlTable {
        name: "layouts",
        columns: &[
            ("page_slug", Text),
            ("version", BigInt),
            ("tree_json", Text),
            ("revision", BigInt),
            ("created_by", Text),
            ("created_at", BigInt),
        ],
        key: 2,
        only: None,
    },
    ControlTable {
        name: "layout_mutations",
        columns: &[
            ("id", Text),
            ("version", BigInt),
            ("page_slug", Text),
            ("layer", Text),
            ("mutation_type", Text),
            ("is_active", Bool),
            ("deleted", Bool),
            ("rule_json", Text),
            ("revision", BigInt),
            ("created_by", Text),
            ("created_at", BigInt),
        ],
        key: 2,
        only: None,
    },
    ControlTable {
        name: "layout_backups",
        columns: &[
            ("id", Text),
            ("page_slug", Text),
            ("layout_version", BigInt),
            ("rules", BigInt),
            ("reason", Text),
            ("created_by", Text),
            ("created_at", BigInt),
            ("body", Text),
        ],
        key: 1,
        only: None,
    },
    ControlTable {
        name: "suggestion_states",
        columns: &[
            ("id", Text),
            ("state", Text),
            ("actor", Text),
            ("at", BigInt),
            ("rule_id", Text),
        ],
        key: 1,
        only: None,
    },
];

/// Tables deliberately left out of the control state, and why.
pub const NOT_CONTROL: &[(&str, &str)] = &[
    (
        "audit_log",
        "history: only its head is kept; a `recover` entry links the chain across",
    ),
    (
        "database_identity",
        "names the database itself: a replaced one has its own",
    ),
    (
        "neuron_nonces",
        "replay guards that live minutes; signed requests also carry a time",
    ),
    ("events", "analytics: measured data, not control state"),
    ("event_batches", "analytics batch ids"),
    ("rule_hours", "the report rollup: counted from the events"),
    (
        "alerts",
        "alerts for the webhook: the audit log keeps each alert's change",
    ),
    ("rule_units", "the report rollup: counted from the events"),
    (
        "unit_conversions",
        "visitors' conversion hours for CUPED: counted from the events",
    ),
    ("commands", "sent commands: done when sent"),
    ("command_reports", "what neurons answered to sent commands"),
    (
        "rollout_neurons",
        "what neurons said about their updates: a running rollout sends its order again and the neuron answers how it ended",
    ),
];

/// A copy of the control state (also the file format of the hub's last-known-good copy).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlState {
    /// The database the copy was read from.
    pub database_id: String,
    /// When (ms since the epoch).
    pub taken_at: i64,
    /// The audit chain's last entry then (seq, hash).
    pub audit_head: Option<(i64, String)>,
    pub tables: Vec<TableRows>,
}

/// One table's rows, cells in `columns` order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableRows {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
}

impl ControlState {
    /// Rows over all tables.
    pub fn rows(&self) -> usize {
        self.tables.iter().map(|t| t.rows.len()).sum()
    }
    /// The rows of one table (empty if the copy has none).
    pub fn table(&self, name: &str) -> &[Vec<serde_json::Value>] {
        self.tables
            .iter()
            .find(|t| t.name == name)
            .map_or(&[], |t| &t.rows)
    }
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq)]
pub enum Restored {
    /// The rows were put back; the chain goes on with this `recover` entry.
    Done { rows: u64, entry: AuditEntry },
    /// The database already holds control state (another hub restored it first, or it is
    /// a database of its own): nothing was written.
    NotEmpty,
}

/// Reading and restoring the control state.
#[async_trait]
pub trait ControlStore: Send + Sync {
    /// The database's identity (written by its migration); `None` when it has none, or no
    /// tables at all.
    async fn database_id(&self) -> StoreResult<Option<String>>;
    /// Reads the control state, all tables as of one moment.
    async fn control_state(&self) -> StoreResult<ControlState>;
    /// The audit chain's last entry (seq, hash), if any: cheap, to tell whether anything changed.
    async fn audit_head(&self) -> StoreResult<Option<(i64, String)>>;
    /// Puts `state` back, in one transaction that holds the write lock, if the database has
    /// no admins and no rules (else `NotEmpty`). Rows already there are replaced by the
    /// copy's. The audit chain goes on from the copy's head with `recover`.
    async fn restore_control_state(
        &self,
        state: &ControlState,
        recover: AuditRecord,
    ) -> StoreResult<Restored>;
}

/// Checks a copy before it is restored: every row as long as its columns, and every table
/// this version restores with its key columns. Tables and columns this version does not
/// know (a copy written by a newer version) are left out; columns the copy lacks (an older
/// version's) take the database's defaults.
pub(crate) fn check_copy(state: &ControlState) -> StoreResult<()> {
    for t in &state.tables {
        if let Some(bad) = t.rows.iter().find(|r| r.len() != t.columns.len()) {
            return Err(super::StoreError::Other(format!(
                "a row of `{}` in the copy has {} cells, not {}",
                t.name,
                bad.len(),
                t.columns.len()
            )));
        }
        let Some(spec) = CONTROL_TABLES.iter().find(|s| s.name == t.name) else {
            tracing::warn!(table = %t.name, "the copy holds a table this version does not restore; left out");
            continue;
        };
        if let Some((key, _)) = spec.columns[..spec.key]
            .iter()
            .find(|(c, _)| !t.columns.iter().any(|have| have == c))
        {
            return Err(super::StoreError::Other(format!(
                "the copy's `{}` lacks its key column `{key}`",
                t.name
            )));
        }
    }
    Ok(())
}

/// The columns of `spec` the copy's `table` holds, each with its index in the copy's rows.
pub(crate) fn shared_columns(
    spec: &ControlTable,
    table: &TableRows,
) -> Vec<(usize, &'static str, Cell)> {
    spec.columns
        .iter()
        .filter_map(|(c, kind)| {
            table
                .columns
                .iter()
                .position(|have| have == c)
                .map(|i| (i, *c, *kind))
        })
        .collect()
}

/// Implements [`ControlStore`] for a backend struct.
macro_rules! impl_control_store {
    ($store:ty, $row:ty) => {
        const _: () = {
            use crate::store::control::{
                check_copy, shared_columns, Cell, ControlState, ControlStore, Restored, TableRows,
                CONTROL_TABLES,
            };
            use crate::store::StoreResult;
            use cortex_core::audit::AuditRecord;
            use serde_json::Value;
            use sqlx::Row as _;

            type Db = <$row as sqlx::Row>::Database;

            fn cell(r: &$row, i: usize, kind: Cell) -> Result<Value, sqlx::Error> {
                Ok(match kind {
                    Cell::Text => r.try_get::<Option<String>, _>(i)?.map_or(Value::Null, Value::String),
                    Cell::BigInt => r.try_get::<Option<i64>, _>(i)?.map_or(Value::Null, Value::from),
                    Cell::Bool => r.try_get::<Option<bool>, _>(i)?.map_or(Value::Null, Value::Bool),
                })
            }

            fn push_cell<'q, 'args>(
                values: &mut sqlx::query_builder::Separated<'q, 'args, Db, &'static str>,
                v: &Value,
                kind: Cell,
            ) -> Result<(), String> {
                match (kind, v) {
                    (Cell::Text, Value::Null) => { values.push_bind(None::<String>); }
                    (Cell::BigInt, Value::Null) => { values.push_bind(None::<i64>); }
                    (Cell::Bool, Value::Null) => { values.push_bind(None::<bool>); }
                    (Cell::Text, Value::String(s)) => { values.push_bind(Some(s.clone())); }
                    (Cell::BigInt, Value::Number(n)) if n.is_i64() => { values.push_bind(n.as_i64()); }
                    (Cell::Bool, Value::Bool(b)) => { values.push_bind(Some(*b)); }
                    (kind, v) => return Err(format!("{v} is not a {kind:?}")),
                }
                Ok(())
            }

            #[async_trait::async_trait]
            impl ControlStore for $store {
                async fn database_id(&self) -> StoreResult<Option<String>> {
                    // The health watch's check: not gated, and bounded. A SQLite file
                    // deleted or replaced under the hub is reopened first.
                    self.before_check().await;
                    let read = crate::store::bounded(
                        sqlx::query_scalar::<_, String>("SELECT id FROM database_identity ORDER BY created_at LIMIT 1")
                            .fetch_optional(&self.raw_pool()),
                    )
                    .await;
                    match read {
                        Ok(id) => Ok(id),
                        Err(crate::store::Bounded::Failed(e)) if crate::store::is_missing_table(&e) => Ok(None),
                        Err(e) => Err(e.into()),
                    }
                }

                async fn audit_head(&self) -> StoreResult<Option<(i64, String)>> {
                    Ok(sqlx::query_as::<_, (i64, String)>("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                        .fetch_optional(&self.pool()?)
                        .await?)
                }

                async fn control_state(&self) -> StoreResult<ControlState> {
                    // One read transaction: every table as of the same moment (Postgres needs
                    // REPEATABLE READ for that; SQLite's read transaction is a snapshot).
                    let mut tx = self.pool()?.begin_with(Self::SNAPSHOT).await?;
                    let database_id = sqlx::query_scalar::<_, String>("SELECT id FROM database_identity ORDER BY created_at LIMIT 1")
                        .fetch_optional(&mut *tx)
                        .await?
                        .unwrap_or_default();
                    let audit_head = Self::last_audit(&mut tx).await?;
                    let mut tables = Vec::with_capacity(CONTROL_TABLES.len());
                    for spec in CONTROL_TABLES {
                        let columns: Vec<String> = spec.columns.iter().map(|(c, _)| c.to_string()).collect();
                        let sql = format!(
                            "SELECT {} FROM {}{}",
                            columns.join(", "),
                            spec.name,
                            spec.only.map(|w| format!(" WHERE {w}")).unwrap_or_default()
                        );
                        let rows = sqlx::query(&sql)
                            .fetch_all(&mut *tx)
                            .await?
                            .iter()
                            .map(|r| {
                                spec.columns
                                    .iter()
                                    .enumerate()
                                    .map(|(i, (_, kind))| cell(r, i, *kind))
                                    .collect::<Result<Vec<_>, _>>()
                            })
                            .collect::<Result<Vec<_>, _>>()?;
                        tables.push(TableRows { name: spec.name.to_string(), columns, rows });
                    }
                    tx.commit().await?;
                    Ok(ControlState {
                        database_id,
                        taken_at: chrono::Utc::now().timestamp_millis(),
                        audit_head,
                        tables,
                    })
                }

                async fn restore_control_state(
                    &self,
                    state: &ControlState,
                    recover: AuditRecord,
                ) -> StoreResult<Restored> {
                    check_copy(state)?;
                    // The write lock (an advisory lock on Postgres) makes one hub restore;
                    // another that waited finds the rows there and writes nothing.
                    let mut tx = self.begin_write().await?;
                    let held: i64 = sqlx::query_scalar(
                        "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM layout_mutations)",
                    )
                    .fetch_one(&mut *tx)
                    .await?;
                    if held > 0 {
                        return Ok(Restored::NotEmpty);
                    }
                    let mut rows = 0u64;
                    for spec in CONTROL_TABLES {
                        let Some(table) = state.tables.iter().find(|t| t.name == spec.name) else {
                            continue;
                        };
                        let columns = shared_columns(spec, table);
                        let names: Vec<&str> = columns.iter().map(|(_, c, _)| *c).collect();
                        let keys = names[..spec.key].join(", ");
                        let updates = names[spec.key..]
                            .iter()
                            .map(|c| format!("{c} = excluded.{c}"))
                            .collect::<Vec<_>>()
                            .join(", ");
                        // 500 rows of at most 20 cells stay under either database's bind limit.
                        for chunk in table.rows.chunks(500) {
                            let mut insert = sqlx::QueryBuilder::<Db>::new(format!(
                                "INSERT INTO {} ({}) ",
                                spec.name,
                                names.join(", ")
                            ));
                            let mut bad = None;
                            insert.push_values(chunk, |mut values, row| {
                                for (i, column, kind) in &columns {
                                    if let Err(e) = push_cell(&mut values, &row[*i], *kind) {
                                        bad.get_or_insert(format!("{}.{column}: {e}", spec.name));
                                    }
                                }
                            });
                            if let Some(bad) = bad {
                                return Err(crate::store::StoreError::Other(format!("the copy cannot be restored: {bad}")));
                            }
                            insert.push(if updates.is_empty() {
                                format!(" ON CONFLICT ({keys}) DO NOTHING")
                            } else {
                                format!(" ON CONFLICT ({keys}) DO UPDATE SET {updates}")
                            });
                            // A restore runs once: nothing to keep prepared.
                            insert.build().persistent(false).execute(&mut *tx).await?;
                            rows += chunk.len() as u64;
                        }
                    }
                    // The chain goes on from the copy's head, if this database has none of its own.
                    let own = Self::last_audit(&mut tx).await?;
                    let entry = self
                        .audit_after(&mut tx, own.or_else(|| state.audit_head.clone()), recover)
                        .await?;
                    tx.commit().await?;
                    Ok(Restored::Done { rows, entry })
                }
            }
        };
    };
}
pub(crate) use impl_control_store;
