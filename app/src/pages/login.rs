//! `/login`: sign in. A visitor who is already signed in goes on to the admin console.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::api::auth::{current_user, Login};
use crate::components::{ActionError, ErrorBox, Field, Loading, BUTTON, CARD};

/// The sign-in form, or on to `/admin` when signed in already.
#[component]
pub fn LoginPage() -> impl IntoView {
    let me = Resource::new(|| (), |_| current_user());
    view! {
        <Title text="Sign in"/>
        <crate::components::AdminStyles/>
        <Suspense fallback=|| view! { <div class="p-8"><Loading/></div> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(_)) => view! { <Redirect path="/admin"/> }.into_any(),
                    Ok(None) => view! { <LoginForm/> }.into_any(),
                    Err(e) => view! { <div class="p-8"><ErrorBox error=e/></div> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn LoginForm() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    view! {
        <main class="mx-auto max-w-sm px-6 py-16">
            <h1 class="text-2xl font-bold">"Sign in to Cortex"</h1>
            <div class=format!("{CARD} mt-6 space-y-4")>
                <ActionError action=login/>
                <ActionForm action=login>
                    <div class="space-y-4">
                        <Field label="Username" name="username" autocomplete="username"/>
                        <Field label="Password" name="password" kind="password" autocomplete="current-password"/>
                        <button type="submit" class=BUTTON disabled=move || login.pending().get()>"Sign in"</button>
                    </div>
                </ActionForm>
            </div>
        </main>
    }
}
