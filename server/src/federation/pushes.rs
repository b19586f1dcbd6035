//! Pushes and commands: a bundle stored as the next revision of its scope and sent to the
//! neurons it targets; an operator's command sent to a scope and its answers collected.

use chrono::Utc;
use cortex_core::audit::AuditRecord;
use cortex_core::federation::PushResult;
use cortex_core::ErrorCode;

use super::{fanout, Federation, MAX_BUNDLE_BYTES};
use crate::error::ApiError;
use crate::store::neurons::{PushCheck, Pushed};

impl Federation {
    /// Stores a bundle (a JSON object of at most [`MAX_BUNDLE_BYTES`]) as the next revision
    /// of `scope` and sends it to every connected neuron in the scope at once; `base` is the
    /// revision of its kind it was made from (`Some(0)`: nothing was pushed yet). The scope's
    /// policy decides a stale push (`cortex_core::federation::review`): applied with the
    /// overwritten revision recorded, or held as a change request. Editor; audited as
    /// `bundle.push` or `changeRequest.open`. 400 for a base the scope never had.
    pub async fn push(
        &self,
        scope: &cortex_core::federation::Scope,
        kind: cortex_core::federation::BundleKind,
        body: &serde_json::Value,
        audience: &cortex_core::federation::Audience,
        base: Option<u64>,
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
        if let Some(b) = base.filter(|b| *b > 0) {
            match self.store.bundle(scope, b).await? {
                Some(found) if found.kind == kind => {}
                Some(found) => {
                    return Err(ApiError::bad_request(format!(
                        "base_revision: revision {b} of `{scope}` is {}, not {}",
                        found.kind.as_str(),
                        kind.as_str()
                    )))
                }
                None => {
                    return Err(ApiError::bad_request(format!(
                        "base_revision: `{scope}` has no revision {b} (0: nothing of this kind was pushed yet)"
                    )))
                }
            }
        }
        let check = PushCheck {
            base,
            policy: self.scope_policies_now().await?.of(scope),
            only_if_current: false,
        };
        let audit = AuditRecord::new(&who.actor, "bundle.push", String::new());
        self.store_and_send_checked(scope, kind, body, audience, &check, audit)
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

    /// [`Federation::store_and_send`] with its audit record (an automatic rollback's, say);
    /// the bundle is created by the record's actor and applied whatever the scope's policy.
    pub(crate) async fn store_and_send_audited(
        &self,
        scope: &cortex_core::federation::Scope,
        kind: cortex_core::federation::BundleKind,
        body: &serde_json::Value,
        audience: &cortex_core::federation::Audience,
        audit: AuditRecord,
    ) -> Result<PushResult, ApiError> {
        self.store_and_send_checked(scope, kind, body, audience, &PushCheck::default(), audit)
            .await
    }

    /// Stores a push as `check` allows (see [`Federation::push`]) and sends what was applied.
    pub(crate) async fn store_and_send_checked(
        &self,
        scope: &cortex_core::federation::Scope,
        kind: cortex_core::federation::BundleKind,
        body: &serde_json::Value,
        audience: &cortex_core::federation::Audience,
        check: &PushCheck,
        audit: AuditRecord,
    ) -> Result<PushResult, ApiError> {
        let actor = audit.actor.clone();
        let pushed = self
            .store
            .push_bundle(
                scope,
                kind,
                body,
                &actor,
                Utc::now(),
                audience,
                check,
                audit,
            )
            .await?;
        match pushed {
            Pushed::Applied(bundle) => self.send_stored(&bundle).await,
            Pushed::Held(request) => Ok(PushResult {
                scope: scope.to_string(),
                revision: 0,
                kind: kind.as_str().to_string(),
                targeted: self.targeted(scope, audience).await?,
                sent: 0,
                dropped: 0,
                audience: audience.clone(),
                overwrote: None,
                held: Some(cortex_core::federation::review::HeldPush {
                    change_request: request.id,
                    reason: request.reason,
                    current_revision: self.newest_of_kind(scope, kind).await?,
                }),
            }),
        }
    }

    /// Sends a stored bundle to the connected neurons it reaches and tells the other hubs.
    pub(crate) async fn send_stored(
        &self,
        bundle: &cortex_core::federation::Bundle,
    ) -> Result<PushResult, ApiError> {
        let delivery = self.channels.deliver(bundle);
        self.announce(fanout::Announcement::Bundle {
            hub: self.hub_id.to_string(),
            scope: bundle.scope.clone(),
            revision: bundle.revision,
        })
        .await;
        let targeted = self.targeted(&bundle.scope, &bundle.audience).await?;
        Ok(PushResult {
            scope: bundle.scope.to_string(),
            revision: bundle.revision,
            kind: bundle.kind.as_str().to_string(),
            targeted,
            sent: delivery.sent,
            dropped: delivery.dropped,
            audience: bundle.audience.clone(),
            overwrote: bundle.overwrote,
            held: None,
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
