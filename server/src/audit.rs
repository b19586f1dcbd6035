//! The audit chain's key and head, both kept outside the database (see `cortex_core::audit`):
//! the key in `CORTEX_AUDIT_KEY` or `audit.key` in the data dir (0600), the head in
//! `audit-head.json` there. A watcher follows the chain as it grows, checks each new entry,
//! and moves the head on; it never moves it back. `cortex doctor` and the status page check
//! the whole chain against key and head, so an edited entry, a deleted one, a chain rebuilt
//! without the key and a tail cut off the end are all reported.

use cortex_core::audit::{check_head, AuditHead, ChainBreak, ChainKey, ChainVerifier};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Config;
use crate::db_health::DbHealth;
use crate::store::{DynStore, StoreResult};

/// The key file in the data dir.
pub const KEY_FILE: &str = "audit.key";
/// The head file in the data dir.
pub const HEAD_FILE: &str = "audit-head.json";
/// How often the watcher follows the chain.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// The chain's key: `CORTEX_AUDIT_KEY`, or the key file in the data dir (made on first
/// start). Hubs sharing one database must share the key.
pub fn load_or_create_key(config: &Config) -> std::io::Result<ChainKey> {
    use secrecy::ExposeSecret;
    if let Some(k) = &config.audit_key {
        return Ok(ChainKey::new(k.expose_secret().trim().as_bytes().to_vec()));
    }
    let path = config.data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(ChainKey::new(s.trim().as_bytes().to_vec())),
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is too short: restore it from a backup (a new key cannot check the entries already written)",
                path.display()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let key = crate::auth::api_token::random_secret("");
    crate::fsutil::write_private(&path, key.as_bytes())?;
    tracing::info!(path = %path.display(), "generated a new audit chain key");
    Ok(ChainKey::new(key.into_bytes()))
}

/// The head kept in `dir`, if any.
pub fn read_head(dir: &Path) -> std::io::Result<Option<AuditHead>> {
    crate::fsutil::read_json(dir, HEAD_FILE)
}

/// Records `head` as the chain's end the hub has seen.
pub fn write_head(dir: &Path, head: &AuditHead) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(head).map_err(std::io::Error::other)?;
    crate::fsutil::write_private(&dir.join(HEAD_FILE), &bytes)
}

/// What checking the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Entries verified.
    pub entries: i64,
    /// The head kept outside the database, if there is one.
    pub head: Option<AuditHead>,
    /// Where the chain fails, if it does.
    pub broken: Option<ChainBreak>,
}

/// Checks the whole chain with `key`, and its end against the head kept in `head_dir`.
pub async fn verify(
    store: &DynStore,
    key: Option<&ChainKey>,
    head_dir: Option<&Path>,
) -> StoreResult<ChainReport> {
    let head = head_dir.and_then(|d| read_head(d).ok().flatten());
    let mut v = ChainVerifier::with_key(key.cloned())
        .keyed_since(head.as_ref().and_then(|h| h.keyed_since));
    let mut hash_at_head = None;
    loop {
        let page = store.audit_chain(v.verified(), 1000).await?;
        if page.is_empty() {
            break;
        }
        for e in &page {
            if let Err(b) = v.push(e) {
                return Ok(ChainReport {
                    entries: v.verified(),
                    head,
                    broken: Some(b),
                });
            }
            if head.as_ref().is_some_and(|h| h.seq == e.seq) {
                hash_at_head = Some(e.hash.clone());
            }
        }
    }
    // A head from before a recovery names an entry lost with the replaced database.
    let broken = head
        .as_ref()
        .filter(|h| v.recovered_at().is_none_or(|r| h.seq >= r))
        .and_then(|h| check_head(h, v.verified(), hash_at_head.as_deref()).err());
    Ok(ChainReport {
        entries: v.verified(),
        head,
        broken,
    })
}

/// Follows the chain for the life of the hub: every couple of seconds, checks the entries
/// written since the head (by this hub or another on the same database) and moves the head
/// on. A break or a shortened chain is logged as an error and the head is left where it
/// was, so `cortex doctor` still sees what the hub saw.
/// Whether the chain starts with a keyed `recover` entry after `seq`.
async fn recovered_after(store: &DynStore, seq: i64) -> Result<bool, String> {
    let first = store.audit_chain(0, 1).await.map_err(|e| e.to_string())?;
    Ok(first
        .first()
        .is_some_and(|e| e.seq > seq && cortex_core::audit::is_keyed_recovery(e)))
}

pub async fn run_watch(store: DynStore, key: ChainKey, dir: PathBuf, health: DbHealth) {
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported = false;
    loop {
        tick.tick().await;
        if !health.is_ready() {
            continue;
        }
        match follow(&store, &key, &dir).await {
            Ok(()) => reported = false,
            Err(e) if !reported => {
                metrics::counter!("cortex_audit_chain_breaks_total").increment(1);
                tracing::error!(error = %e, "the audit chain does not verify: run `cortex doctor` (hubs sharing a database need the same CORTEX_AUDIT_KEY)");
                reported = true;
            }
            Err(_) => {}
        }
    }
}

/// One step of [`run_watch`].
async fn follow(store: &DynStore, key: &ChainKey, dir: &Path) -> Result<(), String> {
    let head = read_head(dir).map_err(|e| e.to_string())?;
    let start = head.clone().unwrap_or(AuditHead {
        seq: 0,
        hash: cortex_core::audit::GENESIS_HASH.into(),
        keyed_since: None,
    });
    // The head's own entry must still be there as it was.
    if start.seq > 0 {
        let at = store
            .audit_chain(start.seq - 1, 1)
            .await
            .map_err(|e| e.to_string())?;
        match at.first() {
            Some(e) if e.seq == start.seq && e.hash == start.hash => {}
            Some(e) if e.seq == start.seq => {
                return Err(ChainBreak::NotTheHead { seq: start.seq }.to_string())
            }
            // The database was replaced and the chain recovered after the head: entries
            // from the head to the recovery were lost with it; the verifier starts at the
            // `recover` entry (keyed, so nobody without the key wrote it).
            _ if recovered_after(store, start.seq).await? => {}
            _ => {
                let end = store
                    .list_audit(&cortex_core::audit::AuditQuery {
                        limit: Some(1),
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| e.to_string())?
                    .first()
                    .map_or(0, |e| e.seq);
                return Err(ChainBreak::Truncated {
                    end,
                    head: start.seq,
                }
                .to_string());
            }
        }
    }
    let mut v = ChainVerifier::after(&start, Some(key.clone()));
    loop {
        let page = store
            .audit_chain(v.verified(), 1000)
            .await
            .map_err(|e| e.to_string())?;
        if page.is_empty() {
            break;
        }
        for e in &page {
            v.push(e).map_err(|b| b.to_string())?;
        }
    }
    let now = v.head();
    if head.as_ref() != Some(&now) && now.seq > 0 {
        write_head(dir, &now).map_err(|e| format!("{HEAD_FILE}: {e}"))?;
    }
    Ok(())
}
