//! `cortex`: see `cortex --help`.

use clap::Parser;
use cortex::cli::{run_command, Cli, Command};
use cortex::Application;
use cortex_server::config::Config;

/// mimalloc: per-thread heaps, where glibc's malloc made tokio's worker threads queue on
/// its arena locks (a fifth of the hub's CPU under load went to allocation).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    // Bad config refuses to start with one clear line, not a backtrace.
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cortex: {e}");
            std::process::exit(2);
        }
    };
    cortex_server::telemetry::init_tracing(&config);
    let code = match cli.command {
        Command::Serve => serve(config).await,
        other => run_command(other, config).await,
    };
    match code {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("cortex: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Where the setup link goes when logs are JSON (in the data dir, owner-only).
const SETUP_LINK_FILE: &str = "setup-link.txt";

async fn serve(config: Config) -> anyhow::Result<i32> {
    let backend = config.backend()?;
    let json_logs = config.log_format == cortex_server::config::LogFormat::Json;
    let data_dir = config.data_dir.clone();
    let app = Application::build(config).await?;
    let base = app.services().config.base_url(app.local_addr());
    println!(
        "Cortex {} listening on {base} ({} database)",
        env!("CARGO_PKG_VERSION"),
        backend.as_str()
    );
    let ready = app.ready_receiver();
    tokio::spawn(async move {
        let mut rx = ready;
        while rx.borrow().is_none() {
            if rx.changed().await.is_err() {
                return;
            }
        }
        let token = rx.borrow().as_ref().and_then(|r| r.setup_token.clone());
        if let Some(token) = token {
            let link = format!("{base}/setup?token={token}");
            if json_logs {
                // JSON logs go to log collectors, where a secret link must not: it is written
                // to a file only this user can read.
                let path = data_dir.join(SETUP_LINK_FILE);
                match cortex_server::fsutil::write_private(&path, format!("{link}\n").as_bytes()) {
                    Ok(()) => {
                        tracing::warn!(path = %path.display(), "no admin exists yet: the one-time setup link is in this file")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "no admin exists yet, and the setup link could not be written; run `cortex admin create`")
                    }
                }
            } else {
                println!("No admin exists yet. Create the first admin here (one-time link):");
                println!("  {link}");
            }
        } else {
            println!("Sign in at {base}/login");
        }
    });
    app.run_until_stopped().await?;
    Ok(0)
}
