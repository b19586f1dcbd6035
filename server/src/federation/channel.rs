//! The push channel: one WebSocket per neuron at `/api/federation/ws`. The hub pushes
//! bundles by scope; neurons ack each revision; a neuron that reconnects says what it holds
//! and gets what it missed. Each connection has a bounded queue: a neuron that cannot keep up
//! is disconnected (it reconnects and catches up) instead of slowing anyone else down.

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;
use cortex_core::federation::{Audience, Bundle, CommandOutcome, HubMessage, NeuronMessage, Scope};
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::Services;

pub const WS_PATH: &str = "/api/federation/ws";
/// Messages queued per connection before it counts as too slow.
pub const QUEUE: usize = 256;
/// Largest message a neuron may send (an event batch is the largest kind).
pub const MAX_MESSAGE_BYTES: usize = cortex_core::analytics::MAX_BATCH_BYTES + 1024;
/// Initial read buffer of a connection (it grows for larger messages).
const READ_BUFFER_BYTES: usize = 512;
/// Longest reason a WebSocket close frame carries (the protocol allows 123 bytes).
const MAX_CLOSE_REASON: usize = 120;

struct Conn {
    serial: u64,
    tags: Vec<String>,
    /// A browser neuron: it gets only the bundles [`Bundle::reaches_browser`] allows.
    browser: bool,
    tx: mpsc::Sender<Utf8Bytes>,
}

/// Who is connected, by neuron id.
#[derive(Clone, Default)]
pub struct Channels {
    conns: Arc<Mutex<HashMap<String, Conn>>>,
    serial: Arc<AtomicU64>,
}

/// What a push reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Connected neurons the bundle was queued for.
    pub sent: u64,
    /// Connected neurons dropped because their queue was full (they will catch up).
    pub dropped: u64,
}

impl Channels {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Conn>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection; an older one of the same neuron is replaced (and closes).
    fn attach(
        &self,
        id: &str,
        tags: Vec<String>,
        browser: bool,
        tx: mpsc::Sender<Utf8Bytes>,
    ) -> u64 {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(
            id.to_string(),
            Conn {
                serial,
                tags,
                browser,
                tx,
            },
        );
        serial
    }

    fn detach(&self, id: &str, serial: u64) {
        let mut conns = self.lock();
        if conns.get(id).is_some_and(|c| c.serial == serial) {
            conns.remove(id);
        }
    }

    /// How many neurons are connected.
    pub fn connected(&self) -> usize {
        self.lock().len()
    }

