//! Layout migrations: when a page's base layout changes (saved, imported, or brought back by
//! a restore), its rules may name nodes that are gone. The checker finds them
//! (`cortex_core::layout::migrate`), re-links by itself what is unambiguous (a new rule
//! version by `hub`, audited as an automatic `layout-mutation.relink`, undone like any
//! version) and leaves the rest for an editor: accept the proposal, choose another node, or
//! switch the rule off. Before a layout is replaced, the page's layout and rules are backed
//! up (export format) in the same transaction, so the change can be undone whole.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use cortex_core::audit::AuditRecord;
use cortex_core::layout::migrate::{
    broken_since, relinked, BrokenReference, LayoutBackup, PageCheck, KEPT_BACKUPS,
    LOOKBACK_VERSIONS,
};
use cortex_core::layout::{Layout, NodeId};
use cortex_core::mutation::LayoutMutation;
use cortex_core::rules::{RuleSet, RuleVersion};
use cortex_core::user::Principal;
use cortex_core::{ErrorCode, Role};

use super::Mutations;
use crate::auth::require_role;
use crate::error::ApiError;
use crate::store::layouts::Head;

/// Who makes the automatic re-links in the audit log.
const HUB: &str = "hub";

/// What a check of one page did by itself, and what it left.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Healed {
    /// Rules re-linked by themselves (new versions), by id.
    pub relinked: Vec<String>,
    /// Broken references waiting for an editor.
    pub waiting: usize,
}

impl Healed {
    pub(super) fn add(&mut self, other: Healed) {
        self.relinked.extend(other.relinked);
        self.waiting += other.waiting;
    }
}

impl Mutations {
    /// The page's rules now (not deleted; `active`: only those switched on), read from the
    /// database.
    async fn rules_of(&self, page: &str, active: bool) -> Result<Vec<LayoutMutation>, ApiError> {
        Ok(self
            .store
            .rule_heads()
            .await?
            .into_iter()
            .filter(|v| {
                !v.deleted && v.rule.page_slug.as_str() == page && (v.rule.is_active || !active)
            })
            .map(|v| v.rule)
            .collect())
    }

    /// A backup of `page` as it is now (its newest layout and rules), if it has a layout.
    pub(super) async fn backup_of(
        &self,
        page: &str,
        reason: &str,
        actor: &str,
    ) -> Result<Option<LayoutBackup>, ApiError> {
        let Some(layout) = self.store.layout(page, None).await? else {
            return Ok(None);
        };
        let rules = self.rules_of(page, false).await?;
        Ok(Some(LayoutBackup {
            id: uuid::Uuid::new_v4().simple().to_string(),
            page_slug: page.to_string(),
            layout_version: layout.version,
            rules: rules.len().min(u32::MAX as usize) as u32,
            reason: reason.to_string(),
            created_by: actor.to_string(),
            created_at: crate::store::ms_precision(Utc::now()),
            set: Some(RuleSet {
                revision: self.current().set.revision,
                layouts: vec![layout],
                rules,
            }),
        }))
    }

    /// One page's rules switched on against its newest layout (a rule switched off waits for
    /// nothing), each missing node looked up in the earlier versions (the newest
    /// [`LOOKBACK_VERSIONS`], read only when something is missing).
    async fn check_page(&self, page: &str) -> Result<PageCheck, ApiError> {
        let rules = self.rules_of(page, true).await?;
        self.check_rules(page, rules).await
    }

