//! The fleet, for admins: health summary, kinds, status changes, pinning, removal and the
//! join policy. Neurons themselves use the signed routes in `cortex_server::federation::http`.

use crate::error::AppError;
use cortex_core::federation::{FleetHealth, JoinPolicy, Neuron, NeuronKind};
#[cfg(feature = "ssr")]
use cortex_core::Role;
use leptos::prelude::*;

/// The fleet: counts over every neuron and one page of those matching `status` and `q`
/// (`offset`, `limit`: paging). Viewer.
#[server(name = FleetHealthFn, prefix = "/api", endpoint = "federation/health", input = leptos::server_fn::codec::GetUrl)]
pub async fn fleet_health(
    status: Option<String>,
    q: Option<String>,
    offset: Option<u32>,
    limit: Option<u32>,
) -> Result<FleetHealth, AppError> {
    use cortex_core::federation::{FleetQuery, NeuronStatus};
    use cortex_core::ErrorCode;
    let (services, who) = super::guard::require(Role::Viewer)?;
    let status = match status.as_deref().map(str::trim).unwrap_or("") {
        "" => None,
        s => Some(NeuronStatus::parse(s).ok_or_else(|| {
            AppError::new(
                ErrorCode::BadRequest,
                format!("status: `{s}` is not one of pending, active, degraded, unhealthy, draining, retired"),
            )
        })?),
    };
    let query = FleetQuery {
        status,
        q: q.unwrap_or_default(),
        offset: offset.unwrap_or(0),
        limit: limit.unwrap_or(0),
    };
    Ok(services.federation.fleet(&query, &who).await?)
}

/// Kinds the hub knows. Viewer.
#[server(name = NeuronKinds, prefix = "/api", endpoint = "federation/kinds", input = leptos::server_fn::codec::GetUrl)]
pub async fn neuron_kinds() -> Result<Vec<NeuronKind>, AppError> {
    let (services, who) = super::guard::require(Role::Viewer)?;
    Ok(services.federation.neuron_kinds(&who).await?)
}

/// Approves (admin), drains, retires or reactivates a neuron, as the transition table
/// allows. Operator.
#[server(name = SetNeuronStatus, prefix = "/api", endpoint = "federation/neurons/set-status")]
pub async fn set_neuron_status(id: String, status: String) -> Result<Neuron, AppError> {
    use cortex_core::federation::NeuronStatus;
    use cortex_core::ErrorCode;
    let (services, who) = super::guard::require(Role::Operator)?;
    let to = NeuronStatus::parse(status.trim()).ok_or_else(|| {
        AppError::new(
            ErrorCode::BadRequest,
            format!("status: `{status}` is not a status; use active, draining or retired"),
        )
    })?;
    Ok(services.federation.set_status(id.trim(), to, &who).await?)
}

/// Approves (admin) or denies many pending neurons at once, or drains or retires many.
/// `ids`: neuron ids separated by commas, spaces or lines (at most 1,000). Operator.
#[server(name = BulkNeurons, prefix = "/api", endpoint = "federation/neurons/bulk")]
pub async fn bulk_neurons(
    action: String,
    ids: String,
    /// Neurons ticked on the fleet page (`pick[]` form fields), added to `ids`.
    #[server(default)]
    pick: Option<Vec<String>>,
) -> Result<cortex_core::federation::BulkOutcome, AppError> {
    use cortex_core::federation::{split_list, BulkAction};
    use cortex_core::ErrorCode;
    let (services, who) = super::guard::require(Role::Operator)?;
    let action = BulkAction::parse(action.trim()).ok_or_else(|| {
        AppError::new(
            ErrorCode::BadRequest,
            format!("action: `{action}` is not approve, deny, drain or retire"),
        )
    })?;
    let mut all = split_list(&ids);
    for id in pick.unwrap_or_default() {
        let id = id.trim();
        if !id.is_empty() && !all.iter().any(|a| a == id) {
            all.push(id.to_string());
        }
    }
    Ok(services.federation.bulk(&all, action, &who).await?)
}

/// Pins or unpins a neuron. Operator.
#[server(name = PinNeuron, prefix = "/api", endpoint = "federation/neurons/pin")]
pub async fn pin_neuron(id: String, pinned: bool) -> Result<Neuron, AppError> {
    let (services, who) = super::guard::require(Role::Operator)?;
    Ok(services
        .federation
        .set_pinned(id.trim(), pinned, &who)
        .await?)
}

/// Removes a neuron (denies a pending one). Operator.
#[server(name = RemoveNeuron, prefix = "/api", endpoint = "federation/neurons/remove")]
pub async fn remove_neuron(id: String) -> Result<Neuron, AppError> {
    let (services, who) = super::guard::require(Role::Operator)?;
    Ok(services.federation.remove(id.trim(), &who).await?)
}

/// The join policy. Viewer.
#[server(name = GetJoinPolicy, prefix = "/api", endpoint = "federation/join-policy", input = leptos::server_fn::codec::GetUrl)]
pub async fn join_policy() -> Result<JoinPolicy, AppError> {
    let (services, _) = super::guard::require(Role::Viewer)?;
    Ok(services.federation.join_policy().await?)
}

