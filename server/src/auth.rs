//! Identity and access: admin users with argon2id passwords, session JWT cookies, API
//! tokens, roles, a sign-in rate limit and the CSRF check.

pub mod api_token;
pub mod jwt;
pub mod middleware;
pub mod password;
pub mod rate_limit;
pub mod tokens;

use chrono::{DateTime, Utc};
use cortex_core::audit::AuditRecord;
use cortex_core::user::{Principal, TokenId, TokenSummary, UserId, UserSummary};
use cortex_core::Role;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ApiError;
use crate::store::{
    CreateUserRule, DynStore, SessionRecord, StoreError, UserForCreate, SETUP_TOKEN_SETTING,
};

/// Why authentication or authorisation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("cross-site request refused: {0}")]
    Csrf(String),
    #[error("too many failed sign-ins; try again in {} s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration },
    #[error("too many sign-ins at once; try again in a moment")]
    Busy,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The session cookie (browser); writes need the CSRF check.
    SessionCookie { session_id: String },
    /// A session JWT sent as `Authorization: Bearer`.
    SessionBearer { session_id: String },
    /// An API token sent as `Authorization: Bearer ctx_…`.
    ApiToken,
}

/// What the authentication middleware found, stored in the request's extensions.
#[derive(Debug, Clone)]
pub enum Authn {
    /// No credentials were sent.
    Anonymous,
    /// Valid credentials.
    Authenticated {
        principal: Principal,
        credential: Credential,
    },
    /// Credentials were sent but are bad (expired, tampered, revoked) or could not be checked.
    Rejected(ApiError),
}

impl Authn {
    /// The principal if it has at least `role`; otherwise the 401/403 to answer with.
    pub fn require(&self, role: Role) -> Result<&Principal, ApiError> {
        match self {
            Authn::Anonymous => Err(AuthError::Unauthenticated(
                "sign in, or send `Authorization: Bearer <token>`".into(),
            )
            .into()),
            Authn::Rejected(e) => Err(e.clone()),
            Authn::Authenticated { principal, .. } if principal.role.allows(role) => Ok(principal),
            Authn::Authenticated { principal, .. } => Err(AuthError::Forbidden(format!(
                "this needs the `{role}` role; {} has `{}`",
                principal.actor, principal.role
            ))
            .into()),
        }
    }

    /// The principal, if authenticated.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Authn::Authenticated { principal, .. } => Some(principal),
            _ => None,
        }
    }

    /// The session id, if signed in with a session.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Authn::Authenticated {
                credential:
                    Credential::SessionCookie { session_id } | Credential::SessionBearer { session_id },
                ..
            } => Some(session_id),
            _ => None,
        }
    }
}

/// The service layer's role check: every service method that changes or reads protected
/// state takes the caller's principal and checks it here, whatever the entry point was.
pub fn require_role(principal: &Principal, role: Role) -> Result<(), ApiError> {
    if principal.role.allows(role) {
        Ok(())
    } else {
        Err(AuthError::Forbidden(format!(
            "this needs the `{role}` role; {} has `{}`",
            principal.actor, principal.role
        ))
        .into())
    }
}

/// Settings the auth service needs.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub session_ttl: Duration,
    pub secure_cookies: bool,
    pub login_max_failures: u32,
    pub login_window: Duration,
}

/// A completed sign-in: the user and the cookie to set.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: UserSummary,
    pub set_cookie: String,
}

/// Signs people in and out, and resolves credentials to principals.
#[derive(Clone)]
pub struct AuthService {
    store: DynStore,
    keys: Arc<jwt::SessionKeys>,
    settings: AuthSettings,
    /// Sign-in failures per address and per (address, username): over the limit, refused.
    limiter: Arc<rate_limit::FailureLimiter>,
    /// Sign-in failures per username: over the limit, slowed down (never refused).
    slower: Arc<rate_limit::FailureLimiter>,
    /// Password checks in flight (each holds 19 MiB for argon2).
    hashing: Arc<tokio::sync::Semaphore>,
    /// When each API token's last use was last written: at most once a minute, not on
    /// every request.
    touched: Arc<std::sync::Mutex<std::collections::HashMap<TokenId, std::time::Instant>>>,
    /// API tokens verified lately, by secret hash: read from the database at most once per
    /// [`TOKEN_RECHECK`]; a revocation through this hub drops the token at once.
    verified: Arc<std::sync::Mutex<std::collections::HashMap<String, Verified>>>,
}

