//! The hash-chained audit log: each entry's hash covers its content and the previous hash,
//! so editing or deleting any row breaks every hash after it.
//!
//! A plain hash can be recomputed by anyone who can write the database: they could edit an
//! entry and rehash everything after it. So the hub keys the chain: entries are hashed with
//! HMAC-SHA256 under a key kept outside the database (`k1:` hashes), and the hub keeps the
//! chain's latest head outside the database too ([`AuditHead`]), so a rebuilt chain, a
//! deleted entry and a cut-off tail are all found. Entries written before the chain was
//! keyed keep their plain SHA-256 hashes; once a keyed entry appears, every later one must
//! be keyed.

mod changes;
pub use changes::{field_changes, FieldChange};

use chrono::{DateTime, Utc};
use hmac::Mac;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The prefix of a keyed entry hash.
pub const KEYED_PREFIX: &str = "k1:";

/// The key of the audit chain. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ChainKey(Vec<u8>);

impl ChainKey {
    /// A key from its bytes (at least 32 of them is sensible).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(..)")
    }
}

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

/// Feeds a length-prefixed encoding of every field and the previous hash to `update`.
/// Length prefixes make field boundaries unambiguous.
fn encode_entry(
    seq: i64,
    at: DateTime<Utc>,
    record: &AuditRecord,
    prev_hash: &str,
    mut update: impl FnMut(&[u8]),
) {
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
        update(&(part.len() as u64).to_be_bytes());
        update(part.as_bytes());
    }
}

/// The unkeyed hash of one entry (chains written before keying): SHA-256, hex encoded.
pub fn entry_hash(seq: i64, at: DateTime<Utc>, record: &AuditRecord, prev_hash: &str) -> String {
    let mut h = Sha256::new();
    encode_entry(seq, at, record, prev_hash, |b| h.update(b));
    hex::encode(h.finalize())
}

/// The hash of one entry under `key` (HMAC-SHA256, [`KEYED_PREFIX`] and hex), or the
/// unkeyed [`entry_hash`] without a key.
pub fn hash_entry(
    key: Option<&ChainKey>,
    seq: i64,
    at: DateTime<Utc>,
    record: &AuditRecord,
    prev_hash: &str,
) -> String {
    let Some(key) = key else {
        return entry_hash(seq, at, record, prev_hash);
    };
    let mut mac = crate::mac::hmac_sha256(&key.0);
    encode_entry(seq, at, record, prev_hash, |b| mac.update(b));
    format!("{KEYED_PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
}

/// The latest entry of the chain as the hub last saw it, kept outside the database: a tail
/// cut off the database, or a chain rebuilt under it, no longer ends here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
    /// The first keyed entry: every entry from it on must be keyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyed_since: Option<i64>,
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
    #[error("entry {seq}: keyed, but no audit key was given to check it (CORTEX_AUDIT_KEY or audit.key in the data dir)")]
    NoKey { seq: i64 },
    #[error("entry {seq}: not keyed, after keyed entries (the chain was rebuilt without the key)")]
    Unkeyed { seq: i64 },
    #[error("the chain ends at entry {end}, but the hub saw it reach entry {head} (entries were cut off the end)")]
    Truncated { end: i64, head: i64 },
    #[error("entry {seq} is not the one the hub saw there (the chain was rebuilt)")]
    NotTheHead { seq: i64 },
}

/// The action of the entry a hub writes when it restored its control state into a database
/// that was replaced: the entry's `prev_hash` is the head of the chain lost with the old
/// database, so the chain goes on across the loss. Only a keyed entry counts as one (nobody
/// without the key can write it).
pub const RECOVER_ACTION: &str = "audit.recover";

/// Whether `e` is a keyed `recover` entry: one a chain may start from after a gap.
pub fn is_keyed_recovery(e: &AuditEntry) -> bool {
    e.record.action == RECOVER_ACTION && e.hash.starts_with(KEYED_PREFIX)
}

/// Incrementally verifies a chain given in ascending `seq` order.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    last_seq: i64,
    last_hash: String,
    key: Option<ChainKey>,
    /// The first keyed entry seen (or known from the head).
    keyed_since: Option<i64>,
    /// The `recover` entry the chain starts from, when its earlier entries were lost.
    recovered_at: Option<i64>,
    /// Whether an entry was checked yet (only the first may be a `recover` after a gap).
    pushed: bool,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::with_key(None)
    }
}

impl ChainVerifier {
    /// A verifier from the start of the chain that checks keyed entries with `key`.
    pub fn with_key(key: Option<ChainKey>) -> Self {
        Self {
            last_seq: 0,
            last_hash: GENESIS_HASH.to_string(),
            key,
            keyed_since: None,
            recovered_at: None,
            pushed: false,
        }
    }

    /// A verifier that goes on after `head` (entries up to it were verified before).
    pub fn after(head: &AuditHead, key: Option<ChainKey>) -> Self {
        Self {
            last_seq: head.seq,
            last_hash: head.hash.clone(),
            key,
            keyed_since: head.keyed_since,
            recovered_at: None,
            pushed: false,
        }
    }

