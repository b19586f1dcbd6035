//! Users, API tokens and the signed-in principal, as the admin UI and the API see them.

use crate::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Identifies an admin user.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

/// Identifies an API token (not the secret: the secret is shown once and stored hashed).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenId(pub Uuid);

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for TokenId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A user as listed on the Users page. Never carries the password hash.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: UserId,
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// An API token as listed: everything but the secret.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSummary {
    pub id: TokenId,
    pub name: String,
    pub role: Role,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A freshly created token: the only time the secret is ever shown.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: TokenSummary,
    /// The bearer secret. Store it now; Cortex keeps only its hash.
    pub secret: String,
}

/// Who is calling: a signed-in user or an API token.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// `user:<name>` or `token:<name>`: the actor written to the audit log.
    pub actor: String,
    /// What this principal may do.
    pub role: Role,
    /// Set when the principal is a signed-in user.
    pub user_id: Option<UserId>,
}

impl Principal {
    /// Who acts where no one signs in: the command line (it holds the data dir, so it may do
    /// anything) and the hub itself. The actor is written to the audit log (`cli`, `hub`).
    pub fn local(actor: &str) -> Self {
        Self {
            actor: actor.into(),
            role: Role::Admin,
            user_id: None,
        }
    }
}

/// Minimum length of an admin password.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Maximum length of an admin password (argon2 input is bounded to keep hashing cheap to refuse).
pub const MAX_PASSWORD_LEN: usize = 256;

/// Checks a username: 3 to 64 characters of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn validate_username(name: &str) -> Result<(), String> {
    let ok_len = (3..=64).contains(&name.len());
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    let ok_start = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_start {
        Ok(())
    } else {
        Err("username must be 3-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit".into())
    }
}

/// Checks a new password's length.
pub fn validate_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        Err(format!(
            "password must be at least {MIN_PASSWORD_LEN} characters"
        ))
    } else if password.len() > MAX_PASSWORD_LEN {
        Err(format!("password must be at most {MAX_PASSWORD_LEN} bytes"))
    } else {
        Ok(())
    }
}

/// Checks a token's name: 1 to 64 printable characters.
pub fn validate_token_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        Err("token name must be 1-64 printable characters".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(validate_username("admin").is_ok());
        assert!(validate_username("ops.team-1").is_ok());
        assert!(validate_username("ab").is_err());
        assert!(validate_username("Admin").is_err());
        assert!(validate_username("-lead").is_err());
        assert!(validate_username("a b c").is_err());
    }

    #[test]
    fn passwords() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("correct horse battery").is_ok());
        assert!(validate_password(&"x".repeat(300)).is_err());
    }
}
