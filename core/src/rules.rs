//! The rule store's wire types: stored versions of rules, rule sets at a revision, and the
//! requests and answers of `/api/layout-mutation/*`.

use crate::context::Context;
use crate::ids::Revision;
use crate::layout::Layout;
use crate::mutation::LayoutMutation;
use crate::resolve::{Exposure, TraceEntry};
use serde::{Deserialize, Serialize};

mod filter;
mod history;
pub use filter::RuleFilter;
pub use history::{comparable, DiffLine, HistoryEntry};

/// Largest `apply` request body.
pub const MAX_APPLY_BYTES: usize = 16 * 1024;
/// Most events one `apply` request reports.
pub const MAX_APPLY_EVENTS: usize = 50;
/// Largest rule, as JSON.
pub const MAX_RULE_BYTES: usize = 64 * 1024;
/// Largest base layout, as JSON.
pub const MAX_LAYOUT_BYTES: usize = 512 * 1024;

/// One stored version of a rule. Every change writes a new version; the newest is in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RuleVersion {
    /// The rule as it was at this version (`version`, `createdBy`, `timestamp` and
    /// `rollbackPointer` say which, who, when and what it replaced).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rule: LayoutMutation,
    /// This version removed the rule (a restore writes a newer version).
    pub deleted: bool,
    /// The rule-set revision this version made.
    pub revision: Revision,
}

/// A rule in the admin list: its newest version and, if it cannot work against its page's
/// base layout, why (it is skipped at runtime).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RuleRow {
    #[serde(flatten)]
    pub version: RuleVersion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken: Option<String>,
}

impl RuleRow {
    /// `deleted`, `broken`, `active` or `inactive`.
    pub fn status(&self) -> &'static str {
        if self.version.deleted {
            "deleted"
        } else if self.broken.is_some() {
            "broken"
        } else if self.version.rule.is_active {
            "active"
        } else {
            "inactive"
        }
    }
}

/// Everything a neuron needs to evaluate locally: the newest base layout of each page and
/// the rules in force, at a rule-set revision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RuleSet {
    pub revision: Revision,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub layouts: Vec<Layout>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub rules: Vec<LayoutMutation>,
}

/// What changed after a revision: rule versions (the newest of each changed rule, deleted
/// ones included) and new layout versions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RuleChanges {
    pub revision: Revision,
    pub rules: Vec<RuleVersion>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub layouts: Vec<Layout>,
}

/// `POST /api/layout-mutation/apply`: a page and what is known about the visitor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyRequest {
    pub page_slug: crate::ids::PageSlug,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub context: Context,
    /// Resolve against this base layout version instead of the newest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout_version: Option<u32>,
    /// Include the explain trace.
    #[serde(default)]
    pub explain: bool,
    /// Events the page has reported so far (scroll depth, time on page, exit intent, a
    /// click ...): rules whose trigger they meet apply too. Empty on a first render.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub events: Vec<crate::mutation::TriggerEvent>,
}

impl ApplyRequest {
    /// Checks what can be checked without the rule set: a page slug of 1 to 100
    /// characters, at most [`MAX_APPLY_EVENTS`] events. The error names the field.
    pub fn check(&self) -> Result<(), String> {
        let slug = self.page_slug.trim();
        if slug.is_empty() || slug.len() > 100 {
            return Err("pageSlug: 1-100 characters".into());
        }
        if self.events.len() > MAX_APPLY_EVENTS {
            return Err(format!(
                "events: at most {MAX_APPLY_EVENTS} (report each kind of event once, the largest scroll depth and time on page)"
            ));
        }
        Ok(())
    }
}

/// The resolved page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub page_slug: crate::ids::PageSlug,
    /// The rule-set revision used.
    pub revision: Revision,
    /// The base layout version used.
    pub layout_version: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub layout: Layout,
    /// The rules (and variants) the visitor saw; log them as exposures.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub exposures: Vec<Exposure>,
    /// With `explain: true`: what each rule did and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub trace: Option<Vec<TraceEntry>>,
    /// Rules that were skipped because they are broken, and anything else the caller should
    /// know; the layout is still complete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// For a browser app (publishable key or browser neuron token): the signed receipt of
    /// what this visitor was shown. Events about a rule are counted only with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// What a page needs to apply event-triggered rules in the browser without a reload: its base
