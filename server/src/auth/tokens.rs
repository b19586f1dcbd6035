//! Creating API tokens (listing and revoking are plain store calls).

use chrono::Utc;
use cortex_core::audit::AuditRecord;
use cortex_core::user::{CreatedToken, TokenId, TokenSummary};
use cortex_core::Role;

use super::{api_token, AuthError};
use crate::store::{DynStore, TokenForCreate};

/// Creates a token for `role`, optionally expiring after `ttl_days`; returns the secret once.
pub async fn create(
    store: &DynStore,
    actor: &str,
    name: &str,
    role: Role,
    ttl_days: Option<u32>,
) -> Result<CreatedToken, AuthError> {
    let name = name.trim();
    cortex_core::user::validate_token_name(name).map_err(AuthError::Invalid)?;
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
