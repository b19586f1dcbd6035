//! Faults: a database that is down at start must not crash the hub.

mod common;

use common::*;
use reqwest::StatusCode;
use secrecy::SecretString;

#[tokio::test]
async fn postgres_down_at_start_keeps_the_hub_alive_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: nothing listens, so connections are refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = test_config(dir.path());
    cfg.database_url = Some(SecretString::from(format!(
        "postgres://postgres@127.0.0.1:{port}/cortex"
    )));
    let app = cortex::Application::build(cfg)
        .await
        .expect("builds even though the database is down")
        .spawn();
    let c = plain();
    let url = |p: &str| format!("{}{p}", app.url());

    assert_eq!(
        c.get(url("/healthz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    // Give the self-check a moment to record the failure.
    let mut readyz = serde_json::Value::Null;
    for _ in 0..40 {
        let res = c.get(url("/readyz")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        readyz = res.json().await.unwrap();
        if readyz["error"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(readyz["status"], "degraded");
    assert_eq!(readyz["backend"], "postgres");
    assert!(
        readyz["error"]
            .as_str()
            .unwrap_or_default()
            .contains("unreachable"),
        "{readyz}"
    );

    // Sign-in and pages answer at once with clear errors, never a panic or a hang.
    let started = std::time::Instant::now();
    let login = c
        .post(url("/api/auth/login"))
        .json(&serde_json::json!({"username": "a", "password": "b"}))
        .send()
        .await
        .unwrap();
    expect_error(login, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let me = c
        .get(url("/api/auth/me"))
        .header("cookie", "cortex_session=abc")
        .send()
        .await
        .unwrap();
    expect_error(me, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let home = c.get(url("/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "answers must not wait for pool timeouts"
    );
    assert_eq!(
        c.get(url("/healthz")).send().await.unwrap().status(),
        StatusCode::OK
    );
}
