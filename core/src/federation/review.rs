//! Conflicts between editors. Every push names the revision of its scope and kind it was made
//! from (its base). A push is stale when something else of that kind was pushed to the scope
//! since. Each scope has a policy, set by an admin:
//!
//! - **last write wins** (the default): a stale push is applied; the revision it overwrote is
//!   recorded on the new revision, so the overwritten change can be found and restored;
//! - **review**: a stale push, or one that names no base, becomes a change request;
//! - **protected** (either mode): every push becomes a change request.
//!
//! A change request shows its diff against the scope's current revision, takes comments,
//! and is approved (then applied as the scope's next revision) by an editor other than its
//! author, or by an admin; a rejected one stays in the history.

use super::*;
use crate::rules::DiffLine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Scopes that may have a policy of their own.
pub const MAX_POLICIES: usize = 500;
/// A comment's length, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;
/// Comments one change request takes.
pub const MAX_COMMENTS: usize = 100;
/// Change requests open at once at most: a push to be held beyond them is refused until some
/// are decided (each holds up to a bundle's size, kept with the control state).
pub const MAX_OPEN_REQUESTS: u64 = 100;
/// A rejection's reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// What happens to a stale push in a scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum ConflictMode {
    /// Applied; the overwritten revision is recorded.
    #[default]
    LastWriteWins,
    /// Held as a change request until another editor approves it.
    Review,
}

impl ConflictMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictMode::LastWriteWins => "lastWriteWins",
            ConflictMode::Review => "review",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [ConflictMode::LastWriteWins, ConflictMode::Review]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// One scope's policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ScopePolicy {
    #[serde(default)]
    pub mode: ConflictMode,
    /// Every push to the scope is reviewed, stale or not.
    #[serde(default)]
    pub protected: bool,
}

/// The policies of the scopes that have one; every other scope is last write wins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ScopePolicies {
    /// By scope (`global`, `tag:<tag>`, `neuron:<id>`).
    #[serde(default)]
    pub scopes: BTreeMap<String, ScopePolicy>,
}

impl ScopePolicies {
    /// The policy of `scope`.
    pub fn of(&self, scope: &Scope) -> ScopePolicy {
        self.scopes
            .get(&scope.to_string())
            .copied()
            .unwrap_or_default()
    }

    /// The first scope covering a neuron with this id and tags whose policy is not the
    /// default (review or protected): changes to that neuron's config are reviewed there.
    pub fn reviewed_scope_of(&self, id: &str, tags: &[String]) -> Option<Scope> {
        std::iter::once(Scope::Global)
            .chain(tags.iter().map(|t| Scope::Tag(t.clone())))
            .chain(std::iter::once(Scope::Neuron(id.to_string())))
            .find(|s| self.of(s) != ScopePolicy::default())
    }

    /// Sets the policy of `scope` (the default one removes the entry). At most
    /// [`MAX_POLICIES`] scopes.
    pub fn set(&mut self, scope: &Scope, policy: ScopePolicy) -> Result<(), FieldError> {
        let key = scope.to_string();
        if policy == ScopePolicy::default() {
            self.scopes.remove(&key);
            return Ok(());
        }
        if !self.scopes.contains_key(&key) && self.scopes.len() >= MAX_POLICIES {
            return Err(FieldError::new(
                "scope",
                format!("at most {MAX_POLICIES} scopes have a policy of their own; set one back to last write wins first"),
            ));
        }
        self.scopes.insert(key, policy);
        Ok(())
    }
}

/// Why a push waits for review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum ReviewReason {
    /// Made from a revision that is no longer the newest of its kind.
    Stale,
    /// Made without naming its base, in a scope under review.
    NoBase,
    /// The scope is protected: every push is reviewed.
    Protected,
}

impl ReviewReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewReason::Stale => "stale",
            ReviewReason::NoBase => "noBase",
            ReviewReason::Protected => "protected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ReviewReason::Stale,
            ReviewReason::NoBase,
            ReviewReason::Protected,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }

    /// How it reads on the page.
    pub fn describe(self) -> &'static str {
        match self {
            ReviewReason::Stale => "made from an older revision",
            ReviewReason::NoBase => "named no revision it was made from",
            ReviewReason::Protected => "the scope is protected",
        }
    }
}

/// What to do with a push, given its scope's policy, the revision it was made from
/// (`base`: `Some(0)` for "nothing pushed yet") and the newest revision of its kind now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Push it; `overwrote` is the newest revision it replaced without having seen it.
    Apply { overwrote: Option<u64> },
    /// Hold it as a change request.
    Review(ReviewReason),
}

