//! Layout mutation load run, bounded and over loopback: a real hub (the `cortex` binary,
//! release when benched, SQLite) in its own process with the demo storefront plus generated
//! rules (50 on the home page), and a load driver in this one. Phases of `BENCH_SECONDS`
//! each at `BENCH_CONNECTIONS` keep-alive connections, side by side in the same run:
//!
//! 1. `GET /healthz`: the baseline.
//! 2. `POST /api/layout-mutation/apply` with a neuron token, a new visitor every request.
//! 3. The same with an API token (verified from memory, last use written once a minute).
//! 4. The request log's cost: `apply` against a second, identical hub logging at the default
//!    level to a file, alternating with the first (which logs errors only), two rounds.
//! 5. `GET /shop`: the home page rendered on the server with its mutations.
//! 6. `GET /shop/plain`: the same page with no rule (the SSR baseline).
//! 7. Every storefront page served is a page view in the database (counted there once the
//!    hub has written them), none shed.
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
//! Run with `cargo bench --bench layouts`. Knobs: `BENCH_SECONDS` (3), `BENCH_CONNECTIONS` (64),
//! `BENCH_SOAK_SECONDS` (0: none; 600 for the ten-minute soak, `apply` in 30 s rounds with the
//! hub's resident memory after each, to see whether it levels off).

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

/// A hub of the run: its process, address, data dir and log file.
struct Hub {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
    admin: String,
    log: std::path::PathBuf,
}

