//! The rule list of the admin console.

use crate::error::AppError;
use cortex_core::rules::RuleRow;
#[cfg(feature = "ssr")]
use cortex_server::store::layouts::Head;
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
    use cortex_core::{rules::RuleFilter, ErrorCode, Role};
    let (services, who) = super::guard::require(Role::Viewer)?;
    let filter = RuleFilter::parse(page, layer, kind, status, created_by, q)
        .map_err(|m| AppError::new(ErrorCode::BadRequest, m))?;
    Ok(services.mutations.list_rules(&filter, &who).await?)
}

pub use cortex_core::rules::{DiffLine, HistoryEntry};

/// A rule for its admin page: its newest version and status, every version with its diff
/// (newest first), its impact per variant, and the pages and nodes a rule can target.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RuleDetail {
    pub row: RuleRow,
    pub history: Vec<HistoryEntry>,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub report: cortex_core::report::LayoutReport,
    /// The rule in the rule form, or `None` when the form cannot show all of it (then it is
    /// edited as JSON).
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub form: Option<RuleForm>,
    /// What the decision engine makes of the rule's running experiment now, over its whole
    /// runtime (none: no running experiment).
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    #[serde(default)]
    pub decision: Option<cortex_core::mutation::Decision>,
    /// Where the rule's guard stands on its newest change (none: no guard watching).
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    #[serde(default)]
    pub guard: Option<cortex_core::stats::guard::GuardStatus>,
    /// Where visitors clicked over the report's range, per variant.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    #[serde(default)]
    pub heatmap: cortex_core::heatmap::Heatmap,
}

/// The start of every single-rule change: an editor, a writable database, a sane id.
#[cfg(feature = "ssr")]
fn editor_on_rule(
    id: &str,
) -> Result<
    (
        cortex_server::Services,
        cortex_core::user::Principal,
        String,
    ),
    AppError,
> {
    let (services, principal) = super::guard::require(cortex_core::Role::Editor)?;
    super::guard::require_writable(&services)?;
    Ok((services, principal, checked_id(id)?))
}

#[cfg(feature = "ssr")]
fn checked_id(id: &str) -> Result<String, AppError> {
    let id = id.trim();
    if id.is_empty() || id.chars().count() > 100 {
        return Err(AppError::new(
            cortex_core::ErrorCode::BadRequest,
            "id: 1-100 characters",
        ));
    }
    Ok(id.to_string())
}

/// One rule: newest version and status, history with diffs, impact (the last 30 days).
/// Viewer.
#[server(name = RuleDetails, prefix = "/api", endpoint = "layout-mutation/rule", input = leptos::server_fn::codec::GetUrl)]
pub async fn rule_detail(id: Option<String>) -> Result<RuleDetail, AppError> {
    use cortex_core::{report::ReportQuery, Role};
    let (services, who) = super::guard::require(Role::Viewer)?;
    let id = checked_id(id.as_deref().unwrap_or_default())?;
    let history = services.mutations.rule_history(&id, &who).await?;
    let head = history[0].version.clone();
    let report = services
        .mutations
        .report(
            &ReportQuery {
                rule: Some(id.clone()),
                ..ReportQuery::default()
            },
            chrono::Utc::now(),
        )
        .await?;
    let decision = services.mutations.suggestion(&id, &who).await?;
    let guard = services.mutations.guard_status(&id, &who).await?;
    let heatmap = services
        .mutations
        .heatmap(&id, report.from, report.to, &who)
        .await?;
    let loaded = services.mutations.current();
    let form = (!head.deleted)
        .then(|| loaded.layout(&head.rule.page_slug))
        .flatten()
        .and_then(|l| crate::rule_form::form_from_rule(&head.rule, l.root.id.as_str()));
    Ok(RuleDetail {
        row: RuleRow {
            broken: loaded.broken.get(id.as_str()).cloned(),
            version: head,
        },
        history,
        report,
        form,
        decision,
        guard,
        heatmap,
    })
}

