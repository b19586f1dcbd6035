//! The mutation service: keeps the rule set in force compiled in memory (and in an
//! atomically written snapshot file, so pages render while the database is away), resolves
//! pages for visitors, and validates, versions, rolls back and pushes rules.
//!
//! A page never fails because of a rule: a broken rule is skipped with a warning, and if
//! resolution fails for any reason the base layout is served.

mod cache;
pub mod demo;
pub mod http;
pub mod in_page;
pub mod receipts;

use chrono::{DateTime, Utc};
use cortex_core::audit::AuditRecord;
use cortex_core::context::Context;
use cortex_core::layout::Layout;
use cortex_core::mutation::{LayoutMutation, RuleError};
use cortex_core::resolve::{Plan, Visit};
use cortex_core::rules::{Applied, ApplyRequest, RuleSet, RuleVersion};
use cortex_core::targeting::SavedGroups;
use cortex_core::user::Principal;
use cortex_core::{ErrorCode, Role};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::auth::require_role;
use crate::db_health::DbHealth;
use crate::error::ApiError;
use crate::store::layouts::Head;
use crate::store::DynStore;
use cache::ByDecision;

/// How often a hub looks for rule changes made elsewhere (another hub, the CLI).
const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The rule set in force, compiled.
pub struct InForce {
    pub set: RuleSet,
    plan: Plan,
    layouts: HashMap<String, Layout>,
    /// Rules that cannot work against their page's layout, and why (skipped at runtime,
    /// flagged in the list).
    pub broken: HashMap<String, String>,
    /// `apply` answers for the newest layouts, serialised once.
    answers: ByDecision<axum::body::Bytes>,
    /// Pages this hub renders, as far as they are the same for every visitor whose rules
    /// decide alike (see [`in_page`]).
    pages: ByDecision<Arc<in_page::Shared>>,
    /// What those pages send the browser, by the rules sent (shared by visitors whose
    /// variants differ).
    deferred: ByDecision<Arc<in_page::SharedDeferred>>,
}

impl InForce {
    fn new(set: RuleSet) -> Self {
        let layouts: HashMap<String, Layout> = set
            .layouts
            .iter()
            .map(|l| (l.page_slug.clone(), l.clone()))
            .collect();
        let broken: HashMap<String, String> = set
            .rules
            .iter()
            .filter_map(|r| {
                check_against_layouts(r, &layouts)
                    .err()
                    .map(|e| (r.id.clone(), e.to_string()))
            })
            .collect();
        let runnable = set
            .rules
            .iter()
            .filter(|r| !broken.contains_key(&r.id))
            .cloned()
            .collect();
        Self {
            plan: Plan::compile(runnable),
            layouts,
            broken,
            set,
            answers: ByDecision::default(),
            pages: ByDecision::default(),
            deferred: ByDecision::default(),
        }
    }

    /// The newest base layout of a page.
    pub fn layout(&self, page_slug: &str) -> Option<&Layout> {
        self.layouts.get(page_slug)
    }
}

/// Checks a rule against the base layouts: its page exists (unless it is global) and every
/// node it names exists in that page's layout.
pub fn check_against_layouts(
    rule: &LayoutMutation,
    layouts: &HashMap<String, Layout>,
) -> Result<(), RuleError> {
    use cortex_core::mutation::Layer;
    let err = |field: &str, message: String| RuleError {
        field: field.into(),
        message,
    };
    let Some(layout) = layouts.get(&rule.page_slug) else {
        if rule.layer == Layer::Global {
            return Ok(());
        }
        return Err(err(
            "pageSlug",
            format!("no page `{}` has a base layout", rule.page_slug),
        ));
    };
    if let Some(m) = &rule.module_id {
        if layout.root.find(&m.as_str().into()).is_none() {
            return Err(err(
                "moduleId",
                format!(
                    "node `{m}` is not in the layout of page `{}`",
                    rule.page_slug
                ),
            ));
        }
    }
    let missing =
        cortex_core::layout::migrate::broken_references(layout, layout, std::slice::from_ref(rule));
    if let Some(b) = missing.first() {
        return Err(err(
            &format!("mutationPayload.{}", b.field),
            format!(
                "node `{}` is not in the layout of page `{}` (version {})",
                b.missing, rule.page_slug, layout.version
            ),
        ));
    }
    Ok(())
}

