//! Which rules the rule list shows: by page, layer, mutation type, status, author and id.
//! Deleted rules are listed only when asked for by status.

use super::RuleRow;

/// Layers a rule can be on.
pub const LAYERS: [&str; 4] = ["global", "page", "module", "section"];
/// Mutation types.
pub const KINDS: [&str; 7] = [
    "reorder", "insert", "replace", "hide", "props", "theme", "variant",
];
/// Statuses of a rule in the list (see [`RuleRow::status`]).
pub const STATUSES: [&str; 4] = ["active", "inactive", "broken", "deleted"];
/// Longest free-text filter.
pub const MAX_FILTER_CHARS: usize = 100;

/// A filter of the rule list; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleFilter {
    pub page: Option<String>,
    pub layer: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    /// A substring of who wrote the newest version.
    pub created_by: Option<String>,
    /// A substring of the rule's id.
    pub q: Option<String>,
}

impl RuleFilter {
    /// A filter from what a form or query string gave (blank means not given), checked:
    /// the error names the field.
    pub fn parse(
        page: Option<String>,
        layer: Option<String>,
        kind: Option<String>,
        status: Option<String>,
        created_by: Option<String>,
        q: Option<String>,
    ) -> Result<Self, String> {
        let given = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let filter = Self {
            page: given(page),
            layer: given(layer),
            kind: given(kind),
            status: given(status),
            created_by: given(created_by),
            q: given(q),
        };
        let one_of = |name: &str, v: &Option<String>, allowed: &[&str]| match v {
            Some(v) if !allowed.contains(&v.as_str()) => Err(format!(
                "{name}: `{v}` is not one of {}",
                allowed.join(", ")
            )),
            _ => Ok(()),
        };
        one_of("layer", &filter.layer, &LAYERS)?;
        one_of("kind", &filter.kind, &KINDS)?;
        one_of("status", &filter.status, &STATUSES)?;
        if [&filter.page, &filter.created_by, &filter.q]
            .iter()
            .any(|v| {
                v.as_ref()
                    .is_some_and(|v| v.chars().count() > MAX_FILTER_CHARS)
            })
        {
            return Err(format!(
                "filters: at most {MAX_FILTER_CHARS} characters each"
            ));
        }
        Ok(filter)
    }

    /// Whether the list shows `row`.
    pub fn matches(&self, row: &RuleRow) -> bool {
        let rule = &row.version.rule;
        self.page.as_ref().is_none_or(|p| &rule.page_slug == p)
            && self.layer.as_ref().is_none_or(|l| rule.layer.as_str() == l)
            && self.kind.as_ref().is_none_or(|k| rule.mutation_type() == k)
            && match &self.status {
                Some(s) => row.status() == s,
                None => !row.version.deleted,
            }
            && self
                .created_by
                .as_ref()
                .is_none_or(|c| rule.created_by.contains(c.as_str()))
            && self.q.as_ref().is_none_or(|q| rule.id.contains(q.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(layer: &str, kind: &str, status: &str, q: &str) -> Result<RuleFilter, String> {
        let s = |v: &str| Some(v.to_string());
        RuleFilter::parse(None, s(layer), s(kind), s(status), None, s(q))
    }

    #[test]
    fn filters_are_checked_and_blank_means_any() {
        assert_eq!(parse(" ", "", "", "").unwrap(), RuleFilter::default());
        assert!(parse("page", "hide", "broken", "x").is_ok());
        assert!(parse("floor", "", "", "")
            .unwrap_err()
            .starts_with("layer:"));
        assert!(parse("", "move", "", "").unwrap_err().starts_with("kind:"));
        assert!(parse("", "", "gone", "")
            .unwrap_err()
            .starts_with("status:"));
        assert!(parse("", "", "", &"x".repeat(101))
            .unwrap_err()
            .starts_with("filters:"));
    }

    #[test]
    fn every_layer_is_listed() {
        use crate::mutation::Layer;
        for l in [Layer::Global, Layer::Page, Layer::Module, Layer::Section] {
            assert!(LAYERS.contains(&l.as_str()), "{l:?}");
        }
    }
}
