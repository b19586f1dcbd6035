//! The HTML shell and the router.

use crate::hydration::HydrationScripts as Hydration;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{lazy_route, path, Lazy, LazyRoute, SsrMode};

use crate::pages::{
    admin, alerts, audit, changes, experiments, federation, home, layout_mutations, login,
    overview, preview, releases, rule, setup, shop, status, suggestions, users,
};

/// The document around every page (server side). Its Content-Security-Policy (set by the
/// hub's security middleware) lets only scripts with this response's nonce (Leptos'
/// hydration scripts) run inline.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The nonce the hub's security middleware put in this response's CSP header.
    #[cfg(feature = "ssr")]
    if let Some(nonce) = use_context::<axum::http::request::Parts>().and_then(|p| {
        p.extensions
            .get::<cortex_server::security::CspNonce>()
            .cloned()
    }) {
        provide_context(leptos::nonce::Nonce::from_value(nonce.0));
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <Hydration options/>
                <MetaTags/>
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900 antialiased">
                <App/>
            </body>
        </html>
    }
}

/// The app: routes for the public pages and the admin area.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Async SSR: each page is rendered whole on the server (data included) before it is
    // sent, so it works without JavaScript and redirects can still set their status.
    let ssr = SsrMode::Async;
    view! {
        <Stylesheet id="leptos" href="/pkg/cortex.css"/>
        <Title formatter=|t: String| if t.is_empty() { "Cortex".to_string() } else { format!("{t} · Cortex") }/>
        <Router>
            <Routes fallback=|| view! { <home::NotFound/> }>
                <Route path=path!("/") view={Lazy::<HomeRoute>::new()} ssr=ssr.clone()/>
                <Route path=path!("/login") view={Lazy::<LoginRoute>::new()} ssr=ssr.clone()/>
                <Route path=path!("/setup") view={Lazy::<SetupRoute>::new()} ssr=ssr.clone()/>
                <Route path=path!("/shop") view=shop::ShopPage ssr=ssr.clone()/>
                <Route path=path!("/shop/:page") view=shop::ShopPage ssr=ssr.clone()/>
                <ParentRoute path=path!("/admin") view={Lazy::<AdminRoute>::new()} ssr=ssr.clone()>
                    <Route path=path!("") view={Lazy::<OverviewRoute>::new()}/>
                    <Route path=path!("federation") view={Lazy::<FederationRoute>::new()}/>
                    <Route path=path!("federation/:section") view={Lazy::<FederationSectionRoute>::new()}/>
                    <Route path=path!("releases") view={Lazy::<ReleasesRoute>::new()}/>
                    <Route path=path!("layout-mutations") view={Lazy::<RulesRoute>::new()}/>
                    <Route path=path!("layout-mutations/preview") view={Lazy::<PreviewRoute>::new()}/>
                    <Route path=path!("layout-mutations/:id") view={Lazy::<RuleRoute>::new()}/>
                    <Route path=path!("experiments") view={Lazy::<ExperimentsRoute>::new()}/>
                    <Route path=path!("suggestions") view={Lazy::<SuggestionsRoute>::new()}/>
                    <Route path=path!("alerts") view={Lazy::<AlertsRoute>::new()}/>
                    <Route path=path!("audit") view={Lazy::<AuditRoute>::new()}/>
                    <Route path=path!("users") view={Lazy::<UsersRoute>::new()}/>
                    <Route path=path!("status") view={Lazy::<StatusRoute>::new()}/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// A page whose code the browser loads only when the page is opened (a split of the WASM
/// bundle, built with `cargo leptos build --split`): storefront visitors never load it. Every
/// page but the storefront's is one; the storefront is what the main bundle is for.
macro_rules! lazy_page {
    ($route:ident, $page:path) => {
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                $page().into_any()
            }
        }
    };
}

lazy_page!(HomeRoute, home::Home);
lazy_page!(LoginRoute, login::LoginPage);
lazy_page!(SetupRoute, setup::SetupPage);
lazy_page!(AdminRoute, admin::AdminShell);
lazy_page!(OverviewRoute, overview::OverviewPage);
lazy_page!(FederationRoute, federation::FederationPage);
lazy_page!(ReleasesRoute, releases::ReleasesPage);
// One route for the federation's sub-pages (scope history, change requests): every route
// adds to the code each storefront visitor downloads, a page behind a shared route does not.
lazy_page!(FederationSectionRoute, changes::FederationSection);
lazy_page!(RulesRoute, layout_mutations::RulesOrMigration);
lazy_page!(PreviewRoute, preview::PreviewPage);
lazy_page!(RuleRoute, rule::RulePage);
lazy_page!(ExperimentsRoute, experiments::ExperimentsPage);
lazy_page!(SuggestionsRoute, suggestions::SuggestionsPage);
lazy_page!(AlertsRoute, alerts::AlertsPage);
lazy_page!(AuditRoute, audit::AuditPage);
lazy_page!(UsersRoute, users::UsersPage);
lazy_page!(StatusRoute, status::StatusPage);