/// A new anonymous visitor id.
pub fn new_visitor_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The pairs of a query string (`a=1&b=2`, with or without the `?`).
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The mutation service. Cheap to clone.
#[derive(Clone)]
pub struct Mutations {
    store: DynStore,
    loaded: Arc<RwLock<Arc<InForce>>>,
    snapshot: Option<PathBuf>,
    federation: Option<crate::federation::Federation>,
    /// One reload at a time (the loader's tick and a change's own reload): an older set is
    /// never installed over a newer one. It holds the revision last found missing from the
    /// database (said once, not every second).
    reloading: Arc<tokio::sync::Mutex<u64>>,
}

/// 404 for a rule id with no version.
fn no_rule(id: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no rule with id `{id}`"))
}

fn bad_rule(e: RuleError) -> ApiError {
    ApiError::bad_request(e.to_string())
}

impl Mutations {
    /// A service over `store`; `snapshot` is the last-known-good file (none: memory only);
    /// `federation` pushes every rule-set change to the neurons.
    pub fn new(
        store: DynStore,
        snapshot: Option<PathBuf>,
        federation: Option<crate::federation::Federation>,
    ) -> Self {
        let this = Self {
            store,
            loaded: Arc::new(RwLock::new(Arc::new(InForce::new(RuleSet::default())))),
            snapshot,
            federation,
            reloading: Arc::default(),
        };
        this.load_snapshot();
        this
    }

    /// The rule set in force.
    pub fn current(&self) -> Arc<InForce> {
        self.loaded
            .read()
            .map(|l| l.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn install(&self, set: RuleSet) {
        let loaded = Arc::new(InForce::new(set));
        match self.loaded.write() {
            Ok(mut l) => *l = loaded,
            Err(p) => *p.into_inner() = loaded,
        }
    }

    /// Reads the last-known-good snapshot, if there is one.
    fn load_snapshot(&self) {
        let Some(path) = &self.snapshot else { return };
        match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<RuleSet>(&bytes) {
                Ok(set) => {
                    tracing::info!(
                        revision = set.revision,
                        "layout rules loaded from the snapshot"
                    );
                    self.install(set);
                }
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "layout snapshot unreadable; ignored")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, "layout snapshot unreadable; ignored"),
        }
    }

    /// Loads the rule set from the database if it changed; writes the snapshot. Returns the
    /// revision in force.
    pub async fn reload(&self) -> Result<u64, ApiError> {
        let mut missing = self.reloading.lock().await;
        let current = self.current();
        let held = current.set.revision;
        let changes = self.store.rule_changes(held).await?;
        if changes.revision == held {
            return Ok(held);
        }
        if changes.revision == 0 {
            // Revisions only grow, so a database at 0 under a hub that held a later one was
            // replaced: keep serving the rule set held, and have the health watch check now
            // (it restores the whole control state, rules included, into the new database).
            if *missing != held {
                tracing::warn!(
                    held,
                    "the database has no layout rules but this hub held a rule set: serving the held rules until the database is restored"
                );
                *missing = held;
            }
            crate::store::CHECK_NOW.notify_waiters();
            return Ok(held);
        }
        let set = self.store.rule_set().await?;
        let revision = set.revision;
        if let Some(path) = &self.snapshot {
            let bytes = serde_json::to_vec(&set).unwrap_or_default();
            if let Err(e) = crate::fsutil::write_private(path, &bytes) {
                tracing::warn!(error = %e, "could not write the layout snapshot");
            }
        }
        self.install(set);
        Ok(revision)
    }

