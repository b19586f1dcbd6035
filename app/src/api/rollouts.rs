//! Rollouts: moving a kind's neurons (all of them, a tag's, or one) to a described release,
//! staged, with pause, resume and abort; each neuron's update; and the rules by which a push
//! or a rollout that made things worse is rolled back by itself.

use crate::error::AppError;
pub use cortex_core::federation::guard::RollbackRules;
pub use cortex_core::federation::{Rollout, RolloutView};
use leptos::prelude::*;

/// A required field (checked after the role, so a caller without one learns only that).
#[cfg(feature = "ssr")]
fn required(field: &str, value: Option<String>, what: &str) -> Result<String, AppError> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            AppError::new(
                cortex_core::ErrorCode::BadRequest,
                format!("{field}: required ({what})"),
            )
        })
}

#[cfg(feature = "ssr")]
fn stage(
    percent: Option<String>,
    tags: Option<String>,
) -> Result<cortex_core::federation::Audience, AppError> {
    cortex_core::federation::Audience::parse_form(
        &percent.unwrap_or_default(),
        &tags.unwrap_or_default(),
    )
    .map_err(|e| AppError::new(cortex_core::ErrorCode::BadRequest, e.to_string()))
}

/// The running and paused rollouts and the newest finished ones, with their counts and
/// every neuron's update. Viewer.
#[server(name = RolloutsFn, prefix = "/api", endpoint = "rollouts", input = leptos::server_fn::codec::GetUrl)]
pub async fn rollouts() -> Result<Vec<RolloutView>, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    Ok(services.federation.rollouts(&who).await?)
}

/// Starts moving neurons of a kind to a described release (audited as `rollout.start`).
/// Operator.
#[server(name = StartRollout, prefix = "/api", endpoint = "rollouts/start")]
pub async fn start_rollout(
    kind: Option<String>,
    version: Option<String>,
    #[server(default)] scope: Option<String>,
    #[server(default)] rollout_percent: Option<String>,
    #[server(default)] rollout_tags: Option<String>,
) -> Result<Rollout, AppError> {
    use cortex_core::federation::{RolloutForCreate, Scope};
    let (services, who) = super::guard::require(cortex_core::Role::Operator)?;
    super::guard::require_writable(&services)?;
    let kind = required("kind", kind, "a neuron kind")?;
    let version = required("version", version, "a release of that kind")?;
    let scope = match scope.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<Scope>()
                .map_err(|e| AppError::new(cortex_core::ErrorCode::BadRequest, e.to_string()))?,
        ),
    };
    let form = RolloutForCreate {
        kind,
        version,
        scope,
        audience: stage(rollout_percent, rollout_tags)?,
    };
    Ok(services
        .federation
        .start_rollout(form, &who, chrono::Utc::now())
        .await?)
}

/// Pauses, resumes or aborts a rollout (audited as `rollout.<action>`). Operator.
#[server(name = ActOnRollout, prefix = "/api", endpoint = "rollouts/act")]
pub async fn act_on_rollout(
    id: Option<String>,
    action: Option<String>,
) -> Result<Rollout, AppError> {
    use cortex_core::federation::RolloutAction;
    let (services, who) = super::guard::require(cortex_core::Role::Operator)?;
    super::guard::require_writable(&services)?;
    let id = required("id", id, "a rollout id")?;
    let action = required("action", action, "pause, resume or abort")?;
    let action = RolloutAction::parse(&action).ok_or_else(|| {
        AppError::new(
            cortex_core::ErrorCode::BadRequest,
            format!("action: `{action}` is not pause, resume or abort"),
        )
    })?;
    Ok(services
        .federation
        .act_on_rollout(&id, action, &who, chrono::Utc::now())
        .await?)
}

