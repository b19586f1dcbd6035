//! `swarm`: simulates many neurons against one hub, bounded in count and duration, and
//! reports how fast they join and how many heartbeats the hub absorbs. Each simulated neuron
//! has its own key pair and signs its own registration, exactly as a real one does; all of
//! them share one HTTP connection pool per worker.
//!
//! Phases: (1) `neurons` neurons register, `concurrency` at a time; (2) for `duration`, the
//! workers send heartbeats round-robin over the joined neurons as fast as the hub answers;
//! (3) as a baseline in the same run, the same workers call `/healthz` for `duration`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cortex_core::federation::{HealthState, Heartbeat, Load, NeuronStatus, Registration};

use crate::{HubClient, NeuronKey, SdkError};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SwarmConfig {
    pub hub: String,
    /// How many neurons join (bounded: 1 to 100,000).
    pub neurons: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// How long the heartbeat and baseline phases each run.
    pub duration: Duration,
    /// Prefix of the neurons' ids (so runs do not collide).
    pub prefix: String,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples[i].as_secs_f64() * 1000.0
        };
        Self {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// What the swarm measured.
#[derive(Debug, Clone, Default)]
pub struct SwarmReport {
    pub joined: usize,
    pub pending: usize,
    pub failed: usize,
    pub join_seconds: f64,
    pub joins_per_second: f64,
    pub join_latency: Percentiles,
    pub heartbeats: u64,
    pub heartbeat_errors: u64,
    pub heartbeats_per_second: f64,
    pub heartbeat_latency: Percentiles,
    /// `/healthz` calls per second by the same workers: the baseline.
    pub baseline_per_second: f64,
    /// The first error seen, to tell the user what went wrong.
    pub first_error: Option<String>,
}

impl std::fmt::Display for SwarmReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = |x: &Percentiles| {
            format!(
                "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                x.p50, x.p90, x.p99, x.max
            )
        };
        writeln!(
            f,
            "join:      {} joined, {} pending, {} failed in {:.2} s = {:.0} joins/s ({})",
            self.joined,
            self.pending,
            self.failed,
            self.join_seconds,
            self.joins_per_second,
            p(&self.join_latency)
        )?;
        writeln!(
            f,
            "heartbeat: {} ok, {} errors = {:.0}/s ({})",
            self.heartbeats,
            self.heartbeat_errors,
            self.heartbeats_per_second,
            p(&self.heartbeat_latency)
        )?;
        write!(
            f,
            "baseline:  /healthz {:.0}/s; heartbeats run at {:.2} x the baseline",
            self.baseline_per_second,
            if self.baseline_per_second > 0.0 {
                self.heartbeats_per_second / self.baseline_per_second
            } else {
                0.0
            }
        )?;
        if let Some(e) = &self.first_error {
            write!(f, "\nfirst error: {e}")?;
        }
        Ok(())
    }
}

fn registration(prefix: &str, i: usize, key: &NeuronKey) -> Registration {
    Registration {
        id: format!("{prefix}-{i:05}"),
        slug: "swarm".into(),
        kind: "api-service".into(),
        version: ["1.0.0", "1.1.0"][i % 2].into(),
        capabilities: vec!["config".into()],
        tags: vec!["swarm".into()],
        region: Some(["eu-west", "us-east", "ap-south"][i % 3].into()),
        endpoint: None,
        public_key: key.public_key(),
    }
}