    /// Whether this neuron has a live socket.
    pub fn is_connected(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// Disconnects a neuron (removed, retired): its socket closes.
    pub fn kick(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Queues a bundle for every connected neuron in its scope, without waiting for anyone.
    pub fn deliver(&self, bundle: &Bundle) -> Delivery {
        let ids: Vec<String> = self
            .lock()
            .iter()
            .filter(|(id, c)| bundle.audience.reaches(&bundle.scope, id, &c.tags))
            .filter(|(id, c)| !c.browser || bundle.reaches_browser(id))
            .map(|(id, _)| id.clone())
            .collect();
        self.send_to(
            &ids,
            &HubMessage::Push {
                bundle: bundle.clone(),
            },
        )
    }

    /// The connected neurons a push to `scope` with `audience` reaches.
    pub fn connected_in(&self, scope: &Scope, audience: &Audience) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(id, c)| audience.reaches(scope, id, &c.tags))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Queues `msg` for each of `ids` still connected, without waiting for anyone; a neuron
    /// whose queue is full is disconnected (it catches up when it reconnects).
    pub fn send_to(&self, ids: &[String], msg: &HubMessage) -> Delivery {
        let mut d = Delivery::default();
        // Serialised once; every queue holds a reference to the same bytes.
        let frame = encode(msg);
        let mut conns = self.lock();
        for id in ids {
            let Some(c) = conns.get(id) else { continue };
            if c.tx.try_send(frame.clone()).is_ok() {
                d.sent += 1;
            } else {
                tracing::warn!(neuron = %id, "neuron too slow for the push channel; disconnected, it will catch up on reconnect");
                conns.remove(id);
                d.dropped += 1;
            }
        }
        d
    }
}

#[derive(serde::Deserialize)]
pub struct WsQuery {
    /// A one-time ticket (`POST /api/federation/ws-ticket`), for clients that cannot set
    /// headers on a WebSocket (browsers).
    ticket: Option<String>,
    /// No longer taken: a long-lived token in a URL ends up in logs and histories.
    token: Option<String>,
}

/// `GET /api/federation/ws`: authenticates with the neuron token (`Authorization: Bearer`)
/// or a one-time ticket (`?ticket=`), checks that the neuron is still in the fleet and, for a
/// browser neuron, that the page's `Origin` is one of its publishable key's; then upgrades.
pub async fn upgrade(
    State(services): State<Services>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    Query(q): Query<WsQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if q.token.is_some() {
        return Err(ApiError::bad_request(
            "`?token=` is not taken (a token in a URL ends up in logs): send `Authorization: Bearer ctn_…`, or get a one-time ticket from POST /api/federation/ws-ticket and connect with `?ticket=`",
        ));
    }
    let (said, ticket) = match (super::http::bearer(&headers), q.ticket) {
        (Ok(token), _) => (
            super::http::neuron_of(&services.federation, &extensions, Ok(token), WS_PATH).await?,
            None,
        ),
        (Err(_), Some(ticket)) => {
            let read = services.federation.read_ws_ticket(ticket.trim());
            if let Err(e) = &read {
                let source = super::http::source(&extensions);
                services
                    .federation
                    .note_refusal(&source, None, WS_PATH, e)
                    .await;
            }
            let (said, ticket) = read?;
            (said, Some(ticket))
        }
        (Err(e), None) => {
            return Err(ApiError::new(
                cortex_core::ErrorCode::Unauthorized,
                format!(
                    "{} or `?ticket=` (from POST /api/federation/ws-ticket)",
                    e.message
                ),
            ))
        }
    };
    let id = said.id;
    let neuron = services.store.neuron(&id).await?.ok_or_else(|| {
        ApiError::new(
            cortex_core::ErrorCode::Forbidden,
            format!("neuron `{id}` was removed; register again"),
        )
    })?;
    if !neuron.status.is_joined() {
        return Err(ApiError::new(
            cortex_core::ErrorCode::Forbidden,
            format!("neuron `{id}` is {}; register again", neuron.status),
        ));
    }
    if neuron.is_browser() {
        // As on the HTTP routes: a browser neuron's socket comes from its key's origins.
        services
            .federation
            .check_key_origin(
                &neuron.public_key,
                headers
                    .get(axum::http::header::ORIGIN)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default(),
            )
            .await?;
    }
    // The ticket is used up only once everything else holds.
    if let Some(ticket) = ticket {
        if !services.federation.use_ws_ticket(ticket) {
            return Err(ApiError::new(
                cortex_core::ErrorCode::Unauthorized,
                "WebSocket ticket was used meanwhile: get a new one from POST /api/federation/ws-ticket",
            ));
        }
    }
    let ws = ws.map_err(|e| {
        ApiError::bad_request(format!(
            "this is a WebSocket endpoint: connect with `Upgrade: websocket` ({e})"
        ))
    })?;
    Ok(ws
        .max_message_size(MAX_MESSAGE_BYTES)
        // Small buffers that grow on demand: an idle neuron should cost the hub a few KiB,
        // not the 128 KiB read buffer a WebSocket gets by default.
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .on_upgrade(move |socket| serve(services, Peer::of(neuron), socket)))
}

/// What a channel keeps of its neuron while it is open: only what it speaks with. The full
/// row (checks, load, probe, key …) is dropped at the upgrade, as it costs every idle
/// channel several hundred bytes.
struct Peer {
    id: String,
    tags: Vec<String>,
    browser: bool,
    status: cortex_core::federation::NeuronStatus,
}

impl Peer {
    fn of(neuron: cortex_core::federation::Neuron) -> Self {
        Self {
            browser: neuron.is_browser(),
            status: neuron.status,
            id: neuron.id.into_string(),
            tags: neuron.tags,
        }
    }
}

async fn serve(services: Services, neuron: Peer, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(QUEUE);
    let channels = services.federation.channels().clone();
    let serial = channels.attach(&neuron.id, neuron.tags.clone(), neuron.browser, tx.clone());
    tracing::info!(neuron = %neuron.id, "push channel open");
    // Why the hub closes this socket, if it does (sent in the close frame).
    let close: Arc<Mutex<Option<(u16, String)>>> = Arc::default();
    let close_reason = close.clone();
    let mut writer = tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            if sink.send(Message::Text(text)).await.is_err() {
                return;
            }
        }
        // Every sender is gone: the reader stopped, or the registry let go (kicked, replaced).
        let reason = close_reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let _ = sink.send(Message::Close(reason.map(close_frame))).await;
    });
    let _ = tx
        .send(encode(&HubMessage::Welcome {
            neuron: neuron.id.clone(),
            status: neuron.status,
            heartbeat_seconds: services
                .federation
                .settings()
                .heartbeat_interval
                .as_secs()
                .max(1) as u32,
        }))
        .await;
    // Only the registry keeps a sender; when it is replaced or kicked, the writer ends and
    // the socket closes.
    let reply = tx.downgrade();
    drop(tx);
    let set_close = |code: u16, reason: String| {
        *close.lock().unwrap_or_else(|p| p.into_inner()) = Some((code, reason));
    };
    let mut writer_done = false;
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            _ = &mut writer => {
                writer_done = true;
                break;
            }
        };
        let text = match frame {
            None | Some(Ok(Message::Close(_))) => break,
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Binary(_))) => {
                set_close(
                    1003,
                    "binary frames are not spoken here: send JSON text".into(),
                );
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                // Oversized or broken frames: this socket only.
                set_close(1009, format!("bad frame: {e}"));
                break;
            }
        };
        let Some(tx) = reply.upgrade() else { break };
        let msg = match serde_json::from_str::<NeuronMessage>(&text) {
            Ok(msg) => msg,
            Err(e) => {
                metrics::counter!("cortex_channel_malformed_total").increment(1);
                tracing::warn!(neuron = %neuron.id, error = %e, "malformed message; closing this socket");
                set_close(1007, format!("not a neuron message: {e}"));
                break;
            }
        };
        // Boxed: the handler's state lives only while a message is handled, so an idle
        // connection does not carry it.
        if let Some(a) = Box::pin(handle(&services, &neuron, msg, &tx)).await {
            let rejoin = matches!(a, HubMessage::Rejoin { .. } | HubMessage::Retire { .. });
            if tx.send(encode(&a)).await.is_err() {
                break;
            }
            if rejoin {
                set_close(4403, "not joined: register again".into());
                // The registry's sender goes too, so the writer flushes, closes and ends.
                channels.detach(&neuron.id, serial);
                break;
            }
        }
    }
    channels.detach(&neuron.id, serial);
    if !writer_done {
        // The writer flushes what is queued, sends the close frame and ends.
        if tokio::time::timeout(std::time::Duration::from_secs(2), &mut writer)
            .await
            .is_err()
        {
            writer.abort();
        }
    }
    tracing::info!(neuron = %neuron.id, "push channel closed");
}

