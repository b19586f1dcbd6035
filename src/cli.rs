//! The command line: `serve`, `migrate`, `doctor`, `backup`, `restore`, `export`, `import`,
//! `keygen`, `admin create`, `token create|list|revoke`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

use cortex_core::user::TokenId;
use cortex_core::Role;
use cortex_server::config::Config;
use cortex_server::Services;

/// Cortex: a neuron federation hub and realtime layout mutation engine.
///
/// Configuration comes from defaults, then an optional TOML file (--config or CORTEX_CONFIG),
/// then `.env` and CORTEX_* environment variables. With no DATABASE_URL, data lives in SQLite
/// under CORTEX_DATA_DIR (default ./data).
#[derive(Debug, Parser)]
#[command(name = "cortex", version, propagate_version = true)]
pub struct Cli {
    /// A TOML config file (keys as in the README's configuration table, lowercase).
    #[arg(long, global = true, env = "CORTEX_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub: web console, API and background jobs. Prints the URL and, on first start, a one-time setup link.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Check configuration, data dir, database and audit-chain integrity; exit 1 on any problem.
    Doctor,
    /// Write the layout rule set (each page's newest layout and every rule not deleted) as
    /// JSON, to keep it or to move it to another hub or database; `import` reads it back.
    Export {
        /// The file to write (replaced atomically, readable by its owner only); standard
        /// output when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Import a rule set written by `export` (or a `kind: full` answer of another hub's
    /// sync). Every layout and rule is checked before anything is written; each is then
    /// stored as a new version here, audited. A running hub picks the change up by itself.
    Import {
        /// The JSON file to read.
        file: PathBuf,
    },
    /// Write a consistent copy of the database to a new file. SQLite: a copy SQLite makes
    /// itself, safe while the hub runs. Postgres: `pg_dump` (custom format), which must be
    /// installed.
    Backup {
        /// The file to write; it must not exist yet.
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace the database with a backup made by `backup`, then bring its schema up to date.
    /// Stop every hub on the database first. SQLite keeps the replaced file beside it.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Confirm: the database's current contents are replaced.
        #[arg(long)]
        yes: bool,
    },
    /// Copy every table of this hub's SQLite database (admins, sessions, tokens, neurons,
    /// pushes, analytics, layout rules with their history, the audit log) into an empty
    /// PostgreSQL database, in one transaction. Stop the hub first; then start it with
    /// DATABASE_URL set to the target.
    CopyTo {
        /// The target, `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`; its schema is made if
        /// missing, and it must hold no data yet.
        target: String,
    },
    /// Make a neuron's key pair (or read an existing one) and print its public key, for a
    /// join policy's allowlist. The private key stays in the file (owner-only); an existing
    /// file is never replaced.
    Keygen {
        /// Where the neuron keeps its key (the SDK's `NeuronKey::load_or_create` reads it).
        #[arg(long)]
        out: PathBuf,
    },
    /// Manage admin users.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run a small demo fleet of neurons against a hub (keys kept in the data dir).
    DemoNeurons {
        /// The hub's URL.
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        hub: String,
        /// How many neurons (1-200).
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u16).range(1..=200))]
        count: u16,
        /// Register once, print the statuses and exit (instead of heartbeating until stopped).
        #[arg(long)]
        once: bool,
    },
    /// Load-test a hub: N neurons join (signed), then heartbeat for a while; prints join
    /// rate, heartbeat throughput and latency percentiles against a /healthz baseline. The
    /// hub's join policy must let them in (open, or allowlist the tag `swarm`).
    Swarm {
        /// The hub's URL.
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        hub: String,
        /// How many neurons join (1-100000).
        #[arg(long, default_value_t = 1000)]
        neurons: usize,
        /// Requests in flight at once (1-1024).
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Length of the heartbeat phase, the baseline and the events phase, in seconds.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Neurons that then open the push channel (0: skip).
        #[arg(long, default_value_t = 0)]
        channels: usize,
        /// Config pushes to time over the channels (needs --push-token).
        #[arg(long, default_value_t = 5)]
        pushes: usize,
        /// An API token with the editor role, for the pushes (or CORTEX_SWARM_PUSH_TOKEN).
        #[arg(long, env = "CORTEX_SWARM_PUSH_TOKEN", hide_env_values = true)]
        push_token: Option<String>,
        /// The hub's process id, to report its memory per idle channel (same machine).
        #[arg(long)]
        hub_pid: Option<u32>,
        /// Events per batch in the analytics phase (0: skip).
        #[arg(long, default_value_t = 0)]
        event_batch: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a user. The password is read from the first line of standard input, or from CORTEX_ADMIN_PASSWORD.
    Create(AdminCreate),
}

