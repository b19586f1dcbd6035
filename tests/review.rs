//! Conflicts between editors on a real hub with a real SDK neuron: every push names the
//! revision it was made from; a stale push under last-write-wins is applied with the
//! overwritten revision recorded (and restorable); under review it becomes a change request
//! that its author cannot approve, another editor approves (then the neuron gets it) or
//! rejects (kept in the history); a protected scope holds every push; and every way a
//! request about it is refused.

mod common;

use common::{
    expect_error, get_json as get, json_of, open_policy, post_json as post, registration, start,
    wait_for,
};
use cortex_core::federation::BundleKind;
use cortex_core::Role;
use cortex_sdk::runner::{self, RunnerConfig};
use cortex_sdk::NeuronKey;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn push(
    token: &str,
    hub: &common::Hub,
    scope: &str,
    body: Value,
    base: Option<&str>,
) -> reqwest::Response {
    let mut form = json!({"scope": scope, "kind": "config", "body": body.to_string()});
    if let Some(b) = base {
        form["base_revision"] = b.into();
    }
    post(token, hub, "/api/federation/push-config", form).await
}

async fn pushed(
    token: &str,
    hub: &common::Hub,
    scope: &str,
    body: Value,
    base: Option<&str>,
) -> Value {
    json_of(push(token, hub, scope, body, base).await, StatusCode::OK).await
}

fn theme_of(handle: &runner::NeuronHandle) -> Option<Value> {
    handle
        .snapshot()
        .effective(BundleKind::Config)
        .map(|b| b.body["theme"].clone())
}

async fn wait_theme(handle: &runner::NeuronHandle, theme: &str) {
    wait_for(&format!("the neuron holds theme {theme}"), || {
        let t = theme_of(handle);
        async move { t == Some(json!(theme)) }
    })
    .await;
}

async fn audit_actions(hub: &common::Hub) -> Vec<(String, String, Value, Value)> {
    hub.app
        .services
        .store
        .audit_chain(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                e.record.action,
                e.record.actor,
                e.record.before,
                e.record.after,
            )
        })
        .collect()
}