    /// Must every entry from `seq` on be keyed (from a head kept outside the database)?
    pub fn keyed_since(mut self, seq: Option<i64>) -> Self {
        self.keyed_since = seq;
        self
    }

    /// Checks the next entry. A chain may start (after the genesis or after `after`'s head)
    /// with a keyed `recover` entry later in the sequence: the entries before it were lost
    /// with a replaced database, and the chain goes on from the head it names.
    pub fn push(&mut self, e: &AuditEntry) -> Result<(), ChainBreak> {
        if !self.pushed && e.seq > self.last_seq + 1 && is_keyed_recovery(e) && self.key.is_some() {
            self.last_seq = e.seq - 1;
            self.last_hash = e.prev_hash.clone();
            self.recovered_at = Some(e.seq);
        }
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
        let keyed = e.hash.starts_with(KEYED_PREFIX);
        let expected = if keyed {
            let Some(key) = &self.key else {
                return Err(ChainBreak::NoKey { seq: e.seq });
            };
            hash_entry(Some(key), e.seq, e.at, &e.record, &e.prev_hash)
        } else {
            if self.keyed_since.is_some_and(|s| e.seq >= s) {
                return Err(ChainBreak::Unkeyed { seq: e.seq });
            }
            entry_hash(e.seq, e.at, &e.record, &e.prev_hash)
        };
        if expected != e.hash {
            return Err(ChainBreak::Tampered { seq: e.seq });
        }
        if keyed && self.keyed_since.is_none() {
            self.keyed_since = Some(e.seq);
        }
        self.pushed = true;
        self.last_seq = e.seq;
        self.last_hash = e.hash.clone();
        Ok(())
    }

    /// The `recover` entry the verified chain started from, if its earlier entries were lost.
    pub fn recovered_at(&self) -> Option<i64> {
        self.recovered_at
    }

    /// The sequence number of the last entry verified so far.
    pub fn verified(&self) -> i64 {
        self.last_seq
    }

    /// The chain's end as verified so far.
    pub fn head(&self) -> AuditHead {
        AuditHead {
            seq: self.last_seq,
            hash: self.last_hash.clone(),
            keyed_since: self.keyed_since,
        }
    }
}

