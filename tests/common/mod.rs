//! Shared helpers: start the real hub on port 0 with its own database, and sign in.

#![allow(dead_code)]

use cortex::{Application, RunningApp};
use cortex_core::Role;
use cortex_server::config::Config;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

pub const ADMIN: &str = "admin";
pub const PASSWORD: &str = "correct horse battery staple";

/// A running hub with its data dir.
pub struct Hub {
    pub app: RunningApp,
    pub setup_token: Option<String>,
    pub _dir: tempfile::TempDir,
}

/// Config for a test hub: port 0, a fresh SQLite data dir.
pub fn test_config(dir: &std::path::Path) -> Config {
    Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        log: "warn".into(),
        // Layout tests turn the demo storefront on; elsewhere it would add audit entries.
        demo_shop: false,
        ..Config::default()
    }
}

/// Starts a hub on a fresh SQLite database and waits until it is ready.
pub async fn start() -> Hub {
    let dir = tempfile::tempdir().unwrap();
    start_with(test_config(dir.path()), dir).await
}

/// Starts a hub with a given config.
pub async fn start_with(cfg: Config, dir: tempfile::TempDir) -> Hub {
    let app = Application::build(cfg).await.expect("hub builds").spawn();
    let ready = tokio::time::timeout(std::time::Duration::from_secs(20), app.ready())
        .await
        .expect("hub becomes ready");
    Hub {
        app,
        setup_token: ready.setup_token,
        _dir: dir,
    }
}

/// How long a test request may take: a hub that never answers fails the test with the
/// request's URL instead of hanging the run.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A client that keeps cookies and sends a same-origin `Origin` (as a browser would).
pub fn browser(hub: &Hub) -> Client {
    browser_for(&hub.app.url())
}

/// [`browser`] for a hub at `base` (one run as a process, say).
pub fn browser_for(base: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ORIGIN, base.parse().unwrap());
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap()
}

/// A plain client: no cookies, no Origin.
pub fn plain() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap()
}

impl Hub {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.url())
    }

    /// Creates the first admin through the setup endpoint with a cookie-keeping client.
    pub async fn setup_admin(&self) -> Client {
        let c = browser(self);
        let res = c
            .post(self.url("/api/auth/setup"))
            .json(&json!({"token": self.setup_token.clone().expect("setup token"), "username": ADMIN, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{}",
            res.text().await.unwrap()
        );
        c
    }

    /// Creates an API token with `role` using an admin client; returns the secret.
    pub async fn token(&self, admin: &Client, name: &str, role: Role) -> String {
        let res = admin
            .post(self.url("/api/tokens/create"))
            .json(&json!({"name": name, "role": role}))
            .send()
            .await
            .unwrap();
        let body = json_of(res, StatusCode::OK).await;
        body["secret"].as_str().unwrap().to_string()
    }
}

/// A server neuron's registration, signed with `key` by the SDK.
pub fn registration(
    id: &str,
    key: &cortex_sdk::NeuronKey,
) -> cortex_core::federation::Registration {
    cortex_core::federation::Registration {
        id: id.into(),
        slug: "shop".into(),
        kind: "api-service".into(),
        version: "1.0.0".into(),
        capabilities: vec!["config".into()],
        tags: vec!["eu".into()],
        region: None,
        endpoint: None,
        public_key: key.public_key(),
        fingerprints: Default::default(),
    }
}

/// Sets the join policy to open (every correctly signed neuron joins).
pub async fn open_policy(hub: &Hub, admin: &Client) {
    let res = admin
        .post(hub.url("/api/federation/join-policy"))
        .json(&json!({"mode": "open"}))
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::OK).await;
}

/// An admin, as the service layer sees one (for tests that call services directly).
pub fn admin_principal() -> cortex_core::user::Principal {
    cortex_core::user::Principal {
        actor: "user:test".into(),
        role: Role::Admin,
        user_id: None,
    }
}

