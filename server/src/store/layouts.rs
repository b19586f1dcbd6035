//! Storage of layout mutations: versioned base layouts per page and every version of every
//! rule, under one rule-set revision sequence (see `migrations/*/0007_layouts.sql`).

use async_trait::async_trait;
use cortex_core::audit::AuditRecord;
use cortex_core::ids::Revision;
use cortex_core::layout::migrate::LayoutBackup;
use cortex_core::layout::Layout;
use cortex_core::mutation::LayoutMutation;
use cortex_core::rules::{RuleChanges, RuleSet, RuleVersion};

use super::StoreResult;

/// Layouts and rules.
#[async_trait]
pub trait LayoutStore: Send + Sync {
    /// Stores `layout` as the next version of its page (its `version` is set here) and
    /// advances the rule-set revision (audited), with `backup` (what it replaces) in the same
    /// transaction: the newest
    /// [`KEPT_BACKUPS`](cortex_core::layout::migrate::KEPT_BACKUPS) of a page are kept.
    async fn put_layout(
        &self,
        layout: Layout,
        backup: Option<&LayoutBackup>,
        audit: AuditRecord,
    ) -> StoreResult<Layout>;
    /// One page's base layout: a given version, or the newest.
    async fn layout(&self, page_slug: &str, version: Option<u32>) -> StoreResult<Option<Layout>>;
    /// A page's layout versions, newest first, at most `limit`.
    async fn layout_versions(&self, page_slug: &str, limit: u32) -> StoreResult<Vec<Layout>>;
    /// Backups, newest first (of one page, or all), at most `limit`, without their content.
    async fn layout_backups(
        &self,
        page_slug: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<LayoutBackup>>;
    /// One backup, with its content.
    async fn layout_backup(&self, id: &str) -> StoreResult<Option<LayoutBackup>>;
    /// Writes the next version of a rule (its `version` and `rollbackPointer` are set here:
    /// the pointer names the version it replaced) and advances the rule-set revision.
    /// `deleted` records a removal. Fills the audit target, before and after (the new
    /// version, beside any keys the caller put in `after`). When the
    /// newest version is not what `expect` says, nothing is written: `Conflict`.
    async fn put_rule(
        &self,
        rule: LayoutMutation,
        deleted: bool,
        expect: Head,
        audit: AuditRecord,
    ) -> StoreResult<RuleVersion>;
    /// Every version of one rule, newest first.
    async fn rule_history(&self, id: &str) -> StoreResult<Vec<RuleVersion>>;
    /// The newest version of one rule (deleted or not), if it has any.
    async fn rule_head(&self, id: &str) -> StoreResult<Option<RuleVersion>>;
    /// The newest version of every rule, deleted ones included, by id.
    async fn rule_heads(&self) -> StoreResult<Vec<RuleVersion>>;
    /// The rule set in force: the newest layout of each page and every rule not deleted.
    async fn rule_set(&self) -> StoreResult<RuleSet>;
    /// What changed after `revision`: the newest version of each rule changed since, and the
    /// newest layout of each page changed since.
    async fn rule_changes(&self, revision: Revision) -> StoreResult<RuleChanges>;
}

/// What a rule write expects to replace, checked in the write's own transaction, so two
/// editors saving at once cannot both win (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// Whatever is there (rollbacks, switches, imports: each starts from what it read).
    Any,
    /// No version yet: the rule is new.
    Absent,
    /// This version is the newest.
    Version(u32),
}

impl Head {
    /// Why a write expecting `self` may not replace `held` (the newest version, if any).
    pub fn refuses(self, id: &str, held: Option<u32>) -> Option<String> {
        match (self, held) {
            (Head::Any, _) | (Head::Absent, None) => None,
            (Head::Version(v), Some(h)) if v == h => None,
            (Head::Absent, Some(h)) => Some(format!("a rule `{id}` exists (version {h})")),
            (Head::Version(v), Some(h)) => Some(format!(
                "rule `{id}` is at version {h}, not {v}: it changed since it was read"
            )),
            (Head::Version(_), None) => Some(format!("no rule `{id}`")),
        }
    }
}

