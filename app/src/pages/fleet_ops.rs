//! The operations half of `/admin/federation`: commands sent to a scope (hot reload, sync)
//! with each neuron's answer, and the logs and errors neurons reported, searchable.

use cortex_core::analytics::{EventKind, NeuronEvent};
use cortex_core::federation::{CommandOutcome, CommandRun};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::commands::{list_commands, neuron_reports, HotReload, SyncNeurons};
use crate::components::{fmt_time, ActionError, ErrorBox, Loading, BUTTON, CARD};

const INPUT: &str =
    "mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 font-mono text-sm";

/// Hot reload and sync to a scope, and the answers so far. `tick` refreshes the answers.
#[component]
pub fn CommandsSection(
    tick: RwSignal<u64>,
    hot_reload: ServerAction<HotReload>,
    sync: ServerAction<SyncNeurons>,
) -> impl IntoView {
    let runs = Resource::new(
        move || (tick.get(), hot_reload.version().get(), sync.version().get()),
        |_| list_commands(),
    );
    let sent = move |r: Option<Result<CommandRun, crate::error::AppError>>| {
        r.and_then(Result::ok).map(|r| {
            view! {
                <p class="mt-3 rounded-md border border-emerald-300 bg-emerald-50 p-3 text-sm" id="command-result">
                    {format!("{} sent to {} of {} targeted neurons in {}", r.command.as_str(), r.sent, r.targeted, r.scope)}
                </p>
            }
        })
    };
    view! {
        <section class=format!("{CARD} mt-6") id="commands">
            <h2 class="text-lg font-semibold">"Commands"</h2>
            <p class="mt-1 text-sm text-slate-500">"Hot reload: neurons re-apply their bundles without a restart. Sync: they take what they missed."</p>
            <ActionError action=hot_reload/>
            <ActionError action=sync/>
            {move || sent(hot_reload.value().get())}
            {move || sent(sync.value().get())}
            <div class="mt-3 grid gap-3 sm:grid-cols-2">
                <ActionForm action=hot_reload>
                    <label class="block text-sm font-medium text-slate-700">"Scope"
                        <input name="scope" value="global" required class=INPUT/>
                    </label>
                    <button type="submit" class=format!("{BUTTON} mt-2") id="hot-reload">"Hot reload"</button>
                </ActionForm>
                <ActionForm action=sync>
                    <label class="block text-sm font-medium text-slate-700">"Scope"
                        <input name="scope" value="global" required class=INPUT/>
                    </label>
                    <button type="submit" class=format!("{BUTTON} mt-2") id="sync">"Sync"</button>
                </ActionForm>
            </div>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match runs.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="mt-4 text-sm text-slate-500" id="no-commands">"No commands sent yet."</p> }.into_any(),
                        Ok(list) => view! { <CommandTable runs=list/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
    .into_any()
}

fn outcome_colour(o: CommandOutcome) -> &'static str {
    match o {
        CommandOutcome::Done => "text-emerald-700",
        CommandOutcome::Failed => "text-red-700",
        CommandOutcome::Pending => "text-slate-500",
    }
}

