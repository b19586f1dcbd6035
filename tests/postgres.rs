//! The same hub on Postgres: set up, sign in, tokens, audit, all over HTTP.

mod common;

use common::*;
use cortex_core::audit::AuditQuery;
use cortex_core::Role;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;

#[tokio::test]
async fn a_hub_on_postgres_works_like_one_on_sqlite() {
    let db = PgDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.database_url = Some(SecretString::from(db.url.clone()));
    let hub = start_with(cfg, dir).await;

    let admin = hub.setup_admin().await;
    let viewer = hub.token(&admin, "pg-viewer", Role::Viewer).await;
    json_of(
        admin
            .post(hub.url("/api/users/create"))
            .json(&json!({"username": "olive", "password": PASSWORD, "role": "operator"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;

    let sdk = cortex_sdk::HubClient::new(&hub.app.url(), Some(viewer.clone())).unwrap();
    assert!(sdk.alive().await.unwrap());
    let ready = sdk.readiness().await.unwrap();
    assert_eq!(
        (ready.backend.as_str(), ready.database_ok),
        ("postgres", true)
    );
    let status = sdk.status().await.unwrap();
    assert_eq!(status["backend"], "postgres");
    assert_eq!(status["users"], 2);
    assert_eq!(status["audit_chain"], json!({"Ok": 4}));
    let log = sdk
        .audit(&AuditQuery {
            action: Some("user.".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        log.iter()
            .map(|e| e.record.target.as_str())
            .collect::<Vec<_>>(),
        ["user:olive", "user:admin"]
    );

    // The role check and the error shape are the same on this backend.
    let denied = cortex_sdk::HubClient::new(&hub.app.url(), None)
        .unwrap()
        .status()
        .await
        .unwrap_err();
    assert!(
        matches!(denied, cortex_sdk::SdkError::Api { status: 401, .. }),
        "{denied}"
    );
    let res = plain()
        .get(hub.url("/api/users"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    hub.app.stop();
    db.drop_db().await;
}

/// Two hubs on one Postgres database, as a load-balanced pair is set up (one session key and
/// one audit key), with the open join policy; and hub A's admin.
async fn two_hubs(db: &PgDb) -> (Hub, Hub, reqwest::Client) {
    let config = |dir: &tempfile::TempDir| {
        let mut cfg = test_config(dir.path());
        cfg.database_url = Some(SecretString::from(db.url.clone()));
        cfg.jwt_secret = Some(SecretString::from(
            "a-shared-session-key-of-at-least-32-bytes".to_string(),
        ));
        // Hubs on one database write one audit chain: they share its key.
        cfg.audit_key = Some(SecretString::from(
            "a-shared-audit-key-of-at-least-32-bytes".to_string(),
        ));
        cfg.db_check_interval = std::time::Duration::from_millis(200);
        cfg
    };
    let dir_a = tempfile::tempdir().unwrap();
    let a = start_with(config(&dir_a), dir_a).await;
    let admin = a.setup_admin().await;
    open_policy(&a, &admin).await;
    let dir_b = tempfile::tempdir().unwrap();
    let b = start_with(config(&dir_b), dir_b).await;
    (a, b, admin)
}

#[tokio::test]
async fn hubs_sharing_postgres_deliver_pushes_and_commands_to_each_others_neurons() {
    use cortex_core::federation::HubMessage;
    use cortex_sdk::{HubClient, NeuronKey};
    use std::time::Duration;
    let db = PgDb::create().await;
    let (a, b, admin) = two_hubs(&db).await;

    // The neuron joins through hub A but holds its channel on hub B.
    let key = NeuronKey::generate();
    let token = HubClient::new(&a.app.url(), None)
        .unwrap()
        .register(&registration("far-1", &key), &key)
        .await
        .unwrap()
        .token
        .unwrap();
    let mut ch = HubClient::new(&b.app.url(), None)
        .unwrap()
        .connect(&token, &Default::default())
        .await
        .unwrap();
    assert!(matches!(next(&mut ch).await, HubMessage::Welcome { .. }));
    assert!(matches!(next(&mut ch).await, HubMessage::Synced { .. }));

    // A push taken by hub A reaches the neuron on hub B at once.
    let res = json_of(
        admin
            .post(a.url("/api/federation/push-config"))
            .json(&json!({"scope": "tag:eu", "kind": "config", "body": "{\"x\":1}"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (res["targeted"].as_u64(), res["sent"].as_u64()),
        (Some(1), Some(0)),
        "{res}"
    );
    let HubMessage::Push { bundle } = next(&mut ch).await else {
        panic!("expected the push")
    };
    assert_eq!(bundle.body["x"], 1);

    // So does a command, and the answer is recorded for the command hub A sent.
    let run = json_of(
        admin
            .post(a.url("/api/federation/sync"))
            .json(&json!({"scope": "global"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let HubMessage::Command { id, .. } = next(&mut ch).await else {
        panic!("expected the command")
    };
    assert_eq!(id, run["id"].as_str().unwrap());
    ch.command_result(&id, true, "synced").await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let runs = json_of(
            admin
                .get(a.url("/api/federation/commands"))
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
        if runs[0]["reports"][0]["outcome"] == "done" {
            assert_eq!(runs[0]["sent"], 1);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{runs}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(ch);
    a.app.stop();
    b.app.stop();
    db.drop_db().await;
}

/// Security review item 8: removing a neuron on one hub ends its tokens and its socket on
/// every hub at once (a revocation written to the database and announced with NOTIFY), not
/// when the token expires.
#[tokio::test]
async fn a_neuron_removed_on_one_hub_is_cut_off_on_every_hub_at_once() {
    use cortex_sdk::{HubClient, NeuronKey};
    use std::time::{Duration, Instant};
    let db = PgDb::create().await;
    let (a, b, admin) = two_hubs(&db).await;
    let key = NeuronKey::generate();
    let token = HubClient::new(&a.app.url(), None)
        .unwrap()
        .register(&registration("far-1", &key), &key)
        .await
        .unwrap()
        .token
        .unwrap();
    let sync_on_b = || {
        plain()
            .post(b.url("/api/layout-mutation/sync"))
            .bearer_auth(&token)
            .json(&json!({"revision": 0}))
            .send()
    };
    assert_eq!(sync_on_b().await.unwrap().status(), StatusCode::OK);
    let mut ch = HubClient::new(&b.app.url(), None)
        .unwrap()
        .connect(&token, &Default::default())
        .await
        .unwrap();
    assert!(matches!(
        next(&mut ch).await,
        cortex_core::federation::HubMessage::Welcome { .. }
    ));

    json_of(
        admin
            .post(a.url("/api/federation/neurons/remove"))
            .json(&json!({"id": "far-1"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let removed = Instant::now();
    // Hub B refuses the token within moments (the token itself is valid for 15 minutes).
    loop {
        let res = sync_on_b().await.unwrap();
        if res.status() == StatusCode::UNAUTHORIZED {
            assert!(res.text().await.unwrap().contains("revoked"));
            break;
        }
        assert!(
            removed.elapsed() < Duration::from_secs(3),
            "still open on hub B"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And closes the socket the neuron holds there.
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match ch.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the socket on hub B stayed open");
    a.app.stop();
    b.app.stop();
    db.drop_db().await;
}

/// A neuron retired on hub A while connected to hub B is told so on B before its socket
/// closes (the revocation announcement carries the reason).
#[tokio::test]
async fn a_neuron_retired_on_one_hub_is_told_so_on_the_hub_it_is_connected_to() {
    use cortex_core::federation::HubMessage;
    use cortex_sdk::{HubClient, NeuronKey};
    use std::time::Duration;
    let db = PgDb::create().await;
    let (a, b, admin) = two_hubs(&db).await;
    let key = NeuronKey::generate();
    let token = HubClient::new(&a.app.url(), None)
        .unwrap()
        .register(&registration("far-2", &key), &key)
        .await
        .unwrap()
        .token
        .unwrap();
    let mut ch = HubClient::new(&b.app.url(), None)
        .unwrap()
        .connect(&token, &Default::default())
        .await
        .unwrap();
    assert!(matches!(next(&mut ch).await, HubMessage::Welcome { .. }));
    json_of(
        admin
            .post(a.url("/api/federation/neurons/set-status"))
            .json(&json!({"id": "far-2", "status": "retired"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let told = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ch.next().await {
                Some(Ok(HubMessage::Retire { reason })) => return Some(reason),
                Some(Ok(_)) => continue,
                None | Some(Err(_)) => return None,
            }
        }
    })
    .await;
    let reason = told
        .expect("an answer within 5 s")
        .expect("told before the socket closed");
    assert_eq!(reason, cortex_server::federation::RETIRED_REASON);
    a.app.stop();
    b.app.stop();
    db.drop_db().await;
}

#[tokio::test]
async fn two_hubs_on_a_replaced_database_restore_it_once_and_both_serve() {
    let db = PgDb::create().await;
    let (a, b, admin) = two_hubs(&db).await;
    let token = a.token(&admin, "ops", Role::Operator).await;
    // Both hubs' copies hold the token before the database goes.
    for hub in [&a, &b] {
        let dir = hub._dir.path().to_path_buf();
        let mut held = false;
        for _ in 0..200 {
            held = cortex_server::recovery::read_copy(&dir)
                .ok()
                .flatten()
                .is_some_and(|c| c.table("api_tokens").len() == 1);
            if held {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(held, "each hub keeps its own copy");
    }
    db.recreate(|| async {}).await;
    let c = plain();
    for hub in [&a, &b] {
        let mut ok = false;
        for _ in 0..200 {
            let res = c
                .get(hub.url("/api/tokens"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            if res.status() == StatusCode::FORBIDDEN {
                // The operator token is known again (and lists no tokens: admins only).
                ok = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(ok, "both hubs serve the restored state");
    }
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    // Give the slower hub time to find the database restored.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let (recovers, users): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM audit_log WHERE action = 'audit.recover'), (SELECT count(*) FROM users)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!((recovers, users), (1, 1), "exactly one hub restored");
    a.app.stop();
    b.app.stop();
    db.drop_db().await;
}
