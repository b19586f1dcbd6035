//! A neuron that keeps itself connected: the piece a server app embeds.
//!
//! [`start`] loads the last-known-good bundles from disk (so the app starts with its last
//! config even when the hub is down), then in the background registers, opens the push
//! channel, catches up, applies and acks pushes (writing them to disk first), heartbeats,
//! answers operator commands, and reconnects with exponential backoff and jitter when
//! anything breaks. Events the app records are buffered and sent in batches with retry; when
//! the buffer is full the oldest are dropped and counted, so recording never blocks the app.

use chrono::Utc;
use cortex_core::analytics::{Event, EventBatch, EventKind};
use cortex_core::backoff::Backoff;
use cortex_core::federation::{
    Bundle, BundleKind, Command, FieldError, Fingerprints, Heartbeat, HubMessage, MigrationReport,
    Registration, Scope,
};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

use crate::{HubClient, NeuronKey, SdkError};

/// How a runner is set up.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The hub's base URL.
    pub hub: String,
    pub registration: Registration,
    pub key: NeuronKey,
    /// Folder for the last-known-good bundles (created if missing).
    pub cache_dir: PathBuf,
    /// Events held in memory while the hub is slow or away; past it the oldest are dropped.
    pub event_buffer: usize,
    /// Most events sent in one batch.
    pub batch_events: usize,
    /// How long an event may wait for a batch to fill.
    pub flush_every: Duration,
    /// Longest pause between reconnect attempts.
    pub max_backoff: Duration,
}

impl RunnerConfig {
    /// Defaults for everything but the hub, the registration, the key and the cache folder.
    pub fn new(hub: &str, registration: Registration, key: NeuronKey, cache_dir: &Path) -> Self {
        Self {
            hub: hub.to_string(),
            registration,
            key,
            cache_dir: cache_dir.to_path_buf(),
            event_buffer: 100_000,
            batch_events: 1_000,
            flush_every: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// The bundles a neuron holds: the latest of each kind per scope.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub bundles: Vec<Bundle>,
    /// The hub's override of this neuron's config, if any (see
    /// `cortex_core::federation::overrides`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_override: Option<cortex_core::federation::overrides::OverrideOrder>,
    /// The config under the override, kept up to date with the bundles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    overridden: Option<Bundle>,
}

impl Snapshot {
    /// The highest revision held per scope (what `hello` says).
    pub fn revisions(&self) -> BTreeMap<Scope, u64> {
        let mut out = BTreeMap::new();
        for b in &self.bundles {
            let r = out.entry(b.scope.clone()).or_insert(0);
            *r = (*r).max(b.revision);
        }
        out
    }

    /// The bundle of `kind` in force: the neuron's own scope overrides a tag, which overrides
    /// global (among tags, the newest push wins); for `config`, the hub's override of this
    /// neuron comes first until it expires.
    pub fn effective(&self, kind: BundleKind) -> Option<&Bundle> {
        if kind == BundleKind::Config {
            if let (Some(order), Some(b)) = (&self.config_override, &self.overridden) {
                if !order.is_expired(chrono::Utc::now()) {
                    return Some(b);
                }
            }
        }
        self.pushed(kind)
    }

    /// The pushed bundle of `kind` in force, without the override.
    pub fn pushed(&self, kind: BundleKind) -> Option<&Bundle> {
        let rank = |s: &Scope| match s {
            Scope::Global => 0,
            Scope::Tag(_) => 1,
            Scope::Neuron(_) => 2,
        };
        self.bundles
            .iter()
            .filter(|b| b.kind == kind)
            .max_by_key(|b| (rank(&b.scope), b.created_at))
    }

    /// Takes the hub's override of this neuron (`None`: it has none); true when it changed.
    pub fn set_override(
        &mut self,
        order: Option<cortex_core::federation::overrides::OverrideOrder>,
        id: &str,
    ) -> bool {
        if self.config_override == order {
            return false;
        }
        self.config_override = order;
        self.refresh_override(id);
        true
    }

    fn refresh_override(&mut self, id: &str) {
        self.overridden = self.config_override.as_ref().map(|o| {
            cortex_core::federation::overrides::overridden(o, self.pushed(BundleKind::Config), id)
        });
    }

    /// Keeps `bundle` if it is newer than what is held for its scope and kind.
    fn apply(&mut self, bundle: Bundle) -> bool {
        match self
            .bundles
            .iter_mut()
            .find(|b| b.scope == bundle.scope && b.kind == bundle.kind)
        {
            Some(held) if held.revision >= bundle.revision => false,
            Some(held) => {
                *held = bundle;
                true
            }
            None => {
                self.bundles.push(bundle);
                true
            }
        }
    }

    /// The layout rule set in force, compiled for local evaluation with `cortex-core`
    /// (the `layoutRules` bundle holds `{"rules": [...]}`).
    pub fn layout_plan(&self) -> Result<Option<cortex_core::resolve::Plan>, String> {
        let Some(b) = self.effective(BundleKind::LayoutRules) else {
            return Ok(None);
        };
        let rules = b
            .body
            .get("rules")
            .cloned()
            .unwrap_or_else(|| serde_json::json!([]));
        let rules: Vec<cortex_core::mutation::LayoutMutation> = serde_json::from_value(rules)
            .map_err(|e| format!("layoutRules revision {}: {e}", b.revision))?;
        Ok(Some(cortex_core::resolve::Plan::compile(rules)))
    }
}

/// Where the runner is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Not connected (starting, or backing off after `reason`).
    Offline { reason: String },
    /// Registered but waiting for an admin to approve.
    Pending,
    /// The push channel is open and caught up.
    Online,
    /// An operator retired this neuron: the runner has stopped, does not register again and
    /// sends no more events (its tokens are void; events not yet sent are dropped). Finish
    /// the work in hand and exit; to come back, an admin reactivates it or an operator
    /// removes it from the registry, and the app starts again.
    Retired { reason: String },
}

/// What the app calls on a hot-reload command: re-apply this snapshot, or say why not.
pub type ReloadHook = Arc<dyn Fn(&Snapshot) -> Result<String, String> + Send + Sync>;

/// What the app gives the runner to answer the hub's orders.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Answers hot-reload commands (`None`: always done).
    pub reload: Option<ReloadHook>,
    /// Runs update orders: migrations and the switch to a new version (`None`: every order
    /// is answered with a failure, and the rollout pauses).
    pub updater: Option<Arc<dyn crate::update::Updater>>,
}

