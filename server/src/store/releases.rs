//! Storage of releases: each kind's described releases (never changed once written) and the
//! one it is expected to run. Same shape as the rest of the store: one trait, SQL written
//! once for both backends.

use async_trait::async_trait;
use cortex_core::audit::AuditRecord;
use cortex_core::federation::{Expectation, Release, Scope};

use super::StoreResult;

/// Most releases of one kind [`ReleaseStore::releases`] returns (its newest).
pub const RELEASES_PER_KIND: u32 = 50;

/// Releases and the expected release of each kind.
#[async_trait]
pub trait ReleaseStore: Send + Sync {
    /// Writes a new release and its audit record. `Conflict` when the kind already has a
    /// release of that version.
    async fn create_release(&self, release: &Release, audit: AuditRecord) -> StoreResult<()>;
    /// Every kind's newest releases (at most [`RELEASES_PER_KIND`] of each), newest first.
    async fn releases(&self) -> StoreResult<Vec<Release>>;
    /// One release.
    async fn release(&self, kind: &str, version: &str) -> StoreResult<Option<Release>>;
    /// Each kind's expected release (kinds without one are left out).
    async fn expected_releases(&self) -> StoreResult<Vec<Expectation>>;
    /// Makes `expectation` its kind's expected release, with its audit record (before and
    /// after filled in). The release must exist.
    async fn set_expected_release(
        &self,
        expectation: &Expectation,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    /// Whether the bundle `scope`@`revision` was ever pushed.
    async fn bundle_exists(&self, scope: &Scope, revision: u64) -> StoreResult<bool>;
}

/// Implements [`ReleaseStore`] for a backend (see `common.rs` for the conventions).
macro_rules! impl_release_store {
    ($store:ty, $row:ty) => {
        const RELEASE_COLS: &str = "kind, version, bundle_scope, bundle_revision, pre_migrations, post_migrations, schema_fingerprint, api_fingerprint, notes, created_by, created_at";

        fn release_from_row(r: &$row) -> StoreResult<cortex_core::federation::Release> {
            let scope: Option<String> = r.try_get("bundle_scope")?;
            let revision: Option<i64> = r.try_get("bundle_revision")?;
            let bundle = match (scope, revision) {
                (Some(s), Some(rev)) => Some(cortex_core::federation::BundleRef {
                    scope: s
                        .parse()
                        .map_err(|_| StoreError::Other(format!("bad scope `{s}` in database")))?,
                    revision: rev as u64,
                }),
                _ => None,
            };
            let list = |c: &str| -> StoreResult<Vec<String>> {
                Ok(serde_json::from_str(&r.try_get::<String, _>(c)?).unwrap_or_default())
            };
            Ok(cortex_core::federation::Release {
                kind: r.try_get("kind")?,
                version: r.try_get("version")?,
                bundle,
                pre_migrations: list("pre_migrations")?,
                post_migrations: list("post_migrations")?,
                fingerprints: cortex_core::federation::Fingerprints {
                    schema: r.try_get("schema_fingerprint")?,
                    api: r.try_get("api_fingerprint")?,
                },
                notes: r.try_get("notes")?,
                created_by: r.try_get("created_by")?,
                created_at: from_ms(r.try_get("created_at")?),
            })
        }

        fn expectation_from_row(r: &$row) -> StoreResult<cortex_core::federation::Expectation> {
            Ok(cortex_core::federation::Expectation {
                kind: r.try_get("kind")?,
                version: r.try_get("version")?,
                set_by: r.try_get("set_by")?,
                set_at: from_ms(r.try_get("set_at")?),
            })
        }

        #[async_trait]
        impl crate::store::releases::ReleaseStore for $store {
            async fn create_release(
                &self,
                release: &cortex_core::federation::Release,
                mut audit: AuditRecord,
            ) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(&format!(
                    "INSERT INTO releases ({RELEASE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ))
                .bind(&release.kind)
                .bind(&release.version)
                .bind(release.bundle.as_ref().map(|b| b.scope.to_string()))
                .bind(release.bundle.as_ref().map(|b| b.revision as i64))
                .bind(serde_json::to_string(&release.pre_migrations).unwrap_or_default())
                .bind(serde_json::to_string(&release.post_migrations).unwrap_or_default())
                .bind(&release.fingerprints.schema)
                .bind(&release.fingerprints.api)
                .bind(&release.notes)
                .bind(&release.created_by)
                .bind(ms(release.created_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                        StoreError::NotFound(format!("no neuron kind `{}`", release.kind))
                    }
                    _ => StoreError::from_sqlx(
                        e,
                        &format!(
                            "kind `{}` already has a release `{}`; releases do not change, describe a new version",
                            release.kind, release.version
                        ),
                    ),
                })?;
                audit.target = format!("release:{}@{}", release.kind, release.version);
                audit.after = serde_json::to_value(release).unwrap_or_default();
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn releases(&self) -> StoreResult<Vec<cortex_core::federation::Release>> {
                let rows = sqlx::query(&format!(
                    "SELECT {RELEASE_COLS} FROM (
                        SELECT {RELEASE_COLS}, ROW_NUMBER() OVER (PARTITION BY kind ORDER BY created_at DESC, version DESC) AS nth
                        FROM releases) newest
                     WHERE nth <= $1 ORDER BY created_at DESC, kind, version"
                ))
                .bind(i64::from(crate::store::releases::RELEASES_PER_KIND))
                .fetch_all(&self.pool()?)
                .await?;
                rows.iter().map(release_from_row).collect()
            }

            async fn release(
                &self,
                kind: &str,
                version: &str,
            ) -> StoreResult<Option<cortex_core::federation::Release>> {
                sqlx::query(&format!(
                    "SELECT {RELEASE_COLS} FROM releases WHERE kind = $1 AND version = $2"
                ))
                .bind(kind)
                .bind(version)
                .fetch_optional(&self.pool()?)
                .await?
                .as_ref()
                .map(release_from_row)
                .transpose()
            }

            async fn expected_releases(
                &self,
            ) -> StoreResult<Vec<cortex_core::federation::Expectation>> {
                let rows = sqlx::query(
                    "SELECT kind, version, set_by, set_at FROM expected_releases ORDER BY kind",
                )
                .fetch_all(&self.pool()?)
                .await?;
                rows.iter().map(expectation_from_row).collect()
            }

            async fn set_expected_release(
                &self,
                e: &cortex_core::federation::Expectation,
                mut audit: AuditRecord,
            ) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let before = sqlx::query(
                    "SELECT kind, version, set_by, set_at FROM expected_releases WHERE kind = $1",
                )
                .bind(&e.kind)
                .fetch_optional(&mut *tx)
                .await?
                .as_ref()
                .map(expectation_from_row)
                .transpose()?;
                sqlx::query(
                    "INSERT INTO expected_releases (kind, version, set_by, set_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (kind) DO UPDATE SET version = $2, set_by = $3, set_at = $4",
                )
                .bind(&e.kind)
                .bind(&e.version)
                .bind(&e.set_by)
                .bind(ms(e.set_at))
                .execute(&mut *tx)
                .await
                .map_err(|err| match &err {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                        StoreError::NotFound(format!(
                            "kind `{}` has no release `{}`",
                            e.kind, e.version
                        ))
                    }
                    _ => StoreError::from_sqlx(err, "expected release"),
                })?;
                audit.target = format!("neuron-kind:{}", e.kind);
                audit.before = serde_json::to_value(&before).unwrap_or_default();
                audit.after = serde_json::to_value(e).unwrap_or_default();
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn bundle_exists(
                &self,
                scope: &cortex_core::federation::Scope,
                revision: u64,
            ) -> StoreResult<bool> {
                Ok(sqlx::query("SELECT 1 AS one FROM bundles WHERE scope = $1 AND revision = $2")
                    .bind(scope.to_string())
                    .bind(revision as i64)
                    .fetch_optional(&self.pool()?)
                    .await?
                    .is_some())
            }
        }
    };
}
pub(crate) use impl_release_store;
