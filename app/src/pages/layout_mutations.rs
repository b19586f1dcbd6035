//! `/admin/layout-mutations`: the rules, filterable by page, layer, type, status and author,
//! searchable by id. Filters live in the URL, so they work without JavaScript.

use leptos::prelude::*;

use crate::help::Help;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::layouts::{layout_pages, list_rules, CreateRule, PageNodes, SwitchMutations};
use crate::components::{
    error_message, fmt_time, ActionError, ErrorBox, FormError, Loading, BUTTON, CARD,
};
use crate::pages::rule_form::RuleFields;
use crate::rule_form::RuleForm;

const INPUT: &str = "ml-2 rounded-md border border-slate-300 px-2 py-1";

fn badge(status: &str) -> &'static str {
    match status {
        "active" => "rounded bg-emerald-100 px-2 py-0.5 text-xs font-medium text-emerald-800",
        "broken" => "rounded bg-red-100 px-2 py-0.5 text-xs font-medium text-red-800",
        "deleted" => "rounded bg-slate-200 px-2 py-0.5 text-xs font-medium text-slate-600",
        _ => "rounded bg-amber-100 px-2 py-0.5 text-xs font-medium text-amber-800",
    }
}

/// The rule list, or with `?view=migration` the migration check.
#[component]
pub fn RulesOrMigration() -> impl IntoView {
    let query = use_query_map();
    // Only the view switches pages: a filter change keeps the list page (and its resources).
    let migration = Memo::new(move |_| query.read().get("view").as_deref() == Some("migration"));
    move || {
        if migration.get() {
            view! { <crate::pages::migration::MigrationPage/> }.into_any()
        } else {
            view! { <LayoutMutationsPage/> }.into_any()
        }
    }
}

/// The rule list.
#[component]
pub fn LayoutMutationsPage() -> impl IntoView {
    let query = use_query_map();
    let filters = move || {
        let q = query.read();
        let get = |k: &str| q.get(k).filter(|v| !v.is_empty());
        (
            get("page"),
            get("layer"),
            get("kind"),
            get("status"),
            get("created_by"),
            get("q"),
        )
    };
    let rules = Resource::new(filters, |(page, layer, kind, status, created_by, q)| {
        list_rules(page, layer, kind, status, created_by, q)
    });
    let value = move |k: &'static str| query.read().get(k).unwrap_or_default();
    let select = move |name: &'static str, options: &'static [&'static str]| {
        view! {
            <select class=INPUT name=name>
                <option value="">"any"</option>
                {options.iter().map(|o| view! { <option value=*o selected=move || value(name) == *o>{*o}</option> }).collect_view()}
            </select>
        }
    };
    view! {
        <Title text="Layout mutations"/>
        <h1 class="text-2xl font-bold">"Layout mutations"</h1>
        <p class="mt-1 text-sm text-slate-600">
            "Rules that rewrite pages per visitor. See them at work on the demo storefront: "
            <a class="text-indigo-700 underline" href="/shop">"/shop"</a>
            ". Every change is a new version; the API and README_layout-mutation.md explain the rule format. "
            <a class="text-indigo-700 underline" href="/admin/layout-mutations/preview" id="preview-link">"Preview a page for a visitor"</a>
            ". "
            <a class="text-indigo-700 underline" href="/admin/layout-mutations?view=migration" id="migration-link">"Migration check"</a>
        </p>
        <Form method="GET" action="">
            <div class="mt-4 flex flex-wrap items-end gap-3 text-sm" id="rule-filters">
                <label>"Page"<input class=INPUT name="page" value=move || value("page") size="10"/></label>
                <label>"Layer"{select("layer", &["global", "page", "module", "section"])}</label>
                <label>"Type"{select("kind", &["reorder", "insert", "replace", "hide", "props", "theme", "variant"])}</label>
                <label>"Status"{select("status", &["active", "inactive", "broken", "deleted"])}</label>
                <label>"Created by"<input class=INPUT name="created_by" value=move || value("created_by") size="12"/></label>
                <label>"Search"<input class=INPUT name="q" placeholder="rule id" value=move || value("q") size="14"/></label>
                <button type="submit" class=BUTTON>"Filter"</button>
            </div>
        </Form>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match rules.await {
                    Err(e) => view! { <div class="mt-6"><ErrorBox error=e/></div> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="mt-6 text-sm text-slate-500" id="rules-empty">"No rule matches these filters."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <p class="mt-6 text-sm text-slate-600" id="rule-count">{format!("{} rule(s)", list.len())}</p>
                        <div class=format!("{CARD} mt-2 overflow-x-auto p-0") tabindex="0">
                            <table class="min-w-full text-left text-sm" id="rule-table">
                                <thead class="bg-slate-50 text-xs uppercase text-slate-500">
                                    <tr>
                                        <th class="px-4 py-2">"Rule"</th><th class="px-4 py-2">"Page"</th><th class="px-4 py-2">"Layer"</th>
                                        <th class="px-4 py-2">"Type"</th><th class="px-4 py-2">"Status"</th><th class="px-4 py-2">"Priority"</th>
                                        <th class="px-4 py-2">"Version"</th><th class="px-4 py-2">"Saved by"</th><th class="px-4 py-2">"Saved"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list.into_iter().map(|r| {
                                        let status = r.status();
                                        let rule = r.version.rule.clone();
                                        view! {
                                            <tr class="border-t border-slate-100 align-top" data-rule=rule.id.to_string() data-status=status>
                                                <td class="px-4 py-2 font-mono text-xs"><a class="text-indigo-700 underline" href=format!("/admin/layout-mutations/{}", rule.id)>{rule.id.to_string()}</a></td>
                                                <td class="px-4 py-2"><a class="text-indigo-700 underline" href=format!("/shop/{}", rule.page_slug)>{rule.page_slug.to_string()}</a></td>
                                                <td class="px-4 py-2">{rule.layer.as_str()}</td>
                                                <td class="px-4 py-2">{rule.mutation_type()}</td>
                                                <td class="px-4 py-2">
                                                    <span class=badge(status)>{status}</span>
                                                    {r.broken.clone().map(|why| view! { <p class="mt-1 max-w-xs text-xs text-red-700">{why}</p> })}
                                                </td>
                                                <td class="px-4 py-2">{rule.priority}</td>
                                                <td class="px-4 py-2">{rule.version}</td>
                                                <td class="px-4 py-2">{rule.created_by.clone()}</td>
                                                <td class="px-4 py-2 whitespace-nowrap">{fmt_time(rule.timestamp)}</td>
                                            </tr>
                                        }.into_any()
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                }
            })}
        </Suspense>
        <NewRuleForm/>
        <Switches/>
    }
}