/// layout, the rules that can change it (those in force for the page, and global ones), and
/// the visitor's context. Sent with a page only when one of those rules waits for an event
/// (scroll depth, time on page, exit intent, a click ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Deferred {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub base: Layout,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub rules: Vec<LayoutMutation>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub context: Context,
}

impl Deferred {
    /// The events the rules wait for.
    pub fn awaited(&self) -> Vec<crate::mutation::TriggerEvent> {
        awaited_by(&self.rules)
    }

    /// Made independent of the zone database, for the browser bundle (built without it): the
    /// rules were in their schedules at `now` (the hub sends only those), so schedules are
    /// dropped, and a named time zone becomes its UTC offset at `now`.
    #[cfg(feature = "time-zones")]
    pub fn portable(mut self, now: chrono::DateTime<chrono::Utc>) -> Self {
        for r in &mut self.rules {
            r.schedule = None;
        }
        self.context = Self::portable_context(self.context, now);
        self
    }

    /// The context part of [`Deferred::portable`]: a named time zone becomes its UTC offset
    /// at `now`.
    #[cfg(feature = "time-zones")]
    pub fn portable_context(mut context: Context, now: chrono::DateTime<chrono::Utc>) -> Context {
        use chrono::Offset;
        if let Some(tz) = context
            .time_zone
            .take()
            .and_then(|z| z.parse::<chrono_tz::Tz>().ok())
        {
            let offset = now.with_timezone(&tz).offset().fix().local_minus_utc() / 60;
            context.utc_offset_minutes = Some(offset);
        }
        context
    }

