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
    for cmd in ["serve", "migrate", "doctor", "admin", "token"] {
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

    let (code, out, _) = run(cortex(d, &["doctor"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit chain intact (3 entries)"), "{out}");

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