    /// Keeps the rule set current: loads it when the database is ready and whenever it
    /// changes; seeds the demo storefront into an empty database once.
    pub async fn run_loader(self, health: DbHealth, seed_demo: bool) {
        let mut seeded = !seed_demo;
        let mut tick = tokio::time::interval(RELOAD_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !health.is_ready() {
                continue;
            }
            // A hub that holds a rule set (from its snapshot) restores that into an empty
            // database instead of seeding the demo.
            seeded |= self.current().set.revision > 0;
            if !seeded {
                match demo::seed(self.store.as_ref()).await {
                    Ok(()) => seeded = true,
                    Err(e) => tracing::warn!(error = %e, "could not seed the demo storefront"),
                }
            }
            if let Err(e) = self.reload().await {
                tracing::warn!(error = %e, "could not load layout rules; serving the last ones");
            }
        }
    }

    /// Resolves a page for a visitor. Unknown page: 404. A broken rule or a failure inside
    /// the engine never fails the call: the answer is the base layout with warnings.
    pub async fn apply(&self, req: &ApplyRequest, now: DateTime<Utc>) -> Result<Applied, ApiError> {
        let (mut applied, trace) = self.resolve(req, now).await?;
        if req.explain {
            applied.trace = Some(trace);
        }
        Ok(applied)
    }

    /// [`Mutations::apply`]'s answer as JSON. Without `explain`, on a page's newest layout,
    /// the answer is the same for every visitor whose rules decide alike: it is serialised
    /// once per rule set and reused.
    pub async fn apply_json(
        &self,
        req: &ApplyRequest,
        now: DateTime<Utc>,
    ) -> Result<axum::body::Bytes, ApiError> {
        let loaded = self.current();
        let newest = loaded
            .layout(&req.page_slug)
            .filter(|l| req.layout_version.is_none_or(|v| v == l.version));
        match newest {
            Some(base) if !req.explain => {
                answer_json(&loaded, base, &req.context, &req.events, now)
            }
            _ => to_json(&self.apply(req, now).await?),
        }
    }

