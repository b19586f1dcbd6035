//! The admin shell: navigation, who is signed in, sign-out.

use cortex_core::user::Principal;
use cortex_core::Role;
use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};

use crate::api::auth::{current_user, Logout};
use crate::components::{ErrorBox, Loading};

/// Wraps every `/admin` page: the navigation, who is signed in, sign-out; anonymous visitors
/// are sent to `/login`.
///
/// The page itself (the `Outlet`) sits outside the suspense that waits for the signed-in
/// user. Inside it, the server built the page once per run of that suspense (two or three
/// times), so every resource of the page was fetched and serialised that many times: the HTML
/// came from the last fetch while the browser, which builds the page once, hydrated from the
/// first. When the data changed in between (an exposure arriving), hydration broke. The
/// page's own server functions refuse anonymous callers, so rendering it beside the redirect
/// shows them nothing.
#[component]
pub fn AdminShell() -> impl IntoView {
    let me = Resource::new(|| (), |_| current_user());
    // A navigation inside the app (however it started) folds the phone menu again.
    let location = leptos_router::hooks::use_location();
    Effect::new(move |previous: Option<String>| {
        let path = location.pathname.get();
        if previous.is_some_and(|p| p != path) {
            close_menu();
        }
        path
    });
    view! {
        <crate::components::AdminStyles/>
        // On a phone the navigation folds into a menu under the top bar; wider, it is a
        // sidebar. The toggle is a checkbox and its label, so it works without JavaScript.
        <div class="flex min-h-screen flex-col md:flex-row">
            <nav class="w-full shrink-0 border-b border-slate-200 bg-white px-4 py-3 md:w-56 md:border-b-0 md:border-r md:py-6" aria-label="Admin">
                <div class="flex items-center justify-between">
                    <a href="/admin" class="block px-2 text-lg font-bold tracking-tight">"Cortex"</a>
                    <label for="nav-toggle" id="nav-menu" class="cursor-pointer rounded-md border border-slate-300 px-3 py-1 text-sm md:hidden">"Menu"</label>
                </div>
                <input type="checkbox" id="nav-toggle" class="peer sr-only" aria-label="Show the menu"/>
                <div class="hidden peer-checked:block md:block" id="nav-links">
                <Suspense fallback=|| view! { <div class="mt-6 px-2"><Loading/></div> }>
                    {move || Suspend::new(async move {
                        match me.await {
                            Ok(Some(p)) => view! { <Navigation principal=p/> }.into_any(),
                            Ok(None) => view! { <Redirect path="/login"/> }.into_any(),
                            Err(e) => view! { <div class="mt-6"><ErrorBox error=e/></div> }.into_any(),
                        }
                    })}
                </Suspense>
                </div>
            </nav>
            <main class="min-w-0 flex-1 px-4 py-6 md:px-8 md:py-8">
                <Outlet/>
            </main>
        </div>
    }
}

const NAV: &[(&str, &str, Role)] = &[
    ("/admin", "Overview", Role::Viewer),
    ("/admin/federation", "Federation", Role::Viewer),
    ("/admin/federation/changes", "Change requests", Role::Viewer),
    ("/admin/releases", "Releases", Role::Viewer),
    ("/admin/layout-mutations", "Layout mutations", Role::Viewer),
    ("/admin/experiments", "Experiments", Role::Viewer),
    ("/admin/suggestions", "Suggestions", Role::Viewer),
    ("/admin/alerts", "Alerts", Role::Viewer),
    ("/admin/audit", "Audit", Role::Viewer),
    ("/admin/users", "Users & tokens", Role::Admin),
    ("/admin/status", "Settings / Status", Role::Viewer),
];

/// Folds the phone menu again after a link in it was followed (the app navigates without
/// loading a page, so the menu's checkbox would otherwise stay ticked). Without JavaScript
/// every link loads a new page, with the menu folded.
fn close_menu() {
    #[cfg(feature = "hydrate")]
    if let Some(toggle) = document().get_element_by_id("nav-toggle") {
        let _ = js_sys::Reflect::set(&toggle, &"checked".into(), &false.into());
    }
}

/// The pages this role may open, who is signed in, and sign-out.
#[component]
fn Navigation(principal: Principal) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let role = principal.role;
    view! {
        <ul class="mt-6 space-y-1 text-sm">
            {NAV
                .iter()
                .filter(|(_, _, needed)| role.allows(*needed))
                .map(|(href, label, _)| view! {
                    <li on:click=|_| close_menu()>
                        <A href=*href exact={*href == "/admin" || *href == "/admin/federation"} attr:class="block rounded-md px-2 py-1.5 text-slate-700 hover:bg-slate-100 aria-[current=page]:bg-indigo-50 aria-[current=page]:font-semibold aria-[current=page]:text-indigo-700">
                            {*label}
                        </A>
                    </li>
                })
                .collect_view()}
        </ul>
        <div class="mt-8 border-t border-slate-200 pt-4 text-xs text-slate-500">
            <p id="whoami">{principal.actor.trim_start_matches("user:").to_string()} " · " {role.as_str()}</p>
            <ActionForm action=logout>
                <button type="submit" class="mt-2 text-indigo-600 hover:underline">"Sign out"</button>
            </ActionForm>
        </div>
    }
}