/// Implements [`LayoutStore`] for a backend (see `common.rs` for the conventions).
macro_rules! impl_layout_store {
    ($store:ty, $row:ty) => {
        const RULE_READ: &str = "rule_json, deleted, revision";

        fn rule_from_row(r: &$row) -> StoreResult<cortex_core::rules::RuleVersion> {
            let json: String = r.try_get("rule_json")?;
            Ok(cortex_core::rules::RuleVersion {
                rule: serde_json::from_str(&json)
                    .map_err(|e| StoreError::Other(format!("bad rule in database: {e}")))?,
                deleted: r.try_get("deleted")?,
                revision: cortex_core::ids::Revision(r.try_get::<i64, _>("revision")? as u64),
            })
        }

        const BACKUP_COLS: &str = "id, page_slug, layout_version, rules, reason, created_by, created_at";

        fn backup_from_row(r: &$row, with_body: bool) -> StoreResult<cortex_core::layout::migrate::LayoutBackup> {
            Ok(cortex_core::layout::migrate::LayoutBackup {
                id: r.try_get("id")?,
                page_slug: r.try_get("page_slug")?,
                layout_version: r.try_get::<i64, _>("layout_version")?.clamp(0, u32::MAX as i64) as u32,
                rules: r.try_get::<i64, _>("rules")?.clamp(0, u32::MAX as i64) as u32,
                reason: r.try_get("reason")?,
                created_by: r.try_get("created_by")?,
                created_at: from_ms(r.try_get("created_at")?),
                set: if with_body {
                    let body: String = r.try_get("body")?;
                    Some(serde_json::from_str(&body).map_err(|e| StoreError::Other(format!("bad layout backup in database: {e}")))?)
                } else {
                    None
                },
            })
        }

        fn layout_from_row(r: &$row) -> StoreResult<cortex_core::layout::Layout> {
            let json: String = r.try_get("tree_json")?;
            serde_json::from_str(&json).map_err(|e| StoreError::Other(format!("bad layout in database: {e}")))
        }

        impl $store {
            /// The rule-set revision in force (0: nothing stored yet), read inside `tx`.
            async fn rule_revision_in(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
            ) -> StoreResult<i64> {
                let r: Option<i64> = sqlx::query(
                    "SELECT MAX(r) AS r FROM (SELECT MAX(revision) AS r FROM layouts
                     UNION ALL SELECT MAX(revision) AS r FROM layout_mutations) AS t",
                )
                .fetch_one(&mut **tx)
                .await?
                .try_get("r")?;
                Ok(r.unwrap_or(0))
            }

            /// The newest version of rule `id`, read with `db`: the pool, or a write's own
            /// transaction.
            async fn rule_head_with<'e, E>(db: E, id: &str) -> StoreResult<Option<cortex_core::rules::RuleVersion>>
            where
                E: sqlx::Executor<'e, Database = <$row as sqlx::Row>::Database>,
            {
                sqlx::query(&format!("SELECT {RULE_READ} FROM layout_mutations WHERE id = $1 ORDER BY version DESC LIMIT 1"))
                    .bind(id)
                    .fetch_optional(db)
                    .await?
                    .as_ref()
                    .map(rule_from_row)
                    .transpose()
            }
        }

        #[async_trait]
        impl crate::store::layouts::LayoutStore for $store {
            async fn put_layout(
                &self,
                mut layout: cortex_core::layout::Layout,
                backup: Option<&cortex_core::layout::migrate::LayoutBackup>,
                mut audit: AuditRecord,
            ) -> StoreResult<cortex_core::layout::Layout> {
                let mut tx = self.begin_write().await?;
                let last: Option<i64> = sqlx::query("SELECT MAX(version) AS v FROM layouts WHERE page_slug = $1")
                    .bind(layout.page_slug.as_str())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("v")?;
                if let Some(b) = backup {
                    // The backup holds what this replaces, or the write would leave a version
                    // without one.
                    if last != Some(i64::from(b.layout_version)) {
                        return Err(StoreError::Conflict(format!(
                            "page `{}` changed meanwhile (its layout is at version {}, not {}); save again",
                            b.page_slug,
                            last.unwrap_or(0),
                            b.layout_version
                        )));
                    }
                    sqlx::query(&format!("INSERT INTO layout_backups ({BACKUP_COLS}, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
                        .bind(&b.id)
                        .bind(&b.page_slug)
                        .bind(i64::from(b.layout_version))
                        .bind(i64::from(b.rules))
                        .bind(&b.reason)
                        .bind(&b.created_by)
                        .bind(ms(b.created_at))
                        .bind(serde_json::to_string(&b.set).unwrap_or_default())
                        .execute(&mut *tx)
                        .await?;
                    // The newest are kept: the id breaks ties of one millisecond.
                    sqlx::query(
                        "DELETE FROM layout_backups WHERE page_slug = $1 AND id NOT IN
                         (SELECT id FROM layout_backups WHERE page_slug = $1 ORDER BY created_at DESC, id DESC LIMIT $2)",
                    )
                    .bind(&b.page_slug)
                    .bind(cortex_core::layout::migrate::KEPT_BACKUPS as i64)
                    .execute(&mut *tx)
                    .await?;
                }
                layout.version = (last.unwrap_or(0) + 1) as u32;
                let revision = Self::rule_revision_in(&mut tx).await? + 1;
                sqlx::query("INSERT INTO layouts (page_slug, version, tree_json, revision, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(layout.page_slug.as_str())
                    .bind(layout.version as i64)
                    .bind(serde_json::to_string(&layout).unwrap_or_default())
                    .bind(revision)
                    .bind(&audit.actor)
                    .bind(ms(Utc::now()))
                    .execute(&mut *tx)
                    .await?;
                audit.target = format!("layout:{}", layout.page_slug);
                audit.after = serde_json::json!({"version": layout.version, "revision": revision});
                if let Some(b) = backup {
                    audit.after["backup"] = b.id.clone().into();
                }
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(layout)
            }

            async fn layout_versions(&self, page_slug: &str, limit: u32) -> StoreResult<Vec<cortex_core::layout::Layout>> {
                let rows = sqlx::query("SELECT tree_json FROM layouts WHERE page_slug = $1 ORDER BY version DESC LIMIT $2")
                    .bind(page_slug)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool()?)
                    .await?;
                rows.iter().map(layout_from_row).collect()
            }

            async fn layout_backups(&self, page_slug: Option<&str>, limit: u32) -> StoreResult<Vec<cortex_core::layout::migrate::LayoutBackup>> {
                let rows = match page_slug {
                    Some(p) => sqlx::query(&format!("SELECT {BACKUP_COLS} FROM layout_backups WHERE page_slug = $1 ORDER BY created_at DESC, id DESC LIMIT $2"))
                        .bind(p)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool()?)
                        .await?,
                    None => sqlx::query(&format!("SELECT {BACKUP_COLS} FROM layout_backups ORDER BY created_at DESC, id DESC LIMIT $1"))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool()?)
                        .await?,
                };
                rows.iter().map(|r| backup_from_row(r, false)).collect()
            }

            async fn layout_backup(&self, id: &str) -> StoreResult<Option<cortex_core::layout::migrate::LayoutBackup>> {
                sqlx::query(&format!("SELECT {BACKUP_COLS}, body FROM layout_backups WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool()?)
                    .await?
                    .as_ref()
                    .map(|r| backup_from_row(r, true))
                    .transpose()
            }

            async fn layout(&self, page_slug: &str, version: Option<u32>) -> StoreResult<Option<cortex_core::layout::Layout>> {
                let row = match version {
                    Some(v) => sqlx::query("SELECT tree_json FROM layouts WHERE page_slug = $1 AND version = $2")
                        .bind(page_slug)
                        .bind(v as i64)
                        .fetch_optional(&self.pool()?)
                        .await?,
                    None => sqlx::query("SELECT tree_json FROM layouts WHERE page_slug = $1 ORDER BY version DESC LIMIT 1")
                        .bind(page_slug)
                        .fetch_optional(&self.pool()?)
                        .await?,
                };
                row.as_ref().map(layout_from_row).transpose()
            }

            async fn put_rule(&self, mut rule: cortex_core::mutation::LayoutMutation, deleted: bool, expect: crate::store::layouts::Head, mut audit: AuditRecord) -> StoreResult<cortex_core::rules::RuleVersion> {
                let mut tx = self.begin_write().await?;
                let before = Self::rule_head_with(&mut *tx, &rule.id).await?;
                rule.rollback_pointer = before.as_ref().map(|b| b.rule.version);
                if let Some(why) = expect.refuses(&rule.id, rule.rollback_pointer) {
                    return Err(StoreError::Conflict(why));
                }
                rule.version = before.as_ref().map_or(1, |b| b.rule.version + 1);
                let revision = Self::rule_revision_in(&mut tx).await? + 1;
                sqlx::query(
                    "INSERT INTO layout_mutations (id, version, page_slug, layer, mutation_type, is_active, deleted, rule_json, revision, created_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(rule.id.as_str())
                .bind(rule.version as i64)
                .bind(rule.page_slug.as_str())
                .bind(rule.layer.as_str())
                .bind(rule.mutation_type())
                .bind(rule.is_active)
                .bind(deleted)
                .bind(serde_json::to_string(&rule).unwrap_or_default())
                .bind(revision)
                .bind(&rule.created_by)
                .bind(ms(rule.timestamp))
                .execute(&mut *tx)
                .await?;
                let after = cortex_core::rules::RuleVersion { rule, deleted, revision: cortex_core::ids::Revision(revision as u64) };
                audit.target = format!("layout-mutation:{}", after.rule.id);
                audit.before = before.map(|b| serde_json::to_value(b).unwrap_or_default()).unwrap_or_default();
                // The new version, with what the caller said about it (a rollback's restored
                // version, a guard's evidence) beside it.
                let note = std::mem::take(&mut audit.after);
                audit.after = serde_json::to_value(&after).unwrap_or_default();
                if let (Some(o), serde_json::Value::Object(extra)) = (audit.after.as_object_mut(), note) {
                    o.extend(extra);
                }
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(after)
            }

            async fn rule_history(&self, id: &str) -> StoreResult<Vec<cortex_core::rules::RuleVersion>> {
                sqlx::query(&format!("SELECT {RULE_READ} FROM layout_mutations WHERE id = $1 ORDER BY version DESC"))
                    .bind(id)
                    .fetch_all(&self.pool()?)
                    .await?
                    .iter()
                    .map(rule_from_row)
                    .collect()
            }

            async fn rule_head(&self, id: &str) -> StoreResult<Option<cortex_core::rules::RuleVersion>> {
                Self::rule_head_with(&self.pool()?, id).await
            }

            async fn rule_heads(&self) -> StoreResult<Vec<cortex_core::rules::RuleVersion>> {
                sqlx::query(&format!(
                    "SELECT {RULE_READ} FROM layout_mutations m
                     WHERE version = (SELECT MAX(version) FROM layout_mutations n WHERE n.id = m.id)
                     ORDER BY id"
                ))
                .fetch_all(&self.pool()?)
                .await?
                .iter()
                .map(rule_from_row)
                .collect()
            }

            async fn rule_set(&self) -> StoreResult<cortex_core::rules::RuleSet> {
                let changes = self.rule_changes(cortex_core::ids::Revision::NONE).await?;
                Ok(cortex_core::rules::RuleSet {
                    revision: changes.revision,
                    layouts: changes.layouts,
                    rules: changes.rules.into_iter().filter(|r| !r.deleted).map(|r| r.rule).collect(),
                })
            }

            async fn rule_changes(&self, revision: cortex_core::ids::Revision) -> StoreResult<cortex_core::rules::RuleChanges> {
                // One read transaction, so rules, layouts and the revision agree.
                let mut tx = self.pool()?.begin().await?;
                let since = revision.get() as i64;
                let rules = sqlx::query(&format!(
                    "SELECT {RULE_READ} FROM layout_mutations m
                     WHERE version = (SELECT MAX(version) FROM layout_mutations n WHERE n.id = m.id) AND revision > $1
                     ORDER BY id"
                ))
                .bind(since)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(rule_from_row)
                .collect::<StoreResult<Vec<_>>>()?;
                let layouts = sqlx::query(
                    "SELECT tree_json FROM layouts l
                     WHERE version = (SELECT MAX(version) FROM layouts k WHERE k.page_slug = l.page_slug) AND revision > $1
                     ORDER BY page_slug",
                )
                .bind(since)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(layout_from_row)
                .collect::<StoreResult<Vec<_>>>()?;
                let now = Self::rule_revision_in(&mut tx).await?;
                tx.commit().await?;
                Ok(cortex_core::rules::RuleChanges { revision: cortex_core::ids::Revision(now as u64), rules, layouts })
            }
        }
    };
}

pub(crate) use impl_layout_store;