#[derive(Debug, Args)]
pub struct AdminCreate {
    /// Login name: 3-64 of a-z 0-9 . _ -
    #[arg(long)]
    pub username: String,
    /// viewer, operator, editor or admin.
    #[arg(long, default_value = "admin")]
    pub role: Role,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown once).
    Create {
        /// A name that says who uses it, e.g. `ci-deploy`.
        #[arg(long)]
        name: String,
        /// viewer, operator, editor or admin.
        #[arg(long)]
        role: Role,
        /// Expire after this many days (default: never).
        #[arg(long)]
        ttl_days: Option<u32>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id (see `token list`).
    Revoke {
        /// The token's id.
        id: uuid::Uuid,
    },
}

/// `cortex backup --out FILE`.
async fn backup(config: Config, out: &std::path::Path) -> anyhow::Result<i32> {
    let backend = config.backend()?;
    eprintln!(
        "backing up the {} database to {} …",
        backend.as_str(),
        out.display()
    );
    let done = cortex_server::backup::backup(&config, out).await?;
    let audit = done
        .audit_entries
        .map(|n| format!(", an audit log of {n} entries"))
        .unwrap_or_default();
    println!(
        "backed up to {} ({} bytes{audit})",
        done.file.display(),
        done.bytes
    );
    Ok(0)
}

/// `cortex restore FILE --yes`: the backup in place, then migrated and its audit chain checked.
async fn restore(config: Config, file: &std::path::Path, yes: bool) -> anyhow::Result<i32> {
    let backend = config.backend()?;
    if !yes {
        eprintln!(
            "restore replaces the {} database with {}; stop every hub on it, then run again with --yes",
            backend.as_str(),
            file.display()
        );
        return Ok(1);
    }
    eprintln!("restoring {} …", file.display());
    let done = cortex_server::backup::restore(&config, file).await?;
    // The restored chain ends where the backup ended: the head kept for the old one goes.
    let _ = std::fs::remove_file(config.data_dir.join(cortex_server::audit::HEAD_FILE));
    let s = services(config).await?;
    let chain = cortex_server::status::verify_audit_chain(&s, false)
        .await
        .map_err(cortex_server::ApiError::from)?;
    let kept = done
        .kept
        .map(|k| format!("; the database it replaced is kept as {}", k.display()))
        .unwrap_or_default();
    // The restore is done whatever the check finds (or fails to read).
    if let Err(e) = migration_check(&s).await {
        eprintln!("migration check failed: {e}");
    }
    match chain {
        Ok(n) => {
            println!(
                "restored {} (audit chain intact, {n} entries){kept}",
                file.display()
            );
            Ok(0)
        }
        Err(broken) => {
            println!(
                "restored {}, but its audit chain is broken: {broken}{kept}",
                file.display()
            );
            Ok(1)
        }
    }
}

/// `cortex copy-to`: the whole SQLite database into an empty Postgres one, then the copy's
/// audit chain checked.
async fn copy_to(config: Config, target: &str) -> anyhow::Result<i32> {
    eprintln!("copying {} into Postgres …", config.database_url());
    // A line per table, and for a long one a line per tenth of it.
    let (mut table_now, mut step, mut next) = (String::new(), 0, 0);
    let copied = cortex_server::copy::copy_to_postgres(&config, target, |table, done, total| {
        if table != table_now {
            table_now = table.to_string();
            step = (total / 10).max(10_000);
            next = step;
        }
        if done == total {
            eprintln!("  {table}: {done} row(s)");
        } else if done >= next {
            eprintln!("  {table}: {done} of {total} …");
            next = done + step;
        }
    })
    .await?;
    let s = services(Config {
        database_url: Some(secrecy::SecretString::from(target.to_string())),
        ..config
    })
    .await?;
    let chain = cortex_server::status::verify_audit_chain(&s, false)
        .await
        .map_err(cortex_server::ApiError::from)?;
    if let Err(e) = migration_check(&s).await {
        eprintln!("migration check failed: {e}");
    }
    let tables = copied.tables.len();
    let rows = copied.rows();
    match chain {
        Ok(n) => {
            println!("copied {rows} row(s) in {tables} tables; the audit chain is intact in Postgres ({n} entries). Start the hub with DATABASE_URL set to the target.");
            Ok(0)
        }
        Err(broken) => {
            println!("copied {rows} row(s) in {tables} tables, but the audit chain in Postgres is broken: {broken}");
            Ok(1)
        }
    }
}

