//! Changes to rules and layouts: each is checked, stored as a new version (audited), loaded,
//! and pushed to every neuron; rollback, activation, deletion and import go the same way.

use chrono::Utc;
use cortex_core::audit::AuditRecord;
use cortex_core::layout::Layout;
use cortex_core::mutation::LayoutMutation;
use cortex_core::rules::{RuleSet, RuleVersion};
use cortex_core::user::Principal;
use cortex_core::{ErrorCode, Role};

use super::{bad_rule, check_against_layouts, no_rule, Mutations};
use crate::auth::require_role;
use crate::error::ApiError;
use crate::store::layouts::Head;

impl Mutations {
    /// Saves a rule as an editor sends it (JSON): who and when are stamped (the editor need
    /// not send them), and it is on unless it says otherwise. See [`Mutations::save_rule`].
    pub async fn save_rule_json(
        &self,
        mut value: serde_json::Value,
        expect: Head,
        who: &Principal,
    ) -> Result<RuleVersion, ApiError> {
        require_role(who, Role::Editor)?;
        if let Some(o) = value.as_object_mut() {
            o.entry("createdBy").or_insert(who.actor.as_str().into());
            o.entry("timestamp")
                .or_insert(serde_json::to_value(Utc::now()).unwrap_or_default());
            o.entry("isActive").or_insert(true.into());
        }
        let rule: LayoutMutation = serde_json::from_value(value)
            .map_err(|e| ApiError::bad_request(format!("rule: {e}")))?;
        self.save_rule(rule, expect, who).await
    }

