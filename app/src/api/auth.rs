//! Sign-in, sign-out, first-admin setup and "who am I".

use crate::error::AppError;
use cortex_core::user::Principal;
use leptos::prelude::*;

/// Whether first-admin setup is still open. Public.
#[server(name = SetupState, prefix = "/api", endpoint = "auth/setup-state", input = leptos::server_fn::codec::GetUrl)]
pub async fn setup_state() -> Result<bool, AppError> {
    let (services, _) = super::guard::context()?;
    Ok(services
        .auth
        .setup_open()
        .await
        .map_err(cortex_server::ApiError::from)?)
}

/// Creates the first admin with the one-time setup token printed at start, then signs in.
/// Public, but needs the token.
#[server(name = Setup, prefix = "/api", endpoint = "auth/setup")]
pub async fn setup(
    token: String,
    username: String,
    password: String,
) -> Result<Principal, AppError> {
    let (services, _) = super::guard::context()?;
    super::guard::require_writable(&services)?;
    let signed_in = services
        .auth
        .setup_first_admin(&token, &username, &password)
        .await
        .map_err(cortex_server::ApiError::from)?;
    finish_sign_in(signed_in)
}

/// Signs in with a username and password; sets the session cookie. Public, rate limited.
#[server(name = Login, prefix = "/api", endpoint = "auth/login")]
pub async fn login(username: String, password: String) -> Result<Principal, AppError> {
    let (services, _) = super::guard::context()?;
    let signed_in = services
        .auth
        .login(&username, &password, super::guard::client_ip())
        .await
        .map_err(cortex_server::ApiError::from)?;
    finish_sign_in(signed_in)
}

#[cfg(feature = "ssr")]
fn finish_sign_in(signed_in: cortex_server::auth::SignedIn) -> Result<Principal, AppError> {
    super::guard::set_cookie(&signed_in.set_cookie);
    leptos_axum::redirect("/admin");
    let u = signed_in.user;
    Ok(Principal {
        actor: format!("user:{}", u.username),
        role: u.role,
        user_id: Some(u.id),
    })
}

/// Ends the current session and clears the cookie. Any signed-in role.
#[server(name = Logout, prefix = "/api", endpoint = "auth/logout")]
pub async fn logout() -> Result<(), AppError> {
    let (services, authn) = super::guard::context()?;
    authn.require(cortex_core::Role::Viewer)?;
    let clear = services
        .auth
        .logout(&authn)
        .await
        .map_err(cortex_server::ApiError::from)?;
    super::guard::set_cookie(&clear);
    leptos_axum::redirect("/login");
    Ok(())
}

/// The signed-in principal, or `null`. Public.
#[server(name = CurrentUser, prefix = "/api", endpoint = "auth/me", input = leptos::server_fn::codec::GetUrl)]
pub async fn current_user() -> Result<Option<Principal>, AppError> {
    let (_, authn) = super::guard::context()?;
    Ok(authn.principal().cloned())
}