/// Runs the swarm. Progress goes to `progress` (one line per phase).
pub async fn run(cfg: SwarmConfig, progress: impl Fn(&str)) -> Result<SwarmReport, SdkError> {
    if !(1..=100_000).contains(&cfg.neurons) || !(1..=1024).contains(&cfg.concurrency) {
        return Err(SdkError::Invalid(
            "neurons must be 1-100000 and concurrency 1-1024".into(),
        ));
    }
    let client = HubClient::new(&cfg.hub, None)?;
    let mut report = SwarmReport::default();

    // 1. Join.
    progress(&format!(
        "joining {} neurons, {} at a time",
        cfg.neurons, cfg.concurrency
    ));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..cfg.concurrency.min(cfg.neurons) {
        let (client, next, prefix, total) = (
            client.clone(),
            next.clone(),
            cfg.prefix.clone(),
            cfg.neurons,
        );
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break out;
                }
                let key = NeuronKey::generate();
                let t = Instant::now();
                let r = client.register(&registration(&prefix, i, &key), &key).await;
                out.push((t.elapsed(), r));
            }
        }));
    }
    let mut tokens = Vec::new();
    let mut latencies = Vec::new();
    for w in workers {
        for (took, r) in w.await.unwrap_or_default() {
            latencies.push(took);
            match r {
                Ok(j) if j.status == NeuronStatus::Pending => report.pending += 1,
                Ok(j) => match j.token {
                    Some(t) => tokens.push(t),
                    None => report.failed += 1,
                },
                Err(e) => {
                    report.failed += 1;
                    report.first_error.get_or_insert(e.to_string());
                }
            }
        }
    }
    report.join_seconds = started.elapsed().as_secs_f64();
    report.joined = tokens.len();
    report.joins_per_second = cfg.neurons as f64 / report.join_seconds.max(1e-9);
    report.join_latency = Percentiles::of(latencies);
    if tokens.is_empty() {
        report.first_error.get_or_insert(
            "no neuron joined: set the hub's join policy to open (or allowlist the tag `swarm`) for the run".into(),
        );
        return Ok(report);
    }

    // 2. Heartbeats.
    progress(&format!("heartbeats for {:?}", cfg.duration));
    let tokens = Arc::new(tokens);
    let deadline = Instant::now() + cfg.duration;
    let mut workers = Vec::new();
    let stride = cfg.concurrency;
    for w in 0..cfg.concurrency {
        let (client, tokens) = (client.clone(), tokens.clone());
        workers.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut lat, mut first) = (0u64, 0u64, Vec::new(), None);
            let mut i = w;
            while Instant::now() < deadline {
                let beat = Heartbeat {
                    state: if i % 10 == 0 {
                        HealthState::Degraded
                    } else {
                        HealthState::Ok
                    },
                    checks: Vec::new(),
                    version: None,
                    load: Load {
                        cpu_percent: Some((i % 90) as f64),
                        ..Default::default()
                    },
                };
                let t = Instant::now();
                match client.heartbeat(&tokens[i % tokens.len()], &beat).await {
                    Ok(_) => {
                        ok += 1;
                        lat.push(t.elapsed());
                    }
                    Err(e) => {
                        errors += 1;
                        first.get_or_insert(e.to_string());
                    }
                }
                i += stride;
            }
            (ok, errors, lat, first)
        }));
    }
    let mut latencies = Vec::new();
    let started = Instant::now();
    for w in workers {
        if let Ok((ok, errors, lat, first)) = w.await {
            report.heartbeats += ok;
            report.heartbeat_errors += errors;
            latencies.extend(lat);
            if let Some(e) = first {
                report.first_error.get_or_insert(e);
            }
        }
    }
    let took = started.elapsed().max(cfg.duration).as_secs_f64();
    report.heartbeats_per_second = report.heartbeats as f64 / took;
    report.heartbeat_latency = Percentiles::of(latencies);

    // 3. Baseline: the cheapest request the hub answers, by the same workers.
    progress(&format!("baseline /healthz for {:?}", cfg.duration));
    let deadline = Instant::now() + cfg.duration;
    let mut workers = Vec::new();
    for _ in 0..cfg.concurrency {
        let client = client.clone();
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                if client.alive().await.unwrap_or(false) {
                    n += 1;
                }
            }
            n
        }));
    }
    let started = Instant::now();
    let mut calls = 0;
    for w in workers {
        calls += w.await.unwrap_or(0);
    }
    report.baseline_per_second = calls as f64 / started.elapsed().max(cfg.duration).as_secs_f64();
    Ok(report)
}
