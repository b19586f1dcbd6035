//! The whole access matrix: every endpoint in the catalog × every kind of caller. Public
//! endpoints never answer 401/403; role-gated ones answer 401 to missing, expired, tampered
//! and revoked credentials, 403 to roles below theirs, and let everyone else through.

mod common;

use chrono::{Duration, Utc};
use common::*;
use cortex_app::api::catalog::{Access, Input, ENDPOINTS};
use cortex_core::user::{TokenId, TokenSummary};
use cortex_core::Role;
use cortex_server::auth::{api_token, jwt};
use cortex_server::store::TokenForCreate;
use reqwest::StatusCode;
use secrecy::SecretString;

#[derive(Debug, Clone)]
enum Caller {
    Anonymous,
    ExpiredSession(String),
    TamperedSession(String),
    ForeignSession(String),
    RevokedToken(String),
    ExpiredToken(String),
    GarbageBearer,
    Token(Role, String),
}

impl Caller {
    fn bearer(&self) -> Option<String> {
        match self {
            Caller::Anonymous => None,
            Caller::GarbageBearer => Some("not-a-token".into()),
            Caller::ExpiredSession(t) | Caller::TamperedSession(t) | Caller::ForeignSession(t) => {
                Some(t.clone())
            }
            Caller::RevokedToken(t) | Caller::ExpiredToken(t) | Caller::Token(_, t) => {
                Some(t.clone())
            }
        }
    }
    /// The status class this caller must get for an endpoint needing `needed`.
    fn expect(&self, access: Access) -> Expect {
        match (access, self) {
            (Access::Public, _) => Expect::Through,
            (Access::Role(_) | Access::NeuronOrRole(_), Caller::Token(have, _)) => {
                if let Access::Role(needed) | Access::NeuronOrRole(needed) = access {
                    if have.allows(needed) {
                        return Expect::Through;
                    }
                }
                Expect::Status(StatusCode::FORBIDDEN)
            }
            (Access::Role(_) | Access::NeuronOrRole(_), _) => {
                Expect::Status(StatusCode::UNAUTHORIZED)
            }
            // No user credential opens a neuron endpoint.
            (Access::Neuron, _) => Expect::Status(StatusCode::UNAUTHORIZED),
            // A valid user is told users do not send events; anyone else has no credential.
            (Access::NeuronOrOwnPages, Caller::Token(..)) => Expect::Status(StatusCode::FORBIDDEN),
            (Access::NeuronOrOwnPages, _) => Expect::Status(StatusCode::UNAUTHORIZED),
        }
    }
}

#[derive(Debug, PartialEq)]
enum Expect {
    /// Past the role check: anything but 401/403 (the input may still be wrong: 400/404).
    Through,
    Status(StatusCode),
}

#[tokio::test]
async fn every_route_times_every_caller() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let store = hub.app.services.store.clone();

    // Session tokens forged with the hub's own key: expired, and valid-but-tampered.
    let key = std::fs::read_to_string(hub._dir.path().join("jwt.key")).unwrap();
    let keys = jwt::SessionKeys::from_secret(&SecretString::from(key));
    let claims = |exp: i64| jwt::SessionClaims {
        sid: "whatever".into(),
        sub: ADMIN.into(),
        iat: 0,
        exp,
    };
    let expired = keys.sign(&claims(Utc::now().timestamp() - 60)).unwrap();
    let live = keys.sign(&claims(Utc::now().timestamp() + 3600)).unwrap();
    let tampered = format!("{}x", &live[..live.len() - 1]);
    let foreign = jwt::SessionKeys::from_secret(&SecretString::from(
        "another-hub-another-key-0123456789".to_string(),
    ))
    .sign(&claims(Utc::now().timestamp() + 3600))
    .unwrap();

    // API tokens: revoked, expired, and one per role.
    let revoked = hub.token(&admin, "revoked", Role::Admin).await;
    let id = store
        .token_by_hash(&api_token::hash_secret(&revoked))
        .await
        .unwrap()
        .unwrap()
        .id;
    store
        .revoke_token(
            id,
            Utc::now(),
            cortex_core::audit::AuditRecord::new("test", "token.revoke", ""),
        )
        .await
        .unwrap();
    let expired_secret = api_token::random_secret(api_token::TOKEN_PREFIX);
    let now = Utc::now();
    store
        .create_token(
            TokenForCreate {
                summary: TokenSummary {
                    id: TokenId(uuid::Uuid::new_v4()),
                    name: "old".into(),
                    role: Role::Admin,
                    created_by: "test".into(),
                    created_at: now - Duration::days(2),
                    expires_at: Some(now - Duration::days(1)),
                    last_used_at: None,
                    revoked_at: None,
                },
                secret_hash: api_token::hash_secret(&expired_secret),
            },
            cortex_core::audit::AuditRecord::new("test", "token.create", "token:old"),
        )
        .await
        .unwrap();

    let mut callers = vec![
        Caller::Anonymous,
        Caller::ExpiredSession(expired),
        Caller::TamperedSession(tampered),
        Caller::ForeignSession(foreign),
        Caller::RevokedToken(revoked),
        Caller::ExpiredToken(expired_secret),
        Caller::GarbageBearer,
    ];
    for role in Role::ALL {
        callers.push(Caller::Token(
            role,
            hub.token(&admin, &format!("matrix-{role}"), role).await,
        ));
    }

    let c = plain();
    let mut checked = 0;
    for e in ENDPOINTS {
        for caller in &callers {
            let mut req = c.request(e.method.parse().unwrap(), hub.url(e.path));
            if e.input == Input::FormOrJson {
                // A harmless body: valid JSON that may fail validation after the role check.
                req = req.json(&serde_json::json!({"id": uuid::Uuid::new_v4(), "username": "", "password": "", "role": "viewer", "name": "", "token": "", "status": "retired", "pinned": false, "mode": "approval", "scope": "global", "kind": "config", "body": "{}", "origins": "", "key": "", "version": 1, "active": false, "deleted": false, "rule": "{}", "page": "home", "node": "hero", "off": false, "target": "home:hero", "action": "deny", "ids": "nobody", "decision": "promote b"}));
            }
            if let Some(b) = caller.bearer() {
                req = req.bearer_auth(b);
            }
            let res = req.send().await.unwrap();
            let status = res.status();
            let mut body = res.text().await.unwrap();
            body.truncate(300);
            let what = format!("{} {} as {:?}", e.method, e.path, caller);
            match caller.expect(e.access) {
                // A public endpoint may answer 401 on its own account (wrong password, wrong
                // setup token), but never with the role check's or a credential's complaint.
                Expect::Through if e.access == Access::Public => {
                    let guard_words = [
                        "sign in, or send",
                        "expired",
                        "revoked",
                        "invalid",
                        "unknown API token",
                        "needs the",
                    ];
                    assert!(
                        status != 403
                            && status.as_u16() < 500
                            && !(status == 401 && guard_words.iter().any(|w| body.contains(w))),
                        "{what}: got {status} {body}"
                    )
                }
                Expect::Through => assert!(
                    ![401, 403].contains(&status.as_u16()) && status.as_u16() < 500,
                    "{what}: got {status} {body}"
                ),
                Expect::Status(want) => {
                    assert_eq!(status, want, "{what}: {body}");
                    let v: serde_json::Value = serde_json::from_str(&body)
                        .unwrap_or_else(|_| panic!("{what}: not JSON: {body}"));
                    assert!(
                        v["error"]["message"]
                            .as_str()
                            .is_some_and(|m| !m.is_empty()),
                        "{what}: {body}"
                    );
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ENDPOINTS.len() * callers.len());
}