#[component]
fn CommandTable(runs: Vec<CommandRun>) -> impl IntoView {
    view! {
        <div class="overflow-x-auto" tabindex="0">
        <table class="mt-4 min-w-full text-left text-sm" id="command-table">
            <thead class="text-xs uppercase text-slate-500"><tr><th class="py-2">"Command"</th><th>"Scope"</th><th>"By"</th><th>"When"</th><th>"Answers"</th></tr></thead>
            <tbody>
                {runs.into_iter().map(|r| {
                    let (done, failed, pending) = (r.count(CommandOutcome::Done), r.count(CommandOutcome::Failed), r.count(CommandOutcome::Pending));
                    let offline = r.targeted.saturating_sub(r.sent);
                    let reports = r.reports.iter().map(|p| view! {
                        <li>
                            <span class="font-mono">{p.neuron_id.clone()}</span> ": "
                            <span class=outcome_colour(p.outcome)>{p.outcome.as_str()}</span>
                            {(!p.message.is_empty()).then(|| view! { " — " <span class="text-slate-600">{p.message.clone()}</span> })}
                        </li>
                    }.into_any()).collect_view();
                    view! {
                        <tr class="border-t border-slate-100 align-top" data-command=r.id.clone()>
                            <td class="py-2">{r.command.as_str()}</td>
                            <td class="font-mono">{r.scope.clone()}</td>
                            <td>{r.created_by.clone()}</td>
                            <td class="text-slate-500">{fmt_time(r.created_at)}</td>
                            <td>
                                <span class="answers">{format!("{done} done · {failed} failed · {pending} pending")}</span>
                                {(offline > 0).then(|| view! { <span class="text-slate-500">{format!(" · {offline} not connected")}</span> })}
                                {(!r.reports.is_empty()).then(|| view! {
                                    <details class="mt-1"><summary class="cursor-pointer text-xs text-indigo-700">"Per neuron"</summary>
                                        <ul class="mt-1 text-xs">{reports}</ul>
                                    </details>
                                })}
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

/// Logs and errors neurons reported. The search form is a plain GET, so it works without
/// JavaScript; `rq`, `rneuron` and `rkind` in the address select what is shown.
#[component]
pub fn ReportsSection(tick: RwSignal<u64>) -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.with(|q| q.get(k).unwrap_or_default());
    let reports = Resource::new(
        move || (tick.get(), param("rq"), param("rneuron"), param("rkind")),
        |(_, q, neuron, kind)| neuron_reports(Some(neuron), Some(q), Some(kind)),
    );
    let kind_option = move |value: &'static str, label: &'static str| {
        view! { <option value=value selected=move || param("rkind") == value>{label}</option> }
    };
    view! {
        <section class=format!("{CARD} mt-6") id="reports">
            <h2 class="text-lg font-semibold">"Logs and errors"</h2>
            <p class="mt-1 text-sm text-slate-500">"What neurons reported (events of kind error or log), newest first."</p>
            <form method="get" action="#reports" class="mt-3 flex flex-wrap items-end gap-2" id="reports-search">
                <label class="text-sm font-medium text-slate-700">"Text"
                    <input name="rq" value=move || param("rq") class="mt-1 block rounded-md border border-slate-300 px-3 py-2 text-sm" placeholder="timeout, checkout…"/>
                </label>
                <label class="text-sm font-medium text-slate-700">"Neuron"
                    <input name="rneuron" value=move || param("rneuron") class="mt-1 block rounded-md border border-slate-300 px-3 py-2 font-mono text-sm"/>
                </label>
                <label class="text-sm font-medium text-slate-700">"Kind"
                    <select name="rkind" class="mt-1 block rounded-md border border-slate-300 px-2 py-2 text-sm">
                        {kind_option("", "errors and logs")}
                        {kind_option("error", "errors")}
                        {kind_option("log", "logs")}
                    </select>
                </label>
                <button type="submit" class=BUTTON>"Search"</button>
            </form>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match reports.await {
                        Err(e) => view! { <div class="mt-3"><ErrorBox error=e/></div> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="mt-4 text-sm text-slate-500" id="no-reports">"Nothing reported matches."</p> }.into_any(),
                        Ok(list) => view! { <ReportTable events=list/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
    .into_any()
}

#[component]
fn ReportTable(events: Vec<NeuronEvent>) -> impl IntoView {
    view! {
        <div class="overflow-x-auto" tabindex="0">
        <table class="mt-4 min-w-full text-left text-sm" id="report-table">
            <thead class="text-xs uppercase text-slate-500"><tr><th class="py-2">"When"</th><th>"Neuron"</th><th>"Kind"</th><th>"Where"</th><th>"Message"</th></tr></thead>
            <tbody>
                {events.into_iter().map(|e| {
                    let colour = if e.event.kind == EventKind::Error { "text-red-700" } else { "text-slate-600" };
                    view! {
                        <tr class="border-t border-slate-100 align-top" data-report=e.neuron_id.clone()>
                            <td class="py-2 whitespace-nowrap text-slate-500">{fmt_time(e.event.at)}</td>
                            <td class="font-mono"><a class="text-indigo-700 hover:underline" href=format!("?rneuron={}#reports", e.neuron_id)>{e.neuron_id.clone()}</a></td>
                            <td class=colour>{e.event.kind.as_str()}</td>
                            <td class="text-slate-600">{e.event.name.clone().or(e.event.page_slug.clone()).unwrap_or_default()}</td>
                            <td class="break-all">{e.event.message.clone().unwrap_or_default()}</td>
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
