//! `/admin/federation/scope?scope=…&revision=…`: the revisions pushed to one scope, newest
//! first; choosing one shows what rolling back to it would change (a diff from what its
//! neurons hold now) and a button that does it. Works without JavaScript (links and a
//! plain form post).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::scopes::{rollback_preview, scope_history, RollbackScope, ScopeHistory};
use crate::components::{fmt_time, ErrorBox, FormError, Loading, CARD};
use cortex_core::federation::BundleKind;

fn href(scope: &str, revision: Option<u64>) -> String {
    let scope = cortex_core::urls::encode_component(scope);
    match revision {
        Some(r) => format!("/admin/federation/scope?scope={scope}&revision={r}"),
        None => format!("/admin/federation/scope?scope={scope}"),
    }
}

/// The scope page.
#[component]
pub fn ScopePage() -> impl IntoView {
    let query = use_query_map();
    let scope = move || {
        query
            .read()
            .get("scope")
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "global".into())
    };
    let revision = move || {
        query
            .read()
            .get("revision")
            .and_then(|r| r.parse::<u64>().ok())
    };
    let rollback = ServerAction::<RollbackScope>::new();
    let history = Resource::new(
        move || (scope(), rollback.version().get()),
        |(scope, _)| scope_history(Some(scope)),
    );
    let preview = Resource::new(
        move || (scope(), revision(), rollback.version().get()),
        |(scope, revision, _)| async move {
            match revision {
                Some(r) => rollback_preview(Some(scope), Some(r)).await.map(Some),
                None => Ok(None),
            }
        },
    );
    view! {
        <Title text="Scope history"/>
        <p class="text-sm"><a href="/admin/federation" class="text-indigo-600 hover:underline">"← Federation"</a></p>
        <h1 class="mt-1 text-2xl font-bold">"Scope history"</h1>
        <p class="mt-1 max-w-3xl text-sm text-slate-600">
            "Revisions pushed to a scope, newest first. Choose one to see the diff a rollback would make."
        </p>
        <form method="get" action="/admin/federation/scope" class="mt-4 flex flex-wrap items-end gap-2">
            <label class="text-xs font-medium text-slate-700">"Scope"
                <input name="scope" value=scope class="mt-1 block rounded-md border border-slate-300 bg-white px-2 py-1 text-sm" placeholder="global, tag:eu, neuron:<id>"/>
            </label>
            <button type="submit" class="rounded-md border border-slate-300 px-3 py-1.5 text-sm hover:bg-slate-50">"Show"</button>
        </form>
        <Suspense fallback=|| view! { <div class="mt-6"><Loading/></div> }>
            {move || Suspend::new(async move {
                match preview.await {
                    Err(e) => view! { <div class="mt-6"><ErrorBox error=e/></div> }.into_any(),
                    Ok(None) => ().into_any(),
                    Ok(Some(p)) => {
                        let lines = p.diff.iter().map(|l| {
                            let colour = match l.tag.as_str() {
                                "+" => "bg-emerald-50 text-emerald-900",
                                "-" => "bg-red-50 text-red-900",
                                _ => "text-slate-600",
                            };
                            view! { <div class=colour>{format!("{} {}", l.tag, l.text)}</div> }
                        }).collect_view();
                        let same = p.diff.is_empty();
                        let (scope, to) = (p.scope.to_string(), p.to_revision);
                        view! {
                            <section class=format!("{CARD} mt-6") id="rollback-preview">
                                <h2 class="text-lg font-semibold">{format!("Roll {} ({}) back to revision {}", p.scope, p.kind.as_str(), p.to_revision)}</h2>
                                <p class="mt-1 text-sm text-slate-600">{format!("From revision {} (what its neurons hold now) to the content of revision {}:", p.current_revision, p.to_revision)}</p>
                                {if same {
                                    view! { <p class="mt-2 text-sm" id="rollback-same">"Nothing would change: its neurons hold this content already."</p> }.into_any()
                                } else {
                                    view! { <pre class="mt-2 max-h-96 overflow-auto rounded bg-slate-50 p-2 text-xs" id="rollback-diff">{lines}</pre> }.into_any()
                                }}
                                {(!same).then(|| view! {
                                <ActionForm action=rollback attr:class="mt-3">
                                    <input type="hidden" name="scope" value=scope/>
                                    <input type="hidden" name="revision" value=to.to_string()/>
                                    <FormError action=rollback/>
                                    <button type="submit" class="mt-2 rounded-md bg-slate-900 px-3 py-1.5 text-sm font-semibold text-white hover:bg-slate-700" id="rollback-submit">{format!("Roll back to revision {to}")}</button>
                                </ActionForm>
                                })}
                                {move || rollback.value().get().and_then(|r| r.ok()).map(|done| view! {
                                    <p class="mt-2 text-sm text-emerald-800" id="rollback-done">{format!("Pushed as revision {}: sent to {} of {} neurons in the scope.", done.revision, done.sent, done.targeted)}</p>
                                })}
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
        <Suspense fallback=|| view! { <div class="mt-6"><Loading/></div> }>
            {move || Suspend::new(async move {
                match history.await {
                    Err(e) => view! { <div class="mt-6"><ErrorBox error=e/></div> }.into_any(),
                    Ok(h) if h.revisions.is_empty() => view! {
                        <p class=format!("{CARD} mt-6 text-sm text-slate-600") id="scope-empty">
                            {format!("Nothing was pushed to {} yet. Push a bundle from the Federation page.", h.scope)}
                        </p>
                    }.into_any(),
                    Ok(h) => view! { <History h/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn History(h: ScopeHistory) -> impl IntoView {
    let scope = h.scope.to_string();
    let rows = h
        .revisions
        .into_iter()
        .map(|r| {
            let action = if r.current {
                view! { <span class="text-xs font-semibold text-emerald-700">"current"</span> }.into_any()
            } else if r.kind == BundleKind::LayoutRules {
                view! { <span class="text-xs text-slate-500">"rules: roll back on the rule's page"</span> }.into_any()
            } else {
                view! { <a href=href(&scope, Some(r.revision)) class="text-xs text-indigo-600 hover:underline" data-preview=r.revision.to_string()>"Preview rollback"</a> }.into_any()
            };
            view! {
                <tr class="border-t border-slate-100" data-revision=r.revision.to_string()>
                    <td class="py-1 pr-3 font-mono">{r.revision}</td>
                    <td class="py-1 pr-3">{r.kind.as_str()}
                        {(!r.audience.is_everyone()).then(|| view! { <span class="ml-1 rounded bg-amber-100 px-1 text-xs text-amber-800">{format!("staged: {}", r.audience.describe())}</span> })}
                    </td>
                    <td class="py-1 pr-3">{r.created_by.clone()}
                        {r.overwrote.map(|o| view! { <a href=href(&scope, Some(o)) class="ml-1 rounded bg-red-100 px-1 text-xs text-red-800" data-overwrote=o.to_string()>{format!("overwrote {o}: restore")}</a> })}
                    </td>
                    <td class="py-1 pr-3 text-slate-500">{fmt_time(r.created_at)}</td>
                    <td class="py-1">{action}</td>
                </tr>
            }
            .into_any()
        })
        .collect_view();
    view! {
        <div class=format!("{CARD} mt-6 overflow-x-auto")>
            <table class="w-full text-left text-sm" id="scope-history">
                <thead class="text-xs uppercase text-slate-500"><tr><th class="pr-3">"Revision"</th><th class="pr-3">"Kind"</th><th class="pr-3">"By"</th><th class="pr-3">"When"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}
