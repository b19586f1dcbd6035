//! One storage contract, run against both backends. Each test gets its own database: a temp
//! SQLite file, or a fresh Postgres database created for it (and dropped when it passes).
//!
//! Postgres is found at `CORTEX_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432`).
//! The suite fails when Postgres is unreachable: both backends are part of every run.

use chrono::{Duration, Utc};
use cortex_core::audit::{AuditQuery, AuditRecord};
use cortex_core::ids::Revision;
use cortex_core::user::{TokenId, TokenSummary, UserId};
use cortex_core::Role;
use cortex_server::store::layouts::Head;
use cortex_server::store::{
    postgres::PgStore, sqlite::SqliteStore, CreateUserRule, DynStore, SessionRecord, StoreError,
    TokenForCreate, UserForCreate, SETUP_TOKEN_SETTING,
};
use sqlx::Connection;
use std::sync::Arc;

fn audit(action: &str, target: &str) -> AuditRecord {
    AuditRecord {
        actor: "user:tester".into(),
        action: action.into(),
        target: target.into(),
        before: serde_json::Value::Null,
        after: serde_json::json!({"n": 1}),
    }
}

fn new_user(name: &str, role: Role) -> UserForCreate {
    UserForCreate {
        id: UserId(uuid::Uuid::new_v4()),
        username: name.into(),
        password_hash: format!("hash-of-{name}"),
        role,
        created_at: Utc::now(),
    }
}

fn new_token(name: &str, secret_hash: &str, expires_in: Option<Duration>) -> TokenForCreate {
    let now = cortex_server::store::ms_precision(Utc::now());
    TokenForCreate {
        summary: TokenSummary {
            id: TokenId(uuid::Uuid::new_v4()),
            name: name.into(),
            role: Role::Operator,
            created_by: "user:tester".into(),
            created_at: now,
            expires_at: expires_in.map(|d| now + d),
            last_used_at: None,
            revoked_at: None,
        },
        secret_hash: secret_hash.into(),
    }
}

async fn verify_chain(store: &DynStore) -> i64 {
    let report = cortex_server::audit::verify(store, None, None)
        .await
        .unwrap();
    assert_eq!(report.broken, None, "audit chain must verify");
    report.entries
}

// ---- the contract ------------------------------------------------------------------------

async fn migrations_are_idempotent(s: DynStore) {
    s.migrate().await.unwrap();
    s.ping().await.unwrap();
    assert_eq!(s.count_users().await.unwrap(), 0);
}

async fn users_are_unique_and_listed_by_name(s: DynStore) {
    s.create_user(
        new_user("bob", Role::Viewer),
        CreateUserRule::Any,
        audit("user.create", "user:bob"),
    )
    .await
    .unwrap();
    s.create_user(
        new_user("alice", Role::Admin),
        CreateUserRule::Any,
        audit("user.create", "user:alice"),
    )
    .await
    .unwrap();
    let dup = s
        .create_user(
            new_user("alice", Role::Viewer),
            CreateUserRule::Any,
            audit("user.create", "user:alice"),
        )
        .await;
    match dup {
        Err(StoreError::Conflict(m)) => assert!(m.contains("alice"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let names: Vec<_> = s
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    let rec = s.user_by_username("alice").await.unwrap().unwrap();
    assert_eq!(rec.password_hash, "hash-of-alice");
    assert_eq!(rec.user.role, Role::Admin);
    assert!(s.user_by_username("carol").await.unwrap().is_none());
    // The failed insert wrote no audit entry: the change and its record are one transaction.
    assert_eq!(verify_chain(&s).await, 2);
}

async fn first_user_rule_allows_exactly_one_and_consumes_the_setup_token(s: DynStore) {
    s.put_setting(SETUP_TOKEN_SETTING, "abc", None)
        .await
        .unwrap();
    s.create_user(
        new_user("root", Role::Admin),
        CreateUserRule::FirstUser,
        audit("user.create", "user:root"),
    )
    .await
    .unwrap();
    assert_eq!(s.setting(SETUP_TOKEN_SETTING).await.unwrap(), None);
    let second = s
        .create_user(
            new_user("root2", Role::Admin),
            CreateUserRule::FirstUser,
            audit("user.create", "x"),
        )
        .await;
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
    assert_eq!(s.count_users().await.unwrap(), 1);
}

async fn the_last_admin_cannot_be_demoted_or_deleted(s: DynStore) {
    let a = s
        .create_user(
            new_user("admin", Role::Admin),
            CreateUserRule::Any,
            audit("user.create", "a"),
        )
        .await
        .unwrap();
    let v = s
        .create_user(
            new_user("viewer", Role::Viewer),
            CreateUserRule::Any,
            audit("user.create", "v"),
        )
        .await
        .unwrap();
    assert!(matches!(
        s.set_user_role(a.id, Role::Editor, audit("user.set_role", ""))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.delete_user(a.id, audit("user.delete", "")).await,
        Err(StoreError::Conflict(_))
    ));
    let promoted = s
        .set_user_role(v.id, Role::Admin, audit("user.set_role", ""))
        .await
        .unwrap();
    assert_eq!(promoted.role, Role::Admin);
    s.set_user_role(a.id, Role::Viewer, audit("user.set_role", ""))
        .await
        .unwrap();
    let missing = s
        .delete_user(UserId(uuid::Uuid::new_v4()), audit("user.delete", ""))
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    // The store filled in target, before and after from the rows it changed.
    let q = AuditQuery {
        action: Some("user.set_role".into()),
        ..Default::default()
    };
    let entries = s.list_audit(&q).await.unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].record.target, "user:admin");
    assert_eq!(
        entries[0].record.before,
        serde_json::json!({"role": "admin"})
    );
    assert_eq!(
        entries[0].record.after,
        serde_json::json!({"role": "viewer"})
    );
}

async fn sessions_expire_and_end_and_die_with_their_user(s: DynStore) {
    let admin = s
        .create_user(
            new_user("admin", Role::Admin),
            CreateUserRule::Any,
            audit("user.create", "a"),
        )
        .await
        .unwrap();
    let u = s
        .create_user(
            new_user("sam", Role::Editor),
            CreateUserRule::Any,
            audit("user.create", "u"),
        )
        .await
        .unwrap();
    let now = Utc::now();
    let live = SessionRecord {
        id: "live".into(),
        user_id: u.id,
        created_at: now,
        expires_at: now + Duration::hours(1),
    };
    let old = SessionRecord {
        id: "old".into(),
        user_id: u.id,
        created_at: now,
        expires_at: now + Duration::seconds(1),
    };
    s.create_session(live, audit("session.login", "u"))
        .await
        .unwrap();
    s.create_session(old, audit("session.login", "u"))
        .await
        .unwrap();
    assert_eq!(
        s.session_user("live", now).await.unwrap().unwrap().username,
        "sam"
    );
    assert!(s
        .session_user("old", now + Duration::seconds(2))
        .await
        .unwrap()
        .is_none());
    assert!(s.session_user("nope", now).await.unwrap().is_none());
    s.delete_session("live", audit("session.logout", "u"))
        .await
        .unwrap();
    assert!(s.session_user("live", now).await.unwrap().is_none());
    // Ending an unknown session is fine and writes nothing.
    let before = verify_chain(&s).await;
    s.delete_session("live", audit("session.logout", "u"))
        .await
        .unwrap();
    assert_eq!(verify_chain(&s).await, before);
    let again = SessionRecord {
        id: "again".into(),
        user_id: u.id,
        created_at: now,
        expires_at: now + Duration::hours(1),
    };
    s.create_session(again, audit("session.login", "u"))
        .await
        .unwrap();
    s.delete_user(u.id, audit("user.delete", "")).await.unwrap();
    assert!(s.session_user("again", now).await.unwrap().is_none());
    assert!(s.user_by_username(&admin.username).await.unwrap().is_some());
}

async fn tokens_are_found_by_hash_touched_listed_and_revoked_once(s: DynStore) {
    let t = s
        .create_token(
            new_token("ci", "h1", Some(Duration::days(1))),
            audit("token.create", "token:ci"),
        )
        .await
        .unwrap();
    s.create_token(
        new_token("deploy", "h2", None),
        audit("token.create", "token:deploy"),
    )
    .await
    .unwrap();
    let dup = s
        .create_token(new_token("again", "h1", None), audit("token.create", "x"))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let found = s.token_by_hash("h1").await.unwrap().unwrap();
    assert_eq!(found, t);
    assert!(s.token_by_hash("zz").await.unwrap().is_none());
    let at = cortex_server::store::ms_precision(Utc::now());
    s.touch_token(t.id, at).await.unwrap();
    assert_eq!(
        s.token_by_hash("h1").await.unwrap().unwrap().last_used_at,
        Some(at)
    );
    assert_eq!(s.list_tokens().await.unwrap().len(), 2);
    let revoked = s
        .revoke_token(t.id, at, audit("token.revoke", ""))
        .await
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(at));
    assert!(matches!(
        s.revoke_token(t.id, at, audit("token.revoke", "")).await,
        Err(StoreError::Conflict(_))
    ));
    let missing = s
        .revoke_token(TokenId(uuid::Uuid::new_v4()), at, audit("token.revoke", ""))
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    let q = AuditQuery {
        action: Some("token.revoke".into()),
        ..Default::default()
    };
    assert_eq!(s.list_audit(&q).await.unwrap()[0].record.target, "token:ci");
}

async fn settings_round_trip_and_overwrite(s: DynStore) {
    assert_eq!(s.setting("k").await.unwrap(), None);
    s.put_setting("k", "v1", None).await.unwrap();
    s.put_setting("k", "v2", Some(audit("setting.update", "setting:k")))
        .await
        .unwrap();
    assert_eq!(s.setting("k").await.unwrap().as_deref(), Some("v2"));
    assert_eq!(verify_chain(&s).await, 1);
    // First write wins, for every caller, however many race.
    let racing = (0..16).map(|i| {
        let s = s.clone();
        async move { s.setting_or_insert("once", &format!("v{i}")).await.unwrap() }
    });
    let got = futures::future::join_all(racing).await;
    assert!(got.iter().all(|v| *v == got[0]), "{got:?}");
    assert_eq!(s.setting("once").await.unwrap(), Some(got[0].clone()));
    assert_eq!(
        s.setting_or_insert("k", "v3").await.unwrap(),
        "v2",
        "a setting that has a value keeps it"
    );
}

