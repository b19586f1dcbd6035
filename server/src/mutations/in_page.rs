//! Pages this hub renders itself (the demo storefront): the page resolved for a visitor,
//! what the browser needs to apply the rules that wait for an event (scroll depth, exit
//! intent, a click ...), and which exposures the page's receipt may allow beyond those shown.
//!
//! Everything but the visitor's context is the same for every visitor whose rules decide
//! alike, rules waiting for an event included ([`Decided::key_with_waiting`]): the resolved
//! page, and the base layout and rules sent for the browser (serialised once). It is worked
//! out once per rule set and kept in [`InForce`]; a page view then costs one decision, and
//! one more with every awaited event for the receipt.

use chrono::{DateTime, Utc};
use cortex_core::context::Context;
use cortex_core::layout::Layout;
use cortex_core::mutation::TriggerEvent;
use cortex_core::resolve::Decided;
use cortex_core::rules::{Applied, Deferred, DeferredPage, DeferredView};
use serde_json::value::RawValue;
use std::sync::Arc;

use super::in_force::warnings_for;
use super::resolution::answer;
use super::{resolve_safely, InForce};

/// A rule and the variant shown (if it is an experiment), as a receipt names them.
pub type Shown = (String, Option<String>);

/// A page for one visitor.
#[derive(Debug, Clone)]
pub struct InPage {
    pub applied: Applied,
    /// What the browser needs to apply the rules that wait for an event; `None` when none
    /// does. Its shared part (`page`) is left out: it is `embeddable`, or see
    /// [`InPage::carry_page`].
    pub deferred: Option<DeferredView>,
    /// The shared part of `deferred` (a [`DeferredPage`]) as JSON that can be written into
    /// an HTML `<script>` element as it is (every `<` escaped as `\u003c`, which reads back
    /// as `<`), for a page rendered on the server.
    pub embeddable: Option<Arc<str>>,
    /// The exposures the browser may report once events happen, beyond those in
    /// `applied` (the page's receipt allows them).
    pub possible: Vec<Shown>,
}

impl InPage {
    /// Puts the shared part into `deferred` itself, for an answer that is not written into
    /// a page's HTML.
    pub fn carry_page(&mut self) {
        if let (Some(d), Some(json)) = (&mut self.deferred, &self.embeddable) {
            d.page = RawValue::from_string(json.to_string()).ok();
        }
    }
}

/// The part of [`InPage`] that is the same for every visitor whose rules decide alike.
pub struct Shared {
    applied: Applied,
    deferred: Option<Arc<SharedDeferred>>,
}

/// The shared part of a [`DeferredView`], the same for every visitor with the same rules
/// applying or waiting (whatever their variants).
pub struct SharedDeferred {
    /// The base layout and the rules that can still change the page, made portable
    /// ([`Deferred::portable`]), as JSON embeddable in HTML.
    embeddable: Arc<str>,
    /// The events those rules wait for.
    awaited: Vec<TriggerEvent>,
}

/// `base` (its page's newest layout in `loaded`) for the visitor `context`. If the engine
/// fails, the base layout with nothing deferred (see [`resolve_safely`]).
pub(super) fn resolve(
    loaded: &InForce,
    base: &Layout,
    context: &Context,
    now: DateTime<Utc>,
) -> InPage {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    catch_unwind(AssertUnwindSafe(|| {
        resolve_unguarded(loaded, base, context, now)
    }))
    .unwrap_or_else(|_| InPage {
        applied: resolve_safely(loaded, base, context, &[], false, now).0,
        deferred: None,
        embeddable: None,
        possible: Vec::new(),
    })
}

fn resolve_unguarded(
    loaded: &InForce,
    base: &Layout,
    context: &Context,
    now: DateTime<Utc>,
) -> InPage {
    let visitor = loaded.visitor(context, now);
    let visit = |events: &[TriggerEvent]| loaded.plan.decide(base, &visitor.visit(events, false));
    let decided = visit(&[]);
    let shared = loaded
        .pages
        .get_or_put(&base.page_slug, decided.key_with_waiting(), || {
            Arc::new(share(loaded, base, decided))
        });
    let Some(deferred) = &shared.deferred else {
        return InPage {
            applied: shared.applied.clone(),
            deferred: None,
            embeddable: None,
            possible: Vec::new(),
        };
    };
    // What the browser may show once events happen: every rule that applies when all the
    // awaited events have happened, with this visitor's variant (a rule's decision does
    // not depend on the others, so a rule that applies after any of the events applies
    // after all of them). This may name a rule whose operations would then fail: it still
    // targets this visitor, in this variant.
    let possible = loaded
        .plan
        .applying(&visit(&deferred.awaited))
        .into_iter()
        .filter(|(rule, variant)| {
            !shared
                .applied
                .exposures
                .iter()
                .any(|x| x.rule_id == *rule && x.variant_key == *variant)
        })
        .map(|(rule, variant)| (rule.to_string(), variant.map(|v| v.to_string())))
        .collect();
    InPage {
        applied: shared.applied.clone(),
        deferred: Some(DeferredView {
            awaited: deferred.awaited.clone(),
            page: None,
            context: Deferred::portable_context(context.clone(), now),
        }),
        embeddable: Some(deferred.embeddable.clone()),
        possible,
    }
}

