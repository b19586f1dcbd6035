//! `/login`: sign in.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::auth::Login;
use crate::components::{ActionError, Field, BUTTON, CARD};

/// The sign-in form.
#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    view! {
        <Title text="Sign in"/>
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