/// Carries out what the decision engine suggests for the rule's running experiment now
/// (promote the winner, or switch a losing variant off), as this editor's decision: a new
/// version that records the decision and its numbers, audited as `layout-mutation.decide`.
/// `version`: the version the editor looked at; `decision`: what the editor saw suggested
/// (`promote b` or `demote b`). If either changed since, nothing is done (409). Editor.
#[server(name = DecideRule, prefix = "/api", endpoint = "layout-mutation/decide")]
pub async fn decide_rule(
    id: String,
    version: u32,
    decision: String,
) -> Result<cortex_core::rules::RuleVersion, AppError> {
    let (services, principal, id) = editor_on_rule(&id)?;
    if decision.len() > 200 {
        return Err(AppError::new(
            cortex_core::ErrorCode::BadRequest,
            "decision: at most 200 characters, e.g. `promote b`",
        ));
    }
    Ok(services
        .mutations
        .decide_now(&id, version, &decision, &principal)
        .await?)
}

/// Undoes the decision (automatic or not) that wrote the rule's newest version: the version
/// before it comes back with its policy set to `manual`, so the engine does not decide the
/// same again by itself. `version`: the version the decision wrote (409 if the rule has
/// changed since). Audited as `layout-mutation.undo-decision`. Editor.
#[server(name = UndoDecision, prefix = "/api", endpoint = "layout-mutation/undo-decision")]
pub async fn undo_decision(
    id: String,
    version: u32,
) -> Result<cortex_core::rules::RuleVersion, AppError> {
    let (services, principal, id) = editor_on_rule(&id)?;
    Ok(services
        .mutations
        .undo_decision(&id, version, &principal)
        .await?)
}

/// Restores exactly version `version` of a rule as its newest version (audited as
/// `layout-mutation.rollback`). Editor.
#[server(name = RollbackRule, prefix = "/api", endpoint = "layout-mutation/rollback")]
pub async fn rollback_rule(
    id: String,
    version: u32,
) -> Result<cortex_core::rules::RuleVersion, AppError> {
    let (services, principal, id) = editor_on_rule(&id)?;
    Ok(services
        .mutations
        .rollback_rule(&id, Some(version), &principal)
        .await?)
}

/// Switches a rule on or off (a new version, audited). Editor.
#[server(name = SetRuleActive, prefix = "/api", endpoint = "layout-mutation/set-active")]
pub async fn set_rule_active(
    id: String,
    active: bool,
) -> Result<cortex_core::rules::RuleVersion, AppError> {
    let (services, principal, id) = editor_on_rule(&id)?;
    Ok(services
        .mutations
        .set_active(&id, active, &principal)
        .await?)
}

/// Deletes a rule (`deleted: true`) or restores a deleted one (`false`); a new version,
/// audited. Editor.
#[server(name = SetRuleDeleted, prefix = "/api", endpoint = "layout-mutation/set-deleted")]
pub async fn set_rule_deleted(
    id: String,
    deleted: bool,
) -> Result<cortex_core::rules::RuleVersion, AppError> {
    let (services, principal, id) = editor_on_rule(&id)?;
    Ok(services
        .mutations
        .set_deleted(&id, deleted, &principal)
        .await?)
}

/// Creates a rule or saves a new version of one, from its JSON (`rule`); validated (the
/// error names the field) and audited. Editor. A `version` in the JSON names the version the
/// editor read: if the rule has changed since, nothing is saved (409). Without one (or 0),
/// the save replaces whatever version is newest.
#[server(name = SaveRule, prefix = "/api", endpoint = "layout-mutation/save")]
pub async fn save_rule(rule: String) -> Result<cortex_core::rules::RuleVersion, AppError> {
    use cortex_core::{ErrorCode, Role};
    let (services, principal) = super::guard::require(Role::Editor)?;
    super::guard::require_writable(&services)?;
    if rule.len() > cortex_core::rules::MAX_RULE_BYTES {
        return Err(AppError::new(
            ErrorCode::PayloadTooLarge,
            format!("rule: at most {} bytes", cortex_core::rules::MAX_RULE_BYTES),
        ));
    }
    let value: serde_json::Value = serde_json::from_str(&rule)
        .map_err(|e| AppError::new(ErrorCode::BadRequest, format!("rule: {e}")))?;
    // A `version` is the one the editor read: saved only if it is still the newest.
    let expect = match value.get("version").and_then(serde_json::Value::as_u64) {
        None | Some(0) => Head::Any,
        Some(v) => Head::Version(
            u32::try_from(v)
                .map_err(|_| AppError::new(ErrorCode::BadRequest, "version: too large"))?,
        ),
    };
    Ok(services
        .mutations
        .save_rule_json(value, expect, &principal)
        .await?)
}

