//! `/shop` and `/shop/:page`: the demo storefront, a "web neuron". Each page's layout comes
//! from the engine: rendered on the server with this visitor's mutations applied, hydrated in
//! the browser from the same resolved layout (serialised into the page once, no second
//! request), complete without JavaScript. If anything about the mutations fails, the base
//! layout renders (the service guarantees it); an unknown page is a 404 message.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_params_map};

use crate::api::shop::shop_page;
use crate::components::{ErrorBox, Loading};

/// A storefront page.
#[component]
pub fn ShopPage() -> impl IntoView {
    let params = use_params_map();
    let location = use_location();
    let page = Resource::new(
        move || {
            let slug = params
                .with(|p| p.get("page"))
                .unwrap_or_else(|| "home".into());
            (slug, location.search.get())
        },
        |(slug, query)| shop_page(slug, query),
    );
    #[cfg(feature = "hydrate")]
    let search = location.search;
    #[cfg(feature = "hydrate")]
    report_in_browser(page, search);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match page.await {
                    Err(e) => view! { <div class="p-8"><ErrorBox error=e/></div> }.into_any(),
                    Ok(shown) => {
                        let applied = shown.applied;
                        let title = applied.layout.root.props.get("title").and_then(|t| t.as_str()).unwrap_or("Shop").to_string();
                        let exposures = applied.exposures.iter().map(|e| match &e.variant_key {
                            Some(v) => format!("{}:{v}", e.rule_id),
                            None => e.rule_id.to_string(),
                        }).collect::<Vec<_>>().join(" ");
                        // Event-triggered rules re-resolve the page in the browser and swap the
                        // layout in place; until then it is exactly the server's.
                        let root = RwSignal::new(applied.layout.root.clone());
                        // The rules waiting for events, when the page has any: on the server
                        // their shared part is written into the HTML as it is; the browser
                        // reads it from there (or, on a page it rendered itself, from the
                        // answer) and leaves the element as it is.
                        let embedded = shown.deferred.is_some().then(|| shown.embedded.clone().unwrap_or_else(|| "".into()));
                        #[cfg(feature = "hydrate")]
                        if let Some(deferred) = shown.deferred {
                            crate::triggers::install(deferred, root, applied.exposures.clone(), user_of(&search.get_untracked()));
                        }
                        view! {
                            <Title text=title/>
                            <div id="shop" class="@container" data-revision=applied.revision.to_string() data-exposures=exposures>
                                {move || crate::modules::render(&root.read())}
                            </div>
                            {embedded.map(|json| view! {
                                <script type="application/json" id=cortex_core::rules::DEFERRED_ELEMENT inner_html=json></script>
                            })}
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// The identified visitor of a query string (`user=`), if any.
pub fn user_of(search: &str) -> Option<String> {
    search
        .trim_start_matches('?')
        .split('&')
        .find_map(|kv| kv.strip_prefix("user="))
        .filter(|u| !u.is_empty())
        .map(str::to_string)
}

/// After hydration: reports clicks, conversions and time on page of the page shown (see
/// [`crate::beacon`]); time on page is sent when the visitor hides or leaves it, or moves
/// to another storefront page.
#[cfg(feature = "hydrate")]
fn report_in_browser(
    page: Resource<Result<crate::api::shop::ShopView, crate::error::AppError>>,
    search: Memo<String>,
) {
    use crate::beacon::{hidden, PageReport};
    use std::rc::Rc;
    let current = StoredValue::new_local(None::<Rc<PageReport>>);
    let dwell = move || current.with_value(|r| r.as_ref().map(|r| r.dwell()));
    Effect::new(move |_| {
        if let Some(Ok(shown)) = page.get() {
            let user = search.with(|q| user_of(q));
            dwell();
            current.set_value(Some(Rc::new(PageReport::new(
                &shown.applied,
                user,
                shown.receipt.clone(),
            ))));
        }
    });
    let click = window_event_listener(leptos::ev::click, move |e| {
        current.with_value(|r| r.as_ref().map(|r| r.click(&e)));
    });
    let scroll = window_event_listener(leptos::ev::scroll, move |_| {
        current.with_value(|r| r.as_ref().map(|r| r.scrolled()));
    });
    let visibility = window_event_listener(leptos::ev::visibilitychange, move |_| {
        if hidden() {
            dwell();
        }
    });
    let leave = window_event_listener(leptos::ev::pagehide, move |_| {
        dwell();
    });
    on_cleanup(move || {
        dwell();
        click.remove();
        scroll.remove();
        visibility.remove();
        leave.remove();
    });
}