/// Sets the join policy. Admin. `keys` and `tags` are comma or newline separated lists;
/// `key_tags` has a key per line followed by the tags an admin gives it.
#[server(name = SetJoinPolicy, prefix = "/api", endpoint = "federation/join-policy")]
pub async fn set_join_policy(
    mode: String,
    keys: Option<String>,
    tags: Option<String>,
    key_tags: Option<String>,
) -> Result<JoinPolicy, AppError> {
    use cortex_core::federation::{split_list, JoinMode};
    use cortex_core::ErrorCode;
    let (services, who) = super::guard::require(Role::Admin)?;
    let bad = |m: String| AppError::new(ErrorCode::BadRequest, m);
    let mode = JoinMode::parse(mode.trim()).ok_or_else(|| {
        bad(format!(
            "mode: `{}` is not one of open, allowlist, approval",
            mode.trim()
        ))
    })?;
    let policy = JoinPolicy {
        mode,
        keys: split_list(&keys.unwrap_or_default()),
        tags: split_list(&tags.unwrap_or_default()),
        key_tags: JoinPolicy::parse_key_tags(&key_tags.unwrap_or_default())
            .map_err(|e| bad(e.to_string()))?,
    };
    services.federation.set_join_policy(&policy, &who).await?;
    Ok(policy)
}

/// Pushes a bundle (a whole JSON document of one kind) to a scope: stored as the scope's next
/// revision and sent at once to every connected neuron in it. `base_revision` names the
/// revision of that kind it was made from; a stale push follows the scope's policy (applied,
/// with `overwrote` set, or held for review, with `held` set and `revision` 0). Editor.
#[server(name = PushConfig, prefix = "/api", endpoint = "federation/push-config")]
pub async fn push_config(
    scope: String,
    kind: String,
    body: String,
    rollout_percent: Option<String>,
    rollout_tags: Option<String>,
    base_revision: Option<String>,
) -> Result<cortex_core::federation::PushResult, AppError> {
    use cortex_core::federation::{Audience, BundleKind, Scope};
    use cortex_core::ErrorCode;
    let (services, who) = super::guard::require(Role::Editor)?;
    let bad = |m: String| AppError::new(ErrorCode::BadRequest, m);
    let scope: Scope = scope
        .trim()
        .parse()
        .map_err(|e: cortex_core::federation::FieldError| bad(e.to_string()))?;
    let kind = BundleKind::parse(kind.trim()).ok_or_else(|| {
        bad(format!(
            "kind: `{kind}` is not one of config, experiments, offers, layoutRules"
        ))
    })?;
    if body.len() > cortex_server::federation::MAX_BUNDLE_BYTES {
        return Err(AppError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "body: a bundle is at most {} bytes",
                cortex_server::federation::MAX_BUNDLE_BYTES
            ),
        ));
    }
    let value: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
        bad(format!(
            "body: not JSON ({e}); a bundle is a JSON document, sent as a string"
        ))
    })?;
    let audience = Audience::parse_form(
        &rollout_percent.unwrap_or_default(),
        &rollout_tags.unwrap_or_default(),
    )
    .map_err(|e| bad(e.to_string()))?;
    let base = match base_revision.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(b) => Some(b.parse::<u64>().map_err(|_| {
            bad(format!(
                "base_revision: `{b}` is not a revision number (the one you edited; 0 when nothing of this kind was pushed yet)"
            ))
        })?),
    };
    Ok(services
        .federation
        .push(&scope, kind, &value, &audience, base, &who)
        .await?)
}

/// Recent pushes with how many targeted neurons acknowledged each. Viewer.
#[server(name = ListPushes, prefix = "/api", endpoint = "federation/pushes", input = leptos::server_fn::codec::GetUrl)]
pub async fn list_pushes() -> Result<Vec<cortex_core::federation::Propagation>, AppError> {
    let (services, who) = super::guard::require(Role::Viewer)?;
    Ok(services.federation.pushes(&who).await?)
}

/// How one push spread (`scope` and `revision`; neither: the newest push): neurons holding
/// it over the time since it was made, against the neurons it targets. Nothing pushed yet:
/// `null`. Viewer.
#[server(name = PushSpreadFn, prefix = "/api", endpoint = "federation/push-spread", input = leptos::server_fn::codec::GetUrl)]
pub async fn push_spread(
    scope: Option<String>,
    revision: Option<u64>,
) -> Result<Option<cortex_core::federation::PushSpread>, AppError> {
    use cortex_core::federation::Scope;
    use cortex_core::ErrorCode;
    let (services, who) = super::guard::require(Role::Viewer)?;
    let bad = |m: String| AppError::new(ErrorCode::BadRequest, m);
    let scope = scope
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let push = match (scope, revision) {
        (None, None) => None,
        (Some(scope), Some(revision)) => Some((
            scope
                .parse::<Scope>()
                .map_err(|e: cortex_core::federation::FieldError| bad(e.to_string()))?,
            revision,
        )),
        _ => {
            return Err(bad(
                "scope and revision go together: give both, or neither for the newest push".into(),
            ))
        }
    };
    Ok(services
        .federation
        .spread(push.as_ref().map(|(s, r)| (s, *r)), &who)
        .await?)
}

/// Sources whose neuron requests keep being refused (forged or replayed signatures, stale
/// clocks, unknown keys, wrong tokens) in the last ten minutes. Viewer.
#[server(name = RefusalAlerts, prefix = "/api", endpoint = "federation/alerts", input = leptos::server_fn::codec::GetUrl)]
pub async fn refusal_alerts() -> Result<Vec<cortex_core::federation::RefusalAlert>, AppError> {
    let (services, _) = super::guard::require(Role::Viewer)?;
    Ok(services.federation.refusal_alerts())
}
