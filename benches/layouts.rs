//! Layout mutation load run, bounded and over loopback: a real hub (the `cortex` binary,
//! release when benched, SQLite) in its own process with the demo storefront plus generated
//! rules (50 on the home page), and a load driver in this one. Phases of `BENCH_SECONDS`
//! each at `BENCH_CONNECTIONS` keep-alive connections, side by side in the same run:
//!
//! 1. `GET /healthz`: the baseline.
//! 2. `POST /api/layout-mutation/apply` with a neuron token, a new visitor every request.
//! 3. `GET /shop`: the home page rendered on the server with its mutations.
//! 4. `GET /shop/plain`: the same page with no rule (the SSR baseline).
//!
//! After the `apply` phase it reads the hub's own request histogram from `/metrics`: the
//! share of `apply` calls that took over 1 to 10 ms inside the hub, to tell the hub's tail
//! from the waits the driver sees outside it.
//!
//! The driver is lean (`common::drive`: one hyper connection per task, as `wrk` drives), since
//! it shares the machine's cores with the hub; each phase also reports the CPU time the hub
//! and the driver spent per request, a figure the machine's other load moves far less than
//! throughput.
//!
//! Run with `cargo bench --bench layouts`. Knobs: `BENCH_SECONDS` (3), `BENCH_CONNECTIONS` (64).

use bytes::Bytes;
use cortex_core::federation::Registration;
use http_body_util::Full;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Request, Uri};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

use common::drive::load;
use common::{admin_token, env_num, free_port};

fn cortex(dir: &std::path::Path) -> Command {
    let mut c = common::cortex(dir);
    c.env("CORTEX_DEMO_SHOP", "true");
    c
}

/// 42 generated rules on the home page (with the demo's 8: 50), targeting like a real site:
/// personas, locales, devices, journey stages and a custom tier, most not matching a given
/// visitor.
fn generated_rules() -> Vec<Value> {
    let targets = [
        "hero",
        "offer",
        "products",
        "testimonials",
        "quiz",
        "footer",
    ];
    (0..42)
        .map(|i| {
            let target = targets[i % targets.len()];
            let conditions = match i % 4 {
                0 => json!({"persona": format!("persona-{}", i % 7), "device": "desktop"}),
                1 => json!({"language": {"$in": ["de", "fr", "es"]}, "journeyStage": "browsing"}),
                2 => json!({"tier": {"$gte": i % 5}, "device": {"$ne": "tablet"}}),
                _ => json!({"$or": [{"persona": "bargain"}, {"source": "email"}], "weekday": {"$lte": 5}}),
            };
            json!({
                "id": format!("bench-{i:02}"), "layoutId": "home", "pageSlug": "home", "moduleId": target,
                "layer": if i % 3 == 0 { "section" } else { "module" }, "priority": i,
                "mutationType": "props", "mutationPayload": {"target": target, "patch": {"benchNote": format!("rule {i}")}},
                "conditions": conditions,
                "createdBy": "bench", "timestamp": "2026-11-29T00:00:00Z", "isActive": true
            })
        })
        .collect()
}

