//! Rolling a scope back by hand: a scope's revisions as its history lists them, and what
//! rolling back to one would change (a line diff of the bundle, shown before anything is
//! pushed). A rollback is a new revision carrying the chosen revision's body, so it is
//! itself in the history and can be rolled back.

use super::*;
use crate::rules::DiffLine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Revisions a scope's history lists (newest first).
pub const HISTORY_LISTED: usize = 50;

/// One revision of a scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ScopeRevision {
    pub revision: u64,
    pub kind: BundleKind,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// The staged audience it was pushed to (absent: everyone in the scope).
    #[serde(default, skip_serializing_if = "Audience::is_everyone")]
    pub audience: Audience,
    /// The newest revision of its kind in the scope: what its neurons hold now.
    pub current: bool,
    /// The revision of its kind it was made from, when the push named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_revision: Option<u64>,
    /// A stale push under last-write-wins: the revision it overwrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwrote: Option<u64>,
}

/// A scope's revisions, newest first (at most [`HISTORY_LISTED`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ScopeHistory {
    pub scope: Scope,
    pub revisions: Vec<ScopeRevision>,
}

impl ScopeHistory {
    /// The history of `scope` from its bundles (any order, any number).
    pub fn of(scope: Scope, mut bundles: Vec<Bundle>) -> Self {
        bundles.sort_by(|a, b| b.revision.cmp(&a.revision));
        let mut seen = std::collections::BTreeSet::new();
        let revisions = bundles
            .into_iter()
            .take(HISTORY_LISTED)
            .map(|b| ScopeRevision {
                revision: b.revision,
                current: seen.insert(b.kind),
                kind: b.kind,
                created_by: b.created_by,
                created_at: b.created_at,
                audience: b.audience,
                base_revision: b.base_revision,
                overwrote: b.overwrote,
            })
            .collect();
        ScopeHistory { scope, revisions }
    }
}

/// What rolling `scope` back to `to_revision` would do: push that revision's body again as
/// the next revision, to everyone in the scope, replacing `current_revision` of its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RollbackPreview {
    pub scope: Scope,
    pub kind: BundleKind,
    pub to_revision: u64,
    /// The newest revision of that kind now.
    pub current_revision: u64,
    /// From the current body to the one that would be pushed (pretty JSON, two lines of
    /// context); empty when they are the same.
    pub diff: Vec<DiffLine>,
}

/// A bundle body as the diff shows it: pretty JSON, keys in order.
pub fn comparable_body(body: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(body).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(revision: u64, kind: BundleKind) -> Bundle {
        Bundle {
            scope: Scope::Global,
            revision,
            kind,
            body: serde_json::json!({"n": revision}),
            created_by: "user:ed".into(),
            created_at: DateTime::from_timestamp(1_780_000_000 + revision as i64, 0).unwrap(),
            audience: Audience::default(),
            base_revision: None,
            overwrote: None,
        }
    }

    #[test]
    fn the_newest_of_each_kind_is_current() {
        let h = ScopeHistory::of(
            Scope::Global,
            vec![
                bundle(1, BundleKind::Config),
                bundle(3, BundleKind::Config),
                bundle(2, BundleKind::Offers),
            ],
        );
        let shown: Vec<(u64, bool)> = h
            .revisions
            .iter()
            .map(|r| (r.revision, r.current))
            .collect();
        assert_eq!(shown, [(3, true), (2, true), (1, false)]);
        assert_eq!(
            comparable_body(&serde_json::json!({"b": 1, "a": [1]})),
            "{\n  \"a\": [\n    1\n  ],\n  \"b\": 1\n}\n"
        );
    }
}
