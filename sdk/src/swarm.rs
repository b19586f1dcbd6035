//! `swarm`: simulates many neurons against one hub, bounded in count and duration, and
//! reports how fast they join and how many heartbeats the hub absorbs. Each simulated neuron
//! has its own key pair and signs its own registration, exactly as a real one does; all of
//! them share one HTTP connection pool per worker.
//!
//! Phases: (1) `neurons` neurons register, `concurrency` at a time; (2) for `duration`, the
//! workers send heartbeats round-robin over the joined neurons as fast as the hub answers;
//! (3) as a baseline in the same run, the same workers call `/healthz` for `duration`;
//! (4) `channels` neurons open the push channel: the hub's memory per idle channel, then
//! `pushes` config pushes timed from request to each neuron's ack, then they close (the hub's
//! memory once they are gone); (5) with a [`live::RestartHook`], the channels open again and
//! the hub is restarted under them: how long until every neuron is back and caught up;
//! (6) for `duration`, the workers send event batches of `event_batch` events and count what
//! the hub acknowledged; (7) with the hook, the hub is restarted again at once, with that
//! analytics backlog still to write.

pub mod live;

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
    /// Neurons that open the push channel (0: skip the phase).
    pub channels: usize,
    /// Config pushes timed over the channels (needs `push_token`).
    pub pushes: usize,
    /// An API token with the editor role, for the pushes.
    pub push_token: Option<String>,
    /// The hub's process id, to weigh its memory per channel (same machine only).
    pub hub_pid: Option<u32>,
    /// Events per batch in the analytics phase (0: skip the phase).
    pub event_batch: usize,
    /// Restarts the hub, for the restart phases (none: skipped).
    pub restart: Option<live::RestartHook>,
}

impl SwarmConfig {
    /// Join, heartbeat and baseline phases only.
    pub fn basic(hub: &str, neurons: usize, concurrency: usize, duration: Duration) -> Self {
        Self {
            hub: hub.to_string(),
            neurons,
            concurrency,
            duration,
            prefix: format!("swarm-{}", std::process::id()),
            channels: 0,
            pushes: 0,
            push_token: None,
            hub_pid: None,
            event_batch: 0,
            restart: None,
        }
    }
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
    /// The push-channel phase, if it ran.
    pub channels: Option<live::ChannelReport>,
    /// The analytics phase, if it ran.
    pub events: Option<live::EventsReport>,
    /// The restart phases that ran: without, then with an analytics backlog.
    pub restarts: Vec<live::RestartReport>,
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
        if let Some(c) = &self.channels {
            write!(
                f,
                "\nchannels:  {} open, {} failed in {:.2} s; hub memory per idle channel: {}",
                c.open,
                c.failed,
                c.open_seconds,
                c.idle_kib_per_channel
                    .map_or("not measured (no hub pid)".into(), |k| format!(
                        "{k:.1} KiB (settled after {:.1} s)",
                        c.settle_seconds
                    ))
            )?;
            if let (Some(b), Some(a)) = (c.baseline_kib, c.after_close_kib) {
                write!(
                    f,
                    "\nmemory:    hub {:.1} MiB before the channels, {:.1} MiB {} s after they closed ({:.2} x)",
                    b as f64 / 1024.0,
                    a as f64 / 1024.0,
                    live::GIVE_BACK_WAIT.as_secs(),
                    a as f64 / b.max(1) as f64
                )?;
            }
            if let (Some(b), Some(a)) = (c.baseline_anon_kib, c.after_close_anon_kib) {
                write!(
                    f,
                    "\n           anonymous (heap and stacks) {:.1} MiB before, {:.1} MiB after ({:.2} x)",
                    b as f64 / 1024.0,
                    a as f64 / 1024.0,
                    a as f64 / b.max(1) as f64
                )?;
            }
            write!(
                f,
                "\npush→ack:  {} pushes, {} of {} acks ({})",
                c.pushes,
                c.acks,
                c.pushes * c.open,
                p(&c.push_to_ack)
            )?;
        }
        if let Some(e) = &self.events {
            write!(
                f,
                "\nevents:    {} acknowledged in {} batches, {} errors = {:.0} events/s (batch {})",
                e.events,
                e.batches,
                e.errors,
                e.events_per_second,
                p(&e.batch_latency)
            )?;
            if let Some(err) = &e.first_error {
                write!(f, "\nfirst event error: {err}")?;
            }
        }
        for r in &self.restarts {
            write!(
                f,
                "\nrestart:   {} of {} channels back and caught up {:.2} s after the hub started again (half by {:.2} s; stopping took {:.2} s; backlog {})",
                r.back,
                r.of,
                r.back_seconds,
                r.half_seconds,
                r.down_seconds,
                r.backlog_events
                    .map_or("not read".into(), |n| format!("{n} events"))
            )?;
        }
        if let Some(e) = &self.first_error {
            write!(f, "\nfirst error: {e}")?;
        }
        Ok(())
    }
}

fn registration(prefix: &str, i: usize, key: &NeuronKey) -> Registration {
    Registration {
        id: format!("{prefix}-{i:05}").into(),
        slug: "swarm".into(),
        kind: "api-service".into(),
        version: ["1.0.0", "1.1.0"][i % 2].into(),
        capabilities: vec!["config".into()],
        tags: vec!["swarm".into()],
        region: Some(["eu-west", "us-east", "ap-south"][i % 3].into()),
        endpoint: None,
        public_key: key.public_key(),
        fingerprints: Default::default(),
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
                    ..Default::default()
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

    // 4. Push channels.
    if cfg.channels > 0 {
        let n = cfg.channels.min(tokens.len());
        progress(&format!("opening {n} push channels"));
        report.channels = Some(
            live::channels(
                &client,
                &tokens[..n],
                cfg.concurrency,
                cfg.pushes,
                cfg.push_token.as_deref(),
                cfg.hub_pid,
                &progress,
            )
            .await?,
        );
    }

    // 5. A restart under open channels, no backlog.
    let mut fleet = None;
    if let (Some(hook), true) = (&cfg.restart, cfg.channels > 0) {
        let n = cfg.channels.min(tokens.len());
        progress(&format!(
            "opening {n} push channels again, then restarting the hub"
        ));
        let mut f = live::Fleet::open(&client, &tokens[..n], cfg.concurrency, &progress).await;
        report
            .restarts
            .push(live::restart(&client, &mut f, hook, cfg.push_token.as_deref(), &progress).await);
        fleet = Some(f);
    }

    // 6. Analytics.
    if cfg.event_batch > 0 {
        progress(&format!(
            "event batches of {} for {:?}",
            cfg.event_batch, cfg.duration
        ));
        report.events = Some(
            live::events(
                &client,
                tokens.clone(),
                cfg.concurrency,
                cfg.event_batch
                    .min(cortex_core::analytics::MAX_BATCH_EVENTS),
                cfg.duration,
            )
            .await,
        );
    }

    // 7. At once, a restart with what the analytics phase left to write.
    if let (Some(hook), Some(mut f)) = (&cfg.restart, fleet) {
        progress("restarting the hub again, with the analytics backlog");
        report
            .restarts
            .push(live::restart(&client, &mut f, hook, cfg.push_token.as_deref(), &progress).await);
        f.close();
    }
    Ok(report)
}
