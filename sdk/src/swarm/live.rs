//! The live phases of the swarm: push channels (idle memory on the hub, push-to-ack latency)
//! and analytics (events per second the hub acknowledges as durable).

use cortex_core::backoff::Backoff;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cortex_core::analytics::{Event, EventBatch, EventKind};
use cortex_core::federation::HubMessage;
use tokio::sync::{mpsc, Semaphore};

use super::Percentiles;
use crate::{HubClient, SdkError};

/// What the channel phase measured.
#[derive(Debug, Clone, Default)]
pub struct ChannelReport {
    pub open: usize,
    pub failed: usize,
    pub open_seconds: f64,
    /// Growth of the hub's resident memory per open channel, once idle and settled (needs
    /// the hub's pid; see [`settled_rss_kib`]).
    pub idle_kib_per_channel: Option<f64>,
    /// How long the hub's memory took to settle after the channels opened.
    pub settle_seconds: f64,
    /// The hub's resident memory before the channels opened, and once settled after they
    /// all closed (KiB).
    pub baseline_kib: Option<u64>,
    pub after_close_kib: Option<u64>,
    /// The same two readings of anonymous memory only (heap and stacks: what the process
    /// allocated, without the pages of its binary and files it has touched, which count
    /// in the resident figure, stay after first use and are the kernel's to drop).
    pub baseline_anon_kib: Option<u64>,
    pub after_close_anon_kib: Option<u64>,
    pub pushes: usize,
    /// Acks received over all pushes (ideally `open × pushes`).
    pub acks: usize,
    /// From just before the push request to each neuron's ack, over all pushes.
    pub push_to_ack: Percentiles,
}

