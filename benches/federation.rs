//! Federation load run, bounded and over loopback: a real hub (the `cortex` binary, release
//! when benched, SQLite by default or `BENCH_DATABASE_URL`) in its own process, and the SDK's
//! swarm driver in this one. Phases: signed joins, heartbeats, `/healthz` as the baseline in
//! the same run, push channels (hub memory per idle channel, push-to-ack latency, memory
//! after they close), a restart of the hub under open channels (SIGTERM, then started
//! again: time until every neuron is back and caught up), events, and a restart with the
//! analytics backlog those left.
//!
//! Run with `cargo bench --bench federation`. Knobs: `BENCH_NEURONS` (default 2000),
//! `BENCH_CHANNELS` (default = neurons), `BENCH_PUSHES` (5), `BENCH_CONNECTIONS` (64),
//! `BENCH_SECONDS` per timed phase (3), `BENCH_EVENT_BATCH` (500).

use cortex_sdk::swarm::{live::RestartHook, run, SwarmConfig};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::{admin_token, env_num, free_port};

fn cortex(dir: &std::path::Path) -> Command {
    let mut c = common::cortex(dir);
    c.env("CORTEX_NEURON_EVENTS_PER_SECOND", "1000000");
    if let Ok(url) = std::env::var("BENCH_DATABASE_URL") {
        c.env("DATABASE_URL", url);
    }
    c
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let token = admin_token(cortex(dir.path()));
    let serve = {
        let dir = dir.path().to_path_buf();
        move || {
            cortex(&dir)
                .arg("serve")
                .env("CORTEX_ADDR", format!("127.0.0.1:{port}"))
                .stdout(if std::env::var_os("BENCH_HUB_LOG").is_some() {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                })
                .spawn()
                .expect("cortex serve")
        }
    };
    let first = serve();
    let pid = first.id();
    let hub = Arc::new(Mutex::new(first));
    // A restart as an operator does one: SIGTERM, wait for the hub to finish, start it again.
    let restart = {
        let hub = hub.clone();
        RestartHook(Arc::new(move || {
            let mut hub = hub.lock().unwrap();
            let stopped = Command::new("kill")
                .args(["-TERM", &hub.id().to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if !stopped {
                let _ = hub.kill();
            }
            let _ = hub.wait();
            *hub = serve();
            Some(hub.id())
        }))
    };
    let url = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt.block_on(async {
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http
                .get(format!("{url}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let policy = http
            .post(format!("{url}/api/federation/join-policy"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"mode": "open"}))
            .send()
            .await
            .unwrap();
        assert!(
            policy.status().is_success(),
            "{}",
            policy.text().await.unwrap()
        );
        let neurons = env_num("BENCH_NEURONS", 2000) as usize;
        run(
            SwarmConfig {
                channels: env_num("BENCH_CHANNELS", neurons as u64) as usize,
                pushes: env_num("BENCH_PUSHES", 5) as usize,
                push_token: Some(token.clone()),
                hub_pid: Some(pid),
                restart: Some(restart),
                event_batch: env_num("BENCH_EVENT_BATCH", 500) as usize,
                ..SwarmConfig::basic(
                    &url,
                    neurons,
                    env_num("BENCH_CONNECTIONS", 64) as usize,
                    Duration::from_secs(env_num("BENCH_SECONDS", 3)),
                )
            },
            |line| eprintln!("… {line}"),
        )
        .await
    });
    let mut hub = hub.lock().unwrap();
    let _ = hub.kill();
    let _ = hub.wait();
    println!("{}", result.expect("the swarm ran"));
}
