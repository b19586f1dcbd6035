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

#[tokio::test]
async fn a_hub_whose_database_vanishes_degrades_and_heals_when_it_returns() {
    let db = PgDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.database_url = Some(SecretString::from(db.url.clone()));
    cfg.db_check_interval = std::time::Duration::from_millis(100);
    cfg.db_retry_max = std::time::Duration::from_millis(300);
    let hub = start_with(cfg, dir).await;
    let c = plain();
    let ready =
        |c: reqwest::Client, url: String| async move { c.get(url).send().await.unwrap().status() };
    assert_eq!(ready(c.clone(), hub.url("/readyz")).await, StatusCode::OK);

    // Replace the database behind the hub's back: drop it, then create an empty one.
    db.recreate(|| async {
        let mut degraded = false;
        for _ in 0..100 {
            if ready(c.clone(), hub.url("/readyz")).await == StatusCode::SERVICE_UNAVAILABLE {
                degraded = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(degraded, "/readyz must notice the database is gone");
        assert_eq!(
            c.get(hub.url("/healthz")).send().await.unwrap().status(),
            StatusCode::OK
        );
        let res = c
            .post(hub.url("/api/auth/login"))
            .json(&json!({"username": "a", "password": "b"}))
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    })
    .await;

    // Back: the hub reconnects and migrates the empty database by itself.
    let mut healed = false;
    for _ in 0..100 {
        if ready(c.clone(), hub.url("/readyz")).await == StatusCode::OK {
            healed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(healed, "/readyz must recover when the database is back");
    let state = json_of(
        c.get(hub.url("/api/auth/setup-state"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        state,
        json!(true),
        "the replaced database is empty and migrated"
    );
    hub.app.stop();
    db.drop_db().await;
}
