//! The attacks of the security review, each run against a real hub: every test here failed
//! before its fix and passes after it (the item numbers are the review's).

mod common;

use common::{
    expect_error, json_of, open_policy, plain, registration, start, start_with, test_config, Hub,
};
use cortex_core::federation::NeuronStatus;
use cortex_core::Role;
use cortex_sdk::{HubClient, NeuronKey, SdkError};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

fn status_of(e: SdkError) -> u16 {
    match e {
        SdkError::Api { status, .. } => status,
        other => panic!("expected an API error, got {other}"),
    }
}

async fn set_status(hub: &Hub, token: &str, id: &str, status: &str) -> reqwest::Response {
    plain()
        .post(hub.url("/api/federation/neurons/set-status"))
        .bearer_auth(token)
        .json(&json!({"id": id, "status": status}))
        .send()
        .await
        .unwrap()
}

/// Item 1 and 2: no path leads an operator from pending to active, over HTTP or by calling
/// the service directly (the rule lives in the service, not in the server function).
#[tokio::test]
async fn an_operator_cannot_let_a_pending_neuron_in_by_any_path() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let operator = hub.token(&admin, "operator", Role::Operator).await;
    let client = HubClient::new(&hub.app.url(), None).unwrap();
    let key = NeuronKey::generate();
    let joined = client
        .register(&registration("waiting-1", &key), &key)
        .await
        .unwrap();
    assert_eq!(joined.status, NeuronStatus::Pending);
    // Around approval: retire, then reactivate; drain, then undrain; approve outright.
    for (to, code) in [
        ("retired", StatusCode::CONFLICT),
        ("draining", StatusCode::CONFLICT),
        ("active", StatusCode::FORBIDDEN),
        ("pending", StatusCode::BAD_REQUEST),
        ("unhealthy", StatusCode::BAD_REQUEST),
    ] {
        let res = set_status(&hub, &operator, "waiting-1", to).await;
        assert_eq!(res.status(), code, "{to}: {}", res.text().await.unwrap());
    }
    let principal = cortex_core::user::Principal {
        actor: "token:operator".into(),
        role: Role::Operator,
        user_id: None,
    };
    let fed = &hub.app.services.federation;
    for to in [
        NeuronStatus::Retired,
        NeuronStatus::Active,
        NeuronStatus::Draining,
    ] {
        assert!(fed.set_status("waiting-1", to, &principal).await.is_err());
    }
    let bulk = fed
        .bulk(
            &["waiting-1".into()],
            cortex_core::federation::BulkAction::Approve,
            &principal,
        )
        .await;
    assert!(bulk.is_err(), "an operator's bulk approval fails whole");
    // Rules too: the role is checked by the layout service, whoever calls it.
    let m = &hub.app.services.mutations;
    for refused in [
        m.set_active("any-rule", false, &principal).await.err(),
        m.rollback_rule("any-rule", None, &principal).await.err(),
        m.set_deleted("any-rule", true, &principal).await.err(),
    ] {
        assert_eq!(
            refused.map(|e| e.code),
            Some(cortex_core::ErrorCode::Forbidden)
        );
    }
    assert_eq!(
        hub.app
            .services
            .store
            .neuron("waiting-1")
            .await
            .unwrap()
            .unwrap()
            .status,
        NeuronStatus::Pending
    );
    // An admin approves; an operator may then drain and retire, but not bring a retired
    // neuron back (letting one in again is an admin's decision too).
    let res = admin
        .post(hub.url("/api/federation/neurons/set-status"))
        .json(&json!({"id": "waiting-1", "status": "active"}))
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::OK).await;
    for (to, code) in [
        ("draining", StatusCode::OK),
        ("draining", StatusCode::CONFLICT),
        ("retired", StatusCode::OK),
        ("active", StatusCode::FORBIDDEN),
    ] {
        let res = set_status(&hub, &operator, "waiting-1", to).await;
        assert_eq!(res.status(), code, "{to}: {}", res.text().await.unwrap());
    }
}

