//! A rule's history: every version, newest first, each with the diff from the version
//! before it.

use cortex_core::rules::{comparable, DiffLine, HistoryEntry};
use cortex_core::user::Principal;
use cortex_core::{ErrorCode, Role};

use super::Mutations;
use crate::auth::require_role;
use crate::error::ApiError;

impl Mutations {
    /// Every version of rule `id`, newest first, with what changed from the one before
    /// (404 for a rule with none). Viewer.
    pub async fn rule_history(
        &self,
        id: &str,
        who: &Principal,
    ) -> Result<Vec<HistoryEntry>, ApiError> {
        require_role(who, Role::Viewer)?;
        let versions = self.store.rule_history(id).await?;
        if versions.is_empty() {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("no rule `{id}`"),
            ));
        }
        Ok(versions
            .iter()
            .enumerate()
            .map(|(i, v)| HistoryEntry {
                diff: versions
                    .get(i + 1)
                    .map(|older| diff_lines(&comparable(older), &comparable(v)))
                    .unwrap_or_default(),
                version: v.clone(),
            })
            .collect())
    }
}

/// Lines changed from `old` to `new`, with two lines of context around each change.
pub fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    use similar::{ChangeTag, TextDiff};
    let diff = TextDiff::from_lines(old, new);
    let mut out = Vec::new();
    for (i, group) in diff.grouped_ops(2).iter().enumerate() {
        if i > 0 {
            out.push(DiffLine {
                tag: "…".into(),
                text: String::new(),
            });
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let tag = match change.tag() {
                    ChangeTag::Delete => "-",
                    ChangeTag::Insert => "+",
                    ChangeTag::Equal => " ",
                };
                out.push(DiffLine {
                    tag: tag.into(),
                    text: change.value().trim_end_matches('\n').to_string(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_diff_shows_changed_lines_with_context_and_elides_the_rest() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
        let new = "A\nb\nc\nd\ne\nf\ng\nh\nI\n";
        let tags: String = super::diff_lines(old, new)
            .iter()
            .map(|l| l.tag.as_str())
            .collect();
        assert_eq!(tags, "-+  …  -+");
        assert!(super::diff_lines(old, old).is_empty());
    }
}