/// Where mutations are switched off: per page and per module (and what is inside it).
#[component]
fn Switches() -> impl IntoView {
    let switch = ServerAction::<SwitchMutations>::new();
    let pages = Resource::new(move || switch.version().get(), |_| layout_pages());
    view! {
        <section class=format!("{CARD} mt-6") id="switches">
            <h2 class="text-lg font-semibold">"Switches"</h2>
            <Help key="switches" class="mt-1 text-sm text-slate-600"/>
            <ActionError action=switch/>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match pages.await {
                        Err(e) => view! { <div class="mt-3"><ErrorBox error=e/></div> }.into_any(),
                        Ok(list) => list.into_iter().map(|p| view! { <PageSwitches page=p switch/> }).collect_view().into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn PageSwitches(page: PageNodes, switch: ServerAction<SwitchMutations>) -> impl IntoView {
    let slug = page.page_slug.clone();
    view! {
        <div class="mt-4" data-page=slug.clone()>
            <h3 class="text-sm font-semibold">{format!("{} (layout version {})", page.page_slug, page.layout_version)}</h3>
            <ul class="mt-1 text-sm">
                {page.nodes.into_iter().map(|n| {
                    let slug = slug.clone();
                    let node_id = n.id.clone();
                    let label = if n.depth == 0 { "whole page".to_string() } else { format!("{} ({})", n.id, n.kind) };
                    view! {
                        <li class="flex items-center gap-3 py-0.5" style=format!("padding-left: {}rem", n.depth) data-node-switch=n.id.clone() data-off=n.off.to_string()>
                            <span class=if n.off { "text-slate-400 line-through" } else { "" }>{label}</span>
                            {if n.off && !n.own {
                                view! { <span class="text-xs text-slate-400">"off with the node around it"</span> }.into_any()
                            } else {
                                view! {
                                    <ActionForm action=switch>
                                        <input type="hidden" name="page" value=slug/>
                                        <input type="hidden" name="node" value=node_id/>
                                        <input type="hidden" name="off" value=(!n.off).to_string()/>
                                        <button type="submit" class="rounded border border-slate-300 px-2 py-0.5 text-xs hover:bg-slate-50">
                                            {if n.off { "Switch mutations on" } else { "Switch mutations off" }}
                                        </button>
                                    </ActionForm>
                                }.into_any()
                            }}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </div>
    }
}

/// A new rule from the rule form: the target is picked from the pages' trees.
#[component]
fn NewRuleForm() -> impl IntoView {
    let create = ServerAction::<CreateRule>::new();
    let pages = Resource::new(|| (), |_| layout_pages());
    // With JavaScript, open the new rule's page once it is saved.
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(v)) = create.value().get() {
            navigate(
                &format!(
                    "/admin/layout-mutations/{}?created=1",
                    cortex_core::urls::encode_component(v.rule.id.as_str())
                ),
                Default::default(),
            );
        }
    });
    view! {
        <section class=format!("{CARD} mt-6") id="new-rule">
            <h2 class="text-lg font-semibold">"New rule"</h2>
            <Help key="new-rule" class="mt-1 text-sm text-slate-600"/>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match pages.await {
                        Err(e) => view! { <div class="mt-3"><ErrorBox error=e/></div> }.into_any(),
                        Ok(pages) => view! {
                            <ActionForm action=create>
                                <RuleFields pages initial=RuleForm::default() editing=false error=error_message(create)/>
                                <FormError action=create/>
                                <button type="submit" class=format!("{BUTTON} mt-3") id="create-rule">"Create rule"</button>
                            </ActionForm>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
