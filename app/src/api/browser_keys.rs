//! Publishable keys: what lets browser apps on listed origins join as neurons.

use crate::error::AppError;
use cortex_core::federation::PublishableKey;
#[cfg(feature = "ssr")]
use cortex_core::Role;
use leptos::prelude::*;

/// The publishable keys and their origins (keys are not secrets: they sit in web pages).
/// Viewer.
#[server(name = ListPublishableKeys, prefix = "/api", endpoint = "federation/publishable-keys", input = leptos::server_fn::codec::GetUrl)]
pub async fn list_publishable_keys() -> Result<Vec<PublishableKey>, AppError> {
    let (services, _) = super::guard::require(Role::Viewer)?;
    Ok((*services.federation.publishable_keys().await?).clone())
}

/// Creates a publishable key for the listed origins (comma, space or newline separated).
/// Admin.
#[server(name = CreatePublishableKey, prefix = "/api", endpoint = "federation/publishable-keys/create")]
pub async fn create_publishable_key(
    name: String,
    origins: String,
) -> Result<PublishableKey, AppError> {
    let (services, who) = super::guard::require(Role::Admin)?;
    super::guard::require_writable(&services)?;
    let origins: Vec<String> = origins
        .split([',', ' ', '\n', '\r'])
        .map(|o| o.trim().trim_end_matches('/'))
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect();
    Ok(services
        .federation
        .create_publishable_key(&name, origins, &who.actor)
        .await?)
}

/// Revokes a publishable key: no new browser neuron joins with it. Admin.
#[server(name = RevokePublishableKey, prefix = "/api", endpoint = "federation/publishable-keys/revoke")]
pub async fn revoke_publishable_key(key: String) -> Result<PublishableKey, AppError> {
    let (services, who) = super::guard::require(Role::Admin)?;
    super::guard::require_writable(&services)?;
    Ok(services
        .federation
        .revoke_publishable_key(key.trim(), &who.actor)
        .await?)
}