struct Shared {
    events: Mutex<VecDeque<Event>>,
    dropped: AtomicU64,
    sent: AtomicU64,
    wake: Notify,
    token: watch::Sender<Option<String>>,
    heartbeat: Mutex<Heartbeat>,
    /// Sends a heartbeat now rather than at the next tick (a migration's progress).
    beat_now: Notify,
    /// An operator retired this neuron: events are dropped, nothing is sent any more.
    retired: std::sync::atomic::AtomicBool,
    updates: Arc<crate::update::Updates>,
}

impl Shared {
    /// Stops sending: the events held are dropped (counted), the token forgotten.
    fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
        let mut q = self.events.lock().unwrap_or_else(|p| p.into_inner());
        self.dropped.fetch_add(q.len() as u64, Ordering::Relaxed);
        q.clear();
        drop(q);
        self.token.send_replace(None);
        self.wake.notify_one();
    }
}

/// The app's handle on a running neuron. Cheap to clone.
#[derive(Clone)]
pub struct NeuronHandle {
    snapshot: watch::Receiver<Arc<Snapshot>>,
    connection: watch::Receiver<Connection>,
    shared: Arc<Shared>,
    buffer: usize,
    tasks: Arc<Vec<tokio::task::AbortHandle>>,
}

impl NeuronHandle {
    /// The bundles held now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// Watches the bundles (changes on every applied push).
    pub fn watch_snapshot(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshot.clone()
    }

    /// Watches the connection.
    pub fn watch_connection(&self) -> watch::Receiver<Connection> {
        self.connection.clone()
    }