/// Item 3: a `javascript:` link is refused when saved, with the field named; one that got
/// into the database anyway is not rendered; pages carry a nonce CSP and security headers.
#[tokio::test]
async fn script_links_are_refused_dropped_and_pages_carry_a_nonce_csp() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_with(
        cortex_server::config::Config {
            demo_shop: true,
            public_url: Some("https://cortex.example.com".into()),
            secure_cookies: Some(false),
            ..test_config(dir.path())
        },
        dir,
    )
    .await;
    let admin = hub.setup_admin().await;
    let editor = hub.token(&admin, "editor", Role::Editor).await;
    for _ in 0..100 {
        if hub.app.services.mutations.current().set.revision > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rule = json!({
        "id": "xss-hero", "layoutId": "home", "pageSlug": "home", "moduleId": "hero",
        "mutationType": "props", "mutationPayload": {"target": "hero", "patch": {"href": "  JaVaScRiPt:fetch('/api/tokens')"}},
        "createdBy": "x", "timestamp": "2026-12-01T00:00:00Z", "isActive": true, "layer": "module"
    });
    let res = plain()
        .post(hub.url("/api/layout-mutation/save"))
        .bearer_auth(&editor)
        .json(&json!({"rule": rule.to_string()}))
        .send()
        .await
        .unwrap();
    let msg = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(msg.contains("mutationPayload.patch.href"), "{msg}");
    // The rule gets in by the back door (an old version, a database edit): never rendered.
    let stored: cortex_core::mutation::LayoutMutation = serde_json::from_value(rule).unwrap();
    hub.app
        .services
        .store
        .put_rule(
            stored,
            false,
            cortex_server::store::layouts::Head::Any,
            cortex_core::audit::AuditRecord::new("test", "layout-mutation.save", ""),
        )
        .await
        .unwrap();
    hub.app.services.mutations.reload().await.unwrap();
    let res = plain().get(hub.url("/shop")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers().clone();
    let html = res.text().await.unwrap();
    assert!(html.contains("data-node=\"hero\""), "the hero renders");
    // The link renders without the script (the page's data for hydration still holds the
    // rule's text, inert inside a JSON string; the hydrated page renders it the same way).
    let lower = html.to_ascii_lowercase();
    for attr in ["href=\"", "src=\"", "action=\""] {
        for (i, _) in lower.match_indices(attr) {
            let value = &lower[i + attr.len()..];
            let value = value[..value.find('"').unwrap_or(value.len())].trim();
            assert!(!value.starts_with("javascript"), "{attr}{value}");
        }
    }
    let hero = &html[html
        .find("data-click=\"hero\"")
        .map_or(0, |i| i.saturating_sub(200))..];
    assert!(
        hero.contains("data-click=\"hero\""),
        "the hero's link renders"
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .expect("a nonce in the CSP");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration scripts carry the header's nonce"
    );
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("x-frame-options", "DENY"),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ),
    ] {
        assert_eq!(headers[name], value, "{name}");
    }
    // A new nonce every response.
    let again = plain().get(hub.url("/shop")).send().await.unwrap();
    assert_ne!(
        again.headers()["content-security-policy"].to_str().unwrap(),
        csp
    );
    // Every response gets the plain headers, an API answer too.
    let res = plain().get(hub.url("/healthz")).send().await.unwrap();
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
}

