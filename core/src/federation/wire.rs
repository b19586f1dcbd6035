//! The push channel's protocol (`/api/federation/ws`, JSON text frames): what the hub
//! sends, what a neuron answers, and the operator commands carried on it.

use super::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Hub → neuron, over `/api/federation/ws` (JSON text frames).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum HubMessage {
    /// Sent once the socket is up.
    #[serde(rename_all = "camelCase")]
    Welcome {
        neuron: String,
        status: NeuronStatus,
        heartbeat_seconds: u32,
    },
    /// A bundle (new, or missed while away). Ack it with its scope and revision.
    Push { bundle: Bundle },
    /// A fresh neuron token (sent in answer to each heartbeat).
    #[serde(rename_all = "camelCase")]
    Token {
        token: String,
        expires_at: DateTime<Utc>,
    },
    /// Something the neuron sent was refused (a malformed message closes the socket).
    Error { message: String },
    /// The hub no longer holds this neuron as joined (removed, retired, sent back to pending,
    /// or its database was replaced and did not bring it back): the socket closes after this,
    /// and the neuron registers again (with backoff) and takes what it missed.
    Rejoin { reason: String },
    /// An operator retired this neuron: the socket closes after this and its tokens are
    /// void. The neuron drains (finishes what it holds) and leaves; it does not register
    /// again on its own.
    Retire { reason: String },
    /// Sent after the bundles a `hello` asked for: the neuron now holds everything.
    #[serde(rename_all = "camelCase")]
    Synced {
        /// How many bundles the catch-up sent.
        sent: u32,
        /// The hub could not read this neuron's override just now: keep the one held (absent:
        /// an override not restated before this is gone).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        override_unread: bool,
    },
    /// An operator's command; answer with `commandResult` and the same id.
    Command { id: String, command: Command },
    /// A batch of events is durably stored.
    EventsAck(crate::analytics::BatchAck),
    /// Run this release's update: the pre-migrations, the switch, the post-migrations, in
    /// order, stopping at the first that fails. Answer with `updateStatus` as each step
    /// starts and ends. An order already run (same id) is answered with how it ended.
    Update { order: UpdateOrder },
    /// This neuron's config override (`order` absent: none, sent when it is cleared or
    /// ended). After a `hello`, the hub restates an override before `synced`; one not
    /// restated by then is gone. The neuron drops an expired one by itself.
    Override {
        #[serde(default)]
        order: Option<overrides::OverrideOrder>,
    },
    /// A message this version does not know (sent by a newer hub): ignored.
    #[serde(other)]
    Unknown,
}

/// What an operator can ask a neuron to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum Command {
    /// Re-fetch the config it holds and re-apply it, without a restart.
    HotReload,
    /// Say its revisions again (a `hello`) and take whatever it missed.
    Sync,
}

impl Command {
    pub const ALL: [Command; 2] = [Command::HotReload, Command::Sync];

    pub fn as_str(self) -> &'static str {
        match self {
            Command::HotReload => "hotReload",
            Command::Sync => "sync",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// How a command ended on one neuron.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum CommandOutcome {
    /// Sent, no answer yet.
    Pending,
    Done,
    Failed,
}

impl CommandOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandOutcome::Pending => "pending",
            CommandOutcome::Done => "done",
            CommandOutcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Done, Self::Failed]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// One neuron's answer to a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CommandReport {
    pub neuron_id: String,
    pub outcome: CommandOutcome,
    /// Why it failed (or what it did).
    pub message: String,
    pub at: DateTime<Utc>,
}

/// A command sent to a scope and what came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CommandRun {
    pub id: String,
    pub command: Command,
    pub scope: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Joined neurons in the scope when it was sent.
    pub targeted: u64,
    /// Connected neurons it was sent to.
    pub sent: u64,
    pub reports: Vec<CommandReport>,
}

impl CommandRun {
    /// Reports with this outcome.
    pub fn count(&self, outcome: CommandOutcome) -> usize {
        self.reports.iter().filter(|r| r.outcome == outcome).count()
    }
}

/// Neuron → hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum NeuronMessage {
    /// First message: the last revision the neuron holds per scope (none: send everything).
    Hello {
        #[serde(default)]
        revisions: std::collections::BTreeMap<Scope, u64>,
    },
    /// The neuron applied (or at least stored) this revision.
    Ack { scope: Scope, revision: u64 },
    /// A heartbeat over the socket; answered with a `token`.
    Heartbeat(Heartbeat),
    /// How a command ended here.
    #[serde(rename_all = "camelCase")]
    CommandResult {
        id: String,
        ok: bool,
        #[serde(default)]
        message: String,
    },
    /// A batch of events; answered with `eventsAck` once it is durable.
    Events(crate::analytics::EventBatch),
    /// Where an update order (by its id) is: running a step, done, or failed at a step.
    #[serde(rename_all = "camelCase")]
    UpdateStatus {
        id: String,
        state: UpdateState,
        #[serde(default)]
        step: String,
        #[serde(default)]
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged() {
        let hello: NeuronMessage =
            serde_json::from_str(r#"{"type":"hello","revisions":{"global":3,"tag:eu":1}}"#)
                .unwrap();
        let NeuronMessage::Hello { revisions } = hello else {
            panic!()
        };
        assert_eq!(revisions[&Scope::Global], 3);
        let ack = serde_json::to_value(NeuronMessage::Ack {
            scope: Scope::Global,
            revision: 4,
        })
        .unwrap();
        assert_eq!(
            ack,
            serde_json::json!({"type": "ack", "scope": "global", "revision": 4})
        );
        let beat: NeuronMessage =
            serde_json::from_str(r#"{"type":"heartbeat","state":"ok"}"#).unwrap();
        assert!(matches!(beat, NeuronMessage::Heartbeat(_)));
        let events: NeuronMessage = serde_json::from_str(
            r#"{"type":"events","batchId":"b1","events":[{"kind":"click","at":"2026-11-29T10:00:00Z"}]}"#,
        )
        .unwrap();
        let NeuronMessage::Events(batch) = events else {
            panic!()
        };
        assert_eq!(batch.batch_id, "b1");
        let result: NeuronMessage = serde_json::from_str(
            r#"{"type":"commandResult","id":"c1","ok":false,"message":"no config"}"#,
        )
        .unwrap();
        assert!(matches!(
            result,
            NeuronMessage::CommandResult { ok: false, .. }
        ));
        let cmd = serde_json::to_value(HubMessage::Command {
            id: "c1".into(),
            command: Command::HotReload,
        })
        .unwrap();
        assert_eq!(
            cmd,
            serde_json::json!({"type": "command", "id": "c1", "command": "hotReload"})
        );
        assert_eq!(
            serde_json::to_value(HubMessage::Retire {
                reason: "retired by user:op".into()
            })
            .unwrap(),
            serde_json::json!({"type": "retire", "reason": "retired by user:op"})
        );
        // A newer hub's message an older neuron does not know is not an error.
        let later: HubMessage =
            serde_json::from_str(r#"{"type": "somethingNew", "detail": 1}"#).unwrap();
        assert_eq!(later, HubMessage::Unknown);
    }
}
