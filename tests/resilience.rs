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

/// A TCP proxy in front of Postgres that can cut every connection and refuse new ones (as
/// if the server were killed) and let them through again (as if it restarted).
struct Proxy {
    addr: std::net::SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (cut, cuts) = tokio::sync::watch::channel(0u64);
        let accepting = up.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accepting.load(Ordering::Acquire) {
                    drop(inbound);
                    continue;
                }
                let mut cuts = cuts.clone();
                // Only a cut after this connection opened closes it.
                cuts.mark_unchanged();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Proxy { addr, up, cut }
    }

    /// Cuts every connection and refuses new ones.
    fn kill(&self) {
        self.up.store(false, std::sync::atomic::Ordering::Release);
        self.cut.send_modify(|n| *n += 1);
    }

    /// Lets connections through again.
    fn revive(&self) {
        self.up.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// How long until `path` on `hub` answers `want` (polled every 50 ms), or `None` after
/// `secs` seconds.
async fn answers_within(
    hub: &Hub,
    path: &str,
    want: StatusCode,
    secs: u64,
) -> Option<std::time::Duration> {
    let c = plain();
    let url = hub.url(path);
    within(std::time::Duration::from_secs(secs), || {
        let res = c.get(&url).send();
        async move { res.await.is_ok_and(|r| r.status() == want) }
    })
    .await
}

/// Streams `batches` batches of `events` click events to `url` as neuron `token`, each
/// retried until acknowledged (as the SDK does), in the background. Returns the events
/// acknowledged (counted once) and how many posts were refused or failed.
fn stream_events(
    url: String,
    token: String,
    batches: usize,
    events: usize,
) -> tokio::task::JoinHandle<(u64, u64)> {
    tokio::spawn(async move {
        let c = plain();
        let (mut acked, mut refused) = (0u64, 0u64);
        for b in 0..batches {
            let at = chrono::Utc::now().to_rfc3339();
            let events: Vec<_> = (0..events)
                .map(|i| serde_json::json!({"kind": "click", "at": at, "unit": format!("u{i}")}))
                .collect();
            let body = serde_json::json!({"batchId": format!("b-{b}"), "events": events});
            loop {
                let sent = c.post(&url).bearer_auth(&token).json(&body).send().await;
                if let Ok(res) = sent {
                    if res.status() == StatusCode::OK {
                        let ack: serde_json::Value = res.json().await.unwrap();
                        if ack["duplicate"] == false {
                            acked += ack["events"].as_u64().unwrap();
                        }
                        break;
                    }
                }
                refused += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        (acked, refused)
    })
}

/// The admin signs in with the password set before the database was lost.
async fn signs_in_with_the_old_password(hub: &Hub) {
    let login = browser(hub)
        .post(hub.url("/api/auth/login"))
        .json(&serde_json::json!({"username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status(),
        StatusCode::OK,
        "the admin signs in with the old password"
    );
}

/// A neuron on the SDK (server kind, quick flushes, short backoff) at `base`.
fn start_neuron(base: &str, id: &str, cache: &std::path::Path) -> cortex_sdk::runner::NeuronHandle {
    let key = cortex_sdk::NeuronKey::generate();
    cortex_sdk::runner::start(
        cortex_sdk::runner::RunnerConfig {
            flush_every: std::time::Duration::from_millis(50),
            max_backoff: std::time::Duration::from_millis(500),
            ..cortex_sdk::runner::RunnerConfig::new(base, registration(id, &key), key, cache)
        },
        None,
    )
    .unwrap()
}

/// Polls `f` every 50 ms until it holds; how long that took, or `None` after `limit`.
async fn within<F, Fut>(limit: std::time::Duration, mut f: F) -> Option<std::time::Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if f().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    None
}

/// A hub on a fresh Postgres database that checks it often, with its admin, an operator
/// token, the open join policy, a publishable key and a connected neuron; the demo
/// storefront is seeded. Returns the hub, its database, the admin, the token and the neuron.
async fn pg_hub_with_state(
    database_url: Option<String>,
) -> (
    Hub,
    PgDb,
    reqwest::Client,
    String,
    cortex_sdk::runner::NeuronHandle,
) {
    let db = PgDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.database_url = Some(SecretString::from(database_url.unwrap_or(db.url.clone())));
    cfg.db_check_interval = std::time::Duration::from_millis(200);
    cfg.demo_shop = true;
    let hub = start_with(cfg, dir).await;
    let admin = hub.setup_admin().await;
    let token = hub.token(&admin, "ops", cortex_core::Role::Operator).await;
    open_policy(&hub, &admin).await;
    let res = admin
        .post(hub.url("/api/federation/publishable-keys/create"))
        .json(&serde_json::json!({"name": "shop", "origins": "https://shop.example.com"}))
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::OK).await;
    let neuron = start_neuron(
        &hub.app.url(),
        "shop-1",
        &tempfile::tempdir().unwrap().keep(),
    );
    let conn = neuron.watch_connection();
    let online = within(std::time::Duration::from_secs(10), || {
        let online = *conn.borrow() == cortex_sdk::runner::Connection::Online;
        async move { online }
    })
    .await;
    assert!(online.is_some(), "the neuron comes online");
    (hub, db, admin, token, neuron)
}

/// The hub's copy of its control state holds `what` (waits up to 10 s).
async fn copy_holds(hub: &Hub, table: &str, what: &str) {
    let dir = hub._dir.path().to_path_buf();
    let held = within(std::time::Duration::from_secs(10), || {
        let copy = cortex_server::recovery::read_copy(&dir).ok().flatten();
        let held = copy.is_some_and(|c| {
            c.table(table)
                .iter()
                .any(|row| row.iter().any(|v| v.as_str() == Some(what)))
        });
        async move { held }
    })
    .await;
    assert!(held.is_some(), "the copy holds {table} `{what}`");
}

/// Everything the hub had is there again: the admin signs in with the old password, the
/// old session and API token work, setup stays closed, the join policy, the publishable
/// key, the neuron and the rules are back, and the audit chain verifies across the loss.
async fn everything_is_back(hub: &Hub, admin: &reqwest::Client, token: &str, rules: usize) {
    let c = plain();
    let users = c
        .get(hub.url("/api/users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        users.status(),
        StatusCode::FORBIDDEN,
        "the operator token is known again (and still an operator's)"
    );
    let me = json_of(
        admin.get(hub.url("/api/auth/me")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        me["actor"],
        format!("user:{ADMIN}"),
        "the admin's session survived: {me}"
    );
    signs_in_with_the_old_password(hub).await;
    let setup = json_of(
        c.get(hub.url("/api/auth/setup-state"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(setup, serde_json::json!(false), "setup stays closed");
    let policy = json_of(
        admin
            .get(hub.url("/api/federation/join-policy"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(policy["mode"], "open", "{policy}");
    let keys = json_of(
        admin
            .get(hub.url("/api/federation/publishable-keys"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(keys.as_array().map(Vec::len), Some(1), "{keys}");
    let fleet = json_of(
        c.get(hub.url("/api/federation/health"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        fleet["total"], 1,
        "the neuron is in the fleet again: {fleet}"
    );
    let store = &hub.app.services.store;
    assert_eq!(store.rule_set().await.unwrap().rules.len(), rules);
    let report = cortex_server::audit::verify(
        store,
        Some(&hub.app.services.audit_key),
        Some(hub._dir.path()),
    )
    .await
    .unwrap();
    assert_eq!(
        report.broken, None,
        "the audit chain verifies across the loss"
    );
    let recovered = store
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some(cortex_core::audit::RECOVER_ACTION.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!recovered.is_empty(), "a recover entry links the chain");
}

#[tokio::test]
async fn a_replaced_database_is_noticed_restored_and_served_whole() {
    let (hub, db, admin, token, neuron) = pg_hub_with_state(None).await;
    let store = hub.app.services.store.clone();
    // The demo's last rule is seeded, and copied.
    copy_holds(&hub, "layout_mutations", "deep-scroll-footer").await;
    let rules = store.rule_set().await.unwrap().rules.len();
    copy_holds(&hub, "neurons", "shop-1").await;
    copy_holds(&hub, "settings", "federation.publishable_keys").await;
    let c = plain();
    let first_id = store.database_id().await.unwrap();

    // Dropped and created again at once, within one check interval: still noticed.
    let copied_head = cortex_server::recovery::read_copy(hub._dir.path())
        .unwrap()
        .unwrap()
        .audit_head
        .unwrap();
    db.recreate(|| async {}).await;
    let back = within(std::time::Duration::from_secs(10), || {
        let store = store.clone();
        async move { store.count_users().await.is_ok_and(|n| n == 1) }
    })
    .await;
    let back = back.expect("the replaced database gets the control state back");
    eprintln!("instant replacement: admins back after {back:?}");
    assert!(
        back < std::time::Duration::from_secs(5),
        "restored within 5 s of the replacement: {back:?}"
    );
    assert_ne!(
        store.database_id().await.unwrap(),
        first_id,
        "a new database"
    );
    let ready = answers_within(&hub, "/readyz", StatusCode::OK, 5).await;
    assert!(ready.is_some(), "/readyz is 200 again");
    everything_is_back(&hub, &admin, &token, rules).await;
    // The new chain starts with the recover entry, linked to the head of the lost one.
    let first = store.audit_chain(0, 1).await.unwrap().remove(0);
    assert_eq!(first.record.action, cortex_core::audit::RECOVER_ACTION);
    assert!(
        first.seq > copied_head.0,
        "{} after {}",
        first.seq,
        copied_head.0
    );
    let named = &first.record.before["auditHead"];
    assert_eq!(first.prev_hash, named["hash"].as_str().unwrap());
    assert_eq!(first.seq, named["seq"].as_i64().unwrap() + 1);
    assert!(
        named["seq"].as_i64().unwrap() >= copied_head.0,
        "the copy it restored from is at least as new as the one read before"
    );
    // The neuron's row came back: its channel goes on, and a push reaches it.
    let res = admin
        .post(hub.url("/api/federation/push-config"))
        .json(&serde_json::json!({"scope": "global", "kind": "config", "body": r#"{"after":"restore"}"#}))
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::OK).await;
    let snapshot = neuron.watch_snapshot();
    let pushed = within(std::time::Duration::from_secs(10), || {
        let got = snapshot
            .borrow()
            .effective(cortex_core::federation::BundleKind::Config)
            .is_some_and(|b| b.body["after"] == "restore");
        async move { got }
    })
    .await;
    assert!(
        pushed.is_some(),
        "a push after the restore reaches the neuron"
    );

    // Dropped, gone for a while, then created again: refused at once while gone, then back.
    copy_holds(&hub, "bundles", r#"{"after":"restore"}"#).await;
    db.recreate(|| async {
        let degraded = answers_within(&hub, "/readyz", StatusCode::SERVICE_UNAVAILABLE, 5).await;
        assert!(degraded.is_some(), "/readyz notices the database is gone");
        let started = std::time::Instant::now();
        let res = admin.get(hub.url("/api/users")).send().await.unwrap();
        expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
        assert!(
            started.elapsed() < std::time::Duration::from_millis(500),
            "refused at once, not after a pool timeout: {:?}",
            started.elapsed()
        );
        assert_eq!(
            c.get(hub.url("/shop")).send().await.unwrap().status(),
            StatusCode::OK,
            "pages keep serving"
        );
    })
    .await;
    let back = answers_within(&hub, "/readyz", StatusCode::OK, 10)
        .await
        .expect("healed");
    eprintln!("replacement after a gap: ready {back:?} after the database was created");
    everything_is_back(&hub, &admin, &token, rules).await;
    let bundles = store
        .bundles_since(&[(cortex_core::federation::Scope::Global, 0)])
        .await
        .unwrap();
    assert!(
        bundles.iter().any(|b| b.body["after"] == "restore"),
        "the latest bundle of the scope is back"
    );
    neuron.stop();
    hub.app.stop();
    db.drop_db().await;
}

#[tokio::test]
async fn postgres_killed_under_an_event_stream_loses_nothing_refuses_at_once_and_heals_fast() {
    let db = PgDb::create().await;
    let url = reqwest::Url::parse(&db.url).unwrap();
    let target = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(target.clone()).await;
    let through = db.url.replacen(&target, &proxy.addr.to_string(), 1);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.database_url = Some(SecretString::from(through));
    cfg.db_check_interval = std::time::Duration::from_millis(200);
    cfg.demo_shop = true;
    let hub = start_with(cfg, dir).await;
    let admin = hub.setup_admin().await;
    open_policy(&hub, &admin).await;
    let key = cortex_sdk::NeuronKey::generate();
    let client = cortex_sdk::HubClient::new(&hub.app.url(), None).unwrap();
    let token = client
        .register(&registration("api-1", &key), &key)
        .await
        .unwrap()
        .token
        .unwrap();
    let c = plain();
    let shop = answers_within(&hub, "/shop", StatusCode::OK, 10).await;
    assert!(shop.is_some(), "the storefront serves");

    // A stream of batches, each retried until acknowledged, as the SDK does.
    const BATCHES: usize = 200;
    const EVENTS: usize = 10;
    let stream = stream_events(
        hub.url("/api/federation/stream-analytics"),
        token.clone(),
        BATCHES,
        EVENTS,
    );

    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    proxy.kill();
    let noticed = answers_within(&hub, "/readyz", StatusCode::SERVICE_UNAVAILABLE, 5).await;
    eprintln!("outage noticed after {noticed:?}");
    assert!(noticed.is_some(), "/readyz notices the outage");
    // Writes are refused clearly and at once; pages keep serving.
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let res = admin
            .post(hub.url("/api/tokens/create"))
            .json(&serde_json::json!({"name": "during", "role": "viewer"}))
            .send()
            .await
            .unwrap();
        let msg = expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
        assert!(msg.contains("database"), "{msg}");
        assert!(
            started.elapsed() < std::time::Duration::from_millis(500),
            "refused at once: {:?}",
            started.elapsed()
        );
    }
    // Without credentials the request reaches the store: the gate refuses it at once.
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let res = c
            .post(hub.url("/api/auth/login"))
            .json(&serde_json::json!({"username": ADMIN, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
        assert!(
            started.elapsed() < std::time::Duration::from_millis(500),
            "the gate refuses at once: {:?}",
            started.elapsed()
        );
    }
    assert_eq!(
        c.get(hub.url("/shop")).send().await.unwrap().status(),
        StatusCode::OK,
        "pages keep serving from memory"
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    proxy.revive();
    let healed = answers_within(&hub, "/readyz", StatusCode::OK, 10)
        .await
        .expect("healed");
    eprintln!("healed {healed:?} after the database came back");
    assert!(
        healed < std::time::Duration::from_secs(3),
        "back within a second or two of the database: {healed:?}"
    );
    let (acked, refused) = stream.await.unwrap();
    eprintln!("acknowledged {acked} events; {refused} posts refused during the outage");
    assert_eq!(acked, (BATCHES * EVENTS) as u64);
    writer_drained(&hub.app.services.store, acked).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (stored, batches): (i64, i64) = {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_as(
            "SELECT count(*), count(DISTINCT batch_id) FROM events WHERE neuron_id = 'api-1'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap()
    };
    assert_eq!(
        (stored as u64, batches as usize),
        (acked, BATCHES),
        "acknowledged == stored, no duplicates"
    );
    // Admin writes work again.
    let res = admin
        .post(hub.url("/api/tokens/create"))
        .json(&serde_json::json!({"name": "after", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::OK).await;
    // The outage is an alert on the dashboard, once the database takes it, with how long it
    // lasted and what was refused.
    let mut alert = serde_json::Value::Null;
    for _ in 0..50 {
        let list: serde_json::Value = admin
            .get(hub.url("/api/alerts"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(a) = list
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == "database")
        {
            alert = a.clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let text = alert["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("The database was unreachable for") && text.contains("refused"),
        "{alert}"
    );
    let seconds: f64 = text
        .trim_start_matches("The database was unreachable for ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    assert!(
        seconds >= 1.0,
        "it lasted at least the two seconds the proxy was down: {text}"
    );
    hub.app.stop();
    db.drop_db().await;
}

#[tokio::test]
async fn a_new_empty_database_under_a_known_data_dir_gets_the_control_state_back() {
    use cortex_server::recovery::{Recovery, Settled};
    let hub = start().await;
    let admin = hub.setup_admin().await;
    hub.token(&admin, "ops", cortex_core::Role::Operator).await;
    open_policy(&hub, &admin).await;
    copy_holds(&hub, "api_tokens", "ops").await;
    copy_holds(&hub, "settings", "federation.join_policy").await;
    let old = hub.app.services.store.clone();

    // A new, empty database under the same data dir (the file was deleted, or the hub was
    // pointed at a new server): what the start-up check does.
    let mut cfg = test_config(hub._dir.path());
    cfg.database_url = Some(SecretString::from(format!(
        "sqlite://{}",
        hub._dir.path().join("new.db").display()
    )));
    let key = hub.app.services.audit_key.clone();
    let store = cortex_server::store::open(&cfg, Some(key.clone())).unwrap();
    store.migrate().await.unwrap();
    let recovery = Recovery::new(store.clone(), hub._dir.path());
    let settled = recovery.settle().await.unwrap();
    assert!(matches!(settled, Settled::Restored { .. }), "{settled:?}");
    let was = old.user_by_username(ADMIN).await.unwrap().unwrap();
    let now = store.user_by_username(ADMIN).await.unwrap().unwrap();
    assert_eq!(
        now.password_hash, was.password_hash,
        "the admin with the password hash"
    );
    assert_eq!(
        store.list_tokens().await.unwrap(),
        old.list_tokens().await.unwrap()
    );
    assert_eq!(
        store.setting("federation.join_policy").await.unwrap(),
        old.setting("federation.join_policy").await.unwrap()
    );
    let report = cortex_server::audit::verify(&store, Some(&key), None)
        .await
        .unwrap();
    assert_eq!(report.broken, None);
    let head = old
        .audit_chain(0, u32::MAX)
        .await
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    let first = store.audit_chain(0, 1).await.unwrap();
    assert_eq!(first[0].record.action, cortex_core::audit::RECOVER_ACTION);
    assert!(first[0].seq > head.seq - 5 && first[0].prev_hash.starts_with("k1:"));
    // Settled again: the same database, nothing restored twice.
    assert_eq!(recovery.settle().await.unwrap(), Settled::Same);

    // A database of its own (admins, no copy of ours) is served as it is, never overwritten.
    let mut cfg = test_config(hub._dir.path());
    cfg.database_url = Some(SecretString::from(format!(
        "sqlite://{}",
        hub._dir.path().join("other.db").display()
    )));
    let other = cortex_server::store::open(&cfg, Some(key)).unwrap();
    other.migrate().await.unwrap();
    other
        .create_user(
            cortex_server::store::UserForCreate {
                id: cortex_core::user::UserId(uuid::Uuid::new_v4()),
                username: "someone-else".into(),
                password_hash: "x".into(),
                role: cortex_core::Role::Admin,
                created_at: chrono::Utc::now(),
            },
            cortex_server::store::CreateUserRule::Any,
            cortex_core::audit::AuditRecord::new("test", "user.create", String::new()),
        )
        .await
        .unwrap();
    let copy_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        hub._dir.path().join(cortex_server::recovery::COPY_FILE),
        copy_dir.path().join(cortex_server::recovery::COPY_FILE),
    )
    .unwrap();
    let settled = Recovery::new(other.clone(), copy_dir.path())
        .settle()
        .await
        .unwrap();
    assert!(matches!(settled, Settled::Adopted { .. }), "{settled:?}");
    assert_eq!(other.count_users().await.unwrap(), 1);
    assert!(other.user_by_username(ADMIN).await.unwrap().is_none());
    hub.app.stop();
}

#[tokio::test]
async fn a_neuron_whose_row_vanished_registers_again_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.heartbeat_interval = std::time::Duration::from_secs(1);
    let hub = start_with(cfg, dir).await;
    let admin = hub.setup_admin().await;
    open_policy(&hub, &admin).await;
    let cache = tempfile::tempdir().unwrap();
    let neuron = start_neuron(&hub.app.url(), "shop-1", cache.path());
    let conn = neuron.watch_connection();
    let online = || {
        let online = *conn.borrow() == cortex_sdk::runner::Connection::Online;
        async move { online }
    };
    assert!(within(std::time::Duration::from_secs(10), online)
        .await
        .is_some());
    let store = hub.app.services.store.clone();
    // The row goes behind the hub's back (as with a database that came back without it).
    store
        .delete_neuron(
            "shop-1",
            cortex_core::audit::AuditRecord::new("test", "neuron.delete", "neuron:shop-1"),
        )
        .await
        .unwrap();
    // A bundle pushed while it is gone from the fleet.
    store
        .push_bundle(
            &cortex_core::federation::Scope::Global,
            cortex_core::federation::BundleKind::Config,
            &serde_json::json!({"missed": true}),
            "user:test",
            chrono::Utc::now(),
            &Default::default(),
            &Default::default(),
            cortex_core::audit::AuditRecord::new("test", "bundle.push", "scope:global"),
        )
        .await
        .unwrap();
    // Its next heartbeat learns it is unknown: it registers again and takes what it missed.
    let back = within(std::time::Duration::from_secs(10), || {
        let store = store.clone();
        async move { store.neuron("shop-1").await.is_ok_and(|n| n.is_some()) }
    })
    .await;
    assert!(back.is_some(), "the neuron registered again");
    let snapshot = neuron.watch_snapshot();
    let caught_up = within(std::time::Duration::from_secs(10), || {
        let got = snapshot
            .borrow()
            .effective(cortex_core::federation::BundleKind::Config)
            .is_some_and(|b| b.body["missed"] == true);
        async move { got }
    })
    .await;
    assert!(caught_up.is_some(), "it took the bundle it missed");
    assert!(within(std::time::Duration::from_secs(10), online)
        .await
        .is_some());
    neuron.stop();
    hub.app.stop();
}

/// A hub run as a real process on a data dir, killed with SIGKILL and started again.
struct HubProcess {
    dir: std::path::PathBuf,
    port: u16,
    child: Option<std::process::Child>,
}

impl HubProcess {
    fn start(dir: &std::path::Path) -> HubProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut hub = HubProcess {
            dir: dir.to_path_buf(),
            port,
            child: None,
        };
        hub.spawn();
        hub
    }

    fn spawn(&mut self) {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_cortex"))
            .arg("serve")
            .current_dir(&self.dir)
            .env_remove("DATABASE_URL")
            .env("CORTEX_DATA_DIR", &self.dir)
            .env("CORTEX_ADDR", format!("127.0.0.1:{}", self.port))
            .env("CORTEX_LOG", "warn")
            .env("CORTEX_LOG_FORMAT", "json")
            .env("CORTEX_DEMO_SHOP", "false")
            .env("CORTEX_HEARTBEAT_INTERVAL", "1s")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// SIGKILL: no shutdown, no flush.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn ready(&self) {
        let c = plain();
        let ok = within(std::time::Duration::from_secs(30), || {
            let req = c.get(self.url("/readyz")).send();
            async move { req.await.is_ok_and(|r| r.status() == StatusCode::OK) }
        })
        .await;
        assert!(ok.is_some(), "the hub process becomes ready");
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn a_hub_killed_mid_push_and_mid_stream_loses_nothing_and_every_neuron_ends_on_the_latest_push(
) {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = HubProcess::start(dir.path());
    hub.ready().await;
    let link_file = dir.path().join("setup-link.txt");
    let written = within(std::time::Duration::from_secs(10), || {
        let there = link_file.exists();
        async move { there }
    })
    .await;
    assert!(written.is_some(), "the setup link is written");
    let link = std::fs::read_to_string(&link_file).unwrap();
    let token = link.trim().rsplit("token=").next().unwrap().to_string();
    let base = hub.url("");
    let admin = browser_for(&base);
    let res = admin
        .post(hub.url("/api/auth/setup"))
        .json(&serde_json::json!({"token": token, "username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = admin
        .post(hub.url("/api/federation/join-policy"))
        .json(&serde_json::json!({"mode": "open"}))
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::OK).await;
    let res = admin
        .post(hub.url("/api/tokens/create"))
        .json(&serde_json::json!({"name": "pusher", "role": "editor"}))
        .send()
        .await
        .unwrap();
    let pusher = json_of(res, StatusCode::OK).await["secret"]
        .as_str()
        .unwrap()
        .to_string();

    // Three neurons on the SDK, online.
    let caches: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let neurons: Vec<_> = caches
        .iter()
        .enumerate()
        .map(|(i, cache)| start_neuron(&base, &format!("shop-{i}"), cache.path()))
        .collect();
    for n in &neurons {
        let conn = n.watch_connection();
        let online = within(std::time::Duration::from_secs(10), || {
            let online = *conn.borrow() == cortex_sdk::runner::Connection::Online;
            async move { online }
        })
        .await;
        assert!(online.is_some(), "neurons come online");
    }

    // A stream of event batches (each retried until acknowledged) and a stream of pushes.
    let key = cortex_sdk::NeuronKey::generate();
    let client = cortex_sdk::HubClient::new(&base, None).unwrap();
    let stream_token = client
        .register(&registration("stream-1", &key), &key)
        .await
        .unwrap()
        .token
        .unwrap();
    const BATCHES: usize = 150;
    let c = plain();
    let stream = stream_events(
        hub.url("/api/federation/stream-analytics"),
        stream_token,
        BATCHES,
        10,
    );
    let pushes = {
        let (c, url) = (c.clone(), hub.url("/api/federation/push-config"));
        tokio::spawn(async move {
            let mut done = 0;
            for n in 0..60 {
                let body = serde_json::json!({"scope": "global", "kind": "config", "body": format!(r#"{{"n":{n}}}"#)});
                // Not retried: a push the hub never answered may or may not have happened.
                if let Ok(res) = c.post(&url).bearer_auth(&pusher).json(&body).send().await {
                    if res.status() == StatusCode::OK {
                        done += 1;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            done
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    hub.kill();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    hub.spawn();
    hub.ready().await;
    let pushed = pushes.await.unwrap();
    let (acked, _) = stream.await.unwrap();
    eprintln!("{pushed} pushes answered, {acked} events acknowledged across the kill");
    assert_eq!(acked, (BATCHES * 10) as u64);

    // Every neuron ends on the latest revision of the scope.
    let latest = {
        let store = cortex_server::store::sqlite::SqliteStore::open_lazy(&format!(
            "sqlite://{}",
            dir.path().join("cortex.db").display()
        ))
        .unwrap();
        use cortex_server::store::events::EventStore as _;
        use cortex_server::store::neurons::NeuronStore as _;
        let bundles = store
            .bundles_since(&[(cortex_core::federation::Scope::Global, 0)])
            .await
            .unwrap();
        let latest = bundles.iter().map(|b| b.revision).max().unwrap();
        // Acknowledged == stored, each batch once.
        let stored = within(std::time::Duration::from_secs(15), || {
            let store = store.clone();
            async move { store.count_events().await.is_ok_and(|n| n >= acked) }
        })
        .await;
        assert!(
            stored.is_some(),
            "the restarted hub's writer stores every acknowledged event"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(
            store.count_events().await.unwrap(),
            acked,
            "acknowledged == stored"
        );
        latest
    };
    for n in &neurons {
        let snapshot = n.watch_snapshot();
        let on_latest = within(std::time::Duration::from_secs(15), || {
            let r = snapshot
                .borrow()
                .revisions()
                .get(&cortex_core::federation::Scope::Global)
                .copied();
            async move { r == Some(latest) }
        })
        .await;
        assert!(
            on_latest.is_some(),
            "every neuron ends on revision {latest}"
        );
    }
    for n in &neurons {
        n.stop();
    }
}

#[tokio::test]
async fn a_sqlite_file_deleted_under_the_running_hub_is_reopened_and_restored() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.db_check_interval = std::time::Duration::from_millis(200);
    let hub = start_with(cfg, dir).await;
    let admin = hub.setup_admin().await;
    let token = hub.token(&admin, "ops", cortex_core::Role::Viewer).await;
    copy_holds(&hub, "api_tokens", "ops").await;
    let store = hub.app.services.store.clone();
    let before = store.database_id().await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(hub._dir.path().join(format!("cortex.db{suffix}")));
    }
    // The health watch notices (nothing here touches the database but through the hub).
    let c = plain();
    let back = within(std::time::Duration::from_secs(10), || {
        let store = store.clone();
        let ready = c.get(hub.url("/readyz")).send();
        async move {
            ready.await.is_ok_and(|r| r.status() == StatusCode::OK)
                && store.count_users().await.is_ok_and(|n| n == 1)
        }
    })
    .await;
    let back = back.expect("the new file gets the control state back");
    eprintln!("SQLite file deleted: admins back after {back:?}");
    assert!(
        hub._dir.path().join("cortex.db").exists(),
        "a new file at the same path"
    );
    assert_ne!(store.database_id().await.unwrap(), before, "a new database");
    let res = c
        .get(hub.url("/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(res, StatusCode::OK).await["role"],
        "viewer",
        "the old token works"
    );
    signs_in_with_the_old_password(&hub).await;
    let report = cortex_server::audit::verify(
        &store,
        Some(&hub.app.services.audit_key),
        Some(hub._dir.path()),
    )
    .await
    .unwrap();
    assert_eq!(report.broken, None);
    hub.app.stop();
}
