//! Admin users: list, create, change role, delete. Admin only.

use crate::error::AppError;
use cortex_core::user::{UserId, UserSummary};
use cortex_core::Role;
use leptos::prelude::*;

/// Lists users. Admin.
#[server(name = ListUsers, prefix = "/api", endpoint = "users", input = leptos::server_fn::codec::GetUrl)]
pub async fn list_users() -> Result<Vec<UserSummary>, AppError> {
    let (services, _) = super::guard::require(Role::Admin)?;
    Ok(services
        .store
        .list_users()
        .await
        .map_err(cortex_server::ApiError::from)?)
}

/// Creates a user. Admin.
#[server(name = CreateUser, prefix = "/api", endpoint = "users/create")]
pub async fn create_user(
    username: String,
    password: String,
    role: Role,
) -> Result<UserSummary, AppError> {
    let (services, who) = super::guard::require(Role::Admin)?;
    super::guard::require_writable(&services)?;
    Ok(services
        .auth
        .create_user(&who.actor, &username, &password, role)
        .await
        .map_err(cortex_server::ApiError::from)?)
}

/// Changes a user's role. Admin. The last admin cannot be demoted.
#[server(name = SetUserRole, prefix = "/api", endpoint = "users/set-role")]
pub async fn set_user_role(id: UserId, role: Role) -> Result<UserSummary, AppError> {
    let (services, who) = super::guard::require(Role::Admin)?;
    super::guard::require_writable(&services)?;
    let audit =
        cortex_core::audit::AuditRecord::new(who.actor.clone(), "user.set_role", String::new());
    Ok(services
        .store
        .set_user_role(id, role, audit)
        .await
        .map_err(cortex_server::ApiError::from)?)
}

/// Deletes a user and ends their sessions. Admin. The last admin cannot be deleted.
#[server(name = DeleteUser, prefix = "/api", endpoint = "users/delete")]
pub async fn delete_user(id: UserId) -> Result<UserSummary, AppError> {
    let (services, who) = super::guard::require(Role::Admin)?;
    super::guard::require_writable(&services)?;
    let audit =
        cortex_core::audit::AuditRecord::new(who.actor.clone(), "user.delete", String::new());
    Ok(services
        .store
        .delete_user(id, audit)
        .await
        .map_err(cortex_server::ApiError::from)?)
}
