//! Storage: one trait, one method per use case, two implementations (SQLite and Postgres).
//!
//! Every method that changes state takes the [`AuditRecord`] describing the change and writes
//! both in one transaction, so the audit log can never miss a change or record one that
//! did not happen.

mod common;
pub mod control;
pub mod events;
pub mod layouts;
pub mod neurons;
pub mod postgres;
pub mod releases;
pub mod review;
pub mod rollouts;
pub mod rollup;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use cortex_core::audit::{AuditEntry, AuditQuery, AuditRecord};
use cortex_core::user::{TokenId, TokenSummary, UserId, UserSummary};
use cortex_core::Role;
use std::sync::Arc;

use crate::config::{Backend, Config};

/// A change of one setting (see [`Store::update_setting`]).
pub type SettingUpdate =
    dyn Fn(Option<&str>) -> Result<(String, AuditRecord), String> + Send + Sync;

/// Storage failures, by what the caller can do about them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (e.g. the username is taken).
    #[error("{0}")]
    Conflict(String),
    /// The named row does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The database cannot be reached right now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else; logged with details, shown to users as an internal error.
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    pub(crate) fn from_sqlx(e: sqlx::Error, conflict: &str) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(conflict.to_string())
            }
            sqlx::Error::RowNotFound => StoreError::NotFound("not found".into()),
            _ if is_missing_table(&e) => {
                // The database lost its tables under the hub (dropped and created again):
                // wake the health watch now rather than at its next check.
                CHECK_NOW.notify_waiters();
                StoreError::Unavailable(format!(
                    "the database has lost its tables (replaced?); the hub is restoring it: {e}"
                ))
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_) => {
                CHECK_NOW.notify_waiters();
                StoreError::Unavailable(e.to_string())
            }
            // Connection failures, a server shutting down or a database that does not exist
            // (dropped, not created again yet): the database is away, not the request wrong.
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    c.starts_with("08") || c.starts_with("57P") || c == "3D000"
                }) =>
            {
                CHECK_NOW.notify_waiters();
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Other(e.to_string()),
        }
    }
}

/// Woken when a query finds the database unreachable or its tables missing: the health
/// watch checks the database at once instead of at its next tick.
pub static CHECK_NOW: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// How long the health watch waits for the database to answer a check.
pub const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);

/// Why a bounded check failed.
#[derive(Debug)]
pub(crate) enum Bounded {
    Failed(sqlx::Error),
    TimedOut,
}

impl From<Bounded> for StoreError {
    fn from(b: Bounded) -> Self {
        match b {
            Bounded::Failed(e) => e.into(),
            Bounded::TimedOut => StoreError::Unavailable(format!(
                "no answer within {} ms",
                CHECK_TIMEOUT.as_millis()
            )),
        }
    }
}

/// Runs a health check's query, giving up after [`CHECK_TIMEOUT`].
pub(crate) async fn bounded<T>(
    query: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, Bounded> {
    match tokio::time::timeout(CHECK_TIMEOUT, query).await {
        Ok(r) => r.map_err(Bounded::Failed),
        Err(_) => Err(Bounded::TimedOut),
    }
}

/// Closed while the health watch finds the database unreachable: store calls then fail at
/// once with `Unavailable` instead of each waiting for a connection.
#[derive(Debug, Default)]
pub struct Gate {
    closed: std::sync::atomic::AtomicBool,
}

impl Gate {
    /// Store calls fail at once from now on.
    pub fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
    }
    /// Store calls go through again.
    pub fn open(&self) {
        self.closed
            .store(false, std::sync::atomic::Ordering::Release);
    }
    /// Whether calls are refused.
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }
    /// A store call may go on (or is refused).
    pub(crate) fn pass(&self) -> StoreResult<()> {
        if self.is_closed() {
            return Err(StoreError::Unavailable(
                "the database is unreachable; the hub retries every second".into(),
            ));
        }
        Ok(())
    }
}