    /// A new rule (JSON, as [`Mutations::save_rule_json`] takes it): its id must be free.
    pub async fn create_rule(
        &self,
        value: serde_json::Value,
        who: &Principal,
    ) -> Result<RuleVersion, ApiError> {
        require_role(who, Role::Editor)?;
        let id = value["id"].as_str().unwrap_or_default().trim().to_string();
        if self.store.rule_head(&id).await?.is_some() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("id: a rule `{id}` exists; open it to edit it"),
            ));
        }
        self.save_rule_json(value, Head::Absent, who).await
    }

    /// A new version of rule `id` edited from version `base`: refused if the rule changed
    /// since (409 says by whom), before `edited` makes the rule (JSON, or why it cannot: a
    /// 400); it keeps its on/off state.
    pub async fn update_rule(
        &self,
        id: &str,
        base: u32,
        who: &Principal,
        edited: impl FnOnce() -> Result<serde_json::Value, String>,
    ) -> Result<RuleVersion, ApiError> {
        require_role(who, Role::Editor)?;
        let head = self
            .store
            .rule_head(id)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no rule `{id}`")))?;
        if head.rule.version != base {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "base_version: `{id}` changed since this form was filled (version {base}; it is now version {} by {}); reload it and edit again",
                    head.rule.version, head.rule.created_by
                ),
            ));
        }
        let mut value = edited().map_err(ApiError::bad_request)?;
        value["isActive"] = head.rule.is_active.into();
        self.save_rule_json(value, Head::Version(base), who).await
    }

    /// Validates a rule (fields, conditions, payload, targets in the page's layout) and
    /// stores it as its next version, if its newest version is still what `expect` says.
    pub async fn save_rule(
        &self,
        mut rule: LayoutMutation,
        expect: Head,
        who: &Principal,
    ) -> Result<RuleVersion, ApiError> {
        require_role(who, Role::Editor)?;
        let actor = who.actor.as_str();
        rule.validate().map_err(bad_rule)?;
        // What decisions wrote stays theirs (the write below checks the head is still this).
        if let Some(x) = rule.experiment.as_mut() {
            let head = self.store.rule_head(rule.id.as_str()).await?;
            let before = head.as_ref().and_then(|h| h.rule.experiment.as_ref());
            x.keep_decisions_of(before).map_err(bad_rule)?;
            rule.validate().map_err(bad_rule)?;
        }
        let size = serde_json::to_vec(&rule).map(|b| b.len()).unwrap_or(0);
        if size > cortex_core::rules::MAX_RULE_BYTES {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "rule is {size} bytes as JSON; at most {}",
                    cortex_core::rules::MAX_RULE_BYTES
                ),
            ));
        }
        check_against_layouts(&rule, &self.current().layouts).map_err(bad_rule)?;
        self.check_namespace(&rule)?;
        self.write(
            rule,
            false,
            expect,
            AuditRecord::new(actor, "layout-mutation.save", String::new()),
        )
        .await
    }

    /// [`Mutations::write`] of the version after `read`, the newest the caller read: if
    /// another write came in between, nothing is written (409), so it is never undone.
    pub(super) async fn write_over(
        &self,
        read: &RuleVersion,
        rule: LayoutMutation,
        deleted: bool,
        audit: AuditRecord,
    ) -> Result<RuleVersion, ApiError> {
        let expect = Head::Version(read.rule.version);
        self.write(rule, deleted, expect, audit).await
    }

    /// Stores `rule` as its next version, saved by the audit record's actor now.
    pub(super) async fn put_version(
        &self,
        mut rule: LayoutMutation,
        deleted: bool,
        expect: Head,
        audit: AuditRecord,
    ) -> Result<RuleVersion, ApiError> {
        rule.created_by = audit.actor.clone();
        rule.timestamp = Utc::now();
        Ok(self.store.put_rule(rule, deleted, expect, audit).await?)
    }

    /// [`Mutations::put_version`], then load and push the new rule set.
    pub(super) async fn write(
        &self,
        rule: LayoutMutation,
        deleted: bool,
        expect: Head,
        audit: AuditRecord,
    ) -> Result<RuleVersion, ApiError> {
        let saved = self.put_version(rule, deleted, expect, audit).await?;
        self.changed().await;
        Ok(saved)
    }

    /// 400 when `rule` would share visitors with another active experiment of its namespace.
    fn check_namespace(&self, rule: &LayoutMutation) -> Result<(), ApiError> {
        rule.check_namespace(&self.current().set.rules)
            .map_err(bad_rule)
    }

    /// The newest version of a rule; 404 when there is none.
    async fn head(&self, id: &str) -> Result<RuleVersion, ApiError> {
        self.store.rule_head(id).await?.ok_or_else(|| no_rule(id))
    }

    /// Writes a new version of a rule from an older one (its content, as it was), audited as
    /// `layout-mutation.rollback`. `to`: the version to restore; none: the one the current
    /// version replaced (its `rollbackPointer`).
    pub async fn rollback_rule(
        &self,
        id: &str,
        to: Option<u32>,
        who: &Principal,
    ) -> Result<RuleVersion, ApiError> {
        require_role(who, Role::Editor)?;
        let actor = who.actor.as_str();
        let history = self.store.rule_history(id).await?;
        let current = history.first().ok_or_else(|| no_rule(id))?;
        let target = to.or(current.rule.rollback_pointer).ok_or_else(|| {
            ApiError::bad_request(format!(
                "rule `{id}` has only one version: nothing to roll back to"
            ))
        })?;
        let old = history
            .iter()
            .find(|v| v.rule.version == target)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("rule `{id}` has no version {target}"),
                )
            })?;
        if !old.deleted {
            self.check_namespace(&old.rule)?;
        }
        let mut audit = AuditRecord::new(actor, "layout-mutation.rollback", String::new());
        audit.after = serde_json::json!({"restoredVersion": target});
        self.write_over(current, old.rule.clone(), old.deleted, audit)
            .await
    }

    /// Switches a rule on or off (a new version). Switching on checks the rule against its
    /// page's layout (400 naming the node it lacks).
    pub async fn set_active(
        &self,
        id: &str,
        active: bool,
        who: &Principal,
    ) -> Result<RuleVersion, ApiError> {
        require_role(who, Role::Editor)?;
        let actor = who.actor.as_str();
        let head = self.head(id).await?;
        if head.deleted {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("rule `{id}` is deleted; restore it first"),
            ));
        }
        let mut rule = head.rule.clone();
        rule.is_active = active;
        // A rule switched on must name nodes its page has (one left off by the migration
        // check is re-linked first, on its page or with the JSON editor).
        if active {
            check_against_layouts(&rule, &self.current().layouts).map_err(bad_rule)?;
        }
        self.check_namespace(&rule)?;
        let action = if active {
            "layout-mutation.activate"
        } else {
            "layout-mutation.deactivate"
        };
        let audit = AuditRecord::new(actor, action, String::new());
        self.write_over(&head, rule, false, audit).await
    }

    /// Deletes a rule (a version that removes it) or restores a deleted one (a version that
    /// brings back its last content).
    pub async fn set_deleted(
        &self,
        id: &str,
        deleted: bool,
        who: &Principal,
    ) -> Result<RuleVersion, ApiError> {
        require_role(who, Role::Editor)?;
        let actor = who.actor.as_str();
        let head = self.head(id).await?;
        if head.deleted == deleted {
            let state = if deleted {
                "already deleted"
            } else {
                "not deleted"
            };
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("rule `{id}` is {state}"),
            ));
        }
        let rule = head.rule.clone();
        if !deleted {
            check_against_layouts(&rule, &self.current().layouts).map_err(bad_rule)?;
            self.check_namespace(&rule)?;
        }
        let action = if deleted {
            "layout-mutation.delete"
        } else {
            "layout-mutation.restore"
        };
        let audit = AuditRecord::new(actor, action, String::new());
        self.write_over(&head, rule, deleted, audit).await
    }

    /// Stores a new version of a page's base layout.
    pub async fn save_layout(&self, layout: Layout, who: &Principal) -> Result<Layout, ApiError> {
        require_role(who, Role::Editor)?;
        let actor = who.actor.as_str();
        layout
            .validate()
            .map_err(|e| ApiError::bad_request(format!("root: {e}")))?;
        let page = layout.page_slug.as_str().to_string();
        // A switch (mutations on or off for a node) changes no node: nothing to undo whole,
        // and a backup would push out the ones of real layout changes.
        let backup = match self.store.layout(&page, None).await? {
            Some(now) if same_nodes(&now.root, &layout.root) => None,
            _ => self.backup_of(&page, "save", actor).await?,
        };
        let saved = self
            .store
            .put_layout(
                layout,
                backup.as_ref(),
                AuditRecord::new(actor, "layout.save", String::new()),
            )
            .await?;
        // The layout is saved whatever the check finds; what it cannot re-link waits on the
        // migration check page.
        if let Err(e) = self.heal_page(&page).await {
            tracing::warn!(error = %e.message, page, "layout migration check failed");
        }
        self.changed().await;
        Ok(saved)
    }

    /// Imports a rule set exported by another hub: every layout and rule is checked first
    /// (errors name the item and field), then each is stored as a new version here (audited
    /// as `layout.save` and `layout-mutation.import`), and the result is pushed once.
    /// `progress(stored, total)` is called after each item is stored.
    pub async fn import(
        &self,
        set: RuleSet,
        who: &Principal,
        progress: impl Fn(usize, usize),
    ) -> Result<cortex_core::rules::SyncAnswer, ApiError> {
        self.import_as(set, who, "import", progress).await
    }

    /// [`Mutations::import`], the layouts it replaces backed up with `why` as their reason.
    pub(super) async fn import_as(
        &self,
        set: RuleSet,
        who: &Principal,
        why: &str,
        progress: impl Fn(usize, usize),
    ) -> Result<cortex_core::rules::SyncAnswer, ApiError> {
        require_role(who, Role::Editor)?;
        let actor = who.actor.as_str();
        let bad = |m: String| ApiError::bad_request(m);
        let mut layouts = self.current().layouts.clone();
        for (i, l) in set.layouts.iter().enumerate() {
            l.validate()
                .map_err(|e| bad(format!("import.layouts[{i}]: {e}")))?;
            layouts.insert(l.page_slug.clone(), l.clone());
        }
        // Namespaces stay exclusive in the set the import leaves: the rules here it does not
        // replace, and the imported ones.
        let current = self.current();
        let replaced: std::collections::HashSet<&str> =
            set.rules.iter().map(|r| r.id.as_str()).collect();
        for (i, r) in set.rules.iter().enumerate() {
            let others = current
                .set
                .rules
                .iter()
                .filter(|o| !replaced.contains(o.id.as_str()))
                .chain(set.rules.iter());
            r.validate()
                .and_then(|()| check_against_layouts(r, &layouts))
                .and_then(|()| r.check_namespace(others))
                .map_err(|e| bad(format!("import.rules[{i}] (`{}`).{e}", r.id)))?;
        }
        let (n_layouts, n_rules) = (set.layouts.len(), set.rules.len());
        let total = n_layouts + n_rules;
        let mut pages = Vec::with_capacity(n_layouts);
        for (i, l) in set.layouts.into_iter().enumerate() {
            let page = l.page_slug.as_str().to_string();
            let backup = self.backup_of(&page, why, actor).await?;
            self.store
                .put_layout(
                    l,
                    backup.as_ref(),
                    AuditRecord::new(actor, "layout.save", String::new()),
                )
                .await?;
            pages.push(page);
            progress(i + 1, total);
        }
        for (i, r) in set.rules.into_iter().enumerate() {
            self.put_version(
                r,
                false,
                Head::Any,
                AuditRecord::new(actor, "layout-mutation.import", String::new()),
            )
            .await?;
            progress(n_layouts + i + 1, total);
        }
        // Imported rules may name nodes of an older layout: checked after the rules are in.
        pages.sort();
        pages.dedup();
        let mut healed = super::migration::Healed::default();
        for page in &pages {
            match self.heal_page(page).await {
                Ok(h) => healed.add(h),
                Err(e) => tracing::warn!(error = %e.message, page, "layout migration check failed"),
            }
        }
        self.changed().await;
        Ok(cortex_core::rules::SyncAnswer::Imported {
            revision: self.current().set.revision,
            layouts: n_layouts,
            rules: n_rules,
            relinked: healed.relinked.len(),
            waiting: healed.waiting,
        })
    }

    /// After a change: load it, and push the rule set to every neuron (global scope).
    pub(super) async fn changed(&self) {
        if let Err(e) = self.reload().await {
            tracing::warn!(error = %e, "could not reload layout rules after a change");
            return;
        }
        let Some(fed) = &self.federation else { return };
        let set = &self.current().set;
        let body = serde_json::to_value(set).unwrap_or_default();
        if let Err(e) = fed
            .store_and_send(
                &cortex_core::federation::Scope::Global,
                cortex_core::federation::BundleKind::LayoutRules,
                &body,
                &cortex_core::federation::Audience::default(),
                "hub",
            )
            .await
        {
            tracing::warn!(error = %e, revision = %set.revision, "could not push the layout rule set; neurons will get it on sync");
        }
    }
}

/// Whether two layout trees have the same nodes (ids, types, props, order), whatever is
/// switched off in them.
fn same_nodes(a: &cortex_core::layout::Node, b: &cortex_core::layout::Node) -> bool {
    a.id == b.id
        && a.kind == b.kind
        && a.props == b.props
        && a.hidden == b.hidden
        && a.children.len() == b.children.len()
        && a.children
            .iter()
            .zip(&b.children)
            .all(|(x, y)| same_nodes(x, y))
}
