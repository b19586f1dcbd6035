//! `/setup?token=…`: create the first admin with the one-time setup token.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::auth::{setup_state, Setup};
use crate::components::{ActionError, ErrorBox, Field, Loading, BUTTON, CARD};

/// The first-admin form.
#[component]
pub fn SetupPage() -> impl IntoView {
    let setup = ServerAction::<Setup>::new();
    let query = use_query_map();
    let token = move || query.read_untracked().get("token").unwrap_or_default();
    let open = Resource::new(|| (), |_| setup_state());
    view! {
        <Title text="Set up"/>
        <crate::components::AdminStyles/>
        <main class="mx-auto max-w-sm px-6 py-16">
            <h1 class="text-2xl font-bold">"Create the first admin"</h1>
            <div class=format!("{CARD} mt-6 space-y-4")>
                <Suspense fallback=Loading>
                    {move || Suspend::new(async move {
                        match open.await {
                            Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                            Ok(false) => view! {
                                <p class="text-sm" id="setup-done">
                                    "Setup is done: an admin exists. "
                                    <a class="text-indigo-600 hover:underline" href="/login">"Sign in"</a>
                                </p>
                            }.into_any(),
                            Ok(true) => view! {
                                <ActionError action=setup/>
                                <ActionForm action=setup>
                                    <div class="space-y-4">
                                        <Field label="Setup token" name="token" value=token() autocomplete="off"/>
                                        <Field label="Username" name="username" autocomplete="username"/>
                                        <Field label="Password (12 characters or more)" name="password" kind="password" autocomplete="new-password"/>
                                        <button type="submit" class=BUTTON>"Create admin and sign in"</button>
                                    </div>
                                </ActionForm>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </main>
    }
}
