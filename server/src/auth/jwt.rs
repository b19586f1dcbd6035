//! Session tokens: HS256 JWTs naming a server-side session, carried in an HttpOnly,
//! SameSite=Strict cookie. The session row makes sign-out and role changes take effect at once.

use jsonwebtoken::{
    decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::path::Path;

use super::AuthError;
use crate::store::SessionRecord;

/// Name of the session cookie.
pub const COOKIE_NAME: &str = crate::web::SESSION_COOKIE;

/// Claims of a session token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionClaims {
    /// Session id (a row in `sessions`).
    pub sid: String,
    /// Username, for logs.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
}

/// The signing and verifying keys.
pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl SessionKeys {
    /// Keys from a secret.
    pub fn from_secret(secret: &SecretString) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
        }
    }

    /// Issues a token for a session.
    pub fn issue(
        &self,
        s: &SessionRecord,
        username: &str,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = SessionClaims {
            sid: s.id.clone(),
            sub: username.to_string(),
            iat: s.created_at.timestamp(),
            exp: s.expires_at.timestamp(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Signs arbitrary claims (tests use this to forge expired tokens with the real key).
    pub fn sign(&self, claims: &SessionClaims) -> Result<String, jsonwebtoken::errors::Error> {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Verifies signature and expiry.
    pub fn verify(&self, token: &str) -> Result<SessionClaims, AuthError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp"]);
        decode::<SessionClaims>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => {
                    AuthError::Unauthenticated("session expired; sign in again".into())
                }
                _ => AuthError::Unauthenticated(
                    "session token is invalid (tampered or from another hub); sign in again".into(),
                ),
            })
    }
}

/// Loads the signing secret: the configured one, else `data_dir/jwt.key`, generated (0600)
/// on first start.
pub fn load_or_create_secret(
    configured: Option<&SecretString>,
    data_dir: &Path,
) -> std::io::Result<SecretString> {
    if let Some(s) = configured {
        return Ok(s.clone());
    }
    let path = data_dir.join("jwt.key");
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(SecretString::from(s.trim().to_string())),
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is too short; delete it to regenerate",
                path.display()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let secret = super::api_token::random_secret("");
    crate::fsutil::write_private(&path, secret.as_bytes())?;
    tracing::info!(path = %path.display(), "generated a new session signing key");
    Ok(SecretString::from(secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn keys(s: &str) -> SessionKeys {
        SessionKeys::from_secret(&SecretString::from(s.to_string()))
    }

    #[test]
    fn tokens_verify_and_reject_tampering_and_expiry() {
        let k = keys("0123456789abcdef0123456789abcdef");
        let now = Utc::now();
        let s = SessionRecord {
            id: "s1".into(),
            user_id: cortex_core::user::UserId(uuid::Uuid::nil()),
            created_at: now,
            expires_at: now + chrono::Duration::hours(1),
        };
        let t = k.issue(&s, "alice").unwrap();
        assert_eq!(k.verify(&t).unwrap().sid, "s1");
        assert!(keys("another-secret-another-secret-xx").verify(&t).is_err());
        let mut tampered = t.clone();
        tampered.pop();
        tampered.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert!(k.verify(&tampered).is_err());
        let expired = k
            .sign(&SessionClaims {
                sid: "s1".into(),
                sub: "a".into(),
                iat: 0,
                exp: now.timestamp() - 5,
            })
            .unwrap();
        assert!(k
            .verify(&expired)
            .unwrap_err()
            .to_string()
            .contains("expired"));
    }

    #[test]
    fn secret_file_is_generated_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_secret(None, dir.path()).unwrap();
        let b = load_or_create_secret(None, dir.path()).unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("jwt.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