    /// Records an event; never waits. When the buffer is full the oldest event is dropped;
    /// once the neuron is retired, every event is.
    pub fn record(&self, event: Event) {
        if self.retired() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut q = self.shared.events.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= self.buffer {
            q.pop_front();
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
        q.push_back(event);
        drop(q);
        self.shared.wake.notify_one();
    }

    /// Records how long the neuron took to answer a request (a `latency` event): the hub's
    /// automatic rollback compares the mean before and after a change. Durations over an hour
    /// are recorded as an hour.
    pub fn record_latency(&self, took: Duration) {
        let ms = (took.as_secs_f64() * 1000.0).min(cortex_core::analytics::MAX_LATENCY_MS);
        let mut e = Event::new(EventKind::Latency, Utc::now());
        e.value = Some(ms);
        self.record(e);
    }

    /// Whether an operator retired this neuron (see [`Connection::Retired`]): the runner has
    /// stopped, and events are no longer sent.
    pub fn retired(&self) -> bool {
        self.shared.retired.load(Ordering::Relaxed)
    }

    /// Events dropped because the buffer was full (or the neuron was retired).
    pub fn dropped_events(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Events the hub has acknowledged.
    pub fn sent_events(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// Events waiting to be sent.
    pub fn buffered_events(&self) -> usize {
        self.shared
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// What the next heartbeats report (health, checks, load). The version, each
    /// fingerprint and the last migration are kept when `beat` leaves them out (the hub keeps them too: a
    /// fingerprint once reported cannot be withdrawn, only replaced). Fingerprints or a
    /// migration the hub would refuse are left out (and logged), so a heartbeat is never
    /// refused for them.
    pub fn set_heartbeat(&self, mut beat: Heartbeat) {
        if let Err(e) = beat.fingerprints.validate("fingerprints") {
            tracing::warn!(error = %e, "fingerprints left out of the heartbeat");
            beat.fingerprints = Fingerprints::default();
        }
        if let Some(Err(e)) = beat.migration.as_ref().map(MigrationReport::validate) {
            tracing::warn!(error = %e, "migration report left out of the heartbeat");
            beat.migration = None;
        }
        let mut held = self
            .shared
            .heartbeat
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        beat.version = beat.version.or(held.version.take());
        beat.fingerprints.schema = beat.fingerprints.schema.or(held.fingerprints.schema.take());
        beat.fingerprints.api = beat.fingerprints.api.or(held.fingerprints.api.take());
        beat.migration = beat
            .migration
            .map(MigrationReport::tidy)
            .or(held.migration.take());
        *held = beat;
    }

    /// Reports a migration's progress (running, then succeeded or failed, with the end of
    /// its output): sent on a heartbeat at once, shown on the hub's Releases page. A
    /// malformed id is refused here, before the hub would refuse the heartbeat.
    pub fn report_migration(&self, report: MigrationReport) -> Result<(), FieldError> {
        report.validate()?;
        self.shared
            .heartbeat
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .migration = Some(report.tidy());
        self.shared.beat_now.notify_one();
        Ok(())
    }

    /// Reports new fingerprints of the neuron's schema and API (e.g. after a migration
    /// changed its tables), compared by the hub with its kind's expected release; one left
    /// out keeps its last value. Compute them with [`cortex_core::federation::fingerprint`]
    /// over the document itself. Malformed ones are refused here.
    pub fn set_fingerprints(&self, fingerprints: Fingerprints) -> Result<(), FieldError> {
        fingerprints.validate("fingerprints")?;
        let mut held = self
            .shared
            .heartbeat
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if fingerprints.schema.is_some() {
            held.fingerprints.schema = fingerprints.schema;
        }
        if fingerprints.api.is_some() {
            held.fingerprints.api = fingerprints.api;
        }
        drop(held);
        self.shared.beat_now.notify_one();
        Ok(())
    }

    /// Stops the background tasks.
    pub fn stop(&self) {
        for t in self.tasks.iter() {
            t.abort();
        }
    }
}

const CACHE_FILE: &str = "bundles.json";

fn load_cache(dir: &Path) -> Snapshot {
    std::fs::read(dir.join(CACHE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Writes the snapshot atomically: a crash leaves the old file or the new one, never half.
fn save_cache(dir: &Path, snapshot: &Snapshot) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{CACHE_FILE}.tmp"));
    let bytes = serde_json::to_vec(snapshot).map_err(std::io::Error::other)?;
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(CACHE_FILE))
}

/// Starts a neuron in the background. The snapshot is the last-known-good one from disk
/// until the hub is reached. `on_reload` answers hot-reload commands (`None`: always done);
/// the neuron cannot run update orders (see [`start_with`]).
pub fn start(cfg: RunnerConfig, on_reload: Option<ReloadHook>) -> Result<NeuronHandle, SdkError> {
    start_with(
        cfg,
        Hooks {
            reload: on_reload,
            updater: None,
        },
    )
}

/// [`start`] with every hook: hot reloads and updates.
pub fn start_with(cfg: RunnerConfig, hooks: Hooks) -> Result<NeuronHandle, SdkError> {
    let client = HubClient::new(&cfg.hub, None)?;
    let cached = load_cache(&cfg.cache_dir);
    let (snapshot_tx, snapshot) = watch::channel(Arc::new(cached));
    let (connection_tx, connection) = watch::channel(Connection::Offline {
        reason: "starting".into(),
    });
    let shared = Arc::new(Shared {
        events: Mutex::new(VecDeque::new()),
        dropped: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        wake: Notify::new(),
        token: watch::channel(None).0,
        heartbeat: Mutex::new(Heartbeat {
            version: Some(cfg.registration.version.clone()),
            fingerprints: cfg.registration.fingerprints.clone(),
            ..Heartbeat::default()
        }),
        beat_now: Notify::new(),
        retired: std::sync::atomic::AtomicBool::new(false),
        updates: Arc::new(crate::update::Updates::new()),
    });
    let sessions = tokio::spawn(run_sessions(
        client.clone(),
        cfg.clone(),
        snapshot_tx,
        connection_tx,
        shared.clone(),
        hooks,
    ));
    let sender = tokio::spawn(send_events(client, cfg.clone(), shared.clone()));
    Ok(NeuronHandle {
        snapshot,
        connection,
        shared,
        buffer: cfg.event_buffer.max(1),
        tasks: Arc::new(vec![sessions.abort_handle(), sender.abort_handle()]),
    })
}

/// `wait` with up to half of it added at random, so neurons that failed together do not
/// all retry at the same moment.
pub(crate) fn jittered(wait: Duration) -> Duration {
    use rand::Rng as _;
    wait.mul_f64(1.0 + rand::thread_rng().gen_range(0.0..0.5))
}

async fn run_sessions(
    client: HubClient,
    cfg: RunnerConfig,
    snapshot: watch::Sender<Arc<Snapshot>>,
    connection: watch::Sender<Connection>,
    shared: Arc<Shared>,
    hooks: Hooks,
) {
    let mut backoff = Backoff::new(Duration::from_millis(200), cfg.max_backoff);
    loop {
        let outcome = session(&client, &cfg, &snapshot, &connection, &shared, &hooks).await;
        let reason = match outcome {
            Ok(Session::Pending(wait)) => {
                connection.send_replace(Connection::Pending);
                backoff.reset();
                tokio::time::sleep(wait).await;
                continue;
            }
            Ok(Session::Closed) => {
                backoff.reset();
                "the hub closed the channel".to_string()
            }
            Ok(Session::Retired(reason)) => {
                tracing::warn!(%reason, "this neuron was retired; it stops and does not register again");
                shared.retire();
                connection.send_replace(Connection::Retired { reason });
                return;
            }
            Err(e) => e.to_string(),
        };
        connection.send_replace(Connection::Offline { reason });
        tokio::time::sleep(jittered(backoff.next_wait())).await;
    }
}

enum Session {
    Pending(Duration),
    Closed,
    Retired(String),
}

async fn session(
    client: &HubClient,
    cfg: &RunnerConfig,
    snapshot: &watch::Sender<Arc<Snapshot>>,
    connection: &watch::Sender<Connection>,
    shared: &Arc<Shared>,
    hooks: &Hooks,
) -> Result<Session, SdkError> {
    let on_reload = &hooks.reload;
    // Registers with the version and fingerprints it reports now (an update or the app may
    // have changed them since start).
    let registration = {
        let beat = shared.heartbeat.lock().unwrap_or_else(|p| p.into_inner());
        Registration {
            fingerprints: beat.fingerprints.clone(),
            version: beat
                .version
                .clone()
                .unwrap_or_else(|| cfg.registration.version.clone()),
            ..cfg.registration.clone()
        }
    };
    let joined = client.register(&registration, &cfg.key).await?;
    let every = Duration::from_secs(u64::from(joined.heartbeat_seconds.max(1)));
    let Some(token) = joined.token else {
        return Ok(Session::Pending(every));
    };
    shared.token.send_replace(Some(token.clone()));
    let held = snapshot.borrow().revisions();
    let mut channel = client.connect(&token, &held).await?;
    let mut beat = tokio::time::interval(every);
    beat.tick().await;
    // A command waiting for the catch-up it asked for.
    let mut awaiting: Option<(String, Command)> = None;
    // Whether the hub restated this neuron's override since the last `hello`: one it did not
    // restate by the `synced` answering the last `hello` outstanding is gone.
    let mut restated = false;
    // `hello`s not answered yet by `synced` (connecting sends the first).
    let mut catch_ups: u32 = 1;
    // What the last session could not say about updates.
    send_update_reports(&mut channel, &shared.updates).await?;
    loop {
        tokio::select! {
            msg = channel.next() => {
                let Some(msg) = msg else { return Ok(Session::Closed) };
                match msg? {
                    HubMessage::Push { bundle } => {
                        let (scope, revision) = (bundle.scope.clone(), bundle.revision);
                        let mut next = (**snapshot.borrow()).clone();
                        if next.apply(bundle) {
                            next.refresh_override(&cfg.registration.id);
                            // On disk before it is acked: an acked bundle survives a restart.
                            save_cache(&cfg.cache_dir, &next)
                                .map_err(|e| SdkError::Channel(format!("cannot write the config cache: {e}")))?;
                            snapshot.send_replace(Arc::new(next));
                        }
                        channel.ack(&scope, revision).await?;
                    }
                    HubMessage::Synced { sent, override_unread } => {
                        catch_ups = catch_ups.saturating_sub(1);
                        let dropped = catch_ups == 0 && !restated && !override_unread;
                        if catch_ups == 0 {
                            restated = false;
                        }
                        if dropped && snapshot.borrow().config_override.is_some() {
                            let mut next = (**snapshot.borrow()).clone();
                            next.set_override(None, &cfg.registration.id);
                            save_cache(&cfg.cache_dir, &next)
                                .map_err(|e| SdkError::Channel(format!("cannot write the config cache: {e}")))?;
                            snapshot.send_replace(Arc::new(next));
                        }
                        connection.send_replace(Connection::Online);
                        if let Some((id, command)) = awaiting.take() {
                            let (ok, message) = finish(command, sent, &snapshot.borrow(), on_reload);
                            channel.command_result(&id, ok, &message).await?;
                        }
                    }
                    HubMessage::Command { id, command } => {
                        // Hot reload re-fetches everything; sync asks only for what is missing.
                        let held = match command {
                            Command::HotReload => BTreeMap::new(),
                            Command::Sync => snapshot.borrow().revisions(),
                        };
                        awaiting = Some((id, command));
                        restated = false;
                        catch_ups += 1;
                        channel.hello(&held).await?;
                    }
                    HubMessage::Token { token, .. } => {
                        shared.token.send_replace(Some(token));
                    }
                    HubMessage::Update { order } => {
                        if shared.updates.take(&order, hooks.updater.is_some()) {
                            if let Some(updater) = hooks.updater.clone() {
                                tokio::spawn(run_update(order, updater, shared.clone()));
                            }
                        }
                    }
                    HubMessage::Override { order } => {
                        restated = true;
                        let mut next = (**snapshot.borrow()).clone();
                        if next.set_override(order, &cfg.registration.id) {
                            save_cache(&cfg.cache_dir, &next)
                                .map_err(|e| SdkError::Channel(format!("cannot write the config cache: {e}")))?;
                            snapshot.send_replace(Arc::new(next));
                        }
                    }
                    HubMessage::Welcome { .. } | HubMessage::EventsAck(_) | HubMessage::Unknown => {}
                    HubMessage::Error { message } => {
                        tracing::warn!(%message, "the hub refused a message");
                    }
                    HubMessage::Retire { reason } => {
                        return Ok(Session::Retired(reason));
                    }
                    HubMessage::Rejoin { reason } => {
                        // Removed, retired, or lost with a replaced database: register again
                        // (the session loop backs off) and catch up on what was missed.
                        tracing::warn!(%reason, "the hub no longer holds this neuron as joined; registering again");
                        return Ok(Session::Closed);
                    }
                }
            }
            _ = beat.tick() => {
                let b = shared.heartbeat.lock().unwrap_or_else(|p| p.into_inner()).clone();
                channel.heartbeat(&b).await?;
            }
            _ = shared.beat_now.notified() => {
                let b = shared.heartbeat.lock().unwrap_or_else(|p| p.into_inner()).clone();
                channel.heartbeat(&b).await?;
            }
            _ = shared.updates.changed.notified() => {
                send_update_reports(&mut channel, &shared.updates).await?;
            }
        }
    }
}

/// Sends the update reports not yet sent, oldest first; one that could not be sent stays
/// for the next session.
async fn send_update_reports(
    channel: &mut crate::channel::Channel,
    updates: &crate::update::Updates,
) -> Result<(), SdkError> {
    while let Some(report) = updates.next_unsent() {
        channel.update_status(&report).await?;
        updates.sent();
    }
    Ok(())
}

/// Runs an update order in the background, then the order queued meanwhile, if any: each
/// migration goes on the next heartbeat, and the new version is reported (and registered
/// with, after a reconnect) once switched.
async fn run_update(
    mut order: cortex_core::federation::UpdateOrder,
    updater: Arc<dyn crate::update::Updater>,
    shared: Arc<Shared>,
) {
    let beat = |f: &dyn Fn(&mut Heartbeat)| {
        f(&mut shared.heartbeat.lock().unwrap_or_else(|p| p.into_inner()));
        shared.beat_now.notify_one();
    };
    loop {
        crate::update::run(
            order,
            updater.clone(),
            shared.updates.clone(),
            |m| beat(&|h| h.migration = Some(m.clone().tidy())),
            |v| beat(&|h| h.version = Some(v.to_string())),
        )
        .await;
        match shared.updates.start_queued() {
            Some(next) => order = next,
            None => return,
        }
    }
}

fn finish(
    command: Command,
    sent: u32,
    snapshot: &Snapshot,
    on_reload: &Option<ReloadHook>,
) -> (bool, String) {
    match command {
        Command::Sync => (true, format!("synced: {sent} bundle(s) received")),
        Command::HotReload => {
            if let Err(e) = snapshot.layout_plan() {
                return (false, format!("layout rules do not compile: {e}"));
            }
            match on_reload {
                None => (
                    true,
                    format!("re-applied {} bundle(s)", snapshot.bundles.len()),
                ),
                Some(hook) => match hook(snapshot) {
                    Ok(m) => (true, m),
                    Err(m) => (false, m),
                },
            }
        }
    }
}

async fn send_events(client: HubClient, cfg: RunnerConfig, shared: Arc<Shared>) {
    let boot = Utc::now().timestamp_millis();
    let mut seq: u64 = 0;
    let mut token = shared.token.subscribe();
    loop {
        if shared.retired.load(Ordering::Relaxed) {
            return;
        }
        // Wait for events (or the flush interval), then take up to one batch.
        if shared
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
            < cfg.batch_events
        {
            let _ = tokio::time::timeout(cfg.flush_every, shared.wake.notified()).await;
        }
        let events: Vec<Event> = {
            let mut q = shared.events.lock().unwrap_or_else(|p| p.into_inner());
            let n = q.len().min(cfg.batch_events.max(1));
            q.drain(..n).collect()
        };
        if events.is_empty() {
            continue;
        }
        seq += 1;
        let batch = EventBatch {
            // Same id on every retry: the hub counts it once.
            batch_id: format!("{boot}-{seq}"),
            events,
            receipt: None,
        };
        let mut backoff = Backoff::new(Duration::from_millis(200), cfg.max_backoff);
        loop {
            if shared.retired.load(Ordering::Relaxed) {
                return;
            }
            let current = token.borrow_and_update().clone();
            let Some(t) = current else {
                let _ = token.changed().await;
                continue;
            };
            match client.stream_analytics(&t, &batch).await {
                Ok(ack) => {
                    shared
                        .sent
                        .fetch_add(u64::from(ack.events), Ordering::Relaxed);
                    break;
                }
                // A batch the hub will never take: drop it rather than retry forever.
                Err(SdkError::Api {
                    status: 400 | 413,
                    body,
                }) => {
                    tracing::warn!(reason = %body.error.message, "event batch dropped");
                    break;
                }
                Err(e) => {
                    // The hub says it is busy: about a second, whatever the backoff has reached.
                    let busy = matches!(
                        e,
                        SdkError::Api {
                            status: 429 | 503,
                            ..
                        }
                    );
                    let wait = backoff.next_wait();
                    let wait = if busy { Duration::from_secs(1) } else { wait };
                    tokio::time::sleep(jittered(wait)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(scope: &str, revision: u64, kind: BundleKind, body: serde_json::Value) -> Bundle {
        Bundle {
            scope: scope.parse().unwrap(),
            revision,
            kind,
            body,
            created_by: "t".into(),
            created_at: chrono::DateTime::from_timestamp(revision as i64, 0).unwrap(),
            audience: Default::default(),
            base_revision: None,
            overwrote: None,
        }
    }

    #[test]
    fn the_neuron_scope_overrides_tags_which_override_global() {
        let mut s = Snapshot::default();
        assert!(s.apply(bundle(
            "global",
            2,
            BundleKind::Config,
            serde_json::json!({"a": 1})
        )));
        assert!(
            !s.apply(bundle(
                "global",
                1,
                BundleKind::Config,
                serde_json::json!({"a": 0})
            )),
            "older is ignored"
        );
        assert_eq!(s.effective(BundleKind::Config).unwrap().body["a"], 1);
        s.apply(bundle(
            "tag:eu",
            1,
            BundleKind::Config,
            serde_json::json!({"a": 2}),
        ));
        assert_eq!(s.effective(BundleKind::Config).unwrap().body["a"], 2);
        s.apply(bundle(
            "neuron:n1",
            1,
            BundleKind::Config,
            serde_json::json!({"a": 3}),
        ));
        s.apply(bundle(
            "global",
            3,
            BundleKind::Config,
            serde_json::json!({"a": 4}),
        ));
        assert_eq!(s.effective(BundleKind::Config).unwrap().body["a"], 3);
        assert_eq!(s.revisions()[&Scope::Global], 3);
        assert!(s.effective(BundleKind::Offers).is_none());
    }

    #[test]
    fn an_override_wins_over_pushes_until_it_is_cleared_or_expires() {
        use cortex_core::federation::overrides::OverrideOrder;
        let mut s = Snapshot::default();
        s.apply(bundle(
            "global",
            1,
            BundleKind::Config,
            serde_json::json!({"a": 1, "b": 1}),
        ));
        let order = OverrideOrder {
            pinned: None,
            keys: serde_json::json!({"b": 9}).as_object().unwrap().clone(),
            expires_at: None,
            set_by: "user:ann".into(),
        };
        assert!(s.set_override(Some(order.clone()), "n1"));
        assert!(
            !s.set_override(Some(order.clone()), "n1"),
            "the same order changes nothing"
        );
        assert_eq!(
            s.effective(BundleKind::Config).unwrap().body,
            serde_json::json!({"a": 1, "b": 9})
        );
        // A newer push is the base the keys go over; the pushed config is still there.
        s.apply(bundle(
            "global",
            2,
            BundleKind::Config,
            serde_json::json!({"a": 2, "b": 2}),
        ));
        s.refresh_override("n1");
        assert_eq!(
            s.effective(BundleKind::Config).unwrap().body,
            serde_json::json!({"a": 2, "b": 9})
        );
        assert_eq!(s.pushed(BundleKind::Config).unwrap().body["b"], 2);
        // Expired: dropped by the neuron itself, even before the hub says so.
        let expired = OverrideOrder {
            expires_at: Some(chrono::Utc::now() - chrono::Duration::seconds(1)),
            ..order
        };
        s.set_override(Some(expired), "n1");
        assert_eq!(s.effective(BundleKind::Config).unwrap().body["b"], 2);
        assert!(s.set_override(None, "n1"));
        assert_eq!(s.effective(BundleKind::Config).unwrap().body["b"], 2);
    }

    #[test]
    fn the_cache_round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_cache(dir.path()), Snapshot::default(), "no cache yet");
        let mut s = Snapshot::default();
        s.apply(bundle(
            "global",
            1,
            BundleKind::Offers,
            serde_json::json!({"x": true}),
        ));
        save_cache(dir.path(), &s).unwrap();
        assert_eq!(load_cache(dir.path()), s);
        assert!(!dir.path().join("bundles.json.tmp").exists());
    }

    #[test]
    fn a_hot_reload_fails_with_the_reason_when_rules_do_not_compile() {
        let mut s = Snapshot::default();
        s.apply(bundle(
            "global",
            1,
            BundleKind::LayoutRules,
            serde_json::json!({"rules": [{"id": 5}]}),
        ));
        let (ok, message) = finish(Command::HotReload, 1, &s, &None);
        assert!(!ok);
        assert!(message.contains("layout rules"), "{message}");
        let hook: ReloadHook = Arc::new(|_| Err("app refused".into()));
        let (ok, message) = finish(Command::HotReload, 0, &Snapshot::default(), &Some(hook));
        assert_eq!((ok, message.as_str()), (false, "app refused"));
    }
}