/// Prints every rule reference to a node its page's newest layout lacks (the migration
/// check; the hub re-links the unambiguous ones by itself when it starts). Returns how many.
async fn migration_check(s: &Services) -> anyhow::Result<usize> {
    s.mutations.reload().await?;
    let pages = s.mutations.check_all().await?;
    let broken: usize = pages.iter().map(|p| p.broken.len()).sum();
    println!(
        "migration check: {} page(s), {} rule(s), {broken} broken reference(s)",
        pages.len(),
        pages.iter().map(|p| p.rules).sum::<usize>()
    );
    for page in &pages {
        for b in &page.broken {
            println!(
                "  {} v{}: rule `{}` {} names `{}`, gone; {}{}",
                page.page_slug,
                page.layout_version,
                b.rule_id,
                b.field,
                b.missing,
                match &b.proposal {
                    Some(p) => format!("proposed `{p}` ({})", b.reason),
                    None => format!("no proposal ({})", b.reason),
                },
                if b.unambiguous {
                    ", re-linked by the hub when it starts"
                } else {
                    ""
                }
            );
        }
    }
    Ok(broken)
}

/// `cortex export`: the rule set as JSON, to a file or standard output.
async fn export(config: Config, out: Option<PathBuf>) -> anyhow::Result<i32> {
    let s = services(config).await?;
    let set = s
        .store
        .rule_set()
        .await
        .map_err(cortex_server::ApiError::from)?;
    let mut json = serde_json::to_vec_pretty(&set)?;
    json.push(b'\n');
    let summary = format!(
        "{} layout(s) and {} rule(s) at revision {}",
        set.layouts.len(),
        set.rules.len(),
        set.revision
    );
    match out {
        Some(path) => {
            cortex_server::fsutil::write_private(&path, &json)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            println!("exported {summary} to {}", path.display());
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&json)?;
            eprintln!("exported {summary}");
        }
    }
    Ok(0)
}

/// `cortex import FILE`: a rule set from `export`, validated whole, then stored and audited.
async fn import(config: Config, file: &std::path::Path) -> anyhow::Result<i32> {
    let bytes =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    // A rule set as `export` writes it, or a layout backup downloaded from the console
    // (the rule set is its `set`).
    let set: cortex_core::rules::RuleSet = serde_json::from_slice(&bytes)
        .or_else(|e| {
            serde_json::from_slice::<cortex_core::layout::migrate::LayoutBackup>(&bytes)
                .ok()
                .and_then(|b| b.set)
                .ok_or(e)
        })
        .map_err(|e| {
            anyhow::anyhow!(
                "{} is not a rule set ({{\"layouts\": […], \"rules\": […]}}, as `cortex export` writes, or a layout backup): {e}",
                file.display()
            )
        })?;
    let s = services(config).await?;
    // Rules are checked against this hub's layouts as well as the imported ones.
    s.mutations.reload().await?;
    // A line per twentieth stored (every item for a small set): a large import shows it moves.
    let progress = |stored: usize, total: usize| {
        if stored * 20 / total != (stored - 1) * 20 / total || total < 20 {
            eprintln!("… {stored}/{total} stored");
        }
    };
    match s
        .mutations
        .import(set, &cortex_core::user::Principal::local("cli"), progress)
        .await?
    {
        cortex_core::rules::SyncAnswer::Imported {
            revision,
            layouts,
            rules,
            relinked,
            waiting,
        } => {
            println!(
                "imported {layouts} layout(s) and {rules} rule(s) from {}; rule-set revision {revision}",
                file.display()
            );
            if relinked > 0 || waiting > 0 {
                println!(
                    "migration check: {relinked} rule(s) re-linked to the new layouts by themselves; {waiting} reference(s) wait for an editor (the console's migration check, or `cortex doctor`)"
                );
            }
        }
        other => anyhow::bail!("unexpected answer to an import: {other:?}"),
    }
    Ok(0)
}