/// The verdict on a push (see [`Verdict`]).
pub fn verdict(policy: ScopePolicy, base: Option<u64>, current: Option<u64>) -> Verdict {
    if policy.protected {
        return Verdict::Review(ReviewReason::Protected);
    }
    let current_or_none = current.unwrap_or(0);
    match (policy.mode, base) {
        (_, Some(b)) if b == current_or_none => Verdict::Apply { overwrote: None },
        // Nothing to conflict with yet.
        (_, None) if current.is_none() => Verdict::Apply { overwrote: None },
        (ConflictMode::LastWriteWins, Some(_)) => Verdict::Apply { overwrote: current },
        (ConflictMode::LastWriteWins, None) => Verdict::Apply { overwrote: None },
        (ConflictMode::Review, Some(_)) => Verdict::Review(ReviewReason::Stale),
        (ConflictMode::Review, None) => Verdict::Review(ReviewReason::NoBase),
    }
}

/// Where a change request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum ChangeRequestState {
    Open,
    /// Approved and pushed as `appliedRevision`.
    Applied,
    /// Turned down (kept in the history with the reason).
    Rejected,
}

impl ChangeRequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeRequestState::Open => "open",
            ChangeRequestState::Applied => "applied",
            ChangeRequestState::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ChangeRequestState::Open,
            ChangeRequestState::Applied,
            ChangeRequestState::Rejected,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// A comment on a change request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReviewComment {
    pub by: String,
    pub at: DateTime<Utc>,
    pub text: String,
}

/// A push held for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChangeRequest {
    pub id: String,
    pub scope: Scope,
    pub kind: BundleKind,
    pub body: serde_json::Value,
    #[serde(default, skip_serializing_if = "Audience::is_everyone")]
    pub audience: Audience,
    /// The revision it was made from (absent: not named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_revision: Option<u64>,
    pub reason: ReviewReason,
    pub state: ChangeRequestState,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    /// The revision it became once approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_revision: Option<u64>,
    /// Why it was rejected.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub decision_note: String,
    #[serde(default)]
    pub comments: Vec<ReviewComment>,
}

impl ChangeRequest {
    /// Whether `actor` with `role` may approve it: not its author, unless an admin.
    pub fn may_approve(&self, actor: &str, role: crate::Role) -> Result<(), String> {
        if self.created_by == actor && role < crate::Role::Admin {
            return Err(format!(
                "change request {}: you made it; another editor or an admin approves it",
                self.id
            ));
        }
        Ok(())
    }
}

/// A change request as its page shows it: with the diff from the scope's current revision
/// of its kind to what it would push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChangeRequestView {
    pub request: ChangeRequest,
    /// The newest revision of its kind in the scope now (absent: none yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<u64>,
    /// Revisions of its kind pushed since its base (what approving it would overwrite).
    pub pushed_since_base: u64,
    pub diff: Vec<DiffLine>,
}

/// What a push ended as: applied at once, or held for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HeldPush {
    pub change_request: String,
    pub reason: ReviewReason,
    /// The newest revision of its kind in the scope (absent: none yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<u64>,
}

