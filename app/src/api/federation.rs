//! The fleet, for admins: health summary, kinds, status changes, pinning, removal and the
//! join policy. Neurons themselves use the signed routes in `cortex_server::federation::http`.

use crate::error::AppError;
use cortex_core::federation::{FleetHealth, JoinPolicy, Neuron, NeuronKind};
#[cfg(feature = "ssr")]
use cortex_core::Role;
use leptos::prelude::*;

/// The fleet summary and every neuron. Viewer.
#[server(name = FleetHealthFn, prefix = "/api", endpoint = "federation/health", input = leptos::server_fn::codec::GetUrl)]
pub async fn fleet_health() -> Result<FleetHealth, AppError> {
    let (services, _) = super::guard::require(Role::Viewer)?;
    let err = cortex_server::ApiError::from;
    let mut neurons = services.store.list_neurons().await.map_err(err)?;
    let mut acks: std::collections::HashMap<String, Vec<cortex_core::federation::Acked>> =
        Default::default();
    for a in services.store.all_acks().await.map_err(err)? {
        acks.entry(a.neuron_id)
            .or_default()
            .push(cortex_core::federation::Acked {
                scope: a.scope.to_string(),
                revision: a.revision,
                at: a.at,
            });
    }
    for n in &mut neurons {
        n.acked = acks.remove(&n.id).unwrap_or_default();
    }
    Ok(FleetHealth::of(neurons))
}

/// Kinds the hub knows. Viewer.
#[server(name = NeuronKinds, prefix = "/api", endpoint = "federation/kinds", input = leptos::server_fn::codec::GetUrl)]
pub async fn neuron_kinds() -> Result<Vec<NeuronKind>, AppError> {
    let (services, _) = super::guard::require(Role::Viewer)?;
    Ok(services
        .store
        .neuron_kinds()
        .await
        .map_err(cortex_server::ApiError::from)?)
}

/// Approves (admin), drains, retires or reactivates a neuron. Operator.
#[server(name = SetNeuronStatus, prefix = "/api", endpoint = "federation/neurons/set-status")]
pub async fn set_neuron_status(id: String, status: String) -> Result<Neuron, AppError> {
    use cortex_core::federation::NeuronStatus;
    use cortex_core::ErrorCode;
    let (services, who) = super::guard::require(Role::Operator)?;
    super::guard::require_writable(&services)?;
    let status = match NeuronStatus::parse(status.trim()) {
        Some(s @ (NeuronStatus::Active | NeuronStatus::Draining | NeuronStatus::Retired)) => s,
        _ => {
            return Err(AppError::new(
                ErrorCode::BadRequest,
                format!(
                    "status: `{status}` cannot be set by hand; use active, draining or retired"
                ),
            ))
        }
    };
    let current = services
        .store
        .neuron(&id)
        .await
        .map_err(cortex_server::ApiError::from)?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, format!("no neuron with id `{id}`")))?;
    let action = match (current.status, status) {
        (NeuronStatus::Pending, NeuronStatus::Active) => {
            // Letting a neuron in is a security decision.
            super::guard::require(Role::Admin)?;
            "neuron.approve"
        }
        (_, NeuronStatus::Active) => "neuron.reactivate",
        (_, NeuronStatus::Draining) => "neuron.drain",
        _ => "neuron.retire",
    };
    let audit = cortex_core::audit::AuditRecord::new(who.actor.clone(), action, String::new());
    let neuron = services
        .store
        .set_neuron_status(&id, status, audit)
        .await
        .map_err(cortex_server::ApiError::from)?;
    if status == NeuronStatus::Retired {
        services.federation.channels().kick(&id);
    }
    Ok(neuron)
}

/// Pins or unpins a neuron. Operator.
#[server(name = PinNeuron, prefix = "/api", endpoint = "federation/neurons/pin")]
pub async fn pin_neuron(id: String, pinned: bool) -> Result<Neuron, AppError> {
    let (services, who) = super::guard::require(Role::Operator)?;
    super::guard::require_writable(&services)?;
    let action = if pinned { "neuron.pin" } else { "neuron.unpin" };
    let audit = cortex_core::audit::AuditRecord::new(who.actor.clone(), action, String::new());
    Ok(services
        .store
        .set_neuron_pinned(&id, pinned, audit)
        .await
        .map_err(cortex_server::ApiError::from)?)
}

/// Removes a neuron (denies a pending one). Operator.
#[server(name = RemoveNeuron, prefix = "/api", endpoint = "federation/neurons/remove")]
pub async fn remove_neuron(id: String) -> Result<Neuron, AppError> {
    let (services, who) = super::guard::require(Role::Operator)?;
    super::guard::require_writable(&services)?;
    let audit =
        cortex_core::audit::AuditRecord::new(who.actor.clone(), "neuron.remove", String::new());
    let neuron = services
        .store
        .delete_neuron(&id, audit)
        .await
        .map_err(cortex_server::ApiError::from)?;
    services.federation.channels().kick(&id);
    Ok(neuron)
}

/// The join policy. Viewer.
#[server(name = GetJoinPolicy, prefix = "/api", endpoint = "federation/join-policy", input = leptos::server_fn::codec::GetUrl)]
pub async fn join_policy() -> Result<JoinPolicy, AppError> {
    let (services, _) = super::guard::require(Role::Viewer)?;
    Ok(services.federation.join_policy().await?)
}