/// Item 4: a flood of validly signed registrations from one address is refused at a rate,
/// the pending neurons stop at a cap, neither floods the audit log, an alert says so, and
/// bulk deny cleans up.
#[tokio::test]
async fn a_registration_flood_is_limited_capped_alerted_and_cleaned_up_in_bulk() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_with(
        cortex_server::config::Config {
            registrations_per_minute: 8,
            max_pending_neurons: 5,
            ..test_config(dir.path())
        },
        dir,
    )
    .await;
    let admin = hub.setup_admin().await;
    let audit_before = hub
        .app
        .services
        .store
        .audit_chain(0, 10_000)
        .await
        .unwrap()
        .len();
    let client = HubClient::new(&hub.app.url(), None).unwrap();
    let mut outcomes = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..40 {
        let key = NeuronKey::generate();
        let code = match client
            .register(&registration(&format!("flood-{i}"), &key), &key)
            .await
        {
            Ok(_) => 200,
            Err(e) => status_of(e),
        };
        *outcomes.entry(code).or_default() += 1;
    }
    assert_eq!(outcomes.get(&200), Some(&5), "{outcomes:?}");
    assert_eq!(
        outcomes.get(&503),
        Some(&3),
        "past the pending cap: {outcomes:?}"
    );
    assert_eq!(outcomes.get(&429), Some(&32), "past the rate: {outcomes:?}");
    let store = &hub.app.services.store;
    assert_eq!(store.list_neurons().await.unwrap().len(), 5);
    let added = store.audit_chain(0, 10_000).await.unwrap().len() - audit_before;
    assert_eq!(
        added, 5,
        "one audit entry per neuron recorded, none per refusal"
    );
    let alerts = json_of(
        admin
            .get(hub.url("/api/federation/alerts"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let sources: Vec<&str> = alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["source"].as_str().unwrap())
        .collect();
    assert!(sources.iter().any(|s| s.contains("pending")), "{alerts}");
    assert!(sources.contains(&"127.0.0.1"), "{alerts}");
    // The fleet pages, and the admin denies the flood in one go.
    let page = json_of(
        admin
            .get(hub.url("/api/federation/health?status=pending&limit=2&offset=2"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            page["matched"].as_u64(),
            page["neurons"].as_array().unwrap().len()
        ),
        (Some(5), 2)
    );
    assert_eq!(page["byStatus"]["pending"], 5);
    let ids: Vec<String> = (0..8).map(|i| format!("flood-{i}")).collect();
    let done = json_of(
        admin
            .post(hub.url("/api/federation/neurons/bulk"))
            .json(&json!({"action": "deny", "ids": ids.join(",")}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["done"].as_array().unwrap().len(), 5, "{done}");
    assert_eq!(done["failed"].as_array().unwrap().len(), 3, "{done}");
    assert!(store.list_neurons().await.unwrap().is_empty());
}

/// Item 5: a browser's token (from a publishable key, which sits in public pages) reads no
/// impact report, cannot take a server neuron's id, and its socket must come from the key's
/// origins.
#[tokio::test]
async fn a_publishable_key_yields_a_narrow_token_bound_to_its_origins() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let key = json_of(
        admin
            .post(hub.url("/api/federation/publishable-keys/create"))
            .json(&json!({"name": "shop", "origins": "https://shop.example.com"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    open_policy(&hub, &admin).await;
    // A server neuron holds `api-1`.
    let server_key = NeuronKey::generate();
    HubClient::new(&hub.app.url(), None)
        .unwrap()
        .register(&registration("api-1", &server_key), &server_key)
        .await
        .unwrap();
    let browser_join = |id: &str| {
        plain()
            .post(hub.url("/api/federation/register"))
            .header("x-cortex-publishable-key", &key)
            .header("origin", "https://shop.example.com")
            .json(&json!({"id": id, "slug": "web", "kind": "web-app", "version": "1"}))
            .send()
    };
    let res = browser_join("api-1").await.unwrap();
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    let joined = json_of(browser_join("web-1").await.unwrap(), StatusCode::OK).await;
    let token = joined["token"].as_str().unwrap().to_string();
    let res = plain()
        .get(hub.url("/api/layout-mutation/report"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    // The socket: from another origin refused, from the key's origin open.
    let ws = |origin: &str| {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!(
            "{}/api/federation/ws",
            hub.app.url().replacen("http", "ws", 1)
        )
        .into_client_request()
        .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        req.headers_mut().insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(req)
    };
    match ws("https://evil.example").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 403)
        }
        other => panic!("expected 403, got {other:?}"),
    }
    assert!(ws("https://shop.example.com").await.is_ok());

    // Events a browser app sends about rules need the receipt `apply` gave for that page
    // view: the key is public, so without one anybody could post any variant's conversions.
    let with_key = |path: &str| {
        plain()
            .post(hub.url(path))
            .header("x-cortex-publishable-key", &key)
            .header("origin", "https://shop.example.com")
    };
    let events = |receipt: Option<&str>, rule: &str, variant: Option<&str>| {
        json!({"batchId": uuid_like(), "receipt": receipt,
            "events": [{"kind": "conversion", "at": chrono::Utc::now(), "unit": "v9", "pageSlug": "home", "mutationId": rule, "variant": variant}]})
    };
    let res = with_key("/api/layout-mutation/report")
        .json(&events(None, "any-rule", Some("b")))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = with_key("/api/layout-mutation/report")
        .json(&json!({"batchId": "pv-1", "events": [{"kind": "pageView", "at": chrono::Utc::now(), "unit": "v9"}]}))
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::OK).await;
    // Nor can the public key claim an order's worth (revenue comes from servers)...
    let res = with_key("/api/layout-mutation/report")
        .json(&json!({"batchId": "order-1", "events": [{"kind": "conversion", "at": chrono::Utc::now(), "unit": "v9", "pageSlug": "home", "value": 1e9}]}))
        .send()
        .await
        .unwrap();
    let err = json_of(res, StatusCode::BAD_REQUEST).await;
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("events[0].value"),
        "{err}"
    );
    // ...and the errors it posts about a page are kept but never move a guard.
    let store = &hub.app.services.store;
    let before = store.count_events().await.unwrap();
    let errors: Vec<Value> = (0..50)
        .map(|_| json!({"kind": "error", "at": chrono::Utc::now(), "pageSlug": "home", "message": "forged"}))
        .collect();
    let res = with_key("/api/layout-mutation/report")
        .json(&json!({"batchId": "forged-errors", "events": errors}))
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::OK).await;
    for _ in 0..100 {
        if store.count_events().await.unwrap() >= before + 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(store.count_events().await.unwrap() >= before + 50);
    let page = store
        .page_conversion(
            Some("home"),
            chrono::Utc::now() - chrono::Duration::hours(1),
            chrono::Utc::now() + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(page.errors, 0, "{page:?}");
    // The same through the browser neuron's own token.
    let res = plain()
        .post(hub.url("/api/federation/stream-analytics"))
        .bearer_auth(&token)
        .json(&events(None, "any-rule", Some("b")))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

fn uuid_like() -> String {
    format!("b-{}", uuid::Uuid::new_v4().simple())
}

/// A browser app's `apply` answer carries a receipt, and its events about the rules shown
/// count with it (once per exposure); a publishable key joins only so many tabs a minute,
/// they are not audited, and tabs that go silent are removed.
#[tokio::test]
async fn browser_apps_report_with_receipts_and_their_tabs_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_with(
        cortex_server::config::Config {
            demo_shop: true,
            browser_joins_per_minute: 3,
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
    let key = json_of(
        admin
            .post(hub.url("/api/federation/publishable-keys/create"))
            .json(&json!({"name": "app", "origins": "https://app.example.com"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let with_key = |path: &str| {
        plain()
            .post(hub.url(path))
            .header("x-cortex-publishable-key", &key)
            .header("origin", "https://app.example.com")
    };
    let applied = json_of(
        with_key("/api/layout-mutation/apply")
            .json(&json!({"pageSlug": "home", "context": {"anonymousId": "v7", "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0"}}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let receipt = applied["receipt"].as_str().expect("a receipt").to_string();
    let x = &applied["exposures"][0];
    let (rule, variant) = (x["ruleId"].as_str().unwrap(), x["variantKey"].clone());
    let batch = |id: &str, kind: &str| json!({"batchId": id, "receipt": receipt, "events": [{"kind": kind, "at": chrono::Utc::now(), "mutationId": rule, "variant": variant}]});
    // The app reports the exposure `apply` answered, once, and a conversion on it.
    for (id, kind, want) in [
        ("e1", "exposure", StatusCode::OK),
        ("e2", "exposure", StatusCode::FORBIDDEN),
        ("c1", "conversion", StatusCode::OK),
    ] {
        let res = with_key("/api/layout-mutation/report")
            .json(&batch(id, kind))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), want, "{id}: {}", res.text().await.unwrap());
    }
    // A batch about no rule carries no receipt, so it proves no visitor: its conversions
    // are counted but are nobody's history (an attacker holding the key cannot give v7 a
    // past purchase to move the experiment's adjusted numbers).
    let before = hub.app.services.store.count_events().await.unwrap();
    let res = with_key("/api/layout-mutation/report")
        .json(
            &json!({"batchId": "past", "events": [{"kind": "conversion", "unit": "v7",
            "at": chrono::Utc::now() - chrono::Duration::hours(3)}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    common::writer_drained(&hub.app.services.store, before + 1).await;
    let hour = chrono::Utc::now().timestamp_millis() / 3_600_000 - 1;
    let history = hub
        .app
        .services
        .store
        .pre_exposure(rule, variant.as_str().unwrap_or_default(), hour)
        .await
        .unwrap();
    assert_eq!(history.with_history, 0, "{history:?}");
    // Tabs: three a minute with this key, none audited, removed once silent.
    let audit_before = hub
        .app
        .services
        .store
        .audit_chain(0, 10_000)
        .await
        .unwrap()
        .len();
    let mut codes = Vec::new();
    for i in 0..5 {
        let res = with_key("/api/federation/register")
            .json(&json!({"id": format!("tab-{i}"), "slug": "app", "kind": "web-app", "version": "1"}))
            .send()
            .await
            .unwrap();
        codes.push(res.status().as_u16());
    }
    assert_eq!(codes, [200, 200, 200, 429, 429]);
    let store = &hub.app.services.store;
    assert_eq!(
        store.audit_chain(0, 10_000).await.unwrap().len(),
        audit_before,
        "browser tabs are not audited"
    );
    assert_eq!(store.list_neurons().await.unwrap().len(), 3);
    hub.app
        .services
        .federation
        .sweep(chrono::Utc::now() + chrono::Duration::hours(1))
        .await
        .unwrap();
    assert!(
        store.list_neurons().await.unwrap().is_empty(),
        "silent tabs are removed"
    );
}

/// A neuron that registers with another endpoint goes back to pending, and the token it
/// holds stops working at once (not when it expires).
#[tokio::test]
async fn a_neuron_sent_back_to_pending_loses_its_token() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let client = HubClient::new(&hub.app.url(), None).unwrap();
    let key = NeuronKey::generate();
    let mut reg = registration("moving-1", &key);
    reg.endpoint = Some("https://a.example.com:8443".into());
    client.register(&reg, &key).await.unwrap();
    let res = admin
        .post(hub.url("/api/federation/neurons/set-status"))
        .json(&json!({"id": "moving-1", "status": "active"}))
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::OK).await;
    let token = client.register(&reg, &key).await.unwrap().token.unwrap();
    let sync = || {
        plain()
            .post(hub.url("/api/layout-mutation/sync"))
            .bearer_auth(&token)
            .json(&json!({"revision": 0}))
            .send()
    };
    assert_eq!(sync().await.unwrap().status(), StatusCode::OK);
    reg.endpoint = Some("https://b.example.com:8443".into());
    let again = client.register(&reg, &key).await.unwrap();
    assert_eq!(again.status, NeuronStatus::Pending);
    assert!(again.token.is_none());
    let res = sync().await.unwrap();
    assert!(expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized")
        .await
        .contains("revoked"));
}

/// Item 9: the WebSocket opens with a header or a one-time ticket, never a token in a URL.
#[tokio::test]
async fn the_push_channel_takes_a_one_time_ticket_not_a_token_in_the_url() {
    use tokio_tungstenite::tungstenite::Error;
    let hub = start().await;
    let admin = hub.setup_admin().await;
    open_policy(&hub, &admin).await;
    let key = NeuronKey::generate();
    let token = HubClient::new(&hub.app.url(), None)
        .unwrap()
        .register(&registration("api-1", &key), &key)
        .await
        .unwrap()
        .token
        .unwrap();
    let base = hub.app.url().replacen("http", "ws", 1);
    match tokio_tungstenite::connect_async(format!("{base}/api/federation/ws?token={token}")).await
    {
        Err(Error::Http(res)) => assert_eq!(res.status(), 400),
        other => panic!("?token= must be refused, got {other:?}"),
    }
    let ticket = json_of(
        plain()
            .post(hub.url("/api/federation/ws-ticket"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("{base}/api/federation/ws?ticket={ticket}");
    assert!(tokio_tungstenite::connect_async(&url).await.is_ok());
    match tokio_tungstenite::connect_async(&url).await {
        Err(Error::Http(res)) => assert_eq!(res.status(), 401, "a ticket opens one socket"),
        other => panic!("a used ticket must be refused, got {other:?}"),
    }
}

/// Item 10: storefront events need the page's receipt and must fit it; forged ones count 0.
#[tokio::test]
async fn forged_storefront_events_count_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_with(
        cortex_server::config::Config {
            demo_shop: true,
            ..test_config(dir.path())
        },
        dir,
    )
    .await;
    hub.setup_admin().await;
    for _ in 0..100 {
        if hub.app.services.mutations.current().set.revision > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let origin = hub.app.url();
    let view = json_of(
        plain()
            .get(hub.url("/api/shop/page?slug=home&query="))
            .header("cookie", "cortex_vid=visitor1")
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let receipt = view["receipt"].as_str().unwrap().to_string();
    let shown: Vec<(String, Option<String>)> = view["applied"]["exposures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["ruleId"].as_str().unwrap().to_string(),
                x["variantKey"].as_str().map(str::to_string),
            )
        })
        .collect();
    let store = hub.app.services.store.clone();
    // The page view and its exposures are counted by the render.
    common::writer_drained(&store, 1 + shown.len() as u64).await;
    let counted = store.count_events().await.unwrap();
    let post = |body: Value| {
        plain()
            .post(hub.url("/api/layout-mutation/report"))
            .header("origin", &origin)
            .body(body.to_string())
            .send()
    };
    let conversion = |rule: &str, variant: Option<&str>| json!({"kind": "conversion", "at": chrono::Utc::now(), "mutationId": rule, "variant": variant});
    let (rule, variant) = shown
        .first()
        .cloned()
        .expect("a rule applies to this visitor");
    let other_variant = if variant.as_deref() == Some("control") {
        "treatment"
    } else {
        "control"
    };
    let mut altered = receipt.clone();
    altered.insert(3, 'x');
    for (what, body) in [
        (
            "no receipt",
            json!({"batchId": "f1", "events": [conversion(&rule, variant.as_deref())]}),
        ),
        (
            "a forged receipt",
            json!({"batchId": "f2", "events": [conversion(&rule, variant.as_deref())], "receipt": altered}),
        ),
        (
            "a variant not shown",
            json!({"batchId": "f3", "events": [conversion(&rule, Some(other_variant))], "receipt": receipt}),
        ),
        (
            "a rule not shown",
            json!({"batchId": "f4", "events": [conversion("other-rule", None)], "receipt": receipt}),
        ),
        (
            "a page view (counted by the render)",
            json!({"batchId": "f5", "events": [{"kind": "pageView", "at": chrono::Utc::now()}], "receipt": receipt}),
        ),
        (
            "another visitor",
            json!({"batchId": "f6", "events": [{"kind": "click", "at": chrono::Utc::now(), "unit": "visitor2"}], "receipt": receipt}),
        ),
        (
            "an exposure the render counted",
            json!({"batchId": "f7", "events": [{"kind": "exposure", "at": chrono::Utc::now(), "mutationId": rule, "variant": variant}], "receipt": receipt}),
        ),
    ] {
        let res = post(body).await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "{what}: {}",
            res.text().await.unwrap()
        );
    }
    let conversion_at = |at: chrono::DateTime<chrono::Utc>| json!({"kind": "conversion", "at": at, "mutationId": rule, "variant": variant});
    for (what, body) in [
        (
            "an event from the future",
            json!({"batchId": "g1", "events": [conversion_at(chrono::Utc::now() + chrono::Duration::days(3650))], "receipt": receipt}),
        ),
        (
            "an event before the page was shown",
            json!({"batchId": "g2", "events": [conversion_at(chrono::Utc::now() - chrono::Duration::days(2))], "receipt": receipt}),
        ),
        (
            "a dwell of a thousand years",
            json!({"batchId": "g3", "events": [{"kind": "dwell", "at": chrono::Utc::now(), "value": 3.2e13}], "receipt": receipt}),
        ),
        (
            "more events than a page sends",
            json!({"batchId": "g4", "events": vec![conversion(&rule, variant.as_deref()); 201], "receipt": receipt}),
        ),
    ] {
        let res = post(body).await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::BAD_REQUEST,
            "{what}: {}",
            res.text().await.unwrap()
        );
    }
    // A batch that fits is taken; then the visitor's rate ends a replay loop.
    let good = json!({"batchId": "ok-1", "events": [conversion(&rule, variant.as_deref())], "receipt": receipt});
    json_of(post(good).await.unwrap(), StatusCode::OK).await;
    common::writer_drained(&store, counted + 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        store.count_events().await.unwrap(),
        counted + 1,
        "forged events: 0 counted"
    );
    let mut limited = false;
    for i in 0..300 {
        let batch = json!({"batchId": format!("r{i}"), "events": vec![conversion(&rule, variant.as_deref()); 10], "receipt": receipt});
        let res = post(batch).await.unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert!(limited, "one visitor cannot post without limit");
}

/// Item 11: parallel guesses are each counted before any password is hashed, and a username
/// under attack slows down but never locks its owner out from another address.
#[tokio::test]
async fn sign_in_guesses_are_counted_before_hashing_and_never_lock_the_owner_out() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_with(
        cortex_server::config::Config {
            login_max_failures: 5,
            ..test_config(dir.path())
        },
        dir,
    )
    .await;
    hub.setup_admin().await;
    let url = hub.url("/api/auth/login");
    let guesses = (0..50).map(|i| {
        let url = url.clone();
        async move {
            plain()
                .post(url)
                .json(&json!({"username": common::ADMIN, "password": format!("guess number {i}")}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let codes = futures_util::future::join_all(guesses).await;
    let count = |c: StatusCode| codes.iter().filter(|x| **x == c).count();
    assert_eq!(count(StatusCode::UNAUTHORIZED), 5, "{codes:?}");
    assert_eq!(count(StatusCode::TOO_MANY_REQUESTS), 45, "{codes:?}");
    // Attackers from many addresses fail for the admin's name; the admin, from their own
    // address, still signs in (after a short wait, not a lockout).
    let auth = &hub.app.services.auth;
    for i in 0..4u8 {
        let ip = std::net::IpAddr::from([10, 0, 0, i]);
        assert!(auth
            .login(common::ADMIN, "not the password", Some(ip))
            .await
            .is_err());
    }
    let started = std::time::Instant::now();
    let own = std::net::IpAddr::from([192, 168, 1, 7]);
    assert!(auth
        .login(common::ADMIN, common::PASSWORD, Some(own))
        .await
        .is_ok());
    assert!(started.elapsed() <= Duration::from_secs(5));
}

/// Item 12: an odd HTTP method does not become a new metric series.
#[tokio::test]
async fn odd_methods_do_not_make_metric_series() {
    let hub = start().await;
    for m in ["FOOBAR", "X-RANDOM-7"] {
        plain()
            .request(
                reqwest::Method::from_bytes(m.as_bytes()).unwrap(),
                hub.url("/api/status"),
            )
            .send()
            .await
            .unwrap();
    }
    let metrics = plain()
        .get(hub.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains("FOOBAR") && !metrics.contains("X-RANDOM-7"));
    assert!(metrics.contains("method=\"OTHER\""), "{metrics}");
}

/// Item 14: `/readyz` tells anonymous callers only that the database is down; `sync` turns
/// an unknown caller away before reading its body; the token secret endpoint's schema
/// allows the null it answers.
#[tokio::test]
async fn small_leaks_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let down = cortex::Application::build(cortex_server::config::Config {
        database_url: Some(secrecy::SecretString::from(
            "postgres://secret-user:secret-password@127.0.0.1:1/private_db".to_string(),
        )),
        ..test_config(dir.path())
    })
    .await
    .unwrap()
    .spawn();
    let mut body = String::new();
    for _ in 0..50 {
        let res = plain()
            .get(format!("{}/readyz", down.url()))
            .send()
            .await
            .unwrap();
        body = res.text().await.unwrap();
        if body.contains("degraded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(body.contains("degraded"), "{body}");
    for secret in [
        "secret-user",
        "private_db",
        "127.0.0.1",
        "refused",
        "connect",
    ] {
        assert!(!body.contains(secret), "{secret} in {body}");
    }
    down.stop();

    let hub = start().await;
    // A wrong method on a probe or a page is the same JSON error as on the API.
    for path in ["/healthz", "/readyz", "/metrics", "/admin", "/shop"] {
        let res = plain().post(hub.url(path)).send().await.unwrap();
        expect_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    }
    let huge = vec![b'x'; 3 * 1024 * 1024];
    let res = plain()
        .post(hub.url("/api/layout-mutation/sync"))
        .body(huge)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let doc: Value = plain()
        .get(hub.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schema = &doc["paths"]["/api/tokens/take-new-secret"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    assert!(schema.to_string().contains("null"), "{schema}");
}
