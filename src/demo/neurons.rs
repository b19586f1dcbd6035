//! `cortex demo-neurons`: a small fleet of server neurons built on the SDK, so a new user
//! sees `/admin/federation` come alive within a minute. Keys live in
//! `<data dir>/demo-neurons/`, so the same neurons come back after a restart.

use cortex_core::analytics::{Event, EventKind};
use cortex_core::federation::{Check, HealthState, Heartbeat, Load, NeuronStatus, Registration};
use cortex_core::federation::{MigrationPhase, UpdateOrder};
use cortex_sdk::runner::{self, Connection, RunnerConfig};
use cortex_sdk::update::{StepFuture, Updater};
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
        id: format!("demo-{kind}-{i:02}").into(),
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
        // What a real neuron hashes is its own table definitions and OpenAPI document.
        fingerprints: cortex_core::federation::Fingerprints {
            schema: Some(cortex_core::federation::fingerprint(
                format!("{kind} tables for {}", VERSIONS[i % VERSIONS.len()]).as_bytes(),
            )),
            api: Some(cortex_core::federation::fingerprint(
                format!("{kind} openapi for {}", VERSIONS[i % VERSIONS.len()]).as_bytes(),
            )),
        },
    }
}

/// How a demo neuron updates: each migration takes a moment and changes nothing (one whose id
/// contains `fail` fails, to show a paused rollout); the switch only changes the version it
/// reports.
struct DemoUpdate;

impl Updater for DemoUpdate {
    fn migrate(&self, id: &str, _phase: MigrationPhase) -> StepFuture {
        let id = id.to_string();
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            if id.contains("fail") {
                Err(format!("{id}: demo failure (its id asks for one)"))
            } else {
                Ok(format!(
                    "{id}: applied (a demo neuron has nothing to change)"
                ))
            }
        })
    }

    fn switch(&self, order: &UpdateOrder) -> StepFuture {
        let version = order.version.clone();
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok(format!("now serving {version}"))
        })
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
        ..Default::default()
    }
}

/// Registers `count` neurons with the hub at `hub`. With `once`, registers each and returns;
/// otherwise runs each as an embedded SDK neuron (push channel, heartbeats, commands) that
/// reports page views, clicks and now and then an error, until stopped.
pub async fn run(hub: &str, count: usize, once: bool, data_dir: &Path) -> anyhow::Result<i32> {
    let dir = data_dir.join("demo-neurons");
    let mut fleet = Vec::new();
    for i in 0..count {
        let key = NeuronKey::load_or_create(&dir.join(format!("{i:02}.key")))?;
        fleet.push((i, registration(i, &key), key));
    }
    if once {
        let client = HubClient::new(hub, None)?;
        let mut counts = std::collections::BTreeMap::<NeuronStatus, usize>::new();
        for (_, reg, key) in &fleet {
            match client.register(reg, key).await {
                Ok(joined) => *counts.entry(joined.status).or_default() += 1,
                Err(e) => eprintln!("{}: {e}", reg.id),
            }
        }
        let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        println!("registered: {}", summary.join(", "));
        return Ok(0);
    }
    let mut neurons = Vec::new();
    for (i, reg, key) in fleet {
        let cache = dir.join(format!("{i:02}"));
        let hooks = runner::Hooks {
            reload: None,
            updater: Some(std::sync::Arc::new(DemoUpdate)),
        };
        let handle = runner::start_with(RunnerConfig::new(hub, reg, key, &cache), hooks)?;
        neurons.push((i, handle));
    }
    let mut round = 0u64;
    loop {
        let mut online = 0;
        for (i, n) in &neurons {
            n.set_heartbeat(beat(*i, round));
            report(*i, round, n);
            online += usize::from(*n.watch_connection().borrow() == Connection::Online);
        }
        let sent: u64 = neurons.iter().map(|(_, n)| n.sent_events()).sum();
        println!(
            "round {round}: {online}/{} online, {sent} events sent",
            neurons.len()
        );
        round += 1;
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// A few plausible events per round; every seventh round a neuron hits an error.
fn report(i: usize, round: u64, n: &runner::NeuronHandle) {
    let now = chrono::Utc::now();
    for v in 0..3 {
        let mut view = Event::new(EventKind::PageView, now);
        view.unit = Some(format!("visitor-{}", (i as u64 * 31 + round * 7 + v) % 500));
        view.page_slug = Some(["home", "product", "checkout"][v as usize].into());
        n.record(view);
    }
    let mut click = Event::new(EventKind::Click, now);
    click.name = Some("hero-cta".into());
    n.record(click);
    if (round + i as u64).is_multiple_of(7) {
        let mut err = Event::new(EventKind::Error, now);
        err.name = Some("checkout".into());
        err.message = Some("payment provider timed out after 3 s".into());
        n.record(err);
    }
    if round == 0 {
        let mut log = Event::new(EventKind::Log, now);
        log.message = Some(format!("demo neuron {i} started"));
        n.record(log);
    }
}
