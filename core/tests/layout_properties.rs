//! Property tests for layout resolution over random trees and random rule sets.

use chrono::{TimeZone, Utc};
use cortex_core::context::{Context, Reads};
use cortex_core::layout::ops::{Hide, Insert, Operation, Position, Props, Reorder, Replace};
use cortex_core::layout::{Layout, Node, NodeId};
use cortex_core::mutation::{Layer, LayoutMutation, MutationPayload};
use cortex_core::resolve::{Outcome, Plan, Visit};
use cortex_core::targeting::SavedGroups;
use proptest::prelude::*;
use std::collections::HashSet;

/// A tree of `sizes.len() + 1` nodes with ids n0..nK; each node's parent is chosen among
/// the nodes before it.
fn tree(parents: &[usize]) -> Node {
    fn build(id: usize, parents: &[usize]) -> Node {
        let mut n = Node::new(&format!("n{id}"), "module");
        for (child, &p) in parents.iter().enumerate() {
            if p == id {
                n.children.push(build(child + 1, parents));
            }
        }
        n
    }
    build(0, parents)
}

fn arb_layout() -> impl Strategy<Value = Layout> {
    (1usize..20)
        .prop_flat_map(|n| (0..n).map(|i| 0..=i).collect::<Vec<_>>())
        .prop_map(|parents| Layout {
            page_slug: "home".into(),
            version: 1,
            root: tree(&parents),
        })
}

fn id(i: usize) -> NodeId {
    NodeId::from(format!("n{i}"))
}

fn arb_op() -> impl Strategy<Value = Operation> {
    let target = 0usize..24; // some ids will not exist
    prop_oneof![
        (target.clone(), prop::option::of(0usize..24), 0usize..5).prop_map(|(t, p, i)| {
            Operation::Reorder(Reorder {
                target: id(t),
                parent: p.map(id),
                index: i,
            })
        }),
        (target.clone(), 0usize..4, 0usize..30).prop_map(|(a, pos, new)| Operation::Insert(
            Insert {
                anchor: id(a),
                position: [
                    Position::Before,
                    Position::After,
                    Position::FirstChild,
                    Position::LastChild
                ][pos],
                // "n…" ids collide with existing nodes on purpose; "x…" ids are new.
                node: Node::new(
                    &if new % 3 == 0 {
                        format!("n{new}")
                    } else {
                        format!("x{new}")
                    },
                    "inserted"
                ),
            }
        )),
        (target.clone(), 0usize..30).prop_map(|(t, new)| Operation::Replace(Replace {
            target: id(t),
            node: Node::new(&format!("r{new}"), "replacement")
        })),
        target
            .clone()
            .prop_map(|t| Operation::Hide(Hide { target: id(t) })),
        (target, 0u8..3).prop_map(|(t, k)| Operation::Props(Props {
            target: id(t),
            patch: serde_json::json!({ format!("k{k}"): k })
        })),
    ]
}

fn arb_rules() -> impl Strategy<Value = Vec<LayoutMutation>> {
    prop::collection::vec((arb_op(), 0usize..4, -2i32..3), 0..12).prop_map(|ops| {
        ops.into_iter()
            .enumerate()
            .map(|(i, (op, layer, priority))| LayoutMutation {
                id: format!("rule-{i:02}").into(),
                layout_id: "home".into(),
                page_slug: "home".into(),
                module_id: None,
                payload: match op {
                    Operation::Reorder(p) => MutationPayload::Reorder(p),
                    Operation::Insert(p) => MutationPayload::Insert(p),
                    Operation::Replace(p) => MutationPayload::Replace(p),
                    Operation::Hide(p) => MutationPayload::Hide(p),
                    Operation::Props(p) => MutationPayload::Props(p),
                    Operation::Theme(p) => MutationPayload::Theme(p),
                },
                trigger: Default::default(),
                conditions: serde_json::json!({}),
                priority,
                version: 1,
                created_by: "test".into(),
                timestamp: Utc.timestamp_opt(0, 0).unwrap(),
                is_active: true,
                rollback_pointer: None,
                layer: [Layer::Global, Layer::Page, Layer::Module, Layer::Section][layer],
                schedule: None,
                experiment: None,
                guard: None,
            })
            .collect()
    })
}

