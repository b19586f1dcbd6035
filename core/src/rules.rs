//! The rule store's wire types: stored versions of rules, rule sets at a revision, and the
//! requests and answers of `/api/layout-mutation/*`.

use crate::context::Context;
use crate::layout::Layout;
use crate::mutation::LayoutMutation;
use crate::resolve::{Exposure, TraceEntry};
use serde::{Deserialize, Serialize};

/// Largest `apply` request body.
pub const MAX_APPLY_BYTES: usize = 16 * 1024;
/// Largest rule, as JSON.
pub const MAX_RULE_BYTES: usize = 64 * 1024;
/// Largest base layout, as JSON.
pub const MAX_LAYOUT_BYTES: usize = 512 * 1024;

/// One stored version of a rule. Every change writes a new version; the newest is in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RuleVersion {
    /// The rule as it was at this version (`version`, `createdBy`, `timestamp` and
    /// `rollbackPointer` say which, who, when and what it replaced).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rule: LayoutMutation,
    /// This version removed the rule (a restore writes a newer version).
    pub deleted: bool,
    /// The rule-set revision this version made.
    pub revision: u64,
}

/// Everything a neuron needs to evaluate locally: the newest base layout of each page and
/// the rules in force, at a rule-set revision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RuleSet {
    pub revision: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub layouts: Vec<Layout>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub rules: Vec<LayoutMutation>,
}

/// What changed after a revision: rule versions (the newest of each changed rule, deleted
/// ones included) and new layout versions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RuleChanges {
    pub revision: u64,
    pub rules: Vec<RuleVersion>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub layouts: Vec<Layout>,
}

/// `POST /api/layout-mutation/apply`: a page and what is known about the visitor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyRequest {
    pub page_slug: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub context: Context,
    /// Resolve against this base layout version instead of the newest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout_version: Option<u32>,
    /// Include the explain trace.
    #[serde(default)]
    pub explain: bool,
}

/// The resolved page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub page_slug: String,
    /// The rule-set revision used.
    pub revision: u64,
    /// The base layout version used.
    pub layout_version: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub layout: Layout,
    /// The rules (and variants) the visitor saw; log them as exposures.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub exposures: Vec<Exposure>,
    /// With `explain: true`: what each rule did and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub trace: Option<Vec<TraceEntry>>,
    /// Rules that were skipped because they are broken, and anything else the caller should
    /// know; the layout is still complete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