/// A token as the database had it, and when it was read.
#[derive(Clone)]
struct Verified {
    token: TokenSummary,
    read_at: std::time::Instant,
}

/// How long a token read from the database is trusted without reading it again: how late a
/// revocation made elsewhere (another hub on the same database, `cortex token revoke`) is
/// noticed. A revocation through this hub takes effect at once.
pub const TOKEN_RECHECK: Duration = Duration::from_secs(1);
/// Tokens kept verified at most (more are read from the database each time).
const MAX_VERIFIED: usize = 10_000;

/// An API token's last use is written at most this often.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Password checks at once; more sign-ins wait for a slot.
const HASHES_AT_ONCE: usize = 4;
/// Longest a sign-in waits for a slot before it is refused as busy.
const HASH_WAIT: Duration = Duration::from_secs(10);

impl AuthService {
    /// Builds the service from the store, the session signing key and settings.
    pub fn new(store: DynStore, keys: jwt::SessionKeys, settings: AuthSettings) -> Self {
        let limiter =
            rate_limit::FailureLimiter::new(settings.login_max_failures, settings.login_window);
        let slower =
            rate_limit::FailureLimiter::slowing(settings.login_max_failures, settings.login_window);
        Self {
            store,
            keys: Arc::new(keys),
            settings,
            limiter: Arc::new(limiter),
            slower: Arc::new(slower),
            hashing: Arc::new(tokio::sync::Semaphore::new(HASHES_AT_ONCE)),
            touched: Arc::default(),
            verified: Arc::default(),
        }
    }

    /// The token with secret hash `hash`, from memory when it was read within
    /// [`TOKEN_RECHECK`], else from the database.
    async fn token_by_hash(&self, hash: String) -> Result<Option<TokenSummary>, AuthError> {
        let lock = || self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = lock().get(&hash) {
            if v.read_at.elapsed() < TOKEN_RECHECK {
                return Ok(Some(v.token.clone()));
            }
        }
        let token = self.store.token_by_hash(&hash).await?;
        let mut verified = lock();
        match &token {
            Some(t) => {
                if verified.len() >= MAX_VERIFIED {
                    verified.retain(|_, v| v.read_at.elapsed() < TOKEN_RECHECK);
                }
                if verified.len() < MAX_VERIFIED {
                    let read_at = std::time::Instant::now();
                    verified.insert(
                        hash,
                        Verified {
                            token: t.clone(),
                            read_at,
                        },
                    );
                }
            }
            None => {
                verified.remove(&hash);
            }
        }
        Ok(token)
    }

