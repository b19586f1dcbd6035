//! Rollouts on a real hub with real SDK neurons that run their own update hooks: a staged
//! rollout (a tag first, then everyone), the pre-migration, switch and post-migration each
//! reported, a neuron whose migration fails pausing the rollout with an alert, pause /
//! resume / abort, a rollout that finishes and makes its release the expected one, a neuron
//! without an update hook, and every way a request about rollouts is refused.

mod common;

use common::{
    expect_error, get_json as get, json_of, open_policy, post_json as post, registration, start,
    wait_for,
};
use cortex_core::federation::{MigrationPhase, UpdateOrder};
use cortex_core::Role;
use cortex_sdk::runner::{self, Hooks, NeuronHandle, RunnerConfig};
use cortex_sdk::update::{StepFuture, Updater};
use cortex_sdk::NeuronKey;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A neuron's own migrations: it ships `0001_add_total` and `0002_drop_legacy`, and refuses
/// any other id; `broken` makes `0001_add_total` fail.
struct Migrations {
    ran: Mutex<Vec<String>>,
    broken: AtomicBool,
}

impl Updater for Migrations {
    fn migrate(&self, id: &str, phase: MigrationPhase) -> StepFuture {
        self.ran.lock().unwrap().push(format!("{phase:?} {id}"));
        let outcome = match id {
            "0001_add_total" if self.broken.load(Ordering::Relaxed) => {
                Err("ALTER TABLE orders ADD total: lock timeout".to_string())
            }
            "0001_add_total" | "0002_drop_legacy" => Ok(format!("{id}: 1 statement")),
            other => Err(format!("no migration `{other}` ships with this neuron")),
        };
        Box::pin(async move { outcome })
    }

    fn switch(&self, order: &UpdateOrder) -> StepFuture {
        self.ran
            .lock()
            .unwrap()
            .push(format!("switch {}", order.version));
        Box::pin(async { Ok("serving".to_string()) })
    }
}

/// An SDK neuron of kind `api-service` on 1.0.0 with `tags`, its update hook (if any) and
/// its cache folder.
async fn neuron(
    hub: &common::Hub,
    id: &str,
    tags: &[&str],
    updater: Option<Arc<Migrations>>,
) -> (NeuronHandle, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let key = NeuronKey::generate();
    let mut reg = registration(id, &key);
    reg.tags = tags.iter().map(|t| t.to_string()).collect();
    let handle = runner::start_with(
        RunnerConfig::new(&hub.app.url(), reg, key, cache.path()),
        Hooks {
            reload: None,
            updater: updater.map(|u| u as Arc<dyn Updater>),
        },
    )
    .unwrap();
    common::wait_online(&handle, id).await;
    (handle, cache)
}

fn migrations(broken: bool) -> Arc<Migrations> {
    Arc::new(Migrations {
        ran: Mutex::new(Vec::new()),
        broken: AtomicBool::new(broken),
    })
}

/// The rollout with this id, as the list shows it.
async fn rollout(token: &str, hub: &common::Hub, id: &str) -> Value {
    get(token, hub, "/api/rollouts")
        .await
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rollout"]["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("rollout {id} is not listed"))
}

async fn version_of(hub: &common::Hub, id: &str) -> String {
    hub.app
        .services
        .store
        .neuron(id)
        .await
        .unwrap()
        .unwrap()
        .version
}