/// Asserts the status and returns the JSON body.
pub async fn json_of(res: Response, status: StatusCode) -> Value {
    let got = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts an error response: status, `{"error":{"code"}}` and a non-empty message.
pub async fn expect_error(res: Response, status: StatusCode, code: &str) -> String {
    let body = json_of(res, status).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    let msg = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!msg.is_empty(), "{body}");
    msg
}

/// A fresh Postgres database for one test; dropped by [`PgDb::drop_db`].
pub struct PgDb {
    pub url: String,
    base: String,
    name: String,
}

impl PgDb {
    /// Creates `cortex_it_<random>` on `CORTEX_TEST_PG_URL` (default the local server).
    pub async fn create() -> PgDb {
        use sqlx::Connection;
        let base = std::env::var("CORTEX_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!("cortex_it_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
            .await
            .unwrap_or_else(|e| {
                panic!("Postgres at {base} is needed (start it, or set CORTEX_TEST_PG_URL): {e}")
            });
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap();
        PgDb {
            url: format!("{base}/{name}"),
            base,
            name,
        }
    }

    /// Drops the database, runs `while_gone`, then creates it again empty.
    pub async fn recreate<F, Fut>(&self, while_gone: F)
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", self.base))
            .await
            .unwrap();
        sqlx::query(&format!("DROP DATABASE \"{}\" WITH (FORCE)", self.name))
            .execute(&mut admin)
            .await
            .unwrap();
        while_gone().await;
        sqlx::query(&format!("CREATE DATABASE \"{}\"", self.name))
            .execute(&mut admin)
            .await
            .unwrap();
    }

    /// Drops the database (call at the end of a passing test).
    pub async fn drop_db(self) {
        use sqlx::Connection;
        if let Ok(mut admin) = sqlx::PgConnection::connect(&format!("{}/postgres", self.base)).await
        {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await;
        }
    }
}

/// The next message within five seconds (a test must not hang on a silent socket).
pub async fn next(ch: &mut cortex_sdk::channel::Channel) -> cortex_core::federation::HubMessage {
    tokio::time::timeout(std::time::Duration::from_secs(5), ch.next())
        .await
        .expect("a message within 5 s")
        .expect("channel open")
        .expect("a readable message")
}

/// Waits until the analytics writer has stored at least `n` events.
pub async fn writer_drained(store: &cortex_server::store::DynStore, n: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.count_events().await.unwrap() < n {
        assert!(std::time::Instant::now() < deadline, "writer never drained");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Checks that the part of `file` (under the repository) between the markers `begin` and
/// `end` is `want`. With `CORTEX_UPDATE_DOCS` set it rewrites that part instead; otherwise a
/// stale part fails with `regenerate`, the command that brings it up to date.
pub fn generated_section(file: &str, begin: &str, end: &str, want: &str, regenerate: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text
        .find(begin)
        .unwrap_or_else(|| panic!("{file} has the marker {begin}"))
        + begin.len();
    let stop = text
        .find(end)
        .unwrap_or_else(|| panic!("{file} has the marker {end}"));
    let want = format!("\n{want}");
    if text[start..stop] == want {
        return;
    }
    if std::env::var_os("CORTEX_UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{}{want}{}", &text[..start], &text[stop..])).unwrap();
    } else {
        panic!("{file} is stale between {begin} and {end}: run `{regenerate}` and commit");
    }
}

/// Waits (up to 10 s, checking every 50 ms) until `f` holds; fails the test naming `what`.
pub async fn wait_for<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !f().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// POSTs `body` as JSON with a bearer token.
pub async fn post_json(token: &str, hub: &Hub, path: &str, body: Value) -> Response {
    plain()
        .post(hub.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// GETs `path` with a bearer token; it must answer 200 with JSON.
pub async fn get_json(token: &str, hub: &Hub, path: &str) -> Value {
    json_of(
        plain()
            .get(hub.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
}

/// Waits (up to 10 s) until an SDK runner is online.
pub async fn wait_online(handle: &cortex_sdk::runner::NeuronHandle, id: &str) {
    let conn = handle.watch_connection();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while *conn.borrow() != cortex_sdk::runner::Connection::Online {
        assert!(
            std::time::Instant::now() < deadline,
            "{id} never came online"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
