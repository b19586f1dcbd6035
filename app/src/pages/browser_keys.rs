//! The publishable keys section of `/admin/federation`: browser apps on the listed origins
//! join as neurons with one of these keys.

use cortex_core::federation::PublishableKey;
use leptos::prelude::*;

use crate::help::Help;

use crate::api::browser_keys::{list_publishable_keys, CreatePublishableKey, RevokePublishableKey};
use crate::components::{fmt_time, ActionError, ErrorBox, Loading, BUTTON, BUTTON_DANGER, CARD};

/// Create, list and revoke publishable keys.
#[component]
pub fn BrowserKeysSection() -> impl IntoView {
    let create = ServerAction::<CreatePublishableKey>::new();
    let revoke = ServerAction::<RevokePublishableKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_publishable_keys(),
    );
    view! {
        <section class=format!("{CARD} mt-6") id="publishable-keys">
            <h2 class="text-lg font-semibold">"Browser neurons: publishable keys"</h2>
            <Help key="browser-keys" class="mt-1 text-sm text-slate-500"/>
            <ActionError action=create/>
            <ActionError action=revoke/>
            <ActionForm action=create>
                <div class="mt-3 grid items-end gap-3 sm:grid-cols-3">
                    <label class="block text-sm font-medium text-slate-700">"Name"
                        <input name="name" required placeholder="storefront" class="mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm"/>
                    </label>
                    <label class="block text-sm font-medium text-slate-700 sm:col-span-2">"Allowed origins"
                        <input name="origins" required placeholder="https://shop.example.com, https://www.example.com" class="mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 font-mono text-sm"/>
                    </label>
                </div>
                <button type="submit" class=format!("{BUTTON} mt-3")>"Create key"</button>
            </ActionForm>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match keys.await {
                        Err(e) => view! { <div class="mt-3"><ErrorBox error=e/></div> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="mt-4 text-sm text-slate-500" id="no-keys">"No publishable keys: browser neurons cannot join."</p> }.into_any(),
                        Ok(list) => view! { <KeyTable keys=list revoke/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
    .into_any()
}

#[component]
fn KeyTable(
    keys: Vec<PublishableKey>,
    revoke: ServerAction<RevokePublishableKey>,
) -> impl IntoView {
    view! {
        <div class="overflow-x-auto" tabindex="0">
        <table class="mt-4 min-w-full text-left text-sm" id="key-table">
            <thead class="text-xs uppercase text-slate-500"><tr><th class="py-2">"Name"</th><th>"Key"</th><th>"Origins"</th><th>"Created"</th><th></th></tr></thead>
            <tbody>
                {keys.into_iter().map(|k| {
                    let key = k.key.clone();
                    view! {
                        <tr class="border-t border-slate-100 align-top" data-key-name=k.name.clone()>
                            <td class="py-2">{k.name.clone()}</td>
                            <td class="break-all font-mono text-xs">{k.key.clone()}</td>
                            <td class="font-mono text-xs">{k.origins.join(" ")}</td>
                            <td class="text-slate-500">{k.created_by.clone()} " · " {fmt_time(k.created_at)}</td>
                            <td>
                                <ActionForm action=revoke>
                                    <input type="hidden" name="key" value=key/>
                                    <button type="submit" class=BUTTON_DANGER>"Revoke"</button>
                                </ActionForm>
                            </td>
                        </tr>
                    }
                    .into_any()
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
    .into_any()
}
