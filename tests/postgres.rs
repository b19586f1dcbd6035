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
