//! The `cortex` command line, run as a real process.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn cortex(data_dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cortex"));
    c.args(args)
        .current_dir(data_dir) // no stray .env from the repository
        .env_remove("DATABASE_URL")
        .env("CORTEX_DATA_DIR", data_dir)
        .env("CORTEX_LOG", "warn");
    c
}

fn run(mut c: impl std::borrow::BorrowMut<Command>) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.borrow_mut().output().expect("cortex runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into(),
        String::from_utf8_lossy(&stderr).into(),
    )
}

#[test]
fn help_explains_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run(cortex(dir.path(), &["--help"]));
    assert_eq!(code, 0);
    for cmd in [
        "serve", "migrate", "doctor", "export", "import", "backup", "restore", "copy-to", "admin",
        "token",
    ] {
        assert!(out.contains(cmd), "{out}");
    }
    let (code, out, _) = run(cortex(dir.path(), &["token", "--help"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("create") && out.contains("list") && out.contains("revoke"),
        "{out}"
    );
}

#[test]
fn bad_config_refuses_to_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) =
        run(cortex(dir.path(), &["migrate"]).env("DATABASE_URL", "mysql://root@localhost/x"));
    assert_eq!(code, 2);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("unknown scheme `mysql`"), "{err}");
    // .env in the working directory counts like the environment.
    std::fs::write(dir.path().join(".env"), "DATABASE_URL=oracle://db/x\n").unwrap();
    let (code, _, err) = run(cortex(dir.path(), &["migrate"]));
    assert_eq!(code, 2);
    assert!(err.contains("unknown scheme `oracle`"), "{err}");
    std::fs::remove_file(dir.path().join(".env")).unwrap();
    let (code, _, err) = run(cortex(dir.path(), &["serve"]).env("CORTEX_SESSION_TTL", "soon"));
    assert_eq!(code, 2);
    assert!(err.contains("session_ttl"), "{err}");
}

