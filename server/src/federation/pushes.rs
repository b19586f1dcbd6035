//! Pushes and commands: a bundle stored as the next revision of its scope and sent to the
//! neurons it targets; an operator's command sent to a scope and its answers collected.

use chrono::Utc;
use cortex_core::audit::AuditRecord;
use cortex_core::federation::PushResult;
use cortex_core::ErrorCode;

use super::{fanout, Federation, MAX_BUNDLE_BYTES};
use crate::error::ApiError;

impl Federation {
    /// Stores a bundle (a JSON object of at most [`MAX_BUNDLE_BYTES`]) as the next revision
    /// of `scope` and sends it to every connected neuron in the scope at once. Editor;
    /// audited as `bundle.push`.
    pub async fn push(
        &self,
        scope: &cortex_core::federation::Scope,
        kind: cortex_core::federation::BundleKind,
        body: &serde_json::Value,
        audience: &cortex_core::federation::Audience,
        who: &cortex_core::user::Principal,
    ) -> Result<PushResult, ApiError> {
        crate::auth::require_role(who, cortex_core::Role::Editor)?;
        if !body.is_object() {
            return Err(ApiError::bad_request("body: a bundle is a JSON object"));
        }
        let size = body.to_string().len();
        if size > MAX_BUNDLE_BYTES {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("body: a bundle is at most {MAX_BUNDLE_BYTES} bytes (this one is {size})"),
            ));
        }
        self.store_and_send(scope, kind, body, audience, &who.actor)
            .await
    }

    /// [`Federation::push`] without its checks, for the hub's own pushes (the layout rule
    /// set after every change, as `hub`).
    pub(crate) async fn store_and_send(
        &self,
        scope: &cortex_core::federation::Scope,
        kind: cortex_core::federation::BundleKind,
        body: &serde_json::Value,
        audience: &cortex_core::federation::Audience,
        actor: &str,
    ) -> Result<PushResult, ApiError> {
        let audit = AuditRecord::new(actor, "bundle.push", String::new());
        self.store_and_send_audited(scope, kind, body, audience, audit)
            .await
    }

    /// [`Federation::store_and_send`] with its audit record (a rollback's, say); the bundle
    /// is created by the record's actor.
    pub(crate) async fn store_and_send_audited(
        &self,
        scope: &cortex_core::federation::Scope,
        kind: cortex_core::federation::BundleKind,
        body: &serde_json::Value,
        audience: &cortex_core::federation::Audience,
        audit: AuditRecord,
    ) -> Result<PushResult, ApiError> {
        let actor = audit.actor.clone();
        let bundle = self
            .store
            .push_bundle(scope, kind, body, &actor, Utc::now(), audience, audit)
            .await?;
        let delivery = self.channels.deliver(&bundle);
        self.announce(fanout::Announcement::Bundle {
            hub: self.hub_id.to_string(),
            scope: scope.clone(),
            revision: bundle.revision,
        })
        .await;
        let targeted = self.targeted(scope, audience).await?;
        Ok(PushResult {
            scope: scope.to_string(),
            revision: bundle.revision,
            kind: kind.as_str().to_string(),
            targeted,
            sent: delivery.sent,
            dropped: delivery.dropped,
            audience: audience.clone(),
        })
    }

    /// Joined neurons (connected or not) a push to `scope` with `audience` is meant for.
    async fn targeted(
        &self,
        scope: &cortex_core::federation::Scope,
        audience: &cortex_core::federation::Audience,
    ) -> Result<u64, ApiError> {
        Ok(self
            .store
            .list_neurons()
            .await?
            .iter()
            .filter(|n| n.status.is_joined() && audience.reaches(scope, &n.id, &n.tags))
            .count() as u64)
    }

    /// Sends an operator command to every connected neuron in `scope` and records it with a
    /// pending report per neuron (audited as `command.<name>`); answers arrive over the
    /// channel. Operator.
    pub async fn command(
        &self,
        scope: &cortex_core::federation::Scope,
        command: cortex_core::federation::Command,
        who: &cortex_core::user::Principal,
    ) -> Result<cortex_core::federation::CommandRun, ApiError> {
        use cortex_core::federation::{CommandOutcome, CommandReport, CommandRun, HubMessage};
        crate::auth::require_role(who, cortex_core::Role::Operator)?;
        let actor = who.actor.as_str();
        let targeted = self.targeted(scope, &Default::default()).await?;
        let now = Utc::now();
        let ids = self.channels.connected_in(scope, &Default::default());
        let run = CommandRun {
            id: uuid::Uuid::new_v4().simple().to_string(),
            command,
            scope: scope.to_string(),
            created_by: actor.to_string(),
            created_at: now,
            targeted,
            sent: ids.len() as u64,
            reports: ids
                .iter()
                .map(|id| CommandReport {
                    neuron_id: id.clone(),
                    outcome: CommandOutcome::Pending,
                    message: String::new(),
                    at: now,
                })
                .collect(),
        };
        // Stored before it is sent, so no answer can arrive for a command the hub does not know.
        let audit = AuditRecord::new(
            actor,
            format!("command.{}", command.as_str()),
            String::new(),
        );
        self.store.create_command(&run, audit).await?;
        let delivery = self.channels.send_to(
            &ids,
            &HubMessage::Command {
                id: run.id.clone(),
                command,
            },
        );
        if delivery.dropped > 0 {
            tracing::warn!(command = %run.id, dropped = delivery.dropped, "command not delivered to slow neurons");
        }
        self.announce(fanout::Announcement::Command {
            hub: self.hub_id.to_string(),
            id: run.id.clone(),
            scope: scope.clone(),
            command,
        })
        .await;
        Ok(run)
    }

    /// The last ten commands and each neuron's answer. Viewer.
    pub async fn recent_commands(
        &self,
        who: &cortex_core::user::Principal,
    ) -> Result<Vec<cortex_core::federation::CommandRun>, ApiError> {
        crate::auth::require_role(who, cortex_core::Role::Viewer)?;
        Ok(self.store.recent_commands(10).await?)
    }

    /// The newest hundred logs and errors neurons reported, as `query` narrows them (its
    /// text at most 200 characters). Viewer.
    pub async fn neuron_reports(
        &self,
        query: &crate::store::events::EventQuery,
        who: &cortex_core::user::Principal,
    ) -> Result<Vec<cortex_core::analytics::NeuronEvent>, ApiError> {
        crate::auth::require_role(who, cortex_core::Role::Viewer)?;
        if query.text.as_ref().is_some_and(|q| q.chars().count() > 200) {
            return Err(ApiError::bad_request("q: at most 200 characters"));
        }
        let query = crate::store::events::EventQuery {
            limit: query.limit.clamp(1, 100),
            ..query.clone()
        };
        Ok(self.store.neuron_events(&query).await?)
    }
}