/// A message as the JSON text frame it travels in.
fn encode(msg: &HubMessage) -> Utf8Bytes {
    match serde_json::to_string(msg) {
        Ok(text) => text.into(),
        Err(e) => {
            tracing::error!(error = %e, "could not encode a hub message");
            r#"{"type":"error","message":"the hub could not encode a message"}"#.into()
        }
    }
}

fn close_frame((code, mut reason): (u16, String)) -> axum::extract::ws::CloseFrame {
    if reason.len() > MAX_CLOSE_REASON {
        let mut cut = MAX_CLOSE_REASON;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
    }
    axum::extract::ws::CloseFrame {
        code,
        reason: reason.into(),
    }
}

async fn handle(
    services: &Services,
    neuron: &Peer,
    msg: NeuronMessage,
    tx: &mpsc::Sender<Utf8Bytes>,
) -> Option<HubMessage> {
    let err = |e: ApiError| Some(HubMessage::Error { message: e.message });
    match msg {
        NeuronMessage::Hello { revisions } => {
            // What a neuron says it holds counts as acked (an ack lost in a crash heals here).
            for (scope, revision) in &revisions {
                if *revision > 0 && scope.covers(&neuron.id, &neuron.tags) {
                    services.federation.record_ack(
                        &neuron.id,
                        scope.clone(),
                        *revision,
                        Utc::now(),
                    );
                }
            }
            let since: Vec<(Scope, u64)> = Scope::all_for(&neuron.id, &neuron.tags)
                .into_iter()
                .map(|s| {
                    let r = revisions.get(&s).copied().unwrap_or(0);
                    (s, r)
                })
                .collect();
            match services.store.bundles_since(&since).await {
                Ok(newer) => {
                    let mut missed =
                        cortex_core::federation::latest_for(newer, &neuron.id, &neuron.tags);
                    if neuron.browser {
                        missed.retain(|b| b.reaches_browser(&neuron.id));
                    }
                    let sent = missed.len() as u32;
                    for bundle in missed {
                        if tx.send(encode(&HubMessage::Push { bundle })).await.is_err() {
                            return None;
                        }
                    }
                    // A server neuron with an override is told it again before `synced`; one
                    // not restated by then is gone (cleared or ended while the neuron was away).
                    // If it cannot be read, `synced` says so (the neuron keeps what it holds)
                    // and the neuron still goes online.
                    let mut override_unread = false;
                    if !neuron.browser {
                        match services.federation.override_order(&neuron.id).await {
                            Ok(None) => {}
                            Ok(order) => {
                                if tx
                                    .send(encode(&HubMessage::Override { order }))
                                    .await
                                    .is_err()
                                {
                                    return None;
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e.message, neuron = %neuron.id, "override not readable at catch-up");
                                override_unread = true;
                            }
                        }
                    }
                    Some(HubMessage::Synced {
                        sent,
                        override_unread,
                    })
                }
                Err(e) => err(e.into()),
            }
        }
        NeuronMessage::Ack { scope, revision } => {
            if !scope.covers(&neuron.id, &neuron.tags) {
                return Some(HubMessage::Error {
                    message: format!("scope `{scope}` is not one of this neuron's"),
                });
            }
            services
                .federation
                .record_ack(&neuron.id, scope, revision, Utc::now());
            None
        }
        NeuronMessage::Heartbeat(beat) => {
            match services
                .federation
                .beat(&neuron.id, &beat, Utc::now())
                .await
            {
                Ok(joined) => joined
                    .token
                    .zip(joined.token_expires_at)
                    .map(|(token, expires_at)| HubMessage::Token { token, expires_at }),
                // Not (or no longer) joined: the neuron must register again, not keep beating.
                // (Not while the database is being restored: its row is on the way back.)
                Err(e)
                    if e.code == cortex_core::ErrorCode::Forbidden
                        && services.health.is_ready() =>
                {
                    // Retired while this socket was open (the retire message may have gone
                    // to another socket or hub): told to leave, not to register again.
                    let retired = matches!(
                        services.store.neuron(&neuron.id).await,
                        Ok(Some(n)) if n.status == cortex_core::federation::NeuronStatus::Retired
                    );
                    Some(if retired {
                        HubMessage::Retire {
                            reason: super::RETIRED_REASON.into(),
                        }
                    } else {
                        HubMessage::Rejoin { reason: e.message }
                    })
                }
                Err(e) => err(e),
            }
        }
        NeuronMessage::CommandResult { id, ok, message } => {
            let outcome = if ok {
                CommandOutcome::Done
            } else {
                CommandOutcome::Failed
            };
            let message: String = message.chars().take(2_000).collect();
            match services
                .store
                .report_command(&id, &neuron.id, outcome, &message, Utc::now())
                .await
            {
                Ok(true) => None,
                Ok(false) => Some(HubMessage::Error {
                    message: format!("no pending command `{id}` for this neuron"),
                }),
                Err(e) => err(e.into()),
            }
        }
        NeuronMessage::UpdateStatus { .. } if neuron.browser => Some(HubMessage::Error {
            message: "browser neurons are not sent updates".into(),
        }),
        NeuronMessage::UpdateStatus {
            id,
            state,
            step,
            message,
        } => {
            let report = cortex_core::federation::NeuronUpdate {
                rollout_id: id.chars().take(64).collect(),
                neuron_id: neuron.id.to_string(),
                state,
                step,
                message,
                at: Utc::now(),
            };
            services
                .federation
                .neuron_update_status(&neuron.id, report)
                .await
                .err()
                .and_then(err)
        }
        NeuronMessage::Events(batch) if neuron.browser => {
            match crate::mutations::http::browser_events(services, &neuron.id, batch, Utc::now())
                .await
            {
                Ok(ack) => Some(HubMessage::EventsAck(ack)),
                Err(e) => err(e),
            }
        }
        NeuronMessage::Events(batch) => {
            // The spool keeps the batch as its own JSON, the same shape as over HTTP.
            let body = match serde_json::to_vec(&batch) {
                Ok(b) => b,
                Err(e) => return err(ApiError::bad_request(e.to_string())),
            };
            match services
                .analytics
                .ingest_parsed(&neuron.id, &batch, &body, Utc::now())
                .await
            {
                Ok(ack) => Some(HubMessage::EventsAck(ack)),
                Err(e) => err(e),
            }
        }
    }
}
