//! `/admin/users`: users and API tokens. Admin only.

use cortex_core::user::{CreatedToken, TokenSummary, UserSummary};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::tokens::{list_tokens, take_new_token_secret, CreateToken, RevokeToken};
use crate::api::users::{list_users, CreateUser, DeleteUser, SetUserRole};
use crate::components::{
    fmt_time, reset_on_success, ActionError, ErrorBox, Field, Loading, RoleSelect, BUTTON,
    BUTTON_DANGER, CARD,
};

/// The users and tokens page.
#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <Title text="Users & tokens"/>
        <h1 class="text-2xl font-bold">"Users & tokens"</h1>
        <UsersSection/>
        <TokensSection/>
    }
}

#[component]
fn UsersSection() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let delete = ServerAction::<DeleteUser>::new();
    let set_role = ServerAction::<SetUserRole>::new();
    let users = Resource::new(
        move || {
            (
                create.version().get(),
                delete.version().get(),
                set_role.version().get(),
            )
        },
        |_| list_users(),
    );
    let form = NodeRef::new();
    reset_on_success(create, form);
    view! {
        <section class=format!("{CARD} mt-6") id="users">
            <h2 class="text-lg font-semibold">"Users"</h2>
            <ActionError action=delete/>
            <ActionError action=set_role/>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match users.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(list) => view! { <UserTable users=list delete set_role/> }.into_any(),
                    }
                })}
            </Suspense>
            <h3 class="mt-6 text-sm font-semibold">"Add a user"</h3>
            <ActionError action=create/>
            <ActionForm action=create node_ref=form>
                <div class="mt-2 grid items-end gap-3 sm:grid-cols-4">
                    <Field label="Username" name="username" autocomplete="off"/>
                    <Field label="Password" name="password" kind="password" autocomplete="new-password"/>
                    <label class="block text-sm font-medium text-slate-700">"Role" <div class="mt-1"><RoleSelect name="role"/></div></label>
                    <button type="submit" class=BUTTON>"Add user"</button>
                </div>
            </ActionForm>
        </section>
    }
}

#[component]
fn UserTable(
    users: Vec<UserSummary>,
    delete: ServerAction<DeleteUser>,
    set_role: ServerAction<SetUserRole>,
) -> impl IntoView {
    view! {
        <div class="overflow-x-auto" tabindex="0">
        <table class="mt-4 min-w-full text-left text-sm">
            <thead class="text-xs uppercase text-slate-500"><tr><th class="py-2">"Username"</th><th>"Role"</th><th>"Created"</th><th></th></tr></thead>
            <tbody>
                {users.into_iter().map(|u| {
                    let id = u.id.to_string();
                    let id_for_delete = id.clone();
                    let role_label = format!("Role of {}", u.username);
                    view! {
                        <tr class="border-t border-slate-100" data-user=u.username.clone()>
                            <td class="py-2 font-medium">{u.username.clone()}</td>
                            <td>
                                <ActionForm action=set_role>
                                    <input type="hidden" name="id" value=id/>
                                    <RoleSelect name="role" selected=u.role label=role_label.clone()/>
                                    <button type="submit" class="ml-2 text-xs text-indigo-600 hover:underline">"Change"</button>
                                </ActionForm>
                            </td>
                            <td class="text-slate-500">{fmt_time(u.created_at)}</td>
                            <td class="text-right">
                                <ActionForm action=delete>
                                    <input type="hidden" name="id" value=id_for_delete/>
                                    <button type="submit" class=BUTTON_DANGER>"Delete"</button>
                                </ActionForm>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}

#[component]
fn TokensSection() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_tokens(),
    );
    let form = NodeRef::new();
    reset_on_success(create, form);
    // Without JavaScript the new secret comes back through a one-time cookie.
    let flashed = Resource::new(|| (), |_| take_new_token_secret());
    let secret = move || match create.value().get() {
        Some(Ok(CreatedToken { secret, .. })) => Some(secret),
        _ => None,
    };
    view! {
        <section class=format!("{CARD} mt-6") id="tokens">
            <h2 class="text-lg font-semibold">"API tokens"</h2>
            <p class="mt-1 text-sm text-slate-500">"Send as " <code>"Authorization: Bearer <token>"</code> ". A token's secret is shown once."</p>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    let shown = secret().or(flashed.await.ok().flatten());
                    shown.map(|s| view! {
                        <div class="mt-4 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm" id="new-token">
                            <p class="font-semibold">"Copy this token now; it will not be shown again:"</p>
                            <code class="mt-1 block break-all font-mono" id="new-token-secret">{s}</code>
                        </div>
                    })
                })}
            </Suspense>
            <ActionError action=revoke/>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="mt-4 text-sm text-slate-500">"No tokens yet."</p> }.into_any(),
                        Ok(list) => view! { <TokenTable tokens=list revoke/> }.into_any(),
                    }
                })}
            </Suspense>
            <h3 class="mt-6 text-sm font-semibold">"Create a token"</h3>
            <ActionError action=create/>
            <ActionForm action=create node_ref=form>
                <div class="mt-2 grid items-end gap-3 sm:grid-cols-4">
                    <Field label="Name" name="name" autocomplete="off"/>
                    <label class="block text-sm font-medium text-slate-700">"Role" <div class="mt-1"><RoleSelect name="role"/></div></label>
                    <Field label="Expires after (days, optional)" name="ttl_days" kind="number" required=false/>
                    <button type="submit" class=BUTTON>"Create token"</button>
                </div>
            </ActionForm>
        </section>
    }
}

#[component]
fn TokenTable(tokens: Vec<TokenSummary>, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    view! {
        <div class="overflow-x-auto" tabindex="0">
        <table class="mt-4 min-w-full text-left text-sm">
            <thead class="text-xs uppercase text-slate-500"><tr><th class="py-2">"Name"</th><th>"Role"</th><th>"Created by"</th><th>"Expires"</th><th>"Last used"</th><th></th></tr></thead>
            <tbody>
                {tokens.into_iter().map(|t| {
                    let revoked = t.revoked_at.is_some();
                    view! {
                        <tr class="border-t border-slate-100" data-token=t.name.clone()>
                            <td class="py-2 font-medium">{t.name.clone()}</td>
                            <td>{t.role.as_str()}</td>
                            <td>{t.created_by.clone()}</td>
                            <td>{t.expires_at.map(fmt_time).unwrap_or_else(|| "never".into())}</td>
                            <td>{t.last_used_at.map(fmt_time).unwrap_or_else(|| "never".into())}</td>
                            <td class="text-right">
                                {if revoked {
                                    view! { <span class="text-xs text-slate-500">"revoked"</span> }.into_any()
                                } else {
                                    view! {
                                        <ActionForm action=revoke>
                                            <input type="hidden" name="id" value=t.id.to_string()/>
                                            <button type="submit" class=BUTTON_DANGER>"Revoke"</button>
                                        </ActionForm>
                                    }.into_any()
                                }}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}