    /// Like [`Mutations::apply`] on the newest layout of `page_slug`, for a page this hub
    /// renders: also what the browser needs to apply the event-triggered rules itself, and
    /// what the page's receipt may allow (see [`in_page`]).
    pub fn apply_in_page(
        &self,
        page_slug: &str,
        context: &Context,
        now: DateTime<Utc>,
    ) -> Result<in_page::InPage, ApiError> {
        let loaded = self.current();
        let base = loaded.layout(page_slug).ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("unknown page `{page_slug}`: it has no base layout"),
            )
        })?;
        Ok(in_page::resolve(&loaded, base, context, now))
    }

    /// Resolves a page: the answer (without trace) and the trace.
    async fn resolve(
        &self,
        req: &ApplyRequest,
        now: DateTime<Utc>,
    ) -> Result<(Applied, Vec<cortex_core::resolve::TraceEntry>), ApiError> {
        let loaded = self.current();
        let newest = loaded.layout(&req.page_slug);
        let pinned;
        let base = match (req.layout_version, newest) {
            (Some(v), Some(l)) if l.version != v => {
                pinned = self
                    .store
                    .layout(&req.page_slug, Some(v))
                    .await?
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::NotFound,
                            format!("page `{}` has no layout version {v}", req.page_slug),
                        )
                    })?;
                &pinned
            }
            (_, Some(l)) => l,
            (_, None) => {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    format!("unknown page `{}`: it has no base layout", req.page_slug),
                ))
            }
        };
        Ok(resolve_safely(
            &loaded,
            base,
            &req.context,
            &req.events,
            req.explain,
            now,
        ))
    }

    // ---- changes (each audited, each pushes the new rule set) ----

    /// Validates a rule (fields, conditions, payload, targets in the page's layout) and
    /// stores it as its next version, if its newest version is still what `expect` says.
    pub async fn save_rule(
        &self,
        rule: LayoutMutation,
        expect: Head,
        who: &Principal,
    ) -> Result<RuleVersion, ApiError> {
        require_role(who, Role::Editor)?;
        let actor = who.actor.as_str();
        rule.validate().map_err(bad_rule)?;
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
    async fn write_over(
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
    async fn put_version(
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
    async fn write(
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
        let mut audit = AuditRecord::new(actor, "layout-mutation.rollback", String::new());
        audit.after = serde_json::json!({"restoredVersion": target});
        self.write_over(current, old.rule.clone(), old.deleted, audit)
            .await
    }

    /// Switches a rule on or off (a new version).
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
        let saved = self
            .store
            .put_layout(
                layout,
                AuditRecord::new(actor, "layout.save", String::new()),
            )
            .await?;
        self.changed().await;
        Ok(saved)
    }

    /// Impact of the rules over a time range: counts with intervals per rule and variant,
    /// per day, and each experiment variant against its baseline.
    pub async fn report(
        &self,
        query: &cortex_core::report::ReportQuery,
        now: DateTime<Utc>,
    ) -> Result<cortex_core::report::LayoutReport, ApiError> {
        use cortex_core::report::{compare, ImpactRow, LayoutReport};
        let (from, to) = query.range(now).map_err(ApiError::bad_request)?;
        let (tallies, days) = self.store.layout_tallies(query, from, to).await?;
        let rows: Vec<ImpactRow> = tallies.into_iter().map(ImpactRow::from_tally).collect();
        let loaded = self.current();
        let comparisons = compare(&rows, |id| {
            loaded
                .set
                .rules
                .iter()
                .find(|r| r.id == id)
                .and_then(|r| r.experiment.as_ref())
                .map(|e| e.variants.iter().map(|v| v.key.clone()).collect())
                .unwrap_or_default()
        });
        Ok(LayoutReport {
            from,
            to,
            rows,
            days,
            comparisons,
        })
    }

    /// What a neuron holding revision `held` needs: nothing, a diff or the full set.
    pub async fn sync(&self, held: u64) -> Result<cortex_core::rules::SyncAnswer, ApiError> {
        let changes = self.store.rule_changes(held).await?;
        let loaded = self.current();
        let full = if loaded.set.revision == changes.revision {
            loaded.set.clone()
        } else {
            self.store.rule_set().await?
        };
        Ok(cortex_core::rules::SyncAnswer::for_holder(
            held, changes, &full,
        ))
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
        require_role(who, Role::Editor)?;
        let actor = who.actor.as_str();
        let bad = |m: String| ApiError::bad_request(m);
        let mut layouts = self.current().layouts.clone();
        for (i, l) in set.layouts.iter().enumerate() {
            l.validate()
                .map_err(|e| bad(format!("import.layouts[{i}]: {e}")))?;
            layouts.insert(l.page_slug.clone(), l.clone());
        }
        for (i, r) in set.rules.iter().enumerate() {
            r.validate()
                .and_then(|()| check_against_layouts(r, &layouts))
                .map_err(|e| bad(format!("import.rules[{i}] (`{}`).{e}", r.id)))?;
        }
        let (n_layouts, n_rules) = (set.layouts.len(), set.rules.len());
        let total = n_layouts + n_rules;
        for (i, l) in set.layouts.into_iter().enumerate() {
            self.store
                .put_layout(l, AuditRecord::new(actor, "layout.save", String::new()))
                .await?;
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
        self.changed().await;
        Ok(cortex_core::rules::SyncAnswer::Imported {
            revision: self.current().set.revision,
            layouts: n_layouts,
            rules: n_rules,
        })
    }

    /// After a change: load it, and push the rule set to every neuron (global scope).
    async fn changed(&self) {
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
            tracing::warn!(error = %e, revision = set.revision, "could not push the layout rule set; neurons will get it on sync");
        }
    }
}

/// Resolves `base` for a visitor; whatever goes wrong inside, the caller gets a complete
/// layout (the base, with a warning).
pub fn resolve_safely(
    loaded: &InForce,
    base: &Layout,
    context: &Context,
    events: &[cortex_core::mutation::TriggerEvent],
    explain: bool,
    now: DateTime<Utc>,
) -> (Applied, Vec<cortex_core::resolve::TraceEntry>) {
    let mut warnings = warnings_for(loaded, base);
    let resolved = visiting(loaded, context, events, explain, now, |visit| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            loaded.plan.resolve_to_send(base, visit)
        }))
    });
    let (layout, exposures, trace) = match resolved {
        Ok(r) => (r.layout, r.exposures, r.trace),
        Err(_) => {
            tracing::error!(page = %base.page_slug, "resolving layout mutations panicked; serving the base layout");
            warnings.push("the mutation engine failed; this is the base layout".into());
            (base.clone(), Vec::new(), Vec::new())
        }
    };
    (answer(loaded, base, layout, exposures, warnings), trace)
}