pub use crate::rule_form::RuleForm;

/// The rule a form describes, checked against the target page (the error names the field).
#[cfg(feature = "ssr")]
fn rule_of_form(
    services: &cortex_server::Services,
    form: &RuleForm,
) -> Result<serde_json::Value, String> {
    let page = form.page().ok_or("target: pick a node of a page")?;
    let loaded = services.mutations.current();
    let layout = loaded
        .layout(page)
        .ok_or_else(|| format!("target: no page `{page}`"))?;
    crate::rule_form::rule_from_form(form, layout.root.id.as_str())
}

/// Creates a rule from the rule form (the target picked from the page's tree). The id must
/// be new. Validated like every save (errors name the field), audited. Editor.
#[server(name = CreateRule, prefix = "/api", endpoint = "layout-mutation/create")]
pub async fn create_rule(
    #[server(flatten)] form: RuleForm,
) -> Result<cortex_core::rules::RuleVersion, AppError> {
    use cortex_core::Role;
    let (services, principal) = super::guard::require(Role::Editor)?;
    super::guard::require_writable(&services)?;
    let value = rule_of_form(&services, &form)
        .map_err(|m| AppError::new(cortex_core::ErrorCode::BadRequest, m))?;
    let created = services.mutations.create_rule(value, &principal).await?;
    if super::guard::plain_form_post() {
        leptos_axum::redirect(&format!(
            "/admin/layout-mutations/{}?created=1",
            cortex_core::urls::encode_component(created.rule.id.as_str())
        ));
    }
    Ok(created)
}

/// Saves a new version of a rule from the rule form. `base_version` is the version the form
/// was filled from: if the rule has changed since, nothing is saved (409). The rule keeps
/// its on/off state. Validated (errors name the field), audited. Editor.
#[server(name = UpdateRule, prefix = "/api", endpoint = "layout-mutation/update")]
pub async fn update_rule(
    #[server(flatten)] form: RuleForm,
) -> Result<cortex_core::rules::RuleVersion, AppError> {
    use cortex_core::ErrorCode;
    let (services, principal, id) = editor_on_rule(&form.id)?;
    let base: u32 = form.base_version.trim().parse().map_err(|_| {
        AppError::new(
            ErrorCode::BadRequest,
            "base_version: the version the form was filled from",
        )
    })?;
    let saved = services
        .mutations
        .update_rule(&id, base, &principal, || rule_of_form(&services, &form))
        .await?;
    if super::guard::plain_form_post() {
        leptos_axum::redirect(&format!(
            "/admin/layout-mutations/{}?saved={}",
            cortex_core::urls::encode_component(saved.rule.id.as_str()),
            saved.rule.version
        ));
    }
    Ok(saved)
}

/// A node of a page's base layout, as the switches and the rule form list them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PageNode {
    pub id: String,
    /// Its module type.
    pub kind: String,
    /// 0 for the page itself.
    pub depth: u32,
    /// Mutations are switched off here (by this node or one around it).
    pub off: bool,
    /// Switched off by this node itself (so switching it on again is here).
    pub own: bool,
}

/// A page with its newest base layout's nodes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PageNodes {
    pub page_slug: String,
    pub layout_version: u32,
    pub nodes: Vec<PageNode>,
}

