//! A registration flood from one address, bounded and over loopback, against a real hub
//! (the `cortex` binary, release when benched) with its default limits and the approval
//! policy. An attacker sends validly signed registrations, each with a fresh key, as fast as
//! it can; meanwhile an operator's `/healthz` probe and an admin page are timed. Printed: the
//! p50/p99 of both without the flood (the baseline, same run) and during it, how the flood's
//! requests were answered, and how many neurons and audit entries it added.
//!
//! Run with `cargo bench --bench flood`. Knobs: `BENCH_SECONDS` (flood length, default 10),
//! `BENCH_CONNECTIONS` (flooding tasks, default 32), `BENCH_PREPARED` (distinct signed
//! registrations made before the flood and sent round robin, default 40,000).

use cortex_core::federation::Registration;
use cortex_sdk::NeuronKey;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::{admin_token, env_num, free_port};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Times GETs of `path` back to back until `stop`, one at a time (as a prober does).
async fn time_gets(url: String, token: String, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let res = http.get(&url).bearer_auth(&token).send().await;
        if let Ok(r) = res {
            assert!(r.status().is_success(), "{url}: {}", r.status());
            let _ = r.bytes().await;
            out.push(t.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    out.sort();
    out
}

/// p50/p99 of `/healthz` and an admin page while `during` runs.
async fn measure<F: std::future::Future<Output = ()>>(
    base: &str,
    token: &str,
    during: F,
) -> [(Duration, Duration); 2] {
    let stop = Arc::new(AtomicBool::new(false));
    let probe = tokio::spawn(time_gets(
        format!("{base}/healthz"),
        token.into(),
        stop.clone(),
    ));
    let page = tokio::spawn(time_gets(
        format!("{base}/admin/federation"),
        token.into(),
        stop.clone(),
    ));
    during.await;
    stop.store(true, Ordering::Relaxed);
    let (probe, page) = (probe.await.unwrap(), page.await.unwrap());
    [probe, page].map(|v| (percentile(&v, 0.5), percentile(&v, 0.99)))
}

async fn count(base: &str, token: &str) -> (u64, i64) {
    let http = reqwest::Client::new();
    let fleet: serde_json::Value = http
        .get(format!("{base}/api/federation/health?limit=1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status: serde_json::Value = http
        .get(format!("{base}/api/status"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        fleet["total"].as_u64().unwrap_or(0),
        status["audit_chain"]["Ok"].as_i64().unwrap_or(-1),
    )
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let token = admin_token(common::cortex(dir.path()));
    let mut hub = common::cortex(dir.path())
        .arg("serve")
        .env("CORTEX_ADDR", format!("127.0.0.1:{port}"))
        // The default limits, not the benches' raised one; no demo shop seeding meanwhile
        // (its audit entries would count as the flood's).
        .env_remove("CORTEX_REGISTRATIONS_PER_MINUTE")
        .env("CORTEX_DEMO_SHOP", "false")
        .stdout(Stdio::null())
        .spawn()
        .expect("cortex serve");
    let base = format!("http://127.0.0.1:{port}");
    let seconds = env_num("BENCH_SECONDS", 10);
    let tasks = env_num("BENCH_CONNECTIONS", 32) as usize;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let hub_id = cortex_sdk::HubClient::new(&base, None)
            .unwrap()
            .hub_id()
            .await
            .unwrap();
        let before = count(&base, &token).await;
        let quiet = measure(&base, &token, tokio::time::sleep(Duration::from_secs(3))).await;

        // Every request is a valid registration with a fresh key, signed for this hub. They
        // are made before the flood, so the driver spends its (shared) CPU on sending.
        let prepared: Vec<(Vec<(&'static str, String)>, Vec<u8>)> = (0..env_num("BENCH_PREPARED", 40_000))
            .map(|i| {
                let key = NeuronKey::generate();
                let id = format!("flood-{i}");
                let body = serde_json::to_vec(&Registration {
                    id: id.clone().into(),
                    slug: "flood".into(),
                    kind: "api-service".into(),
                    version: "1".into(),
                    capabilities: vec![],
                    tags: vec![],
                    region: None,
                    endpoint: None,
                    public_key: key.public_key(),
                    fingerprints: Default::default(),
                })
                .unwrap();
                (key.sign(&id, &hub_id, "POST", "/api/federation/register", &body), body)
            })
            .collect();
        let prepared = Arc::new(prepared);
        let answers: Arc<Mutex<BTreeMap<u16, u64>>> = Arc::default();
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let flood = async {
            let mut handles = Vec::new();
            for t in 0..tasks {
                let (base, prepared, answers) = (base.clone(), prepared.clone(), answers.clone());
                handles.push(tokio::spawn(async move {
                    let http = reqwest::Client::new();
                    let mut i = t;
                    while Instant::now() < deadline {
                        let (headers, body) = &prepared[i % prepared.len()];
                        i += tasks;
                        let mut req = http
                            .post(format!("{base}/api/federation/register"))
                            .header("content-type", "application/json");
                        for (k, v) in headers {
                            req = req.header(*k, v);
                        }
                        if let Ok(res) = req.body(body.clone()).send().await {
                            *answers.lock().unwrap().entry(res.status().as_u16()).or_default() += 1;
                        }
                    }
                }));
            }
            for h in handles {
                let _ = h.await;
            }
        };
        let flooded = measure(&base, &token, flood).await;
        let after = count(&base, &token).await;
        let sent: u64 = answers.lock().unwrap().values().sum();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!("registration flood from one address, {seconds} s, {tasks} connections:");
        println!("  flood requests sent: {sent} ({:.0}/s), answered: {:?}", sent as f64 / seconds as f64, answers.lock().unwrap());
        for (name, (q, f)) in ["/healthz", "/admin/federation"].iter().zip(quiet.iter().zip(flooded.iter())) {
            println!(
                "  {name:<18} p50 {:.2} ms -> {:.2} ms, p99 {:.2} ms -> {:.2} ms (quiet -> flooded; p99 ratio {:.2}x)",
                ms(q.0), ms(f.0), ms(q.1), ms(f.1), ms(f.1) / ms(q.1).max(0.001)
            );
        }
        println!(
            "  added by the flood: {} neurons, {} audit entries",
            after.0 - before.0,
            after.1 - before.1
        );
    });
    let _ = hub.kill();
    let _ = hub.wait();
}
