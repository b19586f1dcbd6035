//! `cortex demo-neurons`: a small fleet of server neurons built on the SDK, so a new user
//! sees `/admin/federation` come alive within a minute. Keys live in
//! `<data dir>/demo-neurons/`, so the same neurons come back after a restart.

use cortex_core::federation::{Check, HealthState, Heartbeat, Load, NeuronStatus, Registration};
use cortex_sdk::{HubClient, NeuronKey};
use std::path::Path;
use std::time::Duration;

const KINDS: [(&str, &[&str]); 3] = [
    ("api-service", &["config", "layout-rules", "analytics"]),
    ("agent", &["config", "hot-reload"]),
    ("ai-worker", &["config", "analytics"]),
];
const REGIONS: [&str; 3] = ["eu-west", "us-east", "ap-south"];
const VERSIONS: [&str; 3] = ["1.4.2", "1.4.2", "1.5.0-rc.1"];

fn registration(i: usize, key: &NeuronKey) -> Registration {
    let (kind, caps) = KINDS[i % KINDS.len()];
    Registration {
        id: format!("demo-{kind}-{i:02}"),
        slug: format!("demo-{}", ["shop", "search", "checkout"][i % 3]),
        kind: kind.into(),
        version: VERSIONS[i % VERSIONS.len()].into(),
        capabilities: caps.iter().map(|c| c.to_string()).collect(),
        tags: vec![
            "demo".into(),
            if i.is_multiple_of(4) {
                "canary"
            } else {
                "stable"
            }
            .into(),
        ],
        region: Some(REGIONS[i % REGIONS.len()].into()),
        endpoint: None,
        public_key: key.public_key(),
    }
}

/// A plausible heartbeat; every fifth neuron reports a slow database.
fn beat(i: usize, round: u64) -> Heartbeat {
    let slow = i % 5 == 4;
    Heartbeat {
        state: if slow {
            HealthState::Degraded
        } else {
            HealthState::Ok
        },
        checks: vec![Check {
            name: "database".into(),
            state: if slow {
                HealthState::Degraded
            } else {
                HealthState::Ok
            },
            message: slow.then(|| "p99 latency 850 ms".into()),
        }],
        version: None,
        load: Load {
            cpu_percent: Some(((i as u64 * 17 + round * 7) % 80) as f64 + 5.0),
            memory_mb: Some(180.0 + (i * 35) as f64),
            requests_per_second: Some(((i as u64 * 13 + round * 3) % 120) as f64),
        },
    }
}

/// Registers `count` neurons with the hub at `hub`, then heartbeats until stopped (or
/// returns after registering, with `once`). Pending neurons ask again every interval.
pub async fn run(hub: &str, count: usize, once: bool, data_dir: &Path) -> anyhow::Result<i32> {
    let client = HubClient::new(hub, None)?;
    let dir = data_dir.join("demo-neurons");
    let mut fleet = Vec::new();
    for i in 0..count {
        let key = NeuronKey::load_or_create(&dir.join(format!("{i:02}.key")))?;
        fleet.push((i, registration(i, &key), key, None::<String>));
    }
    let mut round = 0u64;
    let mut every = Duration::from_secs(15);
    loop {
        let mut counts = std::collections::BTreeMap::<NeuronStatus, usize>::new();
        for (i, reg, key, token) in fleet.iter_mut() {
            let answer = match token.as_deref() {
                Some(t) => client.heartbeat(t, &beat(*i, round)).await,
                None => client.register(reg, key).await,
            };
            match answer {
                Ok(joined) => {
                    every = Duration::from_secs(u64::from(joined.heartbeat_seconds.max(1)));
                    *counts.entry(joined.status).or_default() += 1;
                    *token = joined.token;
                }
                Err(e) => {
                    // Removed, retired or token expired: register again next round.
                    eprintln!("{}: {e}", reg.id);
                    *token = None;
                }
            }
        }
        let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        println!("round {round}: {}", summary.join(", "));
        if once {
            return Ok(0);
        }
        round += 1;
        tokio::time::sleep(every).await;
    }
}
