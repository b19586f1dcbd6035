//! `cortex backup` and `cortex restore`: a consistent copy of the database, and putting one
//! back. SQLite is copied by SQLite itself (`VACUUM INTO`, safe while the hub runs); Postgres
//! by PostgreSQL's own `pg_dump` and `pg_restore`, the tools its operators already trust.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::config::{Backend, Config};

/// Why a backup or restore did not happen; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Refused(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{tool} failed ({status}): {stderr}")]
    Tool {
        tool: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a finished backup holds.
#[derive(Debug)]
pub struct Backup {
    pub file: PathBuf,
    pub bytes: u64,
    /// Entries of the audit log in the copy (SQLite; a Postgres dump is checked readable).
    pub audit_entries: Option<i64>,
}

/// Writes a consistent copy of the database to `out`, which must not exist yet.
pub async fn backup(config: &Config, out: &Path) -> Result<Backup, BackupError> {
    if out.exists() {
        return Err(BackupError::Refused(format!(
            "{} already exists; name a new file (a backup never overwrites one)",
            out.display()
        )));
    }
    let audit_entries = match config
        .backend()
        .map_err(|e| BackupError::Refused(e.to_string()))?
    {
        Backend::Sqlite => {
            let options = sqlite_options(&config.database_url())?;
            if !options.get_filename().exists() {
                return Err(BackupError::Refused(format!(
                    "no database at {}: nothing to back up",
                    options.get_filename().display()
                )));
            }
            let mut db = options.connect().await?;
            // SQLite writes a vacuumed copy of one read transaction: consistent while the
            // hub keeps writing.
            sqlx::query("VACUUM INTO $1")
                .bind(out.to_string_lossy().as_ref())
                .execute(&mut db)
                .await?;
            db.close().await?;
            Some(check_sqlite_copy(out).await?)
        }
        Backend::Postgres => {
            let (url, password) = without_password(&config.database_url())?;
            run_tool(
                Command::new("pg_dump")
                    .args(["--format=custom", "--no-owner", "--file"])
                    .arg(out)
                    .arg(format!("--dbname={url}")),
                password.as_deref(),
            )?;
            // The dump's table of contents reads back: the file is whole.
            run_tool(Command::new("pg_restore").arg("--list").arg(out), None)?;
            None
        }
    };
    Ok(Backup {
        file: out.to_path_buf(),
        bytes: std::fs::metadata(out).map_err(io(out))?.len(),
        audit_entries,
    })
}

/// What a finished restore did.
#[derive(Debug)]
pub struct Restored {
    /// Where the database it replaced was kept (SQLite; Postgres' is replaced in place).
    pub kept: Option<PathBuf>,
}

/// Puts the backup `file` in place of the database. Every hub on that database must be
/// stopped first; on SQLite this is checked (the hub holds its data dir's spool lock).
pub async fn restore(config: &Config, file: &Path) -> Result<Restored, BackupError> {
    if !file.is_file() {
        return Err(BackupError::Refused(format!(
            "{} is not a file",
            file.display()
        )));
    }
    match config
        .backend()
        .map_err(|e| BackupError::Refused(e.to_string()))?
    {
        Backend::Sqlite => restore_sqlite(config, file).await,
        Backend::Postgres => {
            let (url, password) = without_password(&config.database_url())?;
            run_tool(
                Command::new("pg_restore")
                    .args([
                        "--clean",
                        "--if-exists",
                        "--no-owner",
                        "--single-transaction",
                        "--exit-on-error",
                    ])
                    .arg(format!("--dbname={url}"))
                    .arg(file),
                password.as_deref(),
            )?;
            Ok(Restored { kept: None })
        }
    }
}

/// Refuses while a hub runs on `config`'s data dir (it holds the spool's lock).
pub(crate) fn refuse_while_a_hub_runs(config: &Config) -> Result<(), BackupError> {
    let lock_path = config.data_dir.join("spool").join("lock");
    if let Ok(lock) = std::fs::File::open(&lock_path) {
        if lock.try_lock().is_err() {
            return Err(BackupError::Refused(format!(
                "a hub is running on {}: stop it, then try again",
                config.data_dir.display()
            )));
        }
    }
    Ok(())
}

async fn restore_sqlite(config: &Config, file: &Path) -> Result<Restored, BackupError> {
    refuse_while_a_hub_runs(config)?;
    check_sqlite_copy(file).await?;
    let options = sqlite_options(&config.database_url())?;
    let target = options.get_filename().to_path_buf();
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    // Copy beside the target first, so the swap is a rename: a crash leaves the old
    // database or the new one, never half of one.
    let incoming = target.with_extension("db.restoring");
    std::fs::copy(file, &incoming).map_err(io(&incoming))?;
    std::fs::File::open(&incoming)
        .and_then(|f| f.sync_all())
        .map_err(io(&incoming))?;
    let kept = if target.exists() {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let kept = target.with_extension(format!("db.before-restore-{stamp}"));
        std::fs::rename(&target, &kept).map_err(io(&target))?;
        // The write-ahead log belongs to the database it came from: it goes with it.
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{}{suffix}", target.display()));
            if side.exists() {
                let to = PathBuf::from(format!("{}{suffix}", kept.display()));
                std::fs::rename(&side, &to).map_err(io(&side))?;
            }
        }
        Some(kept)
    } else {
        None
    };
    std::fs::rename(&incoming, &target).map_err(io(&target))?;
    Ok(Restored { kept })
}

