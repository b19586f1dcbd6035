//! The rule list of the admin console.

use crate::error::AppError;
use cortex_core::rules::RuleRow;
use leptos::prelude::*;

/// Layout mutation rules (the newest version of each), filtered: `page` (slug), `layer`,
/// `kind` (mutation type), `status` (active, inactive, broken, deleted; deleted rules are
/// listed only when asked for), `created_by` (substring), `q` (substring of the id). Viewer.
#[server(name = ListRules, prefix = "/api", endpoint = "layout-mutation/rules", input = leptos::server_fn::codec::GetUrl)]
pub async fn list_rules(
    page: Option<String>,
    layer: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    created_by: Option<String>,
    q: Option<String>,
) -> Result<Vec<RuleRow>, AppError> {
    use cortex_core::{ErrorCode, Role};
    let (services, _) = super::guard::require(Role::Viewer)?;
    let bad = |m: String| AppError::new(ErrorCode::BadRequest, m);
    let given = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let (page, layer, kind, status, created_by, q) = (
        given(page),
        given(layer),
        given(kind),
        given(status),
        given(created_by),
        given(q),
    );
    let one_of = |name: &str, v: &Option<String>, allowed: &[&str]| match v {
        Some(v) if !allowed.contains(&v.as_str()) => Err(bad(format!(
            "{name}: `{v}` is not one of {}",
            allowed.join(", ")
        ))),
        _ => Ok(()),
    };
    one_of("layer", &layer, &["global", "page", "module", "section"])?;
    one_of(
        "kind",
        &kind,
        &[
            "reorder", "insert", "replace", "hide", "props", "theme", "variant",
        ],
    )?;
    one_of(
        "status",
        &status,
        &["active", "inactive", "broken", "deleted"],
    )?;
    if [&page, &created_by, &q]
        .iter()
        .any(|v| v.as_ref().is_some_and(|v| v.chars().count() > 100))
    {
        return Err(bad("filters: at most 100 characters each".into()));
    }
    let heads = services
        .store
        .rule_heads()
        .await
        .map_err(cortex_server::ApiError::from)?;
    let broken = services.mutations.current().broken.clone();
    Ok(heads
        .into_iter()
        .map(|v| RuleRow {
            broken: broken.get(&v.rule.id).cloned(),
            version: v,
        })
        .filter(|r| {
            let rule = &r.version.rule;
            page.as_ref().is_none_or(|p| &rule.page_slug == p)
                && layer.as_ref().is_none_or(|l| rule.layer.as_str() == l)
                && kind.as_ref().is_none_or(|k| rule.mutation_type() == k)
                && match &status {
                    Some(s) => r.status() == s,
                    None => !r.version.deleted,
                }
                && created_by
                    .as_ref()
                    .is_none_or(|c| rule.created_by.contains(c.as_str()))
                && q.as_ref().is_none_or(|q| rule.id.contains(q.as_str()))
        })
        .collect())
}
