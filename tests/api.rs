//! The API over real HTTP: setup, sign-in, sessions, tokens, bad input, limits, OpenAPI.

mod common;

use common::*;
use cortex_core::Role;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn setup_creates_the_first_admin_once_and_signs_in() {
    let hub = start().await;
    let token = hub
        .setup_token
        .clone()
        .expect("a fresh hub prints a setup token");
    assert_eq!(
        json_of(
            plain()
                .get(hub.url("/api/auth/setup-state"))
                .send()
                .await
                .unwrap(),
            StatusCode::OK
        )
        .await,
        json!(true)
    );

    let wrong = browser(&hub)
        .post(hub.url("/api/auth/setup"))
        .json(&json!({"token": "setup_wrong", "username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let weak = browser(&hub)
        .post(hub.url("/api/auth/setup"))
        .json(&json!({"token": token, "username": ADMIN, "password": "short"}))
        .send()
        .await
        .unwrap();
    assert!(expect_error(weak, StatusCode::BAD_REQUEST, "bad_request")
        .await
        .contains("12"));

    let admin = hub.setup_admin().await;
    let me = json_of(
        admin.get(hub.url("/api/auth/me")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["actor"], "user:admin");
    assert_eq!(me["role"], "admin");

    let again = browser(&hub)
        .post(hub.url("/api/auth/setup"))
        .json(&json!({"token": token, "username": "second", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_error(again, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(
        json_of(
            plain()
                .get(hub.url("/api/auth/setup-state"))
                .send()
                .await
                .unwrap(),
            StatusCode::OK
        )
        .await,
        json!(false)
    );
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_the_session() {
    let hub = start().await;
    hub.setup_admin().await;
    let c = browser(&hub);
    let res = c
        .post(hub.url("/api/auth/login"))
        .json(&json!({"username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.starts_with("cortex_session="),
        "{cookie}"
    );
    let jwt = cookie
        .trim_start_matches("cortex_session=")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    json_of(res, StatusCode::OK).await;
    assert_eq!(
        json_of(
            c.get(hub.url("/api/status")).send().await.unwrap(),
            StatusCode::OK
        )
        .await["backend"],
        "sqlite"
    );

    json_of(
        c.post(hub.url("/api/auth/logout")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    // The old token is dead server-side, even if someone kept a copy.
    let replay = plain()
        .get(hub.url("/api/status"))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert!(
        expect_error(replay, StatusCode::UNAUTHORIZED, "unauthorized")
            .await
            .contains("sign in again")
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same_and_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.login_max_failures = 3;
    let hub = start_with(cfg, dir).await;
    hub.setup_admin().await;
    let c = plain();
    let wrong = c
        .post(hub.url("/api/auth/login"))
        .json(&json!({"username": ADMIN, "password": "nope nope nope"}))
        .send()
        .await
        .unwrap();
    let m1 = expect_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let unknown = c
        .post(hub.url("/api/auth/login"))
        .json(&json!({"username": "ghost", "password": "nope nope nope"}))
        .send()
        .await
        .unwrap();
    let m2 = expect_error(unknown, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(m1, m2);
    for _ in 0..2 {
        c.post(hub.url("/api/auth/login"))
            .json(&json!({"username": ADMIN, "password": "x"}))
            .send()
            .await
            .unwrap();
    }
    let limited = c
        .post(hub.url("/api/auth/login"))
        .json(&json!({"username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let retry = limited
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    expect_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(retry.is_some_and(|s| s > 0 && s <= 300), "{retry:?}");
}

#[tokio::test]
async fn bad_input_gets_4xx_with_a_message_never_500() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let c = plain();
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            c.post(hub.url("/api/auth/login"))
                .header("content-type", "application/json")
                .body("{\"username\":"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            c.post(hub.url("/api/auth/login"))
                .json(&json!({"username": "a"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            c.post(hub.url("/api/auth/login")).json(&json!(["a"])),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            c.post(hub.url("/api/auth/login"))
                .json(&json!({"username": {"nested": 1}, "password": "x"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            c.post(hub.url("/api/auth/login"))
                .body(vec![b'a'; 2 * 1024 * 1024])
                .header("content-type", "application/json"),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            c.get(hub.url("/api/auth/login")),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            c.get(hub.url("/api/no-such-thing")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            admin
                .post(hub.url("/api/users/create"))
                .json(&json!({"username": "x", "password": PASSWORD, "role": "viewer"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            admin
                .post(hub.url("/api/users/create"))
                .json(&json!({"username": "eve", "password": PASSWORD, "role": "root"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            admin
                .post(hub.url("/api/users/delete"))
                .json(&json!({"id": "not-a-uuid"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            admin
                .post(hub.url("/api/users/delete"))
                .json(&json!({"id": uuid::Uuid::new_v4()})),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            admin
                .post(hub.url("/api/tokens/create"))
                .json(&json!({"name": "t", "role": "viewer", "ttl_days": "forever"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            admin
                .post(hub.url("/api/tokens/create"))
                .json(&json!({"name": "", "role": "viewer"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            admin.get(hub.url("/api/audit?limit=lots")),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            admin.get(hub.url(&format!("/api/audit?actor={}", "a".repeat(300)))),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (req, status, code) in cases {
        let (client, req) = req.build_split();
        let req = req.unwrap();
        let what = format!("{} {}", req.method(), req.url().path());
        let res = client.execute(req).await.unwrap();
        assert_eq!(res.status(), status, "{what}");
        expect_error(res, status, code).await;
    }
}

#[tokio::test]
async fn cookie_writes_from_another_origin_are_refused() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let res = admin
        .post(hub.url("/api/tokens/create"))
        .header("origin", "http://evil.example")
        .json(&json!({"name": "stolen", "role": "admin"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let tokens = json_of(
        admin.get(hub.url("/api/tokens")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(tokens.as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn tokens_are_shown_once_stored_hashed_and_die_when_revoked() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let created = json_of(
        admin
            .post(hub.url("/api/tokens/create"))
            .json(&json!({"name": "deploy", "role": "operator", "ttl_days": "30"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("ctx_"));
    assert!(created["token"]["expires_at"].is_string());
    let listed = json_of(
        admin.get(hub.url("/api/tokens")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(
        !listed.to_string().contains(&secret),
        "the list must never carry secrets"
    );
    let use_token = || async {
        let status = plain()
            .get(hub.url("/api/status"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        json_of(status, StatusCode::OK).await;
    };
    let last_used = || async {
        json_of(
            admin.get(hub.url("/api/tokens")).send().await.unwrap(),
            StatusCode::OK,
        )
        .await[0]["last_used_at"]
            .clone()
    };
    use_token().await;
    // The last use is written in the background, once a minute at most.
    let mut first = serde_json::Value::Null;
    for _ in 0..100 {
        first = last_used().await;
        if first.is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(first.is_string(), "the token's use is recorded: {first}");
    for _ in 0..5 {
        use_token().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        last_used().await,
        first,
        "uses within the minute write nothing more"
    );
    json_of(
        admin
            .post(hub.url("/api/tokens/revoke"))
            .json(&json!({"id": created["token"]["id"]}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let dead = plain()
        .get(hub.url("/api/status"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert!(expect_error(dead, StatusCode::UNAUTHORIZED, "unauthorized")
        .await
        .contains("revoked"));
}

/// Tokens are verified from memory, so a revocation made outside this hub (another hub on
/// the same database, `cortex token revoke`) is noticed once the memory is rechecked, within
/// `TOKEN_RECHECK`, and not before the token was last read.
#[tokio::test]
async fn a_token_revoked_outside_the_hub_stops_working_within_the_recheck() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let secret = hub.token(&admin, "elsewhere", Role::Viewer).await;
    let status = || async {
        plain()
            .get(hub.url("/api/status"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(status().await, StatusCode::OK);
    let store = hub.app.services.store.clone();
    let id = store.list_tokens().await.unwrap()[0].id;
    let audit = cortex_core::audit::AuditRecord::new("cli", "token.revoke", String::new());
    let revoked_at = std::time::Instant::now();
    store
        .revoke_token(id, chrono::Utc::now(), audit)
        .await
        .unwrap();
    while status().await == StatusCode::OK {
        assert!(
            revoked_at.elapsed() < cortex_server::auth::TOKEN_RECHECK * 2,
            "still accepted {:?} after the revocation",
            revoked_at.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status().await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_change_is_audited_and_the_chain_verifies() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let t = hub.token(&admin, "ci", Role::Viewer).await;
    let user = json_of(
        admin
            .post(hub.url("/api/users/create"))
            .json(&json!({"username": "eddie", "password": PASSWORD, "role": "editor"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    json_of(
        admin
            .post(hub.url("/api/users/set-role"))
            .json(&json!({"id": user["id"], "role": "operator"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    json_of(
        admin
            .post(hub.url("/api/users/delete"))
            .json(&json!({"id": user["id"]}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let log = json_of(
        plain()
            .get(hub.url("/api/audit"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "user.delete",
            "user.set_role",
            "user.create",
            "token.create",
            "session.login",
            "user.create"
        ]
    );
    assert_eq!(log[1]["before"], json!({"role": "editor"}));
    assert_eq!(log[1]["after"], json!({"role": "operator"}));
    let filtered = json_of(
        plain()
            .get(hub.url("/api/audit?action=user.&actor=admin"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(filtered.as_array().unwrap().len(), 3);
    let status = json_of(
        plain()
            .get(hub.url("/api/status"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(status["audit_chain"], json!({"Ok": 6}));
}

#[tokio::test]
async fn probes_and_metrics_answer() {
    let hub = start().await;
    let c = plain();
    let h = c.get(hub.url("/healthz")).send().await.unwrap();
    assert_eq!(h.status(), StatusCode::OK);
    assert!(
        h.headers().get("x-request-id").is_some(),
        "every response carries a request id"
    );
    let r = json_of(
        c.get(hub.url("/readyz")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(r["database_ok"], true);
    c.get(hub.url("/api/auth/me")).send().await.unwrap();
    let m = c
        .get(hub.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("cortex_http_requests_total") && m.contains("route=\"/api/auth/me\""),
        "{m}"
    );
}

#[tokio::test]
async fn metrics_ask_for_their_token_when_one_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    let token = "scrape-me-with-this-token-0123";
    cfg.metrics_token = Some(token.to_string().into());
    let hub = start_with(cfg, dir).await;
    let c = plain();
    let open = c.get(hub.url("/metrics")).send().await.unwrap();
    let msg = expect_error(open, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(msg.contains("CORTEX_METRICS_TOKEN"), "{msg}");
    let wrong = c
        .get(hub.url("/metrics"))
        .bearer_auth("scrape-me-with-this-token-0124")
        .send()
        .await
        .unwrap();
    expect_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let right = c
        .get(hub.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert!(right.text().await.unwrap().contains("# TYPE"));
    // The probes stay open.
    let h = c.get(hub.url("/healthz")).send().await.unwrap();
    assert_eq!(h.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_rule_set_import_may_be_larger_than_other_bodies() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let editor = hub.token(&admin, "importer", Role::Editor).await;
    let c = plain();
    // 2 MiB: over CORTEX_MAX_BODY_BYTES (1 MiB), under the sync route's 4 MiB. It reaches
    // the handler, which explains what is wrong with it.
    let mut big = br#"{"import": {"revision": 0, "layouts": [], "rules": [], "pad": ""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
    big.extend(br#"", }}"#);
    let res = c
        .post(hub.url("/api/layout-mutation/sync"))
        .bearer_auth(&editor)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let msg = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(msg.contains("not a sync request"), "{msg}");
    // The same body elsewhere, and 5 MiB on the sync route, are refused unread.
    let res = c
        .post(hub.url("/api/layout-mutation/apply"))
        .bearer_auth(&editor)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let res = c
        .post(hub.url("/api/layout-mutation/sync"))
        .bearer_auth(&editor)
        .header("content-type", "application/json")
        .body(vec![b' '; 5 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    let msg = expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert!(msg.contains("4194304"), "{msg}");
}

#[tokio::test]
async fn openapi_lists_exactly_the_routes_the_server_serves() {
    let hub = start().await;
    let doc = json_of(
        plain()
            .get(hub.url("/api/openapi.json"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    // Every server function the binary registered, plus the plain axum routes.
    let mut served: Vec<(String, String)> = leptos::server_fn::axum::server_fn_paths()
        .map(|(p, m)| (m.to_string(), p.to_string()))
        .collect();
    for (m, p) in [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/api/openapi.json"),
        ("POST", cortex_server::federation::http::REGISTER_PATH),
        ("POST", cortex_server::federation::http::HEARTBEAT_PATH),
        (
            "POST",
            cortex_server::federation::http::STREAM_ANALYTICS_PATH,
        ),
        ("GET", cortex_server::federation::channel::WS_PATH),
        ("POST", cortex_server::federation::http::WS_TICKET_PATH),
        ("GET", cortex_server::federation::http::HUB_PATH),
        ("POST", cortex_server::mutations::http::APPLY_PATH),
        ("POST", cortex_server::mutations::http::SYNC_PATH),
        ("GET", cortex_server::mutations::http::REPORT_PATH),
        ("POST", cortex_server::mutations::http::REPORT_PATH),
    ] {
        served.push((m.into(), p.into()));
    }
    served.sort();
    assert_eq!(documented, served);
    // And each documented route answers something other than 404/405.
    for (m, p) in &documented {
        let res = plain()
            .request(m.parse().unwrap(), hub.url(p))
            .send()
            .await
            .unwrap();
        assert!(
            ![404, 405].contains(&res.status().as_u16()),
            "{m} {p} answered {}",
            res.status()
        );
    }
    // Every schema the paths reference exists.
    let text = doc.to_string();
    for r in text.split("#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "missing schema {name}"
        );
    }
}

#[tokio::test]
async fn pages_render_on_the_server_and_admin_needs_a_session() {
    let hub = start().await;
    let c = plain();
    let home = c.get(hub.url("/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.unwrap().contains("setup-hint"));
    let admin_page = c
        .get(hub.url("/admin"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(admin_page.status(), StatusCode::FOUND);
    assert_eq!(admin_page.headers()["location"], "/login");
    let missing = c.get(hub.url("/no/such/page")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let browser = hub.setup_admin().await;
    let page = browser.get(hub.url("/admin/audit")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("audit-table") && html.contains("session.login"),
        "SSR renders the data, not a spinner"
    );
}

#[tokio::test]
async fn admin_pages_send_visitors_without_a_session_to_sign_in_first() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    for path in [
        "/admin",
        "/admin/users",
        "/admin/layout-mutations/anything?x=1",
    ] {
        let res = plain().get(hub.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND, "{path}");
        assert_eq!(res.headers()["location"], "/login", "{path}");
        let res = plain().head(hub.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND, "HEAD {path}");
    }
    // Paths a browser never sends (dot segments, backslashes) are not rendered at all.
    for path in ["/./admin", "/pkg/../admin", "/admin\\users"] {
        let (status, _) = raw_get(&hub, path).await;
        assert_eq!(status, 404, "{path}");
    }
    // An ended session's cookie is no better than none.
    let ended = browser(&hub);
    let res = ended
        .get(hub.url("/admin"))
        .header("cookie", "cortex_session=not-a-session")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    // Signed in, the page renders; the sign-in page never redirects.
    assert_eq!(
        admin
            .get(hub.url("/admin/users"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    for path in ["/login"] {
        assert_eq!(
            plain().get(hub.url(path)).send().await.unwrap().status(),
            StatusCode::OK,
            "{path}"
        );
    }
}

/// A GET with the path sent exactly as given (HTTP clients tidy `.` and `..` away).
async fn raw_get(hub: &Hub, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = hub.app.url().trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}
