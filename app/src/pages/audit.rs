//! `/admin/audit`: the hash-chained audit log, filterable by actor, action and target.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::audit::list_audit;
use crate::components::{fmt_time, ErrorBox, Loading, BUTTON, CARD};

const PAGE: u32 = 50;

/// The audit page. Filters live in the URL, so they work without JavaScript and can be shared.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filters = move || {
        let q = query.read();
        let get = |k: &str| q.get(k).filter(|v| !v.is_empty());
        (
            get("actor"),
            get("action"),
            get("target"),
            get("before").and_then(|v| v.parse::<i64>().ok()),
        )
    };
    let entries = Resource::new(filters, |(actor, action, target, before)| {
        list_audit(actor, action, target, before, Some(PAGE))
    });
    let value = move |k: &'static str| query.read().get(k).unwrap_or_default();
    view! {
        <Title text="Audit"/>
        <h1 class="text-2xl font-bold">"Audit log"</h1>
        <Form method="GET" action="">
            <div class="mt-4 flex flex-wrap items-end gap-3 text-sm">
                <label>"Actor"<input class="ml-2 rounded-md border border-slate-300 px-2 py-1" name="actor" value=move || value("actor")/></label>
                <label>"Action"<input class="ml-2 rounded-md border border-slate-300 px-2 py-1" name="action" placeholder="user." value=move || value("action")/></label>
                <label>"Target"<input class="ml-2 rounded-md border border-slate-300 px-2 py-1" name="target" value=move || value("target")/></label>
                <button type="submit" class=BUTTON>"Filter"</button>
            </div>
        </Form>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match entries.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="mt-6 text-sm text-slate-500" id="audit-empty">"No entries match."</p> }.into_any(),
                    Ok(list) => {
                        let older = (list.len() as u32 == PAGE).then(|| list.last().map(|e| e.seq)).flatten();
                        view! {
                            // On a phone the table scrolls within its card; wider, it fits.
                            <div class=format!("{CARD} mt-6 overflow-x-auto p-0") tabindex="0">
                                <table class="w-full min-w-[44rem] table-fixed text-left text-sm md:min-w-0" id="audit-table">
                                    <thead class="bg-slate-50 text-xs uppercase text-slate-500">
                                        <tr>
                                            <th class="w-14 px-3 py-2">"#"</th>
                                            <th class="w-28 px-3 py-2">"When"</th>
                                            <th class="w-1/6 px-3 py-2">"Actor"</th>
                                            <th class="w-1/6 px-3 py-2">"Action"</th>
                                            <th class="w-1/6 px-3 py-2">"Target"</th>
                                            <th class="px-3 py-2">"Change"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {list.into_iter().map(|e| view! {
                                            <tr class="border-t border-slate-100 align-top">
                                                <td class="px-3 py-2 font-mono text-xs" title=e.hash.clone()>{e.seq}</td>
                                                <td class="px-3 py-2 text-xs">{fmt_time(e.at)}</td>
                                                <td class="break-words px-3 py-2">{e.record.actor.clone()}</td>
                                                <td class="break-words px-3 py-2 font-mono text-xs">{e.record.action.clone()}</td>
                                                <td class="break-all px-3 py-2 text-xs">{e.record.target.clone()}</td>
                                                <td class="px-3 py-2"><Change before=e.record.before.clone() after=e.record.after.clone()/></td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            {older.map(|seq| view! {
                                <a class="mt-4 inline-block text-sm text-indigo-600 hover:underline" href=format!("?before={seq}")>"Older entries →"</a>
                            })}
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// What an entry changed, field by field (`role: "viewer" → "editor"`): old values in red,
/// new ones in green; long values cut, and a count of fields beyond the first few.
#[component]
fn Change(before: serde_json::Value, after: serde_json::Value) -> impl IntoView {
    let (changes, more) = cortex_core::audit::field_changes(&before, &after);
    view! {
        <ul class="audit-change space-y-0.5 font-mono text-xs">
            {changes.into_iter().map(|c| {
                let both = c.before.is_some() && c.after.is_some();
                view! {
                    <li class="break-all">
                        {(!c.path.is_empty()).then(|| view! { <span class="text-slate-500">{format!("{}: ", c.path)}</span> })}
                        {c.before.map(|b| view! { <del class="bg-red-50 text-red-800">{b}</del> })}
                        {both.then_some(" → ")}
                        {c.after.map(|a| view! { <ins class="bg-green-50 text-green-800 no-underline">{a}</ins> })}
                    </li>
                }
            }).collect_view()}
            {(more > 0).then(|| view! { <li class="text-slate-500">{format!("and {more} more fields")}</li> })}
        </ul>
    }
    // Erased: the audit table's view type would otherwise nest too deep to compile.
    .into_any()
}
