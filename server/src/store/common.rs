//! The queries both backends share. `$N` placeholders work on SQLite and Postgres alike, so
//! the SQL is written once here; each backend supplies what must differ (how a write
//! transaction takes its lock, how migrations run) as inherent methods:
//! `begin_write`, `run_migrations`, `BACKEND` and a `pool` field.

/// Implements [`crate::store::Store`] for a backend struct using the shared SQL.
macro_rules! impl_store {
    ($store:ty, $row:ty) => {
        use crate::store::{
            from_ms, like_escape, ms, next_entry, parse_json, parse_role, parse_uuid, CreateUserRule,
            SessionRecord, Store, StoreError, StoreResult, TokenForCreate, UserForCreate, UserRecord,
            SETUP_TOKEN_SETTING,
        };
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use cortex_core::audit::{AuditEntry, AuditQuery, AuditRecord};
        use cortex_core::user::{TokenId, TokenSummary, UserId, UserSummary};
        use cortex_core::Role;
        use sqlx::Row as _;

        const USER_COLS: &str = "id, username, role, created_at";
        const TOKEN_COLS: &str =
            "id, name, role, created_by, created_at, expires_at, last_used_at, revoked_at";
        const AUDIT_COLS: &str = "seq, at, actor, action, target, before_json, after_json, prev_hash, hash";

        fn user_from_row(r: &$row) -> StoreResult<UserSummary> {
            Ok(UserSummary {
                id: UserId(parse_uuid(&r.try_get::<String, _>("id")?)?),
                username: r.try_get("username")?,
                role: parse_role(&r.try_get::<String, _>("role")?)?,
                created_at: from_ms(r.try_get("created_at")?),
            })
        }

        fn token_from_row(r: &$row) -> StoreResult<TokenSummary> {
            let opt = |c: &str| -> StoreResult<Option<DateTime<Utc>>> {
                Ok(r.try_get::<Option<i64>, _>(c)?.map(from_ms))
            };
            Ok(TokenSummary {
                id: TokenId(parse_uuid(&r.try_get::<String, _>("id")?)?),
                name: r.try_get("name")?,
                role: parse_role(&r.try_get::<String, _>("role")?)?,
                created_by: r.try_get("created_by")?,
                created_at: from_ms(r.try_get("created_at")?),
                expires_at: opt("expires_at")?,
                last_used_at: opt("last_used_at")?,
                revoked_at: opt("revoked_at")?,
            })
        }

        fn audit_from_row(r: &$row) -> StoreResult<AuditEntry> {
            Ok(AuditEntry {
                seq: r.try_get("seq")?,
                at: from_ms(r.try_get("at")?),
                record: AuditRecord {
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    before: parse_json(&r.try_get::<String, _>("before_json")?),
                    after: parse_json(&r.try_get::<String, _>("after_json")?),
                },
                prev_hash: r.try_get("prev_hash")?,
                hash: r.try_get("hash")?,
            })
        }

        impl $store {
            /// The chain's last entry (seq, hash), read in `tx`.
            async fn last_audit(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
            ) -> StoreResult<Option<(i64, String)>> {
                Ok(sqlx::query_as::<_, (i64, String)>("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(&mut **tx)
                    .await?)
            }

            /// Appends an audit entry inside a write transaction that already holds the write lock.
            async fn audit_in(
                &self,
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                record: AuditRecord,
            ) -> StoreResult<AuditEntry> {
                let last = Self::last_audit(tx).await?;
                self.audit_after(tx, last, record).await
            }

            /// Appends an audit entry chained after `last` (the chain's end, or the head of a
            /// chain lost with a replaced database).
            async fn audit_after(
                &self,
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                last: Option<(i64, String)>,
                record: AuditRecord,
            ) -> StoreResult<AuditEntry> {
                let entry = next_entry(self.audit_key.as_deref(), last, Utc::now(), record);
                sqlx::query(
                    "INSERT INTO audit_log (seq, at, actor, action, target, before_json, after_json, prev_hash, hash)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(entry.seq)
                .bind(ms(entry.at))
                .bind(&entry.record.actor)
                .bind(&entry.record.action)
                .bind(&entry.record.target)
                .bind(entry.record.before.to_string())
                .bind(entry.record.after.to_string())
                .bind(&entry.prev_hash)
                .bind(&entry.hash)
                .execute(&mut **tx)
                .await?;
                Ok(entry)
            }

            /// Appends several audit entries, chained in order, with one read and one insert.
            async fn audits_in(
                &self,
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                records: Vec<AuditRecord>,
            ) -> StoreResult<()> {
                if records.is_empty() {
                    return Ok(());
                }
                let mut last = Self::last_audit(tx).await?;
                let at = Utc::now();
                let mut entries = Vec::with_capacity(records.len());
                for record in records {
                    let entry = next_entry(self.audit_key.as_deref(), last.take(), at, record);
                    last = Some((entry.seq, entry.hash.clone()));
                    entries.push(entry);
                }
                // 9 columns a row: 500 rows stay well under either database's bind limit.
                for chunk in entries.chunks(500) {
                    let mut qb = sqlx::QueryBuilder::new(format!("INSERT INTO audit_log ({AUDIT_COLS}) "));
                    qb.push_values(chunk, |mut v, e| {
                        v.push_bind(e.seq)
                            .push_bind(ms(e.at))
                            .push_bind(e.record.actor.clone())
                            .push_bind(e.record.action.clone())
                            .push_bind(e.record.target.clone())
                            .push_bind(e.record.before.to_string())
                            .push_bind(e.record.after.to_string())
                            .push_bind(e.prev_hash.clone())
                            .push_bind(e.hash.clone());
                    });
                    qb.build()
                        .persistent(crate::store::keep_prepared(chunk.len(), 500))
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }

            async fn user_by_id_in(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                id: UserId,
            ) -> StoreResult<UserSummary> {
                let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
                    .bind(id.0.to_string())
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("no user with id {id}")))?;
                user_from_row(&row)
            }

            async fn other_admins_in(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                id: UserId,
            ) -> StoreResult<i64> {
                Ok(sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND id <> $1")
                    .bind(id.0.to_string())
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get("n")?)
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> crate::config::Backend {
                Self::BACKEND
            }

            fn postgres_pool(&self) -> Option<sqlx::PgPool> {
                Self::as_postgres(&self.raw_pool())
            }

            async fn ping(&self) -> StoreResult<()> {
                // The health watch: not gated, and bounded, so an outage is noticed at once.
                crate::store::bounded(sqlx::query("SELECT 1").execute(&self.raw_pool())).await?;
                Ok(())
            }

            fn gate(&self) -> &crate::store::Gate {
                &self.gate
            }

            async fn migrate(&self) -> StoreResult<()> {
                self.run_migrations().await
            }

            async fn count_users(&self) -> StoreResult<i64> {
                Ok(sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&self.pool()?).await?.try_get("n")?)
            }

            async fn create_user(
                &self,
                user: UserForCreate,
                rule: CreateUserRule,
                audit: AuditRecord,
            ) -> StoreResult<UserSummary> {
                let mut tx = self.begin_write().await?;
                if rule == CreateUserRule::FirstUser {
                    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&mut *tx).await?.try_get("n")?;
                    if n > 0 {
                        return Err(StoreError::Conflict("setup is already done: an admin exists; sign in instead".into()));
                    }
                    sqlx::query("DELETE FROM settings WHERE key = $1").bind(SETUP_TOKEN_SETTING).execute(&mut *tx).await?;
                }
                sqlx::query("INSERT INTO users (id, username, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(user.id.0.to_string())
                    .bind(&user.username)
                    .bind(&user.password_hash)
                    .bind(user.role.as_str())
                    .bind(ms(user.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::from_sqlx(e, &format!("username `{}` is taken", user.username)))?;
                self.audit_in(&mut tx, audit).await?;
                let created = Self::user_by_id_in(&mut tx, user.id).await?;
                tx.commit().await?;
                Ok(created)
            }

            async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
                let row = sqlx::query(&format!("SELECT {USER_COLS}, password_hash FROM users WHERE username = $1"))
                    .bind(username)
                    .fetch_optional(&self.pool()?)
                    .await?;
                row.map(|r| Ok(UserRecord { user: user_from_row(&r)?, password_hash: r.try_get("password_hash")? }))
                    .transpose()
            }

            async fn list_users(&self) -> StoreResult<Vec<UserSummary>> {
                sqlx::query(&format!("SELECT {USER_COLS} FROM users ORDER BY username"))
                    .fetch_all(&self.pool()?)
                    .await?
                    .iter()
                    .map(user_from_row)
                    .collect()
            }

            async fn set_user_role(&self, id: UserId, role: Role, audit: AuditRecord) -> StoreResult<UserSummary> {
                let mut tx = self.begin_write().await?;
                let before = Self::user_by_id_in(&mut tx, id).await?;
                if before.role == Role::Admin && role != Role::Admin && Self::other_admins_in(&mut tx, id).await? == 0 {
                    return Err(StoreError::Conflict("cannot demote the last admin: make another user admin first".into()));
                }
                sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
                    .bind(role.as_str())
                    .bind(id.0.to_string())
                    .execute(&mut *tx)
                    .await?;
                let after = Self::user_by_id_in(&mut tx, id).await?;
                let audit = AuditRecord {
                    target: format!("user:{}", after.username),
                    before: serde_json::json!({"role": before.role}),
                    after: serde_json::json!({"role": after.role}),
                    ..audit
                };
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(after)
            }

            async fn delete_user(&self, id: UserId, audit: AuditRecord) -> StoreResult<UserSummary> {
                let mut tx = self.begin_write().await?;
                let before = Self::user_by_id_in(&mut tx, id).await?;
                if before.role == Role::Admin && Self::other_admins_in(&mut tx, id).await? == 0 {
                    return Err(StoreError::Conflict("cannot delete the last admin".into()));
                }
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id.0.to_string()).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM users WHERE id = $1").bind(id.0.to_string()).execute(&mut *tx).await?;
                let audit = AuditRecord {
                    target: format!("user:{}", before.username),
                    before: serde_json::json!({"username": before.username, "role": before.role}),
                    after: serde_json::Value::Null,
                    ..audit
                };
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(before)
            }

            async fn create_session(&self, s: SessionRecord, audit: AuditRecord) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                // Expired sessions are swept whenever someone signs in.
                sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(ms(Utc::now())).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(&s.id)
                    .bind(s.user_id.0.to_string())
                    .bind(ms(s.created_at))
                    .bind(ms(s.expires_at))
                    .execute(&mut *tx)
                    .await?;
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn session_user(&self, session_id: &str, now: DateTime<Utc>) -> StoreResult<Option<UserSummary>> {
                let row = sqlx::query(
                    "SELECT u.id, u.username, u.role, u.created_at FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.id = $1 AND s.expires_at > $2",
                )
                .bind(session_id)
                .bind(ms(now))
                .fetch_optional(&self.pool()?)
                .await?;
                row.as_ref().map(user_from_row).transpose()
            }

            async fn delete_session(&self, session_id: &str, audit: AuditRecord) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query("DELETE FROM sessions WHERE id = $1").bind(session_id).execute(&mut *tx).await?;
                if done.rows_affected() > 0 {
                    self.audit_in(&mut tx, audit).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn create_token(&self, t: TokenForCreate, audit: AuditRecord) -> StoreResult<TokenSummary> {
                let mut tx = self.begin_write().await?;
                let s = &t.summary;
                sqlx::query(
                    "INSERT INTO api_tokens (id, name, role, secret_hash, created_by, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(s.id.0.to_string())
                .bind(&s.name)
                .bind(s.role.as_str())
                .bind(&t.secret_hash)
                .bind(&s.created_by)
                .bind(ms(s.created_at))
                .bind(s.expires_at.map(ms))
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::from_sqlx(e, "token already exists"))?;
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(t.summary)
            }

            async fn token_by_hash(&self, secret_hash: &str) -> StoreResult<Option<TokenSummary>> {
                let row = sqlx::query(&format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE secret_hash = $1"))
                    .bind(secret_hash)
                    .fetch_optional(&self.pool()?)
                    .await?;
                row.as_ref().map(token_from_row).transpose()
            }

            async fn touch_token(&self, id: TokenId, at: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                    .bind(ms(at))
                    .bind(id.0.to_string())
                    .execute(&self.writer()?)
                    .await?;
                Ok(())
            }

            async fn list_tokens(&self) -> StoreResult<Vec<TokenSummary>> {
                sqlx::query(&format!("SELECT {TOKEN_COLS} FROM api_tokens ORDER BY created_at DESC, name"))
                    .fetch_all(&self.pool()?)
                    .await?
                    .iter()
                    .map(token_from_row)
                    .collect()
            }

            async fn revoke_token(&self, id: TokenId, at: DateTime<Utc>, audit: AuditRecord) -> StoreResult<TokenSummary> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(ms(at))
                    .bind(id.0.to_string())
                    .execute(&mut *tx)
                    .await?;
                let row = sqlx::query(&format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = $1"))
                    .bind(id.0.to_string())
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("no token with id {id}")))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict("token is already revoked".into()));
                }
                let token = token_from_row(&row)?;
                let audit = AuditRecord {
                    target: format!("token:{}", token.name),
                    before: serde_json::json!({"revoked_at": null}),
                    after: serde_json::json!({"revoked_at": token.revoked_at}),
                    ..audit
                };
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(token)
            }

            async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
                let row = sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&self.pool()?).await?;
                Ok(row.map(|r| r.try_get("value")).transpose()?)
            }

            async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .bind(value)
                .bind(ms(Utc::now()))
                .execute(&mut *tx)
                .await?;
                let row = sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_one(&mut *tx).await?;
                let kept: String = row.try_get("value")?;
                tx.commit().await?;
                Ok(kept)
            }

            async fn update_setting(&self, key: &str, update: &crate::store::SettingUpdate) -> StoreResult<Result<String, String>> {
                let mut tx = self.begin_write().await?;
                let now: Option<String> = sqlx::query("SELECT value FROM settings WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| r.try_get("value"))
                    .transpose()?;
                let (value, audit) = match update(now.as_deref()) {
                    Ok(v) => v,
                    Err(refused) => return Ok(Err(refused)),
                };
                sqlx::query(
                    "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(key)
                .bind(&value)
                .bind(ms(Utc::now()))
                .execute(&mut *tx)
                .await?;
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(Ok(value))
            }

            async fn put_setting(&self, key: &str, value: &str, audit: Option<AuditRecord>) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(key)
                .bind(value)
                .bind(ms(Utc::now()))
                .execute(&mut *tx)
                .await?;
                if let Some(audit) = audit {
                    self.audit_in(&mut tx, audit).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn append_audit(&self, audit: AuditRecord) -> StoreResult<AuditEntry> {
                let mut tx = self.begin_write().await?;
                let entry = self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(entry)
            }

            async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
                // Empty filters are passed as '' and match everything, so one statement serves all.
                let contains = |s: &Option<String>| {
                    s.as_deref().filter(|v| !v.is_empty()).map(|v| format!("%{}%", like_escape(&v.to_lowercase())))
                };
                let prefix = q
                    .action
                    .as_deref()
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("{}%", like_escape(&v.to_lowercase())));
                let sql = format!(
                    "SELECT {AUDIT_COLS} FROM audit_log
                     WHERE ($1 = '' OR LOWER(actor) LIKE $1 ESCAPE '\\')
                       AND ($2 = '' OR LOWER(action) LIKE $2 ESCAPE '\\')
                       AND ($3 = '' OR LOWER(target) LIKE $3 ESCAPE '\\')
                       AND seq < $4
                     ORDER BY seq DESC LIMIT $5"
                );
                sqlx::query(&sql)
                    .bind(contains(&q.actor).unwrap_or_default())
                    .bind(prefix.unwrap_or_default())
                    .bind(contains(&q.target).unwrap_or_default())
                    .bind(q.before_seq.unwrap_or(i64::MAX))
                    .bind(i64::from(q.page_size()))
                    .fetch_all(&self.pool()?)
                    .await?
                    .iter()
                    .map(audit_from_row)
                    .collect()
            }

            async fn audit_chain(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
                sqlx::query(&format!("SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"))
                    .bind(after_seq)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool()?)
                    .await?
                    .iter()
                    .map(audit_from_row)
                    .collect()
            }
        }
    };
}

pub(crate) use impl_store;
