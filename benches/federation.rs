//! Federation benchmark, bounded and over loopback: a real hub in this process (SQLite, join
//! policy open) and the SDK's swarm driver: N neurons sign and register, then heartbeat for
//! a fixed time; `/healthz` from the same workers is the baseline in the same run.
//!
//! Run with `cargo bench --bench federation`. Knobs: `BENCH_NEURONS` (default 500),
//! `BENCH_CONNECTIONS` (default 32), `BENCH_SECONDS` per phase (default 3).

use cortex_core::federation::{JoinMode, JoinPolicy};
use cortex_sdk::swarm::{run, SwarmConfig};
use std::time::Duration;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let cfg = cortex_server::config::Config {
            addr: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            log: "error".into(),
            ..Default::default()
        };
        let app = cortex::Application::build(cfg).await.unwrap().spawn();
        app.ready().await;
        app.services
            .federation
            .set_join_policy(
                &JoinPolicy {
                    mode: JoinMode::Open,
                    ..Default::default()
                },
                "bench",
            )
            .await
            .unwrap();
        let report = run(
            SwarmConfig {
                hub: app.url(),
                neurons: env_num("BENCH_NEURONS", 500) as usize,
                concurrency: env_num("BENCH_CONNECTIONS", 32) as usize,
                duration: Duration::from_secs(env_num("BENCH_SECONDS", 3)),
                prefix: "bench".into(),
            },
            |line| eprintln!("… {line}"),
        )
        .await
        .unwrap();
        println!("{report}");
    });
}