/// Sets a running or paused rollout's stage (audited as `rollout.stage`). Operator.
#[server(name = StageRollout, prefix = "/api", endpoint = "rollouts/stage")]
pub async fn stage_rollout(
    id: Option<String>,
    #[server(default)] rollout_percent: Option<String>,
    #[server(default)] rollout_tags: Option<String>,
) -> Result<Rollout, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Operator)?;
    super::guard::require_writable(&services)?;
    let id = required("id", id, "a rollout id")?;
    let audience = stage(rollout_percent, rollout_tags)?;
    Ok(services
        .federation
        .stage_rollout(&id, audience, &who, chrono::Utc::now())
        .await?)
}

/// The automatic rollback rules: the default and each kind's own. Viewer.
#[server(name = RollbackRulesFn, prefix = "/api", endpoint = "federation/rollback-rules", input = leptos::server_fn::codec::GetUrl)]
pub async fn rollback_rules() -> Result<RollbackRules, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    Ok(services.federation.rollback_rules(&who).await?)
}

/// Sets the automatic rollback rule of one kind (empty: the default), or removes a kind's
/// own rule (`remove`). Audited as `rollback-rules.set`. Operator.
#[allow(clippy::too_many_arguments)]
#[server(name = SetRollbackRule, prefix = "/api", endpoint = "federation/rollback-rules/set")]
pub async fn set_rollback_rule(
    #[server(default)] kind: Option<String>,
    #[server(default)] enabled: Option<String>,
    #[server(default)] window_minutes: Option<String>,
    #[server(default)] min_errors: Option<String>,
    #[server(default)] error_ratio: Option<String>,
    #[server(default)] unhealthy_percent: Option<String>,
    #[server(default)] latency_ratio: Option<String>,
    #[server(default)] min_latency_samples: Option<String>,
    #[server(default)] remove: Option<String>,
) -> Result<RollbackRules, AppError> {
    use cortex_core::federation::guard::RollbackRule;
    use cortex_core::ErrorCode;
    let (services, who) = super::guard::require(cortex_core::Role::Operator)?;
    super::guard::require_writable(&services)?;
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let kind = given(&kind);
    let flag =
        |v: &Option<String>| matches!(given(v).as_deref(), Some("true" | "on" | "1" | "yes"));
    let number = |field: &str, v: &Option<String>, default: f64| -> Result<f64, AppError> {
        match given(v) {
            None => Ok(default),
            Some(s) => s
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| {
                    AppError::new(
                        ErrorCode::BadRequest,
                        format!("{field}: `{s}` is not a number"),
                    )
                }),
        }
    };
    let rule = if flag(&remove) {
        None
    } else {
        // Fields left out keep the rule's current values (the kind's own, or the default).
        let rules = services.federation.rollback_rules(&who).await?;
        let d: RollbackRule = match &kind {
            Some(k) => rules.for_kind(k),
            None => rules.default,
        };
        let whole = |field: &str, v: &Option<String>, default: u64| -> Result<u64, AppError> {
            let n = number(field, v, default as f64)?;
            if n.fract() != 0.0 || n < 0.0 || n > 1e9 {
                return Err(AppError::new(
                    ErrorCode::BadRequest,
                    format!("{field}: a whole number"),
                ));
            }
            Ok(n as u64)
        };
        Some(RollbackRule {
            // A checkbox sends nothing when unticked; a JSON client may send "false".
            enabled: flag(&enabled),
            window_minutes: whole("window_minutes", &window_minutes, d.window_minutes.into())?
                .min(u32::MAX as u64) as u32,
            min_errors: whole("min_errors", &min_errors, d.min_errors)?,
            error_ratio: number("error_ratio", &error_ratio, d.error_ratio)?,
            unhealthy_percent: whole(
                "unhealthy_percent",
                &unhealthy_percent,
                d.unhealthy_percent.into(),
            )?
            .min(255) as u8,
            latency_ratio: number("latency_ratio", &latency_ratio, d.latency_ratio)?,
            min_latency_samples: whole(
                "min_latency_samples",
                &min_latency_samples,
                d.min_latency_samples,
            )?,
        })
    };
    Ok(services
        .federation
        .set_rollback_rule(kind.as_deref(), rule, &who)
        .await?)
}