    /// Every (rule, variant) the browser may report an exposure of for this visitor: what
    /// applies once all the awaited events have happened, or any one of them (a rule beaten
    /// by another when all fire may apply when only its own does).
    pub fn possible_exposures(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<(String, Option<String>)> {
        let awaited = self.awaited();
        let mut runs = vec![awaited.clone()];
        runs.extend(awaited.iter().map(|e| vec![e.clone()]));
        // One resolver for every run: compiling the rules is most of the work, and only the
        // events differ between runs.
        let resolve = self.resolver(now);
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        for events in runs {
            for x in resolve(&events).exposures {
                let pair = (x.rule_id.to_string(), x.variant_key.map(|v| v.to_string()));
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
        }
        out
    }

    /// The page for this visitor once `events` have happened: the same engine, the same
    /// rules and context as on the server, so rules that applied on the server still apply.
    pub fn resolve(
        &self,
        events: &[crate::mutation::TriggerEvent],
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::resolve::Resolution {
        self.resolver(now)(events)
    }

    /// The rules compiled and the visitor's attributes read once, at `now`: resolves the
    /// page for any set of events.
    fn resolver(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> impl Fn(&[crate::mutation::TriggerEvent]) -> crate::resolve::Resolution + '_ {
        let plan = crate::resolve::Plan::compile(self.rules.clone());
        let attributes = self.context.attributes_read(now, plan.reads());
        let groups = crate::targeting::SavedGroups::default();
        move |events| {
            plan.resolve_to_send(
                &self.base,
                &crate::resolve::Visit {
                    attributes: &attributes,
                    groups: &groups,
                    now,
                    events,
                    explain: false,
                    sticky: Some(&self.context.sticky),
                },
            )
        }
    }
}

/// A [`Deferred`] as a page carries it: the events its rules wait for, this visitor's
/// context, and the part every visitor the rules treat alike shares (the base layout and the
/// rules, a [`DeferredPage`]), serialised once on the server and sent as it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeferredView {
    pub awaited: Vec<crate::mutation::TriggerEvent>,
    /// The shared part; `None` when the page's HTML carries it instead (see
    /// [`DEFERRED_ELEMENT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<Box<serde_json::value::RawValue>>,
    pub context: Context,
}

/// The id of the `<script type="application/json">` element a server-rendered page carries
/// the shared part of its [`DeferredView`] in: written as it is, where the hydration data
/// would escape it again for every visitor.
pub const DEFERRED_ELEMENT: &str = "cortex-deferred";

impl PartialEq for DeferredView {
    fn eq(&self, other: &Self) -> bool {
        self.awaited == other.awaited
            && self.page.as_ref().map(|p| p.get()) == other.page.as_ref().map(|p| p.get())
            && self.context == other.context
    }
}

/// The shared part of a [`DeferredView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeferredPage {
    pub base: Layout,
    pub rules: Vec<LayoutMutation>,
}

impl DeferredPage {
    /// The events the rules wait for.
    pub fn awaited(&self) -> Vec<crate::mutation::TriggerEvent> {
        awaited_by(&self.rules)
    }
}

/// The events `rules` wait for, each once.
fn awaited_by(rules: &[LayoutMutation]) -> Vec<crate::mutation::TriggerEvent> {
    let mut out: Vec<crate::mutation::TriggerEvent> = Vec::new();
    for r in rules {
        if let crate::mutation::Trigger::On(e) = &r.trigger {
            if !out.contains(e) {
                out.push(e.clone());
            }
        }
    }
    out
}

impl DeferredView {
    /// The [`Deferred`] it carries, its shared part read from `page` (JSON of a
    /// [`DeferredPage`]) when it does not carry that itself.
    pub fn open(&self, page: Option<&str>) -> Result<Deferred, serde_json::Error> {
        let json = match (&self.page, page) {
            (Some(own), _) => own.get(),
            (None, Some(given)) => given,
            (None, None) => "null",
        };
        Deferred::from_page(json, self.context.clone())
    }
}

impl Deferred {
    /// A [`Deferred`] from its shared part (`page`: JSON of a [`DeferredPage`]) and the
    /// visitor's context. The browser reads the rules only when an event happens, so the
    /// code that reads them stays out of the page's first download.
    pub fn from_page(page: &str, context: Context) -> Result<Deferred, serde_json::Error> {
        let page: DeferredPage = serde_json::from_str(page)?;
        Ok(Deferred {
            base: page.base,
            rules: page.rules,
            context,
        })
    }
}

/// `POST /api/layout-mutation/sync`: a neuron says the revision it holds (0 or none: it holds
/// nothing); an editor may instead send a rule set exported from another hub to import it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
    /// A rule set to import (from `kind: full` of another hub's sync). Editor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<RuleSet>,
}

/// The answer to a sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SyncAnswer {
    /// The caller holds the newest revision.
    UpToDate { revision: Revision },
    /// What changed since the caller's revision.
    Diff(RuleChanges),
    /// The whole rule set (the caller holds nothing, or a revision this hub never had).
    Full(RuleSet),
    /// An import was validated and stored: this many layouts and rules, as new versions.
    #[serde(rename_all = "camelCase")]
    Imported {
        revision: Revision,
        layouts: usize,
        rules: usize,
        /// Rules re-linked by themselves to the imported layouts (the migration check).
        #[serde(default, skip_serializing_if = "is_zero")]
        relinked: usize,
        /// References to nodes the imported layouts lack, left for an editor on the
        /// migration check page.
        #[serde(default, skip_serializing_if = "is_zero")]
        waiting: usize,
    },
}