/// Runs `f` on the visit `context` makes under the rule set `loaded`: with only the
/// attributes its rules read, and no saved groups (the hub keeps none).
fn visiting<R>(
    loaded: &InForce,
    context: &Context,
    events: &[cortex_core::mutation::TriggerEvent],
    explain: bool,
    now: DateTime<Utc>,
    f: impl FnOnce(&Visit<'_>) -> R,
) -> R {
    let attributes = context.attributes_read(now, loaded.plan.reads());
    let groups = SavedGroups::default();
    f(&Visit {
        attributes: &attributes,
        groups: &groups,
        now,
        events,
        explain,
    })
}

/// The answer for `base`'s page from the rule set `loaded`, without trace.
fn answer(
    loaded: &InForce,
    base: &Layout,
    layout: Layout,
    exposures: Vec<cortex_core::resolve::Exposure>,
    warnings: Vec<String>,
) -> Applied {
    Applied {
        page_slug: base.page_slug.clone(),
        revision: loaded.set.revision,
        layout_version: base.version,
        layout,
        exposures,
        trace: None,
        warnings,
        receipt: None,
    }
}

/// The `apply` answer for `base`, the newest layout of its page, as JSON: reused from
/// [`InForce::answers`] when a visitor with the same decisions was answered before. Falls back to
/// [`resolve_safely`] (which serves the base layout) if the engine panics.
fn answer_json(
    loaded: &InForce,
    base: &Layout,
    context: &Context,
    events: &[cortex_core::mutation::TriggerEvent],
    now: DateTime<Utc>,
) -> Result<axum::body::Bytes, ApiError> {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let safely = || to_json(&resolve_safely(loaded, base, context, events, false, now).0);
    let decided = visiting(loaded, context, events, false, now, |visit| {
        catch_unwind(AssertUnwindSafe(|| loaded.plan.decide(base, visit)))
    });
    let Ok(decided) = decided else {
        return safely();
    };
    let key = decided.key();
    if let Some(json) = loaded.answers.get(&base.page_slug, &key) {
        return Ok(json);
    }
    let resolved = catch_unwind(AssertUnwindSafe(|| {
        loaded.plan.resolve_decided(base, decided, false)
    }));
    let Ok(resolved) = resolved else {
        return safely();
    };
    let warnings = warnings_for(loaded, base);
    let json = to_json(&answer(
        loaded,
        base,
        resolved.layout,
        resolved.exposures,
        warnings,
    ))?;
    loaded.answers.put(&base.page_slug, key, json.clone());
    Ok(json)
}

/// An `apply` answer serialised into one buffer of about its final size (a `Vec` grows
/// from nothing; an answer is a few kilobytes).
fn to_json(applied: &Applied) -> Result<axum::body::Bytes, ApiError> {
    let mut buf = Vec::with_capacity(8 * 1024);
    serde_json::to_writer(&mut buf, applied)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("answer not serialisable: {e}")))?;
    Ok(buf.into())
}

/// The warnings every answer for `base`'s page carries: the rules skipped as broken.
fn warnings_for(loaded: &InForce, base: &Layout) -> Vec<String> {
    // Most rule sets have no broken rule: then there is nothing to walk.
    if loaded.broken.is_empty() {
        Vec::new()
    } else {
        loaded
            .set
            .rules
            .iter()
            .filter(|r| {
                r.page_slug == base.page_slug || r.layer == cortex_core::mutation::Layer::Global
            })
            .filter_map(|r| {
                loaded
                    .broken
                    .get(&r.id)
                    .map(|why| format!("rule `{}` skipped: {why}", r.id))
            })
            .collect()
    }
}
