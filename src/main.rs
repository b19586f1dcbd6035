//! `cortex`: see `cortex --help`.

use clap::Parser;
use cortex::cli::{run_command, Cli, Command};
use cortex::Application;
use cortex_server::config::Config;

/// mimalloc: per-thread heaps, where glibc's malloc made tokio's worker threads queue on
/// its arena locks (a fifth of the hub's CPU under load went to allocation).
#[cfg(not(feature = "heap-profile"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `--features heap-profile`: dhat counts every allocation (slowly), the hub logs the bytes
/// live every 5 s (target `cortex::heap`), and `dhat-heap.json` (or `CORTEX_HEAP_PROFILE`)
/// is written when it stops.
/// For finding where memory goes, never for production.
#[cfg(feature = "heap-profile")]
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(give_back_freed_memory)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("cortex: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    }
}

/// How often a worker thread that goes idle hands its freed memory back, at most.
#[cfg(not(feature = "heap-profile"))]
const GIVE_BACK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How often the C heap (SQLite's) is trimmed, at most, by whichever worker goes idle.
#[cfg(not(feature = "heap-profile"))]
const TRIM_EVERY_SECS: u64 = 10;

/// Run by each tokio worker as it goes idle. At most every [`GIVE_BACK_EVERY`], mimalloc
/// collects the thread's heap (with the blocks other threads freed into it) and returns
/// empty pages to the OS at once; at most every [`TRIM_EVERY_SECS`], glibc's heap, where
/// SQLite allocates, gives its free pages back (`malloc_trim`). Without them, memory freed
/// when 10,000 neurons disconnected stayed with idle threads and arenas (resident memory
/// stayed at 2.4 times the baseline; see README_federation.md). Under load a worker rarely
/// parks, so this costs nothing then; idle, a page walk a second.
fn give_back_freed_memory() {
    #[cfg(not(feature = "heap-profile"))]
    {
        use std::cell::Cell;
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::time::Instant;
        thread_local!(static LAST: Cell<Option<Instant>> = const { Cell::new(None) });
        static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        static TRIMMED: AtomicU64 = AtomicU64::new(0);
        let now = Instant::now();
        let due = LAST.with(|last| match last.get() {
            Some(at) if now.duration_since(at) < GIVE_BACK_EVERY => false,
            _ => {
                last.set(Some(now));
                true
            }
        });
        if !due {
            return;
        }
        // SAFETY: `mi_collect` only walks and frees the calling thread's own heap.
        unsafe { libmimalloc_sys::mi_collect(true) };
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            let secs = now.duration_since(*STARTED.get_or_init(|| now)).as_secs();
            let last = TRIMMED.load(Ordering::Relaxed);
            if secs >= last + TRIM_EVERY_SECS
                && TRIMMED
                    .compare_exchange(last, secs, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                // SAFETY: glibc's own call; it takes each arena's lock while it trims.
                unsafe { libc::malloc_trim(0) };
            }
        }
    }
}

async fn run() {
    #[cfg(feature = "heap-profile")]
    let profiler = heap_profile();
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
    #[cfg(feature = "heap-profile")]
    drop(profiler);
    match code {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("cortex: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Starts dhat and a task that logs the live heap every 5 s.
#[cfg(feature = "heap-profile")]
fn heap_profile() -> dhat::Profiler {
    let path = std::env::var("CORTEX_HEAP_PROFILE").unwrap_or("dhat-heap.json".into());
    let profiler = dhat::Profiler::builder().file_name(path).build();
    tokio::spawn(async {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            let s = dhat::HeapStats::get();
            tracing::warn!(
                target: "cortex::heap",
                live_bytes = s.curr_bytes,
                live_blocks = s.curr_blocks,
                peak_bytes = s.max_bytes,
                "heap"
            );
        }
    });
    profiler
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