impl SyncAnswer {
    /// What a caller holding `held` needs, given the changes since then and the whole set:
    /// nothing, the diff, or the full set when it holds nothing, holds a revision newer
    /// than the hub's (a replaced database), or the diff would not be smaller.
    pub fn for_holder(held: Revision, changes: RuleChanges, full: &RuleSet) -> SyncAnswer {
        if held == changes.revision {
            return SyncAnswer::UpToDate { revision: held };
        }
        let diff_size = changes.rules.len() + changes.layouts.len();
        if held == 0
            || held > changes.revision
            || diff_size >= full.rules.len() + full.layouts.len()
        {
            SyncAnswer::Full(full.clone())
        } else {
            SyncAnswer::Diff(changes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_and_a_patch_of_one_node_both_apply_without_overriding() {
        let base: Layout = serde_json::from_value(serde_json::json!({
            "pageSlug": "home", "version": 1,
            "root": {"id": "page", "type": "page", "children": [
                {"id": "hero", "type": "hero"}, {"id": "offer", "type": "offer-banner"}
            ]}
        }))
        .unwrap();
        let rule = |id: &str,
                    kind: &str,
                    payload: serde_json::Value,
                    priority: i32|
         -> LayoutMutation {
            serde_json::from_value(serde_json::json!({
                "id": id, "layoutId": "home", "pageSlug": "home", "layer": "module", "priority": priority,
                "mutationType": kind, "mutationPayload": payload,
                "createdBy": "u", "timestamp": "2026-11-29T10:00:00Z", "isActive": true
            }))
            .unwrap()
        };
        let d = Deferred {
            base,
            rules: vec![
                rule(
                    "move",
                    "reorder",
                    serde_json::json!({"target": "offer", "index": 0}),
                    10,
                ),
                rule(
                    "patch",
                    "props",
                    serde_json::json!({"target": "offer", "patch": {"text": "Hi"}}),
                    0,
                ),
            ],
            context: Context::default(),
        };
        let r = d.resolve(&[], "2026-11-29T12:00:00Z".parse().unwrap());
        assert_eq!(r.layout.root.children[0].id.as_str(), "offer");
        assert_eq!(r.layout.root.children[0].props["text"], "Hi");
        for t in &r.trace {
            assert!(
                matches!(t.outcome, crate::resolve::Outcome::Applied { .. }),
                "{t:?}"
            );
        }
    }

    #[test]
    fn a_portable_deferred_set_needs_no_zone_database() {
        let rule: LayoutMutation = serde_json::from_value(serde_json::json!({
            "id": "r", "layoutId": "home", "pageSlug": "home", "layer": "page",
            "mutationType": "hide", "mutationPayload": {"target": "x"},
            "schedule": {"timeZone": "Europe/Berlin", "recurring": [{"days": ["sun"], "from": "08:00", "to": "20:00"}]},
            "createdBy": "u", "timestamp": "2026-11-29T10:00:00Z", "isActive": true
        }))
        .unwrap();
        let d = Deferred {
            base: serde_json::from_value(
                serde_json::json!({"pageSlug": "home", "root": {"id": "page", "type": "page"}}),
            )
            .unwrap(),
            rules: vec![rule],
            context: Context {
                time_zone: Some("Europe/Berlin".into()),
                ..Context::default()
            },
        };
        // 2026-11-29 is in winter time: Berlin is UTC+1; in July it is UTC+2.
        let p = d.clone().portable("2026-11-29T12:00:00Z".parse().unwrap());
        assert!(p.rules[0].schedule.is_none());
        assert_eq!(
            (p.context.time_zone.as_deref(), p.context.utc_offset_minutes),
            (None, Some(60))
        );
        let summer = d.portable("2026-07-01T12:00:00Z".parse().unwrap());
        assert_eq!(summer.context.utc_offset_minutes, Some(120));
        // The attributes conditions see are the same either way.
        let now = "2026-11-29T22:30:00Z".parse().unwrap();
        let zoned = Context {
            time_zone: Some("Europe/Berlin".into()),
            ..Context::default()
        };
        assert_eq!(
            zoned.attributes(now)["hour"],
            p.context.attributes(now)["hour"]
        );
    }

    #[test]
    fn deferred_rules_apply_once_their_event_happens() {
        let base: Layout = serde_json::from_value(serde_json::json!({
            "pageSlug": "home", "version": 1,
            "root": {"id": "page", "type": "page", "children": [
                {"id": "offer", "type": "offer-banner", "props": {"text": "Free shipping"}},
                {"id": "footer", "type": "footer", "props": {"text": "Bye"}}
            ]}
        }))
        .unwrap();
        let rule = |id: &str,
                    target: &str,
                    text: &str,
                    trigger: serde_json::Value|
         -> LayoutMutation {
            serde_json::from_value(serde_json::json!({
                "id": id, "layoutId": "home", "pageSlug": "home", "layer": "module",
                "mutationType": "props", "mutationPayload": {"target": target, "patch": {"text": text}},
                "trigger": trigger, "createdBy": "u", "timestamp": "2026-11-29T10:00:00Z", "isActive": true
            }))
            .unwrap()
        };
        let d = Deferred {
            base,
            rules: vec![
                rule(
                    "always",
                    "offer",
                    "Hello",
                    serde_json::json!({"type": "pageLoad"}),
                ),
                rule(
                    "exit",
                    "offer",
                    "Wait!",
                    serde_json::json!({"type": "exitIntent"}),
                ),
                rule(
                    "deep",
                    "footer",
                    "Thanks",
                    serde_json::json!({"type": "scrollDepth", "percent": 80}),
                ),
            ],
            context: Context::default(),
        };
        use crate::mutation::TriggerEvent as E;
        assert_eq!(
            d.awaited(),
            vec![E::ExitIntent, E::ScrollDepth { percent: 80 }]
        );
        let now = "2026-11-29T12:00:00Z".parse().unwrap();
        let text = |r: &crate::resolve::Resolution, id: &str| {
            r.layout.root.find(&id.into()).unwrap().props["text"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let first = d.resolve(&[], now);
        assert_eq!(
            (text(&first, "offer"), text(&first, "footer")),
            ("Hello".into(), "Bye".into())
        );
        let scrolled = d.resolve(&[E::ScrollDepth { percent: 90 }], now);
        assert_eq!(
            (text(&scrolled, "offer"), text(&scrolled, "footer")),
            ("Hello".into(), "Thanks".into())
        );
        let leaving = d.resolve(&[E::ScrollDepth { percent: 90 }, E::ExitIntent], now);
        assert_eq!(text(&leaving, "offer"), "Wait!");
        let ids: Vec<&str> = leaving.exposures.iter().map(|x| &*x.rule_id).collect();
        assert_eq!(ids.len(), 3, "{ids:?}");
    }

    fn rule(id: &str) -> RuleVersion {
        RuleVersion {
            rule: serde_json::from_value(serde_json::json!({
                "id": id, "layoutId": "l", "pageSlug": "home", "layer": "page",
                "mutationType": "hide", "mutationPayload": {"target": "x"},
                "createdBy": "u", "timestamp": "2026-11-29T10:00:00Z", "isActive": true
            }))
            .unwrap(),
            deleted: false,
            revision: Revision(9),
        }
    }

    #[test]
    fn a_holder_gets_nothing_a_diff_or_everything() {
        let full = RuleSet {
            revision: Revision(9),
            layouts: vec![],
            rules: ["a", "b", "c"].iter().map(|i| rule(i).rule).collect(),
        };
        let changes = |n: usize| RuleChanges {
            revision: Revision(9),
            rules: ["a", "b", "c"][..n].iter().map(|i| rule(i)).collect(),
            layouts: vec![],
        };
        assert_eq!(
            SyncAnswer::for_holder(Revision(9), changes(0), &full),
            SyncAnswer::UpToDate {
                revision: Revision(9)
            }
        );
        assert!(
            matches!(SyncAnswer::for_holder(Revision(8), changes(1), &full), SyncAnswer::Diff(d) if d.rules.len() == 1)
        );
        assert!(matches!(
            SyncAnswer::for_holder(Revision(0), changes(3), &full),
            SyncAnswer::Full(_)
        ));
        assert!(
            matches!(
                SyncAnswer::for_holder(Revision(2), changes(3), &full),
                SyncAnswer::Full(_)
            ),
            "a diff as big as the set"
        );
        assert!(
            matches!(
                SyncAnswer::for_holder(Revision(12), changes(0), &full),
                SyncAnswer::Full(_)
            ),
            "a revision the hub never had"
        );
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
