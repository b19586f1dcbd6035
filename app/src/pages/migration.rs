//! `/admin/layout-mutations?view=migration`: the migration check. Rules naming nodes their
//! page's newest layout lacks, each with the proposed re-link and why: accept it, choose
//! another node, or switch the rule off. Below, the backups written before each layout change,
//! to undo one whole. (A view of the rules page, not a route of its own: each route adds to
//! the storefront's download.)

use leptos::prelude::*;

use crate::help::Help;
use leptos_meta::Title;

use crate::api::migration::{
    layout_backups, migration_check, ResolveMigration, RestoreLayoutBackup,
};
use crate::components::{fmt_time, ActionError, ErrorBox, Loading, BUTTON, CARD};
use cortex_core::layout::migrate::{BrokenReference, PageCheck};

const SMALL: &str = "rounded border border-slate-300 px-2 py-1 text-xs hover:bg-slate-50";

#[component]
pub fn MigrationPage() -> impl IntoView {
    let resolve = ServerAction::<ResolveMigration>::new();
    let restore = ServerAction::<RestoreLayoutBackup>::new();
    let checks = Resource::new(
        move || (resolve.version().get(), restore.version().get()),
        |_| migration_check(),
    );
    let backups = Resource::new(move || restore.version().get(), |_| layout_backups(None));
    view! {
        <Title text="Migration check"/>
        <h1 class="text-2xl font-bold">"Migration check"</h1>
        <Help key="migration" class="mt-1 text-sm text-slate-600"/>
        <ActionError action=resolve/>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match checks.await {
                    Err(e) => view! { <div class="mt-4"><ErrorBox error=e/></div> }.into_any(),
                    Ok(pages) => {
                        let broken: usize = pages.iter().map(|p| p.broken.len()).sum();
                        let rules: usize = pages.iter().map(|p| p.rules).sum();
                        view! {
                            <p class="mt-4 text-sm" id="migration-summary" data-broken=broken>
                                {format!("{} page(s), {rules} rule(s), {broken} broken reference(s).", pages.len())}
                            </p>
                            {(broken == 0).then(|| view! {
                                <p class="mt-2 text-sm text-emerald-700" id="migration-clean">"Every rule names only nodes its page has."</p>
                            })}
                            {pages.into_iter().filter(|p| !p.broken.is_empty()).map(|p| view! { <PageCard p resolve/> }).collect_view()}
                        }.into_any()
                    }
                }
            })}
        </Suspense>
        <section class=format!("{CARD} mt-6") id="layout-backups">
            <h2 class="text-lg font-semibold">"Backups"</h2>
            <Help key="backups" class="mt-1 text-sm text-slate-600"/>
            <ActionError action=restore/>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match backups.await {
                        Err(e) => view! { <div class="mt-3"><ErrorBox error=e/></div> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <p class="mt-3 text-sm text-slate-500" id="backups-empty">"None yet."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <table class="mt-3 min-w-full text-left text-sm" id="backup-table">
                                <thead class="text-xs uppercase text-slate-500">
                                    <tr><th>"Page"</th><th>"Layout"</th><th>"Rules"</th><th>"Before"</th><th>"By"</th><th>"At"</th><th></th></tr>
                                </thead>
                                <tbody>
                                    {list.into_iter().map(|b| {
                                        let (id, href) = (b.id.clone(), format!("/api/layout-mutation/backup?id={}", b.id));
                                        view! {
                                        <tr class="border-t border-slate-100" data-backup=b.id.clone()>
                                            <td>{b.page_slug.clone()}</td>
                                            <td>{format!("v{}", b.layout_version)}</td>
                                            <td>{b.rules}</td>
                                            <td>{b.reason.clone()}</td>
                                            <td>{b.created_by.clone()}</td>
                                            <td class="whitespace-nowrap">{fmt_time(b.created_at)}</td>
                                            <td class="flex gap-2 py-1">
                                                <a class=SMALL href=href>"Download"</a>
                                                <ActionForm action=restore>
                                                    <input type="hidden" name="id" value=id/>
                                                    <button type="submit" class=SMALL>"Restore"</button>
                                                </ActionForm>
                                            </td>
                                        </tr>
                                    }}).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn PageCard(p: PageCheck, resolve: ServerAction<ResolveMigration>) -> impl IntoView {
    view! {
        <section class=format!("{CARD} mt-4") data-page=p.page_slug.clone()>
            <h2 class="text-lg font-semibold">{format!("{} (layout v{})", p.page_slug, p.layout_version)}</h2>
            <ul class="mt-2 divide-y divide-slate-100">
                {p.broken.into_iter().map(|b| view! { <Broken b resolve/> }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn Broken(b: BrokenReference, resolve: ServerAction<ResolveMigration>) -> impl IntoView {
    let proposal = b
        .proposal
        .as_ref()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let options = b
        .candidates
        .iter()
        .map(|c| {
            let c = c.to_string();
            let selected = c == proposal;
            view! { <option value=c.clone() selected=selected>{c.clone()}</option> }
        })
        .collect_view();
    let (rule, missing) = (b.rule_id.clone(), b.missing.to_string());
    let (rule2, missing2) = (rule.clone(), missing.clone());
    view! {
        <li class="py-2 text-sm" data-broken-rule=b.rule_id.clone() data-missing=b.missing.to_string()>
            <p>
                <a class="font-mono text-xs text-indigo-700 underline" href=format!("/admin/layout-mutations/{}", b.rule_id)>{b.rule_id.clone()}</a>
                {format!(" {}: `{}` is gone. ", b.field, b.missing)}
                <span class="text-slate-600">{match &b.proposal {
                    Some(p) => format!("Proposed `{p}`: {}.", b.reason),
                    None => format!("No proposal: {}.", b.reason),
                }}</span>
            </p>
            <div class="mt-1 flex flex-wrap gap-2">
                {(!b.candidates.is_empty()).then(|| view! {
                    <ActionForm action=resolve attr:class="flex gap-2">
                        <input type="hidden" name="rule" value=rule2/>
                        <input type="hidden" name="missing" value=missing2/>
                        <select name="to" class="rounded border border-slate-300 px-1 text-xs" aria-label="Re-link to">{options}</select>
                        <button type="submit" class=BUTTON>"Re-link"</button>
                    </ActionForm>
                })}
                <ActionForm action=resolve>
                    <input type="hidden" name="rule" value=rule/>
                    <input type="hidden" name="missing" value=missing/>
                    <button type="submit" class=SMALL>"Switch rule off"</button>
                </ActionForm>
            </div>
        </li>
    }
}
