//! Neurons joining a real hub through the SDK: signed registration under each join policy,
//! heartbeats, admin actions, the fleet summary, the sweeper, and every way a request can
//! be refused.

mod common;

use common::{expect_error, json_of, next, plain, start, start_with, test_config, writer_drained};
use cortex_core::federation::{HealthState, Heartbeat, NeuronStatus, Registration};
use cortex_core::Role;
use cortex_sdk::neuron::{nonce, HEARTBEAT_PATH, REGISTER_PATH};
use cortex_sdk::{HubClient, NeuronKey, SdkError};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

fn registration(id: &str, key: &NeuronKey) -> Registration {
    Registration {
        id: id.into(),
        slug: "shop".into(),
        kind: "api-service".into(),
        version: "1.4.2".into(),
        capabilities: vec!["config".into(), "layout-rules".into()],
        tags: vec!["eu".into(), "canary".into()],
        region: Some("eu-west".into()),
        endpoint: None,
        public_key: key.public_key(),
        fingerprints: Default::default(),
    }
}

fn status_of(e: SdkError) -> u16 {
    match e {
        SdkError::Api { status, .. } => status,
        other => panic!("expected an API error, got {other}"),
    }
}

/// Sends a registration body with explicit signature headers.
async fn raw_register(
    hub: &common::Hub,
    body: &[u8],
    headers: Vec<(&'static str, String)>,
) -> reqwest::Response {
    let mut req = plain()
        .post(hub.url(REGISTER_PATH))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_neuron_waits_for_approval_then_heartbeats() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    let operator = hub.token(&admin, "operator", Role::Operator).await;
    let client = HubClient::new(&hub.app.url(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = NeuronKey::load_or_create(&dir.path().join("keys/neuron.key")).unwrap();
    assert_eq!(
        NeuronKey::load_or_create(&dir.path().join("keys/neuron.key"))
            .unwrap()
            .public_key(),
        key.public_key(),
        "the key file is reused"
    );

    // Approval is the default: the neuron waits, without a token.
    let joined = client
        .register(&registration("shop-1", &key), &key)
        .await
        .unwrap();
    assert_eq!(joined.status, NeuronStatus::Pending);
    assert!(joined.token.is_none());

    // An operator cannot approve; an admin can.
    let res = plain()
        .post(hub.url("/api/federation/neurons/set-status"))
        .bearer_auth(&operator)
        .json(&json!({"id": "shop-1", "status": "active"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = admin
        .post(hub.url("/api/federation/neurons/set-status"))
        .json(&json!({"id": "shop-1", "status": "active"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res, StatusCode::OK).await["status"], "active");

    // Registering again (as the SDK does while pending) now hands out a token.
    let joined = client
        .register(&registration("shop-1", &key), &key)
        .await
        .unwrap();
    assert_eq!(joined.status, NeuronStatus::Active);
    let token = joined.token.expect("a joined neuron gets a token");
    assert!(token.starts_with("ctn_"));

    let beat = Heartbeat {
        state: HealthState::Degraded,
        checks: vec![cortex_core::federation::Check {
            name: "database".into(),
            state: HealthState::Degraded,
            message: Some("p99 800ms".into()),
        }],
        version: Some("1.5.0".into()),
        load: Default::default(),
        ..Default::default()
    };
    let again = client.heartbeat(&token, &beat).await.unwrap();
    assert_eq!(again.status, NeuronStatus::Degraded);
    assert!(again.token.is_some());

    // The fleet view shows it, with its health and new version.
    let res = plain()
        .get(hub.url("/api/federation/health"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    let fleet = json_of(res, StatusCode::OK).await;
    assert_eq!(fleet["total"], 1);
    assert_eq!(fleet["byStatus"]["degraded"], 1);
    assert_eq!(fleet["byVersion"]["1.5.0"], 1);
    assert_eq!(fleet["neurons"][0]["checks"][0]["message"], "p99 800ms");

    // A neuron token opens nothing else, and a user token does not heartbeat.
    let res = plain()
        .get(hub.url("/api/federation/health"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = plain()
        .post(hub.url(HEARTBEAT_PATH))
        .bearer_auth(&viewer)
        .json(&beat)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = plain()
        .post(hub.url(HEARTBEAT_PATH))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"state":"sleepy"}"#)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;

    // Drain: still heartbeats, stays draining. Remove: its token stops working.
    let res = plain()
        .post(hub.url("/api/federation/neurons/set-status"))
        .bearer_auth(&operator)
        .json(&json!({"id": "shop-1", "status": "draining"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res, StatusCode::OK).await["status"], "draining");
    assert_eq!(
        client
            .heartbeat(&token, &Heartbeat::default())
            .await
            .unwrap()
            .status,
        NeuronStatus::Draining
    );
    let res = plain()
        .post(hub.url("/api/federation/neurons/set-status"))
        .bearer_auth(&operator)
        .json(&json!({"id": "shop-1", "status": "pending"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = plain()
        .post(hub.url("/api/federation/neurons/remove"))
        .bearer_auth(&operator)
        .json(&json!({"id": "shop-1"}))
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::OK).await;
    // Its token is revoked at once (not when it expires).
    match client
        .heartbeat(&token, &Heartbeat::default())
        .await
        .unwrap_err()
    {
        SdkError::Api { status, body } => {
            assert_eq!(status, 401);
            assert!(
                body.error.message.contains("revoked"),
                "{}",
                body.error.message
            );
        }
        other => panic!("{other}"),
    }

    // Every change is in the audit log.
    let audit = HubClient::new(&hub.app.url(), Some(viewer))
        .unwrap()
        .audit(&cortex_core::audit::AuditQuery {
            action: Some("neuron.".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit
        .iter()
        .rev()
        .map(|e| e.record.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "neuron.register",
            "neuron.approve",
            // Registering again once approved changed nothing but the last-seen time: no entry.
            "neuron.refused", // a user token on the heartbeat route, above
            "neuron.drain",
            "neuron.remove",
            "neuron.refused", // the revoked token, above
        ]
    );
}

#[tokio::test]
async fn bad_signatures_stale_times_replays_and_bad_input_are_refused() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let res = admin
        .post(hub.url("/api/federation/join-policy"))
        .json(&json!({"mode": "open"}))
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::OK).await;
    let key = NeuronKey::generate();
    let reg = registration("api-1", &key);
    let body = serde_json::to_vec(&reg).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let hub_id = HubClient::new(&hub.app.url(), None)
        .unwrap()
        .hub_id()
        .await
        .unwrap();
    assert!(hub_id.starts_with("hub_"), "{hub_id}");

    // No signature at all.
    let res = raw_register(&hub, &body, vec![]).await;
    let msg = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(msg.contains("x-cortex-neuron"), "{msg}");
    // Signed by another key.
    let other = NeuronKey::generate();
    let res = raw_register(
        &hub,
        &body,
        other.sign("api-1", &hub_id, "POST", REGISTER_PATH, &body),
    )
    .await;
    assert!(expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized")
        .await
        .contains("signature"));
    // A body changed after signing.
    let mut tampered = reg.clone();
    tampered.version = "6.6.6".into();
    let res = raw_register(
        &hub,
        &serde_json::to_vec(&tampered).unwrap(),
        key.sign("api-1", &hub_id, "POST", REGISTER_PATH, &body),
    )
    .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Signed for another path.
    let res = raw_register(
        &hub,
        &body,
        key.sign("api-1", &hub_id, "POST", HEARTBEAT_PATH, &body),
    )
    .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Six minutes old.
    let res = raw_register(
        &hub,
        &body,
        key.sign_at(
            "api-1",
            &hub_id,
            "POST",
            REGISTER_PATH,
            &body,
            now - 6 * 60_000,
            &nonce(),
        ),
    )
    .await;
    assert!(expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized")
        .await
        .contains("clock"));
    // The neuron header names someone else.
    let res = raw_register(
        &hub,
        &body,
        key.sign("api-2", &hub_id, "POST", REGISTER_PATH, &body),
    )
    .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // A good request joins; the very same request again is a replay.
    // Signed for another hub: a capture replayed here.
    let res = raw_register(
        &hub,
        &body,
        key.sign("api-1", "hub_elsewhere", "POST", REGISTER_PATH, &body),
    )
    .await;
    assert!(expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized")
        .await
        .contains("hub's id"));

    let signed = key.sign_at(
        "api-1",
        &hub_id,
        "POST",
        REGISTER_PATH,
        &body,
        now,
        &nonce(),
    );
    let res = raw_register(&hub, &body, signed.clone()).await;
    assert_eq!(json_of(res, StatusCode::OK).await["status"], "active");
    let res = raw_register(&hub, &body, signed).await;
    assert!(expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized")
        .await
        .contains("replay"));

    // Another key claiming a known id.
    let client = HubClient::new(&hub.app.url(), None).unwrap();
    let thief = NeuronKey::generate();
    assert_eq!(
        status_of(
            client
                .register(&registration("api-1", &thief), &thief)
                .await
                .unwrap_err()
        ),
        409
    );

    // Field checks name the field.
    for (change, field) in [
        (json!({"kind": "toaster"}), "kind"),
        (json!({"kind": "web-app"}), "kind"),
        (
            json!({"capabilities": ["probe", "teleport"]}),
            "capabilities[1]",
        ),
        (json!({"id": "Not Valid"}), "id"),
        (json!({"endpoint": "ftp://x"}), "endpoint"),
        (json!({"extra": 1}), "extra"),
    ] {
        let mut v = serde_json::to_value(registration("api-9", &key)).unwrap();
        for (k, val) in change.as_object().unwrap() {
            v[k] = val.clone();
        }
        let id = v["id"].as_str().unwrap().to_string();
        let body = serde_json::to_vec(&v).unwrap();
        let res = raw_register(
            &hub,
            &body,
            key.sign(&id, &hub_id, "POST", REGISTER_PATH, &body),
        )
        .await;
        let msg = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(msg.contains(field), "{field}: {msg}");
    }
    let huge = vec![b' '; 20_000];
    let res = raw_register(
        &hub,
        &huge,
        key.sign("api-1", &hub_id, "POST", REGISTER_PATH, &huge),
    )
    .await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // An allowlist refuses unlisted neurons, and a listed tag admits only the keys an admin
    // bound it to: the tags a neuron declares about itself count for nothing.
    let tagged = NeuronKey::generate();
    let res = admin
        .post(hub.url("/api/federation/join-policy"))
        .json(&json!({"mode": "allowlist", "tags": "canary", "key_tags": format!("{} canary", tagged.public_key())}))
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::OK).await;
    let mut stranger = registration("api-3", &key);
    stranger.tags = vec!["eu".into()];
    assert_eq!(
        status_of(client.register(&stranger, &key).await.unwrap_err()),
        403
    );
    assert_eq!(
        status_of(
            client
                .register(&registration("api-4", &key), &key)
                .await
                .unwrap_err()
        ),
        403,
        "claims the canary tag, but no admin gave it"
    );
    assert_eq!(
        client
            .register(&registration("api-5", &tagged), &tagged)
            .await
            .unwrap()
            .status,
        NeuronStatus::Active
    );
    let res = admin
        .post(hub.url("/api/federation/join-policy"))
        .json(&json!({"mode": "allowlist"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = admin
        .post(hub.url("/api/federation/join-policy"))
        .json(&json!({"mode": "allowlist", "keys": "not-a-key"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;

    // A source that keeps being refused raises an alert; the first refusals are audited.
    for _ in 0..10 {
        let res = plain()
            .post(hub.url(HEARTBEAT_PATH))
            .bearer_auth("ctn_forged")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let alerts = json_of(
        admin
            .get(hub.url("/api/federation/alerts"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(alerts[0]["source"], "127.0.0.1", "{alerts}");
    assert!(alerts[0]["failures"].as_u64().unwrap() >= 10, "{alerts}");
    let refused = hub
        .app
        .services
        .store
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("neuron.refused".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        refused.len(),
        3,
        "only the first refusals per source are audited"
    );
    assert_eq!(refused[0].record.target, "source:127.0.0.1");

    // The flood is also kept in the hub's alert list (once; no webhook here, so for the
    // dashboard only), and an operator acknowledges it.
    let operator = hub.token(&admin, "alert-operator", Role::Operator).await;
    let viewer = hub.token(&admin, "alert-viewer", Role::Viewer).await;
    let mut listed = serde_json::Value::Null;
    for _ in 0..100 {
        let res = plain()
            .get(hub.url("/api/alerts"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        listed = json_of(res, StatusCode::OK).await;
        if !listed.as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let list = listed.as_array().unwrap();
    assert_eq!(list.len(), 1, "one alert per flood: {listed}");
    let alert = &list[0];
    assert_eq!(
        (&alert["kind"], &alert["subject"], &alert["delivery"]),
        (
            &json!("refusals"),
            &json!("127.0.0.1"),
            &json!("dashboardOnly")
        ),
        "{alert}"
    );
    assert!(
        alert["text"].as_str().unwrap().contains("refused"),
        "{alert}"
    );
    let id = alert["id"].as_str().unwrap().to_string();
    let ack = |token: Option<&str>, body: serde_json::Value| {
        let mut req = plain().post(hub.url("/api/alerts/acknowledge")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let res = ack(None, json!({"id": id})).await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = ack(Some(&viewer), json!({"id": id})).await.unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    for bad in [
        json!({"id": "<script>"}),
        json!({"id": "a".repeat(500)}),
        json!({"nope": 1}),
    ] {
        let res = ack(Some(&operator), bad.clone()).await.unwrap();
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let res = ack(Some(&operator), json!({"id": "0000-0000"}))
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let done = json_of(
        ack(Some(&operator), json!({"id": id})).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["acknowledgedBy"], "token:alert-operator", "{done}");
    let res = ack(Some(&operator), json!({"id": id})).await.unwrap();
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    let audited = hub
        .app
        .services
        .store
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("alert.acknowledge".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].record.actor, "token:alert-operator");
}

/// Whatever a refused request said is shown on the Alerts page as text, never as markup,
/// and cut short; the list is for viewers and up only.
#[tokio::test]
async fn a_refusal_alert_shows_what_the_request_said_as_text() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let key = NeuronKey::generate();
    let body = serde_json::to_vec(&registration("shop-x", &key)).unwrap();
    let hostile = format!("<img src=x onerror=alert(1)>{}", "a".repeat(2000));
    // 64 zero bytes in base64: a well-formed signature that verifies nothing.
    let signature = format!("{}==", "A".repeat(86));
    for i in 0..10 {
        let res = plain()
            .post(hub.url(REGISTER_PATH))
            .header("content-type", "application/json")
            .header("x-cortex-neuron", &hostile)
            .header(
                "x-cortex-timestamp",
                chrono::Utc::now().timestamp_millis().to_string(),
            )
            .header("x-cortex-nonce", format!("nonce-{i:012}-abcdef"))
            .header("x-cortex-signature", &signature)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let res = plain().get(hub.url("/api/alerts")).send().await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let mut text = String::new();
    for _ in 0..100 {
        let list = json_of(
            admin.get(hub.url("/api/alerts")).send().await.unwrap(),
            StatusCode::OK,
        )
        .await;
        if let Some(t) = list[0]["text"].as_str() {
            text = t.to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(text.contains("<img src=x"), "{text}");
    assert!(text.len() < 700, "cut short: {} bytes", text.len());
    let page = admin
        .get(hub.url("/admin/alerts"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("&lt;img src=x"), "{page}");
    assert!(!page.contains("<img src=x"), "rendered as markup");
}

/// On a new hub the first requests race to make the hub's id: every one of them must get
/// the same id, the one the hub then checks signatures against. (Each once wrote its own,
/// and neurons that asked early signed for an id the hub no longer held: about 1 join in
/// 600 of the swarm bench was refused with "signature does not match".)
#[tokio::test]
async fn the_first_requests_on_a_new_hub_all_get_the_same_hub_id() {
    let hub = start().await;
    let asks = (0..32).map(|_| {
        let url = hub.url("/api/federation/hub");
        async move {
            json_of(plain().get(url).send().await.unwrap(), StatusCode::OK).await["hubId"]
                .as_str()
                .unwrap()
                .to_string()
        }
    });
    let ids = futures_util::future::join_all(asks).await;
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let stored = hub
        .app
        .services
        .store
        .setting(cortex_server::federation::HUB_ID_SETTING)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(ids[0].as_str()));
}

#[tokio::test]
async fn silent_neurons_turn_unhealthy_and_come_back_with_a_heartbeat() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.heartbeat_interval = Duration::from_millis(1000);
    cfg.neuron_unhealthy_after = Duration::from_millis(1500);
    let hub = start_with(cfg, dir).await;
    let admin = hub.setup_admin().await;
    let res = admin
        .post(hub.url("/api/federation/join-policy"))
        .json(&json!({"mode": "open"}))
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::OK).await;
    let client = HubClient::new(&hub.app.url(), None).unwrap();
    let key = NeuronKey::generate();
    let token = client
        .register(&registration("quiet-1", &key), &key)
        .await
        .unwrap()
        .token
        .unwrap();

    let store = hub.app.services.store.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n = store.neuron("quiet-1").await.unwrap().unwrap();
        if n.status == NeuronStatus::Unhealthy {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {} after 10 s of silence",
            n.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let back = client
        .heartbeat(&token, &Heartbeat::default())
        .await
        .unwrap();
    assert_eq!(back.status, NeuronStatus::Active);
    assert_eq!(back.heartbeat_seconds, 1);
}

fn pushed(m: cortex_core::federation::HubMessage) -> cortex_core::federation::Bundle {
    match m {
        cortex_core::federation::HubMessage::Push { bundle } => bundle,
        other => panic!("expected a push, got {other:?}"),
    }
}

#[tokio::test]
async fn pushes_reach_the_neurons_in_scope_live_and_after_a_reconnect() {
    use cortex_core::federation::{HubMessage, Scope};
    use std::collections::BTreeMap;
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let editor = hub.token(&admin, "editor", Role::Editor).await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    json_of(
        admin
            .post(hub.url("/api/federation/join-policy"))
            .json(&json!({"mode": "open"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let client = HubClient::new(&hub.app.url(), None).unwrap();
    let join = |id: &'static str, tag: &'static str| {
        let client = client.clone();
        async move {
            let key = NeuronKey::generate();
            let mut reg = registration(id, &key);
            reg.tags = vec![tag.into()];
            client.register(&reg, &key).await.unwrap().token.unwrap()
        }
    };
    let (eu_token, us_token) = (join("eu-1", "eu").await, join("us-1", "us").await);
    let mut eu = client.connect(&eu_token, &BTreeMap::new()).await.unwrap();
    let mut us = client.connect(&us_token, &BTreeMap::new()).await.unwrap();
    for ch in [&mut eu, &mut us] {
        assert!(matches!(next(ch).await, HubMessage::Welcome { .. }));
        assert_eq!(
            next(ch).await,
            HubMessage::Synced {
                sent: 0,
                override_unread: false
            }
        );
    }
    let push = |scope: &str, kind: &str, body: serde_json::Value| {
        plain()
            .post(hub.url("/api/federation/push-config"))
            .bearer_auth(&editor)
            .json(&json!({"scope": scope, "kind": kind, "body": body.to_string()}))
            .send()
    };

    // A global push reaches both at once; the answer counts them.
    let res = json_of(
        push("global", "config", json!({"theme": "dark"}))
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            res["revision"].as_u64(),
            res["targeted"].as_u64(),
            res["sent"].as_u64()
        ),
        (Some(1), Some(2), Some(2))
    );
    for ch in [&mut eu, &mut us] {
        let b = pushed(next(ch).await);
        assert_eq!(
            (b.scope.clone(), b.revision, b.body["theme"].as_str()),
            (Scope::Global, 1, Some("dark"))
        );
        ch.ack(&b.scope, b.revision).await.unwrap();
    }
    // A tag push reaches only that tag; a neuron push only that neuron.
    json_of(
        push("tag:eu", "offers", json!({"banner": "eu-sale"}))
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    json_of(
        push("neuron:us-1", "config", json!({"debug": true}))
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(pushed(next(&mut eu).await).body["banner"], "eu-sale");
    let b = pushed(next(&mut us).await);
    assert_eq!(
        (b.scope, b.body["debug"].as_bool()),
        (Scope::Neuron("us-1".into()), Some(true))
    );

    // Heartbeats over the socket come back with a fresh token.
    eu.heartbeat(&Heartbeat::default()).await.unwrap();
    assert!(matches!(next(&mut eu).await, HubMessage::Token { .. }));

    // Propagation: both acked revision 1 of global.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let list = json_of(
            plain()
                .get(hub.url("/api/federation/pushes"))
                .bearer_auth(&viewer)
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
        let global = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["scope"] == "global")
            .unwrap()
            .clone();
        if global["acked"] == 2 {
            assert_eq!(global["targeted"], 2);
            let fleet = json_of(
                plain()
                    .get(hub.url("/api/federation/health"))
                    .bearer_auth(&viewer)
                    .send()
                    .await
                    .unwrap(),
                StatusCode::OK,
            )
            .await;
            let eu = fleet["neurons"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["id"] == "eu-1")
                .unwrap();
            assert_eq!(eu["acked"][0]["scope"], "global", "{eu}");
            assert_eq!(eu["acked"][0]["revision"], 1);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "acks never arrived: {global}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Away for two pushes of the same kind: on reconnect only the latest comes, once.
    eu.close().await;
    json_of(
        push("global", "config", json!({"theme": "light"}))
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    json_of(
        push("global", "config", json!({"theme": "blue"}))
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let held = BTreeMap::from([(Scope::Global, 1), (Scope::Tag("eu".into()), 1)]);
    let mut eu = client.connect(&eu_token, &held).await.unwrap();
    assert!(matches!(next(&mut eu).await, HubMessage::Welcome { .. }));
    let b = pushed(next(&mut eu).await);
    assert_eq!((b.revision, b.body["theme"].as_str()), (3, Some("blue")));
    assert_eq!(
        next(&mut eu).await,
        HubMessage::Synced {
            sent: 1,
            override_unread: false
        }
    );
    assert_eq!(
        pushed(next(&mut us).await).revision,
        2,
        "the connected neuron got both live"
    );
    assert_eq!(pushed(next(&mut us).await).revision, 3);

    // Removing a neuron closes its channel.
    json_of(
        admin
            .post(hub.url("/api/federation/neurons/remove"))
            .json(&json!({"id": "us-1"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(!hub.app.services.federation.channels().is_connected("us-1"));
    let closed = tokio::time::timeout(Duration::from_secs(5), us.next())
        .await
        .expect("closes within 5 s");
    assert!(!matches!(closed, Some(Ok(_))), "got {closed:?}");

    // Bad pushes are refused with the field named; viewers cannot push.
    for (body, field) in [
        (
            json!({"scope": "planet:mars", "kind": "config", "body": "{}"}),
            "scope",
        ),
        (
            json!({"scope": "global", "kind": "flags", "body": "{}"}),
            "kind",
        ),
        (
            json!({"scope": "global", "kind": "config", "body": "{not json"}),
            "body",
        ),
        (
            json!({"scope": "global", "kind": "config", "body": "[1]"}),
            "body",
        ),
    ] {
        let res = plain()
            .post(hub.url("/api/federation/push-config"))
            .bearer_auth(&editor)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(expect_error(res, StatusCode::BAD_REQUEST, "bad_request")
            .await
            .contains(field));
    }
    let res = plain()
        .post(hub.url("/api/federation/push-config"))
        .bearer_auth(&viewer)
        .json(&json!({"scope": "global", "kind": "config", "body": "{}"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    // The channel refuses a missing or foreign token before upgrading.
    let res = plain()
        .get(hub.url("/api/federation/ws"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

async fn wait_until<F: Fn() -> bool>(what: &str, f: F) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (10 s at most) until the analytics writer has stored `n` events.
async fn open_policy(hub: &common::Hub, admin: &reqwest::Client) {
    json_of(
        admin
            .post(hub.url("/api/federation/join-policy"))
            .json(&json!({"mode": "open"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
}

/// Retiring a neuron from the dashboard tells it so: the SDK's runner stops and does not
/// register again (it did, as a new pending neuron, before), and the registry keeps it
/// retired. Draining does not stop it.
#[tokio::test]
async fn a_retired_neuron_is_told_to_leave_and_does_not_come_back() {
    use cortex_sdk::runner::{self, Connection, RunnerConfig};
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let operator = hub.token(&admin, "operator", Role::Operator).await;
    open_policy(&hub, &admin).await;
    let cache = tempfile::tempdir().unwrap();
    let key = NeuronKey::generate();
    let cfg = RunnerConfig::new(
        &hub.app.url(),
        registration("old-1", &key),
        key.clone(),
        cache.path(),
    );
    let neuron = runner::start(cfg, None).unwrap();
    let conn = neuron.watch_connection();
    wait_until("online", || *conn.borrow() == Connection::Online).await;
    let set = |status: &str| {
        plain()
            .post(hub.url("/api/federation/neurons/set-status"))
            .bearer_auth(&operator)
            .json(&json!({"id": "old-1", "status": status}))
            .send()
    };
    json_of(set("draining").await.unwrap(), StatusCode::OK).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*conn.borrow(), Connection::Online, "draining keeps it in");
    json_of(set("retired").await.unwrap(), StatusCode::OK).await;
    wait_until("told it is retired", || {
        matches!(&*conn.borrow(), Connection::Retired { reason } if reason.contains("retired by an operator"))
    })
    .await;
    // It stays out: no registration brings it back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let n = hub
        .app
        .services
        .store
        .neuron("old-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n.status, NeuronStatus::Retired);
    assert!(matches!(&*conn.borrow(), Connection::Retired { .. }));
    // It sends nothing more: events are dropped, not retried against a void token.
    assert!(neuron.retired());
    neuron.record(cortex_core::analytics::Event::new(
        cortex_core::analytics::EventKind::Click,
        chrono::Utc::now(),
    ));
    assert_eq!((neuron.buffered_events(), neuron.dropped_events()), (0, 1));
    neuron.stop();
}

#[tokio::test]
async fn an_embedded_neuron_applies_pushes_answers_commands_and_reports_events() {
    use cortex_core::analytics::{Event, EventKind};
    use cortex_core::federation::BundleKind;
    use cortex_sdk::runner::{self, Connection, RunnerConfig};
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let operator = hub.token(&admin, "operator", Role::Operator).await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    open_policy(&hub, &admin).await;
    let cache = tempfile::tempdir().unwrap();
    let key = NeuronKey::generate();
    let cfg = RunnerConfig {
        flush_every: Duration::from_millis(50),
        ..RunnerConfig::new(
            &hub.app.url(),
            registration("shop-1", &key),
            key.clone(),
            cache.path(),
        )
    };
    let neuron = runner::start(cfg.clone(), None).unwrap();
    let conn = neuron.watch_connection();
    wait_until("online", || *conn.borrow() == Connection::Online).await;

    // A push lands in the snapshot and on disk.
    json_of(
        admin
            .post(hub.url("/api/federation/push-config"))
            .json(&json!({"scope": "global", "kind": "config", "body": r#"{"theme":"dark"}"#}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let theme = || {
        neuron
            .snapshot()
            .effective(BundleKind::Config)
            .map(|b| b.body["theme"].clone())
    };
    wait_until("push applied", || theme() == Some(json!("dark"))).await;
    assert!(cache.path().join("bundles.json").exists());

    // Events are batched, acknowledged and written; reported errors are searchable.
    for i in 0..2_499 {
        let mut e = Event::new(EventKind::Click, chrono::Utc::now());
        e.unit = Some(format!("u{i}"));
        neuron.record(e);
    }
    let mut err = Event::new(EventKind::Error, chrono::Utc::now());
    err.message = Some("payment provider timed out".into());
    neuron.record(err);
    wait_until("events acknowledged", || neuron.sent_events() == 2_500).await;
    let store = hub.app.services.store.clone();
    writer_drained(&store, 2_500).await;
    assert_eq!(store.count_events().await.unwrap(), 2_500);
    let found = json_of(
        plain()
            .get(hub.url("/api/federation/reports?q=PAYMENT&kind=error"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["neuronId"], "shop-1");
    let res = plain()
        .get(hub.url("/api/federation/reports?kind=panic"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert!(expect_error(res, StatusCode::BAD_REQUEST, "bad_request")
        .await
        .contains("kind"));

    // Hot reload and sync: each neuron answers, the answers are listed.
    for (path, scope) in [
        ("/api/federation/hot-reload", "global"),
        ("/api/federation/sync", "neuron:shop-1"),
    ] {
        let run = json_of(
            plain()
                .post(hub.url(path))
                .bearer_auth(&operator)
                .json(&json!({"scope": scope}))
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            (run["targeted"].as_u64(), run["sent"].as_u64()),
            (Some(1), Some(1)),
            "{run}"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let runs = json_of(
                plain()
                    .get(hub.url("/api/federation/commands"))
                    .bearer_auth(&viewer)
                    .send()
                    .await
                    .unwrap(),
                StatusCode::OK,
            )
            .await;
            let this = runs
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == run["id"])
                .unwrap()
                .clone();
            if this["reports"][0]["outcome"] == "done" {
                assert!(
                    this["reports"][0]["message"]
                        .as_str()
                        .unwrap()
                        .contains("bundle"),
                    "{this}"
                );
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no answer: {this}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let res = plain()
        .post(hub.url("/api/federation/hot-reload"))
        .bearer_auth(&viewer)
        .json(&json!({"scope": "global"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = plain()
        .post(hub.url("/api/federation/hot-reload"))
        .bearer_auth(&operator)
        .json(&json!({"scope": "moon"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let audited = hub
        .app
        .services
        .store
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("command.".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audited.len(), 2);

    // With the hub out of reach, a restarted app starts from the last-known-good config.
    neuron.stop();
    let offline = runner::start(
        RunnerConfig {
            hub: "http://127.0.0.1:9".into(),
            ..cfg
        },
        None,
    )
    .unwrap();
    assert_eq!(
        offline
            .snapshot()
            .effective(BundleKind::Config)
            .unwrap()
            .body["theme"],
        "dark"
    );
    offline.stop();
}

#[tokio::test]
async fn stream_analytics_acks_counts_once_and_refuses_bad_batches() {
    use cortex_core::federation::HubMessage;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
    let hub = start().await;
    let admin = hub.setup_admin().await;
    open_policy(&hub, &admin).await;
    let client = HubClient::new(&hub.app.url(), None).unwrap();
    let key = NeuronKey::generate();
    let token = client
        .register(&registration("api-9", &key), &key)
        .await
        .unwrap()
        .token
        .unwrap();
    let post = |body: serde_json::Value, bearer: Option<&str>| {
        let mut req = plain()
            .post(hub.url("/api/federation/stream-analytics"))
            .json(&body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        req.send()
    };
    let batch = json!({"batchId": "b-1", "events": [
        {"kind": "exposure", "at": "2026-11-29T10:00:00Z", "unit": "u1", "mutationId": "m1", "variant": "b"},
        {"kind": "conversion", "at": "2026-11-29T10:00:05Z", "unit": "u1", "name": "checkout", "value": 42.5}
    ]});
    let ack = json_of(
        post(batch.clone(), Some(&token)).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        ack,
        json!({"batchId": "b-1", "events": 2, "duplicate": false})
    );
    let ack = json_of(
        post(batch.clone(), Some(&token)).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(ack["duplicate"], true);
    expect_error(
        post(batch.clone(), None).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        post(batch.clone(), Some("ctn_forged")).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let msg = expect_error(
        post(json!({"batchId": "b-2", "events": []}), Some(&token))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.contains("events"), "{msg}");
    let big: Vec<_> = (0..5_001)
        .map(|_| json!({"kind": "click", "at": "2026-11-29T10:00:00Z"}))
        .collect();
    let msg = expect_error(
        post(json!({"batchId": "b-3", "events": big}), Some(&token))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.contains("5000"), "{msg}");

    // Over the socket: events are acked the same way; a malformed message closes only
    // that socket, with the reason.
    let mut ch = client.connect(&token, &Default::default()).await.unwrap();
    ch.events(&serde_json::from_value(json!({"batchId": "b-4", "events": [{"kind": "pageView", "at": "2026-11-29T10:00:00Z"}]})).unwrap())
        .await
        .unwrap();
    let mut acked = false;
    for _ in 0..3 {
        if let HubMessage::EventsAck(a) = next(&mut ch).await {
            assert_eq!(
                (a.batch_id.as_str(), a.events, a.duplicate),
                ("b-4", 1, false)
            );
            acked = true;
            break;
        }
    }
    assert!(acked, "no eventsAck");
    // (Another neuron: a second socket of the same neuron would replace the first.)
    let other_key = NeuronKey::generate();
    let other = client
        .register(&registration("api-10", &other_key), &other_key)
        .await
        .unwrap()
        .token
        .unwrap();
    let url = format!(
        "{}/api/federation/ws",
        hub.app.url().replacen("http", "ws", 1)
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {other}").parse().unwrap());
    let (mut raw, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    raw.send(Message::Text("{\"type\":\"launch-missiles\"}".into()))
        .await
        .unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(m) = raw.next().await {
            if let Ok(Message::Close(Some(f))) = m {
                return f.reason.to_string();
            }
        }
        String::new()
    })
    .await
    .unwrap();
    assert!(reason.contains("not a neuron message"), "{reason:?}");
    // The hub carries on: the other socket still answers.
    ch.heartbeat(&Heartbeat::default()).await.unwrap();
    let mut got_token = false;
    for _ in 0..3 {
        if matches!(next(&mut ch).await, HubMessage::Token { .. }) {
            got_token = true;
            break;
        }
    }
    assert!(got_token);
    let store = hub.app.services.store.clone();
    writer_drained(&store, 3).await;
    assert_eq!(store.count_events().await.unwrap(), 3, "b-1 once, b-4 once");
}

#[tokio::test]
async fn the_hub_probes_server_neurons_that_declare_an_endpoint() {
    use cortex_core::federation::HealthState;
    let dir = tempfile::tempdir().unwrap();
    let hub = common::start_with(
        cortex_server::config::Config {
            probe_allow_loopback: true,
            ..common::test_config(dir.path())
        },
        dir,
    )
    .await;
    let admin = hub.setup_admin().await;
    open_policy(&hub, &admin).await;
    let client = HubClient::new(&hub.app.url(), None).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    for (id, endpoint) in [
        // The path and query a neuron writes are never fetched: only its origin's /healthz.
        (
            "up-1",
            Some(format!(
                "{}/api/federation/neurons/remove?id=x",
                hub.app.url()
            )),
        ),
        ("down-1", Some(closed_url)),
        ("none-1", None),
    ] {
        let key = NeuronKey::generate();
        let mut reg = registration(id, &key);
        reg.endpoint = endpoint;
        client.register(&reg, &key).await.unwrap();
    }
    // Metadata and link-local addresses are refused when the neuron names them.
    for bad in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]:80/",
        "http://metadata.google.internal/",
    ] {
        let key = NeuronKey::generate();
        let mut reg = registration("meta-1", &key);
        reg.endpoint = Some(bad.into());
        assert_eq!(
            status_of(client.register(&reg, &key).await.unwrap_err()),
            400,
            "{bad}"
        );
    }
    let http = cortex_server::federation::neuron_probe::client(true).unwrap();
    assert_eq!(hub.app.services.federation.probe_all(&http).await, 2);
    let store = hub.app.services.store.clone();
    let up = store.neuron("up-1").await.unwrap().unwrap().probe.unwrap();
    assert_eq!(
        (up.state, up.message.as_str()),
        (HealthState::Ok, "HTTP 200")
    );
    let down = store
        .neuron("down-1")
        .await
        .unwrap()
        .unwrap()
        .probe
        .unwrap();
    assert_eq!(down.state, HealthState::Failing);
    assert!(down.message.contains("refused"), "{}", down.message);
    assert!(store
        .neuron("none-1")
        .await
        .unwrap()
        .unwrap()
        .probe
        .is_none());
    // The fleet summary carries it for the dashboard.
    let fleet = json_of(
        admin
            .get(hub.url("/api/federation/health"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let down = fleet["neurons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "down-1")
        .unwrap();
    assert_eq!(down["probe"]["state"], "failing");

    // A hub that may not probe loopback says so instead of probing.
    let dir = tempfile::tempdir().unwrap();
    let strict = common::start_with(common::test_config(dir.path()), dir).await;
    let strict_admin = strict.setup_admin().await;
    open_policy(&strict, &strict_admin).await;
    let key = NeuronKey::generate();
    let mut reg = registration("loop-1", &key);
    reg.endpoint = Some(hub.app.url());
    HubClient::new(&strict.app.url(), None)
        .unwrap()
        .register(&reg, &key)
        .await
        .unwrap();
    let guarded = cortex_server::federation::neuron_probe::client(false).unwrap();
    assert_eq!(strict.app.services.federation.probe_all(&guarded).await, 1);
    let refused = strict
        .app
        .services
        .store
        .neuron("loop-1")
        .await
        .unwrap()
        .unwrap()
        .probe
        .unwrap();
    assert_eq!(refused.state, HealthState::Failing);
    assert!(refused.message.contains("loopback"), "{}", refused.message);
}

#[tokio::test]
async fn a_staged_push_reaches_its_audience_first_then_everyone_when_promoted() {
    use cortex_core::federation::HubMessage;
    let hub = start().await;
    let admin = hub.setup_admin().await;
    open_policy(&hub, &admin).await;
    let client = HubClient::new(&hub.app.url(), None).unwrap();
    let mut channels = Vec::new();
    for (id, tag) in [("c-1", "canary"), ("s-1", "stable")] {
        let key = NeuronKey::generate();
        let mut reg = registration(id, &key);
        reg.tags = vec![tag.into()];
        let token = client.register(&reg, &key).await.unwrap().token.unwrap();
        let mut ch = client.connect(&token, &Default::default()).await.unwrap();
        assert!(matches!(next(&mut ch).await, HubMessage::Welcome { .. }));
        assert!(matches!(next(&mut ch).await, HubMessage::Synced { .. }));
        channels.push(ch);
    }
    let push = |extra: serde_json::Value| {
        let mut body = json!({"scope": "global", "kind": "config", "body": "{\"v\":2}"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        admin
            .post(hub.url("/api/federation/push-config"))
            .json(&body)
            .send()
    };
    let staged = json_of(
        push(json!({"rollout_tags": "canary"})).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (staged["targeted"].as_u64(), staged["sent"].as_u64()),
        (Some(1), Some(1)),
        "{staged}"
    );
    assert_eq!(staged["audience"]["tags"], json!(["canary"]));
    let b = pushed(next(&mut channels[0]).await);
    assert_eq!(
        (b.revision, b.audience.tags.clone()),
        (1, vec!["canary".to_string()])
    );
    let pushes = json_of(
        admin
            .get(hub.url("/api/federation/pushes"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(pushes[0]["targeted"], 1);
    assert_eq!(pushes[0]["stagedBody"]["v"], 2, "the body to promote");

    // Promoted: pushed again to everyone. The stable neuron never saw revision 1.
    let all = json_of(push(json!({})).await.unwrap(), StatusCode::OK).await;
    assert_eq!(all["targeted"], 2);
    assert_eq!(pushed(next(&mut channels[1]).await).revision, 2);
    assert_eq!(pushed(next(&mut channels[0]).await).revision, 2);

    for (extra, field) in [
        (json!({"rollout_percent": "0"}), "rollout_percent"),
        (json!({"rollout_percent": "half"}), "rollout_percent"),
        (json!({"rollout_tags": "Not A Tag"}), "rollout_tags"),
    ] {
        let msg = expect_error(
            push(extra).await.unwrap(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
        assert!(msg.contains(field), "{msg}");
    }
}

#[tokio::test]
async fn browser_neurons_join_with_a_publishable_key_from_its_origins_only() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    let create = |body: serde_json::Value| {
        admin
            .post(hub.url("/api/federation/publishable-keys/create"))
            .json(&body)
            .send()
    };
    let msg = expect_error(
        create(json!({"name": "shop", "origins": "https://shop.example.com/path"}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.contains("origins[0]"), "{msg}");
    let res = plain()
        .post(hub.url("/api/federation/publishable-keys/create"))
        .bearer_auth(&viewer)
        .json(&json!({"name": "x", "origins": "https://a.example"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let key = json_of(
        create(
            json!({"name": "shop", "origins": "https://shop.example.com, http://localhost:8080"}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let pk = key["key"].as_str().unwrap().to_string();
    assert!(pk.starts_with("pk_"), "{key}");

    let join = |origin: &str, pk: &str, body: serde_json::Value| {
        plain()
            .post(hub.url(REGISTER_PATH))
            .header("origin", origin)
            .header("x-cortex-publishable-key", pk)
            .json(&body)
            .send()
    };
    let tab = json!({"id": "tab-7f3a", "slug": "storefront", "kind": "web-app", "version": "2.3.0", "tags": ["web"]});
    let joined = json_of(
        join("https://shop.example.com", &pk, tab.clone())
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(joined["status"], "active", "the key is the admission");
    let token = joined["token"].as_str().unwrap().to_string();

    // Its token works like any neuron's.
    let ack = json_of(
        plain()
            .post(hub.url("/api/federation/stream-analytics"))
            .bearer_auth(&token)
            .json(&json!({"batchId": "w1", "events": [{"kind": "pageView", "at": "2026-11-29T10:00:00Z", "pageSlug": "home"}]}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(ack["events"], 1);

    // Wrong origin, unknown key, a server kind, a public key: refused with the reason.
    let msg = expect_error(
        join("https://evil.example", &pk, tab.clone())
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(msg.contains("origin"), "{msg}");
    expect_error(
        join("https://shop.example.com", "pk_nope", tab.clone())
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let mut server = tab.clone();
    server["kind"] = json!("api-service");
    let msg = expect_error(
        join("https://shop.example.com", &pk, server).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.contains("browser kinds only"), "{msg}");
    let mut keyed = tab.clone();
    keyed["publicKey"] = json!(NeuronKey::generate().public_key());
    let msg = expect_error(
        join("https://shop.example.com", &pk, keyed).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.contains("publicKey"), "{msg}");

    // Cross-origin requests are answered for the key's origins only.
    let preflight = |origin: &str| {
        plain()
            .request(
                reqwest::Method::OPTIONS,
                hub.url("/api/federation/stream-analytics"),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight("http://localhost:8080").await.unwrap();
    assert_eq!(
        ok.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("http://localhost:8080")
    );
    assert_eq!(
        ok.headers().get("vary").and_then(|v| v.to_str().ok()),
        Some("origin, access-control-request-method, access-control-request-headers"),
        "caches keep answers per origin"
    );
    let header = |res: &reqwest::Response, name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    assert_eq!(
        header(&ok, "access-control-allow-methods").as_deref(),
        Some("GET,POST")
    );
    assert!(
        header(&ok, "access-control-allow-headers").is_some_and(|h| h
            .split(',')
            .any(|h| h == cortex_core::federation::PUBLISHABLE_KEY_HEADER)),
        "{ok:?}"
    );
    assert_eq!(
        header(&ok, "access-control-max-age").as_deref(),
        Some("600")
    );
    let no = preflight("https://evil.example").await.unwrap();
    assert!(no.headers().get("access-control-allow-origin").is_none());
    // The answers themselves (here a refusal) name an allowed origin, and only that.
    for (origin, allowed) in [
        ("http://localhost:8080", true),
        ("https://evil.example", false),
    ] {
        let res = plain()
            .get(hub.url("/api/layout-mutation/report"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            header(&res, "access-control-allow-origin"),
            allowed.then(|| origin.to_string()),
            "{origin}"
        );
        assert!(header(&res, "vary").is_some());
    }

    // Revoked: no new joins.
    json_of(
        admin
            .post(hub.url("/api/federation/publishable-keys/revoke"))
            .json(&json!({"key": pk}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    expect_error(
        join("https://shop.example.com", &pk, tab).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let audit = hub
        .app
        .services
        .store
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("publishable-key.".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 2);
}

/// A TLS-terminating proxy to `hub` on a port of its own (as a load balancer in front of a
/// hub would be), with the test certificate for `localhost` from a test CA. Returns its port.
async fn tls_proxy(hub: std::net::SocketAddr) -> u16 {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let certs = CertificateDer::pem_file_iter(fixtures.join("hub.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixtures.join("hub.key")).unwrap();
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(hub).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_neuron_joins_and_gets_pushes_from_a_hub_behind_tls() {
    use cortex_core::federation::{HubMessage, Scope};
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let editor = hub.token(&admin, "editor", Role::Editor).await;
    open_policy(&hub, &admin).await;
    let addr = hub.app.url().trim_start_matches("http://").parse().unwrap();
    let base = format!("https://localhost:{}", tls_proxy(addr).await);
    let ca = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem"),
    )
    .unwrap();

    // Without the CA that signed the hub's certificate, the neuron refuses the hub.
    let key = NeuronKey::generate();
    let stranger = HubClient::new(&base, None).unwrap();
    match stranger.register(&registration("tls-1", &key), &key).await {
        Err(SdkError::Transport(e)) => {
            let chain = format!("{e:?}");
            assert!(chain.contains("UnknownIssuer"), "{chain}");
        }
        other => panic!("an unknown CA must be refused, got {other:?}"),
    }
    assert!(HubClient::with_roots(&base, None, b"not a certificate").is_err());

    // With it: registration over https://, the push channel over wss://.
    let client = HubClient::with_roots(&base, None, &ca).unwrap();
    assert!(client.alive().await.unwrap());
    let token = client
        .register(&registration("tls-1", &key), &key)
        .await
        .unwrap()
        .token
        .unwrap();
    let mut ch = client.connect(&token, &Default::default()).await.unwrap();
    assert!(matches!(next(&mut ch).await, HubMessage::Welcome { .. }));
    assert_eq!(
        next(&mut ch).await,
        HubMessage::Synced {
            sent: 0,
            override_unread: false
        }
    );
    json_of(
        plain()
            .post(hub.url("/api/federation/push-config"))
            .bearer_auth(&editor)
            .json(&json!({"scope": "global", "kind": "config", "body": "{\"theme\":\"dark\"}"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let b = pushed(next(&mut ch).await);
    assert_eq!(
        (b.scope.clone(), b.body["theme"].as_str()),
        (Scope::Global, Some("dark"))
    );
    ch.ack(&b.scope, b.revision).await.unwrap();
}

#[tokio::test]
async fn the_overview_counts_the_fleet_and_a_push_spread_is_drawn_from_its_acks() {
    use cortex_core::federation::HubMessage;
    let hub = start().await;
    let anonymous = common::plain();
    expect_error(
        anonymous
            .get(hub.url("/api/overview"))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let admin = hub.setup_admin().await;
    // Nothing pushed yet: no spread, and an empty fleet.
    let none = json_of(
        admin
            .get(hub.url("/api/federation/push-spread"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(none.is_null(), "{none}");
    let overview = json_of(
        admin.get(hub.url("/api/overview")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(overview["neurons"], 0, "{overview}");

    // Two neurons of one kind on two versions, one of them still pending.
    let client = HubClient::new(&hub.app.url(), None).unwrap();
    let key = NeuronKey::generate();
    client
        .register(&registration("o-pending", &key), &key)
        .await
        .unwrap();
    open_policy(&hub, &admin).await;
    let key = NeuronKey::generate();
    let mut reg = registration("o-1", &key);
    reg.version = "2.0.0".into();
    let token = client.register(&reg, &key).await.unwrap().token.unwrap();
    let key = NeuronKey::generate();
    let token_b = client
        .register(&registration("o-2", &key), &key)
        .await
        .unwrap()
        .token
        .unwrap();
    let mut ch = client.connect(&token, &Default::default()).await.unwrap();
    assert!(matches!(next(&mut ch).await, HubMessage::Welcome { .. }));
    assert!(matches!(next(&mut ch).await, HubMessage::Synced { .. }));
    let _ = token_b;

    let pushed_res = admin
        .post(hub.url("/api/federation/push-config"))
        .json(&json!({"scope": "global", "kind": "config", "body": "{\"v\":1}"}))
        .send()
        .await
        .unwrap();
    json_of(pushed_res, StatusCode::OK).await;
    let b = pushed(next(&mut ch).await);
    ch.ack(&b.scope, b.revision).await.unwrap();
    // The ack is written in the background: wait for it to show in the spread.
    let mut spread = serde_json::Value::Null;
    for _ in 0..100 {
        spread = json_of(
            admin
                .get(hub.url("/api/federation/push-spread?scope=global&revision=1"))
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
        if spread["acked"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        (spread["acked"].as_u64(), spread["targeted"].as_u64()),
        (Some(1), Some(2)),
        "{spread}"
    );
    let curve = spread["curve"].as_array().unwrap();
    assert_eq!(curve.len(), 61);
    assert_eq!(curve.last().unwrap()[1], 1, "{spread}");
    let newest = json_of(
        admin
            .get(hub.url("/api/federation/push-spread"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(newest["revision"], 1);

    let overview = json_of(
        admin.get(hub.url("/api/overview")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(overview["neurons"], 3, "{overview}");
    assert_eq!(overview["byStatus"]["pending"], 1);
    assert_eq!(overview["byStatus"]["active"], 2);
    assert_eq!(overview["versions"][0]["kind"], "api-service");
    assert_eq!(
        overview["versions"][0]["versions"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "version drift: {overview}"
    );
    assert_eq!(overview["pushes"][0]["scope"], "global");
    assert!(overview["rules"]["active"].is_u64(), "{overview}");
    assert!(
        overview["status"]["database_ok"].as_bool().unwrap(),
        "{overview}"
    );

    // Bad questions get a 4xx that says what to fix.
    for (query, status, code) in [
        ("?scope=global", StatusCode::BAD_REQUEST, "bad_request"),
        (
            "?scope=planet:mars&revision=1",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "?scope=global&revision=99",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ] {
        expect_error(
            admin
                .get(hub.url(&format!("/api/federation/push-spread{query}")))
                .send()
                .await
                .unwrap(),
            status,
            code,
        )
        .await;
    }

    // Ticked neurons are drained in bulk (form fields `pick[]`), each checked on its own.
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    let res = common::plain()
        .post(hub.url("/api/federation/neurons/bulk"))
        .bearer_auth(&viewer)
        .form(&[("action", "drain"), ("ids", "o-1")])
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let outcome = json_of(
        admin
            .post(hub.url("/api/federation/neurons/bulk"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("action=drain&ids=&pick[]=o-1&pick[]=o-2&pick[]=o-pending&pick[]=nobody")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(outcome["done"], json!(["o-1", "o-2"]), "{outcome}");
    assert_eq!(outcome["failed"].as_array().unwrap().len(), 2, "{outcome}");
    let msg = expect_error(
        admin
            .post(hub.url("/api/federation/neurons/bulk"))
            .json(&json!({"action": "explode", "ids": "o-1"}))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.contains("approve, deny, drain or retire"), "{msg}");
}
