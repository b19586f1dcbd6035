//! The hash-chained audit log: each entry's hash covers its content and the previous hash,
//! so editing or deleting any row breaks every hash after it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash that stands before the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A change about to be recorded.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// `user:<name>`, `token:<name>`, `cli` or `system`.
    pub actor: String,
    /// Dotted verb, e.g. `user.create`, `token.revoke`, `session.login`.
    pub action: String,
    /// What was changed, e.g. `user:alice`.
    pub target: String,
    /// State before the change (`null` for a creation).
    pub before: serde_json::Value,
    /// State after the change (`null` for a deletion).
    pub after: serde_json::Value,
}

impl AuditRecord {
    /// A record with no before/after state yet (the store fills them in for changes it reads).
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
    ) -> Self {
        Self {
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            before: serde_json::Value::Null,
            after: serde_json::Value::Null,
        }
    }
}

/// A stored audit entry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When it was recorded (UTC, millisecond precision).
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub record: AuditRecord,
    /// Hash of the previous entry ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// Hash of this entry; see [`entry_hash`].
    pub hash: String,
}

/// Filters for listing the audit log; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    /// Substring of the actor.
    #[serde(default)]
    pub actor: Option<String>,
    /// Prefix of the action (`user.` lists every user change).
    #[serde(default)]
    pub action: Option<String>,
    /// Substring of the target.
    #[serde(default)]
    pub target: Option<String>,
    /// Only entries with `seq` below this (for paging backwards).
    #[serde(default)]
    pub before_seq: Option<i64>,
    /// At most this many entries (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<u32>,
}

impl AuditQuery {
    /// The effective page size.
    pub fn page_size(&self) -> u32 {
        self.limit.unwrap_or(50).clamp(1, 500)
    }
}

/// The hash of one entry: SHA-256 over a length-prefixed encoding of every field and the
/// previous hash, hex encoded. Length prefixes make field boundaries unambiguous.
pub fn entry_hash(seq: i64, at: DateTime<Utc>, record: &AuditRecord, prev_hash: &str) -> String {
    let mut h = Sha256::new();
    let before = record.before.to_string();
    let after = record.after.to_string();
    let at = at.timestamp_millis().to_string();
    let seq = seq.to_string();
    for part in [
        seq.as_str(),
        at.as_str(),
        record.actor.as_str(),
        record.action.as_str(),
        record.target.as_str(),
        before.as_str(),
        after.as_str(),
        prev_hash,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Where a chain first fails to verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {seq}: its prev_hash does not match the hash of entry {prev}")]
    BrokenLink { seq: i64, prev: i64 },
    #[error("entry {seq}: its content does not match its hash (edited after it was written)")]
    Tampered { seq: i64 },
    #[error("entry {seq}: sequence gap after {prev} (an entry was deleted)")]
    Gap { seq: i64, prev: i64 },
}

/// Incrementally verifies a chain given in ascending `seq` order.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    last_seq: i64,
    last_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            last_seq: 0,
            last_hash: GENESIS_HASH.to_string(),
        }
    }
}

impl ChainVerifier {
    /// Checks the next entry.
    pub fn push(&mut self, e: &AuditEntry) -> Result<(), ChainBreak> {
        if e.seq != self.last_seq + 1 {
            return Err(ChainBreak::Gap {
                seq: e.seq,
                prev: self.last_seq,
            });
        }
        if e.prev_hash != self.last_hash {
            return Err(ChainBreak::BrokenLink {
                seq: e.seq,
                prev: self.last_seq,
            });
        }
        if entry_hash(e.seq, e.at, &e.record, &e.prev_hash) != e.hash {
            return Err(ChainBreak::Tampered { seq: e.seq });
        }
        self.last_seq = e.seq;
        self.last_hash = e.hash.clone();
        Ok(())
    }

    /// How many entries verified so far.
    pub fn verified(&self) -> i64 {
        self.last_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let at = Utc.timestamp_millis_opt(1_700_000_000_000 + seq).unwrap();
                let record = AuditRecord {
                    actor: "user:alice".into(),
                    action: "user.create".into(),
                    target: format!("user:u{seq}"),
                    before: serde_json::Value::Null,
                    after: serde_json::json!({"role": "viewer"}),
                };
                let hash = entry_hash(seq, at, &record, &prev);
                let e = AuditEntry {
                    seq,
                    at,
                    record,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    fn verify(entries: &[AuditEntry]) -> Result<i64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in entries {
            v.push(e)?;
        }
        Ok(v.verified())
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn an_edited_entry_is_detected() {
        let mut c = chain(5);
        c[2].record.after = serde_json::json!({"role": "admin"});
        assert_eq!(verify(&c), Err(ChainBreak::Tampered { seq: 3 }));
    }

    #[test]
    fn a_deleted_entry_is_detected() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify(&c), Err(ChainBreak::Gap { seq: 3, prev: 1 }));
    }

    #[test]
    fn a_rehashed_edit_still_breaks_the_next_link() {
        let mut c = chain(4);
        c[1].record.actor = "user:mallory".into();
        c[1].hash = entry_hash(c[1].seq, c[1].at, &c[1].record, &c[1].prev_hash);
        assert_eq!(verify(&c), Err(ChainBreak::BrokenLink { seq: 3, prev: 2 }));
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let at = Utc.timestamp_millis_opt(0).unwrap();
        let a = AuditRecord {
            actor: "ab".into(),
            action: "c".into(),
            target: String::new(),
            before: serde_json::Value::Null,
            after: serde_json::Value::Null,
        };
        let b = AuditRecord {
            actor: "a".into(),
            action: "bc".into(),
            ..a.clone()
        };
        assert_ne!(
            entry_hash(1, at, &a, GENESIS_HASH),
            entry_hash(1, at, &b, GENESIS_HASH)
        );
    }
}
