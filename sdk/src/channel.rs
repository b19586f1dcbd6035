//! The push channel from the neuron's side: connect with the neuron token, say which
//! revisions it holds, receive bundles, ack them, heartbeat over the same socket.

use cortex_core::federation::{Heartbeat, HubMessage, NeuronMessage, Scope};
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::{HubClient, SdkError};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An open push channel.
pub struct Channel {
    socket: Socket,
}

fn ws_error(e: impl std::fmt::Display) -> SdkError {
    SdkError::Channel(e.to_string())
}

impl HubClient {
    /// Opens the push channel and sends `hello` with the revisions held (empty: everything).
    pub async fn connect(
        &self,
        neuron_token: &str,
        held: &BTreeMap<Scope, u64>,
    ) -> Result<Channel, SdkError> {
        let url = format!(
            "{}{}",
            self.base.replacen("http", "ws", 1),
            crate::neuron::WS_PATH
        );
        let mut req = url.into_client_request().map_err(ws_error)?;
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {neuron_token}").parse().map_err(ws_error)?,
        );
        // Small buffers that grow on demand (the default read buffer is 128 KiB per socket).
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0);
        // `wss://` through the client's TLS roots; plain `ws://` needs no connector.
        let tls = tokio_tungstenite::Connector::Rustls(self.tls.clone());
        let (socket, _) =
            tokio_tungstenite::connect_async_tls_with_config(req, Some(config), false, Some(tls))
                .await
                .map_err(ws_error)?;
        let mut channel = Channel { socket };
        channel.hello(held).await?;
        Ok(channel)
    }
}

impl Channel {
    async fn send(&mut self, msg: &NeuronMessage) -> Result<(), SdkError> {
        let text = serde_json::to_string(msg).map_err(ws_error)?;
        self.socket
            .send(Message::Text(text.into()))
            .await
            .map_err(ws_error)
    }

    /// The next message from the hub; `None` when the hub closed the channel.
    pub async fn next(&mut self) -> Option<Result<HubMessage, SdkError>> {
        loop {
            match self.socket.next().await? {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).map_err(ws_error)),
                Ok(Message::Close(frame)) => {
                    return frame.filter(|f| !f.reason.is_empty()).map(|f| {
                        Err(SdkError::Channel(format!(
                            "closed by the hub: {}",
                            f.reason
                        )))
                    })
                }
                Ok(_) => continue,
                Err(e) => return Some(Err(ws_error(e))),
            }
        }
    }

    /// Acknowledges a revision of a scope.
    pub async fn ack(&mut self, scope: &Scope, revision: u64) -> Result<(), SdkError> {
        self.send(&NeuronMessage::Ack {
            scope: scope.clone(),
            revision,
        })
        .await
    }

    /// Sends a heartbeat; the hub answers with a `token` message.
    pub async fn heartbeat(&mut self, beat: &Heartbeat) -> Result<(), SdkError> {
        self.send(&NeuronMessage::Heartbeat(beat.clone())).await
    }

    /// Answers an operator command.
    pub async fn command_result(
        &mut self,
        id: &str,
        ok: bool,
        message: &str,
    ) -> Result<(), SdkError> {
        self.send(&NeuronMessage::CommandResult {
            id: id.to_string(),
            ok,
            message: message.to_string(),
        })
        .await
    }

    /// Says where an update order is.
    pub async fn update_status(
        &mut self,
        report: &crate::update::UpdateReport,
    ) -> Result<(), SdkError> {
        self.send(&NeuronMessage::UpdateStatus {
            id: report.id.clone(),
            state: report.state,
            step: report.step.clone(),
            message: report.message.clone(),
        })
        .await
    }

    /// Sends a batch of events; the hub answers `eventsAck` once it is durable.
    pub async fn events(
        &mut self,
        batch: &cortex_core::analytics::EventBatch,
    ) -> Result<(), SdkError> {
        self.send(&NeuronMessage::Events(batch.clone())).await
    }

    /// Says the revisions held again; the hub sends what is missing, then `synced`.
    pub async fn hello(&mut self, held: &BTreeMap<Scope, u64>) -> Result<(), SdkError> {
        self.send(&NeuronMessage::Hello {
            revisions: held.clone(),
        })
        .await
    }

    /// Closes the channel.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