async fn audit_lists_filter_and_page(s: DynStore) {
    for i in 0..7 {
        let mut r = audit(
            if i % 2 == 0 {
                "user.create"
            } else {
                "token.create"
            },
            &format!("thing:{i}"),
        );
        if i == 3 {
            r.actor = "user:Mallory_100%".into();
        }
        s.append_audit(r).await.unwrap();
    }
    let all = s.list_audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [7, 6, 5, 4, 3, 2, 1]
    );
    let users = s
        .list_audit(&AuditQuery {
            action: Some("user.".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(users.len(), 4);
    // Prefix, not substring: "create" alone matches nothing.
    assert!(s
        .list_audit(&AuditQuery {
            action: Some("create".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty());
    // Case-insensitive substring; % and _ are literal.
    let m = s
        .list_audit(&AuditQuery {
            actor: Some("mallory_100%".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(m.len(), 1);
    assert!(s
        .list_audit(&AuditQuery {
            actor: Some("mallory_1000".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty());
    assert!(
        s.list_audit(&AuditQuery {
            actor: Some("%".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
            == 1
    );
    let t = s
        .list_audit(&AuditQuery {
            target: Some("thing:5".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(t[0].seq, 6);
    let page = s
        .list_audit(&AuditQuery {
            before_seq: Some(5),
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 3]);
    assert_eq!(verify_chain(&s).await, 7);
    assert_eq!(s.audit_chain(5, 10).await.unwrap().len(), 2);
}

async fn concurrent_writes_keep_the_chain_linear(s: DynStore) {
    let mut tasks = Vec::new();
    for i in 0..24 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            if i % 3 == 0 {
                s.create_user(
                    new_user(&format!("user{i}"), Role::Viewer),
                    CreateUserRule::Any,
                    audit("user.create", "u"),
                )
                .await
                .map(|_| ())
            } else {
                s.append_audit(audit("note", &format!("n{i}")))
                    .await
                    .map(|_| ())
            }
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(verify_chain(&s).await, 24);
}

// ---- backends ----------------------------------------------------------------------------

struct Db {
    store: DynStore,
    cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

fn neuron(
    id: &str,
    key: &str,
    status: cortex_core::federation::NeuronStatus,
) -> cortex_core::federation::Neuron {
    let now = cortex_server::store::ms_precision(Utc::now());
    cortex_core::federation::Neuron {
        id: id.into(),
        slug: "shop".into(),
        kind: "api-service".into(),
        version: "1.0.0".into(),
        capabilities: vec!["config".into()],
        tags: vec!["eu".into()],
        region: Some("eu-west".into()),
        endpoint: None,
        public_key: key.into(),
        status,
        pinned: false,
        registered_at: now,
        last_seen_at: now,
        health: Default::default(),
        checks: vec![],
        load: Default::default(),
        probe: None,
        acked: vec![],
        fingerprints: Default::default(),
        migration: None,
        drift: Vec::new(),
        config_override: None,
    }
}

async fn neurons_register_heartbeat_and_change_status(s: DynStore) {
    use cortex_core::federation::{Check, HealthState, Heartbeat, NeuronStatus};
    let kinds = s.neuron_kinds().await.unwrap();
    assert!(
        kinds.iter().any(|k| k.name == "api-service"),
        "built-in kinds are seeded"
    );

    let n = s
        .register_neuron(
            neuron("shop-1", "key-a", NeuronStatus::Pending),
            audit("neuron.register", ""),
        )
        .await
        .unwrap();
    assert_eq!(
        n,
        neuron("shop-1", "key-a", NeuronStatus::Pending)
            .with_times(n.registered_at, n.last_seen_at)
    );
    // The same key re-registers (a restart); another key for the id is a conflict.
    let mut again = neuron("shop-1", "key-a", NeuronStatus::Pending);
    again.version = "1.1.0".into();
    assert_eq!(
        s.register_neuron(again, audit("neuron.register", ""))
            .await
            .unwrap()
            .version,
        "1.1.0"
    );
    assert!(matches!(
        s.register_neuron(
            neuron("shop-1", "key-b", NeuronStatus::Active),
            audit("neuron.register", "")
        )
        .await,
        Err(StoreError::Conflict(_))
    ));
    let mut alien = neuron("odd-1", "key-c", NeuronStatus::Active);
    alien.kind = "no-such-kind".into();
    assert!(s
        .register_neuron(alien, audit("neuron.register", ""))
        .await
        .is_err());

    // A pending neuron's heartbeat is recorded but does not make it active.
    let beat = Heartbeat {
        state: HealthState::Degraded,
        checks: vec![Check {
            name: "database".into(),
            state: HealthState::Degraded,
            message: Some("slow".into()),
        }],
        version: Some("1.2.0".into()),
        load: Default::default(),
        fingerprints: cortex_core::federation::Fingerprints {
            schema: Some("sha256:aa".into()),
            api: Some("api-v3".into()),
        },
        migration: Some(cortex_core::federation::MigrationReport {
            id: "0007_orders".into(),
            phase: cortex_core::federation::MigrationPhase::Pre,
            state: cortex_core::federation::MigrationState::Failed,
            at: cortex_server::store::ms_precision(Utc::now()),
            output_tail: "ERROR: column exists".into(),
        }),
    };
    let at = cortex_server::store::ms_precision(Utc::now() + Duration::seconds(5));
    let n = s.record_heartbeat("shop-1", at, &beat).await.unwrap();
    assert_eq!(
        (n.status, n.version.as_str(), n.last_seen_at, n.checks.len()),
        (NeuronStatus::Pending, "1.2.0", at, 1)
    );
    assert_eq!(n.fingerprints, beat.fingerprints);
    assert_eq!(n.migration, beat.migration);
    // A heartbeat that leaves them out keeps what was reported.
    let quiet = Heartbeat {
        fingerprints: Default::default(),
        migration: None,
        ..beat.clone()
    };
    let n = s.record_heartbeat("shop-1", at, &quiet).await.unwrap();
    assert_eq!(n.fingerprints, beat.fingerprints);
    assert_eq!(n.migration, beat.migration);
    assert!(matches!(
        s.record_heartbeat("ghost", at, &beat).await,
        Err(StoreError::NotFound(_))
    ));

    // Approve: active; then health drives active/degraded.
    let n = s
        .set_neuron_status(
            "shop-1",
            NeuronStatus::Pending,
            NeuronStatus::Active,
            audit("neuron.approve", ""),
        )
        .await
        .unwrap();
    assert_eq!(n.status, NeuronStatus::Active);
    // A change made from a status the neuron no longer has is refused, and writes nothing.
    assert!(matches!(
        s.set_neuron_status(
            "shop-1",
            NeuronStatus::Pending,
            NeuronStatus::Retired,
            audit("neuron.retire", "")
        )
        .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.neuron("shop-1").await.unwrap().unwrap().status,
        NeuronStatus::Active
    );
    assert_eq!(
        s.record_heartbeat("shop-1", at, &beat)
            .await
            .unwrap()
            .status,
        NeuronStatus::Degraded
    );
    let ok = Heartbeat::default();
    assert_eq!(
        s.record_heartbeat("shop-1", at, &ok).await.unwrap().status,
        NeuronStatus::Active
    );
    // Draining stays draining whatever it reports.
    s.set_neuron_status(
        "shop-1",
        NeuronStatus::Active,
        NeuronStatus::Draining,
        audit("neuron.drain", ""),
    )
    .await
    .unwrap();
    assert_eq!(
        s.record_heartbeat("shop-1", at, &ok).await.unwrap().status,
        NeuronStatus::Draining
    );
    assert!(
        s.set_neuron_pinned("shop-1", true, audit("neuron.pin", ""))
            .await
            .unwrap()
            .pinned
    );

    assert_eq!(s.list_neurons().await.unwrap().len(), 1);
    assert_eq!(
        s.delete_neuron("shop-1", audit("neuron.remove", ""))
            .await
            .unwrap()
            .id,
        "shop-1"
    );
    assert!(s.neuron("shop-1").await.unwrap().is_none());
    assert!(matches!(
        s.delete_neuron("shop-1", audit("neuron.remove", "")).await,
        Err(StoreError::NotFound(_))
    ));

    let entries = s
        .list_audit(&AuditQuery {
            action: Some("neuron.".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        entries.len(),
        6,
        "register x2, approve, drain, pin, remove; heartbeats are not audited: {entries:#?}"
    );
    assert_eq!(entries[0].record.target, "neuron:shop-1");
    verify_chain(&s).await;
}

async fn silent_neurons_become_unhealthy_then_retired_unless_pinned(s: DynStore) {
    use cortex_core::federation::NeuronStatus;
    let now = Utc::now();
    for (id, status, silent_for, pinned) in [
        ("fresh", NeuronStatus::Active, 5, false),
        ("quiet", NeuronStatus::Active, 120, false),
        ("gone", NeuronStatus::Unhealthy, 7200, false),
        ("pinned", NeuronStatus::Unhealthy, 7200, true),
        ("waiting", NeuronStatus::Pending, 7200, false),
    ] {
        let mut n = neuron(id, id, status);
        n.last_seen_at = now - Duration::seconds(silent_for);
        n.pinned = pinned;
        s.register_neuron(n, audit("neuron.register", ""))
            .await
            .unwrap();
    }
    let mut changes = s
        .sweep_neurons(now - Duration::seconds(60), now - Duration::seconds(3600))
        .await
        .unwrap();
    changes.sort_by(|a, b| a.id.cmp(&b.id));
    let got: Vec<(&str, NeuronStatus)> = changes.iter().map(|t| (t.id.as_str(), t.to)).collect();
    assert_eq!(
        got,
        vec![
            ("gone", NeuronStatus::Retired),
            ("quiet", NeuronStatus::Unhealthy)
        ]
    );
    // Nothing more to do on a second sweep, and no audit record for nothing.
    let before = verify_chain(&s).await;
    assert!(s
        .sweep_neurons(now - Duration::seconds(60), now - Duration::seconds(3600))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(verify_chain(&s).await, before);
    assert_eq!(
        s.neuron("pinned").await.unwrap().unwrap().status,
        NeuronStatus::Unhealthy
    );
    assert_eq!(
        s.neuron("waiting").await.unwrap().unwrap().status,
        NeuronStatus::Pending
    );
}

fn join(
    id: &str,
    key: &str,
    admission: cortex_core::federation::Admission,
    nonce: Option<(&str, chrono::DateTime<Utc>)>,
) -> cortex_server::store::neurons::Join {
    cortex_server::store::neurons::Join {
        neuron: neuron(id, key, cortex_core::federation::NeuronStatus::Pending),
        admission,
        nonce: nonce.map(|(n, until)| (n.to_string(), until)),
        audit: audit("neuron.register", ""),
    }
}

async fn nonces_are_single_use_until_pruned(s: DynStore) {
    use cortex_core::federation::Admission::Join;
    use cortex_server::store::neurons::JoinOutcome;
    let now = Utc::now();
    let soon = now + Duration::minutes(10);
    let first = s
        .join_neurons(
            &[
                join("n1", "k1", Join, Some(("abc", soon))),
                join("n2", "k2", Join, Some(("abc", soon))),
                join("n3", "k3", Join, Some(("old", now - Duration::minutes(1)))),
            ],
            u64::MAX,
        )
        .await
        .unwrap();
    assert!(
        first
            .iter()
            .all(|o| matches!(o, JoinOutcome::Joined { .. })),
        "nonces are per neuron: {first:?}"
    );
    let again = s
        .join_neurons(&[join("n1", "k1", Join, Some(("abc", soon)))], u64::MAX)
        .await
        .unwrap();
    assert_eq!(again, vec![JoinOutcome::Replayed], "a replay is refused");
    assert_eq!(s.prune_nonces(now).await.unwrap(), 1, "only `old` expired");
    assert!(matches!(
        s.join_neurons(&[join("n3", "k3", Join, Some(("old", soon)))], u64::MAX)
            .await
            .unwrap()[..],
        [JoinOutcome::Joined { .. }]
    ));
}

async fn joins_in_one_batch_get_their_own_outcomes(s: DynStore) {
    use cortex_core::federation::{Admission, NeuronStatus};
    use cortex_server::store::neurons::JoinOutcome;
    let soon = Utc::now() + Duration::minutes(10);
    // Already known: one pinned and draining, one unhealthy, one with another key.
    let mut draining = neuron("draining", "kd", NeuronStatus::Draining);
    draining.pinned = true;
    let registered = draining.registered_at;
    for n in [
        draining,
        neuron("sick", "ks", NeuronStatus::Unhealthy),
        neuron("taken", "kt", NeuronStatus::Active),
    ] {
        s.register_neuron(n, audit("neuron.register", ""))
            .await
            .unwrap();
    }
    let before = verify_chain(&s).await;
    let mut later = join("draining", "kd", Admission::Refuse, Some(("x", soon)));
    later.neuron.version = "2.0.0".into();
    later.neuron.registered_at = registered + Duration::hours(1);
    let out = s
        .join_neurons(
            &[
                later,
                join("sick", "ks", Admission::Wait, None),
                join("taken", "other", Admission::Join, Some(("x", soon))),
                join("newcomer", "kn", Admission::Wait, Some(("x", soon))),
                join("stranger", "kx", Admission::Refuse, Some(("x", soon))),
            ],
            u64::MAX,
        )
        .await
        .unwrap();
    let status = |o: &JoinOutcome| match o {
        JoinOutcome::Joined { neuron: n, .. } => Some(n.status),
        _ => None,
    };
    assert_eq!(
        out.iter().map(status).collect::<Vec<_>>(),
        vec![
            Some(NeuronStatus::Draining),
            Some(NeuronStatus::Active),
            None,
            Some(NeuronStatus::Pending),
            None
        ]
    );
    assert_eq!(out[2], JoinOutcome::KeyConflict);
    assert_eq!(out[4], JoinOutcome::Refused);
    let JoinOutcome::Joined { neuron: d, .. } = &out[0] else {
        unreachable!()
    };
    assert!(d.pinned, "a restart keeps the pin");
    assert_eq!(d.registered_at, registered, "and the first registration");
    assert_eq!(d.version, "2.0.0");
    assert_eq!(s.neuron("draining").await.unwrap().unwrap(), **d);
    assert!(s.neuron("stranger").await.unwrap().is_none());
    assert_eq!(
        verify_chain(&s).await,
        before + 3,
        "one audit entry per recorded join"
    );
    let log = s
        .list_audit(&cortex_core::audit::AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(log[0].record.target, "neuron:newcomer", "newest first");
    assert_eq!(log[0].record.actor, "user:tester");
    assert_eq!(log[0].record.after["status"], "pending");
    assert_eq!(log[2].record.before["status"], "draining");
}

async fn pending_joins_stop_at_the_cap_and_quiet_rejoins_are_not_audited(s: DynStore) {
    use cortex_core::federation::{Admission, NeuronStatus};
    use cortex_server::store::neurons::JoinOutcome;
    let status = |o: &JoinOutcome| match o {
        JoinOutcome::Joined { neuron: n, .. } => Some(n.status),
        JoinOutcome::Capped => None,
        other => panic!("unexpected {other:?}"),
    };
    // Cap of two: the third new pending neuron is turned away, and nothing of it is kept.
    let out = s
        .join_neurons(
            &[
                join("p1", "k1", Admission::Wait, None),
                join("p2", "k2", Admission::Wait, None),
                join("p3", "k3", Admission::Wait, None),
            ],
            2,
        )
        .await
        .unwrap();
    assert_eq!(
        out.iter().map(status).collect::<Vec<_>>(),
        vec![
            Some(NeuronStatus::Pending),
            Some(NeuronStatus::Pending),
            None
        ]
    );
    assert!(s.neuron("p3").await.unwrap().is_none());
    // One already waiting may ask again at the cap; an admitted one joins past it.
    let entries = verify_chain(&s).await;
    let out = s
        .join_neurons(
            &[
                join("p1", "k1", Admission::Wait, None),
                join("a1", "ka", Admission::Join, None),
            ],
            2,
        )
        .await
        .unwrap();
    assert_eq!(
        out.iter().map(status).collect::<Vec<_>>(),
        vec![Some(NeuronStatus::Pending), Some(NeuronStatus::Active)]
    );
    assert_eq!(
        verify_chain(&s).await,
        entries + 1,
        "the pending neuron asking again changed nothing but its last-seen time: not audited"
    );
    // A pending neuron that now names an endpoint is a change: audited.
    let mut moved = join("p1", "k1", Admission::Wait, None);
    moved.neuron.endpoint = Some("https://p1.internal:8080".into());
    s.join_neurons(&[moved], 2).await.unwrap();
    assert_eq!(verify_chain(&s).await, entries + 2);
    // An approved neuron that names another endpoint is decided afresh: pending again.
    let mut approved = neuron("e1", "ke", NeuronStatus::Active);
    approved.endpoint = Some("https://e1.example:8080".into());
    s.register_neuron(approved, audit("neuron.register", ""))
        .await
        .unwrap();
    let mut elsewhere = join("e1", "ke", Admission::Wait, None);
    elsewhere.neuron.endpoint = Some("http://169.254.169.254".into());
    let out = s.join_neurons(&[elsewhere], u64::MAX).await.unwrap();
    assert_eq!(status(&out[0]), Some(NeuronStatus::Pending));
    // Once an admin approves the new endpoint, registering with it keeps the neuron in.
    let mut same = join("e1", "ke", Admission::Wait, None);
    same.neuron.endpoint = Some("http://169.254.169.254".into());
    s.set_neuron_status(
        "e1",
        NeuronStatus::Pending,
        NeuronStatus::Active,
        audit("neuron.approve", ""),
    )
    .await
    .unwrap();
    let out = s.join_neurons(&[same], u64::MAX).await.unwrap();
    assert_eq!(
        status(&out[0]),
        Some(NeuronStatus::Active),
        "same endpoint: keeps its place"
    );
}

async fn silent_browser_tabs_are_removed_and_server_neurons_kept(s: DynStore) {
    use cortex_core::federation::NeuronStatus;
    let old = Utc::now() - Duration::hours(2);
    for (id, key, pinned, seen) in [
        ("tab-old", "pk_key1", false, old),
        ("tab-pinned", "pk_key1", true, old),
        ("tab-new", "pk_key1", false, Utc::now()),
        ("srv-old", "k-server", false, old),
    ] {
        let mut n = neuron(id, key, NeuronStatus::Active);
        n.pinned = pinned;
        n.last_seen_at = cortex_server::store::ms_precision(seen);
        n.kind = if key.starts_with("pk_") {
            "web-app".into()
        } else {
            "api-service".into()
        };
        s.register_neuron(n, audit("neuron.register", ""))
            .await
            .unwrap();
    }
    s.ack_bundles(&[cortex_server::store::neurons::BundleAck {
        neuron_id: "tab-old".into(),
        scope: cortex_core::federation::Scope::Global,
        revision: 1,
        at: Utc::now(),
    }])
    .await
    .unwrap();
    let removed = s
        .remove_silent_browser_neurons(Utc::now() - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(removed, 1);
    let mut ids: Vec<String> = s
        .list_neurons()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id.into_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["srv-old", "tab-new", "tab-pinned"]);
    assert!(
        s.all_acks().await.unwrap().is_empty(),
        "its acks go with it"
    );
}

async fn revocations_are_kept_rise_and_are_pruned(s: DynStore) {
    let t0 = cortex_server::store::ms_precision(Utc::now());
    s.revoke_neuron("gone", t0).await.unwrap();
    s.revoke_neuron("gone", t0 - Duration::seconds(5))
        .await
        .unwrap();
    s.revoke_neuron("old", t0 - Duration::hours(30))
        .await
        .unwrap();
    let mut since = s.revocations_since(t0 - Duration::hours(1)).await.unwrap();
    since.sort();
    assert_eq!(
        since,
        vec![("gone".to_string(), t0)],
        "an earlier time never lowers it"
    );
    assert_eq!(
        s.prune_revocations(t0 - Duration::hours(24)).await.unwrap(),
        1
    );
    assert_eq!(
        s.revocations_since(t0 - Duration::days(3))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn layouts_and_rules_are_versioned_under_one_revision(s: DynStore) {
    use cortex_core::layout::Layout;
    use cortex_core::mutation::LayoutMutation;
    let layout = |title: &str| -> Layout {
        serde_json::from_value(serde_json::json!({"pageSlug": "home", "root": {"id": "page", "type": "page", "props": {"title": title}}})).unwrap()
    };
    let rule = |id: &str, headline: &str| -> LayoutMutation {
        serde_json::from_value(serde_json::json!({
            "id": id, "layoutId": "home", "pageSlug": "home", "layer": "page",
            "mutationType": "props", "mutationPayload": {"target": "page", "patch": {"title": headline}},
            "createdBy": "user:tester", "timestamp": "2026-11-29T10:00:00Z", "isActive": true
        }))
        .unwrap()
    };
    assert_eq!(s.rule_set().await.unwrap(), Default::default());
    let before = verify_chain(&s).await;
    let l1 = s
        .put_layout(layout("A"), None, audit("layout.save", ""))
        .await
        .unwrap();
    let l2 = s
        .put_layout(layout("B"), None, audit("layout.save", ""))
        .await
        .unwrap();
    assert_eq!((l1.version, l2.version), (1, 2));
    assert_eq!(s.layout("home", Some(1)).await.unwrap().unwrap(), l1);
    assert_eq!(s.layout("home", None).await.unwrap().unwrap(), l2);
    assert!(s.layout("away", None).await.unwrap().is_none());

    let a1 = s
        .put_rule(
            rule("a", "one"),
            false,
            Head::Absent,
            audit("layout-mutation.save", ""),
        )
        .await
        .unwrap();
    let a2 = s
        .put_rule(
            rule("a", "two"),
            false,
            Head::Version(1),
            audit("layout-mutation.save", ""),
        )
        .await
        .unwrap();
    let b1 = s
        .put_rule(
            rule("b", "bee"),
            false,
            Head::Any,
            audit("layout-mutation.save", ""),
        )
        .await
        .unwrap();
    assert_eq!(
        (a1.rule.version, a1.rule.rollback_pointer, a1.revision),
        (1, None, Revision(3))
    );
    assert_eq!(
        (a2.rule.version, a2.rule.rollback_pointer, a2.revision),
        (2, Some(1), Revision(4))
    );
    assert_eq!(b1.revision, 5);
    // Optimistic concurrency: a write that expected another head writes nothing.
    for (stale, why) in [
        (Head::Version(1), "is at version 2, not 1"),
        (Head::Absent, "exists"),
    ] {
        match s
            .put_rule(
                rule("a", "late"),
                false,
                stale,
                audit("layout-mutation.save", ""),
            )
            .await
        {
            Err(StoreError::Conflict(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("a stale write must conflict, got {other:?}"),
        }
    }
    assert!(matches!(
        s.put_rule(
            rule("c", "sea"),
            false,
            Head::Version(1),
            audit("layout-mutation.save", "")
        )
        .await,
        Err(StoreError::Conflict(_))
    ));
    let history = s.rule_history("a").await.unwrap();
    assert_eq!(
        history,
        vec![a2.clone(), a1.clone()],
        "newest first, exactly as written"
    );

    let set = s.rule_set().await.unwrap();
    assert_eq!(set.revision, 5);
    assert_eq!(
        set.layouts,
        vec![l2.clone()],
        "the newest layout of each page"
    );
    assert_eq!(set.rules, vec![a2.rule.clone(), b1.rule.clone()]);

    // A deletion is a version; the set drops it; the changes since a revision include it.
    let gone = s
        .put_rule(
            b1.rule.clone(),
            true,
            Head::Any,
            audit("layout-mutation.delete", ""),
        )
        .await
        .unwrap();
    assert!(gone.deleted);
    assert_eq!(s.rule_set().await.unwrap().rules, vec![a2.rule.clone()]);
    let changes = s.rule_changes(Revision(4)).await.unwrap();
    assert_eq!(changes.revision, 6);
    assert_eq!(changes.rules, vec![gone.clone()]);
    assert!(changes.layouts.is_empty());
    assert_eq!(s.rule_changes(Revision(6)).await.unwrap().rules, vec![]);
    assert_eq!(s.rule_head("a").await.unwrap(), Some(a2.clone()));
    assert_eq!(
        s.rule_head("b").await.unwrap(),
        Some(gone.clone()),
        "a deleted rule's head is its deletion"
    );
    assert_eq!(s.rule_head("none").await.unwrap(), None);
    assert_eq!(s.rule_heads().await.unwrap(), vec![a2, gone]);
    assert_eq!(verify_chain(&s).await, before + 6, "every write is audited");
}

async fn bundles_count_revisions_per_scope_and_acks_only_rise(s: DynStore) {
    use cortex_core::federation::{BundleKind, Scope};
    let now = Utc::now();
    let push = |scope: Scope, kind: BundleKind, n: i64| {
        let s = s.clone();
        async move {
            s.push_bundle(
                &scope,
                kind,
                &serde_json::json!({"n": n}),
                "user:tester",
                now,
                &Default::default(),
                &Default::default(),
                audit("bundle.push", ""),
            )
            .await
            .unwrap()
            .applied()
            .expect("applied")
        }
    };
    assert_eq!(push(Scope::Global, BundleKind::Config, 1).await.revision, 1);
    assert_eq!(push(Scope::Global, BundleKind::Config, 2).await.revision, 2);
    assert_eq!(push(Scope::Global, BundleKind::Offers, 3).await.revision, 3);
    assert_eq!(
        push(Scope::Tag("eu".into()), BundleKind::Config, 4)
            .await
            .revision,
        1,
        "revisions count per scope"
    );

    // Catch-up: everything newer than what the neuron holds; the latest of each kind is
    // what it gets.
    let newer = s
        .bundles_since(&[(Scope::Global, 0), (Scope::Tag("eu".into()), 0)])
        .await
        .unwrap();
    assert_eq!(newer.len(), 4);
    let missed = cortex_core::federation::latest_for(newer, "n1", &["eu".into()]);
    let got: Vec<(String, u64, i64)> = missed
        .iter()
        .map(|b| {
            (
                b.scope.to_string(),
                b.revision,
                b.body["n"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("global".into(), 2, 2),
            ("global".into(), 3, 3),
            ("tag:eu".into(), 1, 4)
        ]
    );
    let missed = s.bundles_since(&[(Scope::Global, 2)]).await.unwrap();
    assert_eq!(
        missed.iter().map(|b| b.revision).collect::<Vec<_>>(),
        vec![3]
    );
    // A staged push keeps its audience.
    let staged = s
        .push_bundle(
            &Scope::Global,
            BundleKind::Config,
            &serde_json::json!({"n": 9}),
            "user:tester",
            now,
            &cortex_core::federation::Audience {
                percent: Some(10),
                tags: vec!["canary".into()],
            },
            &Default::default(),
            audit("bundle.push", ""),
        )
        .await
        .unwrap()
        .applied()
        .expect("applied");
    let back = s.bundles_since(&[(Scope::Global, 3)]).await.unwrap();
    assert_eq!(back[0].audience, staged.audience);
    assert_eq!(back[0].audience.percent, Some(10));
    assert!(s
        .bundles_since(&[(Scope::Global, 4), (Scope::Neuron("x".into()), 0)])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.recent_bundles(2).await.unwrap().len(), 2);

    let ack = |n: &str, revision: u64| cortex_server::store::neurons::BundleAck {
        neuron_id: n.into(),
        scope: Scope::Global,
        revision,
        at: now,
    };
    s.ack_bundles(&[ack("n1", 3)]).await.unwrap();
    s.ack_bundles(&[ack("n1", 2), ack("n2", 2)]).await.unwrap();
    s.ack_bundles(&[]).await.unwrap();
    assert_eq!(
        s.count_acks(&Scope::Global, 3).await.unwrap(),
        1,
        "an older ack never lowers a newer one"
    );
    assert_eq!(s.count_acks(&Scope::Global, 2).await.unwrap(), 2);
    // How a push spread: the times of acks of exactly that revision, earliest first.
    let later = cortex_server::store::neurons::BundleAck {
        neuron_id: "n3".into(),
        scope: Scope::Global,
        revision: 3,
        at: now + Duration::seconds(2),
    };
    s.ack_bundles(&[later]).await.unwrap();
    let ms = cortex_server::store::ms_precision(now);
    assert_eq!(
        s.ack_times(&Scope::Global, 3, 10).await.unwrap(),
        vec![ms, ms + Duration::seconds(2)]
    );
    assert_eq!(s.ack_times(&Scope::Global, 3, 1).await.unwrap(), vec![ms]);
    assert_eq!(s.ack_times(&Scope::Global, 2, 10).await.unwrap(), vec![ms]);
    assert!(s.ack_times(&Scope::Global, 9, 10).await.unwrap().is_empty());
    let all = s.all_acks().await.unwrap();
    assert_eq!(
        all.iter()
            .map(|a| (a.neuron_id.as_str(), a.revision))
            .collect::<Vec<_>>(),
        [("n1", 3), ("n2", 2), ("n3", 3)]
    );
    let pushes = s
        .list_audit(&AuditQuery {
            action: Some("bundle.".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(pushes.len(), 5);
    assert_eq!(pushes[0].record.target, "bundle:global#4");
    assert_eq!(pushes[0].record.after["audience"]["percent"], 10);
    assert_eq!(pushes[1].record.target, "bundle:tag:eu#1");
    verify_chain(&s).await;
}

fn spooled(
    neuron: &str,
    batch: &str,
    events: Vec<cortex_core::analytics::Event>,
) -> cortex_server::store::events::SpooledBatch {
    cortex_server::store::events::SpooledBatch {
        neuron_id: neuron.into(),
        received_at: cortex_server::store::ms_precision(Utc::now()),
        batch: cortex_core::analytics::EventBatch {
            batch_id: batch.into(),
            events,
            receipt: None,
        },
    }
}

async fn event_batches_count_once_and_reported_events_are_searchable(s: DynStore) {
    use cortex_core::analytics::{Event, EventKind};
    use cortex_server::store::events::{EventQuery, EventsWritten};
    let at = |secs: i64| chrono::DateTime::from_timestamp(1_764_000_000 + secs, 0).unwrap();
    let mut err = Event::new(EventKind::Error, at(2));
    err.message = Some("Checkout\tfailed: 50% of\ncarts\\lost".into());
    err.name = Some("checkout".into());
    let mut log = Event::new(EventKind::Log, at(1));
    log.message = Some("config reloaded".into());
    let mut exposure = Event::new(EventKind::Exposure, at(3));
    exposure.unit = Some("u1".into());
    exposure.mutation_id = Some("m1".into());
    exposure.variant = Some("b".into());
    exposure.value = Some(0.25);

    let first = vec![
        spooled("n1", "b1", vec![err.clone(), exposure.clone()]),
        spooled("n1", "b1", vec![exposure.clone()]),
        spooled("n2", "b1", vec![log.clone()]),
    ];
    assert_eq!(
        s.write_event_batches(&first).await.unwrap(),
        EventsWritten {
            batches: 2,
            duplicates: 1,
            events: 3
        },
        "a batch id repeated in one write counts once; ids are per neuron"
    );
    let again = vec![
        spooled("n1", "b1", vec![exposure.clone()]),
        spooled("n1", "b2", vec![exposure]),
    ];
    assert_eq!(
        s.write_event_batches(&again).await.unwrap(),
        EventsWritten {
            batches: 1,
            duplicates: 1,
            events: 1
        },
        "a batch id stored earlier is skipped"
    );
    assert_eq!(s.count_events().await.unwrap(), 4);
    assert_eq!(
        s.write_event_batches(&[]).await.unwrap(),
        EventsWritten::default()
    );

    let reported = s
        .neuron_events(&EventQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(reported.len(), 2, "errors and logs only by default");
    assert_eq!(reported[0].neuron_id, "n1", "newest first");
    assert_eq!(
        reported[0].event, err,
        "text with tabs, newlines, backslashes and % survives"
    );
    let found = s
        .neuron_events(&EventQuery {
            text: Some("50%".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let found = s
        .neuron_events(&EventQuery {
            text: Some("RELOADED".into()),
            neuron_id: Some("n1".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(found.is_empty(), "filtered by neuron");
    let exposures = s
        .neuron_events(&EventQuery {
            kinds: vec![EventKind::Exposure],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(exposures.len(), 2);
    assert_eq!(exposures[0].event.value, Some(0.25));
}

async fn commands_record_answers_from_the_neurons_they_were_sent_to(s: DynStore) {
    use cortex_core::federation::{Command, CommandOutcome, CommandReport, CommandRun};
    let now = cortex_server::store::ms_precision(Utc::now());
    let pending = |id: &str| CommandReport {
        neuron_id: id.into(),
        outcome: CommandOutcome::Pending,
        message: String::new(),
        at: now,
    };
    let run = CommandRun {
        id: "c1".into(),
        command: Command::HotReload,
        scope: "tag:eu".into(),
        created_by: "user:tester".into(),
        created_at: now,
        targeted: 3,
        sent: 2,
        reports: vec![pending("n1"), pending("n2")],
    };
    s.create_command(&run, audit("command.hotReload", ""))
        .await
        .unwrap();
    assert!(s
        .report_command("c1", "n1", CommandOutcome::Done, "reloaded rev 4", now)
        .await
        .unwrap());
    assert!(s
        .report_command("c1", "n2", CommandOutcome::Failed, "config invalid", now)
        .await
        .unwrap());
    assert!(
        !s.report_command("c1", "n2", CommandOutcome::Done, "again", now)
            .await
            .unwrap(),
        "answered once"
    );
    assert!(
        !s.report_command("c1", "n3", CommandOutcome::Done, "", now)
            .await
            .unwrap(),
        "not sent to n3"
    );
    assert!(!s
        .report_command("c9", "n1", CommandOutcome::Done, "", now)
        .await
        .unwrap());
    let runs = s.recent_commands(10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].count(CommandOutcome::Done), 1);
    assert_eq!(runs[0].count(CommandOutcome::Failed), 1);
    assert_eq!(runs[0].reports[1].message, "config invalid");
    assert_eq!((runs[0].targeted, runs[0].sent), (3, 2));
    let audited = s
        .list_audit(&AuditQuery {
            action: Some("command.".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audited[0].record.target, "command:c1");
    verify_chain(&s).await;
}

trait WithTimes {
    fn with_times(self, registered: chrono::DateTime<Utc>, seen: chrono::DateTime<Utc>) -> Self;
}
impl WithTimes for cortex_core::federation::Neuron {
    fn with_times(
        mut self,
        registered: chrono::DateTime<Utc>,
        seen: chrono::DateTime<Utc>,
    ) -> Self {
        self.registered_at = registered;
        self.last_seen_at = seen;
        self
    }
}

async fn sqlite() -> Db {
    sqlite_with(None).await
}

async fn sqlite_with(key: Option<cortex_core::audit::ChainKey>) -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store: DynStore = Arc::new(SqliteStore::open_lazy(&url).unwrap().with_audit_key(key));
    store.migrate().await.unwrap();
    Db {
        store,
        cleanup: None,
        _dir: Some(dir),
    }
}

fn pg_base() -> String {
    std::env::var("CORTEX_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

async fn postgres() -> Db {
    postgres_with(None).await
}

async fn postgres_with(key: Option<cortex_core::audit::ChainKey>) -> Db {
    let base = pg_base();
    let name = format!("cortex_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .unwrap_or_else(|e| panic!("Postgres at {base} is needed for the contract tests (start it, or set CORTEX_TEST_PG_URL): {e}"));
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    let store: DynStore = Arc::new(
        PgStore::open_lazy(&format!("{base}/{name}"))
            .unwrap()
            .with_audit_key(key),
    );
    store.migrate().await.unwrap();
    Db {
        store,
        cleanup: Some((base, name)),
        _dir: None,
    }
}

impl Db {
    async fn done(self) {
        drop(self.store);
        if let Some((base, name)) = self.cleanup {
            if let Ok(mut admin) = sqlx::PgConnection::connect(&format!("{base}/postgres")).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await;
            }
        }
    }
}

async fn segments_are_counted_and_suggestion_states_kept_once(s: DynStore) {
    use cortex_core::analytics::{Event, EventKind};
    use cortex_core::suggest::{SegmentCount, SuggestionState};
    let at = |secs: i64| chrono::DateTime::from_timestamp(1_764_000_000 + secs, 0).unwrap();
    let ev = |kind, secs: i64, segment: Option<&str>, name: Option<&str>, page: Option<&str>| {
        let mut e = Event::new(kind, at(secs));
        e.segment = segment.map(str::to_string);
        e.name = name.map(str::to_string);
        e.page_slug = page.map(str::to_string);
        e
    };
    use EventKind::*;
    let events = vec![
        ev(PageView, 1, Some("device:mobile"), None, Some("home")),
        ev(PageView, 2, Some("device:mobile"), None, Some("home")),
        ev(PageView, 3, None, None, Some("home")),
        ev(Click, 4, Some("device:mobile"), Some("hero"), Some("home")),
        ev(Click, 5, Some("device:mobile"), Some("hero"), Some("home")),
        ev(Click, 6, Some("device:mobile"), Some("offer"), Some("home")),
        // Not counted: no page, another kind, out of range.
        ev(Click, 7, Some("device:mobile"), Some("hero"), None),
        ev(Conversion, 8, Some("device:mobile"), None, Some("home")),
        ev(PageView, 10_000, Some("device:mobile"), None, Some("home")),
    ];
    // The page reports a click once per rule it showed: the same click, counted once.
    let mut events = events;
    let mut again = ev(Click, 4, Some("device:mobile"), Some("hero"), Some("home"));
    again.mutation_id = Some("some-rule".into());
    events.push(again);
    s.write_event_batches(&[spooled("n1", "b1", events)])
        .await
        .unwrap();
    let got = s.segment_counts(at(0), at(100)).await.unwrap();
    let row = |segment: &str, kind: &str, name: &str, count: u64| SegmentCount {
        page: "home".into(),
        segment: segment.into(),
        kind: kind.into(),
        name: name.into(),
        count,
    };
    assert_eq!(
        got,
        vec![
            row("device:mobile", "click", "hero", 2),
            row("device:mobile", "pageView", "", 2),
            row("", "pageView", "", 1),
            row("device:mobile", "click", "offer", 1),
        ]
    );

    // Visitors exposed and converted per rule, variant, segment and hour of the day.
    let unit_ev = |kind, secs: i64, unit: &str, variant: Option<&str>, segment: &str| {
        let mut e = Event::new(kind, at(secs));
        e.unit = Some(unit.into());
        e.mutation_id = Some("exp".into());
        e.variant = variant.map(str::to_string);
        e.segment = Some(segment.into());
        e
    };
    s.write_event_batches(&[spooled(
        "n1",
        "b-rules",
        vec![
            unit_ev(Exposure, 0, "u1", Some("b"), "device:mobile"),
            unit_ev(Exposure, 1, "u1", Some("b"), "device:mobile"),
            unit_ev(Exposure, 2, "u2", Some("b"), "device:mobile"),
            unit_ev(Conversion, 3, "u1", Some("b"), "device:mobile"),
            // An hour later (1_764_000_000 is 16:00 UTC): another hour of the day.
            unit_ev(Exposure, 3_600, "u3", None, "device:desktop"),
        ],
    )])
    .await
    .unwrap();
    let rc =
        |variant: &str, segment: &str, hour, exposed, converted| cortex_core::suggest::RuleCount {
            rule: "exp".into(),
            variant: variant.into(),
            segment: segment.into(),
            hour,
            exposed,
            converted,
        };
    let mut got = s.rule_counts(at(0), at(7_200)).await.unwrap();
    got.retain(|c| c.rule == "exp");
    assert_eq!(
        got,
        vec![
            rc("b", "device:mobile", 16, 2, 1),
            rc("", "device:desktop", 17, 1, 0)
        ]
    );

    // Clicks with a heatmap cell, per variant, node and cell (other rules, kinds and values
    // that are no cell are left out).
    let click = |rule: &str, variant: &str, node: &str, value: Option<f64>, secs: i64| {
        let mut e = Event::new(Click, at(secs));
        e.mutation_id = Some(rule.into());
        e.variant = Some(variant.into());
        e.name = Some(node.into());
        e.value = value;
        e
    };
    let clicks = vec![
        click("r", "b", "hero", Some(12.0), 1),
        click("r", "b", "hero", Some(12.0), 2),
        click("r", "a", "hero", Some(99.0), 3),
        click("r", "a", "offer", None, 4),
        click("r", "a", "offer", Some(100.0), 5),
        click("r", "a", "offer", Some(12.5), 5),
        click("other", "a", "hero", Some(1.0), 6),
        click("r", "a", "hero", Some(5.0), 10_000),
    ];
    s.write_event_batches(&[spooled("n1", "b2", clicks)])
        .await
        .unwrap();
    let cell = |variant: &str, cell: u32, count: u64| cortex_core::heatmap::CellCount {
        variant: variant.into(),
        node: "hero".into(),
        cell,
        count,
    };
    assert_eq!(
        s.heat_cells("r", at(0), at(100)).await.unwrap(),
        vec![cell("b", 12, 2), cell("a", 99, 1)]
    );

    let state = SuggestionState {
        id: "s-1".into(),
        state: "accepted".into(),
        actor: "user:ed".into(),
        at: cortex_server::store::ms_precision(Utc::now()),
        rule_id: Some("draft".into()),
    };
    assert!(s
        .set_suggestion_state(&state, audit("suggestion.accept", ""))
        .await
        .unwrap());
    let again = SuggestionState {
        state: "dismissed".into(),
        rule_id: None,
        ..state.clone()
    };
    assert!(
        !s.set_suggestion_state(&again, audit("suggestion.dismiss", ""))
            .await
            .unwrap(),
        "a suggestion is decided once"
    );
    assert_eq!(s.suggestion_states().await.unwrap(), vec![state]);
    let audited = s
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("suggestion.accept".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].record.target, "suggestion:s-1");
    assert!(s
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("suggestion.dismiss".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty());
}

async fn layout_events_are_tallied_per_rule_variant_and_day(s: DynStore) {
    use cortex_core::analytics::{Event, EventKind};
    use cortex_core::report::{ReportQuery, Tally};
    // 2025-11-24T16:00:00Z and a day later.
    let day1 = |secs: i64| chrono::DateTime::from_timestamp(1_764_000_000 + secs, 0).unwrap();
    let day2 = |secs: i64| day1(86_400 + secs);
    let ev = |kind, at, unit: &str, rule: Option<&str>, variant: Option<&str>, page: &str| {
        let mut e = Event::new(kind, at);
        e.unit = (!unit.is_empty()).then(|| unit.to_string());
        e.mutation_id = rule.map(str::to_string);
        e.variant = variant.map(str::to_string);
        e.page_slug = Some(page.into());
        e
    };
    use EventKind::*;
    let mut dwell = ev(Dwell, day1(5), "u1", Some("r"), Some("a"), "home");
    dwell.value = Some(1000.0);
    let mut dwell2 = ev(Dwell, day1(6), "u2", Some("r"), Some("a"), "home");
    dwell2.value = Some(3000.0);
    let events = vec![
        // Rule r, variant a: u1 twice and u2 exposed; u1 converts twice, clicks once.
        ev(Exposure, day1(1), "u1", Some("r"), Some("a"), "home"),
        ev(Exposure, day2(1), "u1", Some("r"), Some("a"), "home"),
        ev(Exposure, day1(2), "u2", Some("r"), Some("a"), "home"),
        // Two orders, worth 10 and 20.
        Event {
            value: Some(10.0),
            ..ev(Conversion, day1(3), "u1", Some("r"), Some("a"), "home")
        },
        Event {
            value: Some(20.0),
            ..ev(Conversion, day2(3), "u1", Some("r"), Some("a"), "home")
        },
        ev(Click, day1(4), "u1", Some("r"), Some("a"), "home"),
        dwell,
        dwell2,
        // Variant b: u3 exposed.
        ev(Exposure, day1(1), "u3", Some("r"), Some("b"), "home"),
        // A rule without variants on another page.
        ev(Exposure, day1(1), "u4", Some("plain"), None, "sale"),
        // Not counted: a page view, an event without a rule (the error counts as one).
        ev(PageView, day1(1), "u1", None, None, "home"),
        ev(Error, day1(1), "u1", Some("r"), Some("a"), "home"),
        ev(Click, day1(1), "u1", None, None, "home"),
    ];
    s.write_event_batches(&[spooled("n1", "b1", events)])
        .await
        .unwrap();
    let all = ReportQuery::default();
    let (from, to) = (day1(0), day2(100));
    let (tallies, days) = s.layout_tallies(&all, from, to).await.unwrap();
    assert_eq!(
        tallies,
        vec![
            Tally {
                mutation_id: "plain".into(),
                variant: "".into(),
                exposures: 1,
                exposed_units: 1,
                ..Tally::default()
            },
            Tally {
                mutation_id: "r".into(),
                variant: "a".into(),
                exposures: 3,
                exposed_units: 2,
                clicks: 1,
                conversions: 2,
                converted_units: 1,
                dwell_count: 2,
                dwell_sum: 4000.0,
                dwell_sum_sq: 10_000_000.0,
                revenue_sum: 30.0,
                revenue_sum_sq: 500.0,
                errors: 1,
                pre_exposure: None,
            },
            Tally {
                mutation_id: "r".into(),
                variant: "b".into(),
                exposures: 1,
                exposed_units: 1,
                ..Tally::default()
            },
        ]
    );
    let day_list: Vec<(String, String, String, u64, u64)> = days
        .iter()
        .map(|d| {
            (
                d.day.clone(),
                d.mutation_id.clone(),
                d.variant.clone(),
                d.exposures,
                d.conversions,
            )
        })
        .collect();
    assert_eq!(
        day_list,
        vec![
            ("2025-11-24".into(), "plain".into(), "".into(), 1, 0),
            ("2025-11-24".into(), "r".into(), "a".into(), 2, 1),
            ("2025-11-24".into(), "r".into(), "b".into(), 1, 0),
            ("2025-11-25".into(), "r".into(), "a".into(), 1, 1),
        ]
    );
    // Filters: page, rule, variant, and the time range (`to` excluded).
    let only = |page: Option<&str>, rule: Option<&str>, variant: Option<&str>| ReportQuery {
        page: page.map(str::to_string),
        rule: rule.map(str::to_string),
        variant: variant.map(str::to_string),
        ..ReportQuery::default()
    };
    let ids = |t: Vec<Tally>| {
        t.into_iter()
            .map(|t| format!("{}/{}", t.mutation_id, t.variant))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(s
            .layout_tallies(&only(Some("sale"), None, None), from, to)
            .await
            .unwrap()
            .0),
        ["plain/"]
    );
    assert_eq!(
        ids(s
            .layout_tallies(&only(None, Some("r"), Some("b")), from, to)
            .await
            .unwrap()
            .0),
        ["r/b"]
    );
    assert_eq!(
        ids(s
            .layout_tallies(&only(None, None, Some("")), from, to)
            .await
            .unwrap()
            .0)
        .len(),
        3,
        "an empty filter is no filter"
    );
    let (first_day, _) = s.layout_tallies(&all, from, day2(0)).await.unwrap();
    assert_eq!(
        first_day
            .iter()
            .find(|t| t.variant == "a")
            .unwrap()
            .exposures,
        2
    );
    let (none, days) = s.layout_tallies(&all, day2(200), day2(300)).await.unwrap();
    assert!(none.is_empty() && days.is_empty());

    // A guard's measure: visitors who viewed a page, and those of them who converted there.
    let more = vec![
        ev(PageView, day1(10), "u2", None, None, "home"),
        ev(PageView, day1(11), "u5", None, None, "sale"),
        ev(Conversion, day1(12), "u5", None, None, "sale"),
        // Converted without a view in the range: not counted.
        ev(Conversion, day1(13), "u9", None, None, "home"),
    ];
    s.write_event_batches(&[spooled("n1", "b2", more)])
        .await
        .unwrap();
    use cortex_core::stats::guard::PageConversion;
    let pc = |units, converted, views, errors| PageConversion {
        units,
        converted,
        views,
        errors,
    };
    // Home: u1 and u2 viewed (once each); u1 converted (twice, on two days); one error.
    assert_eq!(
        s.page_conversion(Some("home"), from, to).await.unwrap(),
        pc(2, 1, 2, 1)
    );
    assert_eq!(
        s.page_conversion(Some("sale"), from, to).await.unwrap(),
        pc(1, 1, 1, 0)
    );
    assert_eq!(
        s.page_conversion(None, from, to).await.unwrap(),
        pc(3, 2, 3, 1)
    );
    // The range is [from, to): u2's view at day1(10) is left out from day1(10) + 1 s on.
    assert_eq!(
        s.page_conversion(Some("home"), day1(10) + Duration::seconds(1), to)
            .await
            .unwrap(),
        pc(0, 0, 0, 0)
    );
    assert_eq!(
        s.page_conversion(Some("nowhere"), from, to).await.unwrap(),
        pc(0, 0, 0, 0)
    );
}

/// The hourly rollup reports exactly what counting the events reports, for every range that
/// starts on an hour and ends after the newest event: events written out of order, by
/// several writers at once, one batch twice.
async fn the_rollup_counts_what_the_events_count(s: DynStore) {
    use cortex_core::analytics::{Event, EventKind};
    use cortex_core::report::{ReportQuery, Tally};
    use cortex_server::store::rollup::HOUR_MS;
    const HOUR0: i64 = 490_000; // 2025-11-25T16:00Z
    let mut seed: u64 = 0x5eed;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let kinds = [
        EventKind::Exposure,
        EventKind::Exposure,
        EventKind::Exposure,
        EventKind::Click,
        EventKind::Conversion,
        EventKind::Dwell,
        EventKind::PageView,
        EventKind::Error,
    ];
    let mut batches = Vec::new();
    for b in 0..40 {
        let events = (0..60)
            .map(|_| {
                let at = (HOUR0 + next(72) as i64) * HOUR_MS + next(HOUR_MS as u64) as i64;
                let mut e = Event::new(
                    kinds[next(kinds.len() as u64) as usize],
                    chrono::DateTime::from_timestamp_millis(at).unwrap(),
                );
                e.unit = (next(10) > 0).then(|| format!("u{}", next(40)));
                e.mutation_id = (next(10) > 0).then(|| format!("r{}", next(3)));
                e.variant = (next(4) > 0).then(|| ["a", "b"][next(2) as usize].to_string());
                e.value = (matches!(e.kind, EventKind::Dwell | EventKind::Conversion)
                    && next(5) > 0)
                    .then(|| next(5000) as f64);
                e
            })
            .collect();
        batches.push(spooled("n1", &format!("b{b}"), events));
    }
    // Four writers at once, each with every fourth batch; one batch is sent again.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (s, mine) = (
                s.clone(),
                batches
                    .iter()
                    .skip(w)
                    .step_by(4)
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            tokio::spawn(async move {
                for chunk in mine.chunks(3) {
                    s.write_event_batches(chunk).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let again = s.write_event_batches(&batches[5..6]).await.unwrap();
    assert_eq!(again.duplicates, 1);

    let rounded = |mut t: Vec<Tally>| {
        for t in &mut t {
            t.dwell_sum = t.dwell_sum.round();
            t.dwell_sum_sq = t.dwell_sum_sq.round();
            t.revenue_sum = t.revenue_sum.round();
            t.revenue_sum_sq = t.revenue_sum_sq.round();
        }
        t
    };
    let to = chrono::DateTime::from_timestamp_millis((HOUR0 + 100) * HOUR_MS).unwrap();
    for hour in [
        HOUR0 - 5,
        HOUR0,
        HOUR0 + 1,
        HOUR0 + 30,
        HOUR0 + 71,
        HOUR0 + 80,
    ] {
        let from = chrono::DateTime::from_timestamp_millis(hour * HOUR_MS).unwrap();
        for (rule, variant) in [
            (None, None),
            (Some("r1"), None),
            (Some("r2"), Some("b")),
            (None, Some("")),
        ] {
            let query = ReportQuery {
                rule: rule.map(str::to_string),
                variant: variant.map(str::to_string),
                ..ReportQuery::default()
            };
            let (counted, counted_days) = s.layout_tallies(&query, from, to).await.unwrap();
            let (rolled, rolled_days) = s.rollup_tallies(rule, variant, hour).await.unwrap();
            assert_eq!(
                rounded(rolled),
                rounded(counted),
                "from hour {hour}, {rule:?} {variant:?}"
            );
            // Visitors new on a day: new at all in the rollup, new in the range when counted
            // from the events; the same when the range starts before the first event.
            let old_news = |mut d: Vec<cortex_core::report::DayRow>| {
                if hour > HOUR0 {
                    for d in &mut d {
                        (d.new_units, d.new_converted_units) = (0, 0);
                    }
                }
                d
            };
            assert_eq!(
                old_news(rolled_days),
                old_news(counted_days),
                "days from hour {hour}"
            );
        }
    }
    let (all, days) = s.rollup_tallies(None, None, HOUR0).await.unwrap();
    assert!(
        all.len() >= 6
            && all
                .iter()
                .all(|t| t.exposed_units > 0 && t.exposed_units <= 40)
    );
    // The visitors' history before each experiment (CUPED), counted here from the events.
    let expected_history = |rule: &str, hour: i64| {
        use cortex_core::report::PreExposure;
        use std::collections::{BTreeMap, BTreeSet};
        let events: Vec<&Event> = batches.iter().flat_map(|b| &b.batch.events).collect();
        let hour_of = |e: &Event| e.at.timestamp_millis().div_euclid(HOUR_MS);
        let mut converted: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
        // (variant, unit) -> (first exposure, latest exposure, latest conversion)
        type Hours = (Option<i64>, Option<i64>, Option<i64>);
        let mut units: BTreeMap<(String, &str), Hours> = BTreeMap::new();
        for e in &events {
            let Some(unit) = e.unit.as_deref() else {
                continue;
            };
            if e.kind == EventKind::Conversion {
                converted.entry(unit).or_default().insert(hour_of(e));
            }
            if e.mutation_id.as_deref() != Some(rule)
                || !matches!(e.kind, EventKind::Exposure | EventKind::Conversion)
            {
                continue;
            }
            let u = units
                .entry((e.variant.clone().unwrap_or_default(), unit))
                .or_default();
            let h = Some(hour_of(e));
            if e.kind == EventKind::Exposure {
                u.0 = if u.0.is_none() { h } else { u.0.min(h) };
                u.1 = u.1.max(h);
            } else {
                u.2 = u.2.max(h);
            }
        }
        let mut out: BTreeMap<String, PreExposure> = BTreeMap::new();
        for v in ["", "a", "b"] {
            out.insert(v.into(), PreExposure::default());
        }
        for ((variant, unit), (first, latest, conv)) in units {
            let (Some(first), Some(latest)) = (first, latest) else {
                continue;
            };
            if latest < hour {
                continue;
            }
            let y = u64::from(conv.is_some_and(|c| c >= hour));
            let x = converted.get(unit).map_or(0, |hours| {
                hours.range(first - 14 * 24..first).count() as u64
            });
            if x == 0 {
                continue;
            }
            let p = out.entry(variant).or_default();
            p.with_history += 1;
            p.pre_sum += x;
            p.pre_sum_sq += x * x;
            p.cross_sum += x * y;
        }
        out.into_iter().collect::<Vec<_>>()
    };
    let history_of = |rule: &'static str, hour: i64| {
        let s = s.clone();
        async move {
            let mut out = Vec::new();
            for v in ["", "a", "b"] {
                out.push((v.to_string(), s.pre_exposure(rule, v, hour).await.unwrap()));
            }
            out
        }
    };
    let mut with_history = 0;
    for rule in ["r0", "r1", "r2"] {
        for hour in [HOUR0, HOUR0 + 30] {
            let history = history_of(rule, hour).await;
            assert_eq!(history, expected_history(rule, hour), "{rule} from {hour}");
            with_history += history.iter().map(|(_, p)| p.with_history).sum::<u64>();
        }
    }
    assert!(
        with_history > 0,
        "the fixture gives some visitors a history"
    );
    // Built again from the events (as the migration did), the rollup says the same.
    assert!(s.rebuild_rollup().await.unwrap() > 0);
    let (rebuilt, rebuilt_days) = s.rollup_tallies(None, None, HOUR0).await.unwrap();
    assert_eq!(rounded(rebuilt), rounded(all));
    assert_eq!(rebuilt_days, days);
    assert_eq!(history_of("r1", HOUR0).await, expected_history("r1", HOUR0));
}

/// Alerts for the webhook are kept until delivered: claimed by one hub at a time, tried
/// again when due, given up when told.
async fn alerts_wait_until_delivered_or_given_up(s: DynStore) {
    use cortex_server::webhook::{AlertState, QueuedAlert};
    let t = |secs: i64| chrono::DateTime::from_timestamp(1_764_000_000 + secs, 0).unwrap();
    let alert = |id: &str, at| QueuedAlert {
        id: id.into(),
        kind: "autoRollback".into(),
        rule_id: "r".into(),
        at,
        body: format!("{{\"id\":\"{id}\"}}"),
        attempts: 0,
        state: AlertState::Pending,
        last_error: None,
        deliver: true,
        acknowledged_at: None,
        acknowledged_by: None,
    };
    s.queue_alert(&alert("a1", t(0)), t(0)).await.unwrap();
    s.queue_alert(&alert("a2", t(1)), t(1)).await.unwrap();
    // The same alert kept again (a condition two hubs saw) stays one alert, as it was.
    let mut twice = alert("a2", t(1));
    twice.body = "{\"other\":true}".into();
    s.queue_alert(&twice, t(1)).await.unwrap();
    assert_eq!(s.recent_alerts(10).await.unwrap().len(), 2);
    assert_eq!(
        s.get_alert("a2").await.unwrap().unwrap().body,
        "{\"id\":\"a2\"}"
    );
    let ids = |v: Vec<QueuedAlert>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    // Not due before it was made; then both, oldest first; then held by the claim.
    assert!(s.claim_alerts(t(-5), t(55), 10).await.unwrap().is_empty());
    assert_eq!(
        ids(s.claim_alerts(t(10), t(70), 10).await.unwrap()),
        ["a1", "a2"]
    );
    assert!(s.claim_alerts(t(11), t(71), 10).await.unwrap().is_empty());
    // An attempt recorded under a claim that is not the alert's changes nothing.
    s.alert_attempt("a1", t(99), t(12), true, None, None)
        .await
        .unwrap();
    assert_eq!(
        s.recent_alerts(10).await.unwrap()[1].state,
        AlertState::Pending
    );
    s.alert_attempt("a1", t(70), t(12), true, None, None)
        .await
        .unwrap();
    s.alert_attempt(
        "a2",
        t(70),
        t(12),
        false,
        Some(t(20)),
        Some("could not connect"),
    )
    .await
    .unwrap();
    assert!(s.claim_alerts(t(15), t(75), 10).await.unwrap().is_empty());
    let again = s.claim_alerts(t(20), t(80), 10).await.unwrap();
    assert_eq!((again[0].id.as_str(), again[0].attempts), ("a2", 1));
    s.alert_attempt(
        "a2",
        t(80),
        t(21),
        false,
        None,
        Some("the receiver answered 500"),
    )
    .await
    .unwrap();
    assert!(s
        .claim_alerts(t(100_000), t(100_060), 10)
        .await
        .unwrap()
        .is_empty());
    let recent = s.recent_alerts(10).await.unwrap();
    let got: Vec<(&str, AlertState, u32, Option<&str>)> = recent
        .iter()
        .map(|a| (a.id.as_str(), a.state, a.attempts, a.last_error.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "a2",
                AlertState::Failed,
                2,
                Some("the receiver answered 500")
            ),
            ("a1", AlertState::Delivered, 1, None)
        ]
    );
    assert_eq!(recent[1].body, "{\"id\":\"a1\"}");

    // Raised without a webhook: listed, never claimed for one.
    let kept = QueuedAlert {
        deliver: false,
        state: AlertState::DashboardOnly,
        ..alert("a3", t(30))
    };
    s.queue_alert(&kept, t(30)).await.unwrap();
    assert!(s
        .claim_alerts(t(200_000), t(200_060), 10)
        .await
        .unwrap()
        .is_empty());
    let listed = s.recent_alerts(10).await.unwrap();
    assert_eq!(
        (listed[0].id.as_str(), listed[0].state),
        ("a3", AlertState::DashboardOnly)
    );
    // Acknowledged once, with its audit record; again: nothing written; unknown: none.
    let audit = || cortex_core::audit::AuditRecord::new("user:op", "alert.acknowledge", "");
    assert_eq!(
        s.acknowledge_alert("a3", "user:op", t(40), audit())
            .await
            .unwrap(),
        Some(true)
    );
    assert_eq!(
        s.acknowledge_alert("a3", "user:other", t(41), audit())
            .await
            .unwrap(),
        Some(false)
    );
    assert_eq!(
        s.acknowledge_alert("nope", "user:op", t(41), audit())
            .await
            .unwrap(),
        None
    );
    assert!(s.get_alert("nope").await.unwrap().is_none());
    let a3 = &s.get_alert("a3").await.unwrap().unwrap();
    assert_eq!(
        (a3.acknowledged_by.as_deref(), a3.acknowledged_at),
        (Some("user:op"), Some(t(40)))
    );
    let audited = s
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("alert.acknowledge".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].record.target, "alert:a3");
    // Pruning takes old alerts that wait for nothing, and no pending one.
    s.queue_alert(&alert("a4", t(5)), t(5)).await.unwrap();
    assert_eq!(s.prune_alerts(t(31)).await.unwrap(), 3);
    assert_eq!(ids(s.recent_alerts(10).await.unwrap()), ["a4"]);
}

/// An alert the webhook could not take waits in the database: a hub started later (another
/// `Webhook` on the same store) delivers it, signed, once the receiver answers.
#[tokio::test]
async fn an_undelivered_alert_is_delivered_by_the_next_hub() {
    use cortex_server::webhook::{signature, Alert, AlertState, Webhook, SIGNATURE_HEADER};
    let db = sqlite().await;
    let secret = "a-webhook-secret-of-some-length";
    // Nothing listens here.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let first = Webhook::new(
        format!("http://{dead}/hook").parse().unwrap(),
        secret.to_string().into(),
        db.store.clone(),
    )
    .unwrap();
    first.send(Alert {
        kind: "autoRollback",
        rule_id: "r".into(),
        at: Utc::now(),
        text: "rolled back a change of rule r".into(),
        details: serde_json::json!({"verdict": "rollBack"}),
        key: None,
    });
    let mut queued = Vec::new();
    for _ in 0..50 {
        queued = db.store.recent_alerts(5).await.unwrap();
        if !queued.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(queued.len(), 1);
    assert_eq!(first.deliver_due(Utc::now()).await, 0);
    let failed = db.store.recent_alerts(5).await.unwrap();
    assert_eq!(
        (failed[0].state, failed[0].attempts),
        (AlertState::Pending, 1)
    );
    assert_eq!(failed[0].last_error.as_deref(), Some("could not connect"));
    drop(first);

    // The next hub, with the receiver up.
    let received: Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>> = Default::default();
    let app = {
        let received = received.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let received = received.clone();
                    async move {
                        let sig = headers
                            .get(SIGNATURE_HEADER)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        received.lock().unwrap().push((sig, body.to_vec()));
                        axum::http::StatusCode::NO_CONTENT
                    }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let live = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let next = Webhook::new(
        format!("http://{live}/hook").parse().unwrap(),
        secret.to_string().into(),
        db.store.clone(),
    )
    .unwrap();
    assert_eq!(
        next.deliver_due(Utc::now()).await,
        0,
        "not due before its pause"
    );
    assert_eq!(next.deliver_due(Utc::now() + Duration::seconds(2)).await, 1);
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, signature(secret.as_bytes(), &got[0].1));
    let body: serde_json::Value = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(body["ruleId"], "r");
    let done = db.store.recent_alerts(5).await.unwrap();
    assert_eq!(
        (done[0].state, done[0].attempts),
        (AlertState::Delivered, 2)
    );
    db.done().await;
}

/// Fills `s` with a bit of every kind of control state.
async fn fill_control_state(s: &DynStore) {
    use cortex_core::federation::{BundleKind, NeuronStatus, Scope};
    let admin = s
        .create_user(
            new_user("root", Role::Admin),
            CreateUserRule::Any,
            audit("user.create", ""),
        )
        .await
        .unwrap();
    let now = cortex_server::store::ms_precision(Utc::now());
    s.create_session(
        SessionRecord {
            id: "sess-1".into(),
            user_id: admin.id,
            created_at: now,
            expires_at: now + Duration::hours(1),
        },
        audit("auth.login", ""),
    )
    .await
    .unwrap();
    s.create_token(
        new_token("ops", "hash-ops", None),
        audit("token.create", ""),
    )
    .await
    .unwrap();
    s.put_setting("federation.join_policy", r#"{"mode":"open"}"#, None)
        .await
        .unwrap();
    s.register_neuron(
        neuron("shop-1", "key-a", NeuronStatus::Active),
        audit("neuron.register", ""),
    )
    .await
    .unwrap();
    s.register_neuron(
        neuron("gone-1", "key-g", NeuronStatus::Active),
        audit("neuron.register", ""),
    )
    .await
    .unwrap();
    s.delete_neuron("gone-1", audit("neuron.delete", ""))
        .await
        .unwrap();
    s.revoke_neuron("gone-1", Utc::now()).await.unwrap();
    for n in 1..=2 {
        s.push_bundle(
            &Scope::Global,
            BundleKind::Config,
            &serde_json::json!({"n": n}),
            "user:tester",
            Utc::now(),
            &Default::default(),
            &Default::default(),
            audit("bundle.push", ""),
        )
        .await
        .unwrap()
        .applied()
        .expect("applied");
    }
    s.ack_bundles(&[cortex_server::store::neurons::BundleAck {
        neuron_id: "shop-1".into(),
        scope: Scope::Global,
        revision: 2,
        at: Utc::now(),
    }])
    .await
    .unwrap();
    // Pinned to the older revision: it stays in the control state with the newest.
    s.put_override(
        &cortex_core::federation::overrides::ConfigOverride {
            neuron_id: "shop-1".into(),
            pin: Some(cortex_core::federation::overrides::PinnedRevision {
                scope: Scope::Global,
                revision: 1,
            }),
            keys: Default::default(),
            expires_at: None,
            reason: String::new(),
            created_by: "user:tester".into(),
            created_at: now,
        },
        audit("override.set", ""),
    )
    .await
    .unwrap();
    let layout: cortex_core::layout::Layout = serde_json::from_value(serde_json::json!({
        "pageSlug": "home", "root": {"id": "page", "type": "page", "props": {"title": "T"}}
    }))
    .unwrap();
    s.put_layout(layout, None, audit("layout.save", ""))
        .await
        .unwrap();
    let rule: cortex_core::mutation::LayoutMutation = serde_json::from_value(serde_json::json!({
        "id": "r1", "layoutId": "home", "pageSlug": "home", "layer": "page",
        "mutationType": "props", "mutationPayload": {"target": "page", "patch": {"title": "U"}},
        "createdBy": "user:tester", "timestamp": "2026-11-29T10:00:00Z", "isActive": true
    }))
    .unwrap();
    s.put_rule(
        rule,
        false,
        Head::Absent,
        audit("layout-mutation.create", ""),
    )
    .await
    .unwrap();
    let release = release("api-service", "1.0", now);
    s.create_release(&release, audit("release.create", ""))
        .await
        .unwrap();
    s.set_expected_release(
        &cortex_core::federation::Expectation {
            kind: "api-service".into(),
            version: "1.0".into(),
            set_by: "user:tester".into(),
            set_at: now,
        },
        audit("release.expect", ""),
    )
    .await
    .unwrap();
}

async fn stale_pushes_follow_the_policy_and_change_requests_are_decided_once(s: DynStore) {
    use cortex_core::federation::review::{
        ChangeRequestState, ConflictMode, ReviewComment, ReviewReason, ScopePolicy,
    };
    use cortex_core::federation::{BundleKind, Scope};
    use cortex_server::store::neurons::{PushCheck, Pushed};
    use cortex_server::store::review::Decision;
    let now = cortex_server::store::ms_precision(Utc::now());
    let lww = ScopePolicy::default();
    let review = ScopePolicy {
        mode: ConflictMode::Review,
        protected: false,
    };
    let push = |n: i64, base: Option<u64>, policy: ScopePolicy| {
        let s = s.clone();
        async move {
            s.push_bundle(
                &Scope::Global,
                BundleKind::Config,
                &serde_json::json!({"n": n}),
                "user:ann",
                now,
                &Default::default(),
                &PushCheck {
                    base,
                    policy,
                    only_if_current: false,
                },
                audit("bundle.push", ""),
            )
            .await
            .unwrap()
        }
    };
    // Last write wins: the stale push is applied and names the revision it overwrote.
    push(1, Some(0), lww).await.applied().expect("fresh");
    push(2, Some(1), lww).await.applied().expect("fresh");
    let stale = push(3, Some(1), lww).await.applied().expect("applied");
    assert_eq!(
        (stale.revision, stale.base_revision, stale.overwrote),
        (3, Some(1), Some(2))
    );
    let kept = s.bundle(&Scope::Global, 3).await.unwrap().unwrap();
    assert_eq!((kept.base_revision, kept.overwrote), (Some(1), Some(2)));
    // Review: held as an open change request; nothing new is pushed.
    let Pushed::Held(held) = push(4, Some(2), review).await else {
        panic!("a stale push under review is held")
    };
    assert_eq!(
        (held.reason, held.state, held.base_revision),
        (ReviewReason::Stale, ChangeRequestState::Open, Some(2))
    );
    assert!(s.bundle(&Scope::Global, 4).await.unwrap().is_none());
    assert_eq!(s.change_request(&held.id).await.unwrap().unwrap(), held);
    let comment = ReviewComment {
        by: "user:bob".into(),
        at: now,
        text: "ok?".into(),
    };
    let with = s
        .comment_change_request(&held.id, &comment, 1, audit("changeRequest.comment", ""))
        .await
        .unwrap();
    assert_eq!(with.comments, vec![comment.clone()]);
    assert!(matches!(
        s.comment_change_request(&held.id, &comment, 1, audit("changeRequest.comment", ""))
            .await,
        Err(StoreError::Conflict(_))
    ));
    // Approving names the revision the approver read the diff against: a stale read is a
    // conflict, and nothing is decided.
    assert_eq!(
        s.newest_revision(&Scope::Global, BundleKind::Config)
            .await
            .unwrap(),
        Some(3)
    );
    assert_eq!(
        s.count_revisions_after(&Scope::Global, BundleKind::Config, 1)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.newest_revision(&Scope::Global, BundleKind::Offers)
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        s.decide_change_request(
            &held.id,
            &Decision::Approve { seen: Some(2) },
            "user:bob",
            now,
            audit("changeRequest.approve", ""),
        )
        .await,
        Err(StoreError::Conflict(_))
    ));
    // Approved: pushed as the next revision, by its author, keeping its base and naming the
    // revision it replaced.
    let (done, bundle) = s
        .decide_change_request(
            &held.id,
            &Decision::Approve { seen: Some(3) },
            "user:bob",
            now,
            audit("changeRequest.approve", ""),
        )
        .await
        .unwrap();
    let bundle = bundle.expect("approving pushes it");
    assert_eq!(
        (
            bundle.revision,
            bundle.base_revision,
            bundle.overwrote,
            bundle.created_by.as_str()
        ),
        (4, Some(2), Some(3), "user:ann")
    );
    assert_eq!(
        (
            done.state,
            done.applied_revision,
            done.decided_by.as_deref()
        ),
        (ChangeRequestState::Applied, Some(4), Some("user:bob"))
    );
    // Decided once: a second decision, either way, is a conflict; unknown ids are not found.
    for d in [
        Decision::Approve { seen: Some(4) },
        Decision::Reject {
            note: String::new(),
        },
    ] {
        assert!(matches!(
            s.decide_change_request(
                &held.id,
                &d,
                "user:carl",
                now,
                audit("changeRequest.approve", "")
            )
            .await,
            Err(StoreError::Conflict(_))
        ));
    }
    assert!(matches!(
        s.decide_change_request(
            "nope",
            &Decision::Approve { seen: None },
            "user:bob",
            now,
            audit("changeRequest.approve", "")
        )
        .await,
        Err(StoreError::NotFound(_))
    ));
    // Protected: even a fresh push waits; rejected, it is kept with its reason.
    let Pushed::Held(p) = push(
        5,
        Some(4),
        ScopePolicy {
            mode: ConflictMode::LastWriteWins,
            protected: true,
        },
    )
    .await
    else {
        panic!("a protected scope holds every push")
    };
    let (rejected, none) = s
        .decide_change_request(
            &p.id,
            &Decision::Reject { note: "no".into() },
            "user:bob",
            now,
            audit("changeRequest.reject", ""),
        )
        .await
        .unwrap();
    assert!(none.is_none());
    assert_eq!(
        (rejected.state, rejected.decision_note.as_str()),
        (ChangeRequestState::Rejected, "no")
    );
    let open = s
        .change_requests(Some(ChangeRequestState::Open), 10)
        .await
        .unwrap();
    assert!(open.is_empty());
    let all = s.change_requests(None, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(s.change_requests(None, 1).await.unwrap().len(), 1);
    // The hub's own undo goes only over the revision it judged.
    let undo = |base: u64| {
        let s = s.clone();
        async move {
            s.push_bundle(
                &Scope::Global,
                BundleKind::Config,
                &serde_json::json!({"undo": base}),
                "hub",
                now,
                &Default::default(),
                &PushCheck {
                    base: Some(base),
                    only_if_current: true,
                    ..Default::default()
                },
                audit("bundle.autoRollback", ""),
            )
            .await
        }
    };
    assert!(
        matches!(undo(3).await, Err(StoreError::Conflict(_))),
        "revision 4 is newer"
    );
    assert_eq!(
        undo(4).await.unwrap().applied().expect("applied").revision,
        5
    );
    // Open change requests are bounded: beyond the cap a push to be held is refused.
    use cortex_core::federation::review::MAX_OPEN_REQUESTS;
    for n in 0..MAX_OPEN_REQUESTS {
        assert!(push(100 + n as i64, None, review).await.applied().is_none());
    }
    let refused = s
        .push_bundle(
            &Scope::Global,
            BundleKind::Config,
            &serde_json::json!({"n": 0}),
            "user:ann",
            now,
            &Default::default(),
            &PushCheck {
                base: None,
                policy: review,
                only_if_current: false,
            },
            audit("bundle.push", ""),
        )
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict(m)) if m.contains("open already")));
    // A fresh push is not held, so the cap does not stop it.
    let fresh = push(1, Some(5), review).await.applied().expect("fresh");
    assert_eq!(fresh.revision, 6);
}

async fn overrides_are_kept_per_neuron_and_end_only_when_expired(s: DynStore) {
    use cortex_core::federation::overrides::ConfigOverride;
    use cortex_core::federation::NeuronStatus;
    let now = cortex_server::store::ms_precision(Utc::now());
    s.register_neuron(
        neuron("shop-1", "key-a", NeuronStatus::Active),
        audit("neuron.register", ""),
    )
    .await
    .unwrap();
    let set = |expires_at, reason: &str| ConfigOverride {
        neuron_id: "shop-1".into(),
        pin: None,
        keys: serde_json::json!({"limit": 5})
            .as_object()
            .cloned()
            .unwrap(),
        expires_at,
        reason: reason.into(),
        created_by: "user:ann".into(),
        created_at: now,
    };
    let first = set(Some(now + chrono::Duration::minutes(5)), "first");
    s.put_override(&first, audit("override.set", ""))
        .await
        .unwrap();
    assert_eq!(s.override_of("shop-1").await.unwrap(), Some(first.clone()));
    // Replaced: one per neuron.
    let second = set(Some(now + chrono::Duration::hours(1)), "second");
    s.put_override(&second, audit("override.set", ""))
        .await
        .unwrap();
    assert_eq!(s.overrides().await.unwrap(), vec![second.clone()]);
    // Expiry as of a time it has not reached removes nothing (one set anew stays).
    let later = now + chrono::Duration::minutes(10);
    assert_eq!(
        s.remove_override("shop-1", Some(later), audit("override.expire", ""))
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.override_of("shop-1").await.unwrap(), Some(second.clone()));
    let after = now + chrono::Duration::hours(2);
    assert_eq!(
        s.remove_override("shop-1", Some(after), audit("override.expire", ""))
            .await
            .unwrap(),
        Some(second)
    );
    assert_eq!(
        s.remove_override("shop-1", None, audit("override.clear", ""))
            .await
            .unwrap(),
        None
    );
    // A removed neuron takes its override with it: one joining under its id starts clean.
    s.put_override(&set(None, "kept"), audit("override.set", ""))
        .await
        .unwrap();
    s.delete_neuron("shop-1", audit("neuron.delete", ""))
        .await
        .unwrap();
    assert_eq!(s.override_of("shop-1").await.unwrap(), None);
}

async fn layouts_are_backed_up_before_they_are_replaced_and_the_newest_backups_kept(s: DynStore) {
    use cortex_core::layout::migrate::{LayoutBackup, KEPT_BACKUPS};
    let layout = |title: &str| -> cortex_core::layout::Layout {
        serde_json::from_value(serde_json::json!({"pageSlug": "home",
            "root": {"id": "page", "type": "page", "props": {"title": title}}}))
        .unwrap()
    };
    let t0 = cortex_server::store::ms_precision(Utc::now());
    let backup = |i: usize, version: u32| LayoutBackup {
        id: format!("b{i:03}"),
        page_slug: "home".into(),
        layout_version: version,
        rules: 0,
        reason: "save".into(),
        created_by: "user:tester".into(),
        created_at: t0 + Duration::milliseconds(i as i64),
        set: Some(cortex_core::rules::RuleSet {
            revision: Revision(0),
            layouts: vec![layout(&format!("v{version}"))],
            rules: vec![],
        }),
    };
    s.put_layout(layout("v1"), None, audit("layout.save", ""))
        .await
        .unwrap();
    for i in 1..=KEPT_BACKUPS + 2 {
        s.put_layout(
            layout(&format!("v{}", i + 1)),
            Some(&backup(i, i as u32)),
            audit("layout.save", ""),
        )
        .await
        .unwrap();
    }
    // A backup of a version that is no longer the newest: the layout changed meanwhile.
    assert!(matches!(
        s.put_layout(layout("x"), Some(&backup(999, 1)), audit("layout.save", ""))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let list = s.layout_backups(Some("home"), 100).await.unwrap();
    assert_eq!(list.len(), KEPT_BACKUPS, "the newest are kept");
    assert_eq!(list[0].id, format!("b{:03}", KEPT_BACKUPS + 2));
    assert!(
        list.iter().all(|b| b.set.is_none()),
        "lists leave the content out"
    );
    assert!(s
        .layout_backups(Some("other"), 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.layout_backups(None, 3).await.unwrap().len(), 3);
    let one = s.layout_backup(&list[0].id).await.unwrap().unwrap();
    assert_eq!(one, backup(KEPT_BACKUPS + 2, (KEPT_BACKUPS + 2) as u32));
    assert!(s.layout_backup("b001").await.unwrap().is_none(), "dropped");
    let versions = s.layout_versions("home", 3).await.unwrap();
    let numbers: Vec<u32> = versions.iter().map(|l| l.version).collect();
    let newest = (KEPT_BACKUPS + 3) as u32;
    assert_eq!(numbers, [newest, newest - 1, newest - 2]);
}

async fn a_setting_changed_by_many_at_once_keeps_every_change(s: DynStore) {
    // Each writer adds its own key to one JSON object: none is lost.
    let writers = (0..12).map(|i| {
        let s = s.clone();
        async move {
            let add = move |now: Option<&str>| {
                let mut map: serde_json::Map<String, serde_json::Value> = match now {
                    Some(v) => serde_json::from_str(v).map_err(|e| e.to_string())?,
                    None => Default::default(),
                };
                map.insert(format!("k{i}"), i.into());
                Ok((
                    serde_json::Value::Object(map).to_string(),
                    audit("setting.update", "setting:many"),
                ))
            };
            s.update_setting("many", &add).await.unwrap().unwrap()
        }
    });
    futures::future::join_all(writers).await;
    let kept: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&s.setting("many").await.unwrap().unwrap()).unwrap();
    assert_eq!(kept.len(), 12, "{kept:?}");
    // A refusal writes nothing.
    let refuse = |_: Option<&str>| Err("no".to_string());
    assert_eq!(
        s.update_setting("many", &refuse).await.unwrap(),
        Err("no".into())
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&s.setting("many").await.unwrap().unwrap())
            .unwrap(),
        serde_json::Value::Object(kept)
    );
    assert_eq!(verify_chain(&s).await, 12);
}

async fn rollouts_are_one_active_per_kind_and_updates_are_claimed_once(s: DynStore) {
    use cortex_core::federation::{
        Audience, NeuronUpdate, Rollout, RolloutState, Scope, UpdateState,
    };
    let t0 = cortex_server::store::ms_precision(Utc::now());
    s.create_release(
        &release("api-service", "2.0", t0),
        audit("release.create", ""),
    )
    .await
    .unwrap();
    let rollout = |id: &str, state| Rollout {
        id: id.into(),
        kind: "api-service".into(),
        version: "2.0".into(),
        previous: Some("1.0".into()),
        scope: Scope::Tag("eu".into()),
        audience: Audience {
            percent: Some(10),
            tags: vec!["canary".into()],
        },
        state,
        reason: String::new(),
        created_by: "user:op".into(),
        created_at: t0,
        updated_at: t0,
    };
    let first = rollout("r1", RolloutState::Running);
    s.create_rollout(&first, audit("rollout.start", ""))
        .await
        .unwrap();
    // One running or paused rollout per kind; an unknown release is not found.
    assert!(matches!(
        s.create_rollout(
            &rollout("r2", RolloutState::Running),
            audit("rollout.start", "")
        )
        .await,
        Err(StoreError::Conflict(_))
    ));
    let mut unknown = rollout("r3", RolloutState::Running);
    unknown.version = "9.9".into();
    unknown.kind = "cli".into();
    assert!(matches!(
        s.create_rollout(&unknown, audit("rollout.start", "")).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.rollout("r1").await.unwrap(), Some(first.clone()));
    assert_eq!(s.running_rollouts().await.unwrap(), vec![first.clone()]);

    // A change names the state it expects: a stale one is a conflict.
    let paused = Rollout {
        state: RolloutState::Paused,
        reason: "paused by user:op".into(),
        audience: Audience::default(),
        updated_at: t0 + Duration::seconds(1),
        ..first.clone()
    };
    s.change_rollout(
        &paused,
        RolloutState::Running,
        Some(audit("rollout.pause", "")),
    )
    .await
    .unwrap();
    assert!(matches!(
        s.change_rollout(&paused, RolloutState::Running, None).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.rollout("r1").await.unwrap(), Some(paused.clone()));
    assert!(s.running_rollouts().await.unwrap().is_empty());
    let aborted = Rollout {
        state: RolloutState::Aborted,
        ..paused.clone()
    };
    s.change_rollout(&aborted, RolloutState::Paused, None)
        .await
        .unwrap();
    // Finished, the kind may start another; the list has the active one first.
    let next = Rollout {
        created_at: t0 + Duration::seconds(2),
        ..rollout("r2", RolloutState::Running)
    };
    s.create_rollout(&next, audit("rollout.start", ""))
        .await
        .unwrap();
    let listed: Vec<String> = s
        .rollouts()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, ["r2", "r1"]);

    // Each neuron is claimed once per rollout; only claimed, unfinished updates are recorded.
    let update = |neuron: &str, state| NeuronUpdate {
        rollout_id: "r2".into(),
        neuron_id: neuron.into(),
        state,
        step: "pre 0001_add".into(),
        message: "ok".into(),
        at: t0,
    };
    assert!(s
        .claim_update(&update("n1", UpdateState::Sent))
        .await
        .unwrap());
    assert!(!s
        .claim_update(&update("n1", UpdateState::Sent))
        .await
        .unwrap());
    assert!(!s
        .record_update(&update("n2", UpdateState::Running))
        .await
        .unwrap());
    assert!(s
        .record_update(&update("n1", UpdateState::Running))
        .await
        .unwrap());
    assert!(s
        .record_update(&update("n1", UpdateState::Failed))
        .await
        .unwrap());
    assert!(
        !s.record_update(&update("n1", UpdateState::Done))
            .await
            .unwrap(),
        "failed is final"
    );
    let updates = s.neuron_updates(&["r2".into(), "r1".into()]).await.unwrap();
    assert_eq!(updates, vec![update("n1", UpdateState::Failed)]);
}

fn release(
    kind: &str,
    version: &str,
    at: chrono::DateTime<Utc>,
) -> cortex_core::federation::Release {
    cortex_core::federation::ReleaseForCreate {
        kind: kind.into(),
        version: version.into(),
        bundle: Some(cortex_core::federation::BundleRef {
            scope: cortex_core::federation::Scope::Global,
            revision: 2,
        }),
        pre_migrations: vec!["0001_add".into(), "0002_fill".into()],
        post_migrations: vec!["0003_drop".into()],
        fingerprints: cortex_core::federation::Fingerprints {
            schema: Some("sha256:aa".into()),
            api: None,
        },
        notes: "first".into(),
    }
    .into_release("user:tester", at)
}

fn crate_limit() -> u32 {
    cortex_server::store::releases::RELEASES_PER_KIND
}

async fn releases_are_kept_once_and_one_is_expected_per_kind(s: DynStore) {
    use cortex_core::federation::{BundleKind, Expectation, Scope};
    let t0 = cortex_server::store::ms_precision(Utc::now());
    let first = release("api-service", "1.0", t0);
    s.create_release(&first, audit("release.create", ""))
        .await
        .unwrap();
    // Releases do not change: the same version again is a conflict, whatever it says.
    let mut again = release("api-service", "1.0", t0);
    again.notes = "changed".into();
    assert!(matches!(
        s.create_release(&again, audit("release.create", "")).await,
        Err(StoreError::Conflict(_))
    ));
    // An unknown kind is refused by the database too.
    assert!(s
        .create_release(
            &release("no-such-kind", "1.0", t0),
            audit("release.create", "")
        )
        .await
        .is_err());
    let second = release("api-service", "1.1", t0 + Duration::seconds(1));
    s.create_release(&second, audit("release.create", ""))
        .await
        .unwrap();
    s.create_release(&release("cli", "1.0", t0), audit("release.create", ""))
        .await
        .unwrap();
    let all = s.releases().await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], second, "newest first");
    // Only the newest of each kind are read.
    for i in 1..=crate_limit() {
        s.create_release(
            &release("cli", &format!("2.{i}"), t0 + Duration::seconds(i as i64)),
            audit("release.create", ""),
        )
        .await
        .unwrap();
    }
    let all = s.releases().await.unwrap();
    assert_eq!(
        all.iter().filter(|r| r.kind == "cli").count(),
        crate_limit() as usize
    );
    assert!(all
        .iter()
        .any(|r| r.kind == "cli" && r.version == format!("2.{}", crate_limit())));
    assert!(
        !all.iter().any(|r| r.kind == "cli" && r.version == "1.0"),
        "the oldest is left out"
    );
    assert_eq!(all.iter().filter(|r| r.kind == "api-service").count(), 2);
    assert_eq!(
        s.release("api-service", "1.0").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(s.release("api-service", "9.9").await.unwrap(), None);

    // One expected release per kind; it must exist.
    assert!(s.expected_releases().await.unwrap().is_empty());
    let expect = |version: &str| Expectation {
        kind: "api-service".into(),
        version: version.into(),
        set_by: "user:op".into(),
        set_at: t0,
    };
    s.set_expected_release(&expect("1.0"), audit("release.expect", ""))
        .await
        .unwrap();
    s.set_expected_release(&expect("1.1"), audit("release.expect", ""))
        .await
        .unwrap();
    assert!(s
        .set_expected_release(&expect("7.0"), audit("release.expect", ""))
        .await
        .is_err());
    assert_eq!(s.expected_releases().await.unwrap(), vec![expect("1.1")]);
    let entries = s
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("release.expect".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].record.before["version"], "1.0");
    assert_eq!(entries[0].record.after["version"], "1.1");
    assert_eq!(entries[0].record.target, "neuron-kind:api-service");

    // The bundle a release goes with must have been pushed.
    assert!(!s.bundle_exists(&Scope::Global, 1).await.unwrap());
    s.push_bundle(
        &Scope::Global,
        BundleKind::Config,
        &serde_json::json!({}),
        "user:tester",
        Utc::now(),
        &Default::default(),
        &Default::default(),
        audit("bundle.push", ""),
    )
    .await
    .unwrap()
    .applied()
    .expect("applied");
    assert!(s.bundle_exists(&Scope::Global, 1).await.unwrap());
    assert!(!s.bundle_exists(&Scope::Tag("eu".into()), 1).await.unwrap());

    // A neuron registering again keeps the fingerprints it does not restate, and its last
    // migration unless it now runs another version.
    use cortex_core::federation::{
        Fingerprints, Heartbeat, MigrationPhase, MigrationReport, MigrationState, NeuronStatus,
    };
    s.register_neuron(
        neuron("rel-1", "key-r", NeuronStatus::Active),
        audit("neuron.register", ""),
    )
    .await
    .unwrap();
    let beat = Heartbeat {
        version: Some("1.0.0".into()),
        fingerprints: Fingerprints {
            schema: Some("sha256:aa".into()),
            api: Some("api-1".into()),
        },
        migration: Some(MigrationReport {
            id: "0001_add".into(),
            phase: MigrationPhase::Post,
            state: MigrationState::Succeeded,
            at: t0,
            output_tail: "ok".into(),
        }),
        ..Default::default()
    };
    s.record_heartbeat("rel-1", t0, &beat).await.unwrap();
    let again = s
        .register_neuron(
            neuron("rel-1", "key-r", NeuronStatus::Active),
            audit("neuron.register", ""),
        )
        .await
        .unwrap();
    assert_eq!(
        (again.fingerprints.clone(), again.migration.clone()),
        (beat.fingerprints.clone(), beat.migration.clone())
    );
    let mut newer = neuron("rel-1", "key-r", NeuronStatus::Active);
    newer.version = "2.0.0".into();
    newer.fingerprints.api = Some("api-2".into());
    let moved = s
        .register_neuron(newer, audit("neuron.register", ""))
        .await
        .unwrap();
    assert_eq!(moved.migration, None);
    assert_eq!(
        moved.fingerprints,
        Fingerprints {
            schema: Some("sha256:aa".into()),
            api: Some("api-2".into())
        }
    );
    // The audit log never holds what a neuron's migration printed.
    let registered = s
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("neuron.register".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(registered
        .iter()
        .all(|e| e.record.before.get("migration").is_none()
            && e.record.after.get("migration").is_none()));
    assert!(registered
        .iter()
        .any(|e| e.record.before.get("fingerprints").is_some()));
    verify_chain(&s).await;
}

/// The control state of `from`, through its file format, restored into the empty `into`:
/// the same rows, only the latest bundle of a scope, and a keyed `recover` entry that names
/// the head of `from`'s chain.
async fn control_state_round_trips(from: DynStore, into: DynStore) {
    use cortex_server::store::control::{ControlState, Restored};
    fill_control_state(&from).await;
    let state = from.control_state().await.unwrap();
    assert_eq!(
        state.database_id,
        from.database_id().await.unwrap().unwrap()
    );
    assert_eq!(
        state.table("bundles").len(),
        2,
        "the latest bundle of each kind in each scope, and the revision an override pins"
    );
    let head = from.audit_head().await.unwrap();
    assert_eq!(state.audit_head, head);
    let file: ControlState = serde_json::from_slice(&serde_json::to_vec(&state).unwrap()).unwrap();
    assert_eq!(file, state);
    // A database holding admins is not overwritten.
    let recover = || AuditRecord::new("hub", cortex_core::audit::RECOVER_ACTION, "database:x");
    assert_eq!(
        from.restore_control_state(&file, recover()).await.unwrap(),
        Restored::NotEmpty
    );
    let Restored::Done { rows, entry } =
        into.restore_control_state(&file, recover()).await.unwrap()
    else {
        panic!("an empty database is restored")
    };
    assert_eq!(rows as usize, state.rows());
    let (seq, hash) = head.unwrap();
    assert_eq!(
        (entry.seq, entry.prev_hash.as_str()),
        (seq + 1, hash.as_str())
    );
    let mut again = into.control_state().await.unwrap();
    assert_ne!(
        again.database_id, state.database_id,
        "the new database keeps its identity"
    );
    again.database_id = state.database_id.clone();
    again.taken_at = state.taken_at;
    again.audit_head = state.audit_head.clone();
    assert_eq!(again, state, "every row is back as it was");
    assert_eq!(
        into.user_by_username("root")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "hash-of-root"
    );
    assert!(into.token_by_hash("hash-ops").await.unwrap().is_some());
    assert_eq!(
        into.rule_set().await.unwrap(),
        from.rule_set().await.unwrap()
    );
    for table in [
        "neuron_revocations",
        "bundle_acks",
        "sessions",
        "api_tokens",
    ] {
        assert_eq!(again.table(table).len(), 1, "{table}");
    }
    // The chain starts at the keyed recover entry, which names the lost head.
    let report = cortex_server::audit::verify(&into, Some(&chain_key()), None)
        .await
        .unwrap();
    assert_eq!(
        report.broken, None,
        "the chain verifies from the recover entry"
    );
    assert_eq!(report.entries, seq + 1);
    // Without the key, nobody can vouch for it.
    let report = cortex_server::audit::verify(&into, None, None)
        .await
        .unwrap();
    assert!(
        matches!(
            report.broken,
            Some(cortex_core::audit::ChainBreak::Gap { .. })
        ),
        "{:?}",
        report.broken
    );
    assert_eq!(
        into.restore_control_state(&file, recover()).await.unwrap(),
        Restored::NotEmpty,
        "restored once"
    );
}

fn chain_key() -> cortex_core::audit::ChainKey {
    cortex_core::audit::ChainKey::new(b"contract-chain-key-".repeat(2))
}

#[tokio::test]
async fn control_state_round_trips_on_sqlite() {
    let (a, b) = (
        sqlite_with(Some(chain_key())).await,
        sqlite_with(Some(chain_key())).await,
    );
    control_state_round_trips(a.store.clone(), b.store.clone()).await;
}

#[tokio::test]
async fn control_state_round_trips_on_postgres() {
    let (a, b) = (
        postgres_with(Some(chain_key())).await,
        postgres_with(Some(chain_key())).await,
    );
    control_state_round_trips(a.store.clone(), b.store.clone()).await;
    a.done().await;
    b.done().await;
}

#[tokio::test]
async fn control_state_moves_from_sqlite_to_postgres() {
    let (a, b) = (
        sqlite_with(Some(chain_key())).await,
        postgres_with(Some(chain_key())).await,
    );
    control_state_round_trips(a.store.clone(), b.store.clone()).await;
    b.done().await;
}

/// Every table of the schema is either in the control state, with exactly its columns, or
/// left out with a reason: a new table or column cannot be forgotten by the copy.
fn control_tables_match(schema: std::collections::BTreeMap<String, Vec<String>>) {
    use cortex_server::store::control::{CONTROL_TABLES, NOT_CONTROL};
    for (table, columns) in &schema {
        if let Some(spec) = CONTROL_TABLES.iter().find(|t| t.name == table) {
            let mut expected: Vec<String> =
                spec.columns.iter().map(|(c, _)| c.to_string()).collect();
            let mut columns = columns.clone();
            expected.sort();
            columns.sort();
            assert_eq!(columns, expected, "columns of {table}");
        } else {
            assert!(
                NOT_CONTROL.iter().any(|(t, _)| t == table),
                "table {table} is neither copied nor left out with a reason"
            );
        }
    }
    for spec in CONTROL_TABLES {
        assert!(
            schema.contains_key(spec.name),
            "{} is in the schema",
            spec.name
        );
    }
}

#[tokio::test]
async fn control_tables_cover_the_schema_on_both_backends() {
    let db = sqlite().await;
    let dir = db._dir.as_ref().unwrap().path().join("t.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.display()))
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut schema = std::collections::BTreeMap::new();
    for t in tables {
        let columns: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .fetch_all(&mut conn)
                .await
                .unwrap();
        schema.insert(t, columns);
    }
    control_tables_match(schema);

    let db = postgres().await;
    let pool = db.store.postgres_pool().unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut schema: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (t, c) in rows {
        schema.entry(t).or_default().push(c);
    }
    control_tables_match(schema);
    db.done().await;
}

async fn the_event_rate_sums_stored_batches_per_bucket(s: DynStore) {
    use cortex_core::analytics::{Event, EventKind};
    let now = cortex_server::store::ms_precision(Utc::now());
    let batch = |neuron: &str, id: &str, events: usize, ago_secs: i64| {
        let mut b = spooled(
            neuron,
            id,
            (0..events)
                .map(|_| Event::new(EventKind::Log, now))
                .collect(),
        );
        b.received_at = now - Duration::seconds(ago_secs);
        b
    };
    s.write_event_batches(&[
        batch("n1", "a", 3, 10),
        batch("n2", "a", 2, 10),
        batch("n1", "b", 4, 700),
        batch("n1", "old", 5, 10_000),
    ])
    .await
    .unwrap();
    let since = now - Duration::hours(1);
    let points = s.event_rate(since, 300).await.unwrap();
    let total: u64 = points.iter().map(|p| p.events).sum();
    assert_eq!(
        total, 9,
        "batches older than `since` are left out: {points:?}"
    );
    assert!(
        points.windows(2).all(|w| w[0].at < w[1].at),
        "oldest first: {points:?}"
    );
    assert!(
        points.iter().all(|p| p.at.timestamp() % 300 == 0),
        "bucket starts: {points:?}"
    );
    let last = points.last().unwrap();
    assert_eq!(
        last.events, 5,
        "the newest bucket holds both recent batches"
    );
    assert!(s
        .event_rate(now + Duration::hours(1), 300)
        .await
        .unwrap()
        .is_empty());
    // Per neuron: the window just past (the last 5 minutes here) and before it.
    let rates = s
        .event_rates(since, now - Duration::seconds(300))
        .await
        .unwrap();
    let got: Vec<(&str, u64, u64)> = rates
        .iter()
        .map(|r| (r.neuron_id.as_str(), r.recent, r.before))
        .collect();
    assert_eq!(got, [("n1", 3, 4), ("n2", 2, 0)]);
    assert_eq!(rates[0].first_at, now - Duration::seconds(700));
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = super::sqlite().await;
                    super::$case(db.store.clone()).await;
                    db.done().await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = super::postgres().await;
                    super::$case(db.store.clone()).await;
                    db.done().await;
                }
            )*
        }
    };
}

contract!(
    migrations_are_idempotent,
    users_are_unique_and_listed_by_name,
    first_user_rule_allows_exactly_one_and_consumes_the_setup_token,
    the_last_admin_cannot_be_demoted_or_deleted,
    sessions_expire_and_end_and_die_with_their_user,
    tokens_are_found_by_hash_touched_listed_and_revoked_once,
    settings_round_trip_and_overwrite,
    audit_lists_filter_and_page,
    concurrent_writes_keep_the_chain_linear,
    neurons_register_heartbeat_and_change_status,
    silent_neurons_become_unhealthy_then_retired_unless_pinned,
    nonces_are_single_use_until_pruned,
    joins_in_one_batch_get_their_own_outcomes,
    pending_joins_stop_at_the_cap_and_quiet_rejoins_are_not_audited,
    revocations_are_kept_rise_and_are_pruned,
    silent_browser_tabs_are_removed_and_server_neurons_kept,
    layouts_and_rules_are_versioned_under_one_revision,
    bundles_count_revisions_per_scope_and_acks_only_rise,
    event_batches_count_once_and_reported_events_are_searchable,
    layout_events_are_tallied_per_rule_variant_and_day,
    the_rollup_counts_what_the_events_count,
    alerts_wait_until_delivered_or_given_up,
    segments_are_counted_and_suggestion_states_kept_once,
    commands_record_answers_from_the_neurons_they_were_sent_to,
    the_event_rate_sums_stored_batches_per_bucket,
    releases_are_kept_once_and_one_is_expected_per_kind,
    rollouts_are_one_active_per_kind_and_updates_are_claimed_once,
    stale_pushes_follow_the_policy_and_change_requests_are_decided_once,
    overrides_are_kept_per_neuron_and_end_only_when_expired,
    a_setting_changed_by_many_at_once_keeps_every_change,
    layouts_are_backed_up_before_they_are_replaced_and_the_newest_backups_kept,
);