/// Resident memory of a process in KiB, from `/proc` (Linux).
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// Resident anonymous memory of a process in KiB (`RssAnon`: heap and stacks).
pub fn anon_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "RssAnon:")
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Resident memory of a process once it stops moving, and how long that took: read every
/// 250 ms until the last 2 s of readings lie within 1 % (at least 1 MiB) of each other, at
/// most 30 s. Read at once, the figure catches the peak of opening (buffers of the
/// handshakes not yet given back) rather than what an idle channel keeps.
pub async fn settled_rss_kib(pid: u32) -> Option<(u64, f64)> {
    const EVERY: Duration = Duration::from_millis(250);
    const WINDOW: usize = 8;
    let started = Instant::now();
    let mut seen = std::collections::VecDeque::with_capacity(WINDOW);
    loop {
        seen.push_back(rss_kib(pid)?);
        if seen.len() > WINDOW {
            seen.pop_front();
        }
        let (lo, hi) = (seen.iter().min()?, seen.iter().max()?);
        let still = seen.len() == WINDOW && hi - lo <= (hi / 100).max(1024);
        if still || started.elapsed() > Duration::from_secs(30) {
            return Some((*seen.back()?, started.elapsed().as_secs_f64()));
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// The swarm's open channels: one task per neuron, which acks every push and, like the
/// SDK's runner, reconnects with jittered exponential backoff when its socket goes (a
/// reconnecting neuron says it holds nothing, so the hub sends every bundle again: the
/// worst case of catching up).
pub struct Fleet {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    acks: mpsc::UnboundedReceiver<(u64, Instant)>,
    /// Each `synced` after a channel's first (a neuron back and caught up).
    resynced: mpsc::UnboundedReceiver<Instant>,
    pub open: usize,
    pub failed: usize,
    pub open_seconds: f64,
}

impl Fleet {
    /// Opens a channel for each token, `concurrency` opening at a time, and waits until each
    /// has been synced (or failed its first attempt).
    pub async fn open(
        client: &HubClient,
        tokens: &[String],
        concurrency: usize,
        progress: &impl Fn(&str),
    ) -> Self {
        let (acks_tx, acks) = mpsc::unbounded_channel();
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<bool>();
        let (resynced_tx, resynced) = mpsc::unbounded_channel();
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let started = Instant::now();
        let tasks = tokens
            .iter()
            .map(|token| {
                tokio::spawn(neuron(
                    client.clone(),
                    token.clone(),
                    gate.clone(),
                    ready_tx.clone(),
                    resynced_tx.clone(),
                    acks_tx.clone(),
                ))
            })
            .collect();
        drop(ready_tx);
        let mut fleet = Fleet {
            tasks,
            acks,
            resynced,
            open: 0,
            failed: 0,
            open_seconds: 0.0,
        };
        for _ in 0..tokens.len() {
            match ready_rx.recv().await {
                Some(true) => fleet.open += 1,
                _ => fleet.failed += 1,
            }
            let done = fleet.open + fleet.failed;
            if done.is_multiple_of(1000) {
                progress(&format!("{done} of {} channels", tokens.len()));
            }
        }
        fleet.open_seconds = started.elapsed().as_secs_f64();
        fleet
    }

    /// Closes every channel (the tasks end; their sockets drop).
    pub fn close(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// One simulated neuron's channel: the first attempt is gated and reported on `ready`;
/// after that it reconnects as the runner does, reporting each sync on `resynced`.
async fn neuron(
    client: HubClient,
    token: String,
    gate: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<bool>,
    resynced: mpsc::UnboundedSender<Instant>,
    acks: mpsc::UnboundedSender<(u64, Instant)>,
) {
    let mut permit = Some(gate.acquire_owned().await);
    let mut first = true;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    loop {
        match client.connect(&token, &BTreeMap::new()).await {
            Ok(mut ch) => {
                while let Some(Ok(msg)) = ch.next().await {
                    match msg {
                        HubMessage::Synced { .. } if first => {
                            first = false;
                            permit.take();
                            let _ = ready.send(true);
                        }
                        HubMessage::Synced { .. } => {
                            let _ = resynced.send(Instant::now());
                        }
                        HubMessage::Push { bundle } => {
                            if ch.ack(&bundle.scope, bundle.revision).await.is_err() {
                                break;
                            }
                            let _ = acks.send((bundle.revision, Instant::now()));
                        }
                        _ => {}
                    }
                }
                backoff.reset();
            }
            Err(_) if first => {
                let _ = ready.send(false);
                return;
            }
            Err(_) => {}
        }
        tokio::time::sleep(crate::runner::jittered(backoff.next_wait())).await;
    }
}

/// Opens a push channel for each token, weighs the hub per idle channel, times `pushes`
/// config pushes to `tag:swarm` (with the editor `push_token`) until every neuron acked,
/// then closes them all and weighs the hub again.
pub async fn channels(
    client: &HubClient,
    tokens: &[String],
    concurrency: usize,
    pushes: usize,
    push_token: Option<&str>,
    hub_pid: Option<u32>,
    progress: &impl Fn(&str),
) -> Result<ChannelReport, SdkError> {
    let mut report = ChannelReport::default();
    let before = match hub_pid {
        Some(pid) => settled_rss_kib(pid).await.map(|(kib, _)| kib),
        None => None,
    };
    report.baseline_kib = before;
    report.baseline_anon_kib = hub_pid.and_then(anon_kib);
    let mut fleet = Fleet::open(client, tokens, concurrency, progress).await;
    (report.open, report.failed, report.open_seconds) =
        (fleet.open, fleet.failed, fleet.open_seconds);
    // Weighed once the hub's memory has settled.
    if let (Some(b), Some(pid)) = (before, hub_pid) {
        if let Some((a, waited)) = settled_rss_kib(pid).await {
            report.idle_kib_per_channel =
                Some(a.saturating_sub(b) as f64 / report.open.max(1) as f64);
            report.settle_seconds = waited;
        }
    }

    let mut samples = Vec::new();
    if let (Some(push_token), true) = (push_token, report.open > 0) {
        for p in 0..pushes {
            let t0 = Instant::now();
            let revision = push(client, push_token, p).await?;
            let deadline = t0 + Duration::from_secs(30);
            let mut got = 0;
            while got < report.open {
                match tokio::time::timeout_at(deadline.into(), fleet.acks.recv()).await {
                    Ok(Some((rev, at))) if rev == revision => {
                        got += 1;
                        samples.push(at.duration_since(t0));
                    }
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
            report.acks += got;
            report.pushes += 1;
            progress(&format!("push {}: {got} of {} acked", p + 1, report.open));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    report.push_to_ack = Percentiles::of(samples);
    fleet.close();
    // Does the hub give the memory back once they are gone? Read after [`GIVE_BACK_WAIT`]:
    // the hub hands freed memory back as it goes idle, its C heap every 10 s.
    if let Some(pid) = hub_pid {
        tokio::time::sleep(GIVE_BACK_WAIT).await;
        report.after_close_kib = settled_rss_kib(pid).await.map(|(kib, _)| kib);
        report.after_close_anon_kib = anon_kib(pid);
    }
    Ok(report)
}

/// How long after the channels closed the hub's memory is read again.
pub const GIVE_BACK_WAIT: Duration = Duration::from_secs(12);

/// Pushes config number `p` to `tag:swarm`; answers its revision.
async fn push(client: &HubClient, push_token: &str, p: usize) -> Result<u64, SdkError> {
    let res = client
        .http
        .post(format!("{}/api/federation/push-config", client.base))
        .bearer_auth(push_token)
        .json(&serde_json::json!({
            "scope": "tag:swarm", "kind": "config",
            "body": serde_json::json!({"push": p, "flag": p.is_multiple_of(2)}).to_string(),
        }))
        .send()
        .await?;
    if !res.status().is_success() {
        return Err(SdkError::Invalid(format!(
            "push refused ({}): {}",
            res.status(),
            res.text().await.unwrap_or_default()
        )));
    }
    Ok(res
        .json::<serde_json::Value>()
        .await?
        .get("revision")
        .and_then(|r| r.as_u64())
        .unwrap_or(0))
}

/// Restarts the hub: stops it, starts it again on the same address and data, and answers
/// the new process's id. Given by whoever started the hub (the federation bench).
#[derive(Clone)]
pub struct RestartHook(pub Arc<dyn Fn() -> Option<u32> + Send + Sync>);

impl std::fmt::Debug for RestartHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RestartHook")
    }
}

/// What one restart of the hub measured.
#[derive(Debug, Clone, Default)]
pub struct RestartReport {
    /// Events the hub had acknowledged but not yet written when it was stopped.
    pub backlog_events: Option<u64>,
    /// From the stop signal until the new process was started.
    pub down_seconds: f64,
    /// Channels back and caught up (a `synced` after sending every bundle again), of `of`.
    pub back: usize,
    pub of: usize,
    /// From the new process's start until the last channel was back and caught up.
    pub back_seconds: f64,
    /// Half of the channels were back after this long.
    pub half_seconds: f64,
}

/// Restarts the hub under an open fleet and times every channel's return.
pub async fn restart(
    client: &HubClient,
    fleet: &mut Fleet,
    hook: &RestartHook,
    admin_token: Option<&str>,
    progress: &impl Fn(&str),
) -> RestartReport {
    let mut report = RestartReport {
        of: fleet.open,
        ..Default::default()
    };
    if let Some(token) = admin_token {
        report.backlog_events = backlog_events(client, token).await;
    }
    while fleet.resynced.try_recv().is_ok() {}
    let stopping = Instant::now();
    let hook = hook.0.clone();
    let pid = tokio::task::spawn_blocking(move || hook())
        .await
        .ok()
        .flatten();
    let started = Instant::now();
    report.down_seconds = started.duration_since(stopping).as_secs_f64();
    if pid.is_none() {
        progress("the hub did not start again");
        return report;
    }
    let deadline = started + Duration::from_secs(120);
    while report.back < report.of {
        match tokio::time::timeout_at(deadline.into(), fleet.resynced.recv()).await {
            Ok(Some(at)) => {
                report.back += 1;
                let took = at.saturating_duration_since(started).as_secs_f64();
                if report.back == report.of.div_ceil(2) {
                    report.half_seconds = took;
                }
                report.back_seconds = took;
                if report.back.is_multiple_of(1000) {
                    progress(&format!("{} of {} channels back", report.back, report.of));
                }
            }
            _ => break,
        }
    }
    report
}

/// Events acknowledged but not yet written, from the hub's `/metrics`.
async fn backlog_events(client: &HubClient, admin_token: &str) -> Option<u64> {
    let text = client
        .http
        .get(format!("{}/metrics", client.base))
        .bearer_auth(admin_token)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let value = |name: &str| {
        text.lines().find_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse::<f64>()
                .ok()
        })
    };
    // A counter appears with its first event.
    let spooled = value("cortex_events_spooled_total").unwrap_or(0.0);
    Some((spooled - value("cortex_events_written_total").unwrap_or(0.0)).max(0.0) as u64)
}

/// What the events phase measured.
#[derive(Debug, Clone, Default)]
pub struct EventsReport {
    pub events: u64,
    pub batches: u64,
    pub errors: u64,
    pub events_per_second: f64,
    pub batch_latency: Percentiles,
    pub first_error: Option<String>,
}

/// Sends batches of `batch` events round-robin over the tokens, `concurrency` at a time,
/// for `duration`; counts the events the hub acknowledged.
pub async fn events(
    client: &HubClient,
    tokens: Arc<Vec<String>>,
    concurrency: usize,
    batch: usize,
    duration: Duration,
) -> EventsReport {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (client, tokens) = (client.clone(), tokens.clone());
        workers.push(tokio::spawn(async move {
            let mut out = EventsReport::default();
            let mut lat = Vec::new();
            let mut i = w;
            while Instant::now() < deadline {
                let now = chrono::Utc::now();
                let events = (0..batch)
                    .map(|k| {
                        let mut e = Event::new(
                            if k % 10 == 0 {
                                EventKind::Click
                            } else {
                                EventKind::Exposure
                            },
                            now,
                        );
                        e.unit = Some(format!("visitor-{}", (i * 7 + k) % 100_000));
                        e.mutation_id = Some(format!("m{}", k % 50));
                        e.variant = Some(["a", "b"][k % 2].into());
                        e
                    })
                    .collect();
                let b = EventBatch {
                    batch_id: format!("w{w}-{i}"),
                    events,
                    receipt: None,
                };
                let t = Instant::now();
                match client.stream_analytics(&tokens[i % tokens.len()], &b).await {
                    Ok(ack) => {
                        out.events += u64::from(ack.events);
                        out.batches += 1;
                        lat.push(t.elapsed());
                    }
                    Err(e) => {
                        out.errors += 1;
                        out.first_error.get_or_insert(e.to_string());
                    }
                }
                i += concurrency;
            }
            (out, lat)
        }));
    }
    let mut report = EventsReport::default();
    let mut latencies = Vec::new();
    for w in workers {
        if let Ok((r, lat)) = w.await {
            report.events += r.events;
            report.batches += r.batches;
            report.errors += r.errors;
            if report.first_error.is_none() {
                report.first_error = r.first_error;
            }
            latencies.extend(lat);
        }
    }
    report.events_per_second = report.events as f64 / started.elapsed().max(duration).as_secs_f64();
    report.batch_latency = Percentiles::of(latencies);
    report
}
