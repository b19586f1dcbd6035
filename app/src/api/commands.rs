//! Operator commands to neurons (hot reload, sync) and what the neurons report back (logs
//! and errors). The commands travel over the push channel; each neuron answers done or
//! failed with a reason.

use crate::error::AppError;
use cortex_core::analytics::NeuronEvent;
use cortex_core::federation::CommandRun;
#[cfg(feature = "ssr")]
use cortex_core::Role;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
async fn send(
    scope: String,
    command: cortex_core::federation::Command,
) -> Result<CommandRun, AppError> {
    use cortex_core::federation::Scope;
    use cortex_core::ErrorCode;
    let (services, who) = super::guard::require(Role::Operator)?;
    let scope: Scope = scope
        .trim()
        .parse()
        .map_err(|e: cortex_core::federation::FieldError| {
            AppError::new(ErrorCode::BadRequest, e.to_string())
        })?;
    Ok(services.federation.command(&scope, command, &who).await?)
}

/// Asks every connected neuron in a scope to re-fetch and re-apply its config without a
/// restart; each answers done or failed (see `federation/commands`). Operator.
#[server(name = HotReload, prefix = "/api", endpoint = "federation/hot-reload")]
pub async fn hot_reload(scope: String) -> Result<CommandRun, AppError> {
    send(scope, cortex_core::federation::Command::HotReload).await
}

/// Asks every connected neuron in a scope to say its revisions again and take what it
/// missed. Operator.
#[server(name = SyncNeurons, prefix = "/api", endpoint = "federation/sync")]
pub async fn sync_neurons(scope: String) -> Result<CommandRun, AppError> {
    send(scope, cortex_core::federation::Command::Sync).await
}

/// Recent commands and each neuron's answer. Viewer.
#[server(name = ListCommands, prefix = "/api", endpoint = "federation/commands", input = leptos::server_fn::codec::GetUrl)]
pub async fn list_commands() -> Result<Vec<CommandRun>, AppError> {
    let (services, who) = super::guard::require(Role::Viewer)?;
    Ok(services.federation.recent_commands(&who).await?)
}

/// Logs and errors neurons reported, newest first; `neuron` narrows to one, `q` searches
/// the text, `kind` is `error`, `log` or empty for both. Viewer.
#[server(name = NeuronReports, prefix = "/api", endpoint = "federation/reports", input = leptos::server_fn::codec::GetUrl)]
pub async fn neuron_reports(
    neuron: Option<String>,
    q: Option<String>,
    kind: Option<String>,
) -> Result<Vec<NeuronEvent>, AppError> {
    use cortex_core::analytics::EventKind;
    use cortex_core::ErrorCode;
    let (services, who) = super::guard::require(Role::Viewer)?;
    let kinds = match kind.as_deref().map(str::trim).unwrap_or("") {
        "" => vec![EventKind::Error, EventKind::Log],
        "error" => vec![EventKind::Error],
        "log" => vec![EventKind::Log],
        other => {
            return Err(AppError::new(
                ErrorCode::BadRequest,
                format!("kind: `{other}` is not error or log"),
            ))
        }
    };
    let given = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let query = cortex_server::store::events::EventQuery {
        neuron_id: given(neuron),
        kinds,
        text: given(q),
        limit: 100,
    };
    Ok(services.federation.neuron_reports(&query, &who).await?)
}