#[cfg(feature = "ssr")]
fn page_nodes(layout: &cortex_core::layout::Layout) -> PageNodes {
    fn go(n: &cortex_core::layout::Node, depth: u32, outer: bool, out: &mut Vec<PageNode>) {
        let off = outer || n.locked;
        out.push(PageNode {
            id: n.id.to_string(),
            kind: n.kind.to_string(),
            depth,
            off,
            own: n.locked,
        });
        for c in &n.children {
            go(c, depth + 1, off, out);
        }
    }
    let mut nodes = Vec::new();
    go(&layout.root, 0, false, &mut nodes);
    PageNodes {
        page_slug: layout.page_slug.to_string(),
        layout_version: layout.version,
        nodes,
    }
}

/// Every page with its modules and where mutations are switched off. Viewer.
#[server(name = LayoutPages, prefix = "/api", endpoint = "layout-mutation/pages", input = leptos::server_fn::codec::GetUrl)]
pub async fn layout_pages() -> Result<Vec<PageNodes>, AppError> {
    use cortex_core::Role;
    let (services, _) = super::guard::require(Role::Viewer)?;
    let loaded = services.mutations.current();
    let mut pages: Vec<PageNodes> = loaded.set.layouts.iter().map(page_nodes).collect();
    pages.sort_by(|a, b| a.page_slug.cmp(&b.page_slug));
    Ok(pages)
}

/// Switches mutations off (`off: true`) or on again for a module and everything inside it,
/// or for a whole page (`node` = the page's root). Saved as a new version of the page's base
/// layout (audited as layout.save, pushed to every neuron); rules that would change a
/// switched-off node are skipped, with the reason in the trace. Editor.
#[server(name = SwitchMutations, prefix = "/api", endpoint = "layout-mutation/switch")]
pub async fn switch_mutations(
    page: String,
    node: String,
    off: bool,
) -> Result<PageNodes, AppError> {
    use cortex_core::{ErrorCode, Role};
    let (services, principal) = super::guard::require(Role::Editor)?;
    super::guard::require_writable(&services)?;
    let mut layout = services
        .mutations
        .current()
        .layout(page.trim())
        .cloned()
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, format!("page: no page `{page}`")))?;
    let id = cortex_core::layout::NodeId::new(node.trim());
    let target = cortex_core::layout::ops::find_mut(&mut layout.root, &id).ok_or_else(|| {
        AppError::new(
            ErrorCode::NotFound,
            format!("node: page `{page}` has no node `{node}`"),
        )
    })?;
    if target.locked == off {
        return Ok(page_nodes(&layout));
    }
    target.locked = off;
    let saved = services.mutations.save_layout(layout, &principal).await?;
    Ok(page_nodes(&saved))
}

/// A page for a visitor described in the preview form, next to its base layout.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Preview {
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub base: cortex_core::layout::Layout,
    /// With the explain trace.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub applied: cortex_core::rules::Applied,
    /// The context it was resolved for.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub context: cortex_core::context::Context,
}

/// The preview form's fields, as given (empty means not set).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PreviewForm {
    pub page: Option<String>,
    pub user: Option<String>,
    pub device: Option<String>,
    pub persona: Option<String>,
    pub stage: Option<String>,
    pub locale: Option<String>,
    pub hike: Option<String>,
    pub referrer: Option<String>,
    /// Campaign tags as in a URL, e.g. `utm_medium=email&utm_campaign=bf`.
    pub utm: Option<String>,
    /// `YYYY-MM-DDTHH:MM` (UTC), as a datetime-local input gives it; empty: now.
    pub at: Option<String>,
    /// What the visitor did on the page: `exitIntent`, `scrolled` (to the bottom),
    /// `stayed` (ten minutes), `all`; empty: nothing yet.
    pub did: Option<String>,
}

