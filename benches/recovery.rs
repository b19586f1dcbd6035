//! Self-healing, timed on a large installation: how long the hub takes to copy its control
//! state (what it does within a second of every audited change, in the background) and to
//! restore it into a replaced, empty database (what stands between noticing the replacement
//! and serving again; the aim is well under 5 s). The baseline, measured in the same run on
//! the same database server, is migrating a new empty database, which a replaced database
//! needs first anyway.
//!
//! Run with `cargo bench --bench recovery`. Postgres at `CORTEX_TEST_PG_URL` (default the
//! local server) and SQLite in a temp dir. Knobs: `BENCH_NEURONS` (default 10,000),
//! `BENCH_RULES` (500), `BENCH_USERS` (50), `BENCH_TOKENS` (200), `BENCH_ROUNDS` (3).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cortex_core::audit::{AuditRecord, RECOVER_ACTION};
use cortex_server::store::control::{ControlState, Restored, TableRows, CONTROL_TABLES};
use cortex_server::store::DynStore;
use serde_json::{json, Value};

mod common;

use common::env_num;

/// A synthetic control state of the given size, in the copy's own format.
fn synthetic(neurons: u64, rules: u64, users: u64, tokens: u64) -> ControlState {
    let now = chrono::Utc::now().timestamp_millis();
    let mut rows: std::collections::BTreeMap<&str, Vec<Vec<Value>>> = Default::default();
    for i in 0..users {
        rows.entry("users").or_default().push(vec![
            json!(uuid::Uuid::new_v4().to_string()),
            json!(format!("user-{i}")),
            json!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"),
            json!(if i == 0 { "admin" } else { "viewer" }),
            json!(now),
        ]);
    }
    for i in 0..tokens {
        rows.entry("api_tokens").or_default().push(vec![
            json!(uuid::Uuid::new_v4().to_string()),
            json!(format!("token-{i}")),
            json!("operator"),
            json!(format!("{:064x}", i)),
            json!("user:user-0"),
            json!(now),
            Value::Null,
            Value::Null,
            Value::Null,
        ]);
    }
    rows.entry("settings").or_default().push(vec![
        json!("federation.join_policy"),
        json!(r#"{"mode":"open"}"#),
        json!(now),
    ]);
    for i in 0..neurons {
        rows.entry("neurons").or_default().push(vec![
            json!(format!("n-{i}")),
            json!("shop"),
            json!("api-service"),
            json!("1.4.2"),
            json!(r#"["config","analytics"]"#),
            json!(format!(r#"["eu","pool-{}"]"#, i % 10)),
            json!("eu-west"),
            Value::Null,
            json!(format!("{:064x}", i)),
            json!("active"),
            json!(false),
            json!(now),
            json!(now),
            json!("ok"),
            json!(r#"[{"name":"db","state":"ok"}]"#),
            json!(r#"{"cpu":0.2}"#),
            json!(""),
        ]);
        rows.entry("bundle_acks").or_default().push(vec![
            json!(format!("n-{i}")),
            json!("global"),
            json!(3),
            json!(now),
        ]);
    }
    rows.entry("bundles").or_default().push(vec![
        json!("global"),
        json!(3),
        json!("config"),
        json!(r#"{"theme":"dark","limits":{"rps":100}}"#),
        json!("user:user-0"),
        json!(now),
        json!(""),
    ]);
    for p in 0..10 {
        rows.entry("layouts").or_default().push(vec![
            json!(format!("page-{p}")),
            json!(1),
            json!(r#"{"id":"page","type":"page","children":[{"id":"hero","type":"hero"}]}"#),
            json!(p + 1),
            json!("user:user-0"),
            json!(now),
        ]);
    }
    for r in 0..rules {
        rows.entry("layout_mutations").or_default().push(vec![
            json!(format!("rule-{r}")),
            json!(1),
            json!(format!("page-{}", r % 10)),
            json!("page"),
            json!("props"),
            json!(true),
            json!(false),
            json!(format!(r#"{{"id":"rule-{r}","conditions":{{"country":{{"$in":["DE","FR"]}}}},"mutationPayload":{{"target":"hero","patch":{{"title":"Hello {r}"}}}}}}"#)),
            json!(11 + r),
            json!("user:user-0"),
            json!(now),
        ]);
    }
    ControlState {
        database_id: "synthetic".into(),
        taken_at: now,
        audit_head: Some((1_000, "k1:head".into())),
        tables: CONTROL_TABLES
            .iter()
            .map(|t| TableRows {
                name: t.name.into(),
                columns: t.columns.iter().map(|(c, _)| c.to_string()).collect(),
                rows: rows.remove(t.name).unwrap_or_default(),
            })
            .collect(),
    }
}

/// A new database: its store and how to drop it.
struct Db {
    store: DynStore,
    drop: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

async fn new_db(postgres: bool) -> Db {
    let key = Some(cortex_core::audit::ChainKey::new(b"bench-key-".repeat(4)));
    if postgres {
        use sqlx::Connection;
        let base = std::env::var("CORTEX_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!("cortex_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
            .await
            .expect("Postgres for the bench");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap();
        let store = cortex_server::store::postgres::PgStore::open_lazy(&format!("{base}/{name}"))
            .unwrap()
            .with_audit_key(key);
        Db {
            store: Arc::new(store),
            drop: Some((base, name)),
            _dir: None,
        }
    } else {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("b.db").display());
        let store = cortex_server::store::sqlite::SqliteStore::open_lazy(&url)
            .unwrap()
            .with_audit_key(key);
        Db {
            store: Arc::new(store),
            drop: None,
            _dir: Some(dir),
        }
    }
}

impl Db {
    async fn done(self) {
        drop(self.store);
        if let Some((base, name)) = self.drop {
            use sqlx::Connection;
            if let Ok(mut admin) = sqlx::PgConnection::connect(&format!("{base}/postgres")).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await;
            }
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let neurons = env_num("BENCH_NEURONS", 10_000);
    let rules = env_num("BENCH_RULES", 500);
    let users = env_num("BENCH_USERS", 50);
    let tokens = env_num("BENCH_TOKENS", 200);
    let rounds = env_num("BENCH_ROUNDS", 3).max(1);
    let state = synthetic(neurons, rules, users, tokens);
    println!(
        "control state: {} rows ({neurons} neurons and as many acks, {rules} rules, {users} admins and viewers, {tokens} tokens); {rounds} rounds, medians",
        state.rows()
    );
    for postgres in [true, false] {
        let backend = if postgres { "postgres" } else { "sqlite" };
        let (mut migrate, mut restore, mut copy, mut bytes) = (vec![], vec![], vec![], 0);
        for round in 0..rounds {
            // Baseline: a new database migrated (a replaced one needs it first anyway).
            let db = new_db(postgres).await;
            let t = Instant::now();
            db.store.migrate().await.unwrap();
            migrate.push(t.elapsed());
            // The restore itself: one transaction.
            let t = Instant::now();
            let done = db
                .store
                .restore_control_state(
                    &state,
                    AuditRecord::new("hub", RECOVER_ACTION, "database:bench"),
                )
                .await
                .unwrap();
            restore.push(t.elapsed());
            assert!(matches!(done, Restored::Done { rows, .. } if rows as usize == state.rows()));
            // The copy the hub keeps: read every table, serialise, write atomically.
            let dir = tempfile::tempdir().unwrap();
            let t = Instant::now();
            let read = db.store.control_state().await.unwrap();
            let json = serde_json::to_vec(&read).unwrap();
            cortex_server::fsutil::write_private(&dir.path().join("control-state.json"), &json)
                .unwrap();
            copy.push(t.elapsed());
            bytes = json.len();
            // Every row is back (and the kinds the migration seeds).
            assert_eq!(
                read.rows() - read.table("neuron_kinds").len(),
                state.rows(),
                "round {round}: every row is back"
            );
            db.done().await;
        }
        let (m, r, c) = (median(migrate), median(restore), median(copy));
        println!(
            "{backend:>8}: restore {:8.1} ms ({:.1}x migrating an empty database, {:.1} ms) | copy {:8.1} ms for {:.1} MB (the keeper waits 10x that between copies)",
            ms(r),
            r.as_secs_f64() / m.as_secs_f64(),
            ms(m),
            ms(c),
            bytes as f64 / 1e6
        );
    }
}
