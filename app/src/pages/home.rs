//! The landing page and the 404 page.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::auth::setup_state;
use crate::components::{Loading, CARD};

/// `/`: what Cortex is and where to go next.
#[component]
pub fn Home() -> impl IntoView {
    let setup_open = Resource::new(|| (), |_| setup_state());
    view! {
        <Title text=""/>
        <main class="mx-auto max-w-2xl px-6 py-16">
            <h1 class="text-3xl font-bold tracking-tight">"Cortex"</h1>
            <p class="mt-3 text-slate-600">
                "Federates a fleet of apps (neurons) and rewrites their page layouts per visitor in real time."
            </p>
            <div class=format!("{CARD} mt-8")>
                <Suspense fallback=Loading>
                    {move || Suspend::new(async move {
                        match setup_open.await {
                            Ok(true) => view! {
                                <p class="text-sm text-slate-700" id="setup-hint">
                                    "No admin exists yet. Open the one-time setup link that Cortex printed when it started (it is also in the server log)."
                                </p>
                            }.into_any(),
                            _ => view! {
                                <a href="/admin" class="font-semibold text-indigo-600 hover:underline">"Go to the admin console →"</a>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </main>
    }
}

/// Any unknown path.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <main class="mx-auto max-w-2xl px-6 py-16">
            <h1 class="text-2xl font-bold">"Page not found"</h1>
            <p class="mt-2 text-slate-600"><a class="text-indigo-600 hover:underline" href="/">"Back to the start"</a></p>
        </main>
    }
}
