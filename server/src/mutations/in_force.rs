//! The rule set in force, compiled: the plan the engine runs, each page's newest layout, the
//! rules skipped as broken (and why), and the answers and pages kept for visitors whose
//! rules decide alike.

use chrono::{DateTime, Utc};
use cortex_core::context::Context;
use cortex_core::ids::PageSlug;
use cortex_core::layout::Layout;
use cortex_core::mutation::{LayoutMutation, RuleError, TriggerEvent};
use cortex_core::resolve::{Plan, Visit};
use cortex_core::rules::RuleSet;
use cortex_core::targeting::SavedGroups;
use std::collections::HashMap;
use std::sync::Arc;

use super::cache::ByDecision;
use super::in_page;
use super::resolution::SharedJson;

/// The rule set in force, compiled.
pub struct InForce {
    pub set: RuleSet,
    pub(super) plan: Plan,
    pub(super) layouts: HashMap<PageSlug, Layout>,
    /// Rules that cannot work against their page's layout, and why (skipped at runtime,
    /// flagged in the list).
    pub broken: HashMap<cortex_core::ids::RuleId, String>,
    /// `apply` answers for the newest layouts, serialised once.
    pub(super) answers: ByDecision<SharedJson>,
    /// Pages this hub renders, as far as they are the same for every visitor whose rules
    /// decide alike (see [`in_page`]).
    pub(super) pages: ByDecision<Arc<in_page::Shared>>,
    /// What those pages send the browser, by the rules sent (shared by visitors whose
    /// variants differ).
    pub(super) deferred: ByDecision<Arc<in_page::SharedDeferred>>,
}

impl InForce {
    pub(super) fn new(set: RuleSet) -> Self {
        let layouts: HashMap<PageSlug, Layout> = set
            .layouts
            .iter()
            .map(|l| (l.page_slug.clone(), l.clone()))
            .collect();
        let broken: HashMap<cortex_core::ids::RuleId, String> = set
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
    layouts: &HashMap<PageSlug, Layout>,
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

/// The warnings every answer for `base`'s page carries: the rules skipped as broken.
pub(super) fn warnings_for(loaded: &InForce, base: &Layout) -> Vec<String> {
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

/// What the engine reads of one visitor under a rule set: only the attributes its rules
/// read, and no saved groups (the hub keeps none).
pub(super) struct Visitor {
    attributes: serde_json::Value,
    groups: SavedGroups,
    now: DateTime<Utc>,
    sticky: cortex_core::context::Sticky,
}

impl Visitor {
    /// The visit with `events` having happened.
    pub(super) fn visit<'a>(&'a self, events: &'a [TriggerEvent], explain: bool) -> Visit<'a> {
        Visit {
            attributes: &self.attributes,
            groups: &self.groups,
            now: self.now,
            events,
            explain,
            sticky: Some(&self.sticky),
        }
    }
}

impl InForce {
    /// The visitor `context` describes, as this rule set's engine reads it at `now`.
    pub(super) fn visitor(&self, context: &Context, now: DateTime<Utc>) -> Visitor {
        Visitor {
            attributes: context.attributes_read(now, self.plan.reads()),
            groups: SavedGroups::default(),
            now,
            sticky: cortex_core::context::bounded_sticky(&context.sticky),
        }
    }
}