/// Works out what every visitor with these decisions gets.
fn share(loaded: &InForce, base: &Layout, decided: Decided<'_>) -> Shared {
    let deferred = decided.waiting().then(|| {
        // Visitors whose variants differ share the rules sent (and so the base layout).
        let rules: Vec<usize> = decided.deferrable().collect();
        let key = rules.iter().map(|&i| (i as u32, 0)).collect();
        loaded.deferred.get_or_put(&base.page_slug, key, || {
            Arc::new(share_deferred(loaded, base, &rules))
        })
    });
    let resolved = loaded.plan.resolve_decided(base, decided, false);
    let applied = answer(
        loaded,
        base,
        resolved.layout,
        resolved.exposures,
        warnings_for(loaded, base),
    );
    Shared { applied, deferred }
}

/// The base layout and `rules` (by their place in the plan) as the browser gets them.
fn share_deferred(loaded: &InForce, base: &Layout, rules: &[usize]) -> SharedDeferred {
    let page = DeferredPage {
        base: base.clone(),
        rules: rules
            .iter()
            .map(|&i| {
                let mut rule = loaded.plan.rule(i).clone();
                // Sent only while in their schedules (the hub decides that): the browser
                // needs none. Who wrote a rule is none of a visitor's business.
                rule.schedule = None;
                rule.created_by = String::new();
                rule
            })
            .collect(),
    };
    // A layout and rules are JSON values already: serialising them cannot fail.
    let json = serde_json::to_string(&page).unwrap_or_else(|e| {
        tracing::error!(page = %base.page_slug, "deferred rules not serialisable: {e}");
        "null".into()
    });
    SharedDeferred {
        // `<` only occurs inside JSON strings, where `\u003c` reads back as `<`: no
        // `</script>` or `<!--` can end or confuse the element.
        embeddable: json.replace('<', "\\u003c").into(),
        awaited: page.awaited(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex_core::mutation::LayoutMutation;
    use cortex_core::resolve::Outcome;
    use cortex_core::rules::RuleSet;
    use serde_json::json;

    /// The demo's rules, and rules waiting for an event that target some visitors only,
    /// run an experiment, or compete for one node.
    fn loaded() -> InForce {
        // The demo storefront's pages and rules (kept with the command line's demo).
        let demo: serde_json::Value =
            serde_json::from_str(include_str!("../../../src/demo/storefront.json")).unwrap();
        let mut rules: Vec<LayoutMutation> = demo["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r["createdBy"] = json!("hub:demo");
                r["timestamp"] = json!("2026-12-01T00:00:00Z");
                serde_json::from_value(r).unwrap()
            })
            .collect();
        let extra = |v: serde_json::Value| -> LayoutMutation {
            let mut v = v;
            let o = v.as_object_mut().unwrap();
            o.insert("createdBy".into(), json!("test"));
            o.insert("timestamp".into(), json!("2026-12-01T00:00:00Z"));
            o.insert("isActive".into(), json!(true));
            o.insert("layoutId".into(), json!("home"));
            o.insert("pageSlug".into(), json!("home"));
            serde_json::from_value(v).unwrap()
        };
        rules.push(extra(json!({
            "id": "exit-test", "moduleId": "hero", "layer": "module", "priority": 5,
            "mutationType": "variant", "mutationPayload": {},
            "trigger": {"type": "exitIntent"},
            "conditions": {"persona": {"$in": ["bargain", "coast"]}},
            "experiment": {"key": "exit-test", "variants": [
                {"key": "a", "weight": 0.5, "payload": [
                    {"op": "props", "target": "hero", "patch": {"headline": "Wait"}}]},
                {"key": "b", "weight": 0.5, "payload": [
                    {"op": "props", "target": "hero", "patch": {"headline": "Stay"}}]}
            ]}
        })));
        rules.push(extra(json!({
            "id": "scroll-mobile", "moduleId": "offer", "layer": "page", "priority": 1,
            "mutationType": "props", "mutationPayload": {"target": "offer", "patch": {"text": "Deep </script><!-- <b>"}},
            "trigger": {"type": "scrollDepth", "percent": 50},
            "conditions": {"device": "mobile"}
        })));
        InForce::new(RuleSet {
            revision: cortex_core::ids::Revision(3),
            layouts: serde_json::from_value(demo["layouts"].clone()).unwrap(),
            rules,
        })
    }

    fn visitor(i: usize) -> Context {
        let persona = ["bargain", "coast", "returning", "new"][i % 4];
        let device = ["mobile", "desktop"][i % 2];
        serde_json::from_value(json!({
            "anonymousId": format!("visitor-{i}"),
            "persona": persona,
            "device": device,
            "timeZone": "Europe/Berlin",
        }))
        .unwrap()
    }

    /// What a page view sent before pages were shared: the rules the trace names as
    /// applying or waiting, the context made portable, and the possible exposures the
    /// browser's engine computes from them.
    fn reference(loaded: &InForce, base: &Layout, context: &Context, now: DateTime<Utc>) -> InPage {
        let (applied, trace) = resolve_safely(loaded, base, context, &[], false, now);
        let targeted: Vec<&str> = trace
            .iter()
            .filter(|t| {
                matches!(
                    t.outcome,
                    Outcome::Applied { .. }
                        | Outcome::Overridden { .. }
                        | Outcome::TriggerNotFired
                        | Outcome::Skipped { .. }
                )
            })
            .map(|t| &*t.rule_id)
            .collect();
        let waiting = trace.iter().any(|t| t.outcome == Outcome::TriggerNotFired);
        let deferred = Deferred {
            base: base.clone(),
            rules: loaded
                .set
                .rules
                .iter()
                .filter(|r| targeted.contains(&r.id.as_str()))
                .cloned()
                .collect(),
            context: context.clone(),
        }
        .portable(now);
        let possible = if waiting {
            deferred
                .possible_exposures(now)
                .into_iter()
                .filter(|(rule, variant)| {
                    !applied.exposures.iter().any(|x| {
                        *x.rule_id == **rule && x.variant_key.as_deref() == variant.as_deref()
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        InPage {
            applied,
            deferred: waiting.then(|| DeferredView {
                awaited: deferred.awaited(),
                page: Some(
                    serde_json::value::to_raw_value(&DeferredPage {
                        base: deferred.base.clone(),
                        rules: deferred.rules.clone(),
                    })
                    .unwrap(),
                ),
                context: deferred.context.clone(),
            }),
            embeddable: None,
            possible,
        }
    }

    fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
        v.sort();
        v
    }

    #[test]
    fn a_shared_page_sends_what_each_visitor_was_sent_before() {
        let loaded = loaded();
        let now: DateTime<Utc> = "2026-12-04T12:00:00Z".parse().unwrap();
        let mut waited = 0;
        let mut variants = std::collections::HashSet::new();
        for slug in ["home", "sale"] {
            let base = loaded.layout(slug).unwrap();
            for i in 0..64 {
                let context = visitor(i);
                let got = resolve(&loaded, base, &context, now);
                let want = reference(&loaded, base, &context, now);
                assert_eq!(got.applied, want.applied, "{slug} visitor {i}");
                assert_eq!(
                    sorted(got.possible.clone()),
                    sorted(want.possible.clone()),
                    "{slug} visitor {i}"
                );
                let mut carried = got.clone();
                carried.carry_page();
                match (&carried.deferred, &want.deferred) {
                    (None, None) => {}
                    (Some(g), Some(w)) => {
                        assert!(got.deferred.as_ref().unwrap().page.is_none());
                        waited += 1;
                        let mut awaited = (g.awaited.clone(), w.awaited.clone());
                        awaited.0.sort_by_key(|e| format!("{e:?}"));
                        awaited.1.sort_by_key(|e| format!("{e:?}"));
                        assert_eq!(awaited.0, awaited.1);
                        // The page carries the same in its HTML, safely.
                        let embedded = got.embeddable.as_deref().unwrap();
                        assert!(!embedded.contains('<'));
                        if i % 2 == 0 && slug == "home" {
                            assert!(embedded.contains("Deep \\u003c/script>"), "{embedded}");
                        }
                        let from_html = got.deferred.as_ref().unwrap();
                        assert_eq!(
                            from_html.open(Some(embedded)).unwrap(),
                            g.open(None).unwrap()
                        );
                        let (g, w) = (g.open(None).unwrap(), w.open(None).unwrap());
                        assert!(g.rules.iter().all(|r| r.created_by.is_empty()));
                        assert_eq!(g.base, w.base);
                        assert_eq!(g.context, w.context, "made portable per visitor");
                        let ids =
                            |d: &Deferred| sorted(d.rules.iter().map(|r| r.id.clone()).collect());
                        assert_eq!(ids(&g), ids(&w), "{slug} visitor {i}");
                        let browser = g.possible_exposures(now);
                        for p in &got.possible {
                            assert!(browser.contains(p), "the browser can show {p:?}");
                        }
                    }
                    (g, w) => panic!("{slug} visitor {i}: deferred {g:?} vs {w:?}"),
                }
                variants.extend(got.possible.iter().filter(|p| p.0 == "exit-test").cloned());
            }
        }
        assert!(waited > 0, "the home page waits for events");
        assert_eq!(
            variants.len(),
            2,
            "both variants of the waiting experiment: {variants:?}"
        );
        // Visitors who decide alike share one page: far fewer entries than visitors.
        let home = loaded.pages.len("home");
        assert!(
            (1..16).contains(&home),
            "{home} shared home pages for 64 visitors"
        );
    }
}