/// Sets the join policy. Admin. `keys` and `tags` are comma or newline separated lists.
#[server(name = SetJoinPolicy, prefix = "/api", endpoint = "federation/join-policy")]
pub async fn set_join_policy(
    mode: String,
    keys: Option<String>,
    tags: Option<String>,
) -> Result<JoinPolicy, AppError> {
    use cortex_core::federation::{check_name, JoinMode};
    use cortex_core::ErrorCode;
    let (services, who) = super::guard::require(Role::Admin)?;
    super::guard::require_writable(&services)?;
    let bad = |m: String| AppError::new(ErrorCode::BadRequest, m);
    let mode = match mode.trim() {
        "open" => JoinMode::Open,
        "allowlist" => JoinMode::Allowlist,
        "approval" => JoinMode::Approval,
        other => {
            return Err(bad(format!(
                "mode: `{other}` is not one of open, allowlist, approval"
            )))
        }
    };
    let split = |s: Option<String>| -> Vec<String> {
        s.unwrap_or_default()
            .split([',', '\n', '\r', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (keys, tags) = (split(keys), split(tags));
    if keys.len() > 10_000 || tags.len() > 1_000 {
        return Err(bad("at most 10000 keys and 1000 tags".into()));
    }
    for k in &keys {
        cortex_server::federation::public_key(k)
            .map_err(|_| bad(format!("keys: `{k}` is not a base64 Ed25519 public key")))?;
    }
    for (i, t) in tags.iter().enumerate() {
        check_name(&format!("tags[{i}]"), t).map_err(|e| bad(e.to_string()))?;
    }
    if mode == JoinMode::Allowlist && keys.is_empty() && tags.is_empty() {
        return Err(bad(
            "an allowlist needs at least one key or tag (or nobody can join)".into(),
        ));
    }
    let policy = JoinPolicy { mode, keys, tags };
    services
        .federation
        .set_join_policy(&policy, &who.actor)
        .await?;
    Ok(policy)
}

/// Largest bundle body accepted by `push-config`.
pub const MAX_BUNDLE_BYTES: usize = 256 * 1024;

/// Pushes a bundle (a whole JSON document of one kind) to a scope: stored as the scope's next
/// revision and sent at once to every connected neuron in it. Editor.
#[server(name = PushConfig, prefix = "/api", endpoint = "federation/push-config")]
pub async fn push_config(
    scope: String,
    kind: String,
    body: String,
    rollout_percent: Option<String>,
    rollout_tags: Option<String>,
) -> Result<cortex_core::federation::PushResult, AppError> {
    use cortex_core::federation::{BundleKind, Scope};
    use cortex_core::ErrorCode;
    let (services, who) = super::guard::require(Role::Editor)?;
    super::guard::require_writable(&services)?;
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
    if body.len() > MAX_BUNDLE_BYTES {
        return Err(AppError::new(
            ErrorCode::PayloadTooLarge,
            format!("body: a bundle is at most {MAX_BUNDLE_BYTES} bytes"),
        ));
    }
    let value: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
        bad(format!(
            "body: not JSON ({e}); a bundle is a JSON document, sent as a string"
        ))
    })?;
    if !value.is_object() {
        return Err(bad("body: a bundle is a JSON object".into()));
    }
    let audience = staged_audience(rollout_percent, rollout_tags)?;
    Ok(services
        .federation
        .push(&scope, kind, &value, &audience, &who.actor)
        .await?)
}

/// The audience of a staged push from the form: a percentage (1-99) and/or tags.
#[cfg(feature = "ssr")]
fn staged_audience(
    percent: Option<String>,
    tags: Option<String>,
) -> Result<cortex_core::federation::Audience, AppError> {
    use cortex_core::ErrorCode;
    let bad = |m: String| AppError::new(ErrorCode::BadRequest, m);
    let percent = match percent.as_deref().map(str::trim).unwrap_or("") {
        "" => None,
        p => match p.trim_end_matches('%').parse::<u8>() {
            Ok(n) if (1..=100).contains(&n) => Some(n).filter(|n| *n < 100),
            _ => {
                return Err(bad(format!(
                    "rollout_percent: `{p}` is not a whole number from 1 to 100"
                )))
            }
        },
    };
    let tags: Vec<String> = tags
        .unwrap_or_default()
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    for (i, t) in tags.iter().enumerate() {
        cortex_core::federation::check_name(&format!("rollout_tags[{i}]"), t)
            .map_err(|e| bad(e.to_string()))?;
    }
    if tags.len() > 32 {
        return Err(bad("rollout_tags: at most 32 tags".into()));
    }
    Ok(cortex_core::federation::Audience { percent, tags })
}

/// Recent pushes with how many targeted neurons acknowledged each. Viewer.
#[server(name = ListPushes, prefix = "/api", endpoint = "federation/pushes", input = leptos::server_fn::codec::GetUrl)]
pub async fn list_pushes() -> Result<Vec<cortex_core::federation::Propagation>, AppError> {
    use cortex_core::federation::Propagation;
    let (services, _) = super::guard::require(Role::Viewer)?;
    let err = cortex_server::ApiError::from;
    let neurons = services.store.list_neurons().await.map_err(err)?;
    let mut out = Vec::new();
    for b in services.store.recent_bundles(20).await.map_err(err)? {
        let targeted = neurons
            .iter()
            .filter(|n| n.status.is_joined() && b.audience.reaches(&b.scope, &n.id, &n.tags))
            .count() as u64;
        let acked = services
            .store
            .count_acks(&b.scope, b.revision)
            .await
            .map_err(err)?;
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

/// Sources whose neuron requests keep being refused (forged or replayed signatures, stale
/// clocks, unknown keys, wrong tokens) in the last ten minutes. Viewer.
#[server(name = RefusalAlerts, prefix = "/api", endpoint = "federation/alerts", input = leptos::server_fn::codec::GetUrl)]
pub async fn refusal_alerts() -> Result<Vec<cortex_core::federation::RefusalAlert>, AppError> {
    let (services, _) = super::guard::require(Role::Viewer)?;
    Ok(services.federation.refusal_alerts())
}
