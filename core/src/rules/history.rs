//! A rule's history as its page shows it: every version with what changed from the one
//! before, as lines of a diff of the rule's JSON.

use super::RuleVersion;
use serde::{Deserialize, Serialize};

/// A line of a diff between two versions of a rule (as pretty JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiffLine {
    /// `+` added, `-` removed, ` ` unchanged (context), `…` unchanged lines left out.
    pub tag: String,
    pub text: String,
}

/// One version of a rule in its history, with what changed from the version before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub version: RuleVersion,
    /// Empty for the first version.
    pub diff: Vec<DiffLine>,
}

/// A rule's content as the history compares it: pretty JSON without the fields every
/// version changes (version, time, author, rollback pointer), with whether it is deleted.
pub fn comparable(v: &RuleVersion) -> String {
    let mut value = serde_json::to_value(&v.rule).unwrap_or_default();
    if let Some(o) = value.as_object_mut() {
        for k in ["version", "timestamp", "createdBy", "rollbackPointer"] {
            o.remove(k);
        }
        o.insert("deleted".into(), v.deleted.into());
    }
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}