/// Checks a verified chain's end against the head the hub kept: the chain must reach at
/// least the head, and have the head's entry where the head says.
pub fn check_head(
    head: &AuditHead,
    end: i64,
    hash_at_head: Option<&str>,
) -> Result<(), ChainBreak> {
    if end < head.seq {
        return Err(ChainBreak::Truncated {
            end,
            head: head.seq,
        });
    }
    if head.seq > 0 && hash_at_head != Some(head.hash.as_str()) {
        return Err(ChainBreak::NotTheHead { seq: head.seq });
    }
    Ok(())
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

    fn keyed_chain(n: i64, key: &ChainKey, from: Vec<AuditEntry>) -> Vec<AuditEntry> {
        let mut out = from;
        let mut prev = out
            .last()
            .map_or(GENESIS_HASH.to_string(), |e| e.hash.clone());
        let start = out.len() as i64 + 1;
        for seq in start..start + n {
            let at = Utc.timestamp_millis_opt(1_700_000_000_000 + seq).unwrap();
            let record = AuditRecord::new("user:alice", "rule.save", format!("rule:r{seq}"));
            let hash = hash_entry(Some(key), seq, at, &record, &prev);
            out.push(AuditEntry {
                seq,
                at,
                record,
                prev_hash: prev.clone(),
                hash: hash.clone(),
            });
            prev = hash;
        }
        out
    }

    fn verify_keyed(
        entries: &[AuditEntry],
        key: Option<&ChainKey>,
    ) -> Result<AuditHead, ChainBreak> {
        let mut v = ChainVerifier::with_key(key.cloned());
        for e in entries {
            v.push(e)?;
        }
        Ok(v.head())
    }

    #[test]
    fn a_keyed_chain_continues_an_old_one_and_cannot_be_rebuilt_without_the_key() {
        let key = ChainKey::new(*b"0123456789abcdef0123456789abcdef");
        let c = keyed_chain(3, &key, chain(2));
        let head = verify_keyed(&c, Some(&key)).unwrap();
        assert_eq!((head.seq, head.keyed_since), (5, Some(3)));
        assert!(c[4].hash.starts_with(KEYED_PREFIX));
        // Without the key, keyed entries cannot be checked.
        assert_eq!(verify_keyed(&c, None), Err(ChainBreak::NoKey { seq: 3 }));
        // With another key, they do not verify.
        let other = ChainKey::new(*b"another key, another key, anothe");
        assert_eq!(
            verify_keyed(&c, Some(&other)),
            Err(ChainBreak::Tampered { seq: 3 })
        );
        // An edit rehashed the old way after keyed entries is a downgrade.
        let mut edited = c.clone();
        edited[4].record.actor = "user:mallory".into();
        edited[4].hash = entry_hash(5, edited[4].at, &edited[4].record, &edited[4].prev_hash);
        assert_eq!(
            verify_keyed(&edited, Some(&key)),
            Err(ChainBreak::Unkeyed { seq: 5 })
        );
        // A whole chain rebuilt the old way verifies on its own, but not against the head.
        let rebuilt = chain(5);
        let end = verify_keyed(&rebuilt, Some(&key)).unwrap();
        assert_eq!(
            check_head(&head, end.seq, Some(&rebuilt[4].hash)),
            Err(ChainBreak::NotTheHead { seq: 5 })
        );
        // Nor does it pass a verifier that knows the chain is keyed since entry 3.
        let mut v = ChainVerifier::with_key(Some(key.clone())).keyed_since(head.keyed_since);
        let broke = rebuilt.iter().try_for_each(|e| v.push(e));
        assert_eq!(broke, Err(ChainBreak::Unkeyed { seq: 3 }));
        // A cut-off tail falls short of the head.
        assert_eq!(
            check_head(&head, 4, None),
            Err(ChainBreak::Truncated { end: 4, head: 5 })
        );
        assert_eq!(check_head(&head, 5, Some(&c[4].hash)), Ok(()));
        // Verification can go on from a head.
        let more = keyed_chain(2, &key, c.clone());
        let mut v = ChainVerifier::after(&head, Some(key.clone()));
        assert!(more[5..].iter().all(|e| v.push(e).is_ok()));
        assert_eq!(v.verified(), 7);
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

    #[test]
    fn a_chain_goes_on_across_a_replaced_database_with_a_keyed_recover_entry_only() {
        let key = ChainKey::new(b"k".repeat(32));
        let lost = keyed_chain(6, &key, Vec::new());
        let head = lost.last().unwrap().clone();
        let at = Utc.timestamp_millis_opt(1_700_000_001_000).unwrap();
        let record = AuditRecord::new("hub", RECOVER_ACTION, "database:new");
        let recover = AuditEntry {
            seq: head.seq + 1,
            at,
            hash: hash_entry(Some(&key), head.seq + 1, at, &record, &head.hash),
            record,
            prev_hash: head.hash.clone(),
        };
        let mut after = vec![recover.clone()];
        let at = Utc.timestamp_millis_opt(1_700_000_002_000).unwrap();
        let record = AuditRecord::new("user:alice", "rule.save", "rule:r8");
        after.push(AuditEntry {
            seq: recover.seq + 1,
            at,
            hash: hash_entry(Some(&key), recover.seq + 1, at, &record, &recover.hash),
            record,
            prev_hash: recover.hash.clone(),
        });
        // From the genesis: the chain starts at the recover entry.
        let mut v = ChainVerifier::with_key(Some(key.clone()));
        for e in &after {
            v.push(e).unwrap();
        }
        assert_eq!((v.verified(), v.recovered_at()), (8, Some(7)));
        // After the head the hub saw: the recover entry must link to it.
        let mut v = ChainVerifier::after(
            &AuditHead {
                seq: 6,
                hash: head.hash.clone(),
                keyed_since: Some(1),
            },
            Some(key.clone()),
        );
        assert_eq!(v.push(&after[0]), Ok(()));
        let mut v = ChainVerifier::after(
            &AuditHead {
                seq: 6,
                hash: "k1:other".into(),
                keyed_since: Some(1),
            },
            Some(key.clone()),
        );
        assert_eq!(
            v.push(&after[0]),
            Err(ChainBreak::BrokenLink { seq: 7, prev: 6 })
        );
        // Without the key, or unkeyed, or not a recover entry, or not first: a gap.
        let mut v = ChainVerifier::with_key(None);
        assert_eq!(v.push(&after[0]), Err(ChainBreak::Gap { seq: 7, prev: 0 }));
        let mut forged = recover.clone();
        forged.hash = entry_hash(forged.seq, forged.at, &forged.record, &forged.prev_hash);
        let mut v = ChainVerifier::with_key(Some(key.clone()));
        assert_eq!(v.push(&forged), Err(ChainBreak::Gap { seq: 7, prev: 0 }));
        let mut v = ChainVerifier::with_key(Some(key.clone()));
        assert_eq!(v.push(&after[1]), Err(ChainBreak::Gap { seq: 8, prev: 0 }));
        let mut v = ChainVerifier::with_key(Some(key.clone()));
        v.push(&lost[0]).unwrap();
        assert_eq!(v.push(&recover), Err(ChainBreak::Gap { seq: 7, prev: 1 }));
        // A forged recover entry under a wrong key: tampered.
        let mut wrong = recover.clone();
        wrong.hash = hash_entry(
            Some(&ChainKey::new(b"x".repeat(32))),
            wrong.seq,
            wrong.at,
            &wrong.record,
            &wrong.prev_hash,
        );
        let mut v = ChainVerifier::with_key(Some(key));
        assert_eq!(v.push(&wrong), Err(ChainBreak::Tampered { seq: 7 }));
    }
}
