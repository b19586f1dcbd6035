//! Hub benchmarks, bounded in count and time, over loopback only.
//!
//! 1. `/healthz` throughput of the real hub (every middleware on) against a bare axum
//!    hello-world in the same process, driven by the same load driver, alternating rounds;
//!    reported as req/s and the ratio per round (target: hub >= 0.5 x bare).
//! 2. Cold start: `cortex serve` on an existing SQLite data dir until the first 200 from
//!    `/healthz` (target: under 1 s), next to the time to run `cortex --version` as a
//!    process-start baseline.
//!
//! Run with `cargo bench --bench hub` (release build). Knobs: `BENCH_ROUNDS` (default 5),
//! `BENCH_SECONDS` per measurement (default 2), `BENCH_CONNECTIONS` (default 32).

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn bare_axum() -> SocketAddr {
    let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn cortex_hub(dir: &std::path::Path) -> SocketAddr {
    let cfg = cortex_server::config::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        log: "error".into(),
        ..Default::default()
    };
    let app = cortex::Application::build(cfg).await.unwrap().spawn();
    app.ready().await;
    app.addr
}

/// `connections` keep-alive clients hammer `url` for `secs`; returns requests per second.
async fn load(url: String, connections: u64, secs: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (url, done) = (url.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            while Instant::now() < deadline {
                if let Ok(r) = client.get(&url).send().await {
                    if r.status().is_success() && r.bytes().await.is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let start = Instant::now();
    for t in tasks {
        let _ = t.await;
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn time_to_first_200(dir: &std::path::Path, port: u16) -> Duration {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cortex"))
        .arg("serve")
        .env("CORTEX_DATA_DIR", dir)
        .env("CORTEX_ADDR", format!("127.0.0.1:{port}"))
        .env("CORTEX_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cortex starts");
    let url = format!("http://127.0.0.1:{port}/healthz");
    let agent = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let took = loop {
        if agent
            .get(&url)
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            break start.elapsed();
        }
        if start.elapsed() > Duration::from_secs(20) {
            panic!("cortex did not answer /healthz within 20 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = child.kill();
    let _ = child.wait();
    took
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn main() {
    let rounds = env_num("BENCH_ROUNDS", 5);
    let secs = env_num("BENCH_SECONDS", 2);
    let conns = env_num("BENCH_CONNECTIONS", 32);
    let dir = tempfile::tempdir().unwrap();

    println!("== /healthz throughput: {rounds} rounds x {secs} s each, {conns} keep-alive connections, loopback");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (bare, hub) = rt.block_on(async { (bare_axum().await, cortex_hub(dir.path()).await) });
    let (mut b, mut h, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let rb = rt.block_on(load(format!("http://{bare}/healthz"), conns, secs));
        let rh = rt.block_on(load(format!("http://{hub}/healthz"), conns, secs));
        println!(
            "round {round}: bare axum {rb:>9.0} req/s   cortex {rh:>9.0} req/s   ratio {:.2}",
            rh / rb
        );
        b.push(rb);
        h.push(rh);
        ratios.push(rh / rb);
    }
    println!(
        "median: bare axum {:.0} req/s, cortex {:.0} req/s, cortex/bare ratio {:.2} (target >= 0.50)",
        median(b),
        median(h),
        median(ratios)
    );
    drop(rt);

    println!("== cold start to first 200 on /healthz (existing SQLite data dir)");
    let data = tempfile::tempdir().unwrap();
    time_to_first_200(data.path(), free_port()); // first start creates and migrates the database
    let mut starts = Vec::new();
    let mut versions = Vec::new();
    for _ in 0..7 {
        starts.push(time_to_first_200(data.path(), free_port()).as_secs_f64() * 1000.0);
        let t = Instant::now();
        Command::new(env!("CARGO_BIN_EXE_cortex"))
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        versions.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (s, v) = (median(starts.clone()), median(versions));
    println!(
        "runs (ms): {}",
        starts
            .iter()
            .map(|x| format!("{x:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("median: serve -> first 200 {s:.1} ms (target < 1000 ms); `cortex --version` {v:.1} ms; ratio {:.1}", s / v);
}
