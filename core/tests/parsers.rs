//! Fuzzing, with proptest on stable Rust, of every parser that takes outside input: rules,
//! layouts, conditions, registrations, heartbeats, wire messages, event batches, apply and
//! sync requests, and the form fields parsed in `core`. Valid documents (the engine's own
//! fixture table and one of each message) are mutated at random places (a value replaced,
//! a key removed or added, a string made odd), and random bytes are thrown at each parser.
//! Whatever comes in: no panic, and every refusal is an error with a message. What parses
//! and validates must also resolve without a panic.

use cortex_core::analytics::EventBatch;
use cortex_core::federation::{
    check_origin, Audience, Heartbeat, HubMessage, JoinPolicy, NeuronMessage, Registration, Scope,
};
use cortex_core::layout::Layout;
use cortex_core::mutation::{LayoutMutation, TriggerEvent};
use cortex_core::resolve::{Plan, Visit};
use cortex_core::rules::{ApplyRequest, SyncRequest};
use cortex_core::targeting::{Condition, SavedGroups};
use proptest::prelude::*;
use serde_json::{json, Value};

fn fixture_cases() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/resolution.json"
    ))
    .unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Documents of every kind, valid as they stand.
fn seeds() -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    for case in fixture_cases() {
        out.push(("layout", case["layout"].clone()));
        for rule in case["rules"].as_array().unwrap() {
            out.push(("rule", rule.clone()));
        }
    }
    let key = "A".repeat(43) + "=";
    out.extend([
        ("registration", json!({"id": "api-1", "slug": "shop", "kind": "api-service", "version": "1.0", "capabilities": ["config"], "tags": ["eu"], "region": "eu-west", "endpoint": "https://api.example.com", "publicKey": key})),
        ("heartbeat", json!({"state": "degraded", "checks": [{"name": "db", "state": "failing", "message": "slow"}], "version": "1.1", "load": {"cpuPercent": 12.5}})),
        ("neuronMessage", json!({"type": "hello", "revisions": {"global": 3, "tag:eu": 1}})),
        ("neuronMessage", json!({"type": "ack", "scope": "neuron:api-1", "revision": 4})),
        ("neuronMessage", json!({"type": "commandResult", "id": "c1", "ok": false, "message": "no"})),
        ("neuronMessage", json!({"type": "events", "batchId": "b-1", "events": [{"kind": "click", "at": "2026-12-01T10:00:00Z", "mutationId": "r", "variant": "b"}]})),
        ("hubMessage", json!({"type": "push", "bundle": {"scope": "global", "revision": 2, "kind": "config", "body": {"a": 1}, "createdBy": "u", "createdAt": "2026-12-01T10:00:00Z"}})),
        ("eventBatch", json!({"batchId": "b-9", "events": [{"kind": "dwell", "at": "2026-12-01T10:00:00Z", "value": 1200.0, "unit": "v1", "pageSlug": "home"}], "receipt": "abc.def"})),
        ("apply", json!({"pageSlug": "home", "context": {"anonymousId": "v1", "userAgent": "Mozilla/5.0 (iPhone)", "quiz": {"hike": "Coast"}, "utm": {"source": "x"}}, "explain": true, "events": [{"type": "scrollDepth", "percent": 50}, {"type": "exitIntent"}]})),
        ("sync", json!({"revision": 12})),
        ("joinPolicy", json!({"mode": "allowlist", "keys": [key], "tags": ["eu"], "keyTags": {"k": ["eu"]}})),
        ("condition", json!({"$or": [{"device": "mobile"}, {"country": {"$in": ["DE", "AT"]}}], "age": {"$gte": 18}})),
    ]);
    out
}