/// A comment or reason as given: trimmed, control characters but line breaks dropped,
/// not empty (unless `optional`), at most `max` characters.
pub fn tidy_text(
    field: &str,
    text: &str,
    max: usize,
    optional: bool,
) -> Result<String, FieldError> {
    let text: String = text
        .trim()
        .chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .filter(|c| !is_text_direction(*c))
        .collect();
    if text.is_empty() && !optional {
        return Err(FieldError::new(field, "write something"));
    }
    let n = text.chars().count();
    if n > max {
        return Err(FieldError::new(
            field,
            format!("at most {max} characters (this is {n})"),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LWW: ScopePolicy = ScopePolicy {
        mode: ConflictMode::LastWriteWins,
        protected: false,
    };
    const REVIEW: ScopePolicy = ScopePolicy {
        mode: ConflictMode::Review,
        protected: false,
    };

    #[test]
    fn a_fresh_push_is_applied_under_either_mode() {
        for p in [LWW, REVIEW] {
            assert_eq!(
                verdict(p, Some(4), Some(4)),
                Verdict::Apply { overwrote: None }
            );
            assert_eq!(
                verdict(p, Some(0), None),
                Verdict::Apply { overwrote: None }
            );
            assert_eq!(verdict(p, None, None), Verdict::Apply { overwrote: None });
        }
    }

    #[test]
    fn a_stale_push_overwrites_under_last_write_wins_and_waits_under_review() {
        assert_eq!(
            verdict(LWW, Some(3), Some(5)),
            Verdict::Apply { overwrote: Some(5) }
        );
        assert_eq!(
            verdict(LWW, Some(0), Some(5)),
            Verdict::Apply { overwrote: Some(5) }
        );
        assert_eq!(
            verdict(REVIEW, Some(3), Some(5)),
            Verdict::Review(ReviewReason::Stale)
        );
        assert_eq!(
            verdict(LWW, None, Some(5)),
            Verdict::Apply { overwrote: None }
        );
        assert_eq!(
            verdict(REVIEW, None, Some(5)),
            Verdict::Review(ReviewReason::NoBase)
        );
    }

    #[test]
    fn a_protected_scope_reviews_every_push() {
        for mode in [ConflictMode::LastWriteWins, ConflictMode::Review] {
            let p = ScopePolicy {
                mode,
                protected: true,
            };
            assert_eq!(
                verdict(p, Some(5), Some(5)),
                Verdict::Review(ReviewReason::Protected)
            );
            assert_eq!(
                verdict(p, None, None),
                Verdict::Review(ReviewReason::Protected)
            );
        }
    }

    #[test]
    fn policies_default_to_last_write_wins_and_are_bounded() {
        let mut ps = ScopePolicies::default();
        let tag = Scope::Tag("eu".into());
        assert_eq!(ps.of(&tag), LWW);
        ps.set(&tag, REVIEW).unwrap();
        assert_eq!(ps.of(&tag), REVIEW);
        assert_eq!(ps.of(&Scope::Global), LWW);
        ps.set(&tag, LWW).unwrap();
        assert!(ps.scopes.is_empty(), "the default policy is not stored");
        for i in 0..MAX_POLICIES {
            ps.set(&Scope::Tag(format!("t{i}")), REVIEW).unwrap();
        }
        assert!(ps.set(&Scope::Global, REVIEW).is_err());
        ps.set(&Scope::Tag("t1".into()), REVIEW).unwrap();
    }

    #[test]
    fn a_neuron_is_reviewed_where_any_of_its_scopes_is() {
        let mut ps = ScopePolicies::default();
        let tags = vec!["eu".to_string()];
        assert_eq!(ps.reviewed_scope_of("n1", &tags), None);
        ps.set(&Scope::Tag("us".into()), REVIEW).unwrap();
        assert_eq!(ps.reviewed_scope_of("n1", &tags), None, "not its tag");
        let own = Scope::Neuron("n1".into());
        ps.set(
            &own,
            ScopePolicy {
                mode: ConflictMode::LastWriteWins,
                protected: true,
            },
        )
        .unwrap();
        assert_eq!(ps.reviewed_scope_of("n1", &tags), Some(own));
        assert_eq!(ps.reviewed_scope_of("n2", &tags), None);
        ps.set(&Scope::Tag("eu".into()), REVIEW).unwrap();
        assert_eq!(
            ps.reviewed_scope_of("n2", &tags),
            Some(Scope::Tag("eu".into()))
        );
    }

    #[test]
    fn only_another_editor_or_an_admin_approves() {
        let cr = ChangeRequest {
            id: "c1".into(),
            scope: Scope::Global,
            kind: BundleKind::Config,
            body: serde_json::json!({}),
            audience: Audience::default(),
            base_revision: Some(1),
            reason: ReviewReason::Stale,
            state: ChangeRequestState::Open,
            created_by: "user:ann".into(),
            created_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            decided_by: None,
            decided_at: None,
            applied_revision: None,
            decision_note: String::new(),
            comments: vec![],
        };
        assert!(cr.may_approve("user:ann", crate::Role::Editor).is_err());
        assert!(cr.may_approve("user:ann", crate::Role::Operator).is_err());
        assert!(cr.may_approve("user:ann", crate::Role::Admin).is_ok());
        assert!(cr.may_approve("user:bob", crate::Role::Editor).is_ok());
    }

    #[test]
    fn comments_are_tidied_and_bounded() {
        assert_eq!(
            tidy_text("text", "  fine\u{202e}\u{7}\nline ", 100, false).unwrap(),
            "fine\nline"
        );
        assert!(tidy_text("text", "   ", 100, false).is_err());
        assert_eq!(tidy_text("reason", "", 100, true).unwrap(), "");
        assert!(tidy_text("text", &"x".repeat(101), 100, false).is_err());
    }
}