#[test]
fn admin_tokens_and_doctor_work_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, out, err) = run(cortex(d, &["migrate"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("migrations applied (sqlite)"));

    let (code, out, _) = run(cortex(d, &["doctor"]));
    assert_eq!(code, 1, "no admin yet is a problem: {out}");
    assert!(out.contains("0 admin user(s)"), "{out}");

    let (code, _, err) =
        run(cortex(d, &["admin", "create", "--username", "ops"])
            .env("CORTEX_ADMIN_PASSWORD", "short"));
    assert_ne!(code, 0);
    assert!(err.contains("at least 12"), "{err}");
    let (code, out, err) = run(cortex(d, &["admin", "create", "--username", "ops"])
        .env("CORTEX_ADMIN_PASSWORD", "correct horse battery"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created ops (admin)"));

    let (code, secret, err) = run(cortex(
        d,
        &[
            "token",
            "create",
            "--name",
            "ci",
            "--role",
            "editor",
            "--ttl-days",
            "7",
        ],
    ));
    assert_eq!(code, 0, "{err}");
    assert!(secret.trim().starts_with("ctx_"), "{secret}");
    let (_, list, _) = run(cortex(d, &["token", "list"]));
    let id = list
        .lines()
        .find(|l| l.contains(" ci "))
        .and_then(|l| l.split_whitespace().next())
        .expect("token listed")
        .to_string();
    assert!(list.contains("active"));
    let (code, out, _) = run(cortex(d, &["token", "revoke", &id]));
    assert_eq!(code, 0);
    assert!(out.contains("revoked ci"));
    let (code, _, err) = run(cortex(d, &["token", "revoke", &id]));
    assert_ne!(code, 0);
    assert!(err.contains("already revoked"), "{err}");
    // The same limits as the API: a lifetime of 1 to 3650 days.
    for days in ["0", "3651"] {
        let (code, _, err) = run(cortex(
            d,
            &[
                "token",
                "create",
                "--name",
                "x",
                "--role",
                "viewer",
                "--ttl-days",
                days,
            ],
        ));
        assert_ne!(code, 0, "{days}");
        assert!(err.contains("ttl_days"), "{err}");
    }

    let (code, out, _) = run(cortex(d, &["doctor"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit chain intact (3 entries)"), "{out}");
    assert!(
        out.contains("migration check: 0 page(s), 0 rule(s), 0 broken reference(s)"),
        "{out}"
    );

    // Edit an audit row behind Cortex's back: doctor must notice and fail.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", d.join("cortex.db").display()))
                .await
                .unwrap();
        sqlx::query("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2")
            .execute(&mut c)
            .await
            .unwrap();
    });
    let (code, out, _) = run(cortex(d, &["doctor"]));
    assert_eq!(code, 1);
    assert!(out.contains("audit chain broken: entry 2"), "{out}");
}

/// A rule set as another hub exports it: one page and one rule on it.
fn landing_rule_set() -> serde_json::Value {
    serde_json::json!({"revision": 7,
        "layouts": [{"pageSlug": "landing", "version": 1, "root": {"id": "root", "type": "page",
            "children": [{"id": "hero", "type": "hero", "props": {"title": "Hi"}}]}}],
        "rules": [{"id": "hide-hero", "layoutId": "landing", "pageSlug": "landing",
            "mutationType": "hide", "mutationPayload": {"target": "hero"}, "createdBy": "x",
            "timestamp": "2026-11-01T00:00:00Z", "isActive": true, "layer": "page",
            "priority": 1, "version": 3, "conditions": {"device": "mobile"}}]})
}

#[test]
fn an_import_heals_clear_rule_references_and_doctor_lists_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, err) = run(cortex(d, &["admin", "create", "--username", "ops"])
        .env("CORTEX_ADMIN_PASSWORD", "correct horse battery"));
    assert_eq!(code, 0, "{err}");
    let write = |name: &str, v: serde_json::Value| {
        let path = d.join(name);
        std::fs::write(&path, v.to_string()).unwrap();
        path
    };
    let first = write("v1.json", landing_rule_set());
    let (code, _, err) = run(cortex(d, &["import", first.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(cortex(d, &["doctor"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("every rule names only nodes"), "{out}");
    // The hero renamed: the only hero under the root, so the rule follows it by itself.
    let page = |children: serde_json::Value| {
        serde_json::json!({"revision": 1, "rules": [], "layouts": [{"pageSlug": "landing", "version": 1,
            "root": {"id": "root", "type": "page", "children": children}}]})
    };
    let renamed = write(
        "v2.json",
        page(serde_json::json!([{"id": "hero-2", "type": "hero"}])),
    );
    let (code, out, err) = run(cortex(d, &["import", renamed.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("1 rule(s) re-linked") && out.contains("0 reference(s) wait"),
        "{out}"
    );
    let (_, exported, _) = run(cortex(d, &["export"]));
    let set: serde_json::Value = serde_json::from_str(&exported).unwrap();
    assert_eq!(set["rules"][0]["mutationPayload"]["target"], "hero-2");
    assert_eq!(set["rules"][0]["createdBy"], "hub");
    // Two heroes: which one is for an editor to say. Doctor fails and names the rule.
    let two = write(
        "v3.json",
        page(serde_json::json!([{"id": "a", "type": "hero"}, {"id": "b", "type": "hero"}])),
    );
    let (code, out, err) = run(cortex(d, &["import", two.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 reference(s) wait"), "{out}");
    let (code, out, _) = run(cortex(d, &["doctor"]));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("rule `hide-hero` target names `hero-2`, gone; proposed `a`"),
        "{out}"
    );
    assert!(out.contains("FAIL 1 rule reference(s)"), "{out}");
}

#[test]
fn rule_sets_move_between_hubs_with_export_and_import() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let set = landing_rule_set();
    let input = a.path().join("in.json");
    std::fs::write(&input, set.to_string()).unwrap();
    let (code, out, err) = run(cortex(a.path(), &["import", input.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported 1 layout(s) and 1 rule(s)"), "{out}");

    let exported = a.path().join("out.json");
    let (code, out, err) = run(cortex(
        a.path(),
        &["export", "--out", exported.to_str().unwrap()],
    ));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("exported 1 layout(s) and 1 rule(s)"), "{out}");
    let from_a: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&exported).unwrap()).unwrap();
    assert_eq!(from_a["layouts"][0]["root"], set["layouts"][0]["root"]);
    assert_eq!(
        from_a["rules"][0]["conditions"],
        set["rules"][0]["conditions"]
    );
    assert_eq!(
        from_a["rules"][0]["mutationPayload"],
        set["rules"][0]["mutationPayload"]
    );

    // Into a second hub, and out again on standard output: the same pages and rules.
    let (code, _, err) = run(cortex(b.path(), &["import", exported.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(cortex(b.path(), &["export"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("exported 1 layout(s) and 1 rule(s)"), "{err}");
    let from_b: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(from_b["layouts"][0]["root"], from_a["layouts"][0]["root"]);
    for field in [
        "id",
        "mutationType",
        "mutationPayload",
        "conditions",
        "layer",
        "priority",
    ] {
        assert_eq!(
            from_b["rules"][0][field], from_a["rules"][0][field],
            "{field}"
        );
    }
    // Each layout and rule stored is audited, and so is the push of the new rule set.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let actions: Vec<(String, String)> = rt.block_on(async {
        use sqlx::Connection;
        let db = format!("sqlite://{}", b.path().join("cortex.db").display());
        let mut c = sqlx::SqliteConnection::connect(&db).await.unwrap();
        sqlx::query_as("SELECT actor, action FROM audit_log ORDER BY seq")
            .fetch_all(&mut c)
            .await
            .unwrap()
    });
    let actions: Vec<&str> = actions.iter().map(|(_, a)| a.as_str()).collect();
    assert!(
        actions.starts_with(&["layout.save", "layout-mutation.import"]),
        "{actions:?}"
    );
    let (_, out, _) = run(cortex(b.path(), &["doctor"]));
    assert!(
        out.contains(&format!("audit chain intact ({} entries)", actions.len())),
        "{out}"
    );

    // A rule aimed at a node its page does not have: refused whole, with the field named.
    let mut broken = set.clone();
    broken["rules"][0]["mutationPayload"]["target"] = "nowhere".into();
    let bad = c.path().join("bad.json");
    std::fs::write(&bad, broken.to_string()).unwrap();
    let (code, _, err) = run(cortex(c.path(), &["import", bad.to_str().unwrap()]));
    assert_ne!(code, 0);
    assert!(err.contains("import.rules[0] (`hide-hero`)"), "{err}");
    assert!(err.contains("nowhere"), "{err}");
    let (_, out, _) = run(cortex(c.path(), &["export"]));
    let nothing: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        nothing["layouts"].as_array().map(Vec::len),
        Some(0),
        "nothing written"
    );

    std::fs::write(&bad, "not json").unwrap();
    let (code, _, err) = run(cortex(c.path(), &["import", bad.to_str().unwrap()]));
    assert_ne!(code, 0);
    assert!(err.contains("is not a rule set"), "{err}");
    let (code, _, err) = run(cortex(c.path(), &["import", "/no/such/file.json"]));
    assert_ne!(code, 0);
    assert!(err.contains("cannot read /no/such/file.json"), "{err}");
}

/// Backs up, changes the database, restores: the change is gone, the audit chain intact.
/// `database_url`: `None` for SQLite in the data dir.
fn backup_and_restore_story(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cmd = |args: &[&str]| {
        let mut c = cortex(d, args);
        if let Some(url) = database_url {
            c.env("DATABASE_URL", url);
        }
        c
    };
    let (code, _, err) = run(cmd(&["admin", "create", "--username", "ops"])
        .env("CORTEX_ADMIN_PASSWORD", "correct horse battery"));
    assert_eq!(code, 0, "{err}");
    let file = d.join("before.backup");
    let (code, out, err) = run(cmd(&["backup", "--out", file.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("backing up"), "progress first: {err}");
    assert!(out.contains("backed up to"), "{out}");
    if database_url.is_none() {
        assert!(out.contains("an audit log of 1 entries"), "{out}");
    }
    // A backup never overwrites a file.
    let (code, _, err) = run(cmd(&["backup", "--out", file.to_str().unwrap()]));
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");

    let (code, _, err) = run(cmd(&[
        "token", "create", "--name", "later", "--role", "viewer",
    ]));
    assert_eq!(code, 0, "{err}");
    let (_, list, _) = run(cmd(&["token", "list"]));
    assert!(list.contains("later"), "{list}");

    // Without --yes nothing happens.
    let (code, _, err) = run(cmd(&["restore", file.to_str().unwrap()]));
    assert_eq!(code, 1);
    assert!(err.contains("--yes"), "{err}");
    let (_, list, _) = run(cmd(&["token", "list"]));
    assert!(list.contains("later"), "{list}");

    let (code, out, err) = run(cmd(&["restore", file.to_str().unwrap(), "--yes"]));
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("audit chain intact, 1 entries"), "{out}");
    let (_, list, _) = run(cmd(&["token", "list"]));
    assert!(
        !list.contains("later"),
        "the token made after the backup is gone: {list}"
    );
    let (_, out, _) = run(cmd(&["doctor"]));
    assert!(out.contains("1 admin user(s)"), "{out}");

    // Not a backup: refused, and the database is untouched.
    let junk = d.join("junk.backup");
    std::fs::write(&junk, "not a database").unwrap();
    let (code, _, err) = run(cmd(&["restore", junk.to_str().unwrap(), "--yes"]));
    assert_ne!(code, 0);
    let (_, out, _) = run(cmd(&["doctor"]));
    assert!(out.contains("1 admin user(s)"), "{err} {out}");
}

#[test]
fn sqlite_backup_and_restore() {
    backup_and_restore_story(None);
}

#[test]
fn postgres_backup_and_restore() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(common::PgDb::create());
    backup_and_restore_story(Some(&db.url));
}

#[test]
fn sqlite_restore_refuses_while_a_hub_runs_and_keeps_the_replaced_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, err) = run(cortex(d, &["migrate"]));
    assert_eq!(code, 0, "{err}");
    let file = d.join("b.db");
    let (code, _, err) = run(cortex(d, &["backup", "--out", file.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    // A running hub holds its spool's lock.
    std::fs::create_dir_all(d.join("spool")).unwrap();
    let lock = std::fs::File::create(d.join("spool/lock")).unwrap();
    lock.try_lock().unwrap();
    let (code, _, err) = run(cortex(d, &["restore", file.to_str().unwrap(), "--yes"]));
    assert_ne!(code, 0);
    assert!(err.contains("a hub is running"), "{err}");
    drop(lock);
    let (code, out, err) = run(cortex(d, &["restore", file.to_str().unwrap(), "--yes"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("is kept as"), "{out}");
    let kept: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("cortex.db.before-restore-"))
        .collect();
    assert!(!kept.is_empty(), "the replaced database is kept beside it");
}

#[test]
fn keygen_makes_a_neuron_key_once_and_prints_its_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys/neuron.key");
    let path = file.to_str().unwrap();
    let (code, first, err) = run(cortex(dir.path(), &["keygen", "--out", path]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("wrote a new key"), "{err}");
    let public = first.trim();
    assert_eq!(public.len(), 44, "base64 of 32 bytes: {public}");
    // The SDK reads the same file as the same key.
    let key = cortex_sdk::NeuronKey::load_or_create(&file).unwrap();
    assert_eq!(key.public_key(), public);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Run again: the key is kept, never replaced.
    let (code, again, err) = run(cortex(dir.path(), &["keygen", "--out", path]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("kept the key"), "{err}");
    assert_eq!(again.trim(), public);
    std::fs::write(&file, "not a key").unwrap();
    let (code, _, err) = run(cortex(dir.path(), &["keygen", "--out", path]));
    assert_ne!(code, 0);
    assert!(err.contains("is not a neuron key"), "{err}");
}

/// A hub's whole SQLite database moves into an empty Postgres one with `copy-to`: the same
/// rules, tokens and audit chain there, and the admin signs in with the same password.
#[test]
fn a_sqlite_hub_moves_into_postgres_whole_with_copy_to() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(common::PgDb::create());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A hub's life on SQLite: an admin, a token, a page with a rule.
    let (code, _, err) = run(cortex(d, &["admin", "create", "--username", "ops"])
        .env("CORTEX_ADMIN_PASSWORD", "correct horse battery"));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(cortex(
        d,
        &["token", "create", "--name", "ci", "--role", "viewer"],
    ));
    assert_eq!(code, 0, "{err}");
    let set = landing_rule_set();
    let input = d.join("set.json");
    std::fs::write(&input, set.to_string()).unwrap();
    let (code, _, err) = run(cortex(d, &["import", input.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    let (_, on_sqlite, _) = run(cortex(d, &["export"]));
    let (_, doctor, _) = run(cortex(d, &["doctor"]));
    let chain = doctor
        .lines()
        .find(|l| l.contains("audit chain intact"))
        .unwrap_or_else(|| panic!("{doctor}"))
        .to_string();

    // Refused: a data dir without a database, a target that is not Postgres, and a copy
    // while a hub runs.
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = run(cortex(empty.path(), &["copy-to", &db.url]));
    assert_ne!(code, 0);
    assert!(err.contains("there is no SQLite database at"), "{err}");
    let (code, _, err) = run(cortex(d, &["copy-to", "mysql://root@localhost/x"]));
    assert_ne!(code, 0);
    assert!(err.contains("postgres:// URL"), "{err}");
    std::fs::create_dir_all(d.join("spool")).unwrap();
    let lock = std::fs::File::create(d.join("spool/lock")).unwrap();
    lock.try_lock().unwrap();
    let (code, _, err) = run(cortex(d, &["copy-to", &db.url]));
    assert_ne!(code, 0);
    assert!(err.contains("a hub is running"), "{err}");
    drop(lock);

    let (code, out, err) = run(cortex(d, &["copy-to", &db.url]));
    assert_eq!(code, 0, "{out} {err}");
    assert!(err.contains("users: 1 row(s)"), "progress per table: {err}");
    assert!(err.contains("layout_mutations: 1 row(s)"), "{err}");
    assert!(
        out.contains("the audit chain is intact in Postgres"),
        "{out}"
    );
    // Once it holds data, the target is not filled again.
    let (code, _, err) = run(cortex(d, &["copy-to", &db.url]));
    assert_ne!(code, 0);
    assert!(err.contains("already holds data"), "{err}");

    // The hub on Postgres has what it had on SQLite.
    let pg = |args: &[&str]| {
        let mut c = cortex(d, args);
        c.env("DATABASE_URL", &db.url);
        c
    };
    let (_, on_postgres, _) = run(pg(&["export"]));
    let (a, b): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&on_sqlite).unwrap(),
        serde_json::from_str(&on_postgres).unwrap(),
    );
    assert_eq!(a["layouts"], b["layouts"]);
    assert_eq!(a["rules"], b["rules"]);
    let (_, tokens, _) = run(pg(&["token", "list"]));
    assert!(tokens.contains("ci"), "{tokens}");
    let (code, doctor, _) = run(pg(&["doctor"]));
    assert_eq!(code, 0, "{doctor}");
    assert!(doctor.contains("1 admin user(s)"), "{doctor}");
    assert!(
        doctor.contains(&chain),
        "the same chain: {chain} in {doctor}"
    );
    // The admin's password hash came along.
    rt.block_on(async {
        let hub_dir = tempfile::tempdir().unwrap();
        let hub = common::start_with(
            cortex_server::config::Config {
                database_url: Some(secrecy::SecretString::from(db.url.clone())),
                ..common::test_config(hub_dir.path())
            },
            hub_dir,
        )
        .await;
        let res = common::browser(&hub)
            .post(hub.url("/api/auth/login"))
            .json(&serde_json::json!({"username": "ops", "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        drop(hub);
        db.drop_db().await;
    });
}

/// Security review item 13: the chain is keyed with a key outside the database and its head
/// is kept outside it too, so `cortex doctor` finds a deleted entry, a cut-off tail and a
/// chain rebuilt without the key, not only an edit.
#[test]
fn doctor_finds_a_deleted_entry_a_cut_tail_and_a_rebuilt_chain() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let hub_dir = tempfile::tempdir().unwrap();
    let d = hub_dir.path().to_path_buf();
    // A hub runs, makes a few audited changes and keeps the chain's head.
    let hub = rt.block_on(async {
        let hub = common::start_with(common::test_config(&d), tempfile::tempdir().unwrap()).await;
        let admin = hub.setup_admin().await;
        for name in ["t1", "t2", "t3"] {
            hub.token(&admin, name, cortex_core::Role::Viewer).await;
        }
        let want = hub
            .app
            .services
            .store
            .audit_chain(0, 1000)
            .await
            .unwrap()
            .len() as i64;
        for _ in 0..100 {
            let head = cortex_server::audit::read_head(&d).unwrap();
            if head.is_some_and(|h| h.seq == want) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        hub
    });
    let head = cortex_server::audit::read_head(&d)
        .unwrap()
        .expect("a head");
    assert!(head.hash.starts_with(cortex_core::audit::KEYED_PREFIX));
    let key = std::fs::read(d.join("audit.key")).unwrap();
    // Each attack on its own copy of the data dir (the database copied consistently).
    let copy = |name: &str| -> tempfile::TempDir {
        let to = tempfile::tempdir().unwrap();
        rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&format!(
                "sqlite://{}",
                d.join("cortex.db").display()
            ))
            .await
            .unwrap();
            sqlx::query(&format!(
                "VACUUM INTO '{}'",
                to.path().join("cortex.db").display()
            ))
            .execute(&mut c)
            .await
            .unwrap();
        });
        for f in ["audit.key", "audit-head.json", "jwt.key"] {
            std::fs::copy(d.join(f), to.path().join(f)).unwrap();
        }
        let _ = name;
        to
    };
    let tamper = |dir: &std::path::Path, sql: &str| {
        rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&format!(
                "sqlite://{}",
                dir.join("cortex.db").display()
            ))
            .await
            .unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        })
    };
    let intact = copy("intact");
    let (code, out, _) = run(cortex(intact.path(), &["doctor"]));
    assert_eq!(code, 0, "{out}");

    let deleted = copy("deleted");
    tamper(deleted.path(), "DELETE FROM audit_log WHERE seq = 2");
    let (code, out, _) = run(cortex(deleted.path(), &["doctor"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("was deleted"), "{out}");

    let cut = copy("cut");
    tamper(
        cut.path(),
        &format!("DELETE FROM audit_log WHERE seq >= {}", head.seq - 1),
    );
    let (code, out, _) = run(cortex(cut.path(), &["doctor"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cut off the end"), "{out}");

    // Rebuilt: entry 2 edited, then every hash from it on recomputed without the key.
    let rebuilt = copy("rebuilt");
    rt.block_on(async {
        use sqlx::{Connection, Row};
        let url = format!("sqlite://{}", rebuilt.path().join("cortex.db").display());
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let rows = sqlx::query("SELECT seq, at, actor, action, target, before_json, after_json FROM audit_log ORDER BY seq")
            .fetch_all(&mut c)
            .await
            .unwrap();
        let mut prev = cortex_core::audit::GENESIS_HASH.to_string();
        for r in rows {
            let seq: i64 = r.get("seq");
            let mut record = cortex_core::audit::AuditRecord {
                actor: r.get("actor"),
                action: r.get("action"),
                target: r.get("target"),
                before: serde_json::from_str(&r.get::<String, _>("before_json")).unwrap(),
                after: serde_json::from_str(&r.get::<String, _>("after_json")).unwrap(),
            };
            if seq == 2 {
                record.actor = "user:mallory".into();
            }
            let at = chrono::DateTime::from_timestamp_millis(r.get("at")).unwrap();
            let hash = cortex_core::audit::entry_hash(seq, at, &record, &prev);
            sqlx::query("UPDATE audit_log SET actor = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
                .bind(&record.actor)
                .bind(&prev)
                .bind(&hash)
                .bind(seq)
                .execute(&mut c)
                .await
                .unwrap();
            prev = hash;
        }
    });
    let (code, out, _) = run(cortex(rebuilt.path(), &["doctor"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("rebuilt"), "{out}");
    // With the key gone, keyed entries cannot be checked at all: doctor says so.
    let keyless = copy("keyless");
    std::fs::write(
        keyless.path().join("audit.key"),
        b"a-different-key-of-enough-length-0123",
    )
    .unwrap();
    let (code, out, _) = run(cortex(keyless.path(), &["doctor"]));
    assert_eq!(code, 1, "{out}");
    assert!(!key.is_empty());
    drop(hub);
}

/// Runs `cortex serve` on a free port with `env`, its output piped; waits until `up(port)`
/// holds (10 s at most) and `linger` more, kills it and returns what it logged.
fn serve_logs(d: &Path, env: &[(&str, &str)], up: impl Fn(u16) -> bool, linger: u64) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = cortex(d, &["serve"]);
    command
        .envs(env.iter().copied())
        .env("CORTEX_ADDR", format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut hub = command.spawn().unwrap();
    for _ in 0..100 {
        if up(port) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(linger));
    hub.kill().unwrap();
    let out = hub.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Security review item 14: with JSON logs (which go to log collectors), the one-time setup
/// link is written to an owner-only file in the data dir, never to the log.
#[test]
fn the_setup_link_stays_out_of_json_logs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let link = d.join("setup-link.txt");
    let logs = serve_logs(
        d,
        &[("CORTEX_LOG_FORMAT", "json"), ("CORTEX_LOG", "info")],
        |_| link.exists(),
        300,
    );
    let text = std::fs::read_to_string(&link).expect("the link is in the data dir");
    assert!(text.contains("/setup?token=setup_"), "{text}");
    assert!(!logs.contains("setup?token="), "{logs}");
    assert!(
        logs.contains("setup-link.txt"),
        "the log says where it is: {logs}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&link).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

/// Logs written to a file or a pipe carry no terminal colour codes.
#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    // Up and logging.
    let logs = serve_logs(
        dir.path(),
        &[("CORTEX_LOG", "info")],
        |port| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        500,
    );
    assert!(logs.contains("INFO"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "colour codes in piped logs: {logs:?}"
    );
}

/// One compact line per request; on the hot routes (here `apply`) one in 100 is logged, and
/// says so, so a load does not turn into gigabytes of log.
#[test]
fn the_request_log_has_a_line_per_request_and_samples_the_hot_routes() {
    let dir = tempfile::tempdir().unwrap();
    let logs = serve_logs(
        dir.path(),
        &[("CORTEX_LOG", "info")],
        |port| {
            let http = reqwest::blocking::Client::new();
            let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
            // Ready, not just alive: what the hub answers while it opens its database is not
            // what this test counts.
            if !http
                .get(url("/readyz"))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return false;
            }
            http.get(url("/api/status")).send().unwrap();
            http.get(url("/api/status"))
                .header("x-request-id", "x status=200 forged=yes")
                .send()
                .unwrap();
            for _ in 0..250 {
                http.post(url("/api/layout-mutation/apply"))
                    .body("{}")
                    .send()
                    .unwrap();
            }
            true
        },
        300,
    );
    let lines = |needle: &str| logs.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(lines("path=/api/status status=401"), 2, "{logs}");
    assert!(
        !logs.contains("forged=yes"),
        "a client's request id is not logged as sent: {logs}"
    );
    let apply = lines("path=/api/layout-mutation/apply");
    assert!(
        (2..=3).contains(&apply),
        "{apply} lines for 250 requests: {logs}"
    );
    assert_eq!(lines("sampled=100"), apply, "{logs}");
}
