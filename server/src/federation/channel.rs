//! The push channel: one WebSocket per neuron at `/api/federation/ws`. The hub pushes
//! bundles by scope; neurons ack each revision; a neuron that reconnects says what it holds
//! and gets what it missed. Each connection has a bounded queue: a neuron that cannot keep up
//! is disconnected (it reconnects and catches up) instead of slowing anyone else down.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;
use cortex_core::federation::{Bundle, HubMessage, NeuronMessage, Scope};
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
/// Largest message a neuron may send.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

struct Conn {
    serial: u64,
    tags: Vec<String>,
    tx: mpsc::Sender<HubMessage>,
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
    fn attach(&self, id: &str, tags: Vec<String>, tx: mpsc::Sender<HubMessage>) -> u64 {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .insert(id.to_string(), Conn { serial, tags, tx });
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
        let mut d = Delivery::default();
        let mut conns = self.lock();
        let mut slow = Vec::new();
        for (id, c) in conns.iter() {
            if !bundle.scope.covers(id, &c.tags) {
                continue;
            }
            match c.tx.try_send(HubMessage::Push {
                bundle: bundle.clone(),
            }) {
                Ok(()) => d.sent += 1,
                Err(_) => slow.push(id.clone()),
            }
        }
        for id in slow {
            tracing::warn!(neuron = %id, "neuron too slow for the push channel; disconnected, it will catch up on reconnect");
            conns.remove(&id);
            d.dropped += 1;
        }
        d
    }
}

#[derive(serde::Deserialize)]
pub struct WsQuery {
    /// For clients that cannot set headers on a WebSocket (browsers).
    token: Option<String>,
}

/// `GET /api/federation/ws`: authenticates with the neuron token (header, or `?token=`),
/// then upgrades.
pub async fn upgrade(
    State(services): State<Services>,
    headers: HeaderMap,
    Query(q): Query<WsQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .or(q.token)
        .ok_or_else(|| {
            ApiError::new(
                cortex_core::ErrorCode::Unauthorized,
                "missing neuron token: `Authorization: Bearer ctn_…` or `?token=ctn_…`",
            )
        })?;
    let id = services.federation.verify_token(bearer.trim())?;
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
    let ws = ws.map_err(|e| {
        ApiError::bad_request(format!(
            "this is a WebSocket endpoint: connect with `Upgrade: websocket` ({e})"
        ))
    })?;
    Ok(ws
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve(services, neuron, socket)))
}

async fn serve(services: Services, neuron: cortex_core::federation::Neuron, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<HubMessage>(QUEUE);
    let channels = services.federation.channels().clone();
    let serial = channels.attach(&neuron.id, neuron.tags.clone(), tx.clone());
    tracing::info!(neuron = %neuron.id, "push channel open");
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let Ok(text) = serde_json::to_string(&msg) else {
                continue;
            };
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let _ = tx
        .send(HubMessage::Welcome {
            neuron: neuron.id.clone(),
            status: neuron.status,
            heartbeat_seconds: services
                .federation
                .settings()
                .heartbeat_interval
                .as_secs()
                .max(1) as u32,
        })
        .await;
    // Only the writer's sender stays with the registry; when it is replaced or kicked, the
    // writer ends and the socket closes.
    let reply = tx.downgrade();
    drop(tx);
    while let Some(Ok(frame)) = stream.next().await {
        let text = match frame {
            Message::Text(t) => t,
            Message::Close(_) => break,
            _ => continue,
        };
        let Some(tx) = reply.upgrade() else { break };
        let answer = match serde_json::from_str::<NeuronMessage>(&text) {
            Err(e) => Some(HubMessage::Error {
                message: format!("not a neuron message: {e}"),
            }),
            Ok(msg) => handle(&services, &neuron, msg, &tx).await,
        };
        if let Some(a) = answer {
            if tx.send(a).await.is_err() {
                break;
            }
        }
    }
    channels.detach(&neuron.id, serial);
    writer.abort();
    tracing::info!(neuron = %neuron.id, "push channel closed");
}

async fn handle(
    services: &Services,
    neuron: &cortex_core::federation::Neuron,
    msg: NeuronMessage,
    tx: &mpsc::Sender<HubMessage>,
) -> Option<HubMessage> {
    let err = |e: ApiError| Some(HubMessage::Error { message: e.message });
    match msg {
        NeuronMessage::Hello { revisions } => {
            let since: Vec<(Scope, u64)> = Scope::all_for(&neuron.id, &neuron.tags)
                .into_iter()
                .map(|s| {
                    let r = revisions.get(&s).copied().unwrap_or(0);
                    (s, r)
                })
                .collect();
            match services.store.bundles_since(&since).await {
                Ok(missed) => {
                    for bundle in missed {
                        if tx.send(HubMessage::Push { bundle }).await.is_err() {
                            return None;
                        }
                    }
                    None
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
            match services
                .store
                .ack_bundle(&neuron.id, &scope, revision, Utc::now())
                .await
            {
                Ok(()) => None,
                Err(e) => err(e.into()),
            }
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
                Err(e) => err(e),
            }
        }
    }
}