impl PreviewForm {
    /// The visitor's context and the instant to resolve at, or which field is wrong.
    pub fn context(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(cortex_core::context::Context, chrono::DateTime<chrono::Utc>), String> {
        use cortex_core::context::{Context, Device};
        fn given(v: &Option<String>) -> Option<String> {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        }
        let all = [
            &self.page,
            &self.user,
            &self.device,
            &self.persona,
            &self.stage,
            &self.locale,
            &self.hike,
            &self.referrer,
            &self.utm,
            &self.at,
        ];
        if all
            .iter()
            .any(|v| v.as_ref().is_some_and(|v| v.chars().count() > 200))
        {
            return Err("fields: at most 200 characters each".into());
        }
        let device = match given(&self.device).as_deref() {
            None => None,
            Some("mobile") => Some(Device::Mobile),
            Some("tablet") => Some(Device::Tablet),
            Some("desktop") => Some(Device::Desktop),
            Some(d) => {
                return Err(format!(
                    "device: `{d}` is not one of mobile, tablet, desktop"
                ))
            }
        };
        let at = match given(&self.at) {
            None => now,
            Some(t) => chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M")
                .map(|t| t.and_utc())
                .or_else(|_| t.parse::<chrono::DateTime<chrono::Utc>>())
                .map_err(|_| format!("at: `{t}` is not a time like 2026-11-29T22:30"))?,
        };
        let mut quiz = serde_json::Map::new();
        if let Some(h) = given(&self.hike) {
            quiz.insert("hike".into(), h.into());
        }
        let context = Context {
            user_id: given(&self.user),
            anonymous_id: Some("preview".into()),
            persona: given(&self.persona),
            journey_stage: given(&self.stage),
            quiz,
            locale: given(&self.locale),
            device,
            referrer: given(&self.referrer),
            url: given(&self.utm).map(|s| format!("/shop?{}", s.trim_start_matches('?'))),
            utc_offset_minutes: Some(0),
            ..Context::default()
        };
        Ok((context, at))
    }

    /// The events the form says happened, or which field is wrong.
    pub fn events(&self) -> Result<Vec<cortex_core::mutation::TriggerEvent>, String> {
        use cortex_core::mutation::TriggerEvent as E;
        let exit = || E::ExitIntent;
        let scrolled = || E::ScrollDepth { percent: 100 };
        let stayed = || E::TimeOnPage { seconds: 600 };
        Ok(
            match self.did.as_deref().map(str::trim).unwrap_or_default() {
                "" => vec![],
                "exitIntent" => vec![exit()],
                "scrolled" => vec![scrolled()],
                "stayed" => vec![stayed()],
                "all" => vec![exit(), scrolled(), stayed()],
                other => {
                    return Err(format!(
                        "did: `{other}` is not one of exitIntent, scrolled, stayed, all"
                    ))
                }
            },
        )
    }
}

/// A page as a described visitor would see it, with its base layout and the explain trace:
/// `page` (default home), `user`, `device`, `persona`, `stage`, `locale`, `hike` (the quiz
/// answer), `referrer`, `utm`, `at` (a UTC time; default now). Counts nothing.
/// Viewer.
#[server(name = PreviewPage, prefix = "/api", endpoint = "layout-mutation/preview", input = leptos::server_fn::codec::GetUrl)]
#[allow(clippy::too_many_arguments)]
pub async fn preview_page(
    page: Option<String>,
    user: Option<String>,
    device: Option<String>,
    persona: Option<String>,
    stage: Option<String>,
    locale: Option<String>,
    hike: Option<String>,
    referrer: Option<String>,
    utm: Option<String>,
    at: Option<String>,
    did: Option<String>,
) -> Result<Preview, AppError> {
    use cortex_core::{rules::ApplyRequest, ErrorCode, Role};
    let (services, _) = super::guard::require(Role::Viewer)?;
    let form = PreviewForm {
        page,
        user,
        device,
        persona,
        stage,
        locale,
        hike,
        referrer,
        utm,
        at,
        did,
    };
    let (context, at) = form
        .context(chrono::Utc::now())
        .map_err(|m| AppError::new(ErrorCode::BadRequest, m))?;
    let events = form
        .events()
        .map_err(|m| AppError::new(ErrorCode::BadRequest, m))?;
    let page = form
        .page
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .unwrap_or("home")
        .to_string();
    let base = services
        .mutations
        .current()
        .layout(&page)
        .cloned()
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, format!("page: no page `{page}`")))?;
    let applied = services
        .mutations
        .apply(
            &ApplyRequest {
                page_slug: page.into(),
                context: context.clone(),
                layout_version: None,
                explain: true,
                events,
            },
            at,
        )
        .await?;
    Ok(Preview {
        base,
        applied,
        context,
    })
}