#[tokio::test]
async fn stale_pushes_follow_the_scope_policy_and_change_requests_are_reviewed() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let ann = hub.token(&admin, "ann", Role::Editor).await;
    let bob = hub.token(&admin, "bob", Role::Editor).await;
    let boss = hub.token(&admin, "boss", Role::Admin).await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    open_policy(&hub, &admin).await;
    let cache = tempfile::tempdir().unwrap();
    let key = NeuronKey::generate();
    let neuron = runner::start(
        RunnerConfig::new(
            &hub.app.url(),
            registration("shop-1", &key),
            key,
            cache.path(),
        ),
        None,
    )
    .unwrap();
    common::wait_online(&neuron, "shop-1").await;

    // Last write wins (the default): a fresh push, then a stale one applied with the
    // revision it overwrote recorded.
    let r1 = pushed(&ann, &hub, "global", json!({"theme": "light"}), Some("0")).await;
    assert_eq!(
        (r1["revision"].as_u64(), r1.get("overwrote")),
        (Some(1), None)
    );
    let r2 = pushed(&bob, &hub, "global", json!({"theme": "dark"}), Some("1")).await;
    assert_eq!(r2["revision"], 2);
    let r3 = pushed(&ann, &hub, "global", json!({"theme": "blue"}), Some("1")).await;
    assert_eq!(
        (r3["revision"].as_u64(), r3["overwrote"].as_u64()),
        (Some(3), Some(2)),
        "{r3}"
    );
    wait_theme(&neuron, "blue").await;
    let history = get(&viewer, &hub, "/api/federation/scope-history?scope=global").await;
    let newest = &history["revisions"][0];
    assert_eq!(
        (
            newest["revision"].as_u64(),
            newest["baseRevision"].as_u64(),
            newest["overwrote"].as_u64()
        ),
        (Some(3), Some(1), Some(2)),
        "{history}"
    );
    // The overwritten change is restored from the history: bob's content again.
    let restored = json_of(
        post(
            &bob,
            &hub,
            "/api/federation/rollback",
            json!({"scope": "global", "revision": 2}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(restored["revision"], 4);
    wait_theme(&neuron, "dark").await;

    // A base the scope never had, of another kind, or not a number: 400 naming the field.
    for (base, says) in [("99", "no revision 99"), ("x", "not a revision number")] {
        let msg = expect_error(
            push(&ann, &hub, "global", json!({"theme": "x"}), Some(base)).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
        assert!(msg.contains("base_revision") && msg.contains(says), "{msg}");
    }
    let exp = json!({"scope": "global", "kind": "experiments", "body": "{}", "base_revision": "4"});
    let msg = expect_error(
        post(&ann, &hub, "/api/federation/push-config", exp).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.contains("is config, not experiments"), "{msg}");

    // Only an admin sets a policy; a bad mode or scope is refused.
    let review = json!({"scope": "global", "mode": "review"});
    expect_error(
        post(
            &ann,
            &hub,
            "/api/federation/scope-policies/set",
            review.clone(),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for bad in [
        json!({"scope": "global", "mode": "merge"}),
        json!({"scope": "nowhere"}),
        json!({"scope": "global", "protected": "maybe"}),
    ] {
        expect_error(
            post(&boss, &hub, "/api/federation/scope-policies/set", bad).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
    let policies = json_of(
        post(&boss, &hub, "/api/federation/scope-policies/set", review).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(policies["scopes"]["global"]["mode"], "review");
    assert_eq!(
        get(&viewer, &hub, "/api/federation/scope-policies").await,
        policies
    );

    // Under review: a stale push and one naming no base are held; a fresh one goes through.
    let held = pushed(&ann, &hub, "global", json!({"theme": "red"}), Some("2")).await;
    assert_eq!(
        (held["revision"].as_u64(), held["sent"].as_u64()),
        (Some(0), Some(0)),
        "{held}"
    );
    assert_eq!(
        (
            held["held"]["reason"].as_str(),
            held["held"]["currentRevision"].as_u64()
        ),
        (Some("stale"), Some(4))
    );
    let red = held["held"]["changeRequest"].as_str().unwrap().to_string();
    let blind = pushed(&ann, &hub, "global", json!({"theme": "grey"}), None).await;
    assert_eq!(blind["held"]["reason"], "noBase");
    let grey = blind["held"]["changeRequest"].as_str().unwrap().to_string();
    let fresh = pushed(&bob, &hub, "global", json!({"theme": "green"}), Some("4")).await;
    assert_eq!(
        (fresh["revision"].as_u64(), fresh.get("held")),
        (Some(5), None)
    );
    wait_theme(&neuron, "green").await;
    let open = get(&viewer, &hub, "/api/federation/change-requests?state=open").await;
    assert_eq!(open.as_array().unwrap().len(), 2, "{open}");
    expect_error(
        post(
            &viewer,
            &hub,
            "/api/federation/change-requests/approve",
            json!({"id": red}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = common::plain()
        .get(hub.url("/api/federation/change-requests?state=done"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;

    // The request shows its diff against the scope now and how far its base is behind.
    let view = get(
        &viewer,
        &hub,
        &format!("/api/federation/change-request?id={red}"),
    )
    .await;
    assert_eq!(
        (
            view["currentRevision"].as_u64(),
            view["pushedSinceBase"].as_u64()
        ),
        (Some(5), Some(3)),
        "{view}"
    );
    let diff: Vec<String> = view["diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{}{}",
                l["tag"].as_str().unwrap(),
                l["text"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        diff.iter()
            .any(|l| l.starts_with('-') && l.contains("green"))
            && diff.iter().any(|l| l.starts_with('+') && l.contains("red")),
        "{diff:?}"
    );
    let res = common::plain()
        .get(hub.url("/api/federation/change-request?id=nope"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // Comments: bounded, editors only; its author cannot approve it, another editor can.
    let commented = json_of(
        post(
            &bob,
            &hub,
            "/api/federation/change-requests/comment",
            json!({"id": red, "text": "red clashes <b>with</b> the logo?"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(commented["comments"][0]["by"], "token:bob");
    for (token, text, status, code) in [
        (&ann, "   ", StatusCode::BAD_REQUEST, "bad_request"),
        (&viewer, "hi", StatusCode::FORBIDDEN, "forbidden"),
    ] {
        expect_error(
            post(
                token,
                &hub,
                "/api/federation/change-requests/comment",
                json!({"id": red, "text": text}),
            )
            .await,
            status,
            code,
        )
        .await;
    }
    expect_error(
        post(
            &ann,
            &hub,
            "/api/federation/change-requests/comment",
            json!({"id": red, "text": "x".repeat(2001)}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let msg = expect_error(
        post(
            &ann,
            &hub,
            "/api/federation/change-requests/approve",
            json!({"id": red, "seen_revision": "5"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(msg.contains("another editor"), "{msg}");
    // Approving names the revision its diff was read against: missing or not a number is
    // 400, an older one (a push landed since) 409, and nothing is decided.
    for (seen, status, code, says) in [
        (
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
            "seen_revision",
        ),
        (
            Some("five"),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "seen_revision",
        ),
        (
            Some("4"),
            StatusCode::CONFLICT,
            "conflict",
            "moved on to revision 5",
        ),
        (Some("0"), StatusCode::CONFLICT, "conflict", "against none"),
    ] {
        let mut form = json!({"id": red});
        if let Some(seen) = seen {
            form["seen_revision"] = json!(seen);
        }
        let msg = expect_error(
            post(&bob, &hub, "/api/federation/change-requests/approve", form).await,
            status,
            code,
        )
        .await;
        assert!(msg.contains(says), "{seen:?}: {msg}");
    }
    assert_eq!(
        theme_of(&neuron),
        Some(json!("green")),
        "nothing reached the neuron while held"
    );
    let approved = json_of(
        post(
            &bob,
            &hub,
            "/api/federation/change-requests/approve",
            json!({"id": red, "seen_revision": "5"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            approved["state"].as_str(),
            approved["appliedRevision"].as_u64(),
            approved["decidedBy"].as_str()
        ),
        (Some("applied"), Some(6), Some("token:bob")),
        "{approved}"
    );
    wait_theme(&neuron, "red").await;
    // The applied revision keeps the request's base and names what it replaced.
    let history = get(&viewer, &hub, "/api/federation/scope-history?scope=global").await;
    let newest = &history["revisions"][0];
    assert_eq!(
        (
            newest["revision"].as_u64(),
            newest["baseRevision"].as_u64(),
            newest["overwrote"].as_u64()
        ),
        (Some(6), Some(2), Some(5)),
        "{history}"
    );
    let msg = expect_error(
        post(
            &bob,
            &hub,
            "/api/federation/change-requests/approve",
            json!({"id": red, "seen_revision": "6"}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(msg.contains("applied already"), "{msg}");
    expect_error(
        post(
            &bob,
            &hub,
            "/api/federation/change-requests/comment",
            json!({"id": red, "text": "late"}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    expect_error(
        post(
            &bob,
            &hub,
            "/api/federation/change-requests/approve",
            json!({"id": "nope", "seen_revision": "6"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Rejected (its author withdraws it): kept, with the reason, and no longer approvable.
    expect_error(
        post(
            &ann,
            &hub,
            "/api/federation/change-requests/reject",
            json!({"id": grey, "note": "y".repeat(501)}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let rejected = json_of(
        post(
            &ann,
            &hub,
            "/api/federation/change-requests/reject",
            json!({"id": grey, "note": "made without looking"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            rejected["state"].as_str(),
            rejected["decisionNote"].as_str()
        ),
        (Some("rejected"), Some("made without looking"))
    );
    expect_error(
        post(
            &bob,
            &hub,
            "/api/federation/change-requests/approve",
            json!({"id": grey, "seen_revision": "6"}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let all = get(&viewer, &hub, "/api/federation/change-requests").await;
    let states: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), 2);
    assert!(
        states.contains(&"applied") && states.contains(&"rejected"),
        "{states:?}"
    );

    // A protected scope holds every push, fresh ones and rollbacks too; an admin may approve
    // their own (recorded as such). Under review, a rollback names the revision it replaces,
    // so it is fresh and goes through.
    json_of(
        post(
            &boss,
            &hub,
            "/api/federation/scope-policies/set",
            json!({"scope": "tag:apac", "protected": "true"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    for (n, theme) in ["eu-1", "eu-2"].into_iter().enumerate() {
        let eu = pushed(
            &boss,
            &hub,
            "tag:apac",
            json!({"theme": theme}),
            Some(&n.to_string()),
        )
        .await;
        assert_eq!(eu["held"]["reason"], "protected", "{eu}");
        let id = eu["held"]["changeRequest"].as_str().unwrap().to_string();
        let done = json_of(
            post(
                &boss,
                &hub,
                "/api/federation/change-requests/approve",
                json!({"id": id, "seen_revision": n.to_string()}),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(done["appliedRevision"].as_u64(), Some(n as u64 + 1));
    }
    let eu_back = json_of(
        post(
            &bob,
            &hub,
            "/api/federation/rollback",
            json!({"scope": "tag:apac", "revision": 1}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(eu_back["held"]["reason"], "protected", "{eu_back}");
    let back = json_of(
        post(
            &bob,
            &hub,
            "/api/federation/rollback",
            json!({"scope": "global", "revision": 1}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (back["revision"].as_u64(), back.get("held")),
        (Some(7), None),
        "{back}"
    );
    wait_theme(&neuron, "light").await;
    // Back to last write wins.
    json_of(
        post(
            &boss,
            &hub,
            "/api/federation/scope-policies/set",
            json!({"scope": "global"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        get(&viewer, &hub, "/api/federation/scope-policies").await["scopes"]
            .get("global")
            .is_none()
    );

    // Every decision is in the audit log, with who made it.
    let audit = audit_actions(&hub).await;
    let has = |action: &str, actor: &str| {
        audit
            .iter()
            .any(|(a, who, _, _)| a == action && who == actor)
    };
    for (action, actor) in [
        ("changeRequest.open", "token:ann"),
        ("changeRequest.comment", "token:bob"),
        ("changeRequest.approve", "token:bob"),
        ("changeRequest.reject", "token:ann"),
        ("scope-policy.set", "token:boss"),
    ] {
        assert!(has(action, actor), "{action} by {actor} is audited");
    }
    assert!(audit
        .iter()
        .any(|(a, _, before, _)| a == "changeRequest.approve" && before["selfApproved"] == true));
    assert!(audit.iter().any(|(a, _, _, after)| a == "bundle.push"
        && after["overwrote"] == 2
        && after["baseRevision"] == 1));
    neuron.stop();
}

fn config_of(handle: &runner::NeuronHandle) -> Value {
    handle
        .snapshot()
        .effective(BundleKind::Config)
        .map(|b| b.body.clone())
        .unwrap_or(Value::Null)
}

async fn wait_config(handle: &runner::NeuronHandle, want: Value) {
    wait_for(&format!("the neuron's config is {want}"), || {
        let c = config_of(handle);
        let want = want.clone();
        async move { c == want }
    })
    .await;
}

#[tokio::test]
async fn an_override_pins_one_neuron_survives_a_reconnect_and_ends_when_it_expires() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let ann = hub.token(&admin, "ann", Role::Editor).await;
    let operator = hub.token(&admin, "operator", Role::Operator).await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    open_policy(&hub, &admin).await;
    let cache = tempfile::tempdir().unwrap();
    let key = NeuronKey::generate();
    let start_neuron = |key: NeuronKey| {
        runner::start(
            RunnerConfig::new(
                &hub.app.url(),
                registration("shop-1", &key),
                key,
                cache.path(),
            ),
            None,
        )
        .unwrap()
    };
    let neuron = start_neuron(key.clone());
    common::wait_online(&neuron, "shop-1").await;
    pushed(
        &ann,
        &hub,
        "global",
        json!({"theme": "light", "limit": 1}),
        None,
    )
    .await;
    pushed(
        &ann,
        &hub,
        "global",
        json!({"theme": "dark", "limit": 1}),
        None,
    )
    .await;
    wait_config(&neuron, json!({"theme": "dark", "limit": 1})).await;

    // Refused: the wrong role, nothing to do, malformed keys, a pin outside its scopes or
    // of a revision the scope never had, half a pin, a bad expiry, an unknown neuron.
    let set = |body: Value| post(&ann, &hub, "/api/federation/neurons/override", body);
    for (who, status, code) in [
        (&viewer, StatusCode::FORBIDDEN, "forbidden"),
        (&operator, StatusCode::FORBIDDEN, "forbidden"),
    ] {
        expect_error(
            post(
                who,
                &hub,
                "/api/federation/neurons/override",
                json!({"id": "shop-1", "keys": "{\"limit\": 9}"}),
            )
            .await,
            status,
            code,
        )
        .await;
    }
    for (body, field) in [
        (json!({"id": "shop-1"}), "keys"),
        (json!({"id": "shop-1", "keys": "[1]"}), "keys"),
        (json!({"id": "shop-1", "keys": "{oops"}), "keys"),
        (
            json!({"id": "shop-1", "pin_scope": "tag:us", "pin_revision": "1"}),
            "pin_scope",
        ),
        (
            json!({"id": "shop-1", "pin_scope": "global", "pin_revision": "99"}),
            "pin_revision",
        ),
        (
            json!({"id": "shop-1", "pin_scope": "global"}),
            "pin_revision",
        ),
        (
            json!({"id": "shop-1", "keys": "{\"a\": 1}", "expires_in": "soon"}),
            "expires_in",
        ),
        (
            json!({"id": "shop-1", "keys": "{\"a\": 1}", "expires_in": "100d"}),
            "expires",
        ),
    ] {
        let msg = expect_error(
            set(body.clone()).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
        assert!(msg.contains(field), "{body}: {msg}");
    }
    expect_error(
        set(json!({"id": "nobody", "keys": "{\"a\": 1}"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Pinned to revision 1 with one key set over it, for an hour.
    let o = json_of(
        set(json!({"id": "shop-1", "keys": "{\"limit\": 9}", "pin_scope": "global", "pin_revision": "1", "expires_in": "1h", "reason": "incident 7"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (o["createdBy"].as_str(), o["reason"].as_str()),
        (Some("token:ann"), Some("incident 7"))
    );
    wait_config(&neuron, json!({"theme": "light", "limit": 9})).await;
    // Later pushes do not move it; the fleet view shows it on the neuron's card.
    pushed(&ann, &hub, "global", json!({"theme": "blue"}), None).await;
    let fleet = get(&viewer, &hub, "/api/federation/health").await;
    let card = fleet["neurons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "shop-1")
        .unwrap()
        .clone();
    assert_eq!(card["configOverride"]["pin"]["revision"], 1, "{card}");
    assert_eq!(
        get(&viewer, &hub, "/api/federation/overrides")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(config_of(&neuron), json!({"theme": "light", "limit": 9}));

    // Changed while the neuron is away: back from a restart (its cache still holds the old
    // override), it learns the new one on connect.
    neuron.stop();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    json_of(
        set(json!({"id": "shop-1", "keys": "{\"limit\": 5}", "pin_scope": "global", "pin_revision": "1", "expires_in": "1h"})).await,
        StatusCode::OK,
    )
    .await;
    let neuron = start_neuron(key.clone());
    common::wait_online(&neuron, "shop-1").await;
    wait_config(&neuron, json!({"theme": "light", "limit": 5})).await;

    // Expired: the hub ends it (audited by hub) and the neuron takes the pushed config again.
    let ended = hub
        .app
        .services
        .federation
        .expire_overrides(chrono::Utc::now() + chrono::Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(ended, 1);
    wait_config(&neuron, json!({"theme": "blue"})).await;
    assert!(get(&viewer, &hub, "/api/federation/overrides")
        .await
        .as_array()
        .unwrap()
        .is_empty());

    // Set by hand, then cleared while the neuron is away: back, it drops the override its
    // cache held (the hub did not restate it before `synced`).
    json_of(
        set(json!({"id": "shop-1", "keys": "{\"limit\": 2}"})).await,
        StatusCode::OK,
    )
    .await;
    wait_config(&neuron, json!({"theme": "blue", "limit": 2})).await;
    neuron.stop();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    json_of(
        post(
            &ann,
            &hub,
            "/api/federation/neurons/override/clear",
            json!({"id": "shop-1"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let neuron = start_neuron(key.clone());
    common::wait_online(&neuron, "shop-1").await;
    wait_config(&neuron, json!({"theme": "blue"})).await;
    // Set and cleared live; clearing again finds nothing.
    json_of(
        set(json!({"id": "shop-1", "keys": "{\"limit\": 3}"})).await,
        StatusCode::OK,
    )
    .await;
    wait_config(&neuron, json!({"theme": "blue", "limit": 3})).await;
    json_of(
        post(
            &ann,
            &hub,
            "/api/federation/neurons/override/clear",
            json!({"id": "shop-1"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    wait_config(&neuron, json!({"theme": "blue"})).await;
    expect_error(
        post(
            &ann,
            &hub,
            "/api/federation/neurons/override/clear",
            json!({"id": "shop-1"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // An override is no way around review: where one of the neuron's scopes (its tag `eu`
    // here) is reviewed, only an admin sets one.
    let boss = hub.token(&admin, "boss", Role::Admin).await;
    json_of(
        post(
            &boss,
            &hub,
            "/api/federation/scope-policies/set",
            json!({"scope": "tag:eu", "mode": "review"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let msg = expect_error(
        set(json!({"id": "shop-1", "keys": "{\"limit\": 4}"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(msg.contains("tag:eu") && msg.contains("admin"), "{msg}");
    json_of(
        post(
            &boss,
            &hub,
            "/api/federation/neurons/override",
            json!({"id": "shop-1", "keys": "{\"limit\": 4}", "expires_in": "1h"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    wait_config(&neuron, json!({"theme": "blue", "limit": 4})).await;
    // Nor can an editor clear the admin's override there.
    expect_error(
        post(
            &ann,
            &hub,
            "/api/federation/neurons/override/clear",
            json!({"id": "shop-1"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Expiry ends only what has expired: this one has an hour to go.
    assert_eq!(
        hub.app
            .services
            .federation
            .expire_overrides(chrono::Utc::now())
            .await
            .unwrap(),
        0
    );
    // Removing the neuron takes its override with it.
    json_of(
        post(
            &boss,
            &hub,
            "/api/federation/neurons/remove",
            json!({"id": "shop-1"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(get(&viewer, &hub, "/api/federation/overrides")
        .await
        .as_array()
        .unwrap()
        .is_empty());

    let audit = audit_actions(&hub).await;
    for (action, actor) in [
        ("override.set", "token:ann"),
        ("override.expire", "hub"),
        ("override.clear", "token:ann"),
    ] {
        assert!(
            audit
                .iter()
                .any(|(a, who, _, _)| a == action && who == actor),
            "{action} by {actor} is audited"
        );
    }
    neuron.stop();
}