#[tokio::test]
async fn a_staged_rollout_updates_neurons_and_a_failed_migration_pauses_it() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let operator = hub.token(&admin, "operator", Role::Operator).await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    open_policy(&hub, &admin).await;
    json_of(
        post(
            &operator,
            &hub,
            "/api/releases/create",
            json!({
                "kind": "api-service", "version": "2.0.0",
                "pre_migrations": "0001_add_total", "post_migrations": "0002_drop_legacy",
            }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let canary_hook = migrations(false);
    let (canary, _c1) = neuron(&hub, "api-canary", &["canary"], Some(canary_hook.clone())).await;
    let (second, _c2) = neuron(&hub, "api-2", &[], Some(migrations(false))).await;
    let broken_hook = migrations(true);
    let (broken, _c3) = neuron(&hub, "api-broken", &[], Some(broken_hook.clone())).await;

    // Refused: the wrong role, missing or malformed fields, an unknown release, a neuron of
    // another kind.
    let start_body = json!({"kind": "api-service", "version": "2.0.0", "rollout_tags": "canary"});
    expect_error(
        post(&viewer, &hub, "/api/rollouts/start", start_body.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for (bad, field) in [
        (json!({"version": "2.0.0"}), "kind"),
        (
            json!({"kind": "api-service", "version": "9.9.9"}),
            "version",
        ),
        (
            json!({"kind": "api-service", "version": "2.0.0", "rollout_percent": "0"}),
            "rollout_percent",
        ),
        (
            json!({"kind": "api-service", "version": "2.0.0", "rollout_tags": "no/such tag"}),
            "rollout_tags",
        ),
        (
            json!({"kind": "api-service", "version": "2.0.0", "scope": "neuron:nobody"}),
            "scope",
        ),
        (
            json!({"kind": "api-service", "version": "2.0.0", "scope": "everywhere"}),
            "scope",
        ),
    ] {
        let message = expect_error(
            post(&operator, &hub, "/api/rollouts/start", bad.clone()).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
        assert!(message.contains(field), "{bad}: {message}");
    }

    // The first stage is the canary: only it is sent the order, runs its steps in order,
    // and reports the new version.
    let started = json_of(
        post(&operator, &hub, "/api/rollouts/start", start_body.clone()).await,
        StatusCode::OK,
    )
    .await;
    let id = started["id"].as_str().unwrap().to_string();
    assert_eq!(started["state"], "running");
    expect_error(
        post(&operator, &hub, "/api/rollouts/start", start_body).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    wait_for("the canary runs 2.0.0", || async {
        version_of(&hub, "api-canary").await == "2.0.0"
    })
    .await;
    wait_for("the canary's update is done", || async {
        rollout(&viewer, &hub, &id).await["updates"][0]["state"] == "done"
    })
    .await;
    assert_eq!(
        *canary_hook.ran.lock().unwrap(),
        [
            "Pre 0001_add_total",
            "switch 2.0.0",
            "Post 0002_drop_legacy"
        ]
    );
    let view = rollout(&viewer, &hub, &id).await;
    assert_eq!(view["progress"]["targeted"], 3);
    assert_eq!(view["progress"]["updated"], 1);
    assert_eq!(view["progress"]["outsideStage"], 2);
    assert_eq!(
        view["updates"].as_array().unwrap().len(),
        1,
        "only the stage is sent the order"
    );
    let migration = hub
        .app
        .services
        .store
        .neuron("api-canary")
        .await
        .unwrap()
        .unwrap()
        .migration
        .unwrap();
    assert_eq!(
        (migration.id.as_str(), migration.state.as_str()),
        ("0002_drop_legacy", "succeeded")
    );

    // Paused, the widened stage sends nothing; resumed, everyone gets the order. The broken
    // neuron's pre-migration fails: its update stops before the switch and the rollout pauses
    // by itself, with an alert.
    json_of(
        post(
            &operator,
            &hub,
            "/api/rollouts/act",
            json!({"id": id, "action": "pause"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    json_of(
        post(
            &operator,
            &hub,
            "/api/rollouts/stage",
            json!({"id": id, "rollout_percent": "100"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    hub.app
        .services
        .federation
        .drive_rollouts(chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        rollout(&viewer, &hub, &id).await["updates"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    json_of(
        post(
            &operator,
            &hub,
            "/api/rollouts/act",
            json!({"id": id, "action": "resume"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    wait_for("api-2 runs 2.0.0", || async {
        version_of(&hub, "api-2").await == "2.0.0"
    })
    .await;
    wait_for("the rollout pauses itself", || async {
        rollout(&viewer, &hub, &id).await["rollout"]["state"] == "paused"
    })
    .await;
    let view = rollout(&viewer, &hub, &id).await;
    let reason = view["rollout"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("api-broken")
            && reason.contains("pre 0001_add_total")
            && reason.contains("lock timeout"),
        "{reason}"
    );
    assert_eq!(view["progress"]["failed"], 1);
    assert_eq!(version_of(&hub, "api-broken").await, "1.0.0");
    assert_eq!(*broken_hook.ran.lock().unwrap(), ["Pre 0001_add_total"]);
    wait_for("the update alert is kept", || async {
        get(&viewer, &hub, "/api/alerts")
            .await
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "update")
    })
    .await;

    // Actions that do not fit, an unknown rollout, a made-up action.
    expect_error(
        post(
            &operator,
            &hub,
            "/api/rollouts/act",
            json!({"id": id, "action": "pause"}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    expect_error(
        post(
            &operator,
            &hub,
            "/api/rollouts/act",
            json!({"id": "nope", "action": "pause"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        post(
            &operator,
            &hub,
            "/api/rollouts/act",
            json!({"id": id, "action": "explode"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    expect_error(
        post(
            &viewer,
            &hub,
            "/api/rollouts/act",
            json!({"id": id, "action": "abort"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    json_of(
        post(
            &operator,
            &hub,
            "/api/rollouts/act",
            json!({"id": id, "action": "abort"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_error(
        post(
            &operator,
            &hub,
            "/api/rollouts/stage",
            json!({"id": id, "rollout_percent": "50"}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    // Fixed, the broken neuron is rolled out on its own; then a rollout of the whole kind
    // finds everyone on the release, is done at once, and makes it the expected release.
    broken_hook.broken.store(false, Ordering::Relaxed);
    let one = json_of(
        post(
            &operator,
            &hub,
            "/api/rollouts/start",
            json!({"kind": "api-service", "version": "2.0.0", "scope": "neuron:api-broken"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let one = one["id"].as_str().unwrap().to_string();
    wait_for("the single-neuron rollout is done", || async {
        rollout(&viewer, &hub, &one).await["rollout"]["state"] == "done"
    })
    .await;
    assert_eq!(version_of(&hub, "api-broken").await, "2.0.0");
    let whole = json_of(
        post(
            &operator,
            &hub,
            "/api/rollouts/start",
            json!({"kind": "api-service", "version": "2.0.0"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        rollout(&viewer, &hub, whole["id"].as_str().unwrap()).await["rollout"]["state"],
        "done"
    );
    let board = get(&viewer, &hub, "/api/releases").await;
    let kind = board["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "api-service")
        .unwrap()
        .clone();
    assert_eq!(kind["expected"]["version"], "2.0.0");
    assert_eq!(kind["expected"]["setBy"], "hub");

    // Every change is audited, the hub's own with the hub as actor.
    let audit = get(&viewer, &hub, "/api/audit?action=rollout.").await;
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    for want in [
        ("rollout.start", "token:operator"),
        ("rollout.pause", "token:operator"),
        ("rollout.stage", "token:operator"),
        ("rollout.resume", "token:operator"),
        ("rollout.pause", "hub"),
        ("rollout.abort", "token:operator"),
        ("rollout.done", "hub"),
    ] {
        assert!(actions.contains(&want), "{want:?} not in {actions:?}");
    }
    canary.stop();
    second.stop();
    broken.stop();
}

#[tokio::test]
async fn a_neuron_without_an_update_hook_fails_its_order_and_cannot_report_others() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let operator = hub.token(&admin, "operator", Role::Operator).await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    open_policy(&hub, &admin).await;
    json_of(
        post(
            &operator,
            &hub,
            "/api/releases/create",
            json!({"kind": "api-service", "version": "2.0.0"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let (plain_neuron, _c) = neuron(&hub, "api-plain", &[], None).await;
    let started = json_of(
        post(
            &operator,
            &hub,
            "/api/rollouts/start",
            json!({"kind": "api-service", "version": "2.0.0"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let id = started["id"].as_str().unwrap().to_string();
    wait_for("the order is answered with a failure", || async {
        let view = rollout(&viewer, &hub, &id).await;
        view["updates"][0]["state"] == "failed" && view["rollout"]["state"] == "paused"
    })
    .await;
    let view = rollout(&viewer, &hub, &id).await;
    assert!(view["updates"][0]["message"]
        .as_str()
        .unwrap()
        .contains("no update hook"));

    // A neuron may only report on orders it was sent, and not after its update ended.
    let services = &hub.app.services;
    let report = |rollout: &str| cortex_core::federation::NeuronUpdate {
        rollout_id: rollout.into(),
        neuron_id: "someone-else".into(),
        state: cortex_core::federation::UpdateState::Done,
        step: String::new(),
        message: String::new(),
        at: chrono::Utc::now(),
    };
    let err = services
        .federation
        .neuron_update_status("api-plain", report("made-up"))
        .await
        .unwrap_err();
    assert_eq!(err.code, cortex_core::ErrorCode::BadRequest);
    let err = services
        .federation
        .neuron_update_status("api-plain", report(&id))
        .await
        .unwrap_err();
    assert_eq!(
        err.code,
        cortex_core::ErrorCode::BadRequest,
        "its update already failed"
    );
    let err = services
        .federation
        .neuron_update_status("api-other", report(&id))
        .await
        .unwrap_err();
    assert_eq!(
        err.code,
        cortex_core::ErrorCode::BadRequest,
        "never sent this order"
    );
    plain_neuron.stop();
}

/// Each neuron reports `n` errors (sent in its next batch).
fn errors(handles: &[&NeuronHandle], n: usize) {
    use cortex_core::analytics::{Event, EventKind};
    for h in handles {
        for _ in 0..n {
            let mut e = Event::new(EventKind::Error, chrono::Utc::now());
            e.message = Some("checkout: price is not a number".into());
            h.record(e);
        }
    }
}

async fn set_rule(operator: &str, hub: &common::Hub, body: Value) -> Value {
    json_of(
        post(operator, hub, "/api/federation/rollback-rules/set", body).await,
        StatusCode::OK,
    )
    .await
}

#[tokio::test]
async fn a_push_that_raises_errors_is_rolled_back_by_itself() {
    use cortex_core::federation::BundleKind;
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let editor = hub.token(&admin, "editor", Role::Editor).await;
    let operator = hub.token(&admin, "operator", Role::Operator).await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    open_policy(&hub, &admin).await;

    // The rule: the default, tightened for this kind; refused out of bounds or for an
    // unknown kind, and below operator.
    let rule = json!({"kind": "api-service", "enabled": "true", "window_minutes": "10", "min_errors": "8", "error_ratio": "2", "unhealthy_percent": "50"});
    expect_error(
        post(
            &viewer,
            &hub,
            "/api/federation/rollback-rules/set",
            rule.clone(),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for (bad, field) in [
        (
            json!({"kind": "api-service", "window_minutes": "0"}),
            "windowMinutes",
        ),
        (
            json!({"kind": "api-service", "error_ratio": "1"}),
            "errorRatio",
        ),
        (
            json!({"kind": "api-service", "error_ratio": "lots"}),
            "error_ratio",
        ),
        (
            json!({"kind": "api-service", "min_errors": "2.5"}),
            "min_errors",
        ),
        (json!({"kind": "no-such-kind"}), "kind"),
        (json!({"remove": "true"}), "kind"),
    ] {
        let message = expect_error(
            post(
                &operator,
                &hub,
                "/api/federation/rollback-rules/set",
                bad.clone(),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
        assert!(message.contains(field), "{bad}: {message}");
    }
    let rules = set_rule(&operator, &hub, rule).await;
    assert_eq!(rules["kinds"]["api-service"]["minErrors"], 8);
    assert_eq!(
        get(&viewer, &hub, "/api/federation/rollback-rules").await,
        rules
    );

    let (a, _ca) = neuron(&hub, "api-a", &[], None).await;
    let (b, _cb) = neuron(&hub, "api-b", &[], None).await;
    let push = |price: i64| {
        let body = json!({"checkout": {"price": price}}).to_string();
        post(
            &editor,
            &hub,
            "/api/federation/push-config",
            json!({"scope": "global", "kind": "config", "body": body}),
        )
    };
    json_of(push(10).await, StatusCode::OK).await;
    json_of(push(-1).await, StatusCode::OK).await;
    let price = |h: &NeuronHandle| {
        h.snapshot()
            .effective(BundleKind::Config)
            .map(|b| b.body["checkout"]["price"].clone())
    };
    wait_for("both hold revision 2", || async {
        price(&a) == Some(json!(-1)) && price(&b) == Some(json!(-1))
    })
    .await;
    // A few errors are noise: nothing happens.
    errors(&[&a], 3);
    wait_for("the errors are stored", || async {
        hub.app.services.store.count_events().await.unwrap() >= 3
    })
    .await;
    hub.app
        .services
        .federation
        .guard_changes(chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(price(&a), Some(json!(-1)));

    // Many more: revision 1's content is pushed again by the hub and both neurons take it.
    errors(&[&a, &b], 5);
    wait_for("the bad push is rolled back", || async {
        hub.app
            .services
            .federation
            .guard_changes(chrono::Utc::now())
            .await
            .unwrap();
        price(&a) == Some(json!(10)) && price(&b) == Some(json!(10))
    })
    .await;
    let history = get(&viewer, &hub, "/api/federation/scope-history?scope=global").await;
    assert_eq!(history["revisions"][0]["revision"], 3);
    assert_eq!(history["revisions"][0]["createdBy"], "hub");
    // Looked at again, nothing more happens: the hub's own push is not watched.
    assert_eq!(
        hub.app
            .services
            .federation
            .guard_changes(chrono::Utc::now())
            .await
            .unwrap(),
        0
    );

    // The alert and the audit record carry the evidence.
    wait_for("the alert is kept", || async {
        get(&viewer, &hub, "/api/alerts")
            .await
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "autoRollback")
    })
    .await;
    let alerts = get(&viewer, &hub, "/api/alerts").await;
    let alert = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "autoRollback")
        .unwrap();
    assert!(
        alert["text"]
            .as_str()
            .unwrap()
            .contains("rolled back to revision 1"),
        "{alert}"
    );
    let audit = get(&viewer, &hub, "/api/audit?action=bundle.autoRollback").await;
    let evidence = &audit[0]["before"]["evidence"];
    assert_eq!(audit[0]["actor"], "hub");
    assert!(evidence["errorsAfter"].as_u64().unwrap() >= 8, "{evidence}");
    assert_eq!(evidence["errorsBefore"], 0);
    assert_eq!(evidence["neurons"], json!(["api-a", "api-b"]));
    a.stop();
    b.stop();
}

#[tokio::test]
async fn a_push_that_slows_its_neurons_is_rolled_back_by_itself() {
    use cortex_core::federation::BundleKind;
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let editor = hub.token(&admin, "editor", Role::Editor).await;
    let operator = hub.token(&admin, "operator", Role::Operator).await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    open_policy(&hub, &admin).await;
    for (bad, field) in [
        (json!({"latency_ratio": "1"}), "latencyRatio"),
        (json!({"latency_ratio": "fast"}), "latency_ratio"),
        (json!({"min_latency_samples": "0"}), "minLatencySamples"),
    ] {
        let message = expect_error(
            post(
                &operator,
                &hub,
                "/api/federation/rollback-rules/set",
                bad.clone(),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
        assert!(message.contains(field), "{bad}: {message}");
    }
    let rules = set_rule(
        &operator,
        &hub,
        json!({"enabled": "true", "latency_ratio": "2", "min_latency_samples": "10"}),
    )
    .await;
    assert_eq!(rules["default"]["minLatencySamples"], 10);

    let (a, _ca) = neuron(&hub, "api-a", &[], None).await;
    let (b, _cb) = neuron(&hub, "api-b", &[], None).await;
    let push = |price: i64| {
        let body = json!({"checkout": {"price": price}}).to_string();
        post(
            &editor,
            &hub,
            "/api/federation/push-config",
            json!({"scope": "global", "kind": "config", "body": body}),
        )
    };
    let price = |h: &NeuronHandle| {
        h.snapshot()
            .effective(BundleKind::Config)
            .map(|b| b.body["checkout"]["price"].clone())
    };
    let slow = |ms: u64| {
        for h in [&a, &b] {
            for _ in 0..6 {
                h.record_latency(std::time::Duration::from_millis(ms));
            }
        }
    };
    let store = hub.app.services.store.clone();
    let stored = |n: u64| {
        let store = store.clone();
        async move {
            wait_for("the latency samples are stored", || async {
                store.count_events().await.unwrap() >= n
            })
            .await;
        }
    };
    json_of(push(10).await, StatusCode::OK).await;
    wait_for("both hold revision 1", || async {
        price(&a) == Some(json!(10)) && price(&b) == Some(json!(10))
    })
    .await;
    // Quick before the change: 12 samples of 40 ms.
    slow(40);
    stored(12).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    json_of(push(11).await, StatusCode::OK).await;
    wait_for("both hold revision 2", || async {
        price(&a) == Some(json!(11)) && price(&b) == Some(json!(11))
    })
    .await;
    // Slower, but not twice: nothing happens.
    slow(60);
    stored(24).await;
    let guard = || async {
        hub.app
            .services
            .federation
            .guard_changes(chrono::Utc::now())
            .await
            .unwrap()
    };
    assert_eq!(guard().await, 0);
    assert_eq!(price(&a), Some(json!(11)));
    // Five times slower: the hub pushes revision 1's content again.
    slow(400);
    stored(36).await;
    wait_for("the slow push is rolled back", || async {
        guard().await;
        price(&a) == Some(json!(10)) && price(&b) == Some(json!(10))
    })
    .await;
    let audit = get(&viewer, &hub, "/api/audit?action=bundle.autoRollback").await;
    let evidence = &audit[0]["before"]["evidence"];
    assert_eq!(
        (
            evidence["latencySamplesBefore"].as_u64(),
            evidence["latencySamplesAfter"].as_u64()
        ),
        (Some(12), Some(24)),
        "{evidence}"
    );
    let reason = audit[0]["before"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("230 ms on average since the change, 40 ms before"),
        "{}",
        audit[0]
    );
    a.stop();
    b.stop();
}

#[tokio::test]
async fn a_rollout_that_raises_errors_is_stopped_and_the_previous_release_rolled_out() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let operator = hub.token(&admin, "operator", Role::Operator).await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    open_policy(&hub, &admin).await;
    set_rule(
        &operator,
        &hub,
        json!({"enabled": "true", "min_errors": "6"}),
    )
    .await;
    for version in ["1.0.0", "2.0.0"] {
        json_of(
            post(
                &operator,
                &hub,
                "/api/releases/create",
                json!({"kind": "api-service", "version": version}),
            )
            .await,
            StatusCode::OK,
        )
        .await;
    }
    let (a, _ca) = neuron(&hub, "api-a", &[], Some(migrations(false))).await;
    let (b, _cb) = neuron(&hub, "api-b", &[], Some(migrations(false))).await;
    let started = json_of(
        post(
            &operator,
            &hub,
            "/api/rollouts/start",
            json!({"kind": "api-service", "version": "2.0.0"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(started["previous"], "1.0.0", "what it would go back to");
    let id = started["id"].as_str().unwrap().to_string();
    wait_for("both run 2.0.0", || async {
        version_of(&hub, "api-a").await == "2.0.0" && version_of(&hub, "api-b").await == "2.0.0"
    })
    .await;
    errors(&[&a, &b], 4);
    wait_for(
        "the rollout is undone and 1.0.0 rolled out again",
        || async {
            hub.app
                .services
                .federation
                .guard_changes(chrono::Utc::now())
                .await
                .unwrap();
            version_of(&hub, "api-a").await == "1.0.0" && version_of(&hub, "api-b").await == "1.0.0"
        },
    )
    .await;
    let view = rollout(&viewer, &hub, &id).await;
    assert_eq!(view["rollout"]["state"], "aborted");
    assert!(view["rollout"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("rolled back by itself"));
    let list = get(&viewer, &hub, "/api/rollouts").await;
    let back = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rollout"]["createdBy"] == "hub")
        .unwrap_or_else(|| panic!("{list:#}"));
    assert_eq!(back["rollout"]["version"], "1.0.0");
    let audit = get(&viewer, &hub, "/api/audit?action=rollout.autoRollback").await;
    assert_eq!(audit.as_array().unwrap().len(), 1);
    assert!(
        audit[0]["before"]["evidence"]["errorsAfter"]
            .as_u64()
            .unwrap()
            >= 6
    );
    a.stop();
    b.stop();
}

/// A neuron whose migration takes longer than the test.
struct Slow;

impl Updater for Slow {
    fn migrate(&self, _id: &str, _phase: MigrationPhase) -> StepFuture {
        Box::pin(async {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            Ok(String::new())
        })
    }
    fn switch(&self, _order: &UpdateOrder) -> StepFuture {
        Box::pin(async { Ok(String::new()) })
    }
}

#[tokio::test]
async fn an_order_with_no_word_for_a_while_is_sent_again_and_answered_with_where_it_stands() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let operator = hub.token(&admin, "operator", Role::Operator).await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    open_policy(&hub, &admin).await;
    json_of(
        post(
            &operator,
            &hub,
            "/api/releases/create",
            json!({"kind": "api-service", "version": "2.0.0", "pre_migrations": "0001_add_total"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let cache = tempfile::tempdir().unwrap();
    let key = NeuronKey::generate();
    let handle = runner::start_with(
        RunnerConfig::new(
            &hub.app.url(),
            registration("api-slow", &key),
            key,
            cache.path(),
        ),
        Hooks {
            reload: None,
            updater: Some(Arc::new(Slow)),
        },
    )
    .unwrap();
    common::wait_online(&handle, "api-slow").await;
    let started = json_of(
        post(
            &operator,
            &hub,
            "/api/rollouts/start",
            json!({"kind": "api-service", "version": "2.0.0"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let id = started["id"].as_str().unwrap().to_string();
    wait_for("the neuron runs its pre-migration", || async {
        rollout(&viewer, &hub, &id).await["updates"][0]["step"] == "pre 0001_add_total"
    })
    .await;
    let federation = &hub.app.services.federation;
    // Not yet quiet for long: nothing is sent again.
    assert_eq!(
        federation.drive_rollouts(chrono::Utc::now()).await.unwrap(),
        0
    );
    // A minute and more later: sent again, and the neuron says it is still at that step.
    let later = chrono::Utc::now() + chrono::Duration::seconds(120);
    assert_eq!(federation.drive_rollouts(later).await.unwrap(), 1);
    wait_for("the neuron answers again", || async {
        let u = &rollout(&viewer, &hub, &id).await["updates"][0];
        let at = chrono::DateTime::parse_from_rfc3339(u["at"].as_str().unwrap()).unwrap();
        u["state"] == "running" && at < later
    })
    .await;
    handle.stop();
}