/// Whether `e` says a table does not exist (Postgres `undefined_table`, SQLite `no such table`).
pub(crate) fn is_missing_table(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some("42P01") || db.message().starts_with("no such table")
        }
        _ => false,
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::from_sqlx(e, "already exists")
    }
}

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// A user with the password hash, for sign-in. Never leaves the server.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user: UserSummary,
    pub password_hash: String,
}

/// A new user to insert.
#[derive(Debug, Clone)]
pub struct UserForCreate {
    pub id: UserId,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// A new API token to insert; `secret_hash` is the SHA-256 of the secret.
#[derive(Debug, Clone)]
pub struct TokenForCreate {
    pub summary: TokenSummary,
    pub secret_hash: String,
}

/// A sign-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// When a new user may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateUserRule {
    /// Always (an admin adds a user).
    Any,
    /// Only when there are no users yet (first-admin setup); consumes the setup token.
    FirstUser,
}

/// The storage interface: one method per use case.
#[async_trait]
pub trait Store:
    neurons::NeuronStore
    + events::EventStore
    + layouts::LayoutStore
    + control::ControlStore
    + releases::ReleaseStore
    + rollouts::RolloutStore
    + review::ReviewStore
    + Send
    + Sync
    + 'static
{
    /// Which backend this is.
    fn backend(&self) -> Backend;
    /// The Postgres pool, for LISTEN/NOTIFY between hubs sharing the database (`None` on SQLite).
    fn postgres_pool(&self) -> Option<sqlx::PgPool>;
    /// Checks the database answers (bounded by [`CHECK_TIMEOUT`]; never gated).
    async fn ping(&self) -> StoreResult<()>;
    /// Closes while the database is unreachable (see [`Gate`]).
    fn gate(&self) -> &Gate;
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;

    /// How many users exist.
    async fn count_users(&self) -> StoreResult<i64>;
    /// Inserts a user and its audit record.
    async fn create_user(
        &self,
        user: UserForCreate,
        rule: CreateUserRule,
        audit: AuditRecord,
    ) -> StoreResult<UserSummary>;
    /// Looks a user up by name, with the password hash.
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    /// Lists users by name.
    async fn list_users(&self) -> StoreResult<Vec<UserSummary>>;
    /// Changes a user's role. Refuses to remove the last admin. The store fills the audit
    /// record's target, before and after from the rows it changes.
    async fn set_user_role(
        &self,
        id: UserId,
        role: Role,
        audit: AuditRecord,
    ) -> StoreResult<UserSummary>;
    /// Deletes a user and their sessions. Refuses to delete the last admin. Fills target and before.
    async fn delete_user(&self, id: UserId, audit: AuditRecord) -> StoreResult<UserSummary>;

    /// Records a new session (sign-in).
    async fn create_session(&self, session: SessionRecord, audit: AuditRecord) -> StoreResult<()>;
    /// The live session and its user, if the session exists and has not expired at `now`.
    async fn session_user(
        &self,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserSummary>>;
    /// Ends a session (sign-out). Ending an unknown session is not an error.
    async fn delete_session(&self, session_id: &str, audit: AuditRecord) -> StoreResult<()>;

    /// Inserts an API token.
    async fn create_token(
        &self,
        token: TokenForCreate,
        audit: AuditRecord,
    ) -> StoreResult<TokenSummary>;
    /// Finds a token by the hash of its secret (including revoked and expired ones).
    async fn token_by_hash(&self, secret_hash: &str) -> StoreResult<Option<TokenSummary>>;
    /// Notes that a token was used (best effort, not audited).
    async fn touch_token(&self, id: TokenId, at: DateTime<Utc>) -> StoreResult<()>;
    /// Lists tokens, newest first.
    async fn list_tokens(&self) -> StoreResult<Vec<TokenSummary>>;
    /// Revokes a token. Fills the audit record's target, before and after.
    async fn revoke_token(
        &self,
        id: TokenId,
        at: DateTime<Utc>,
        audit: AuditRecord,
    ) -> StoreResult<TokenSummary>;

    /// Reads a setting.
    async fn setting(&self, key: &str) -> StoreResult<Option<String>>;
    /// Writes a setting (audited unless `audit` is `None`, for internal bookkeeping such as the setup token hash).
    async fn put_setting(
        &self,
        key: &str,
        value: &str,
        audit: Option<AuditRecord>,
    ) -> StoreResult<()>;

    /// Changes setting `key` in one write transaction: `update` gets its value now (`None`:
    /// unset) and returns the new value with its audit record, or a refusal, which is
    /// returned as `Ok(Err(..))` with nothing written. Two changes at once cannot lose one.
    async fn update_setting(
        &self,
        key: &str,
        update: &SettingUpdate,
    ) -> StoreResult<Result<String, String>>;

    /// The setting `key`, written as `value` first if it has none: of callers racing (on
    /// one hub or several on one database), the first write wins and every caller gets it.
    async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String>;

    /// Appends an audit record that goes with no other change (e.g. a CLI action).
    async fn append_audit(&self, audit: AuditRecord) -> StoreResult<AuditEntry>;
    /// Lists audit entries, newest first, filtered.
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;
    /// Reads the chain in ascending order from `after_seq`, for verification.
    async fn audit_chain(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditEntry>>;
}

/// A shared store handle.
pub type DynStore = Arc<dyn Store>;

/// Opens the store the config names, without connecting yet (connections are made lazily,
/// so a hub whose database is down still starts and reports it on `/readyz`).
/// New audit entries are keyed with `audit_key` (see `cortex_core::audit`).
pub fn open(
    config: &Config,
    audit_key: Option<cortex_core::audit::ChainKey>,
) -> Result<DynStore, StoreError> {
    let url = config.database_url();
    let store: DynStore = match config
        .backend()
        .map_err(|e| StoreError::Other(e.to_string()))?
    {
        Backend::Sqlite => {
            Arc::new(sqlite::SqliteStore::open_lazy(&url)?.with_audit_key(audit_key))
        }
        Backend::Postgres => {
            Arc::new(postgres::PgStore::open_lazy(&url)?.with_audit_key(audit_key))
        }
    };
    Ok(store)
}

/// Settings key holding the SHA-256 of the one-time setup token.
pub const SETUP_TOKEN_SETTING: &str = "setup_token_sha256";

/// Rounds a time to the millisecond precision the database keeps (for comparing round trips).
/// Whether a batch statement of `rows` rows is kept prepared on its connection. Only the
/// shapes that recur are: one row, and a full chunk of `full`. Every other row count is a
/// new SQL text, and sqlx keeps up to 100 prepared statements per connection: batches of
/// varying size filled that cache with statements of thousands of parameters, a few hundred
/// KiB each inside SQLite, which were never freed (with 10,000 neurons pushing acks, the
/// writer connection alone grew by about 100 MiB).
pub(crate) fn keep_prepared(rows: usize, full: usize) -> bool {
    rows == 1 || rows == full
}

pub fn ms_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    from_ms(ms(t))
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

pub(crate) fn parse_role(s: &str) -> StoreResult<Role> {
    s.parse()
        .map_err(|e: cortex_core::role::UnknownRole| StoreError::Other(e.to_string()))
}

pub(crate) fn parse_uuid(s: &str) -> StoreResult<uuid::Uuid> {
    uuid::Uuid::parse_str(s)
        .map_err(|e| StoreError::Other(format!("bad id `{s}` in database: {e}")))
}

pub(crate) fn parse_json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or(serde_json::Value::Null)
}

/// Computes the next chain entry after `(last_seq, last_hash)`, keyed with `key` if given.
pub(crate) fn next_entry(
    key: Option<&cortex_core::audit::ChainKey>,
    last: Option<(i64, String)>,
    at: DateTime<Utc>,
    record: AuditRecord,
) -> AuditEntry {
    let (last_seq, prev_hash) = last.unwrap_or((0, cortex_core::audit::GENESIS_HASH.to_string()));
    let seq = last_seq + 1;
    // Millisecond precision is what the database keeps, so hash exactly that.
    let at = from_ms(ms(at));
    let hash = cortex_core::audit::hash_entry(key, seq, at, &record, &prev_hash);
    AuditEntry {
        seq,
        at,
        record,
        prev_hash,
        hash,
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern used with `ESCAPE '\'`.
pub(crate) fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