/// Opens a SQLite backup read-only and checks it: intact pages and Cortex's tables. Returns
/// how many audit entries it holds.
async fn check_sqlite_copy(file: &Path) -> Result<i64, BackupError> {
    let not_ours = |why: String| {
        BackupError::Refused(format!(
            "{} is not a Cortex SQLite backup: {why}",
            file.display()
        ))
    };
    let mut db = SqliteConnectOptions::new()
        .filename(file)
        .read_only(true)
        .connect()
        .await?;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut db)
        .await
        .map_err(|e| not_ours(e.to_string()))?;
    if integrity != "ok" {
        return Err(not_ours(format!("integrity check says {integrity}")));
    }
    let entries = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(&mut db)
        .await
        .map_err(|e| not_ours(e.to_string()))?;
    db.close().await?;
    Ok(entries)
}

pub(crate) fn sqlite_options(url: &str) -> Result<SqliteConnectOptions, BackupError> {
    SqliteConnectOptions::from_str(url)
        .map_err(|e| BackupError::Refused(format!("bad SQLite URL: {e}")))
}

/// The URL without its password, and the password (handed to the tool in `PGPASSWORD`, so it
/// never shows in the process list).
fn without_password(url: &str) -> Result<(String, Option<String>), BackupError> {
    let mut parsed =
        url::Url::parse(url).map_err(|e| BackupError::Refused(format!("bad Postgres URL: {e}")))?;
    let password = parsed.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    // Cannot fail on a URL with a host, which a Postgres URL has.
    let _ = parsed.set_password(None);
    Ok((parsed.to_string(), password))
}

/// Runs one of PostgreSQL's tools (`pg_dump`, `pg_restore`) to the end.
fn run_tool(command: &mut Command, password: Option<&str>) -> Result<(), BackupError> {
    let tool = command.get_program().to_string_lossy().into_owned();
    if let Some(p) = password {
        command.env("PGPASSWORD", p);
    }
    let output = command.output().map_err(|e| {
        BackupError::Refused(if e.kind() == std::io::ErrorKind::NotFound {
            format!("{tool} is not installed: install PostgreSQL's client tools (the same major version as the server)")
        } else {
            format!("cannot run {tool}: {e}")
        })
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BackupError::Tool {
            tool,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_the_command_line() {
        let (url, password) =
            without_password("postgres://cortex:s%40cret@db.internal:5432/cortex").unwrap();
        assert_eq!(url, "postgres://cortex@db.internal:5432/cortex");
        assert_eq!(password.as_deref(), Some("s@cret"));
        let (url, password) = without_password("postgres://postgres@127.0.0.1/x").unwrap();
        assert_eq!(url, "postgres://postgres@127.0.0.1/x");
        assert_eq!(password, None);
    }
}