fn visit_now<'a>(attrs: &'a serde_json::Value, groups: &'a SavedGroups) -> Visit<'a> {
    Visit {
        attributes: attrs,
        groups,
        now: Utc.timestamp_opt(1_790_000_000, 0).unwrap(),
        events: &[],
        explain: true,
        sticky: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn resolution_is_safe_deterministic_and_reversible(layout in arb_layout(), rules in arb_rules(), seed in any::<u64>()) {
        let attrs = serde_json::json!({"id": "v1"});
        let groups = SavedGroups::default();
        let plan = Plan::compile(rules.clone());
        let res = plan.resolve(&layout, &visit_now(&attrs, &groups));

        // No duplicate ids.
        let ids: Vec<&NodeId> = res.layout.root.walk().map(|n| &n.id).collect();
        let unique: HashSet<&NodeId> = ids.iter().copied().collect();
        prop_assert_eq!(ids.len(), unique.len(), "duplicate ids in {:?}", ids);

        // A base node is only ever lost when it, or one of its base ancestors, was the
        // target of an applied rule.
        let applied: HashSet<&str> = res.trace.iter()
            .filter(|t| matches!(t.outcome, Outcome::Applied { .. } | Outcome::Overridden { .. }))
            .map(|t| &*t.rule_id).collect();
        let targets: HashSet<NodeId> = rules.iter().filter(|r| applied.contains(r.id.as_str()))
            .filter_map(|r| r.payload.operation()).map(|op| op.target(&layout.root.id).clone()).collect();
        fn lost_ok(n: &Node, targeted_above: bool, targets: &HashSet<NodeId>, kept: &HashSet<&NodeId>) -> Result<(), String> {
            let t = targeted_above || targets.contains(&n.id);
            if !kept.contains(&n.id) && !t {
                return Err(format!("{} was dropped though no rule targeted it or its ancestors", n.id));
            }
            n.children.iter().try_for_each(|c| lost_ok(c, t, targets, kept))
        }
        prop_assert!(lost_ok(&layout.root, false, &targets, &unique).is_ok(), "{:?}", lost_ok(&layout.root, false, &targets, &unique));

        // Storage order does not matter, and the same input gives the same output.
        let mut shuffled = rules.clone();
        let n = shuffled.len();
        if n > 1 {
            for i in 0..n {
                let j = ((seed.rotate_left(i as u32) ^ i as u64) % n as u64) as usize;
                shuffled.swap(i, j);
            }
        }
        let again = Plan::compile(shuffled).resolve(&layout, &visit_now(&attrs, &groups));
        prop_assert_eq!(&again.layout, &res.layout);
        prop_assert_eq!(&again.trace, &res.trace);

        // Resolving for an answer that is never reverted gives the same page.
        let sent = plan.resolve_to_send(&layout, &visit_now(&attrs, &groups));
        prop_assert_eq!(&sent.layout, &res.layout);
        prop_assert_eq!(&sent.exposures, &res.exposures);
        prop_assert_eq!(&sent.trace, &res.trace);
        prop_assert!(sent.undo.is_empty());

        // Apply then roll back gives back the base exactly.
        prop_assert_eq!(res.rollback(), layout);
    }
}

/// A condition object of fewer than `max` entries drawn from `entry` (a repeated field is
/// kept once).
fn condition_of(
    entry: impl Strategy<Value = (&'static str, serde_json::Value)>,
    max: usize,
) -> impl Strategy<Value = serde_json::Value> {
    prop::collection::vec(entry, 0..max).prop_map(|entries| {
        serde_json::Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    })
}

/// Condition entries drawn from a small pool, so rules share some entries and not others.
fn arb_condition() -> impl Strategy<Value = serde_json::Value> {
    let entry = prop_oneof![
        prop::sample::select(vec!["mobile", "desktop"])
            .prop_map(|d| ("device", serde_json::json!(d))),
        (15u8..40).prop_map(|a| ("age", serde_json::json!({"$gte": a}))),
        prop::sample::select(vec![vec!["DE"], vec!["DE", "AT"], vec!["FR"]])
            .prop_map(|c| ("country", serde_json::json!({"$in": c}))),
        Just((
            "$or",
            serde_json::json!([{"vip": true}, {"age": {"$lt": 20}}])
        )),
        Just(("missing", serde_json::json!({"$exists": false}))),
    ];
    condition_of(entry, 5)
}

fn arb_attributes() -> impl Strategy<Value = serde_json::Value> {
    (
        any::<bool>(),
        10u8..50,
        prop::sample::select(vec!["DE", "AT", "FR"]),
        any::<bool>(),
    )
        .prop_map(|(mobile, age, country, vip)| {
            serde_json::json!({"id": "v1", "device": if mobile { "mobile" } else { "desktop" },
                "age": age, "country": country, "vip": vip})
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The plan evaluates each distinct condition entry once per visit and shares the result
    /// between rules; every rule must still be targeted exactly as its own condition says.
    #[test]
    fn shared_condition_entries_target_like_each_rule_alone(
        conditions in prop::collection::vec(arb_condition(), 1..16),
        attrs in arb_attributes(),
    ) {
        let groups = SavedGroups::default();
        let rules: Vec<LayoutMutation> = conditions.iter().enumerate().map(|(i, c)| {
            let mut r = props_rule(i);
            r.conditions = c.clone();
            r
        }).collect();
        let plan = Plan::compile(rules.clone());
        let layout = Layout { page_slug: "home".into(), version: 1, root: tree(&[0, 0]) };
        let res = plan.resolve(&layout, &visit_now(&attrs, &groups));
        for r in &rules {
            let alone = cortex_core::targeting::Condition::compile(&r.conditions);
            let t = res.trace.iter().find(|t| *t.rule_id == *r.id).unwrap();
            match &t.outcome {
                Outcome::NotTargeted { failed } => {
                    prop_assert!(!alone.eval(&attrs, &groups), "{} was not targeted", r.id);
                    prop_assert_eq!(failed, &alone.failing_keys(&attrs, &groups));
                }
                _ => prop_assert!(alone.eval(&attrs, &groups), "{} was targeted", r.id),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    /// What a page looks like depends only on which rules apply (and with which variants):
    /// two visitors with the same decisions get the same layout and exposures. The hub
    /// reuses one `apply` answer for both on that ground.
    #[test]
    fn equal_decisions_resolve_to_equal_pages(
        layout in arb_layout(),
        rules in arb_rules(),
        conditions in prop::collection::vec(arb_condition(), 12),
        a in arb_attributes(),
        b in arb_attributes(),
    ) {
        let groups = SavedGroups::default();
        let rules: Vec<LayoutMutation> = rules.into_iter().zip(conditions).map(|(mut r, c)| {
            r.conditions = c;
            r
        }).collect();
        let plan = Plan::compile(rules);
        let (va, vb) = (visit_now(&a, &groups), visit_now(&b, &groups));
        let key = plan.decide(&layout, &va).key();
        prop_assume!(key == plan.decide(&layout, &vb).key());
        let (ra, rb) = (plan.resolve_to_send(&layout, &va), plan.resolve_to_send(&layout, &vb));
        prop_assert_eq!(&ra.layout, &rb.layout);
        prop_assert_eq!(&ra.exposures, &rb.exposures);
        // And the key names exactly the rules exposed.
        prop_assert_eq!(key.len(), ra.trace.iter().filter(|t| !matches!(t.outcome,
            Outcome::Inactive | Outcome::OutOfSchedule | Outcome::TriggerNotFired | Outcome::NotTargeted { .. }
            | Outcome::NotInExperiment | Outcome::Invalid { .. })).count());
    }
}

/// A props rule on the root that any layout has.
fn props_rule(i: usize) -> LayoutMutation {
    LayoutMutation {
        id: format!("rule-{i:02}").into(),
        layout_id: "home".into(),
        page_slug: "home".into(),
        module_id: None,
        payload: MutationPayload::Props(Props {
            target: id(0),
            patch: serde_json::json!({ format!("k{i}"): i }),
        }),
        trigger: Default::default(),
        conditions: serde_json::json!({}),
        priority: 0,
        version: 1,
        created_by: "test".into(),
        timestamp: Utc.timestamp_opt(0, 0).unwrap(),
        is_active: true,
        rollback_pointer: None,
        layer: Layer::Page,
        schedule: None,
        experiment: None,
        guard: None,
    }
}

/// A condition entry on the attributes a [`Context`] derives or carries.
fn arb_context_condition() -> impl Strategy<Value = serde_json::Value> {
    let entry = prop_oneof![
        prop::sample::select(vec!["mobile", "desktop", "bot"])
            .prop_map(|d| ("device", serde_json::json!(d))),
        prop::sample::select(vec!["de", "fr", "en"])
            .prop_map(|l| ("language", serde_json::json!({"$in": [l, "es"]}))),
        prop::sample::select(vec!["email", "search", "direct"])
            .prop_map(|s| ("source", serde_json::json!(s))),
        Just(("utm.source", serde_json::json!({"$exists": true}))),
        (0u32..24).prop_map(|h| ("hour", serde_json::json!({"$gte": h}))),
        (1u32..8).prop_map(|d| ("weekday", serde_json::json!({"$lte": d}))),
        (0u8..4).prop_map(|t| ("tier", serde_json::json!({"$gte": t}))),
        Just((
            "$or",
            serde_json::json!([{"persona": "bargain"}, {"quiz.goal": "run"}])
        )),
        Just(("now", serde_json::json!({"$gt": "2026-06-01"}))),
        Just(("userId", serde_json::json!({"$exists": false}))),
    ];
    condition_of(entry, 4)
}

fn arb_context() -> impl Strategy<Value = Context> {
    (
        prop::option::of(prop::sample::select(vec!["u1", "u2"])),
        prop::sample::select(vec!["a1", "a2", "a3"]),
        prop::option::of(prop::sample::select(vec!["bargain", "premium"])),
        prop::option::of(prop::sample::select(vec!["de-DE", "fr", "en_GB"])),
        prop::sample::select(vec![
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120 Safari/537.36",
            "curl/8.5.0",
        ]),
        prop::option::of(prop::sample::select(vec![
            "https://www.google.com/",
            "https://mail.google.com/",
        ])),
        prop::option::of(prop::sample::select(vec![
            "https://shop.example/?utm_source=news",
            "https://shop.example/",
        ])),
        prop::option::of(prop::sample::select(vec!["Europe/Berlin", "Asia/Tokyo"])),
        (0u8..4, any::<bool>()),
    )
        .prop_map(
            |(user, anon, persona, locale, ua, referrer, url, zone, (tier, runner))| {
                let mut c = Context {
                    user_id: user.map(str::to_string),
                    anonymous_id: Some(anon.to_string()),
                    persona: persona.map(str::to_string),
                    locale: locale.map(str::to_string),
                    user_agent: Some(ua.to_string()),
                    referrer: referrer.map(str::to_string),
                    url: url.map(str::to_string),
                    time_zone: zone.map(str::to_string),
                    ..Context::default()
                };
                c.custom.insert("tier".into(), serde_json::json!(tier));
                if runner {
                    c.quiz.insert("goal".into(), serde_json::json!("run"));
                }
                c
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// The hub builds only the attributes a rule set reads; the page, the exposures and the
    /// explain trace must be what the whole attribute object gives.
    #[test]
    fn building_only_the_attributes_rules_read_changes_nothing(
        layout in arb_layout(),
        rules in arb_rules(),
        conditions in prop::collection::vec(arb_context_condition(), 12),
        hash_attribute in prop::sample::select(vec!["id", "sessionId", "tier"]),
        context in arb_context(),
        hour in 0i64..(24 * 7),
    ) {
        let groups = SavedGroups::default();
        let mut rules: Vec<LayoutMutation> = rules.into_iter().zip(conditions).map(|(mut r, c)| {
            r.conditions = c;
            r
        }).collect();
        let mut experiment = props_rule(99);
        experiment.payload = MutationPayload::Variant(Default::default());
        experiment.experiment = Some(serde_json::from_value(serde_json::json!({
            "key": "x", "hashAttribute": hash_attribute,
            "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5,
                "payload": [{"op": "props", "target": "n0", "patch": {"x": 1}}]}]
        })).unwrap());
        rules.push(experiment);
        let plan = Plan::compile(rules);
        let Reads::Only(names) = plan.reads() else { panic!("no saved group here: the plan knows what it reads") };
        prop_assert!(names.contains(hash_attribute));
        let now = Utc.timestamp_opt(1_790_000_000 + hour * 3600, 0).unwrap();
        let (all, read) = (context.attributes(now), context.attributes_read(now, plan.reads()));
        let visit = |attributes| Visit { attributes, groups: &groups, now, events: &[], explain: true, sticky: None };
        let (a, b) = (plan.resolve(&layout, &visit(&all)), plan.resolve(&layout, &visit(&read)));
        prop_assert_eq!(&a.layout, &b.layout);
        prop_assert_eq!(&a.exposures, &b.exposures);
        prop_assert_eq!(format!("{:?}", a.trace), format!("{:?}", b.trace));
        prop_assert!(read.as_object().unwrap().len() <= all.as_object().unwrap().len());
    }
}
