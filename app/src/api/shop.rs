//! The demo storefront's data: the page's layout resolved for this visitor by the engine.
//! Public (visitors are not users). Called during server rendering, so the page arrives with
//! the mutations applied, and the hydrated page reuses the same answer (serialised once).

use crate::error::AppError;
use cortex_core::layout::Layout;
use cortex_core::resolve::Exposure;
use cortex_core::rules::DeferredView;
use leptos::prelude::*;

/// What a storefront page shows its visitor: the resolved layout and the exposures, as in
/// `apply`'s answer, without its explain trace and warnings. A storefront never shows those,
/// and the code that reads them would otherwise be part of every visitor's download.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShownPage {
    pub page_slug: cortex_core::ids::PageSlug,
    /// The rule-set revision used.
    pub revision: cortex_core::ids::Revision,
    /// The base layout version used.
    pub layout_version: u32,
    pub layout: Layout,
    pub exposures: Vec<Exposure>,
}

#[cfg(feature = "ssr")]
impl From<&cortex_core::rules::Applied> for ShownPage {
    fn from(a: &cortex_core::rules::Applied) -> Self {
        ShownPage {
            page_slug: a.page_slug.clone(),
            revision: a.revision,
            layout_version: a.layout_version,
            layout: a.layout.clone(),
            exposures: a.exposures.clone(),
        }
    }
}

/// A storefront page for one visitor: the layout resolved on the server, and (when a rule
/// for the page waits for an event) what the browser needs to apply such rules itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ShopView {
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub applied: ShownPage,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub deferred: Option<DeferredView>,
    /// While the page is rendered on the server: the shared part of `deferred`, which the
    /// page then carries in its HTML (see [`cortex_core::rules::DEFERRED_ELEMENT`]) rather
    /// than in its hydration data, where it would be escaped again for every visitor.
    #[serde(skip)]
    #[cfg_attr(feature = "ssr", schema(ignore))]
    pub embedded: Option<std::sync::Arc<str>>,
    /// What the hub showed this visitor, signed: the page's beacon sends it with its events
    /// (the hub counts only events that fit it).
    pub receipt: String,
}

/// What is known about this visitor: the visitor cookie (set if missing), user agent,
/// referrer, language, the variants seen in bandit experiments (a cookie), and the page's
/// query string: `user` (an identified visitor keeps
/// their variants on every device), `persona`, `stage`, `device`, `hike` (the quiz), `utm_*`.
#[cfg(feature = "ssr")]
fn visitor_context(slug: &str, query: &str) -> cortex_core::context::Context {
    use axum::http::header;
    use cortex_core::context::{Context, Device};
    let parts = use_context::<axum::http::request::Parts>();
    let head = |name: header::HeaderName| {
        parts
            .as_ref()
            .and_then(|p| p.headers.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let params = cortex_server::mutations::query_pairs(query);
    let param = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    use cortex_server::mutations::http::{valid_visitor_id, VISITOR_COOKIE};
    let anonymous = super::guard::request_cookie(VISITOR_COOKIE)
        .filter(|v| valid_visitor_id(v))
        .unwrap_or_else(|| {
            let id = cortex_server::mutations::new_visitor_id();
            if let Some(cookies) = super::guard::cookies() {
                super::guard::set_cookie(&cookies.visitor(&id));
            }
            id
        });
    let mut quiz = serde_json::Map::new();
    if let Some(h) = param("hike") {
        quiz.insert("hike".into(), serde_json::Value::String(h));
    }
    Context {
        user_id: param("user"),
        anonymous_id: Some(anonymous),
        persona: param("persona"),
        journey_stage: param("stage"),
        quiz,
        locale: head(header::ACCEPT_LANGUAGE)
            .and_then(|l| l.split([',', ';']).next().map(|s| s.trim().to_string())),
        user_agent: head(header::USER_AGENT),
        device: param("device")
            .and_then(|d| serde_json::from_value::<Device>(serde_json::Value::String(d)).ok()),
        referrer: head(header::REFERER),
        url: Some(format!(
            "/shop/{slug}{}{query}",
            if query.is_empty() || query.starts_with('?') {
                ""
            } else {
                "?"
            }
        )),
        sticky: super::guard::request_cookie(cortex_server::web::STICKY_COOKIE)
            .map(|c| cortex_server::mutations::sticky::decode(&c))
            .unwrap_or_default(),
        ..Context::default()
    }
}

/// The demo storefront page `slug` (`home`, `sale`, …) with this visitor's mutations
/// applied. `query` is the page's query string. Public.
#[server(name = ShopPage, prefix = "/api", endpoint = "shop/page", input = leptos::server_fn::codec::GetUrl, output = super::TextJson)]
pub async fn shop_page(slug: String, query: String) -> Result<ShopView, AppError> {
    use cortex_core::ErrorCode;
    let services = use_context::<cortex_server::Services>()
        .ok_or_else(|| AppError::new(ErrorCode::Internal, "services missing from context"))?;
    if slug.len() > 100 || query.len() > 2000 {
        return Err(AppError::new(
            ErrorCode::BadRequest,
            "slug: at most 100 characters; query: at most 2000",
        ));
    }
    let context = visitor_context(&slug, &query);
    let unit = context.user_id.clone().or(context.anonymous_id.clone());
    // No database needed: the rule set in force is in memory (or from the snapshot).
    let page = services
        .mutations
        .apply_in_page(&slug, &context, chrono::Utc::now());
    if let Err(e) = &page {
        // Rendered inside the page: the page itself is the 404.
        if e.code == ErrorCode::NotFound {
            if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
                res.set_status(axum::http::StatusCode::NOT_FOUND);
            }
        }
    }
    let mut page = page?;
    // Rendering the page (not answering a call to this function from the browser): the
    // shared part goes into the HTML; otherwise into the answer.
    let in_html = use_context::<axum::http::request::Parts>()
        .is_some_and(|p| !p.uri.path().starts_with("/api/"));
    if !in_html {
        page.carry_page();
    }
    let cortex_server::mutations::in_page::InPage {
        applied,
        deferred,
        embeddable,
        possible,
    } = page;
    let embedded = embeddable.filter(|_| in_html);
    let segment = context.segment(chrono::Utc::now());
    let receipt = cortex_server::mutations::http::storefront_receipt(
        &services.receipts,
        unit.clone(),
        segment.clone(),
        &applied,
        &possible,
    );
    // A bandit's visitor keeps the variant they saw here while its weights move.
    if let (Some(sticky), Some(cookies)) = (
        services
            .mutations
            .sticky_after(&context.sticky, &applied.exposures),
        super::guard::cookies(),
    ) {
        let value = cortex_server::mutations::sticky::encode(&sticky);
        super::guard::set_cookie(&cookies.sticky(&value));
    }
    // Page view and exposures are counted here, so they are counted without JavaScript too.
    cortex_server::mutations::http::record_storefront_view(
        &services.analytics,
        unit,
        segment,
        &applied,
    );
    Ok(ShopView {
        applied: ShownPage::from(&applied),
        deferred,
        embedded,
        receipt,
    })
}