/// Every path in a JSON document, as a list of steps.
fn paths(v: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                here.push(Step::Key(k.clone()));
                paths(child, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                here.push(Step::Index(i));
                paths(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn at<'a>(v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

/// What a mutation does at the chosen place.
#[derive(Debug, Clone)]
enum Change {
    Replace(Value),
    Remove,
    AddKey(String, Value),
    Oddify,
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        (0u64..u64::MAX).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(Value::from("javascript:alert(1)")),
        Just(Value::from("\u{0}\u{202e}<script>")),
        Just(Value::from("a".repeat(5000))),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z$]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_change() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => arb_value().prop_map(Change::Replace),
        2 => Just(Change::Remove),
        1 => ("[a-zA-Z]{1,8}", arb_value()).prop_map(|(k, v)| Change::AddKey(k, v)),
        2 => Just(Change::Oddify),
    ]
}

fn mutate(mut doc: Value, edits: &[(usize, Change)]) -> Value {
    for (place, change) in edits {
        let mut all = Vec::new();
        paths(&doc, &mut Vec::new(), &mut all);
        let path = &all[place % all.len()];
        match change {
            Change::Replace(v) => {
                if let Some(slot) = at(&mut doc, path) {
                    *slot = v.clone();
                }
            }
            Change::Remove => {
                if let Some((last, parent)) = path.split_last() {
                    match (at(&mut doc, parent), last) {
                        (Some(Value::Object(m)), Step::Key(k)) => {
                            m.remove(k);
                        }
                        (Some(Value::Array(a)), Step::Index(i)) if *i < a.len() => {
                            a.remove(*i);
                        }
                        _ => {}
                    }
                }
            }
            Change::AddKey(k, v) => {
                if let Some(Value::Object(m)) = at(&mut doc, path) {
                    m.insert(k.clone(), v.clone());
                }
            }
            Change::Oddify => {
                if let Some(slot) = at(&mut doc, path) {
                    *slot = match slot.take() {
                        Value::String(s) => Value::from(format!("{s}\u{0}💥{}", "x".repeat(70))),
                        Value::Number(n) => json!(n.as_f64().map_or(-1.0, |f| -f * 1e300)),
                        Value::Bool(b) => Value::from(if b { "true" } else { "false" }),
                        other => Value::Array(vec![other]),
                    };
                }
            }
        }
    }
    doc
}

fn error_says_something(e: impl std::fmt::Display) -> Result<(), TestCaseError> {
    prop_assert!(
        !e.to_string().trim().is_empty(),
        "an error without a message"
    );
    Ok(())
}

/// Parses `doc` as what `kind` is, validates it, and for rules and layouts runs the engine.
fn check(kind: &str, doc: &Value, layout: &Layout) -> Result<(), TestCaseError> {
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
        .unwrap()
        .to_utc();
    match kind {
        "rule" => match serde_json::from_value::<LayoutMutation>(doc.clone()) {
            Err(e) => error_says_something(e)?,
            Ok(rule) => match rule.validate() {
                Err(e) => {
                    prop_assert!(!e.field.is_empty());
                    error_says_something(e)?
                }
                Ok(()) => {
                    let plan = Plan::compile(vec![rule]);
                    let groups = SavedGroups::default();
                    let attrs = json!({"id": "v1", "device": "mobile", "country": "DE"});
                    for events in [
                        vec![],
                        vec![
                            TriggerEvent::ExitIntent,
                            TriggerEvent::ScrollDepth { percent: 90 },
                        ],
                    ] {
                        let visit = Visit {
                            attributes: &attrs,
                            groups: &groups,
                            now,
                            events: &events,
                            explain: true,
                            sticky: None,
                        };
                        let _ = plan.resolve(layout, &visit);
                        let _ = plan.resolve_to_send(layout, &visit);
                    }
                }
            },
        },
        "layout" => match serde_json::from_value::<Layout>(doc.clone()) {
            Err(e) => error_says_something(e)?,
            Ok(l) => match l.validate() {
                Err(e) => error_says_something(e)?,
                Ok(()) => {
                    let plan = Plan::compile(Vec::new());
                    let groups = SavedGroups::default();
                    let visit = Visit {
                        attributes: &json!({}),
                        groups: &groups,
                        now,
                        events: &[],
                        explain: false,
                        sticky: None,
                    };
                    let _ = plan.resolve(&l, &visit);
                }
            },
        },
        "registration" => match serde_json::from_value::<Registration>(doc.clone()) {
            Err(e) => error_says_something(e)?,
            Ok(r) => {
                if let Err(e) = r.validate() {
                    error_says_something(e)?
                }
                if let Err(e) = r.validate_browser() {
                    error_says_something(e)?
                }
            }
        },
        "heartbeat" => match serde_json::from_value::<Heartbeat>(doc.clone()) {
            Err(e) => error_says_something(e)?,
            Ok(h) => {
                if let Err(e) = h.validate() {
                    error_says_something(e)?
                }
            }
        },
        "neuronMessage" => {
            if let Err(e) = serde_json::from_value::<NeuronMessage>(doc.clone()) {
                error_says_something(e)?
            }
        }
        "hubMessage" => {
            if let Err(e) = serde_json::from_value::<HubMessage>(doc.clone()) {
                error_says_something(e)?
            }
        }
        "eventBatch" => match serde_json::from_value::<EventBatch>(doc.clone()) {
            Err(e) => error_says_something(e)?,
            Ok(b) => {
                if let Err(e) = b.validate() {
                    error_says_something(e)?
                }
            }
        },
        "apply" => match serde_json::from_value::<ApplyRequest>(doc.clone()) {
            Err(e) => error_says_something(e)?,
            Ok(req) => {
                let _ = req
                    .context
                    .attributes_read(now, &cortex_core::context::Reads::All);
            }
        },
        "sync" => {
            if let Err(e) = serde_json::from_value::<SyncRequest>(doc.clone()) {
                error_says_something(e)?
            }
        }
        "joinPolicy" => match serde_json::from_value::<JoinPolicy>(doc.clone()) {
            Err(e) => error_says_something(e)?,
            Ok(p) => {
                if let Err(e) = p.check() {
                    error_says_something(e)?
                }
            }
        },
        "condition" => {
            if let Err(e) = Condition::validate(doc) {
                error_says_something(e)?
            }
            let _ =
                Condition::compile(doc).eval(&json!({"device": "mobile"}), &SavedGroups::default());
        }
        other => panic!("no parser for {other}"),
    }
    Ok(())
}

fn cases() -> u32 {
    // Bounded for every CI run; raise it locally with PROPTEST_CASES.
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(400)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// A valid document of any kind, changed at random places, never panics a parser, a
    /// validation or the engine; refusals carry a message.
    #[test]
    fn mutated_documents_are_refused_cleanly_or_work(
        seed in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<usize>(), arb_change()), 1..4),
    ) {
        let seeds = seeds();
        let (kind, doc) = seed.get(&seeds).clone();
        let layout: Layout = serde_json::from_value(fixture_cases()[0]["layout"].clone()).unwrap();
        check(kind, &mutate(doc, &edits), &layout)?;
    }

    /// Random bytes at every JSON parser: an error with a message, never a panic.
    #[test]
    fn random_bytes_are_refused_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        macro_rules! refuse {
            ($($t:ty),*) => {$(
                if let Err(e) = serde_json::from_slice::<$t>(&bytes) {
                    error_says_something(e)?;
                }
            )*};
        }
        refuse!(LayoutMutation, Layout, Registration, Heartbeat, NeuronMessage, HubMessage, EventBatch, ApplyRequest, SyncRequest, JoinPolicy);
    }

    /// The text fields forms send, parsed in `core`: scopes, origins, push audiences,
    /// key-bound tags, lists and links.
    #[test]
    fn form_fields_are_refused_cleanly(text in "\\PC{0,80}", number in "[0-9%x -]{0,6}") {
        if let Err(e) = text.parse::<Scope>() { error_says_something(e)?; }
        if let Err(e) = check_origin("origins[0]", &text) { error_says_something(e)?; }
        if let Err(e) = Audience::parse_form(&number, &text) { error_says_something(e)?; }
        if let Err(e) = JoinPolicy::parse_key_tags(&text) { error_says_something(e)?; }
        let _ = cortex_core::federation::split_list(&text);
        if let Some(url) = cortex_core::urls::safe_url(&text) {
            let lower = url.to_ascii_lowercase().replace(['\t', '\n', '\r'], "");
            prop_assert!(!lower.trim_start_matches(|c: char| c <= ' ').starts_with("javascript:"));
        }
    }
}