    /// Revokes API token `id` (audited as `actor`): refused from the next request on.
    pub async fn revoke_token(&self, id: TokenId, actor: &str) -> Result<TokenSummary, AuthError> {
        let audit = AuditRecord::new(actor, "token.revoke", String::new());
        // Forgotten before and after: a request verifying meanwhile cannot keep it.
        let forget = || {
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, v| v.token.id != id)
        };
        forget();
        let revoked = self.store.revoke_token(id, Utc::now(), audit).await;
        forget();
        Ok(revoked?)
    }

    /// Records that token `id` was used at `now`, in the background and at most once per
    /// [`TOUCH_EVERY`]: `apply` with an API token must not write to the database each time.
    fn touch(&self, id: TokenId, now: DateTime<Utc>) {
        {
            let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
            if touched
                .get(&id)
                .is_some_and(|at| at.elapsed() < TOUCH_EVERY)
            {
                return;
            }
            touched.retain(|_, at| at.elapsed() < TOUCH_EVERY);
            touched.insert(id, std::time::Instant::now());
        }
        let store = self.store.clone();
        tokio::spawn(async move {
            // Best effort: a failed touch must not fail the request.
            if let Err(e) = store.touch_token(id, now).await {
                tracing::debug!(error = %e, "could not record token use");
            }
        });
    }

    /// The cookies this hub sets (with `Secure` when configured).
    pub fn cookies(&self) -> crate::web::Cookies {
        crate::web::Cookies {
            secure: self.settings.secure_cookies,
        }
    }

    /// The store this service uses.
    pub fn store(&self) -> &DynStore {
        &self.store
    }

    /// Verifies a username and password, then opens a session. The attempt is counted
    /// before the password is hashed (see [`rate_limit`]).
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, AuthError> {
        let username = username.trim().to_lowercase();
        let strict = rate_limit::strict_keys(client, &username);
        let user = [rate_limit::user_key(&username)];
        self.limiter
            .reserve(&strict)
            .map_err(|retry_after| AuthError::RateLimited { retry_after })?;
        let wait = self.slower.slowdown(&user[0]);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let Ok(Ok(_slot)) =
            tokio::time::timeout(HASH_WAIT, self.hashing.clone().acquire_owned()).await
        else {
            return Err(AuthError::Busy);
        };
        let record = self.store.user_by_username(&username).await?;
        let hash = record.as_ref().map(|r| r.password_hash.clone());
        // Unknown users are checked against a dummy hash so timing does not reveal who exists.
        let ok = password::verify(password.to_string(), hash).await;
        match (record, ok) {
            (Some(r), true) => {
                self.limiter.clear(&strict);
                self.slower.clear(&user);
                self.open_session(r.user).await
            }
            _ => {
                self.slower.fail(&user);
                // The name as sent is the caller's text: quoted and cut, so it cannot forge
                // log lines or flood the log.
                let shown: String = username.chars().take(64).collect();
                tracing::warn!(username = ?shown, client = ?client, "failed sign-in");
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    async fn open_session(&self, user: UserSummary) -> Result<SignedIn, AuthError> {
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(self.settings.session_ttl)
            .unwrap_or(chrono::Duration::hours(12));
        let session = SessionRecord {
            id: api_token::random_id(),
            user_id: user.id,
            created_at: now,
            expires_at: now + ttl,
        };
        let jwt = self
            .keys
            .issue(&session, &user.username)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        let audit = AuditRecord {
            actor: format!("user:{}", user.username),
            action: "session.login".into(),
            target: format!("user:{}", user.username),
            before: serde_json::Value::Null,
            after: serde_json::json!({"expires_at": session.expires_at}),
        };
        self.store.create_session(session, audit).await?;
        Ok(SignedIn {
            set_cookie: self.cookies().session(&jwt, self.settings.session_ttl),
            user,
        })
    }

    /// Ends the session and returns the cookie that clears it.
    pub async fn logout(&self, authn: &Authn) -> Result<String, AuthError> {
        if let (Some(sid), Some(p)) = (authn.session_id(), authn.principal()) {
            let audit = AuditRecord::new(p.actor.clone(), "session.logout", p.actor.clone());
            self.store.delete_session(sid, audit).await?;
        }
        Ok(self.cookies().clear_session())
    }

    /// Whether first-admin setup is still open (no users yet).
    pub async fn setup_open(&self) -> Result<bool, AuthError> {
        Ok(self.store.count_users().await? == 0)
    }

    /// When there are no users, issues a fresh one-time setup token (only its hash is kept)
    /// and returns it for printing. Returns `None` when setup is done.
    pub async fn issue_setup_token(&self) -> Result<Option<String>, AuthError> {
        if !self.setup_open().await? {
            return Ok(None);
        }
        let token = api_token::random_secret("setup_");
        self.store
            .put_setting(SETUP_TOKEN_SETTING, &api_token::hash_secret(&token), None)
            .await?;
        Ok(Some(token))
    }

    /// Creates the first admin with the one-time setup token, and signs them in.
    pub async fn setup_first_admin(
        &self,
        setup_token: &str,
        username: &str,
        password: &str,
    ) -> Result<SignedIn, AuthError> {
        let username = username.trim().to_lowercase();
        let expected = self.store.setting(SETUP_TOKEN_SETTING).await?;
        let given = api_token::hash_secret(setup_token.trim());
        match expected {
            None if !self.setup_open().await? => {
                return Err(AuthError::Store(StoreError::Conflict(
                    "setup is already done: an admin exists; sign in instead".into(),
                )))
            }
            Some(h) if api_token::constant_time_eq(h.as_bytes(), given.as_bytes()) => {}
            _ => return Err(AuthError::Unauthenticated(
                "the setup token is wrong or was already used; restart Cortex to print a new one"
                    .into(),
            )),
        }
        cortex_core::user::validate_username(&username).map_err(AuthError::Invalid)?;
        cortex_core::user::validate_password(password).map_err(AuthError::Invalid)?;
        let user = self
            .create_user_inner(
                "setup",
                &username,
                password,
                Role::Admin,
                CreateUserRule::FirstUser,
            )
            .await?;
        self.open_session(user).await
    }

    /// Creates a user (admins only; checked by the caller).
    pub async fn create_user(
        &self,
        actor: &str,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<UserSummary, AuthError> {
        let username = username.trim().to_lowercase();
        cortex_core::user::validate_username(&username).map_err(AuthError::Invalid)?;
        cortex_core::user::validate_password(password).map_err(AuthError::Invalid)?;
        self.create_user_inner(actor, &username, password, role, CreateUserRule::Any)
            .await
    }

    async fn create_user_inner(
        &self,
        actor: &str,
        username: &str,
        password: &str,
        role: Role,
        rule: CreateUserRule,
    ) -> Result<UserSummary, AuthError> {
        let password_hash = password::hash(password.to_string()).await?;
        let user = UserForCreate {
            id: UserId(uuid::Uuid::new_v4()),
            username: username.to_string(),
            password_hash,
            role,
            created_at: Utc::now(),
        };
        let audit = AuditRecord {
            actor: actor.to_string(),
            action: "user.create".into(),
            target: format!("user:{username}"),
            before: serde_json::Value::Null,
            after: serde_json::json!({"username": username, "role": role}),
        };
        Ok(self.store.create_user(user, rule, audit).await?)
    }

    /// Resolves a session JWT to a principal.
    pub async fn principal_for_session(&self, jwt: &str) -> Result<(Principal, String), AuthError> {
        let claims = self.keys.verify(jwt)?;
        let user = self
            .store
            .session_user(&claims.sid, Utc::now())
            .await?
            .ok_or_else(|| {
                AuthError::Unauthenticated("session ended or expired; sign in again".into())
            })?;
        let principal = Principal {
            actor: format!("user:{}", user.username),
            role: user.role,
            user_id: Some(user.id),
        };
        Ok((principal, claims.sid))
    }

    /// Resolves an API token secret to a principal.
    pub async fn principal_for_token(&self, secret: &str) -> Result<Principal, AuthError> {
        let token = self
            .token_by_hash(api_token::hash_secret(secret))
            .await?
            .ok_or_else(|| AuthError::Unauthenticated("unknown API token".into()))?;
        let now = Utc::now();
        if token.revoked_at.is_some() {
            return Err(AuthError::Unauthenticated(format!(
                "API token `{}` was revoked",
                token.name
            )));
        }
        if token.expires_at.is_some_and(|t| t <= now) {
            return Err(AuthError::Unauthenticated(format!(
                "API token `{}` expired",
                token.name
            )));
        }
        self.touch(token.id, now);
        Ok(Principal {
            actor: format!("token:{}", token.name),
            role: token.role,
            user_id: None,
        })
    }
}
