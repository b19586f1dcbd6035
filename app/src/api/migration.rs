//! Layout migrations: the check of every page's rules against its newest base layout (what
//! the hub re-linked by itself is in the audit log; what waits is answered here), and the
//! backups written before a base layout is replaced.

use crate::error::AppError;
use cortex_core::layout::migrate::{LayoutBackup, PageCheck};
use leptos::prelude::*;

/// Every page's rules checked against its newest base layout: each reference to a node the
/// layout lacks, with the proposed re-link and why, whether it is unambiguous, and the nodes
/// of the same type to choose from. Viewer.
#[server(name = MigrationCheckFn, prefix = "/api", endpoint = "layout-mutation/migration-check", input = leptos::server_fn::codec::GetUrl)]
pub async fn migration_check() -> Result<Vec<PageCheck>, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    Ok(services.mutations.migration_check(&who).await?)
}

/// Answers one broken reference of a rule: `to` a node of the page's newest layout (a new
/// rule version, audited as `layout-mutation.relink`), or empty `to` to switch the rule off
/// (audited as `layout-mutation.deactivate`). Editor.
#[server(name = ResolveMigration, prefix = "/api", endpoint = "layout-mutation/migration-check/resolve")]
pub async fn resolve_migration(
    rule: Option<String>,
    missing: Option<String>,
    #[server(default)] to: Option<String>,
) -> Result<cortex_core::rules::RuleVersion, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Editor)?;
    super::guard::require_writable(&services)?;
    let bad = |m: &str| AppError::new(cortex_core::ErrorCode::BadRequest, m.to_string());
    let rule = rule
        .filter(|r| cortex_core::mutation::is_rule_id(r.trim()))
        .ok_or_else(|| bad("rule: a rule id (1-100 letters, digits, - or _)"))?;
    let missing = missing
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty() && m.len() <= 200)
        .ok_or_else(|| bad("missing: the id of the node the rule names (1-200 characters)"))?;
    let to = to.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    if to.as_ref().is_some_and(|t| t.len() > 200) {
        return Err(bad("to: a node id of at most 200 characters"));
    }
    Ok(services
        .mutations
        .resolve_migration(rule.trim(), &missing, to.as_deref(), &who)
        .await?)
}

/// Backups written before a base layout was replaced, newest first (of one page, or all;
/// the newest 20 of each page are kept), without their content. Viewer.
#[server(name = LayoutBackupsFn, prefix = "/api", endpoint = "layout-mutation/backups", input = leptos::server_fn::codec::GetUrl)]
pub async fn layout_backups(
    #[server(default)] page: Option<String>,
) -> Result<Vec<LayoutBackup>, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    let page = page.map(|p| p.trim().to_string()).filter(|p| !p.is_empty());
    Ok(services
        .mutations
        .layout_backups(page.as_deref(), &who)
        .await?)
}

/// One backup with its content: a rule set in the export format (`cortex import` reads it).
/// Viewer.
#[server(name = LayoutBackupFn, prefix = "/api", endpoint = "layout-mutation/backup", input = leptos::server_fn::codec::GetUrl)]
pub async fn layout_backup(id: Option<String>) -> Result<LayoutBackup, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    let id = backup_id(id)?;
    Ok(services.mutations.layout_backup(&id, &who).await?)
}

/// Undoes a base layout change whole: the backup's layout and rules are imported as new
/// versions (audited as `layout.restore-backup` beside the import's records). Editor.
#[server(name = RestoreLayoutBackup, prefix = "/api", endpoint = "layout-mutation/backups/restore")]
pub async fn restore_layout_backup(
    id: Option<String>,
) -> Result<cortex_core::rules::SyncAnswer, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Editor)?;
    super::guard::require_writable(&services)?;
    let id = backup_id(id)?;
    Ok(services.mutations.restore_layout_backup(&id, &who).await?)
}

#[cfg(feature = "ssr")]
fn backup_id(id: Option<String>) -> Result<String, AppError> {
    super::review::required_id(id, "a layout backup id")
}