    async fn check_rules(
        &self,
        page: &str,
        rules: Vec<LayoutMutation>,
    ) -> Result<PageCheck, ApiError> {
        let newest = self.store.layout(page, None).await?.ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("page: no page `{page}` has a base layout"),
            )
        })?;
        let mut broken = broken_since(&newest, &[], &rules);
        if !broken.is_empty() {
            let older: Vec<Layout> = self
                .store
                .layout_versions(page, LOOKBACK_VERSIONS + 1)
                .await?
                .into_iter()
                .filter(|l| l.version < newest.version)
                .collect();
            broken = broken_since(&newest, &older, &rules);
        }
        Ok(PageCheck {
            page_slug: page.to_string(),
            layout_version: newest.version,
            rules: rules.len(),
            broken,
        })
    }

    /// Every page with a base layout, checked. Viewer.
    pub async fn migration_check(&self, who: &Principal) -> Result<Vec<PageCheck>, ApiError> {
        require_role(who, Role::Viewer)?;
        self.check_all().await
    }

    /// Every page checked, for the command line (no role: it holds the database). The rules
    /// are read once for all pages.
    pub async fn check_all(&self) -> Result<Vec<PageCheck>, ApiError> {
        let mut pages: Vec<String> = self
            .current()
            .layouts
            .keys()
            .map(|p| p.as_str().to_string())
            .collect();
        pages.sort();
        let mut by_page: HashMap<String, Vec<LayoutMutation>> = HashMap::new();
        for v in self.store.rule_heads().await? {
            if !v.deleted && v.rule.is_active {
                by_page
                    .entry(v.rule.page_slug.as_str().to_string())
                    .or_default()
                    .push(v.rule);
            }
        }
        let mut out = Vec::with_capacity(pages.len());
        for page in pages {
            let rules = by_page.remove(&page).unwrap_or_default();
            out.push(self.check_rules(&page, rules).await?);
        }
        Ok(out)
    }

    /// Checks `page` and re-links, as `hub`, every rule whose broken references all have an
    /// unambiguous proposal (audited as `layout-mutation.relink`, `automatic: true`). The
    /// rule set is not pushed here: the caller pushes once.
    pub(super) async fn heal_page(&self, page: &str) -> Result<Healed, ApiError> {
        let check = self.check_page(page).await?;
        let mut by_rule: BTreeMap<&str, Vec<&BrokenReference>> = BTreeMap::new();
        for b in &check.broken {
            by_rule.entry(b.rule_id.as_str()).or_default().push(b);
        }
        let mut healed = Healed::default();
        for (id, broken) in by_rule {
            if !broken.iter().all(|b| b.unambiguous && b.proposal.is_some()) {
                healed.waiting += broken.len();
                continue;
            }
            // Deleted meanwhile: nothing to heal (a write over it would bring it back).
            let Some(head) = self.store.rule_head(id).await?.filter(|h| !h.deleted) else {
                continue;
            };
            let relinks: Vec<(NodeId, NodeId, &str, &str)> = broken
                .iter()
                .filter_map(|b| {
                    b.proposal
                        .clone()
                        .map(|to| (b.missing.clone(), to, b.field.as_str(), b.reason.as_str()))
                })
                .collect();
            let mut rule = head.rule.clone();
            for (from, to, _, _) in &relinks {
                rule = relinked(&rule, from, to);
            }
            if rule.validate().is_err() {
                healed.waiting += broken.len();
                continue;
            }
            let mut audit = AuditRecord::new(HUB, "layout-mutation.relink", String::new());
            audit.after = serde_json::json!({
                "automatic": true,
                "layoutVersion": check.layout_version,
                "relinks": relinks.iter().map(|(from, to, field, reason)| serde_json::json!({
                    "field": field, "from": from, "to": to, "reason": reason,
                })).collect::<Vec<_>>(),
            });
            // An editor's write in between wins: the next check looks again.
            match self
                .put_version(rule, false, Head::Version(head.rule.version), audit)
                .await
            {
                Ok(_) => healed.relinked.push(id.to_string()),
                Err(e) if e.code == ErrorCode::Conflict => healed.waiting += broken.len(),
                Err(e) => return Err(e),
            }
        }
        if !healed.relinked.is_empty() || healed.waiting > 0 {
            tracing::info!(
                page,
                relinked = healed.relinked.len(),
                waiting = healed.waiting,
                "layout migration check"
            );
        }
        Ok(healed)
    }

    /// Heals every page (at start: a restore or copy-to may bring a database whose rules and
    /// layouts disagree), then pushes once if anything changed. Reads the pages from the rule
    /// set just loaded.
    pub async fn heal_all(&self) -> Result<Healed, ApiError> {
        let mut pages: Vec<String> = self
            .current()
            .layouts
            .keys()
            .map(|p| p.as_str().to_string())
            .collect();
        pages.sort();
        self.heal_pages(&pages).await
    }

    pub(super) async fn heal_pages(&self, pages: &[String]) -> Result<Healed, ApiError> {
        let mut healed = Healed::default();
        for page in pages {
            healed.add(self.heal_page(page).await?);
        }
        if !healed.relinked.is_empty() {
            self.changed().await;
        }
        Ok(healed)
    }

    /// An editor's answer to one broken reference of a rule: re-link it to node `to` of the
    /// page's newest layout (audited as `layout-mutation.relink`, `automatic: false`), or,
    /// with no `to`, switch the rule off. 404 for an unknown rule; 400 when the rule does not
    /// name `missing`, `missing` is not missing, or `to` is not in the layout. Editor.
    pub async fn resolve_migration(
        &self,
        rule_id: &str,
        missing: &str,
        to: Option<&str>,
        who: &Principal,
    ) -> Result<RuleVersion, ApiError> {
        require_role(who, Role::Editor)?;
        let head = self
            .store
            .rule_head(rule_id)
            .await?
            .filter(|h| !h.deleted)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no rule `{rule_id}`")))?;
        let page = head.rule.page_slug.as_str().to_string();
        let check = self.check_page(&page).await?;
        let broken: Vec<&BrokenReference> = check
            .broken
            .iter()
            .filter(|b| b.rule_id == rule_id && b.missing.as_str() == missing)
            .collect();
        let Some(first) = broken.first() else {
            return Err(ApiError::bad_request(format!(
                "missing: rule `{rule_id}` names no node `{missing}` that is gone from page `{page}` (version {})",
                check.layout_version
            )));
        };
        let Some(to) = to else {
            return self.set_active(rule_id, false, who).await;
        };
        let layout =
            self.store.layout(&page, None).await?.ok_or_else(|| {
                ApiError::new(ErrorCode::NotFound, format!("page: no page `{page}`"))
            })?;
        let to = NodeId::new(to.trim());
        if layout.root.find(&to).is_none() {
            return Err(ApiError::bad_request(format!(
                "to: page `{page}` (version {}) has no node `{to}`",
                layout.version
            )));
        }
        let from = NodeId::new(missing);
        let rule = relinked(&head.rule, &from, &to);
        rule.validate().map_err(super::bad_rule)?;
        let mut audit = AuditRecord::new(&who.actor, "layout-mutation.relink", String::new());
        audit.after = serde_json::json!({
            "automatic": false,
            "layoutVersion": check.layout_version,
            "relinks": [{"field": first.field, "from": from, "to": to, "proposal": first.proposal}],
        });
        self.write_over(&head, rule, false, audit).await
    }

    /// Backups, newest first (of one page, or all): at most [`KEPT_BACKUPS`] per page.
    /// Viewer.
    pub async fn layout_backups(
        &self,
        page: Option<&str>,
        who: &Principal,
    ) -> Result<Vec<LayoutBackup>, ApiError> {
        require_role(who, Role::Viewer)?;
        Ok(self
            .store
            .layout_backups(page, (KEPT_BACKUPS * 10) as u32)
            .await?)
    }

    /// One backup with its content (the export format). Viewer.
    pub async fn layout_backup(&self, id: &str, who: &Principal) -> Result<LayoutBackup, ApiError> {
        require_role(who, Role::Viewer)?;
        self.store
            .layout_backup(id)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no layout backup `{id}`")))
    }

    /// Undoes a layout change whole: the backup's layout and rules are imported as new
    /// versions (checked first, as any import; the layout it replaces is backed up in turn).
    /// Audited as `layout.restore-backup` beside the import's own records. Editor.
    pub async fn restore_layout_backup(
        &self,
        id: &str,
        who: &Principal,
    ) -> Result<cortex_core::rules::SyncAnswer, ApiError> {
        require_role(who, Role::Editor)?;
        let backup = self.layout_backup(id, who).await?;
        let set = backup.set.clone().unwrap_or_default();
        let answer = self.import_as(set, who, "restore", |_, _| {}).await?;
        let mut audit = AuditRecord::new(
            &who.actor,
            "layout.restore-backup",
            format!("layout:{}", backup.page_slug),
        );
        audit.after = serde_json::json!({"backup": backup.id, "layoutVersion": backup.layout_version, "rules": backup.rules});
        self.store.append_audit(audit).await?;
        Ok(answer)
    }
}
