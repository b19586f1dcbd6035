//! What the load benches share: knobs from the environment, a free port, and the release
//! `cortex` binary run on a data dir of its own.

#![allow(dead_code)]

use std::process::Command;

/// A numeric knob from the environment.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The `cortex` binary on `dir` (SQLite there unless the caller sets `DATABASE_URL`),
/// logging errors only.
pub fn cortex(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cortex"));
    c.current_dir(dir)
        .env("CORTEX_DATA_DIR", dir)
        .env("CORTEX_LOG", "error")
        .env_remove("DATABASE_URL");
    c
}

/// An admin API token, made with `cortex token create` through `command`.
pub fn admin_token(mut command: Command) -> String {
    let out = command
        .args(["token", "create", "--name", "bench", "--role", "admin"])
        .output()
        .expect("cortex token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