#[test]
fn every_seed_is_valid_as_it_stands() {
    let layout: Layout = serde_json::from_value(fixture_cases()[0]["layout"].clone()).unwrap();
    for (kind, doc) in seeds() {
        check(kind, &doc, &layout).unwrap();
        // And parses as what it is (the mutations start from valid documents).
        let parsed = match kind {
            "rule" => serde_json::from_value::<LayoutMutation>(doc.clone()).is_ok(),
            "layout" => serde_json::from_value::<Layout>(doc.clone()).is_ok(),
            "registration" => serde_json::from_value::<Registration>(doc.clone())
                .map(|r| r.validate().is_ok())
                .unwrap_or(false),
            "heartbeat" => serde_json::from_value::<Heartbeat>(doc.clone()).is_ok(),
            "neuronMessage" => serde_json::from_value::<NeuronMessage>(doc.clone()).is_ok(),
            "hubMessage" => serde_json::from_value::<HubMessage>(doc.clone()).is_ok(),
            "eventBatch" => serde_json::from_value::<EventBatch>(doc.clone())
                .map(|b| b.validate().is_ok())
                .unwrap_or(false),
            "apply" => serde_json::from_value::<ApplyRequest>(doc.clone()).is_ok(),
            "sync" => serde_json::from_value::<SyncRequest>(doc.clone()).is_ok(),
            "joinPolicy" => serde_json::from_value::<JoinPolicy>(doc.clone()).is_ok(),
            "condition" => Condition::validate(&doc).is_ok(),
            _ => false,
        };
        assert!(parsed, "{kind}: {doc}");
    }
}
