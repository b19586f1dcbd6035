//! Automatic rollback at fleet scale, bounded and over loopback: a real hub (the `cortex`
//! binary, release when benched, SQLite) in its own process and `BENCH_NEURONS` SDK neurons
//! (runners, each with its push channel) in this one. Each round pushes a good revision and
//! then a bad one to `global`; every neuron then reports errors, the hub's rule fires, and
//! the previous content is pushed again by the hub. Measured per neuron: the time from the
//! rule firing (the `bundle.autoRollback` audit record's time) to the neuron holding the
//! rolled-back revision; the baseline, in the same run, is the time from a person's push
//! (the push API's answer) to each neuron holding that revision.
//!
//! Run with `cargo bench --bench rollback`. Knobs: `BENCH_NEURONS` (default 1000),
//! `BENCH_ROUNDS` (3).

use cortex_core::analytics::{Event, EventKind};
use cortex_core::federation::{BundleKind, Registration};
use cortex_sdk::runner::{self, Connection, NeuronHandle, RunnerConfig};
use cortex_sdk::NeuronKey;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

mod common;

use common::{admin_token, env_num, free_port};

/// When each neuron first held each revision of `global` (wall clock, ms since the epoch).
type Arrivals = Arc<Mutex<HashMap<u64, Vec<i64>>>>;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let neurons = env_num("BENCH_NEURONS", 1000) as usize;
    let rounds = env_num("BENCH_ROUNDS", 3) as usize;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let token = admin_token(common::cortex(dir.path()));
    let mut hub = common::cortex(dir.path())
        .arg("serve")
        .env("CORTEX_ADDR", format!("127.0.0.1:{port}"))
        .env("CORTEX_NEURON_EVENTS_PER_SECOND", "1000000")
        .stdout(Stdio::null())
        .spawn()
        .expect("cortex serve");
    let url = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let started = Instant::now();
        while !http
            .get(format!("{url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(started.elapsed() < Duration::from_secs(60), "the hub never got ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let post = |path: &str, body: Value| {
            http.post(format!("{url}{path}"))
                .bearer_auth(&token)
                .json(&body)
                .send()
        };
        assert!(post("/api/federation/join-policy", json!({"mode": "open"})).await.unwrap().status().is_success());
        // Every round's errors are far above the rule's minimum.
        let rule = json!({"enabled": "true", "min_errors": (neurons as u64).to_string(), "window_minutes": "10"});
        assert!(post("/api/federation/rollback-rules/set", rule).await.unwrap().status().is_success());

        // The fleet: each neuron notes when it first holds each revision of `global`.
        let cache = tempfile::tempdir().unwrap();
        let arrivals: Arrivals = Arc::default();
        let mut fleet: Vec<NeuronHandle> = Vec::with_capacity(neurons);
        let joining = Instant::now();
        for i in 0..neurons {
            let key = NeuronKey::generate();
            let reg = Registration {
                id: format!("bench-{i:05}").into(),
                slug: "bench".into(),
                kind: "api-service".into(),
                version: "1.0.0".into(),
                capabilities: vec!["config".into()],
                tags: vec![],
                region: None,
                endpoint: None,
                public_key: key.public_key(),
                fingerprints: Default::default(),
            };
            let handle = runner::start(
                RunnerConfig::new(&url, reg, key, &cache.path().join(i.to_string())),
                None,
            )
            .unwrap();
            let mut snapshot = handle.watch_snapshot();
            let arrivals = arrivals.clone();
            tokio::spawn(async move {
                let mut seen = 0;
                while snapshot.changed().await.is_ok() {
                    let revision = snapshot
                        .borrow()
                        .effective(BundleKind::Config)
                        .map_or(0, |b| b.revision);
                    if revision > seen {
                        seen = revision;
                        arrivals.lock().unwrap().entry(revision).or_default().push(now_ms());
                    }
                }
            });
            fleet.push(handle);
        }
        let online = || fleet.iter().filter(|h| *h.watch_connection().borrow() == Connection::Online).count();
        while online() < neurons {
            assert!(joining.elapsed() < Duration::from_secs(300), "only {} of {neurons} neurons came online", online());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!("{neurons} neurons online in {:.1} s", joining.elapsed().as_secs_f64());

        let held_by_all = |revision: u64| {
            let arrivals = arrivals.clone();
            async move {
                let started = Instant::now();
                loop {
                    let n = arrivals.lock().unwrap().get(&revision).map_or(0, Vec::len);
                    if n >= neurons {
                        return;
                    }
                    assert!(started.elapsed() < Duration::from_secs(60), "revision {revision}: only {n} of {neurons} neurons hold it");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        let push = |round: usize, good: bool| {
            let body = json!({"round": round, "good": good}).to_string();
            post("/api/federation/push-config", json!({"scope": "global", "kind": "config", "body": body}))
        };
        let (mut baseline, mut rollback) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // A person's push: the baseline.
            let answer: Value = push(round, true).await.unwrap().json().await.unwrap();
            let pushed_at = now_ms();
            let good = answer["revision"].as_u64().expect("a revision");
            held_by_all(good).await;
            baseline.extend(arrivals.lock().unwrap()[&good].iter().map(|t| t - pushed_at));
            // The bad push, then errors from every neuron.
            let answer: Value = push(round, false).await.unwrap().json().await.unwrap();
            let bad = answer["revision"].as_u64().expect("a revision");
            held_by_all(bad).await;
            for h in &fleet {
                for _ in 0..2 {
                    h.record(Event::new(EventKind::Error, chrono::Utc::now()));
                }
            }
            // The hub undoes it by itself: the rollback is the next revision.
            let started = Instant::now();
            let fired_at = loop {
                let audit: Value = http
                    .get(format!("{url}/api/audit?action=bundle.autoRollback"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let entries = audit.as_array().cloned().unwrap_or_default();
                if entries.len() > round {
                    let at = entries[0]["at"].as_str().unwrap_or_default();
                    break chrono::DateTime::parse_from_rfc3339(at).unwrap().timestamp_millis();
                }
                assert!(started.elapsed() < Duration::from_secs(60), "round {round}: the push was not rolled back");
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            held_by_all(bad + 1).await;
            rollback.extend(arrivals.lock().unwrap()[&(bad + 1)].iter().map(|t| t - fired_at));
            println!("round {round}: revision {bad} rolled back as {}", bad + 1);
        }
        baseline.sort_unstable();
        rollback.sort_unstable();
        let line = |name: &str, v: &[i64]| {
            println!(
                "{name:<44} p50 {:>5} ms  p99 {:>5} ms  max {:>5} ms  ({} arrivals)",
                percentile(v, 0.5),
                percentile(v, 0.99),
                v.last().copied().unwrap_or(0),
                v.len()
            )
        };
        println!("--- automatic rollback at {neurons} neurons, {rounds} rounds");
        line("push (API answer) -> neuron holds it", &baseline);
        line("rule fires -> neuron holds the previous one", &rollback);
        println!(
            "rollback p99 / push p99: {:.2}",
            percentile(&rollback, 0.99) as f64 / percentile(&baseline, 0.99).max(1) as f64
        );
        for h in &fleet {
            h.stop();
        }
    });
    let _ = hub.kill();
    let _ = hub.wait();
}