fn main() {
    let secs = env_num("BENCH_SECONDS", 3);
    let conns = env_num("BENCH_CONNECTIONS", 64);
    let dir = tempfile::tempdir().unwrap();
    let token = admin_token(cortex(dir.path()));
    let port = free_port();
    let mut hub = cortex(dir.path())
        .arg("serve")
        .env("CORTEX_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .spawn()
        .expect("cortex serve");
    let url = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let phases = rt.block_on(async {
        let http = reqwest::Client::new();
        // Wait for the demo storefront, then add the generated rules and a page with none.
        let mut set = Value::Null;
        for _ in 0..300 {
            if let Ok(r) = http
                .post(format!("{url}/api/layout-mutation/sync"))
                .bearer_auth(&token)
                .json(&json!({"revision": 0}))
                .send()
                .await
            {
                if let Ok(v) = r.json::<Value>().await {
                    if v["revision"].as_u64().unwrap_or(0) > 0 && v["rules"].as_array().is_some_and(|r| r.len() == cortex_server::layouts::demo::rules().len()) {
                        set = v;
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!set.is_null(), "the demo storefront was not seeded");
        let mut plain = set["layouts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["pageSlug"] == "home")
            .unwrap()
            .clone();
        plain["pageSlug"] = json!("plain");
        let import = http
            .post(format!("{url}/api/layout-mutation/sync"))
            .bearer_auth(&token)
            .json(&json!({"import": {"revision": 0, "layouts": [plain], "rules": generated_rules()}}))
            .send()
            .await
            .unwrap();
        assert!(import.status().is_success(), "{}", import.text().await.unwrap());
        // A neuron token (what neurons call apply with; checking it needs no database).
        let policy = http
            .post(format!("{url}/api/federation/join-policy"))
            .bearer_auth(&token)
            .json(&json!({"mode": "open"}))
            .send()
            .await
            .unwrap();
        assert!(policy.status().is_success());
        let keys = tempfile::tempdir().unwrap();
        let key = cortex_sdk::NeuronKey::load_or_create(&keys.path().join("neuron.key")).unwrap();
        let joined = cortex_sdk::HubClient::new(&url, None)
            .unwrap()
            .register(
                &Registration {
                    id: "bench-web".into(),
                    slug: "web".into(),
                    kind: "api-service".into(),
                    version: "1.0.0".into(),
                    capabilities: vec![],
                    tags: vec![],
                    region: None,
                    endpoint: None,
                    public_key: key.public_key(),
                },
                &key,
            )
            .await
            .unwrap();
        let neuron = joined.token.unwrap();
        // Let the loader pick up the import before measuring.
        tokio::time::sleep(Duration::from_millis(1500)).await;

        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let host = HeaderValue::from_str(&format!("127.0.0.1:{port}")).unwrap();
        let get = move |path: &'static str| {
            let (uri, host) = (Uri::from_static(path), host.clone());
            move |_| {
                Request::get(uri.clone())
                    .header(HOST, host.clone())
                    .body(Full::new(Bytes::new()))
                    .unwrap()
            }
        };
        let pid = hub.id();
        let mut phases = Vec::new();
        phases.push(load("GET /healthz (baseline)", addr, pid, conns, secs, get("/healthz")).await);
        let bearer = HeaderValue::from_str(&format!("Bearer {neuron}")).unwrap();
        let apply = Uri::from_static("/api/layout-mutation/apply");
        let json_type = HeaderValue::from_static("application/json");
        let host2 = HeaderValue::from_str(&format!("127.0.0.1:{port}")).unwrap();
        phases.push(
            load("POST /api/layout-mutation/apply", addr, pid, conns, secs, move |n| {
                // A new visitor every request, half on phones, spread over personas and tiers.
                let ua = if n % 2 == 0 { "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148" } else { "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0" };
                let body = format!(
                    r#"{{"pageSlug":"home","context":{{"anonymousId":"visitor-{n}","userAgent":"{ua}","locale":"de-DE","persona":"persona-{}","journeyStage":"browsing","custom":{{"tier":{}}}}}}}"#,
                    n % 9,
                    n % 6
                );
                Request::post(apply.clone())
                    .header(HOST, host2.clone())
                    .header(AUTHORIZATION, bearer.clone())
                    .header(CONTENT_TYPE, json_type.clone())
                    .body(Full::new(Bytes::from(body)))
                    .unwrap()
            })
            .await,
        );
        // How long apply took inside the hub (its own request histogram, from the first
        // middleware to the answer), to tell the hub's tail from the load driver's.
        let metrics = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
        let inside = inside_shares(&metrics, "/api/layout-mutation/apply");
        phases.push(load("GET /shop (SSR, 50 rules)", addr, pid, conns, secs, get("/shop?persona=persona-3")).await);
        phases.push(load("GET /shop/plain (SSR, no rule)", addr, pid, conns, secs, get("/shop/plain?persona=persona-3")).await);
        (phases, inside)
    });
    let (phases, inside) = phases;
    let _ = hub.kill();
    let _ = hub.wait();
    println!("== layout mutations: {secs} s per phase, {conns} keep-alive connections, loopback, one process for the hub");
    let base = phases[0].per_second;
    for p in &phases {
        println!(
            "{:<34} {:>8.0} req/s ({:.2} x /healthz)  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}  CPU per request: hub {:>5.1} µs, driver {:>5.1} µs",
            p.name,
            p.per_second,
            p.per_second / base,
            p.p50_ms,
            p.p99_ms,
            p.errors,
            p.hub_cpu_us,
            p.driver_cpu_us
        );
    }
    println!(
        "SSR with mutations runs at {:.2} x the same page without",
        phases[2].per_second / phases[3].per_second
    );
    match inside {
        Some((count, shares)) => println!(
            "apply inside the hub (its histogram, {count:.0} answers): {}",
            shares
                .iter()
                .map(|(le, over)| format!("{:.2} % over {} ms", over * 100.0, le * 1000.0))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => println!("apply inside the hub: no histogram in /metrics"),
    }
}

/// From a Prometheus text page: how many successful requests `route` answered, and the
/// share of them that took longer than each bucket bound from 1 ms up.
fn inside_shares(page: &str, route: &str) -> Option<(f64, Vec<(f64, f64)>)> {
    const METRIC: &str = "cortex_http_request_duration_seconds";
    let ours = |l: &&str| l.contains(&format!("route=\"{route}\"")) && l.contains("status=\"200\"");
    let value = |l: &str| l.rsplit(' ').next()?.parse::<f64>().ok();
    let count = page
        .lines()
        .filter(|l| l.starts_with(&format!("{METRIC}_count{{")))
        .find(ours)
        .and_then(value)?;
    let shares = page
        .lines()
        .filter(|l| l.starts_with(&format!("{METRIC}_bucket{{")))
        .filter(ours)
        .filter_map(|l| {
            let le = l
                .split("le=\"")
                .nth(1)?
                .split('"')
                .next()?
                .parse::<f64>()
                .ok()?;
            Some((le, 1.0 - value(l)? / count))
        })
        .filter(|(le, _)| (0.001..=0.01).contains(le))
        .collect();
    Some((count, shares))
}