/// Opens the store for a one-shot command: migrate first, so commands work on a new data dir.
async fn services(config: Config) -> anyhow::Result<Services> {
    let services = Services::build_offline(config)?;
    services
        .store
        .ping()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the database: {e}"))?;
    services.store.migrate().await?;
    Ok(services)
}

/// Runs a one-shot command (everything but `serve`).
pub async fn run_command(command: Command, config: Config) -> anyhow::Result<i32> {
    match command {
        Command::Serve => unreachable!("serve is handled by main"),
        Command::Migrate => {
            let backend = config.backend()?;
            services(config).await?;
            println!("migrations applied ({})", backend.as_str());
            Ok(0)
        }
        Command::Doctor => doctor(config).await,
        Command::Export { out } => export(config, out).await,
        Command::Backup { out } => backup(config, &out).await,
        Command::Keygen { out } => {
            let existed = out.exists();
            let key = cortex_sdk::NeuronKey::load_or_create(&out)
                .map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
            let what = if existed {
                "kept the key in"
            } else {
                "wrote a new key to"
            };
            eprintln!("{what} {}; its public key:", out.display());
            println!("{}", key.public_key());
            Ok(0)
        }
        Command::Restore { file, yes } => restore(config, &file, yes).await,
        Command::CopyTo { target } => copy_to(config, &target).await,
        Command::Import { file } => import(config, &file).await,
        Command::Swarm {
            hub,
            neurons,
            concurrency,
            seconds,
            channels,
            pushes,
            push_token,
            hub_pid,
            event_batch,
        } => {
            let report = cortex_sdk::swarm::run(
                cortex_sdk::swarm::SwarmConfig {
                    channels,
                    pushes,
                    push_token,
                    hub_pid,
                    event_batch,
                    ..cortex_sdk::swarm::SwarmConfig::basic(
                        &hub,
                        neurons,
                        concurrency,
                        std::time::Duration::from_secs(seconds.clamp(1, 3600)),
                    )
                },
                |line| eprintln!("… {line}"),
            )
            .await?;
            println!("{report}");
            Ok(if report.joined > 0 { 0 } else { 1 })
        }
        Command::DemoNeurons { hub, count, once } => {
            crate::demo::neurons::run(&hub, usize::from(count), once, &config.data_dir).await
        }
        Command::Admin(AdminCommand::Create(a)) => {
            let password = match std::env::var("CORTEX_ADMIN_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprintln!("password (12+ characters), then Enter:");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let s = services(config).await?;
            let user = s
                .auth
                .create_user("cli", &a.username, &password, a.role)
                .await
                .map_err(cortex_server::ApiError::from)?;
            println!("created {} ({})", user.username, user.role);
            Ok(0)
        }
        Command::Token(TokenCommand::Create {
            name,
            role,
            ttl_days,
        }) => {
            let s = services(config).await?;
            let created =
                cortex_server::auth::tokens::create(&s.store, "cli", &name, role, ttl_days)
                    .await
                    .map_err(cortex_server::ApiError::from)?;
            eprintln!(
                "token `{}` ({}) created; this secret is shown once:",
                created.token.name, created.token.role
            );
            println!("{}", created.secret);
            Ok(0)
        }
        Command::Token(TokenCommand::List) => {
            let s = services(config).await?;
            println!(
                "{:<36}  {:<24}  {:<8}  {:<10}  expires",
                "id", "name", "role", "state"
            );
            for t in s.store.list_tokens().await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                let expires = t
                    .expires_at
                    .map(|e| e.to_rfc3339())
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{:<36}  {:<24}  {:<8}  {:<10}  {expires}",
                    t.id, t.name, t.role, state
                );
            }
            Ok(0)
        }
        Command::Token(TokenCommand::Revoke { id }) => {
            let s = services(config).await?;
            let t = s
                .auth
                .revoke_token(TokenId(id), "cli")
                .await
                .map_err(cortex_server::ApiError::from)?;
            println!("revoked {} ({})", t.name, t.id);
            Ok(0)
        }
    }
}

