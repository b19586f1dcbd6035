//! The live phases of the swarm: push channels (idle memory on the hub, push-to-ack latency)
//! and analytics (events per second the hub acknowledges as durable).

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
    pub pushes: usize,
    /// Acks received over all pushes (ideally `open × pushes`).
    pub acks: usize,
    /// From just before the push request to each neuron's ack, over all pushes.
    pub push_to_ack: Percentiles,
}

/// Resident memory of a process in KiB, from `/proc` (Linux).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
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

/// Opens a push channel for each token, waits until all are idle, then times `pushes`
/// config pushes to `tag:swarm` (with the editor `push_token`) until every neuron acked.
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
    let (acks_tx, mut acks_rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<bool>();
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(tokens.len());
    for token in tokens {
        let (client, token, gate) = (client.clone(), token.clone(), gate.clone());
        let (acks, ready) = (acks_tx.clone(), ready_tx.clone());
        tasks.push(tokio::spawn(async move {
            let mut permit = Some(gate.acquire_owned().await);
            let mut ch = match client.connect(&token, &BTreeMap::new()).await {
                Ok(ch) => ch,
                Err(_) => {
                    let _ = ready.send(false);
                    return;
                }
            };
            let mut announced = false;
            while let Some(Ok(msg)) = ch.next().await {
                match msg {
                    HubMessage::Synced { .. } if !announced => {
                        announced = true;
                        permit.take();
                        let _ = ready.send(true);
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
            if !announced {
                let _ = ready.send(false);
            }
        }));
    }
    drop((acks_tx, ready_tx));
    for _ in 0..tokens.len() {
        match ready_rx.recv().await {
            Some(true) => report.open += 1,
            _ => report.failed += 1,
        }
        let done = report.open + report.failed;
        if done % 1000 == 0 {
            progress(&format!("{done} of {} channels", tokens.len()));
        }
    }
    report.open_seconds = started.elapsed().as_secs_f64();
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
            let res = client
                .http
                .post(format!("{}/api/federation/push-config", client.base))
                .bearer_auth(push_token)
                .json(&serde_json::json!({
                    "scope": "tag:swarm", "kind": "config",
                    "body": serde_json::json!({"push": p, "flag": p % 2 == 0}).to_string(),
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
            let revision = res
                .json::<serde_json::Value>()
                .await?
                .get("revision")
                .and_then(|r| r.as_u64())
                .unwrap_or(0);
            let deadline = t0 + Duration::from_secs(30);
            let mut got = 0;
            while got < report.open {
                match tokio::time::timeout_at(deadline.into(), acks_rx.recv()).await {
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
    for t in tasks {
        t.abort();
    }
    // Does the hub give the memory back once they are gone?
    if let Some(pid) = hub_pid {
        tokio::time::sleep(Duration::from_secs(1)).await;
        report.after_close_kib = settled_rss_kib(pid).await.map(|(kib, _)| kib);
    }
    Ok(report)
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
