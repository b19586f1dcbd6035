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

async fn serve(config: Config) -> anyhow::Result<i32> {
    let backend = config.backend()?;
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
            println!("No admin exists yet. Create the first admin here (one-time link):");
            println!("  {base}/setup?token={token}");
        } else {
            println!("Sign in at {base}/login");
        }
    });
    app.run_until_stopped().await?;
    Ok(0)
}
