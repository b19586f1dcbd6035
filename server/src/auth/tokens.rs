//! Creating API tokens (revoking is `AuthService::revoke_token`, which also forgets the
//! token at once; listing is a plain store call).

use chrono::Utc;
use cortex_core::audit::AuditRecord;
use cortex_core::user::{CreatedToken, TokenId, TokenSummary};
use cortex_core::Role;

use super::{api_token, AuthError};
use crate::store::{DynStore, TokenForCreate};

/// Longest lifetime a token may be given, in days (ten years).
pub const MAX_TTL_DAYS: u32 = 3650;

/// Creates a token for `role`, optionally expiring after `ttl_days` (1 to [`MAX_TTL_DAYS`]);
/// returns the secret once.
pub async fn create(
    store: &DynStore,
    actor: &str,
    name: &str,
    role: Role,
    ttl_days: Option<u32>,
) -> Result<CreatedToken, AuthError> {
    let name = name.trim();
    cortex_core::user::validate_token_name(name).map_err(AuthError::Invalid)?;
    if ttl_days.is_some_and(|d| !(1..=MAX_TTL_DAYS).contains(&d)) {
        return Err(AuthError::Invalid(format!(
            "ttl_days must be a whole number of days from 1 to {MAX_TTL_DAYS}, or empty for no expiry"
        )));
    }
    let secret = api_token::random_secret(api_token::TOKEN_PREFIX);
    let now = Utc::now();
    let summary = TokenSummary {
        id: TokenId(uuid::Uuid::new_v4()),
        name: name.to_string(),
        role,
        created_by: actor.to_string(),
        created_at: crate::store::from_ms(now.timestamp_millis()),
        expires_at: ttl_days.map(|d| {
            crate::store::from_ms((now + chrono::Duration::days(i64::from(d))).timestamp_millis())
        }),
        last_used_at: None,
        revoked_at: None,
    };
    let audit = AuditRecord {
        actor: actor.to_string(),
        action: "token.create".into(),
        target: format!("token:{name}"),
        before: serde_json::Value::Null,
        after: serde_json::json!({"name": name, "role": role, "expires_at": summary.expires_at}),
    };
    let token = store
        .create_token(
            TokenForCreate {
                summary,
                secret_hash: api_token::hash_secret(&secret),
            },
            audit,
        )
        .await?;
    Ok(CreatedToken { token, secret })
}