impl Hub {
    /// Starts `cortex serve` on a new data dir with the demo storefront; `log_level` is
    /// `CORTEX_LOG`, or `None` for the hub's default. What it logs goes to a file, as in
    /// production.
    fn start(log_level: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let admin = admin_token(cortex(dir.path()));
        let port = free_port();
        let log = dir.path().join("hub.log");
        let mut command = cortex(dir.path());
        match log_level {
            Some(level) => command.env("CORTEX_LOG", level),
            None => command.env_remove("CORTEX_LOG").env_remove("RUST_LOG"),
        };
        let child = command
            .arg("serve")
            .env("CORTEX_ADDR", format!("127.0.0.1:{port}"))
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("cortex serve");
        Self {
            child,
            port,
            dir,
            admin,
            log,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn addr(&self) -> std::net::SocketAddr {
        format!("127.0.0.1:{}", self.port).parse().unwrap()
    }

    fn log_bytes(&self) -> u64 {
        std::fs::metadata(&self.log).map_or(0, |m| m.len())
    }
}

/// Waits for the demo storefront, adds the generated rules and a page with none, joins a
/// neuron; returns its token (what neurons call apply with; checking it needs no database).
async fn prepare(hub: &Hub) -> String {
    let (url, token) = (hub.url(), &hub.admin);
    let http = reqwest::Client::new();
    let mut set = Value::Null;
    for _ in 0..300 {
        if let Ok(r) = http
            .post(format!("{url}/api/layout-mutation/sync"))
            .bearer_auth(token)
            .json(&json!({"revision": 0}))
            .send()
            .await
        {
            if let Ok(v) = r.json::<Value>().await {
                if v["revision"].as_u64().unwrap_or(0) > 0
                    && v["rules"].as_array().is_some_and(|r| {
                        r.len() == cortex::demo::storefront::rule_set().rules.len()
                    })
                {
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
        .bearer_auth(token)
        .json(&json!({"import": {"revision": 0, "layouts": [plain], "rules": generated_rules()}}))
        .send()
        .await
        .unwrap();
    assert!(
        import.status().is_success(),
        "{}",
        import.text().await.unwrap()
    );
    let policy = http
        .post(format!("{url}/api/federation/join-policy"))
        .bearer_auth(token)
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
                fingerprints: Default::default(),
            },
            &key,
        )
        .await
        .unwrap();
    // Let the loader pick up the import before measuring.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    joined.token.unwrap()
}

/// `apply` for a new visitor every request (half on phones, spread over personas and
/// tiers), with `credential` as the bearer token.
fn apply_request(
    port: u16,
    credential: &str,
) -> impl Fn(u64) -> Request<Full<Bytes>> + Send + Sync + 'static {
    let bearer = HeaderValue::from_str(&format!("Bearer {credential}")).unwrap();
    let apply = Uri::from_static("/api/layout-mutation/apply");
    let json_type = HeaderValue::from_static("application/json");
    let host = HeaderValue::from_str(&format!("127.0.0.1:{port}")).unwrap();
    move |n| {
        let ua = if n % 2 == 0 {
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148"
        } else {
            "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0"
        };
        let body = format!(
            r#"{{"pageSlug":"home","context":{{"anonymousId":"visitor-{n}","userAgent":"{ua}","locale":"de-DE","persona":"persona-{}","journeyStage":"browsing","custom":{{"tier":{}}}}}}}"#,
            n % 9,
            n % 6
        );
        Request::post(apply.clone())
            .header(HOST, host.clone())
            .header(AUTHORIZATION, bearer.clone())
            .header(CONTENT_TYPE, json_type.clone())
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    }
}

fn get(
    port: u16,
    path: &'static str,
) -> impl Fn(u64) -> Request<Full<Bytes>> + Send + Sync + 'static {
    let (uri, host) = (
        Uri::from_static(path),
        HeaderValue::from_str(&format!("127.0.0.1:{port}")).unwrap(),
    );
    move |_| {
        Request::get(uri.clone())
            .header(HOST, host.clone())
            .body(Full::new(Bytes::new()))
            .unwrap()
    }
}

/// The storefront's own page views in the hub's database, once the hub has spooled and
/// written them: waits until the count stops moving (at most 30 s).
async fn stored_page_views(hub: &Hub) -> (u64, u64, u64) {
    let http = reqwest::Client::new();
    let status = || async {
        http.get(format!("{}/api/status", hub.url()))
            .bearer_auth(&hub.admin)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let url = format!(
        "sqlite://{}?mode=ro",
        hub.dir.path().join("cortex.db").display()
    );
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let (mut last, mut stable) = (u64::MAX, 0);
    for _ in 0..150 {
        let views: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE kind = 'pageView' AND neuron_id = 'storefront'",
        )
        .fetch_one(&mut db)
        .await
        .unwrap();
        let s = status().await;
        let waiting = s["spool_backlog_bytes"].as_u64().unwrap_or(0);
        if views as u64 == last && waiting == 0 {
            stable += 1;
            if stable >= 3 {
                return (
                    last,
                    s["storefront_events_recorded"].as_u64().unwrap_or(0),
                    s["storefront_events_shed"].as_u64().unwrap_or(0),
                );
            }
        } else {
            stable = 0;
        }
        last = views as u64;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the storefront's views did not settle in the database");
}

fn main() {
    let secs = env_num("BENCH_SECONDS", 3);
    let conns = env_num("BENCH_CONNECTIONS", 64);
    // The hub measured throughout logs errors only; a second, identical hub logs at the
    // default level (one line per request, sampled on hot routes) to a file: the cost of
    // the request log, side by side.
    let mut quiet = Hub::start(Some("error"));
    let mut logging = Hub::start(None);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let run = rt.block_on(async {
        let neuron = prepare(&quiet).await;
        let logging_neuron = prepare(&logging).await;
        let (port, addr, pid) = (quiet.port, quiet.addr(), quiet.child.id());
        let mut phases = Vec::new();
        phases.push(
            load(
                "GET /healthz (baseline)",
                addr,
                pid,
                conns,
                secs,
                get(port, "/healthz"),
            )
            .await,
        );
        phases.push(
            load(
                "apply, neuron token",
                addr,
                pid,
                conns,
                secs,
                apply_request(port, &neuron),
            )
            .await,
        );
        phases.push(
            load(
                "apply, API token",
                addr,
                pid,
                conns,
                secs,
                apply_request(port, &quiet.admin),
            )
            .await,
        );
        // The request log's cost: the same apply against the logging hub, two rounds each,
        // alternating, so drift of the machine's load falls on both.
        let mut log_rounds = Vec::new();
        let log_bytes0 = logging.log_bytes();
        for _ in 0..2 {
            log_rounds.push(
                load(
                    "apply, CORTEX_LOG=error",
                    addr,
                    pid,
                    conns,
                    secs,
                    apply_request(port, &neuron),
                )
                .await,
            );
            log_rounds.push(
                load(
                    "apply, default log level",
                    logging.addr(),
                    logging.child.id(),
                    conns,
                    secs,
                    apply_request(logging.port, &logging_neuron),
                )
                .await,
            );
        }
        let logged: u64 = log_rounds.iter().skip(1).step_by(2).map(|p| p.count).sum();
        let log_per_request = (logging.log_bytes() - log_bytes0) as f64 / logged.max(1) as f64;
        // How long apply took inside the hub (its own request histogram, from the first
        // middleware to the answer), to tell the hub's tail from the load driver's.
        let http = reqwest::Client::new();
        let metrics = http
            .get(format!("{}/metrics", quiet.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let inside = inside_shares(&metrics, "/api/layout-mutation/apply");
        phases.push(
            load(
                "GET /shop (SSR, 50 rules)",
                addr,
                pid,
                conns,
                secs,
                get(port, "/shop?persona=persona-3"),
            )
            .await,
        );
        phases.push(
            load(
                "GET /shop/plain (SSR, no rule)",
                addr,
                pid,
                conns,
                secs,
                get(port, "/shop/plain?persona=persona-3"),
            )
            .await,
        );
        let served = phases[3].count + phases[4].count;
        let stored = stored_page_views(&quiet).await;
        // The soak: apply for BENCH_SOAK_SECONDS in 30 s rounds, the hub's memory after each.
        let mut soak = Vec::new();
        let soak_secs = env_num("BENCH_SOAK_SECONDS", 0);
        if soak_secs > 0 {
            let rss = || cortex_sdk::swarm::live::rss_kib(pid).unwrap_or(0);
            soak.push((0.0, rss()));
            let started = std::time::Instant::now();
            while started.elapsed().as_secs() < soak_secs {
                let p = load("soak", addr, pid, conns, 30, apply_request(port, &neuron)).await;
                soak.push((p.per_second, rss()));
            }
        }
        (
            phases,
            log_rounds,
            log_per_request,
            inside,
            served,
            stored,
            soak,
        )
    });
    let (phases, log_rounds, log_per_request, inside, served, (views, recorded, shed), soak) = run;
    for hub in [&mut quiet, &mut logging] {
        let _ = hub.child.kill();
        let _ = hub.child.wait();
    }
    println!("== layout mutations: {secs} s per phase, {conns} keep-alive connections, loopback, one process for the hub");
    let base = phases[0].per_second;
    let show = |p: &common::drive::Phase| {
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
    };
    phases.iter().for_each(show);
    println!(
        "apply p99 is {:+.2} ms from /healthz p99",
        phases[1].p99_ms - phases[0].p99_ms
    );
    println!(
        "apply with an API token runs at {:.2} x apply with a neuron token (hub CPU {:.2} x)",
        phases[2].per_second / phases[1].per_second,
        phases[2].hub_cpu_us / phases[1].hub_cpu_us
    );
    println!(
        "SSR with mutations runs at {:.2} x the same page without",
        phases[3].per_second / phases[4].per_second
    );
    println!("-- the request log (two rounds, alternating):");
    log_rounds.iter().for_each(show);
    let rate = |odd: usize| {
        log_rounds
            .iter()
            .skip(odd)
            .step_by(2)
            .map(|p| p.per_second)
            .sum::<f64>()
    };
    println!(
        "apply at the default log level runs at {:.2} x CORTEX_LOG=error; {:.1} bytes of log per request",
        rate(1) / rate(0),
        log_per_request
    );
    println!(
        "storefront: {served} pages served, {views} page views in the database ({} missing); {recorded} events recorded, {shed} shed",
        served as i64 - views as i64
    );
    if !soak.is_empty() {
        println!(
            "soak (apply, 30 s rounds): hub RSS {}",
            soak.iter()
                .map(|(rate, kib)| format!(
                    "{:.1} MiB{}",
                    *kib as f64 / 1024.0,
                    if *rate > 0.0 {
                        format!(" ({rate:.0}/s)")
                    } else {
                        String::new()
                    }
                ))
                .collect::<Vec<_>>()
                .join(" → ")
        );
        let n = soak.len();
        if n >= 4 {
            let third = n / 3;
            let (early, late) = (soak[third].1 as f64, soak[n - 1].1 as f64);
            println!(
                "soak: the last two thirds grew {:.1} % ({:.1} → {:.1} MiB)",
                (late / early - 1.0) * 100.0,
                early / 1024.0,
                late / 1024.0
            );
        }
    }
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
