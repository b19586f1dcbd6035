//! What people do to the fleet: look at it, approve, drain, retire, reactivate, pin and
//! remove neurons (one at a time or in bulk), and follow pushes. Every entry point (server
//! functions, the command line) comes through here, so the role and transition rules of
//! `cortex_core::federation::transitions` hold whoever calls.

use cortex_core::audit::AuditRecord;
use cortex_core::federation::transitions::{transition, TransitionError};
use cortex_core::federation::{
    Acked, BulkAction, BulkOutcome, FleetHealth, FleetQuery, Neuron, NeuronStatus, Propagation,
};
use cortex_core::user::Principal;
use cortex_core::{ErrorCode, Role};

use super::Federation;
use crate::auth::require_role;
use crate::error::ApiError;

/// Most neurons one bulk action may name.
pub const MAX_BULK: usize = 1_000;

impl From<TransitionError> for ApiError {
    fn from(e: TransitionError) -> Self {
        let code = match e {
            TransitionError::NotSettable(_) => ErrorCode::BadRequest,
            TransitionError::Unchanged(_) | TransitionError::NotAllowed { .. } => {
                ErrorCode::Conflict
            }
            TransitionError::Role { .. } => ErrorCode::Forbidden,
        };
        ApiError::new(code, e.to_string())
    }
}

/// Joined neurons a bundle's scope and audience reach now.
fn targeted(neurons: &[Neuron], bundle: &cortex_core::federation::Bundle) -> u64 {
    neurons
        .iter()
        .filter(|n| n.status.is_joined() && bundle.audience.reaches(&bundle.scope, &n.id, &n.tags))
        .count() as u64
}

fn no_neuron(id: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no neuron with id `{id}`"))
}

impl Federation {
    /// The fleet: counts over every neuron and the page of neurons `query` asks for, each
    /// with the revisions it acknowledged. Viewer.
    pub async fn fleet(
        &self,
        query: &FleetQuery,
        who: &Principal,
    ) -> Result<FleetHealth, ApiError> {
        require_role(who, Role::Viewer)?;
        if query.q.chars().count() > 200 {
            return Err(ApiError::bad_request("q: at most 200 characters"));
        }
        let mut neurons = self.store.list_neurons().await?;
        let expected = self.expected_by_kind().await?;
        if !expected.is_empty() {
            cortex_core::federation::mark_drift(&mut neurons, &expected);
        }
        let mut health = FleetHealth::page(neurons, query);
        if health.neurons.is_empty() {
            return Ok(health);
        }
        let mut acks: std::collections::HashMap<String, Vec<Acked>> = Default::default();
        for a in self.store.all_acks().await? {
            acks.entry(a.neuron_id).or_default().push(Acked {
                scope: a.scope.to_string(),
                revision: a.revision,
                at: a.at,
            });
        }
        let mut overrides: std::collections::HashMap<String, _> = self
            .store
            .overrides()
            .await?
            .into_iter()
            .map(|o| (o.neuron_id.clone(), o))
            .collect();
        for n in &mut health.neurons {
            n.acked = acks.remove(n.id.as_str()).unwrap_or_default();
            n.config_override = overrides.remove(n.id.as_str());
        }
        Ok(health)
    }

    /// Changes a neuron's status as the transition table allows for `who`'s role (approve:
    /// admin; drain, retire, reactivate: operator). A neuron that leaves the fleet loses its
    /// tokens and its socket at once, on every hub.
    pub async fn set_status(
        &self,
        id: &str,
        to: NeuronStatus,
        who: &Principal,
    ) -> Result<Neuron, ApiError> {
        require_role(who, Role::Operator)?;
        let current = self.store.neuron(id).await?.ok_or_else(|| no_neuron(id))?;
        let change = transition(current.status, to, who.role)?;
        let audit = AuditRecord::new(who.actor.clone(), change.action, String::new());
        let neuron = self
            .store
            .set_neuron_status(id, current.status, to, audit)
            .await?;
        // Draining neurons keep their tokens (they finish their work); retired ones do not,
        // and are told to drain and leave.
        if to == NeuronStatus::Retired {
            self.revoke_with(id, Some(super::RETIRED_REASON)).await;
        } else if !to.is_joined() {
            self.revoke(id).await;
        }
        Ok(neuron)
    }

    /// Pins a neuron (never retired for silence) or unpins it. Operator.
    pub async fn set_pinned(
        &self,
        id: &str,
        pinned: bool,
        who: &Principal,
    ) -> Result<Neuron, ApiError> {
        require_role(who, Role::Operator)?;
        let action = if pinned { "neuron.pin" } else { "neuron.unpin" };
        let audit = AuditRecord::new(who.actor.clone(), action, String::new());
        Ok(self.store.set_neuron_pinned(id, pinned, audit).await?)
    }

