//! Several hubs on one Postgres: each neuron is connected to one hub, so a push or a command
//! taken by one hub is announced to the others with `NOTIFY`, and each delivers it to the
//! neurons connected to it. On SQLite there is one hub and nothing to announce.
//!
//! A notification lost while a hub's listening connection was down is not lost for the
//! neurons: they get every missed bundle on their next `hello` (reconnect or sync).

use chrono::Utc;
use cortex_core::federation::{Command, HubMessage, Scope};
use serde::{Deserialize, Serialize};

use super::Federation;

/// The Postgres notification channel.
pub const CHANNEL: &str = "cortex_fanout";

/// What one hub tells the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Announcement {
    /// A bundle was stored as `revision` of `scope`.
    Bundle {
        hub: String,
        scope: Scope,
        revision: u64,
    },
    /// A command was sent to `scope`.
    Command {
        hub: String,
        id: String,
        scope: Scope,
        command: Command,
    },
    /// Neuron `neuron` was removed or retired at `at_ms`: its tokens issued until then are
    /// void and its socket must close, wherever it is connected.
    Revoke {
        hub: String,
        neuron: String,
        at_ms: i64,
        /// Set when an operator retired it: the neuron is told so before its socket closes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retire: Option<String>,
    },
    /// Neuron `neuron`'s config override was set, cleared or ended.
    Override { hub: String, neuron: String },
}

impl Federation {
    /// Tells the other hubs (Postgres only; best effort: neurons catch up on `hello` anyway).
    pub(crate) async fn announce(&self, a: Announcement) {
        let Some(pool) = self.store.postgres_pool() else {
            return;
        };
        let Ok(payload) = serde_json::to_string(&a) else {
            return;
        };
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "could not announce to the other hubs");
        }
    }

    /// Delivers what another hub announced to the neurons connected here.
    pub async fn on_announcement(&self, a: Announcement) {
        match a {
            Announcement::Bundle { hub, .. }
            | Announcement::Command { hub, .. }
            | Announcement::Revoke { hub, .. }
            | Announcement::Override { hub, .. }
                if *hub == *self.hub_id => {}
            Announcement::Override { neuron, .. } => self.tell_override(&neuron).await,
            Announcement::Revoke {
                neuron,
                at_ms,
                retire,
                ..
            } => {
                self.revoked.note(&neuron, at_ms);
                if let Some(reason) = retire {
                    self.tell_retired(&neuron, &reason);
                }
                self.channels.kick(&neuron);
            }
            Announcement::Bundle {
                scope, revision, ..
            } => {
                match self
                    .store
                    .bundles_since(&[(scope.clone(), revision.saturating_sub(1))])
                    .await
                {
                    Ok(bundles) => {
                        if let Some(b) = bundles.into_iter().find(|b| b.revision == revision) {
                            self.channels.deliver(&b);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, %scope, revision, "announced bundle not readable")
                    }
                }
            }
            Announcement::Command {
                id, scope, command, ..
            } => {
                let ids = self.channels.connected_in(&scope, &Default::default());
                if ids.is_empty() {
                    return;
                }
                if let Err(e) = self.store.extend_command(&id, &ids, Utc::now()).await {
                    tracing::warn!(error = %e, command = %id, "announced command not recorded");
                    return;
                }
                self.channels
                    .send_to(&ids, &HubMessage::Command { id, command });
            }
        }
    }

    /// Listens for the other hubs' announcements for the life of the hub (Postgres only).
    pub async fn run_fanout(self) {
        let Some(pool) = self.store.postgres_pool() else {
            return;
        };
        // Said once per outage (the health watch logs the outage itself), not every retry.
        let mut failing = false;
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(l) => l,
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "fan-out listener cannot connect; retrying every 2 s");
                        failing = true;
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    continue;
                }
            };
            if std::mem::take(&mut failing) {
                tracing::info!("fan-out listener connected again");
            }
            if let Err(e) = listener.listen(CHANNEL).await {
                tracing::warn!(error = %e, "fan-out LISTEN failed; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                continue;
            }
            loop {
                match listener.recv().await {
                    Ok(n) => match serde_json::from_str::<Announcement>(n.payload()) {
                        Ok(a) => self.on_announcement(a).await,
                        Err(e) => tracing::warn!(error = %e, "unreadable fan-out announcement"),
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "fan-out listener lost its connection");
                        break;
                    }
                }
            }
        }
    }
}
