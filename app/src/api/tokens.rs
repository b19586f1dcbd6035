//! API tokens: list, create (the secret is shown once), revoke. Admin only.

use crate::error::AppError;
use cortex_core::user::{CreatedToken, TokenId, TokenSummary};
use cortex_core::Role;
use leptos::prelude::*;

/// Lists tokens (never their secrets). Admin.
#[server(name = ListTokens, prefix = "/api", endpoint = "tokens", input = leptos::server_fn::codec::GetUrl)]
pub async fn list_tokens() -> Result<Vec<TokenSummary>, AppError> {
    let (services, _) = super::guard::require(Role::Admin)?;
    Ok(services
        .store
        .list_tokens()
        .await
        .map_err(cortex_server::ApiError::from)?)
}

/// Creates a token with a role and an optional lifetime in days (1 to 3650). Admin.
/// The response holds the secret; it is never shown again.
#[server(name = CreateToken, prefix = "/api", endpoint = "tokens/create")]
pub async fn create_token(
    name: String,
    role: Role,
    ttl_days: Option<String>,
) -> Result<CreatedToken, AppError> {
    let (services, who) = super::guard::require(Role::Admin)?;
    super::guard::require_writable(&services)?;
    let ttl_days = match ttl_days.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.parse::<u32>() {
            Ok(d) => Some(d),
            Err(_) => return Err(AppError::new(
                cortex_core::ErrorCode::BadRequest,
                "ttl_days must be a whole number of days from 1 to 3650, or empty for no expiry",
            )),
        },
    };
    let created =
        cortex_server::auth::tokens::create(&services.store, &who.actor, &name, role, ttl_days)
            .await
            .map_err(cortex_server::ApiError::from)?;
    flash_secret_for_form_posts(&created.secret);
    Ok(created)
}

/// Revokes a token at once. Admin.
#[server(name = RevokeToken, prefix = "/api", endpoint = "tokens/revoke")]
pub async fn revoke_token(id: TokenId) -> Result<TokenSummary, AppError> {
    let (services, who) = super::guard::require(Role::Admin)?;
    super::guard::require_writable(&services)?;
    Ok(services
        .auth
        .revoke_token(id, &who.actor)
        .await
        .map_err(cortex_server::ApiError::from)?)
}

/// For a plain (no-JS) form post, the secret would be lost in the redirect back to the page,
/// so it travels once in a short-lived HttpOnly cookie scoped to the admin area.
#[cfg(feature = "ssr")]
fn flash_secret_for_form_posts(secret: &str) {
    if super::guard::is_plain_form_post() {
        if let Some(cookies) = super::guard::cookies() {
            super::guard::set_cookie(&cookies.flash(secret));
        }
    }
}

/// Reads and clears the one-time secret cookie set by a no-JS token creation. Admin.
#[server(name = TakeNewTokenSecret, prefix = "/api", endpoint = "tokens/take-new-secret", input = leptos::server_fn::codec::GetUrl)]
pub async fn take_new_token_secret() -> Result<Option<String>, AppError> {
    let _ = super::guard::require(Role::Admin)?;
    let secret = super::guard::request_cookie(cortex_server::web::FLASH_COOKIE)
        .filter(|v| v.starts_with(cortex_server::auth::api_token::TOKEN_PREFIX));
    if let (Some(_), Some(cookies)) = (&secret, super::guard::cookies()) {
        super::guard::set_cookie(&cookies.clear_flash());
    }
    Ok(secret)
}