    /// Removes a neuron from the registry (denies a pending one); its tokens stop working
    /// and its socket closes at once, on every hub. It may register again. Operator.
    pub async fn remove(&self, id: &str, who: &Principal) -> Result<Neuron, ApiError> {
        require_role(who, Role::Operator)?;
        let audit = AuditRecord::new(who.actor.clone(), "neuron.remove", String::new());
        let neuron = self.store.delete_neuron(id, audit).await?;
        self.revoke(id).await;
        Ok(neuron)
    }

    /// Approves or denies many pending neurons at once (after a flood of registrations,
    /// say), or drains or retires many: each goes through the same checks as one at a time;
    /// what failed says why. Approving needs an admin, the rest an operator.
    pub async fn bulk(
        &self,
        ids: &[String],
        action: BulkAction,
        who: &Principal,
    ) -> Result<BulkOutcome, ApiError> {
        require_role(who, Role::Operator)?;
        if ids.is_empty() {
            return Err(ApiError::bad_request("ids: pick at least one neuron"));
        }
        if ids.len() > MAX_BULK {
            return Err(ApiError::bad_request(format!(
                "ids: at most {MAX_BULK} neurons at once"
            )));
        }
        if action == BulkAction::Approve {
            // Checked once up front: an operator's bulk approval fails as a whole.
            require_role(who, Role::Admin).map_err(|_| {
                ApiError::new(
                    ErrorCode::Forbidden,
                    format!(
                        "approving neurons needs the `admin` role; {} has `{}`",
                        who.actor, who.role
                    ),
                )
            })?;
        }
        let mut outcome = BulkOutcome::default();
        for id in ids {
            let done = match action {
                BulkAction::Approve => self
                    .set_status(id, NeuronStatus::Active, who)
                    .await
                    .map(|_| ()),
                BulkAction::Drain => self
                    .set_status(id, NeuronStatus::Draining, who)
                    .await
                    .map(|_| ()),
                BulkAction::Retire => self
                    .set_status(id, NeuronStatus::Retired, who)
                    .await
                    .map(|_| ()),
                BulkAction::Deny => match self.store.neuron(id).await? {
                    Some(n) if n.status == NeuronStatus::Pending => {
                        self.remove(id, who).await.map(|_| ())
                    }
                    Some(n) => Err(ApiError::new(
                        ErrorCode::Conflict,
                        format!("`{id}` is {}, not pending: remove it on its own", n.status),
                    )),
                    None => Err(no_neuron(id)),
                },
            };
            match done {
                Ok(()) => outcome.done.push(id.clone()),
                Err(e) => outcome.failed.push((id.clone(), e.message)),
            }
        }
        Ok(outcome)
    }

    /// Recent pushes with how many targeted neurons acknowledged each. Viewer.
    pub async fn pushes(&self, who: &Principal) -> Result<Vec<Propagation>, ApiError> {
        require_role(who, Role::Viewer)?;
        let neurons = self.store.list_neurons().await?;
        let mut out = Vec::new();
        for b in self.store.recent_bundles(20).await? {
            let targeted = targeted(&neurons, &b);
            let acked = self.store.count_acks(&b.scope, b.revision).await?;
            out.push(Propagation {
                scope: b.scope.to_string(),
                revision: b.revision,
                kind: b.kind,
                created_by: b.created_by,
                created_at: b.created_at,
                bytes: b.body.to_string().len() as u64,
                targeted,
                acked,
                staged_body: (!b.audience.is_everyone()).then(|| b.body.clone()),
                audience: b.audience,
            });
        }
        Ok(out)
    }

    /// How push `revision` of `scope` spread (none named: the newest push of all): when
    /// neurons acknowledged it, against the neurons it targets now. Unknown push: 404;
    /// nothing pushed yet: `None`. Viewer.
    pub async fn spread(
        &self,
        push: Option<(&cortex_core::federation::Scope, u64)>,
        who: &Principal,
    ) -> Result<Option<cortex_core::federation::PushSpread>, ApiError> {
        use cortex_core::federation::PushSpread;
        require_role(who, Role::Viewer)?;
        let bundle = match push {
            None => match self.store.recent_bundles(1).await?.into_iter().next() {
                Some(b) => b,
                None => return Ok(None),
            },
            Some((scope, revision)) => self
                .store
                .bundles_since(&[(scope.clone(), revision.saturating_sub(1))])
                .await?
                .into_iter()
                .find(|b| b.scope == *scope && b.revision == revision)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::NotFound,
                        format!("no push of revision {revision} to scope `{scope}`"),
                    )
                })?,
        };
        let targeted = targeted(&self.store.list_neurons().await?, &bundle);
        let acks = self
            .store
            .ack_times(&bundle.scope, bundle.revision, PushSpread::MAX_ACKS)
            .await?;
        Ok(Some(PushSpread::from_acks(
            bundle.scope.to_string(),
            bundle.revision,
            bundle.created_at,
            targeted,
            &acks,
        )))
    }
}