async fn doctor(config: Config) -> anyhow::Result<i32> {
    let mut problems = 0;
    let mut check = |ok: bool, what: String| {
        println!("{} {what}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            problems += 1;
        }
    };
    check(
        true,
        format!(
            "configuration loads (backend {})",
            config.backend()?.as_str()
        ),
    );
    let writable = cortex_server::fsutil::ensure_writable_dir(&config.data_dir);
    check(
        writable.is_ok(),
        format!(
            "data dir {} is writable {}",
            config.data_dir.display(),
            err_suffix(&writable)
        ),
    );
    let services = match Services::build_offline(config) {
        Ok(s) => s,
        Err(e) => {
            check(false, format!("services start: {e}"));
            return Ok(1);
        }
    };
    let ping = services.store.ping().await;
    check(
        ping.is_ok(),
        format!("database answers {}", err_suffix(&ping)),
    );
    if ping.is_ok() {
        let migrated = services.store.migrate().await;
        check(
            migrated.is_ok(),
            format!("schema is current {}", err_suffix(&migrated)),
        );
        let users = services.store.count_users().await.unwrap_or(0);
        let copy = cortex_server::recovery::read_copy(&services.config.data_dir);
        let database = services.store.database_id().await.ok().flatten();
        let restorable =
            matches!(&copy, Ok(Some(c)) if database.as_deref() != Some(c.database_id.as_str()));
        check(
            users > 0 || restorable,
            format!(
                "{users} admin user(s){}",
                if users > 0 {
                    ""
                } else if restorable {
                    ": this database was replaced; `cortex serve` restores the last-known-good copy into it (do not create users first)"
                } else {
                    ": start `cortex serve` and open the setup link, or run `cortex admin create`"
                }
            ),
        );
        match &copy {
            Ok(Some(c)) => {
                let taken = chrono::DateTime::from_timestamp_millis(c.taken_at)
                    .map_or_else(String::new, |t| t.to_rfc3339());
                let whose = if !restorable {
                    "of this database"
                } else if users > 0 {
                    "of another database: this one holds its own state and is served as it is"
                } else {
                    "of the database this one replaced"
                };
                check(
                    true,
                    format!("last-known-good copy of the control state: {} rows, taken {taken}, {whose}", c.rows()),
                );
            }
            Ok(None) => check(
                true,
                "no last-known-good copy of the control state yet (a running hub writes one)"
                    .into(),
            ),
            Err(e) => check(
                false,
                format!("the last-known-good copy is unreadable: {e}"),
            ),
        }
        match cortex_server::status::verify_audit_chain(&services, true).await {
            Ok(Ok(n)) => check(true, format!("audit chain intact ({n} entries)")),
            Ok(Err(b)) => check(false, format!("audit chain broken: {b}")),
            Err(e) => check(false, format!("audit chain unreadable: {e}")),
        }
        match migration_check(&services).await {
            Ok(0) => check(true, "every rule names only nodes its page's layout has".into()),
            Ok(n) => check(
                false,
                format!("{n} rule reference(s) name nodes their page's layout lacks (listed above): re-link them on the console's migration check"),
            ),
            Err(e) => check(false, format!("migration check failed: {e}")),
        }
        let first = services.store.audit_chain(0, 1).await.unwrap_or_default();
        if let Some(e) = first
            .first()
            .filter(|e| cortex_core::audit::is_keyed_recovery(e))
        {
            check(
                true,
                format!(
                    "the audit chain continues from a recovery at entry {} ({}): the entries before it went with the replaced database and are only in its backups",
                    e.seq,
                    e.at.to_rfc3339()
                ),
            );
        }
    }
    Ok(if problems == 0 { 0 } else { 1 })
}

fn err_suffix<T, E: std::fmt::Display>(r: &Result<T, E>) -> String {
    match r {
        Ok(_) => String::new(),
        Err(e) => format!("({e})"),
    }
}
