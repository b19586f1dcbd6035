//! Layout mutations end to end on a real hub: the demo storefront seeded, `apply` for
//! several visitors and devices, who may call it and what bad input gets, rule versions and
//! rollback, broken rules skipped, and pages served from the snapshot.

mod common;

use common::{expect_error, json_of, plain, start_with, test_config, Hub};
use cortex_core::federation::Registration;
use cortex_core::Role;
use cortex_sdk::{HubClient, NeuronKey};
use cortex_server::store::layouts::Head;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const APPLY: &str = "/api/layout-mutation/apply";
const IPHONE: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";
const DESKTOP: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36";

/// A hub with the demo storefront, once its rules are loaded, and its admin's browser.
async fn demo_hub() -> (Hub, reqwest::Client) {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_with(
        cortex_server::config::Config {
            demo_shop: true,
            ..test_config(dir.path())
        },
        dir,
    )
    .await;
    let admin = hub.setup_admin().await;
    for _ in 0..100 {
        if hub.app.services.mutations.current().set.revision > 0 {
            return (hub, admin);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the demo storefront was not seeded");
}

/// An editor, as the service layer sees one.
fn editor_principal() -> cortex_core::user::Principal {
    cortex_core::user::Principal {
        actor: "user:ed".into(),
        role: Role::Editor,
        user_id: None,
    }
}

/// The demo hub, a viewer's token and an editor's token.
async fn shop_hub() -> (Hub, String, String) {
    let (hub, admin) = demo_hub().await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    let editor = hub.token(&admin, "editor", Role::Editor).await;
    (hub, viewer, editor)
}

async fn apply(hub: &Hub, token: &str, body: Value) -> Value {
    let res = plain()
        .post(hub.url(APPLY))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::OK).await
}

fn order(applied: &Value) -> Vec<String> {
    applied["layout"]["root"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

fn variant_of(applied: &Value, rule: &str) -> Option<String> {
    applied["exposures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ruleId"] == rule)
        .and_then(|e| e["variantKey"].as_str().map(str::to_string))
}

#[tokio::test]
async fn visitors_get_their_own_layouts_and_keep_their_variant_across_devices() {
    let (hub, viewer, _) = shop_hub().await;
    let desktop = apply(
        &hub,
        &viewer,
        json!({"pageSlug": "home", "context": {"anonymousId": "a1", "userAgent": DESKTOP}}),
    )
    .await;
    let mobile = apply(
        &hub,
        &viewer,
        json!({"pageSlug": "home", "context": {"anonymousId": "a1", "userAgent": IPHONE}}),
    )
    .await;
    assert_eq!(order(&desktop)[0], "hero", "desktop keeps the base order");
    assert_eq!(order(&mobile)[0], "offer", "mobile gets the offer first");
    assert!(desktop["revision"].as_u64().unwrap() > 0);

    // Quiz answers, journey stage and source change their modules.
    let coast = apply(
        &hub,
        &viewer,
        json!({"pageSlug": "home", "context": {
        "anonymousId": "a2", "journeyStage": "returning", "quiz": {"hike": "Coast"},
        "url": "/shop?utm_source=newsletter&utm_medium=email"}}),
    )
    .await;
    let children = coast["layout"]["root"]["children"].as_array().unwrap();
    let node = |id: &str| children.iter().find(|c| c["id"] == id).unwrap();
    assert!(node("testimonials")["props"]["quotes"][0]["by"]
        .as_str()
        .unwrap()
        .contains("Penzance"));
    assert_eq!(node("quiz")["hidden"], true);
    assert_eq!(node("offer")["props"]["code"], "WELCOME10");

    // Many visitors: each keeps their variant; both variants occur; an identified visitor has
    // the same variant on every device.
    let mut seen = std::collections::HashSet::new();
    for i in 0..40 {
        let ctx = |ua: &str| json!({"pageSlug": "home", "context": {"userId": format!("user-{i}"), "anonymousId": format!("device-{i}-{ua}"), "userAgent": ua}});
        let a = variant_of(
            &apply(&hub, &viewer, ctx(DESKTOP)).await,
            "hero-headline-test",
        );
        let b = variant_of(
            &apply(&hub, &viewer, ctx(IPHONE)).await,
            "hero-headline-test",
        );
        assert!(a.is_some());
        assert_eq!(a, b, "user-{i} changes variant with the device");
        seen.insert(a.unwrap());
    }
    assert_eq!(seen.len(), 2, "both variants are served: {seen:?}");

    // The explain trace says what each rule did.
    let explained = apply(
        &hub,
        &viewer,
        json!({"pageSlug": "home", "context": {"userAgent": DESKTOP}, "explain": true}),
    )
    .await;
    let trace = explained["trace"].as_array().unwrap();
    let mobile_rule = trace
        .iter()
        .find(|t| t["ruleId"] == "mobile-offer-first")
        .unwrap();
    assert_eq!(mobile_rule["outcome"], "notTargeted", "{mobile_rule}");
    assert!(desktop.get("trace").is_none(), "no trace unless asked");
}

/// `apply` serialises an answer once per rule set and decisions, and reuses it for every
/// visitor whose rules decide alike: a reused answer must be what resolving afresh gives
/// (`explain` always resolves afresh), and a rule change must start afresh.
#[tokio::test]
async fn reused_answers_match_fresh_ones_and_follow_rule_changes() {
    let (hub, viewer, _) = shop_hub().await;
    let context = |i: usize| {
        let stage = ["browsing", "returning", "browsing"][i % 3];
        let agent = if i.is_multiple_of(2) { DESKTOP } else { IPHONE };
        json!({"anonymousId": format!("r{i}"), "userAgent": agent, "journeyStage": stage})
    };
    let mut seen = std::collections::HashSet::new();
    for i in 0..30 {
        let reused = apply(
            &hub,
            &viewer,
            json!({"pageSlug": "home", "context": context(i)}),
        )
        .await;
        let mut fresh = apply(
            &hub,
            &viewer,
            json!({"pageSlug": "home", "context": context(i), "explain": true}),
        )
        .await;
        assert!(fresh.as_object_mut().unwrap().remove("trace").is_some());
        assert_eq!(reused, fresh, "visitor r{i}");
        seen.insert(reused.to_string());
    }
    // Thirty visitors, far fewer distinct answers: most were reused.
    assert!(
        seen.len() > 1 && seen.len() < 15,
        "{} distinct answers",
        seen.len()
    );
    assert!(variant_of(
        &apply(
            &hub,
            &viewer,
            json!({"pageSlug": "home", "context": context(0)})
        )
        .await,
        "hero-headline-test"
    )
    .is_some());
    hub.app
        .services
        .mutations
        .set_active("hero-headline-test", false, &editor_principal())
        .await
        .unwrap();
    for i in 0..6 {
        let after = apply(
            &hub,
            &viewer,
            json!({"pageSlug": "home", "context": context(i)}),
        )
        .await;
        assert_eq!(
            variant_of(&after, "hero-headline-test"),
            None,
            "visitor r{i}: {after}"
        );
    }
}

#[tokio::test]
async fn apply_refuses_bad_input_and_unknown_callers() {
    let (hub, viewer, _) = shop_hub().await;
    let body = json!({"pageSlug": "home", "context": {}});
    // No credentials; a wrong neuron token; a publishable key from an unlisted origin.
    let res = plain()
        .post(hub.url(APPLY))
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = plain()
        .post(hub.url(APPLY))
        .bearer_auth("ctn_forged")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = plain()
        .post(hub.url(APPLY))
        .header("x-cortex-publishable-key", "pk_nope")
        .header("origin", "https://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let post = |b: Vec<u8>| {
        plain()
            .post(hub.url(APPLY))
            .bearer_auth(&viewer)
            .header("content-type", "application/json")
            .body(b)
            .send()
    };
    let msg = expect_error(
        post(b"{\"pageSlug\":".to_vec()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.contains("apply request"), "{msg}");
    let msg = expect_error(
        post(br#"{"pageSlug":"home","contxt":{}}"#.to_vec())
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.contains("contxt"), "unknown fields are named: {msg}");
    let msg = expect_error(
        post(br#"{"pageSlug":"nowhere"}"#.to_vec()).await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(msg.contains("nowhere"), "{msg}");
    let big = json!({"pageSlug": "home", "context": {"custom": {"blob": "x".repeat(20_000)}}});
    expect_error(
        post(serde_json::to_vec(&big).unwrap()).await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
}

#[tokio::test]
async fn a_neuron_resolves_pages_with_its_token() {
    let (hub, _, _) = shop_hub().await;
    hub.app
        .services
        .federation
        .set_join_policy(
            &cortex_core::federation::JoinPolicy {
                mode: cortex_core::federation::JoinMode::Open,
                ..Default::default()
            },
            &common::admin_principal(),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = NeuronKey::load_or_create(&dir.path().join("neuron.key")).unwrap();
    let joined = HubClient::new(&hub.app.url(), None)
        .unwrap()
        .register(
            &Registration {
                id: "web-1".into(),
                slug: "web".into(),
                kind: "api-service".into(),
                version: "1.0.0".into(),
                capabilities: vec![],
                tags: vec![],
                region: None,
                endpoint: None,
                public_key: key.public_key(),
                fingerprints: Default::default(),
            },
            &key,
        )
        .await
        .unwrap();
    let applied = apply(&hub, &joined.token.unwrap(), json!({"pageSlug": "sale"})).await;
    assert_eq!(applied["layout"]["root"]["props"]["title"], "Winter sale");
}

#[tokio::test]
async fn rules_are_versioned_validated_rolled_back_and_broken_ones_skipped() {
    let (hub, viewer, _) = shop_hub().await;
    let m = &hub.app.services.mutations;
    let rule = |headline: &str| -> cortex_core::mutation::LayoutMutation {
        serde_json::from_value(json!({
            "id": "sale-headline", "layoutId": "sale", "pageSlug": "sale", "moduleId": "hero", "layer": "module",
            "mutationType": "props", "mutationPayload": {"target": "hero", "patch": {"headline": headline}},
            "createdBy": "x", "timestamp": "2026-11-29T00:00:00Z", "isActive": true
        }))
        .unwrap()
    };
    let headline = |v: &Value| {
        v["layout"]["root"]["children"][0]["props"]["headline"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let v1 = m
        .save_rule(rule("First"), Head::Any, &editor_principal())
        .await
        .unwrap();
    assert_eq!((v1.rule.version, v1.rule.rollback_pointer), (1, None));
    let v2 = m
        .save_rule(rule("Second"), Head::Version(1), &editor_principal())
        .await
        .unwrap();
    assert_eq!((v2.rule.version, v2.rule.rollback_pointer), (2, Some(1)));
    assert!(v2.revision > v1.revision);
    let page = json!({"pageSlug": "sale"});
    assert_eq!(
        headline(&apply(&hub, &viewer, page.clone()).await),
        "Second"
    );

    // Rolling back restores exactly the version replaced, as a new version.
    let v3 = m
        .rollback_rule("sale-headline", None, &editor_principal())
        .await
        .unwrap();
    assert_eq!((v3.rule.version, v3.rule.rollback_pointer), (3, Some(2)));
    assert_eq!(v3.rule.payload, v1.rule.payload);
    assert_eq!(headline(&apply(&hub, &viewer, page.clone()).await), "First");
    let history = hub
        .app
        .services
        .store
        .rule_history("sale-headline")
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|v| v.rule.version).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );

    // Deactivate, delete and restore are versions too.
    m.set_active("sale-headline", false, &editor_principal())
        .await
        .unwrap();
    assert_eq!(
        headline(&apply(&hub, &viewer, page.clone()).await),
        "Winter sale: up to 40 % off"
    );
    m.set_deleted("sale-headline", true, &editor_principal())
        .await
        .unwrap();
    assert!(
        m.set_active("sale-headline", true, &editor_principal())
            .await
            .is_err(),
        "a deleted rule cannot be switched on"
    );
    m.set_deleted("sale-headline", false, &editor_principal())
        .await
        .unwrap();
    m.set_active("sale-headline", true, &editor_principal())
        .await
        .unwrap();
    assert_eq!(headline(&apply(&hub, &viewer, page.clone()).await), "First");

    // Saving names the bad field: a target not in the layout, a condition that does not parse.
    let mut bad = rule("x");
    bad.payload = serde_json::from_value(
        json!({"mutationType": "hide", "mutationPayload": {"target": "no-such-node"}}),
    )
    .unwrap();
    let e = m
        .save_rule(bad, Head::Any, &editor_principal())
        .await
        .unwrap_err();
    assert!(
        e.message.starts_with("mutationPayload.target:"),
        "{}",
        e.message
    );
    let mut bad = rule("x");
    bad.conditions = json!({"age": {"$between": 3}});
    assert!(m
        .save_rule(bad, Head::Any, &editor_principal())
        .await
        .unwrap_err()
        .message
        .starts_with("conditions:"));

    // A new base layout without the hero: the rule is flagged and skipped, the page renders.
    let mut layout = m.current().layout("sale").unwrap().clone();
    layout.root.children.retain(|c| c.id.as_str() != "hero");
    m.save_layout(layout, &editor_principal()).await.unwrap();
    assert!(m.current().broken.contains_key("sale-headline"));
    let applied = apply(&hub, &viewer, page).await;
    assert_eq!(applied["layout"]["root"]["children"][0]["id"], "products");
    let warnings = applied["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("sale-headline")),
        "{warnings:?}"
    );

    // Every change is audited.
    let audit = hub
        .app
        .services
        .store
        .list_audit(&cortex_core::audit::AuditQuery {
            target: Some("layout-mutation:sale-headline".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.record.action.as_str()).collect();
    assert!(
        actions.contains(&"layout-mutation.rollback")
            && actions.contains(&"layout-mutation.restore"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn pages_render_from_the_snapshot_when_the_database_is_gone() {
    let (hub, _, _) = shop_hub().await;
    let snapshot = hub._dir.path().join("layout-snapshot.json");
    assert!(snapshot.exists(), "the rule set is written to the snapshot");
    // A fresh service over a database that cannot be reached still serves the pages.
    let store = cortex_server::store::open(
        &cortex_server::config::Config {
            database_url: Some(secrecy::SecretString::from(
                "postgres://nobody@127.0.0.1:1/none",
            )),
            ..test_config(hub._dir.path())
        },
        None,
    )
    .unwrap();
    let offline = cortex_server::mutations::Mutations::new(store, Some(snapshot), None);
    let applied = offline
        .apply(
            &cortex_core::rules::ApplyRequest {
                page_slug: "home".into(),
                context: serde_json::from_value(json!({"userAgent": IPHONE})).unwrap(),
                ..Default::default()
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(applied.layout.root.children[0].id.as_str(), "offer");
}

#[tokio::test]
async fn the_storefront_renders_mutations_on_the_server() {
    let (hub, _, _) = shop_hub().await;
    let page = |ua: &'static str| {
        let url = hub.url("/shop?hike=Coast");
        async move {
            let res = plain()
                .get(url)
                .header("user-agent", ua)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            res.text().await.unwrap()
        }
    };
    let mobile = page(IPHONE).await;
    let desktop = page(DESKTOP).await;
    let first_module = |html: &str| {
        let offer = html.find("data-node=\"offer\"").unwrap();
        let hero = html.find("data-node=\"hero\"").unwrap();
        if offer < hero {
            "offer"
        } else {
            "hero"
        }
    };
    assert_eq!(first_module(&mobile), "offer");
    assert_eq!(first_module(&desktop), "hero");
    assert!(
        desktop.contains("Penzance"),
        "the quiz answer in the query string targets the testimonial"
    );
    assert!(
        desktop.contains("hero-headline-test:"),
        "exposures are in the page"
    );
    let res = plain().get(hub.url("/shop/nowhere")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("unknown page"));
    // Event-triggered rules are not applied on the server; the page carries what the
    // browser needs to apply them (only pages that have such rules).
    let rendered = |html: &str, node: &str, end: &str| {
        let from = html.find(&format!("data-node=\"{node}\"")).unwrap();
        html[from..from + html[from..].find(end).unwrap()].to_string()
    };
    assert!(!rendered(&desktop, "offer", "</aside>").contains("STAY15"));
    assert!(!rendered(&desktop, "footer", "</footer>").contains("free returns"));
    // The waiting rules and the base layout are written into the page's HTML as JSON once,
    // not into its hydration data (escaped again for every visitor).
    let open = "<script type=\"application/json\" id=\"cortex-deferred\">";
    let from = desktop
        .find(open)
        .expect("the page carries its waiting rules")
        + open.len();
    let to = from + desktop[from..].find("</script>").unwrap();
    let embedded: Value = serde_json::from_str(&desktop[from..to]).unwrap();
    assert_eq!(embedded["base"]["pageSlug"], "home");
    assert!(embedded["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == "exit-intent-offer"));
    assert_eq!(
        desktop.matches("exit-intent-offer").count(),
        1,
        "only in the element, not in the hydration data as well"
    );
    let view = |slug: &str| {
        plain()
            .get(hub.url(&format!("/api/shop/page?slug={slug}&query=")))
            .send()
    };
    let home = json_of(view("home").await.unwrap(), StatusCode::OK).await;
    let mut waiting: Vec<&str> = home["deferred"]["page"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["trigger"]["type"] != "pageLoad")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    waiting.sort_unstable();
    assert_eq!(waiting, ["deep-scroll-footer", "exit-intent-offer"]);
    assert_eq!(home["deferred"]["page"]["base"]["pageSlug"], "home");
    assert!(home["deferred"]["context"]["anonymousId"].is_string());
    assert_eq!(home["deferred"]["awaited"].as_array().unwrap().len(), 2);
    let sent: Vec<&str> = home["deferred"]["page"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(sent.contains(&"hero-headline-test"), "{sent:?}");
    assert!(
        !sent.contains(&"returning-hide-quiz") && !sent.contains(&"mobile-offer-first"),
        "only rules that target this visitor are sent: {sent:?}"
    );
    let sale = json_of(view("sale").await.unwrap(), StatusCode::OK).await;
    assert_eq!(sale["deferred"], Value::Null);
    assert_eq!(sale["applied"]["pageSlug"], "sale");
}

#[tokio::test]
async fn neurons_sync_nothing_a_diff_or_everything_and_hubs_import_exports() {
    let (hub, viewer, _) = shop_hub().await;
    let sync = |token: String, body: Value| {
        let c = plain()
            .post(hub.url("/api/layout-mutation/sync"))
            .bearer_auth(token)
            .json(&body);
        async move { c.send().await.unwrap() }
    };
    let full = json_of(
        sync(viewer.clone(), json!({"revision": 0})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(full["kind"], "full");
    let revision = full["revision"].as_u64().unwrap();
    assert_eq!(full["rules"].as_array().unwrap().len(), 8);
    assert_eq!(full["layouts"].as_array().unwrap().len(), 2);
    let same = json_of(
        sync(viewer.clone(), json!({"revision": revision})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(same, json!({"kind": "upToDate", "revision": revision}));

    let m = &hub.app.services.mutations;
    m.set_active("night-theme", false, &editor_principal())
        .await
        .unwrap();
    let diff = json_of(
        sync(viewer.clone(), json!({"revision": revision})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(diff["kind"], "diff", "{diff}");
    assert_eq!(diff["rules"][0]["rule"]["id"], "night-theme");
    assert_eq!(diff["rules"][0]["rule"]["isActive"], false);

    // Bad input and callers.
    let res = plain()
        .post(hub.url("/api/layout-mutation/sync"))
        .json(&json!({"revision": 0}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = sync(viewer.clone(), json!({"revision": "new"})).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = sync(
        viewer.clone(),
        json!({"import": {"revision": 1, "layouts": [], "rules": []}}),
    )
    .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // Another hub imports this one's export; a bad rule is named and nothing is written.
    let (other, _, editor) = shop_hub().await;
    let post = |body: Value| {
        let c = plain()
            .post(other.url("/api/layout-mutation/sync"))
            .bearer_auth(&editor)
            .json(&body);
        async move { c.send().await.unwrap() }
    };
    let mut broken = full.clone();
    broken["rules"][2]["mutationPayload"]["target"] = json!("no-such-node");
    let before = other.app.services.mutations.current().set.revision;
    let msg = expect_error(
        post(json!({"import": broken})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.starts_with("import.rules[2]"), "{msg}");
    assert_eq!(
        other.app.services.mutations.current().set.revision,
        before,
        "nothing was written"
    );
    let mut export = full.clone();
    export.as_object_mut().unwrap().remove("kind");
    export["rules"][0]["priority"] = json!(99);
    let done = json_of(post(json!({"import": export})).await, StatusCode::OK).await;
    assert_eq!(
        (
            done["kind"].as_str(),
            done["rules"].as_u64(),
            done["layouts"].as_u64()
        ),
        (Some("imported"), Some(8), Some(2))
    );
    let imported = other
        .app
        .services
        .store
        .rule_history(full["rules"][0]["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(imported[0].rule.priority, 99);
    assert_eq!(imported[0].rule.version, 2, "an import is a new version");
}

/// The storefront's own views are not held to a neuron's event rate (here 1 event a second,
/// so a burst of a few hundred views was once enough to lose most of them): under a bounded
/// load every view the hub rendered, and every exposure it showed, reaches the database.
#[tokio::test]
async fn a_bounded_load_on_the_storefront_records_every_view() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_with(
        cortex_server::config::Config {
            demo_shop: true,
            neuron_events_per_second: 1,
            ..test_config(dir.path())
        },
        dir,
    )
    .await;
    for _ in 0..100 {
        if hub.app.services.mutations.current().set.revision > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let store = hub.app.services.store.clone();
    let before = store.count_events().await.unwrap();
    const VIEWS: usize = 2_800;
    const AT_ONCE: usize = 16;
    let url = hub.url("/api/shop/page?slug=home&query=");
    let mut tasks = Vec::new();
    for t in 0..AT_ONCE {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let http = plain();
            let mut events = 0u64;
            for i in (t..VIEWS).step_by(AT_ONCE) {
                let res = http
                    .get(&url)
                    .header("cookie", format!("cortex_vid=load{i}"))
                    .header("user-agent", if i % 2 == 0 { DESKTOP } else { IPHONE })
                    .send()
                    .await
                    .unwrap();
                let view = json_of(res, StatusCode::OK).await;
                // The view itself and each exposure it showed.
                events += 1 + view["applied"]["exposures"].as_array().unwrap().len() as u64;
            }
            events
        }));
    }
    let mut expected = 0;
    for t in tasks {
        expected += t.await.unwrap();
    }
    // Well past what a neuron may send at once (its burst: 5,000 events).
    assert!(expected > 6_000, "views showed exposures: {expected}");
    let mut stored = 0;
    for _ in 0..150 {
        stored = store.count_events().await.unwrap() - before;
        if stored >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        stored, expected,
        "every view and exposure of {VIEWS} views is stored"
    );
    let (recorded, shed) = hub.app.services.analytics.own().counts();
    assert_eq!((recorded, shed), (expected, 0));
}

#[tokio::test]
async fn impact_is_counted_per_rule_and_variant_with_intervals() {
    let (hub, viewer, _) = shop_hub().await;
    const REPORT: &str = "/api/layout-mutation/report";
    let origin = hub.url("");
    let origin = origin.trim_end_matches('/');
    // 40 visitors render the home page (the server counts the view and the exposures, and
    // signs a receipt of what it showed each).
    let mut receipts = Vec::new();
    for i in 0..40 {
        let res = plain()
            .get(hub.url("/api/shop/page?slug=home&query="))
            .header("cookie", format!("cortex_vid=v{i}"))
            .header("user-agent", DESKTOP)
            .send()
            .await
            .unwrap();
        let view = json_of(res, StatusCode::OK).await;
        receipts.push(view["receipt"].as_str().unwrap().to_string());
    }
    // Which variant of the headline test each visitor saw.
    let mut variant = Vec::new();
    for i in 0..40 {
        let applied = apply(
            &hub,
            &viewer,
            json!({"pageSlug": "home", "context": {"anonymousId": format!("v{i}"), "userAgent": DESKTOP}}),
        )
        .await;
        variant.push(variant_of(&applied, "hero-headline-test").unwrap());
    }
    // The page itself reports clicks and conversions (same origin, no credential; the
    // visitor cookie is the unit): every visitor clicks, the first 10 also convert.
    for (i, variant) in variant.iter().enumerate() {
        let mut events = vec![
            json!({"kind": "click", "at": chrono::Utc::now(), "pageSlug": "home", "name": "hero",
            "mutationId": "hero-headline-test", "variant": variant, "value": (i % 3 * 11) as f64}),
        ];
        if i < 10 {
            events.push(json!({"kind": "conversion", "at": chrono::Utc::now(), "pageSlug": "home", "name": "add-to-cart",
                "mutationId": "hero-headline-test", "variant": variant}));
            events.push(json!({"kind": "dwell", "at": chrono::Utc::now(), "pageSlug": "home", "value": 1000.0 * (i + 1) as f64,
                "mutationId": "hero-headline-test", "variant": variant}));
            events.push(json!({"kind": "scroll", "at": chrono::Utc::now(), "pageSlug": "home", "value": (i * 10) as f64,
                "mutationId": "hero-headline-test", "variant": variant}));
        }
        let res = plain()
            .post(hub.url(REPORT))
            .header("origin", origin)
            .header("cookie", format!("cortex_vid=v{i}"))
            .body(
                json!({"batchId": format!("b{i}"), "events": events, "receipt": receipts[i]})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        let ack = json_of(res, StatusCode::OK).await;
        assert_eq!(ack["duplicate"], false);
    }
    // Views + exposures from the renders, and the reported events, all stored.
    common::writer_drained(&hub.app.services.store, 40 + 40 + 30).await;
    let mut report = Value::Null;
    for _ in 0..100 {
        let res = plain()
            .get(hub.url(&format!("{REPORT}?rule=hero-headline-test&page=home")))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        report = json_of(res, StatusCode::OK).await;
        let exposed: u64 = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["exposedUnits"].as_u64().unwrap())
            .sum();
        let clicks: u64 = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["clicks"].as_u64().unwrap())
            .sum();
        if exposed == 40 && clicks == 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rows = report["rows"].as_array().unwrap();
    assert!(rows.len() >= 2, "both variants were shown: {report}");
    for row in rows {
        let v = row["variant"].as_str().unwrap();
        let shown = variant.iter().filter(|x| *x == v).count() as u64;
        let converted = variant[..10].iter().filter(|x| *x == v).count() as u64;
        assert_eq!(row["mutationId"], "hero-headline-test");
        assert_eq!(row["exposedUnits"], shown, "{row}");
        assert_eq!(row["clicks"], shown, "{row}");
        assert_eq!(row["convertedUnits"], converted, "{row}");
        let rate = &row["conversionRate"];
        let (value, low, high) = (
            rate["value"].as_f64().unwrap(),
            rate["low"].as_f64().unwrap(),
            rate["high"].as_f64().unwrap(),
        );
        assert!(
            (value - converted as f64 / shown as f64).abs() < 1e-9,
            "{row}"
        );
        assert!(low <= value && value <= high && high - low > 0.05, "{row}");
        assert_eq!(row["dwellCount"], converted, "{row}");
    }
    assert_eq!(
        report["comparisons"].as_array().unwrap().len(),
        rows.len() - 1
    );
    // The experiment's split is checked against its weights (50/50 over a handful of
    // visitors: no mismatch), and GrowthBook's numbers come with each comparison.
    let srm = &report["srm"][0];
    assert_eq!(srm["mutationId"], "hero-headline-test", "{report}");
    assert_eq!(srm["flagged"], false, "{srm}");
    assert!(srm["pValue"].as_f64().unwrap() > 0.001, "{srm}");
    for c in report["comparisons"].as_array().unwrap() {
        if let Some(w) = c.get("chanceToWin") {
            let w = w.as_f64().unwrap();
            assert!((0.0..=1.0).contains(&w), "{c}");
        }
    }
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(report["days"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["day"] == today.as_str() && d["mutationId"] == "hero-headline-test"));
    // Page views have no rule: they are not in the report. Filters narrow it.
    let res = plain()
        .get(hub.url(&format!("{REPORT}?page=sale")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res, StatusCode::OK).await["rows"], json!([]));

    // Bad input and callers.
    let get = |q: &str| {
        plain()
            .get(hub.url(&format!("{REPORT}{q}")))
            .bearer_auth(&viewer)
            .send()
    };
    let msg = expect_error(
        get("?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.contains("from"), "{msg}");
    let msg = expect_error(
        get("?from=yesterday").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.contains("RFC 3339"), "{msg}");
    expect_error(
        get("?colour=red").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let res = plain().get(hub.url(REPORT)).send().await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let post = |origin: Option<&str>, token: Option<&str>, body: String| {
        let mut req = plain().post(hub.url(REPORT)).body(body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let good = json!({"batchId": "x1", "events": [{"kind": "click", "at": chrono::Utc::now()}]})
        .to_string();
    // Another site's page, or no origin at all: no credential.
    let res = post(Some("https://evil.example"), None, good.clone())
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = post(None, None, good.clone()).await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Users read reports; they do not send events.
    let res = post(None, Some(&viewer), good.clone()).await.unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = post(Some(origin), None, "{\"events\": 3}".into())
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = post(
        Some(origin),
        None,
        json!({"batchId": "x2", "events": [{"kind": "stare", "at": chrono::Utc::now()}]})
            .to_string(),
    )
    .await
    .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    // (Bodies over the hub's limit get 413 before any handler: tests/api.rs checks that.)
    // A resent batch counts once.
    let res = post(
        Some(origin),
        None,
        json!({"batchId": "b0", "events": [{"kind": "click", "at": chrono::Utc::now()}], "receipt": receipts[0]})
            .to_string(),
    )
    .await
    .unwrap();
    assert_eq!(json_of(res, StatusCode::OK).await["duplicate"], true);

    // Each click carried the cell of the hero it hit: the rule's page draws them per variant.
    let res = plain()
        .get(hub.url("/api/layout-mutation/rule?id=hero-headline-test"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    let detail = json_of(res, StatusCode::OK).await;
    let heat = &detail["heatmap"];
    let mut total = 0;
    for v in heat["variants"].as_array().unwrap() {
        let hero = v["modules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["node"] == "hero")
            .unwrap();
        let cells: Vec<u64> = hero["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect();
        assert_eq!(cells.len(), 100);
        let shown = variant.iter().filter(|x| **x == v["variant"]).count() as u64;
        assert_eq!(hero["clicks"].as_u64().unwrap(), shown, "{v}");
        assert_eq!(cells[0] + cells[11] + cells[22], shown);
        total += shown;
    }
    assert_eq!(total, 40);
    assert!(heat["max"].as_u64().unwrap() >= 5, "{heat}");
    // The first ten saw 0 %, 10 %, … 90 % of the page: per variant, the share that saw at
    // least each tenth falls from all of them to none.
    let scroll = heat["scroll"]["series"].as_array().unwrap();
    assert!(!scroll.is_empty(), "{heat}");
    for series in scroll {
        let shares: Vec<f64> = series["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(shares.len(), 11);
        assert_eq!((shares[0], shares[10]), (1.0, 0.0), "{series}");
        assert!(shares.windows(2).all(|w| w[0] >= w[1]), "{series}");
    }
    // A depth is a whole percent up to 100.
    let res = plain()
        .post(hub.url(REPORT))
        .header("origin", origin)
        .header("cookie", "cortex_vid=v0")
        .body(
            json!({"batchId": "deep", "events": [{"kind": "scroll", "at": chrono::Utc::now(), "value": 150.0,
                "mutationId": "hero-headline-test", "variant": variant[0]}], "receipt": receipts[0]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let msg = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(msg.contains("deepest percent"), "{msg}");
    // They carry the segment of the page view they belong to, from its receipt.
    let counts = hub
        .app
        .services
        .store
        .segment_counts(
            chrono::Utc::now() - chrono::Duration::hours(1),
            chrono::Utc::now() + chrono::Duration::minutes(1),
        )
        .await
        .unwrap();
    let desktop_clicks: u64 = counts
        .iter()
        .filter(|c| c.kind == "click" && c.segment.starts_with("device:desktop"))
        .map(|c| c.count)
        .sum();
    assert!(desktop_clicks >= 40, "{counts:?}");
}

#[tokio::test]
async fn rules_are_edited_rolled_back_switched_and_restored_over_http() {
    let (hub, viewer, editor) = shop_hub().await;
    let post = |path: &'static str, token: &str, body: Value| {
        plain()
            .post(hub.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let detail = |id: &str| {
        plain()
            .get(hub.url(&format!("/api/layout-mutation/rule?id={id}")))
            .bearer_auth(&viewer)
            .send()
    };
    let d = json_of(detail("returning-hide-quiz").await.unwrap(), StatusCode::OK).await;
    let mut rule = d["row"]["rule"].clone();
    assert_eq!(rule["version"], 1);
    assert_eq!(d["history"].as_array().unwrap().len(), 1);
    assert_eq!(d["history"][0]["diff"], json!([]));

    // A new version from JSON, with the priority changed.
    rule["priority"] = json!(77);
    let saved = json_of(
        post(
            "/api/layout-mutation/save",
            &editor,
            json!({"rule": rule.to_string()}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(saved["rule"]["version"], 2);
    assert_eq!(saved["rule"]["rollbackPointer"], 1);
    assert!(saved["rule"]["createdBy"]
        .as_str()
        .unwrap()
        .starts_with("token:"));
    let d = json_of(detail("returning-hide-quiz").await.unwrap(), StatusCode::OK).await;
    let diff = &d["history"][0]["diff"];
    assert!(
        diff.as_array()
            .unwrap()
            .iter()
            .any(|l| l["tag"] == "-" && l["text"].as_str().unwrap().contains("\"priority\": 0"))
            && diff.as_array().unwrap().iter().any(
                |l| l["tag"] == "+" && l["text"].as_str().unwrap().contains("\"priority\": 77")
            ),
        "{diff}"
    );
    // Off, deleted, restored, and rolled back to version 1.
    let off = json_of(
        post(
            "/api/layout-mutation/set-active",
            &editor,
            json!({"id": "returning-hide-quiz", "active": false}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(off["rule"]["isActive"], false);
    let gone = json_of(
        post(
            "/api/layout-mutation/set-deleted",
            &editor,
            json!({"id": "returning-hide-quiz", "deleted": true}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(gone["deleted"], true);
    let back = json_of(
        post(
            "/api/layout-mutation/set-deleted",
            &editor,
            json!({"id": "returning-hide-quiz", "deleted": false}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(back["deleted"], false);
    let rolled = json_of(
        post(
            "/api/layout-mutation/rollback",
            &editor,
            json!({"id": "returning-hide-quiz", "version": 1}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(rolled["rule"]["version"], 6);
    assert_eq!(rolled["rule"]["priority"], 0);
    assert_eq!(rolled["rule"]["isActive"], true);
    let d = json_of(detail("returning-hide-quiz").await.unwrap(), StatusCode::OK).await;
    assert_eq!(d["history"].as_array().unwrap().len(), 6);
    assert_eq!(d["row"]["rule"]["version"], 6);
    // The rule set in force has it again, as version 6.
    let set = hub.app.services.mutations.current();
    assert_eq!(
        set.set
            .rules
            .iter()
            .find(|r| r.id == "returning-hide-quiz")
            .unwrap()
            .version,
        6
    );

    // Bad input and callers.
    let msg = expect_error(
        post(
            "/api/layout-mutation/save",
            &editor,
            json!({"rule": "{\"id\": 3}"}),
        )
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.starts_with("rule:"), "{msg}");
    let mut wrong = rule.clone();
    wrong["mutationPayload"] = json!({"target": "no-such-node"});
    let msg = expect_error(
        post(
            "/api/layout-mutation/save",
            &editor,
            json!({"rule": wrong.to_string()}),
        )
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.contains("no-such-node"), "{msg}");
    expect_error(
        post(
            "/api/layout-mutation/save",
            &viewer,
            json!({"rule": rule.to_string()}),
        )
        .await
        .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // A save of what was read at version 1 (the rule is at 6 now) writes nothing.
    let msg = expect_error(
        post(
            "/api/layout-mutation/save",
            &editor,
            json!({"rule": rule.to_string()}),
        )
        .await
        .unwrap(),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(msg.contains("version 6, not 1"), "{msg}");
    let d = json_of(detail("returning-hide-quiz").await.unwrap(), StatusCode::OK).await;
    assert_eq!(d["row"]["rule"]["version"], 6);
    assert_eq!(d["row"]["rule"]["priority"], 0);
    expect_error(
        post(
            "/api/layout-mutation/rollback",
            &editor,
            json!({"id": "returning-hide-quiz", "version": 99}),
        )
        .await
        .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        post(
            "/api/layout-mutation/set-active",
            &editor,
            json!({"id": "nope", "active": true}),
        )
        .await
        .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        detail("nope").await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = plain()
        .get(hub.url("/api/layout-mutation/rule"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
}

#[tokio::test]
async fn mutations_are_switched_off_per_module_and_per_page() {
    let (hub, viewer, editor) = shop_hub().await;
    let switch = |token: &str, body: Value| {
        plain()
            .post(hub.url("/api/layout-mutation/switch"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let phone = json!({"pageSlug": "home", "context": {"anonymousId": "s1", "userAgent": IPHONE}, "explain": true});
    let before = apply(&hub, &viewer, phone.clone()).await;
    assert!(variant_of(&before, "hero-headline-test").is_some());
    assert_eq!(order(&before)[0], "offer");

    // The hero is switched off: the headline test leaves it alone, other rules still apply.
    let pages = json_of(
        switch(
            &editor,
            json!({"page": "home", "node": "hero", "off": true}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let hero = pages["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "hero")
        .unwrap()
        .clone();
    assert_eq!(
        (hero["off"].clone(), hero["own"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(pages["layoutVersion"], 2);
    let now = apply(&hub, &viewer, phone.clone()).await;
    let entry = now["trace"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["ruleId"] == "hero-headline-test")
        .unwrap()
        .clone();
    assert_eq!(entry["outcome"], "skipped", "{entry}");
    assert_eq!(
        entry["reason"],
        json!({"reason": "locked", "node": "hero"}),
        "{entry}"
    );
    assert!(
        variant_of(&now, "hero-headline-test").is_none(),
        "no exposure for a skipped rule"
    );
    assert_eq!(
        order(&now)[0],
        "offer",
        "the reorder of another module still applies"
    );

    // The whole page off: nothing applies. Then on again.
    json_of(
        switch(
            &editor,
            json!({"page": "home", "node": "page", "off": true}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let off = apply(&hub, &viewer, phone.clone()).await;
    assert_eq!(off["exposures"], json!([]), "{off}");
    assert_eq!(order(&off)[0], "hero");
    json_of(
        switch(
            &editor,
            json!({"page": "home", "node": "page", "off": false}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    json_of(
        switch(
            &editor,
            json!({"page": "home", "node": "hero", "off": false}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let again = apply(&hub, &viewer, phone).await;
    assert_eq!(
        variant_of(&again, "hero-headline-test"),
        variant_of(&before, "hero-headline-test")
    );
    assert_eq!(again["layoutVersion"], 5);
    // The switches list says where mutations are off; each switch is audited.
    let res = plain()
        .get(hub.url("/api/layout-mutation/pages"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    let pages = json_of(res, StatusCode::OK).await;
    assert!(pages.as_array().unwrap().iter().all(|p| p["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["off"] == false)));
    let audit = hub
        .app
        .services
        .store
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("layout.save".into()),
            actor: Some("token:".into()),
            limit: Some(50),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 4, "one audit entry per switch");

    // Bad input and callers.
    expect_error(
        switch(
            &editor,
            json!({"page": "home", "node": "ghost", "off": true}),
        )
        .await
        .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        switch(
            &editor,
            json!({"page": "nowhere", "node": "hero", "off": true}),
        )
        .await
        .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        switch(
            &viewer,
            json!({"page": "home", "node": "hero", "off": true}),
        )
        .await
        .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        switch(&editor, json!({"page": "home", "node": "hero"}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
}

#[tokio::test]
async fn the_new_rule_form_creates_a_rule_on_a_picked_node() {
    let (hub, viewer, editor) = shop_hub().await;
    let create = |token: &str, body: Value| {
        plain()
            .post(hub.url("/api/layout-mutation/create"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let form = json!({"id": "de-footer", "target": "home:footer", "kind": "props", "patch": "{\"text\": \"Hallo\"}",
        "c1_attr": "locale", "c1_op": "is", "c1_value": "de", "c2_attr": "", "c2_op": "is", "c2_value": "",
        "conditions": "", "priority": "3", "layer": "module"});
    let saved = json_of(create(&editor, form.clone()).await.unwrap(), StatusCode::OK).await;
    assert_eq!(saved["rule"]["version"], 1);
    let german = apply(
        &hub,
        &viewer,
        json!({"pageSlug": "home", "context": {"locale": "de"}}),
    )
    .await;
    let footer = german["layout"]["root"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "footer")
        .unwrap()
        .clone();
    assert_eq!(footer["props"]["text"], "Hallo");
    // The id must be new; a node not in the page is refused with the field named.
    expect_error(
        create(&editor, form.clone()).await.unwrap(),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let mut ghost = form.clone();
    ghost["id"] = json!("ghost");
    ghost["target"] = json!("home:ghost");
    let msg = expect_error(
        create(&editor, ghost).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.contains("ghost"), "{msg}");
    let mut bad = form.clone();
    bad["id"] = json!("bad");
    bad["patch"] = json!("not json");
    let msg = expect_error(
        create(&editor, bad).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.starts_with("patch"), "{msg}");
    expect_error(
        create(&viewer, form).await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn the_rule_form_edits_experiments_schedules_and_refuses_stale_versions() {
    let (hub, viewer, editor) = shop_hub().await;
    let post = |path: &'static str, token: &str, body: Value| {
        plain()
            .post(hub.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    // A variant rule with weights, a schedule, a trigger and condition rows, from the form.
    let form = json!({"id": "sale-grid-test", "target": "sale:products", "kind": "variant", "layer": "module",
        "c1_attr": "device", "c1_op": "in", "c1_value": "mobile, tablet",
        "trigger": "timeOnPage", "trigger_value": "30",
        "start": "2026-01-01T00:00", "time_zone": "Europe/Berlin", "w1_days": "mon-sun", "w1_from": "00:00", "w1_to": "24:00",
        "experiment": "grid-title", "v1_key": "control", "v1_weight": "25", "v1_op": "none",
        "v2_key": "short", "v2_weight": "75", "v2_op": "props", "v2_value": "{\"title\": \"Deals\"}"});
    let created = json_of(
        post("/api/layout-mutation/create", &editor, form.clone())
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let rule = &created["rule"];
    assert_eq!(
        rule["conditions"],
        json!({"device": {"$in": ["mobile", "tablet"]}})
    );
    assert_eq!(
        rule["trigger"],
        json!({"type": "timeOnPage", "seconds": 30})
    );
    assert_eq!(
        rule["schedule"]["recurring"][0]["days"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    assert_eq!(rule["experiment"]["variants"][1]["weight"], 0.75);

    // The rule page fills the form from the rule; the form gives back the same rule.
    let detail = |id: &str| {
        plain()
            .get(hub.url(&format!("/api/layout-mutation/rule?id={id}")))
            .bearer_auth(&viewer)
            .send()
    };
    let d = json_of(detail("sale-grid-test").await.unwrap(), StatusCode::OK).await;
    let filled = d["form"].clone();
    assert_eq!(filled["base_version"], "1");
    assert_eq!(filled["v2_value"], "{\"title\":\"Deals\"}");
    assert_eq!(filled["c1_value"], "mobile, tablet");

    // Switched off, then edited with the form: a new version that stays off.
    json_of(
        post(
            "/api/layout-mutation/set-active",
            &editor,
            json!({"id": "sale-grid-test", "active": false}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let mut edit = filled.clone();
    edit["base_version"] = json!("2");
    edit["v1_weight"] = json!("50");
    edit["v2_weight"] = json!("50");
    let saved = json_of(
        post("/api/layout-mutation/update", &editor, edit.clone())
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(saved["rule"]["version"], 3);
    assert_eq!(saved["rule"]["isActive"], false);
    assert_eq!(saved["rule"]["experiment"]["variants"][0]["weight"], 0.5);
    assert_eq!(
        saved["rule"]["trigger"]["seconds"], 30,
        "the rest is unchanged"
    );

    // The form was filled from version 1: someone saved since, so nothing is saved.
    let msg = expect_error(
        post("/api/layout-mutation/update", &editor, filled.clone())
            .await
            .unwrap(),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(msg.contains("now version 3"), "{msg}");
    // Wrong fields are named; viewers may not edit; unknown rules are 404.
    let mut bad = edit.clone();
    bad["base_version"] = json!("3");
    bad["v2_weight"] = json!("20");
    let msg = expect_error(
        post("/api/layout-mutation/update", &editor, bad)
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(
        msg.starts_with("v1_weight: the weights add up to 70.00 %"),
        "{msg}"
    );
    let mut bad = edit.clone();
    bad["base_version"] = json!("3");
    bad["w1_to"] = json!("25:00");
    let msg = expect_error(
        post("/api/layout-mutation/update", &editor, bad)
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.starts_with("w1_to"), "{msg}");
    let mut bad = edit.clone();
    bad["base_version"] = json!("");
    expect_error(
        post("/api/layout-mutation/update", &editor, bad)
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let mut ghost = edit.clone();
    ghost["id"] = json!("no-such-rule");
    expect_error(
        post("/api/layout-mutation/update", &editor, ghost)
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        post("/api/layout-mutation/update", &viewer, edit)
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // A rule too rich for the form (a seeded experiment) is edited as JSON: no form. The
    // JSON is the newest version's (a save of an older one is refused, as the form's is).
    let mut seeded = json_of(detail("sale-grid-test").await.unwrap(), StatusCode::OK).await["row"]
        ["rule"]
        .clone();
    assert_eq!(seeded["version"], 3);
    seeded["experiment"]["seed"] = json!("s1");
    json_of(
        post(
            "/api/layout-mutation/save",
            &editor,
            json!({"rule": seeded.to_string()}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let d = json_of(detail("sale-grid-test").await.unwrap(), StatusCode::OK).await;
    assert!(d["form"].is_null(), "{}", d["form"]);
    // Every version was audited.
    let audit = hub
        .app
        .services
        .store
        .list_audit(&cortex_core::audit::AuditQuery {
            target: Some("layout-mutation:sale-grid-test".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let saves = audit
        .iter()
        .filter(|a| a.record.action == "layout-mutation.save")
        .count();
    assert_eq!(saves, 3, "create, form edit and JSON save: {audit:?}");
}

#[tokio::test]
async fn a_preview_shows_the_page_for_a_described_visitor_with_the_trace() {
    let (hub, viewer, _) = shop_hub().await;
    let preview = |q: &str| {
        plain()
            .get(hub.url(&format!("/api/layout-mutation/preview?{q}")))
            .bearer_auth(&viewer)
            .send()
    };
    let p = json_of(
        preview("page=home&device=mobile&at=2026-11-29T23:15&utm=utm_medium%3Demail")
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(order(&json!({"layout": p["base"]}))[0], "hero");
    assert_eq!(order(&p["applied"])[0], "offer");
    assert_eq!(
        p["applied"]["layout"]["root"]["props"]["theme"], "night",
        "23:15 UTC is night"
    );
    let outcome = |id: &str| {
        p["applied"]["trace"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["ruleId"] == id)
            .unwrap()["outcome"]
            .clone()
    };
    assert_eq!(outcome("mobile-offer-first"), "applied");
    assert_eq!(outcome("newsletter-code"), "applied");
    assert_eq!(outcome("exit-intent-offer"), "triggerNotFired");
    assert_eq!(outcome("returning-hide-quiz"), "notTargeted");
    assert_eq!(p["context"]["device"], "mobile");
    let p = json_of(
        preview("at=2026-11-29T10:00").await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(
        p["applied"]["layout"]["root"]["props"]
            .get("theme")
            .is_none(),
        "the morning has no night theme"
    );
    // What the visitor then did: rules waiting for it apply.
    let p = json_of(preview("did=exitIntent").await.unwrap(), StatusCode::OK).await;
    let offer = p["applied"]["layout"]["root"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "offer")
        .unwrap()
        .clone();
    assert_eq!(offer["props"]["code"], "STAY15");
    let msg = expect_error(
        preview("did=sneezed").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.starts_with("did"), "{msg}");
    // Neurons report events to apply the same way.
    let after = apply(
        &hub,
        &viewer,
        json!({"pageSlug": "home", "events": [{"type": "scrollDepth", "percent": 95}], "explain": true}),
    )
    .await;
    let footer = after["layout"]["root"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "footer")
        .unwrap()
        .clone();
    assert!(footer["props"]["text"]
        .as_str()
        .unwrap()
        .contains("free returns"));
    let res = plain()
        .post(hub.url(APPLY))
        .bearer_auth(&viewer)
        .json(&json!({"pageSlug": "home", "events": vec![json!({"type": "exitIntent"}); 51]}))
        .send()
        .await
        .unwrap();
    let msg = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(msg.starts_with("events"), "{msg}");

    // Bad input and callers.
    let msg = expect_error(
        preview("device=fridge").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.starts_with("device"), "{msg}");
    let msg = expect_error(
        preview("at=teatime").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.starts_with("at"), "{msg}");
    expect_error(
        preview("page=nowhere").await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = plain()
        .get(hub.url("/api/layout-mutation/preview"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// The browser hydrates an admin page from the data the server serialised into it, numbered
/// in the order the page creates its resources, so the server must build the page once. It
/// used to build it once per run of the admin shell's suspense (three times): every resource
/// was fetched three times, the HTML came from the last fetch and the browser hydrated from
/// the first, and data that changed in between (an exposure arriving) broke hydration.
#[tokio::test]
async fn an_admin_page_is_built_once_on_the_server() {
    let (hub, admin) = demo_hub().await;
    // The signed-in user, then the page's own resources.
    for (path, resources, shown) in [
        ("/admin", 2, "needs-you"),
        ("/admin/layout-mutations", 4, "hero-headline-test"),
        (
            "/admin/layout-mutations/hero-headline-test",
            3,
            "rule-impact",
        ),
        (
            "/admin/layout-mutations/preview?device=mobile",
            2,
            "preview-visitor",
        ),
        ("/admin/federation", 10, "join-policy"),
        ("/admin/audit", 2, "audit-table"),
        ("/admin/users", 4, "tokens"),
        ("/admin/status", 2, "Audit chain"),
    ] {
        let res = admin.get(hub.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let html = res.text().await.unwrap();
        assert!(html.contains(shown), "{path} renders its data");
        assert_eq!(
            html.matches("__RESOLVED_RESOURCES[").count(),
            resources,
            "{path}: each resource serialised once"
        );
    }
}

/// A rule's text is shown inside `<textarea>`s on its page (the JSON editor, the conditions
/// box). Text that closes the textarea must stay text, and an id that cannot go into a URL
/// is refused.
#[tokio::test]
async fn a_rule_cannot_break_out_of_the_editor_on_its_page() {
    let (hub, admin) = demo_hub().await;
    let save = |rule: serde_json::Value| {
        admin
            .post(hub.url("/api/layout-mutation/save"))
            .json(&json!({"rule": rule.to_string()}))
            .send()
    };
    let rule = |id: &str, persona: &str| {
        json!({
            "id": id, "layoutId": "sale", "pageSlug": "sale", "mutationType": "props",
            "mutationPayload": {"target": "footer", "patch": {"text": "hi"}},
            "conditions": {"persona": persona}, "layer": "module", "moduleId": "footer",
            "priority": 0, "trigger": {"type": "pageLoad"},
        })
    };
    let hostile = "</textarea><h1 id=INJECTED>pwned</h1><textarea>";
    json_of(
        save(rule("ta-break", hostile)).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let html = admin
        .get(hub.url("/admin/layout-mutations/ta-break"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("rule-editor"), "the page rendered");
    assert!(
        !html.contains("<h1 id=INJECTED>"),
        "the textarea was broken out of"
    );
    assert!(html.contains("&lt;/textarea&gt;&lt;h1 id=INJECTED&gt;"));
    for id in ["a/b", "<script>", "a\r\nb", ""] {
        let msg = expect_error(
            save(rule(id, "x")).await.unwrap(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
        assert!(msg.contains("id"), "{id:?}: {msg}");
    }
}

/// Stores `exposed` exposures of `variant` of rule `rule`, of which `converted` convert, as
/// if the storefront had reported them (one batch, straight into the store).
async fn experiment_events(hub: &Hub, rule: &str, variant: &str, exposed: u32, converted: u32) {
    use cortex_core::analytics::{Event, EventKind};
    let now = chrono::Utc::now();
    let event = |kind, unit: u32| Event {
        kind,
        at: now,
        unit: Some(format!("{variant}-{unit}")),
        page_slug: Some("home".into()),
        mutation_id: Some(rule.into()),
        variant: Some(variant.into()),
        name: None,
        value: None,
        ..serde_json::from_value(json!({"kind": "exposure", "at": now})).unwrap()
    };
    let mut events: Vec<Event> = (0..exposed)
        .map(|u| event(EventKind::Exposure, u))
        .collect();
    events.extend((0..converted).map(|u| event(EventKind::Conversion, u)));
    store_events(hub, events).await;
}

/// Stores `events` as one batch from a test neuron.
async fn store_events(hub: &Hub, events: Vec<cortex_core::analytics::Event>) {
    let batch = cortex_server::store::events::SpooledBatch {
        neuron_id: "test".into(),
        received_at: chrono::Utc::now(),
        batch: cortex_core::analytics::EventBatch {
            batch_id: uuid::Uuid::new_v4().to_string(),
            events,
            receipt: None,
        },
    };
    hub.app
        .services
        .store
        .write_event_batches(&[batch])
        .await
        .unwrap();
}

#[tokio::test]
async fn an_experiment_is_compared_adjusted_by_what_its_visitors_did_before_it() {
    use cortex_core::analytics::{Event, EventKind};
    let (hub, admin) = demo_hub().await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    let m = &hub.app.services.mutations;
    m.save_rule_json(
        json!({"id": "history-test", "layoutId": "home", "pageSlug": "home", "layer": "module",
            "mutationType": "variant", "mutationPayload": {}, "moduleId": "hero",
            "experiment": {"key": "history-test", "variants": [
                {"key": "control", "weight": 0.5},
                {"key": "bold", "weight": 0.5, "payload": [{"op": "props", "target": "hero", "patch": {"headline": "BOLD"}}]}
            ]}}),
        Head::Absent,
        &editor_principal(),
    )
    .await
    .unwrap();
    // 400 visitors an arm; the first 200 of each bought something (no rule) two hours
    // before they saw the experiment, and those convert far more often on it.
    let now = chrono::Utc::now();
    let event = |kind, at, unit: String, rule: Option<&str>, variant: Option<&str>| Event {
        kind,
        at,
        unit: Some(unit),
        page_slug: Some("home".into()),
        mutation_id: rule.map(str::to_string),
        variant: variant.map(str::to_string),
        ..serde_json::from_value(json!({"kind": "exposure", "at": now})).unwrap()
    };
    let mut events = Vec::new();
    for (variant, returning, new) in [("control", 100, 20), ("bold", 120, 40)] {
        for u in 0..400 {
            let unit = format!("{variant}-{u}");
            if u < 200 {
                events.push(event(
                    EventKind::Conversion,
                    now - chrono::Duration::hours(2),
                    unit.clone(),
                    None,
                    None,
                ));
            }
            events.push(event(
                EventKind::Exposure,
                now,
                unit.clone(),
                Some("history-test"),
                Some(variant),
            ));
            if (u < 200 && u < returning) || (u >= 200 && u - 200 < new) {
                events.push(event(
                    EventKind::Conversion,
                    now,
                    unit,
                    Some("history-test"),
                    Some(variant),
                ));
            }
        }
    }
    store_events(&hub, events).await;

    let res = plain()
        .get(hub.url("/api/layout-mutation/report?rule=history-test"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    let report = json_of(res, StatusCode::OK).await;
    let c = &report["comparisons"][0];
    assert_eq!(c["variant"], "bold", "{report}");
    assert_eq!(c["cuped"]["visitors"], 800, "{c}");
    assert_eq!(c["cuped"]["withHistory"], 400, "{c}");
    let narrower = c["cuped"]["narrower"].as_f64().unwrap();
    assert!(narrower > 0.05, "history predicts conversion here: {c}");
    // The same counts over a range in the past are not adjusted.
    let to = (now + chrono::Duration::milliseconds(500))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = plain()
        .get(hub.url(&format!(
            "/api/layout-mutation/report?rule=history-test&to={to}"
        )))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    let past = json_of(res, StatusCode::OK).await;
    assert!(past["comparisons"][0].get("cuped").is_none(), "{past}");
    let plain_width = |c: &Value| {
        c["relativeLift"]["high"].as_f64().unwrap() - c["relativeLift"]["low"].as_f64().unwrap()
    };
    assert!(plain_width(c) < plain_width(&past["comparisons"][0]));

    // The experiments page says so.
    let page = admin
        .get(hub.url("/admin/experiments"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-cuped=\"\""), "{page}");
    assert!(page.contains("400 of 800 visitors"), "{page}");
}

#[tokio::test]
async fn experiments_with_an_auto_policy_decide_themselves_and_each_decision_undoes_in_one_step() {
    let (hub, admin) = demo_hub().await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    let editor = hub.token(&admin, "editor", Role::Editor).await;
    let m = &hub.app.services.mutations;
    let rule = |id: &str, mode: &str| {
        json!({"id": id, "layoutId": "home", "pageSlug": "home", "layer": "module",
            "mutationType": "variant", "mutationPayload": {}, "moduleId": "hero",
            "experiment": {"key": id, "variants": [
                {"key": "control", "weight": 0.5},
                {"key": "bold", "weight": 0.5, "payload": [{"op": "props", "target": "hero", "patch": {"headline": "BOLD"}}]}
            ], "policy": {"mode": mode, "minDays": 1, "minUnitsPerArm": 200}}})
    };
    m.save_rule_json(rule("auto-test", "auto"), Head::Absent, &editor_principal())
        .await
        .unwrap();
    m.save_rule_json(
        rule("manual-test", "manual"),
        Head::Absent,
        &editor_principal(),
    )
    .await
    .unwrap();
    for id in ["auto-test", "manual-test"] {
        experiment_events(&hub, id, "control", 400, 40).await;
        experiment_events(&hub, id, "bold", 400, 120).await;
    }
    // Today is too early (a day at least); two days on, the auto rule is decided and only it.
    let now = chrono::Utc::now();
    assert!(m.decide_experiments(now).await.is_empty(), "too early");
    let later = now + chrono::Duration::days(2);
    let done = m.decide_experiments(later).await;
    assert_eq!(done.len(), 1, "{done:?}");
    assert!(done[0].automatic());
    assert!(
        done[0]
            .decision
            .describe()
            .starts_with("promote bold: +200.0 %"),
        "{}",
        done[0].decision.describe()
    );
    assert!(m.decide_experiments(later).await.is_empty(), "decided once");

    // The new version serves the winner to every visitor and counts nobody.
    let head = hub
        .app
        .services
        .store
        .rule_head("auto-test")
        .await
        .unwrap()
        .unwrap();
    let x = head.rule.experiment.as_ref().unwrap();
    assert_eq!(
        (x.winner.as_deref(), head.rule.created_by.as_str()),
        (Some("bold"), "cortex:decider")
    );
    for visitor in ["a", "b", "c", "d"] {
        let applied = apply(
            &hub,
            &viewer,
            json!({"pageSlug": "home", "context": {"anonymousId": visitor, "userAgent": DESKTOP}}),
        )
        .await;
        assert_eq!(
            variant_of(&applied, "auto-test"),
            None,
            "not counted: {applied}"
        );
        let hero = applied["layout"]["root"]["children"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "hero")
            .unwrap();
        assert_eq!(hero["props"]["headline"], "BOLD", "{hero}");
    }
    // Audited as an automatic decision with its evidence.
    let audit = hub
        .app
        .services
        .store
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("layout-mutation.decide".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let entry = audit
        .iter()
        .find(|e| e.record.action == "layout-mutation.decide")
        .expect("the decision is audited");
    assert_eq!(entry.record.actor, "cortex:decider");
    assert_eq!(
        entry.record.after["rule"]["experiment"]["decisions"][0]["decision"]["decision"],
        "promote"
    );

    // The rule page shows it with its numbers and an undo button.
    let page = admin
        .get(hub.url("/admin/layout-mutations/auto-test"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"rule-decisions\"") && page.contains("undo-decision"),
        "{page}"
    );
    assert!(page.contains("automatically"));

    // The experiments page lists both, the decided one with its decision, over their whole
    // runtime; anonymous callers get nothing.
    let res = plain()
        .get(hub.url("/api/experiments"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    let list = json_of(res, StatusCode::OK).await;
    let find = |id: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|x| x["ruleId"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} listed: {list}"))
    };
    let auto = find("auto-test");
    assert_eq!(
        (&auto["winner"], &auto["lastDecision"]["by"]),
        (&json!("bold"), &json!("cortex:decider"))
    );
    let manual = find("manual-test");
    assert_eq!(manual["arms"][1]["exposedUnits"], 400, "{manual}");
    assert_eq!(manual["suggestion"]["decision"], "wait", "{manual}");
    assert!(
        manual["arms"][1]["relativeLift"]["value"].as_f64().unwrap() > 1.5,
        "{manual}"
    );
    let res = plain()
        .get(hub.url("/api/experiments"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let page = admin
        .get(hub.url("/admin/experiments"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("data-experiment=\"auto-test\"") && page.contains("data-status=\"decided\""),
        "{page}"
    );
    assert!(page.contains("id=\"daily-manual-test\""), "{page}");
    assert!(page.contains("id=\"lift-manual-test\""), "{page}");
    assert!(page.contains("data-verdict=\"\""), "{page}");

    // Who may undo: not a viewer; an editor in one step; then there is nothing to undo.
    const UNDO: &str = "/api/layout-mutation/undo-decision";
    let decided = head.rule.version;
    let undo = |token: &str, body: Value| {
        plain()
            .post(hub.url(UNDO))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let res = undo(&viewer, json!({"id": "auto-test", "version": decided}))
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    // Only the decision the editor saw: another version number is refused.
    let res = undo(&editor, json!({"id": "auto-test", "version": decided - 1}))
        .await
        .unwrap();
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    let res = undo(&editor, json!({"id": "auto-test"})).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Decision state cannot be forged or dropped by a save: a stale copy without the winner
    // keeps it; a made-up decision is refused.
    let mut stale = rule("auto-test", "auto");
    stale["priority"] = 3.into();
    let kept = m
        .save_rule_json(stale.clone(), Head::Any, &editor_principal())
        .await
        .unwrap();
    assert_eq!(
        kept.rule.experiment.as_ref().unwrap().winner.as_deref(),
        Some("bold")
    );
    let mut forged = stale.clone();
    forged["experiment"]["winner"] = "control".into();
    let err = m
        .save_rule_json(forged, Head::Any, &editor_principal())
        .await
        .unwrap_err();
    assert!(
        err.message.contains("written by the engine only"),
        "{}",
        err.message
    );
    // That save came after the decision: undo now names it and is refused.
    let res = undo(&editor, json!({"id": "auto-test", "version": decided}))
        .await
        .unwrap();
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    m.rollback_rule("auto-test", Some(decided), &editor_principal())
        .await
        .unwrap();
    // A rollback to the decided version is a new version: undo is for the decision itself.
    let res = undo(&editor, json!({"id": "auto-test", "version": decided + 2}))
        .await
        .unwrap();
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    let history = hub
        .app
        .services
        .store
        .rule_history("auto-test")
        .await
        .unwrap();
    let before_decision = history
        .iter()
        .find(|v| v.rule.version == decided - 1)
        .unwrap()
        .rule
        .clone();
    m.rollback_rule(
        "auto-test",
        Some(before_decision.version),
        &editor_principal(),
    )
    .await
    .unwrap();
    m.decide_experiments(later).await;
    let head = hub
        .app
        .services
        .store
        .rule_head("auto-test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        head.rule.experiment.as_ref().unwrap().winner.as_deref(),
        Some("bold"),
        "decided again"
    );
    let res = undo(
        &editor,
        json!({"id": "auto-test", "version": head.rule.version}),
    )
    .await
    .unwrap();
    let undone = json_of(res, StatusCode::OK).await;
    assert_eq!(undone["rule"]["experiment"].get("winner"), None, "{undone}");
    assert_eq!(undone["rule"]["experiment"]["policy"]["mode"], "manual");
    let res = undo(
        &editor,
        json!({"id": "auto-test", "version": undone["rule"]["version"]}),
    )
    .await
    .unwrap();
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    assert!(
        m.decide_experiments(later).await.is_empty(),
        "an undone rule waits for an editor"
    );

    // An editor carries out a suggestion by hand: only from the version they saw, and only
    // a decision that does something.
    const DECIDE: &str = "/api/layout-mutation/decide";
    let post = |token: &str, body: Value| {
        plain()
            .post(hub.url(DECIDE))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let promote = |v: u32| json!({"id": "manual-test", "version": v, "decision": "promote bold"});
    let res = post(&editor, promote(7)).await.unwrap();
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    let res = post(&viewer, promote(1)).await.unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = post(
        &editor,
        json!({"id": "no-such-rule", "version": 1, "decision": "promote bold"}),
    )
    .await
    .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = post(
        &editor,
        json!({"id": "../x", "version": 1, "decision": "promote bold"}),
    )
    .await
    .unwrap();
    assert!(res.status().is_client_error());
    let res = post(&editor, json!({"id": "manual-test", "version": 1}))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "the decision seen is required"
    );
    // Today the manual rule is one day short: nothing to carry out.
    let res = post(&editor, promote(1)).await.unwrap();
    let msg = expect_error(res, StatusCode::CONFLICT, "conflict").await;
    assert!(
        msg.contains("the engine now says wait: running 0 of at least 1 days"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_guarded_change_that_hurts_its_page_is_rolled_back_by_itself() {
    use cortex_core::analytics::{Event, EventBatch, EventKind};
    // An alert receiver that fails the first delivery (the hub retries) and keeps the rest.
    let received: std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>> = Default::default();
    let app = {
        let received = received.clone();
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let (received, calls) = (received.clone(), calls.clone());
                    async move {
                        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                            return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                        }
                        let sig = headers
                            .get(cortex_server::webhook::SIGNATURE_HEADER)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        received.lock().unwrap().push((sig, body.to_vec()));
                        axum::http::StatusCode::NO_CONTENT
                    }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    const SECRET: &str = "a-webhook-secret-of-some-length";
    let dir = tempfile::tempdir().unwrap();
    let hub = start_with(
        cortex_server::config::Config {
            demo_shop: true,
            alert_webhook_url: Some(hook.into()),
            alert_webhook_secret: Some(SECRET.to_string().into()),
            ..test_config(dir.path())
        },
        dir,
    )
    .await;
    let admin = hub.setup_admin().await;
    for _ in 0..100 {
        if hub.app.services.mutations.current().set.revision > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    let m = &hub.app.services.mutations;
    let rule = |priority: i32| {
        json!({"id": "guarded", "layoutId": "home", "pageSlug": "home", "layer": "module",
            "mutationType": "hide", "mutationPayload": {"target": "testimonials"}, "moduleId": "testimonials",
            "priority": priority, "guard": {"windowHours": 24, "minUnits": 100}})
    };
    // Out of bounds: refused with the field named.
    let mut bad = rule(1);
    bad["guard"]["windowHours"] = 0.into();
    let err = m
        .save_rule_json(bad, Head::Absent, &editor_principal())
        .await
        .unwrap_err();
    assert!(
        err.message.starts_with("guard.windowHours"),
        "{}",
        err.message
    );
    m.save_rule_json(rule(1), Head::Absent, &editor_principal())
        .await
        .unwrap();
    let changed = m
        .save_rule_json(rule(2), Head::Version(1), &editor_principal())
        .await
        .unwrap();
    let t1 = changed.rule.timestamp;
    // The day before the change: 20 % of 400 visitors converted; since: 5 %.
    let visits = |prefix: &str, at: chrono::DateTime<chrono::Utc>, n: u32, converted: u32| {
        let mut events = Vec::new();
        for u in 0..n {
            let mut view = Event::new(EventKind::PageView, at);
            view.unit = Some(format!("{prefix}-{u}"));
            view.page_slug = Some("home".into());
            events.push(view.clone());
            if u < converted {
                view.kind = EventKind::Conversion;
                events.push(view);
            }
        }
        cortex_server::store::events::SpooledBatch {
            neuron_id: "test".into(),
            received_at: at,
            batch: EventBatch {
                batch_id: format!("{prefix}-batch"),
                events,
                receipt: None,
            },
        }
    };
    let before = visits("before", t1 - chrono::Duration::hours(3), 400, 80);
    let after = visits("after", t1 + chrono::Duration::minutes(30), 400, 20);
    hub.app
        .services
        .store
        .write_event_batches(&[before, after])
        .await
        .unwrap();
    // Watching, and nothing to do while too few visitors came after the change.
    let status = m
        .guard_status("guarded", &editor_principal())
        .await
        .unwrap()
        .expect("the newest change is watched");
    assert_eq!(status.version, 2);
    assert!(
        status.verdict.describe().starts_with("watching"),
        "{:?}",
        status.verdict
    );
    assert!(m
        .guard_changes(t1 + chrono::Duration::minutes(10))
        .await
        .is_empty());
    // An hour on, the drop is clear: rolled back to version 1, by the guard.
    let done = m.guard_changes(t1 + chrono::Duration::hours(1)).await;
    assert_eq!(done.len(), 1, "{done:?}");
    assert!(
        done[0].1.describe().contains("fell -75.0 %"),
        "{}",
        done[0].1.describe()
    );
    let head = hub
        .app
        .services
        .store
        .rule_head("guarded")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((head.rule.version, head.rule.priority), (3, 1));
    assert_eq!(head.rule.created_by, "cortex:guard");
    assert!(
        m.guard_changes(t1 + chrono::Duration::hours(2))
            .await
            .is_empty(),
        "the guard's own rollback is not watched"
    );
    // Audited with the evidence; on the overview as critical; on the rule's page.
    let audit = hub
        .app
        .services
        .store
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("layout-mutation.auto-rollback".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].record.after["rolledBackVersion"], 2);
    assert_eq!(audit[0].record.after["rule"]["version"], 3);
    assert_eq!(audit[0].record.after["guard"]["verdict"], "rollBack");
    let res = plain()
        .get(hub.url("/api/overview"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    let overview = json_of(res, StatusCode::OK).await;
    assert_eq!(
        overview["rollbacks"][0]["ruleId"], "guarded",
        "{}",
        overview["rollbacks"]
    );
    assert!(overview["rollbacks"][0]["why"]
        .as_str()
        .unwrap()
        .contains("fell"));
    let page = admin
        .get(hub.url("/admin/layout-mutations/guarded"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"rule-guard\""), "{page}");
    // The webhook got the alert, signed, after one failed attempt.
    let mut alerts = Vec::new();
    for _ in 0..50 {
        alerts = received.lock().unwrap().clone();
        if !alerts.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(alerts.len(), 1, "one alert, delivered on the retry");
    let (sig, body) = &alerts[0];
    assert_eq!(
        sig,
        &cortex_server::webhook::signature(SECRET.as_bytes(), body)
    );
    let alert: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        (&alert["kind"], &alert["ruleId"]),
        (&json!("autoRollback"), &json!("guarded"))
    );
    assert!(alert["text"]
        .as_str()
        .unwrap()
        .contains("rolled back a change of rule guarded"));
    assert_eq!(alert["details"]["verdict"], "rollBack");

    // Errors are watched too: the sale page converts as before, but errs ten times as often.
    let sale = json!({"id": "guarded-sale", "layoutId": "sale", "pageSlug": "sale", "layer": "module",
        "mutationType": "hide", "mutationPayload": {"target": "hero"}, "moduleId": "hero",
        "guard": {"windowHours": 24, "minUnits": 100}});
    let t2 = m
        .save_rule_json(sale, Head::Absent, &editor_principal())
        .await
        .unwrap()
        .rule
        .timestamp;
    let erring = |prefix: &str, at: chrono::DateTime<chrono::Utc>, errors: u32| {
        let mut events = Vec::new();
        for u in 0..400 {
            let mut view = Event::new(EventKind::PageView, at);
            view.unit = Some(format!("{prefix}-{u}"));
            view.page_slug = Some("sale".into());
            events.push(view.clone());
            if u < 40 {
                events.push(Event {
                    kind: EventKind::Conversion,
                    ..view.clone()
                });
            }
            if u < errors {
                events.push(Event {
                    kind: EventKind::Error,
                    message: Some("TypeError: x is undefined".into()),
                    ..view
                });
            }
        }
        cortex_server::store::events::SpooledBatch {
            neuron_id: "test".into(),
            received_at: at,
            batch: EventBatch {
                batch_id: format!("{prefix}-batch"),
                events,
                receipt: None,
            },
        }
    };
    hub.app
        .services
        .store
        .write_event_batches(&[
            erring("sale-before", t2 - chrono::Duration::hours(3), 4),
            erring("sale-after", t2 + chrono::Duration::minutes(30), 40),
        ])
        .await
        .unwrap();
    let done = m.guard_changes(t2 + chrono::Duration::hours(1)).await;
    assert_eq!(done.len(), 1, "{done:?}");
    assert!(
        done[0]
            .1
            .describe()
            .starts_with("the page's errors rose by +9.00 ["),
        "{}",
        done[0].1.describe()
    );
    let head = hub
        .app
        .services
        .store
        .rule_head("guarded-sale")
        .await
        .unwrap()
        .unwrap();
    assert!(!head.rule.is_active, "a first version is switched off");
}

#[tokio::test]
async fn bandits_move_their_weights_and_keep_each_visitor_on_the_variant_they_saw() {
    let (hub, admin) = demo_hub().await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    let m = &hub.app.services.mutations;
    let store = &hub.app.services.store;
    let rule = json!({"id": "bandit-test", "layoutId": "home", "pageSlug": "home", "layer": "module",
        "mutationType": "variant", "mutationPayload": {}, "moduleId": "footer",
        "experiment": {"key": "bandit-test", "variants": [
            {"key": "control", "weight": 0.5},
            {"key": "bold", "weight": 0.5, "payload": [{"op": "props", "target": "footer", "patch": {"note": "BOLD"}}]}
        ], "bandit": {"floor": 0.1, "intervalHours": 24, "minUnitsPerArm": 100}}});
    m.save_rule_json(rule.clone(), Head::Absent, &editor_principal())
        .await
        .unwrap();
    // Visitors bucketed by the starting weights, before anything moves.
    let visitors: Vec<String> = (0..40).map(|i| format!("visitor-{i}")).collect();
    let variant = |id: &str, sticky: Value| {
        let body = json!({"pageSlug": "home", "context": {"anonymousId": id, "userAgent": DESKTOP, "sticky": sticky}});
        let viewer = viewer.clone();
        let hub = &hub;
        async move { variant_of(&apply(hub, &viewer, body).await, "bandit-test") }
    };
    let mut first = Vec::new();
    for v in &visitors {
        first.push(variant(v, json!({})).await.unwrap());
    }
    assert!(first.iter().any(|v| v == "control") && first.iter().any(|v| v == "bold"));

    experiment_events(&hub, "bandit-test", "control", 400, 40).await;
    experiment_events(&hub, "bandit-test", "bold", 400, 120).await;
    let now = chrono::Utc::now();
    assert!(
        m.reweight_bandits(now).await.is_empty(),
        "not before its interval has passed"
    );
    let later = now + chrono::Duration::hours(25);
    let done = m.reweight_bandits(later).await;
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].weights, vec![0.1, 0.9]);
    assert!(done[0].chance[1] > 0.99, "{:?}", done[0].chance);
    assert_eq!(done[0].units, vec![400, 400]);
    assert!(
        m.reweight_bandits(later).await.is_empty(),
        "once per interval"
    );

    // A new version by the engine, audited with the change, its history kept.
    let head = store.rule_head("bandit-test").await.unwrap().unwrap();
    let x = head.rule.experiment.as_ref().unwrap();
    assert_eq!(head.rule.created_by, "cortex:decider");
    assert_eq!(
        x.variants.iter().map(|v| v.weight).collect::<Vec<_>>(),
        vec![0.1, 0.9]
    );
    assert_eq!(x.reweights.len(), 1);
    assert_eq!(x.reweights[0].version, head.rule.version);
    let audit = store
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("layout-mutation.reweight".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let entry = audit
        .iter()
        .find(|e| e.record.action == "layout-mutation.reweight")
        .expect("the change is audited");
    assert_eq!(entry.record.actor, "cortex:decider");
    assert_eq!(entry.record.after["weights"], json!([0.1, 0.9]));

    // Without their assignment, most visitors now land on the leader; with it, each keeps
    // what they saw. An assignment to a variant the experiment lacks is ignored.
    let mut moved = 0;
    for (v, was) in visitors.iter().zip(&first) {
        let now_seen = variant(v, json!({})).await.unwrap();
        moved += usize::from(&now_seen != was);
        assert_eq!(
            &variant(v, json!({"bandit-test": was})).await.unwrap(),
            was,
            "{v} keeps {was}"
        );
        assert_eq!(
            variant(v, json!({"bandit-test": "gone"})).await.unwrap(),
            now_seen
        );
    }
    assert!(moved > 0, "the new weights move unstuck visitors");

    // The weights' history is the engine's: an editor's save keeps it, a forged one is refused.
    let mut forged = rule.clone();
    forged["experiment"]["reweights"] = json!([{"at": later, "version": 9, "weights": [0.5, 0.5], "chance": [0.5, 0.5], "units": [1, 1]}]);
    let err = m
        .save_rule_json(
            forged,
            Head::Version(head.rule.version),
            &editor_principal(),
        )
        .await
        .unwrap_err();
    assert!(err.message.contains("reweights"), "{}", err.message);
    let mut edited = rule.clone();
    edited["experiment"]["bandit"]["floor"] = json!(0.2);
    let saved = m
        .save_rule_json(
            edited,
            Head::Version(head.rule.version),
            &editor_principal(),
        )
        .await
        .unwrap();
    assert_eq!(saved.rule.experiment.unwrap().reweights.len(), 1);
    // New variants start a new history (the old one is of other variants).
    let mut third = rule.clone();
    third["experiment"]["variants"] = json!([
        {"key": "control", "weight": 0.4},
        {"key": "bold", "weight": 0.3, "payload": [{"op": "props", "target": "footer", "patch": {"note": "BOLD"}}]},
        {"key": "calm", "weight": 0.3, "payload": [{"op": "props", "target": "footer", "patch": {"note": "calm"}}]}
    ]);
    let widened = m
        .save_rule_json(
            third,
            Head::Version(saved.rule.version),
            &editor_principal(),
        )
        .await
        .unwrap();
    assert!(widened.rule.experiment.unwrap().reweights.is_empty());
    // Back to the two variants the storefront checks below.
    m.save_rule_json(
        rule.clone(),
        Head::Version(widened.rule.version),
        &editor_principal(),
    )
    .await
    .unwrap();

    // The storefront keeps the variant a visitor saw in a cookie and honours it.
    let res = plain().get(hub.url("/shop")).send().await.unwrap();
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find(|c| c.starts_with("cortex_sticky="))
        .expect("a sticky cookie")
        .to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let value = cookie
        .trim_start_matches("cortex_sticky=")
        .split(';')
        .next()
        .unwrap();
    assert!(value.starts_with("bandit-test="), "{value}");
    for (sticky, note) in [("control", false), ("bold", true)] {
        let html = plain()
            .get(hub.url("/shop"))
            .header("cookie", format!("cortex_sticky=bandit-test={sticky}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(html.contains("bandit-test:bold"), note, "{sticky}");
        assert_eq!(html.contains("bandit-test:control"), !note, "{sticky}");
    }
    // Assignments to experiments that are no running bandit are dropped from the cookie.
    let res = plain()
        .get(hub.url("/shop"))
        .header("cookie", "cortex_sticky=old-test=a&bandit-test=bold")
        .send()
        .await
        .unwrap();
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find(|c| c.starts_with("cortex_sticky="))
        .expect("the cookie is rewritten")
        .to_string();
    assert!(
        cookie.starts_with("cortex_sticky=bandit-test=bold;"),
        "{cookie}"
    );
}

#[tokio::test]
async fn experiments_in_one_namespace_never_share_a_visitor() {
    let (hub, admin) = demo_hub().await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    let m = &hub.app.services.mutations;
    let rule = |id: &str, target: &str, slice: Value| {
        json!({"id": id, "layoutId": "home", "pageSlug": "home", "layer": "module",
        "mutationType": "variant", "mutationPayload": {}, "moduleId": target,
        "experiment": {"key": id, "namespace": slice, "variants": [
            {"key": "control", "weight": 0.5},
            {"key": "b", "weight": 0.5, "payload": [{"op": "props", "target": target, "patch": {"note": id}}]}
        ]}})
    };
    let editor = editor_principal();
    let save = |value: Value, head: Head| m.save_rule_json(value, head, &editor);
    save(
        rule("ns-a", "hero", json!(["checkout", 0, 0.5])),
        Head::Absent,
    )
    .await
    .unwrap();
    let err = save(
        rule("ns-b", "footer", json!(["checkout", 0.4, 1])),
        Head::Absent,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, cortex_core::ErrorCode::BadRequest);
    assert!(
        err.message.contains("experiment.namespace") && err.message.contains("`ns-a`"),
        "{}",
        err.message
    );
    for bad in [
        json!(["checkout", 0.5, 0.5]),
        json!(["", 0, 1]),
        json!(["x", 0, 2]),
    ] {
        let err = save(rule("ns-b", "footer", bad.clone()), Head::Absent)
            .await
            .unwrap_err();
        assert!(
            err.message.contains("experiment.namespace"),
            "{bad}: {}",
            err.message
        );
    }
    // One namespace hashes one attribute (another would let a visitor into two).
    let mut other_unit = rule("ns-b", "footer", json!(["checkout", 0.5, 1]));
    other_unit["experiment"]["hashAttribute"] = json!("userId");
    let err = save(other_unit, Head::Absent).await.unwrap_err();
    assert!(
        err.message.contains("hash the same attribute"),
        "{}",
        err.message
    );
    save(
        rule("ns-b", "footer", json!(["checkout", 0.5, 1])),
        Head::Absent,
    )
    .await
    .unwrap();
    // A visitor is in at most one of them; each takes about half of the visitors.
    let (mut a, mut b) = (0, 0);
    for i in 0..60 {
        let applied = apply(
            &hub,
            &viewer,
            json!({"pageSlug": "home", "context": {"anonymousId": format!("v{i}"), "userAgent": DESKTOP}}),
        )
        .await;
        let (in_a, in_b) = (
            variant_of(&applied, "ns-a").is_some(),
            variant_of(&applied, "ns-b").is_some(),
        );
        assert!(!(in_a && in_b), "visitor v{i} is in both");
        a += usize::from(in_a);
        b += usize::from(in_b);
    }
    assert!(a > 10 && b > 10 && a + b == 60, "{a} and {b}");
    // A switched-off rule does not hold its slice; switching it on again is checked.
    m.set_active("ns-b", false, &editor_principal())
        .await
        .unwrap();
    save(
        rule("ns-c", "offer", json!(["checkout", 0.6, 0.9])),
        Head::Absent,
    )
    .await
    .unwrap();
    let err = m
        .set_active("ns-b", true, &editor_principal())
        .await
        .unwrap_err();
    assert!(err.message.contains("`ns-c`"), "{}", err.message);
}

/// Page views and clicks of the home page from visitors of `segment`.
async fn segment_events(hub: &Hub, segment: &str, views: u32, clicks: &[(&str, u32)]) {
    use cortex_core::analytics::{Event, EventKind};
    let now = chrono::Utc::now();
    // Each by its own visitor (a click counts once per visitor and moment).
    let event = |kind, name: Option<&str>, i: u32| {
        let mut e = Event::new(kind, now);
        e.unit = Some(format!("{segment}-{i}"));
        e.page_slug = Some("home".into());
        e.segment = Some(segment.into());
        e.name = name.map(str::to_string);
        e
    };
    let mut events: Vec<Event> = (0..views)
        .map(|i| event(EventKind::PageView, None, i))
        .collect();
    for (node, n) in clicks {
        events.extend((0..*n).map(|i| event(EventKind::Click, Some(node), i)));
    }
    store_events(hub, events).await;
}

#[tokio::test]
async fn suggestions_come_from_segments_and_editors_accept_or_dismiss_them() {
    let (hub, admin) = demo_hub().await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    let editor = hub.token(&admin, "editor", Role::Editor).await;
    let list = |token: String| {
        let hub = &hub;
        async move {
            let res = plain()
                .get(hub.url("/api/suggestions"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            json_of(res, StatusCode::OK).await
        }
    };
    // Nothing to say without data.
    assert_eq!(list(viewer.clone()).await, json!([]));

    // The storefront records its page views with the visitor's segment.
    let store = &hub.app.services.store;
    let before = store.count_events().await.unwrap();
    let res = plain()
        .get(hub.url("/shop?utm_medium=email"))
        .header("user-agent", IPHONE)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for _ in 0..100 {
        if store.count_events().await.unwrap() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let counts = store
        .segment_counts(
            chrono::Utc::now() - chrono::Duration::hours(1),
            chrono::Utc::now() + chrono::Duration::minutes(1),
        )
        .await
        .unwrap();
    assert!(
        counts
            .iter()
            .any(|c| c.kind == "pageView" && c.segment == "device:mobile,source:email"),
        "{counts:?}"
    );

    // Mobile visitors hardly click the hero; desktop visitors do.
    segment_events(&hub, "device:mobile,source:direct", 1000, &[("hero", 10)]).await;
    segment_events(&hub, "device:desktop,source:direct", 1000, &[("hero", 150)]).await;
    // The answer is reused for a while: a new rule-set revision makes it fresh.
    hub.app
        .services
        .mutations
        .set_active("hero-headline-test", false, &editor_principal())
        .await
        .unwrap();
    let got = list(viewer.clone()).await;
    let down = got
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["kind"] == "move-down" && s["draft"]["conditions"] == json!({"device": "mobile"})
        })
        .unwrap_or_else(|| panic!("{got}"))
        .clone();
    assert!(
        down["why"].as_str().unwrap().contains("device mobile"),
        "{down}"
    );
    assert_eq!(down["draft"]["isActive"], false);
    let id = down["id"].as_str().unwrap().to_string();

    // A viewer cannot accept; an editor can, once; the draft is saved switched off.
    let post = |path: &'static str, token: String, id: String| {
        let hub = &hub;
        async move {
            plain()
                .post(hub.url(path))
                .bearer_auth(token)
                .json(&json!({ "id": id }))
                .send()
                .await
                .unwrap()
        }
    };
    let res = post("/api/suggestions/accept", viewer.clone(), id.clone()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post("/api/suggestions/accept", editor.clone(), id.clone()).await;
    let saved = json_of(res, StatusCode::OK).await;
    assert_eq!(saved["rule"]["isActive"], false);
    let rule_id = saved["rule"]["id"].as_str().unwrap().to_string();
    let head = store.rule_head(&rule_id).await.unwrap().unwrap();
    assert!(
        head.rule.created_by.contains("editor"),
        "{}",
        head.rule.created_by
    );
    let res = post("/api/suggestions/accept", editor.clone(), id.clone()).await;
    let err = json_of(res, StatusCode::CONFLICT).await;
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("accepted by"),
        "{err}"
    );
    let res = post("/api/suggestions/dismiss", editor.clone(), id.clone()).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = post(
        "/api/suggestions/accept",
        editor.clone(),
        "s-nothing".into(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = post("/api/suggestions/dismiss", editor.clone(), "x".repeat(500)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let again = list(viewer.clone()).await;
    let listed = again
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap();
    assert_eq!(listed["state"]["state"], "accepted");
    assert_eq!(listed["state"]["ruleId"], rule_id.as_str());
    // Audited.
    let audit = store
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("suggestion.accept".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].record.target, format!("suggestion:{id}"));
}

#[tokio::test]
async fn a_variant_that_wins_for_one_segment_is_suggested_and_accepted_as_a_draft() {
    use cortex_core::analytics::{Event, EventKind};
    let (hub, admin) = demo_hub().await;
    let editor = hub.token(&admin, "editor", Role::Editor).await;
    // Mobile visitors convert 10 % on control, 16 % on adventure; desktop ones the same.
    let now = chrono::Utc::now();
    let mut events = Vec::new();
    for (segment, variant, converted) in [
        ("device:mobile", "control", 100),
        ("device:mobile", "adventure", 160),
        ("device:desktop", "control", 100),
        ("device:desktop", "adventure", 100),
    ] {
        for u in 0..1000u32 {
            let mut e = Event::new(EventKind::Exposure, now);
            e.unit = Some(format!("{segment}-{variant}-{u}"));
            e.page_slug = Some("home".into());
            e.mutation_id = Some("hero-headline-test".into());
            e.variant = Some(variant.into());
            e.segment = Some(segment.into());
            if u < converted {
                events.push(Event {
                    kind: EventKind::Conversion,
                    ..e.clone()
                });
            }
            events.push(e);
        }
    }
    store_events(&hub, events).await;
    let res = plain()
        .get(hub.url("/api/suggestions"))
        .bearer_auth(&editor)
        .send()
        .await
        .unwrap();
    let got = json_of(res, StatusCode::OK).await;
    let winners: Vec<&Value> = got
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "segment-winner")
        .collect();
    assert_eq!(winners.len(), 1, "{got}");
    let s = winners[0];
    assert_eq!(s["conversion"]["units"], 1000);
    assert_eq!(s["conversion"]["converted"], 160);
    assert_eq!(s["draft"]["conditions"], json!({"device": "mobile"}));
    let res = plain()
        .post(hub.url("/api/suggestions/accept"))
        .bearer_auth(&editor)
        .json(&json!({ "id": s["id"] }))
        .send()
        .await
        .unwrap();
    let saved = json_of(res, StatusCode::OK).await;
    assert_eq!(saved["rule"]["isActive"], false);
    let keys: Vec<&str> = saved["rule"]["experiment"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["control", "adventure"]);
}

#[tokio::test]
async fn a_language_model_proposes_rules_and_only_valid_ones_are_listed() {
    // A stand-in for an OpenAI-compatible API: it keeps each request and answers with one
    // good proposal and three that must be refused.
    let requests: std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>> = Default::default();
    let content = json!({"suggestions": [
        {"why": "mobile visitors scroll past the offer", "rule": {"id": "llm-hide-offer", "pageSlug": "home", "layoutId": "home",
            "layer": "module", "moduleId": "offer", "mutationType": "hide", "mutationPayload": {"target": "offer"},
            "conditions": {"device": "mobile"}, "isActive": true}},
        {"why": "no such node", "rule": {"id": "llm-ghost", "pageSlug": "home", "layoutId": "home", "layer": "module",
            "mutationType": "hide", "mutationPayload": {"target": "nowhere"}}},
        {"why": "a script link", "rule": {"id": "llm-script", "pageSlug": "home", "layoutId": "home", "layer": "module",
            "mutationType": "props", "mutationPayload": {"target": "hero", "patch": {"href": "javascript:alert(1)"}}}},
        {"why": "not a rule", "rule": "hide everything"}
    ]});
    let app = {
        let requests = requests.clone();
        let answer = json!({"choices": [{"message": {"role": "assistant",
            "content": format!("Here you are:\n```json\n{content}\n```")}}]});
        axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                    let (requests, answer) = (requests.clone(), answer.clone());
                    async move {
                        let auth = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        requests.lock().unwrap().push((auth, body));
                        axum::Json(answer)
                    }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let hub = start_with(
        cortex_server::config::Config {
            demo_shop: true,
            llm_url: Some(base.into()),
            llm_model: Some("fake-model".into()),
            llm_api_key: Some("sk-test-key".to_string().into()),
            ..test_config(dir.path())
        },
        dir,
    )
    .await;
    let admin = hub.setup_admin().await;
    for _ in 0..100 {
        if hub.app.services.mutations.current().set.revision > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    let editor = hub.token(&admin, "editor", Role::Editor).await;
    let res = plain()
        .get(hub.url("/api/suggestions"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    let list = json_of(res, StatusCode::OK).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "only the valid proposal: {list:?}");
    let s = &list[0];
    assert_eq!(s["kind"], "llm");
    assert_eq!(s["why"], "mobile visitors scroll past the offer");
    assert_eq!(s["draft"]["id"], "llm-hide-offer");
    assert_eq!(
        s["draft"]["isActive"], false,
        "a draft, whatever the model says"
    );
    assert_eq!(s["draft"]["createdBy"], "cortex:llm");

    // The model was asked once, with the key and model configured, and shown the pages.
    {
        let seen = requests.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "Bearer sk-test-key");
        assert_eq!(seen[0].1["model"], "fake-model");
        let prompt = seen[0].1["messages"][1]["content"].as_str().unwrap();
        assert!(
            prompt.contains("offer (offer-banner)") || prompt.contains("offer ("),
            "{prompt}"
        );
    }

    // Accepted like any suggestion: saved switched off.
    let res = plain()
        .post(hub.url("/api/suggestions/accept"))
        .bearer_auth(&editor)
        .json(&json!({"id": s["id"]}))
        .send()
        .await
        .unwrap();
    let saved = json_of(res, StatusCode::OK).await;
    assert_eq!(saved["rule"]["id"], "llm-hide-offer");
    assert_eq!(saved["rule"]["isActive"], false);
    // Asked again (the rules changed), the model proposes the same: it keeps its id, and so
    // shows as accepted.
    let res = plain()
        .get(hub.url("/api/suggestions"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    let again = json_of(res, StatusCode::OK).await;
    assert_eq!(requests.lock().unwrap().len(), 2, "asked again");
    assert_eq!(again[0]["id"], s["id"]);
    assert_eq!(again[0]["state"]["state"], "accepted");
}

#[tokio::test]
async fn the_language_model_settings_are_checked_at_start_and_a_dead_model_is_survived() {
    let dir = tempfile::tempdir().unwrap();
    let bad = |url: &str, model: Option<&str>| cortex_server::config::Config {
        llm_url: Some(url.to_string().into()),
        llm_model: model.map(str::to_string),
        ..test_config(dir.path())
    };
    for (url, model, want) in [
        ("file:///etc/passwd", Some("m"), "CORTEX_LLM_URL"),
        ("not a url", Some("m"), "CORTEX_LLM_URL"),
        ("http://127.0.0.1:9/v1", None, "CORTEX_LLM_MODEL"),
    ] {
        let err = bad(url, model).llm().unwrap_err().to_string();
        assert!(err.contains(want), "{url}: {err}");
    }
    // A model that does not answer: the rule-based suggestions still come.
    let dir = tempfile::tempdir().unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let hub = start_with(
        cortex_server::config::Config {
            demo_shop: true,
            llm_url: Some(format!("http://{closed}/v1").into()),
            llm_model: Some("m".into()),
            ..test_config(dir.path())
        },
        dir,
    )
    .await;
    let admin = hub.setup_admin().await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    let res = plain()
        .get(hub.url("/api/suggestions"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res, StatusCode::OK).await, json!([]));
}
