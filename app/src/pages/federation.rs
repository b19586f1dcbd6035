//! `/admin/federation`: the fleet, live. Counts by status, version and region; the neurons
//! grouped by region with health colours; per-neuron detail and actions; the join policy.
//! Hydrated, it refreshes every few seconds; without JavaScript it is a complete page that
//! reloads itself.

use cortex_core::federation::{
    FleetHealth, JoinMode, JoinPolicy, Neuron, NeuronKind, NeuronStatus,
};
use leptos::prelude::*;

use crate::help::Help;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::commands::{HotReload, SyncNeurons};
use crate::api::federation::{
    fleet_health, join_policy, list_pushes, neuron_kinds, push_spread, refusal_alerts, BulkNeurons,
    PinNeuron, PushConfig, RemoveNeuron, SetJoinPolicy, SetNeuronStatus,
};
use crate::components::chart::LineChart;
use crate::components::{
    fmt_time, textarea_text, ActionError, ErrorBox, FormError, Loading, BUTTON, BUTTON_DANGER, CARD,
};
use crate::pages::browser_keys::BrowserKeysSection;
use crate::pages::fleet_ops::{CommandsSection, ReportsSection};
use cortex_core::federation::Propagation;

/// How often the hydrated page refreshes the fleet.
const REFRESH_MS: u64 = 3000;

/// The actions a neuron's card offers.
#[derive(Clone, Copy)]
struct CardActions {
    set_status: ServerAction<SetNeuronStatus>,
    pin: ServerAction<PinNeuron>,
    remove: ServerAction<RemoveNeuron>,
    hot_reload: ServerAction<HotReload>,
    sync: ServerAction<SyncNeurons>,
    set_override: ServerAction<crate::api::review::SetOverride>,
    clear_override: ServerAction<crate::api::review::ClearOverride>,
}

fn status_colour(s: NeuronStatus) -> &'static str {
    match s {
        NeuronStatus::Active => "bg-emerald-100 text-emerald-800 border-emerald-300",
        NeuronStatus::Degraded => "bg-amber-100 text-amber-800 border-amber-300",
        NeuronStatus::Unhealthy => "bg-red-100 text-red-800 border-red-300",
        NeuronStatus::Pending => "bg-sky-100 text-sky-800 border-sky-300",
        NeuronStatus::Draining => "bg-violet-100 text-violet-800 border-violet-300",
        NeuronStatus::Retired => "bg-slate-100 text-slate-700 border-slate-300",
    }
}

/// The page.
#[component]
pub fn FederationPage() -> impl IntoView {
    let set_status = ServerAction::<SetNeuronStatus>::new();
    let pin = ServerAction::<PinNeuron>::new();
    let remove = ServerAction::<RemoveNeuron>::new();
    let policy_action = ServerAction::<SetJoinPolicy>::new();
    // Bumped every few seconds once hydrated (never on the server).
    let tick = RwSignal::new(0u64);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(
            move || tick.update(|t| *t += 1),
            std::time::Duration::from_millis(REFRESH_MS),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    let bulk = ServerAction::<BulkNeurons>::new();
    let query = use_query_map();
    let search = move || query.with(|q| q.get("q").unwrap_or_default());
    let only = move || query.with(|q| q.get("status").unwrap_or_default());
    let offset = move || {
        query.with(|q| {
            q.get("offset")
                .and_then(|o| o.parse::<u32>().ok())
                .unwrap_or(0)
        })
    };
    let set_override = ServerAction::<crate::api::review::SetOverride>::new();
    let clear_override = ServerAction::<crate::api::review::ClearOverride>::new();
    let fleet = Resource::new(
        move || {
            (
                (
                    tick.get(),
                    set_status.version().get(),
                    pin.version().get(),
                    remove.version().get(),
                    bulk.version().get(),
                    set_override.version().get(),
                    clear_override.version().get(),
                ),
                (only(), search(), offset()),
            )
        },
        |(_, (status, q, offset))| fleet_health(Some(status), Some(q), Some(offset), None),
    );
    let policy = Resource::new(move || policy_action.version().get(), |_| join_policy());
    let push = ServerAction::<PushConfig>::new();
    let hot_reload = ServerAction::<HotReload>::new();
    let sync = ServerAction::<SyncNeurons>::new();
    let actions = CardActions {
        set_status,
        pin,
        remove,
        hot_reload,
        sync,
        set_override,
        clear_override,
    };
    let pushes = Resource::new(
        move || (tick.get(), push.version().get()),
        |_| list_pushes(),
    );
    let spread = Resource::new(
        move || (tick.get(), push.version().get()),
        |_| push_spread(None, None),
    );
    let kinds = Resource::new(|| (), |_| neuron_kinds());
    let alerts = Resource::new(move || tick.get(), |_| refusal_alerts());
    // Which cards are open, and which are ticked for a bulk action, survive the refreshes.
    let open = RwSignal::new(std::collections::HashSet::<String>::new());
    let selected = RwSignal::new(std::collections::HashSet::<String>::new());
    // A bulk action that went through clears the selection.
    Effect::new(move |_| {
        if let Some(Ok(_)) = bulk.value().get() {
            selected.update(|s| s.clear());
        }
    });

    view! {
        <Title text="Federation"/>
        <noscript><meta http-equiv="refresh" content="15"/></noscript>
        <div class="flex items-baseline justify-between">
            <h1 class="text-2xl font-bold">"Federation"</h1>
            <p class="text-xs text-slate-500" id="live-note">"Live: refreshes every few seconds"</p>
        </div>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match alerts.await {
                    Ok(list) if !list.is_empty() => Some(view! { <AlertList alerts=list/> }),
                    _ => None,
                }
            })}
        </Transition>
        <ActionError action=set_status/>
        <ActionError action=pin/>
        <ActionError action=remove/>
        <ActionError action=bulk/>
        {move || bulk.value().get().and_then(Result::ok).map(|o| view! {
            <p class="mt-3 rounded-md border border-emerald-300 bg-emerald-50 p-3 text-sm" id="bulk-result">
                {format!("{} done", o.done.len())}
                {(!o.failed.is_empty()).then(|| format!("; {} not: {}", o.failed.len(),
                    o.failed.iter().take(5).map(|(id, why)| format!("{id} ({why})")).collect::<Vec<_>>().join("; ")))}
            </p>
        })}
        <form method="get" class="mt-6 flex flex-wrap items-end gap-2" id="fleet-search">
            <label class="text-sm font-medium text-slate-700">"Search"
                <input name="q" value=search class="mt-1 block rounded-md border border-slate-300 bg-white px-3 py-2 text-sm" placeholder="id, app, kind, version, tag"/>
            </label>
            <input type="hidden" name="status" value=only/>
            <button type="submit" class=BUTTON>"Filter"</button>
        </form>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match fleet.await {
                    Err(e) => view! { <div class="mt-6"><ErrorBox error=e/></div> }.into_any(),
                    Ok(h) => view! {
                        <Summary health=h.clone()/>
                        <Fleet health=h search=search() only=only() open selected actions bulk/>
                    }.into_any(),
                }
            })}
        </Transition>
        <section class=format!("{CARD} mt-6") id="push">
            <h2 class="text-lg font-semibold">"Push a bundle"</h2>
            <Help key="push" class="mt-1 text-sm text-slate-500"/>
            <ActionError action=push/>
            {move || match push.value().get() {
                Some(Ok(r)) => Some(match &r.held {
                    Some(h) => view! {
                        <p class="mt-3 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm" id="push-result">
                            {format!("Held for review ({}): ", h.reason.describe())}
                            <a class="text-indigo-600 underline" href=format!("/admin/federation/changes?id={}", h.change_request)>"change request"</a>
                        </p>
                    }.into_any(),
                    None => view! {
                        <p class="mt-3 rounded-md border border-emerald-300 bg-emerald-50 p-3 text-sm" id="push-result">
                            {format!("{} revision {} ({}) sent to {} of {} targeted neurons{}{}", r.scope, r.revision, r.kind, r.sent, r.targeted,
                                if r.audience.is_everyone() { String::new() } else { format!(" (staged: {})", r.audience.describe()) },
                                r.overwrote.map(|o| format!("; it overwrote revision {o}, pushed since yours")).unwrap_or_default())}
                        </p>
                    }.into_any(),
                }),
                _ => None,
            }}
            <ActionForm action=push>
                <div class="mt-3 grid items-end gap-3 sm:grid-cols-4">
                    <label class="block text-sm font-medium text-slate-700">"Scope"
                        <input name="scope" value="global" required class="mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 font-mono text-sm"/>
                    </label>
                    <label class="block text-sm font-medium text-slate-700">"Kind"
                        <select name="kind" class="mt-1 block w-full rounded-md border border-slate-300 px-2 py-2 text-sm">
                            <option value="config">"config"</option>
                            <option value="experiments">"experiments"</option>
                            <option value="offers">"offers"</option>
                            <option value="layoutRules">"layoutRules"</option>
                        </select>
                    </label>
                    <label class="block text-sm font-medium text-slate-700 sm:col-span-2">"Body (JSON object)"
                        <textarea name="body" rows="3" required class="mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 font-mono text-xs">"{\"theme\": \"dark\"}"</textarea>
                    </label>
                    <label class="block text-sm font-medium text-slate-700">"Staged: percent (optional)"
                        <input name="rollout_percent" inputmode="numeric" placeholder="e.g. 10" class="mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm"/>
                    </label>
                    <label class="block text-sm font-medium text-slate-700">"Staged: tags first (optional)"
                        <input name="rollout_tags" placeholder="e.g. canary" class="mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 font-mono text-sm"/>
                    </label>
                    <label class="block text-sm font-medium text-slate-700">"Made from revision"
                        <input name="base_revision" inputmode="numeric" placeholder="e.g. 4; 0: first" class="mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm"/>
                    </label>
                </div>
                <button type="submit" class=format!("{BUTTON} mt-3")>"Push"</button>
            </ActionForm>
            <h3 class="mt-6 text-sm font-semibold">"Propagation"</h3>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match pushes.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="mt-2 text-sm text-slate-500" id="no-pushes">"Nothing pushed yet."</p> }.into_any(),
                        Ok(list) => view! { <PushTable pushes=list push/> }.into_any(),
                    }
                })}
            </Transition>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match spread.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(None) => ().into_any(),
                        Ok(Some(s)) => view! { <Spread spread=s/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <CommandsSection tick hot_reload sync/>
        <ReportsSection tick/>
        <section class=format!("{CARD} mt-6") id="join-policy">
            <h2 class="text-lg font-semibold">"Join policy"</h2>
            <Help key="join-policy" class="mt-1 text-sm text-slate-500"/>
            <ActionError action=policy_action/>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match policy.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(p) => view! { <PolicyForm policy=p action=policy_action/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <BrowserKeysSection/>
        <section class=format!("{CARD} mt-6") id="kinds">
            <h2 class="text-lg font-semibold">"Neuron kinds"</h2>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match kinds.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(k) => view! { <KindTable kinds=k/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Summary(health: FleetHealth) -> impl IntoView {
    let chips = NeuronStatus::ALL
        .into_iter()
        .map(|s| {
            let n = health.by_status.get(s.as_str()).copied().unwrap_or(0);
            view! {
                <a href=format!("?status={}", s.as_str()) class=format!("rounded-md border px-3 py-2 text-sm {}", status_colour(s)) data-status-count=s.as_str()>
                    <span class="font-semibold">{n}</span> " " {s.as_str()}
                </a>
            }
        })
        .collect_view();
    let versions = health
        .by_version
        .iter()
        .map(|(v, n)| view! { <li><span class="font-mono">{v.clone()}</span> ": " {*n}</li> })
        .collect_view();
    let regions = health
        .by_region
        .iter()
        .map(|(r, n)| view! { <li>{r.clone()} ": " {*n}</li> })
        .collect_view();
    view! {
        <section class=format!("{CARD} mt-6") id="summary">
            <p class="text-sm text-slate-500"><span class="text-2xl font-bold text-slate-900" id="fleet-total">{health.total}</span> " neurons"</p>
            <div class="mt-3 flex flex-wrap gap-2">{chips} <a href="?" class="px-3 py-2 text-sm text-indigo-600 hover:underline">"all"</a></div>
            {(health.drifting > 0).then(|| view! {
                <p class="mt-3 text-sm text-amber-900" id="fleet-drifting">
                    {format!("{} neuron{} differ from their kind's expected release. ", health.drifting, if health.drifting == 1 { "" } else { "s" })}
                    <a href="/admin/releases" class="text-indigo-600 hover:underline">"See releases"</a>
                </p>
            })}
            <div class="mt-4 grid gap-4 sm:grid-cols-2 text-sm">
                <div><h3 class="font-semibold">"Versions (drift)"</h3><ul class="mt-1 text-slate-700" id="versions">{versions}</ul></div>
                <div><h3 class="font-semibold">"Regions"</h3><ul class="mt-1 text-slate-700">{regions}</ul></div>
            </div>
        </section>
    }
    .into_any()
}

/// A link to another page of the fleet, keeping the filter.
fn page_href(only: &str, search: &str, offset: u32) -> String {
    let enc = cortex_core::urls::encode_component;
    format!("?status={}&q={}&offset={offset}", enc(only), enc(search))
}

#[component]
fn Fleet(
    health: FleetHealth,
    search: String,
    only: String,
    open: RwSignal<std::collections::HashSet<String>>,
    selected: RwSignal<std::collections::HashSet<String>>,
    actions: CardActions,
    bulk: ServerAction<BulkNeurons>,
) -> impl IntoView {
    let on_page: Vec<String> = health.neurons.iter().map(|n| n.id.to_string()).collect();
    let pending: Vec<String> = health
        .neurons
        .iter()
        .filter(|n| n.status == NeuronStatus::Pending)
        .map(|n| n.id.to_string())
        .collect();
    let (first, shown, matched) = (health.offset, health.neurons.len() as u32, health.matched);
    // Group by region, keeping the store's order (region, then id).
    let mut groups: Vec<(String, Vec<Neuron>)> = Vec::new();
    for n in health.neurons {
        let region = n.region.clone().unwrap_or_else(|| "no region".into());
        match groups.last_mut() {
            Some((r, list)) if *r == region => list.push(n),
            _ => groups.push((region, vec![n])),
        }
    }
    let empty = groups.is_empty();
    let previous = (first > 0).then(|| {
        page_href(
            &only,
            &search,
            first.saturating_sub(cortex_core::federation::FLEET_PAGE),
        )
    });
    let next =
        (u64::from(first + shown) < matched).then(|| page_href(&only, &search, first + shown));
    let bulk_form = (!pending.is_empty()).then(|| {
        let ids = pending.join(",");
        let count = pending.len();
        let ids_deny = ids.clone();
        view! {
            <div class="mt-3 flex flex-wrap items-center gap-2 rounded-md border border-sky-200 bg-sky-50 p-3 text-sm" id="bulk">
                <span>{format!("{count} pending on this page:")}</span>
                <ActionForm action=bulk>
                    <input type="hidden" name="action" value="approve"/>
                    <input type="hidden" name="ids" value=ids/>
                    <button type="submit" class="rounded-md border border-slate-300 bg-white px-2 py-1 text-xs hover:bg-slate-50" id="bulk-approve">"Approve all (admin)"</button>
                </ActionForm>
                <ActionForm action=bulk>
                    <input type="hidden" name="action" value="deny"/>
                    <input type="hidden" name="ids" value=ids_deny/>
                    <button type="submit" class=BUTTON_DANGER id="bulk-deny">"Deny all"</button>
                </ActionForm>
            </div>
        }
    });
    view! {
        <section class=format!("{CARD} mt-6") id="fleet">
            <p class="text-sm text-slate-600" id="fleet-page">
                {if matched == 0 { "No match".to_string() } else { format!("{}-{} of {matched}", first + 1, first + shown) }}
                {previous.map(|h| view! { " · " <a class="text-indigo-700 hover:underline" href=h id="fleet-previous">"previous"</a> })}
                {next.map(|h| view! { " · " <a class="text-indigo-700 hover:underline" href=h id="fleet-next">"next"</a> })}
            </p>
            {bulk_form}
            {(!empty).then(|| view! { <Selection on_page selected bulk/> })}
            {empty.then(|| view! {
                <p class="mt-4 text-sm text-slate-600" id="no-neurons">"No neurons match. Neurons join with "<code>"POST /api/federation/register"</code>"; see README_federation.md."</p>
            })}
            {groups.into_iter().map(|(region, list)| view! {
                <h3 class="mt-6 text-sm font-semibold uppercase tracking-wide text-slate-500">{region} " (" {list.len()} ")"</h3>
                <div class="mt-2 grid items-start gap-3 sm:grid-cols-2 lg:grid-cols-3">
                    {list.into_iter().map(|n| view! { <NeuronCard neuron=n open selected actions/> }).collect_view()}
                </div>
            }).collect_view()}
        </section>
    }
    .into_any()
}

/// A bulk action on the neurons ticked on their cards. The ticks are fields of this form
/// (their `form` attribute), so it works without JavaScript; with it, ticks survive the
/// page's refreshes and "select all" ticks the whole page.
#[component]
fn Selection(
    on_page: Vec<String>,
    selected: RwSignal<std::collections::HashSet<String>>,
    bulk: ServerAction<BulkNeurons>,
) -> impl IntoView {
    let count = move || selected.with(|s| s.len());
    view! {
        <ActionForm action=bulk attr:id="fleet-selection" attr:class="mt-3 flex flex-wrap items-center gap-2 rounded-md border border-slate-200 bg-slate-50 p-3 text-sm">
            <input type="hidden" name="ids" value=""/>
            <button type="button" class="rounded-md border border-slate-300 bg-white px-2 py-1 text-xs hover:bg-slate-50" id="select-page"
                on:click=move |_| selected.update(|s| s.extend(on_page.iter().cloned()))>"Select this page"</button>
            <button type="button" class="rounded-md border border-slate-300 bg-white px-2 py-1 text-xs hover:bg-slate-50" id="select-none"
                on:click=move |_| selected.update(|s| s.clear())>"Clear"</button>
            <span class="text-slate-600" id="selected-count">{move || format!("{} selected", count())}</span>
            <label class="ml-auto flex items-center gap-1">"Action"
                <select name="action" class="rounded-md border border-slate-300 px-2 py-1 text-xs" id="bulk-action">
                    {cortex_core::federation::BulkAction::ALL.into_iter().map(|a| view! { <option value=a.as_str()>{a.as_str()}</option> }).collect_view()}
                </select>
            </label>
            <button type="submit" class="rounded-md bg-indigo-600 px-3 py-1 text-xs font-semibold text-white hover:bg-indigo-500" id="bulk-apply">"Apply to selected"</button>
        </ActionForm>
    }
}

#[component]
fn NeuronCard(
    neuron: Neuron,
    open: RwSignal<std::collections::HashSet<String>>,
    selected: RwSignal<std::collections::HashSet<String>>,
    actions: CardActions,
) -> impl IntoView {
    let CardActions {
        set_status,
        pin,
        remove,
        hot_reload,
        sync,
        set_override,
        clear_override,
    } = actions;
    let n = neuron;
    let own_scope = format!("neuron:{}", n.id);
    let (scope_sync, scope_reload) = (own_scope.clone(), own_scope);
    let (id_override, id_clear) = (n.id.to_string(), n.id.to_string());
    let action = |label: &'static str, status: &'static str| {
        let id = n.id.to_string();
        view! {
            <ActionForm action=set_status>
                <input type="hidden" name="id" value=id/>
                <input type="hidden" name="status" value=status/>
                <button type="submit" class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-50">{label}</button>
            </ActionForm>
        }
    };
    let buttons = match n.status {
        NeuronStatus::Pending => vec![action("Approve", "active")],
        NeuronStatus::Retired => vec![action("Reactivate", "active")],
        NeuronStatus::Draining => vec![action("Undrain", "active"), action("Retire", "retired")],
        _ => vec![action("Drain", "draining"), action("Retire", "retired")],
    };
    let (id_pin, id_remove) = (n.id.to_string(), n.id.to_string());
    let checks = n
        .checks
        .iter()
        .map(|c| {
            view! {
                <li>
                    <span class="font-medium">{c.name.clone()}</span> ": " {format!("{:?}", c.state).to_lowercase()}
                    {c.message.clone().map(|m| view! { " — " <span class="text-slate-500">{m}</span> })}
                </li>
            }
        })
        .collect_view();
    let load = [
        n.load.cpu_percent.map(|v| format!("cpu {v:.0}%")),
        n.load.memory_mb.map(|v| format!("mem {v:.0} MB")),
        n.load.requests_per_second.map(|v| format!("{v:.1} req/s")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");
    view! {
        <article class=format!("rounded-md border p-3 text-sm {}", status_colour(n.status)) data-neuron=n.id.to_string() data-status=n.status.as_str()>
            <div class="flex items-baseline justify-between gap-2">
                <label class="flex min-w-0 items-baseline gap-2">
                    <input type="checkbox" name="pick[]" value=n.id.to_string() form="fleet-selection" class="self-center" data-pick=n.id.to_string()
                        aria-label=format!("Select {}", n.id)
                        prop:checked={
                            let id = n.id.to_string();
                            move || selected.with(|s| s.contains(&id))
                        }
                        on:change={
                            let id = n.id.to_string();
                            move |ev| {
                                let on = event_target_checked(&ev);
                                selected.update(|s| {
                                    if on { s.insert(id.clone()); } else { s.remove(&id); }
                                });
                            }
                        }/>
                    <span class="break-all font-mono font-semibold">{n.id.to_string()}</span>
                </label>
                <span class="text-xs font-semibold uppercase">{n.status.as_str()} {n.pinned.then_some(" · pinned")}</span>
            </div>
            <p class="mt-1 text-xs">{n.slug.clone()} " · " {n.kind.clone()} " · v" {n.version.clone()}</p>
            {(!n.drift.is_empty()).then(|| view! {
                <ul class="mt-1 rounded bg-amber-100 px-1.5 py-0.5 text-xs text-amber-900" data-drift="">
                    {n.drift.iter().map(|d| view! { <li class="break-all">"drift · " {d.describe()}</li> }).collect_view()}
                </ul>
            })}
            {n.config_override.as_ref().map(|o| view! {
                <p class="mt-1 break-all rounded bg-violet-100 px-1.5 py-0.5 text-xs text-violet-900" data-override="">
                    "override · " {o.describe()} " · by " {o.created_by.clone()}
                </p>
            })}
            {n.migration.as_ref().filter(|m| m.state == cortex_core::federation::MigrationState::Failed).map(|m| view! {
                <p class="mt-1 text-xs font-semibold text-red-700" data-migration-failed="">"migration " {m.id.clone()} " failed"</p>
            })}
            <p class="mt-1 text-xs text-slate-600">"last seen " {fmt_time(n.last_seen_at)}
                {n.probe.as_ref().filter(|p| p.state != cortex_core::federation::HealthState::Ok).map(|p| view! {
                    <span class="ml-1 font-semibold text-red-700">" · probe failing: " {p.message.clone()}</span>
                })}
            </p>
            <details class="mt-2" open=open.with_untracked(|o| o.contains(n.id.as_str())) on:toggle={
                let id = n.id.to_string();
                move |ev| {
                    let is_open = event_target::<leptos::web_sys::Element>(&ev).has_attribute("open");
                    open.update(|o| {
                        if is_open { o.insert(id.clone()); } else { o.remove(&id); }
                    });
                }
            }>
                <summary class="cursor-pointer text-xs text-indigo-700">"Details and actions"</summary>
                <dl class="mt-2 space-y-1 text-xs text-slate-700">
                    <div><dt class="inline font-semibold">"Tags: "</dt><dd class="inline">{n.tags.join(", ")}</dd></div>
                    <div><dt class="inline font-semibold">"Capabilities: "</dt><dd class="inline">{n.capabilities.join(", ")}</dd></div>
                    <div><dt class="inline font-semibold">"Health: "</dt><dd class="inline">{format!("{:?}", n.health).to_lowercase()}</dd></div>
                    {(!load.is_empty()).then(|| view! { <div><dt class="inline font-semibold">"Load: "</dt><dd class="inline">{load}</dd></div> })}
                    {n.endpoint.clone().map(|e| view! { <div><dt class="inline font-semibold">"Endpoint: "</dt><dd class="inline font-mono">{e}</dd></div> })}
                    {n.probe.clone().map(|p| view! {
                        <div data-probe=format!("{:?}", p.state).to_lowercase()>
                            <dt class="inline font-semibold">"Hub probe: "</dt>
                            <dd class="inline">{format!("{:?}", p.state).to_lowercase()} " — " {p.message.clone()} {format!(" ({} ms, {})", p.latency_ms, fmt_time(p.at))}</dd>
                        </div>
                    })}
                    <div><dt class="inline font-semibold">"Registered: "</dt><dd class="inline">{fmt_time(n.registered_at)}</dd></div>
                    <div data-acked=""><dt class="inline font-semibold">"Acked: "</dt><dd class="inline font-mono">{
                        if n.acked.is_empty() { "nothing yet".to_string() } else {
                            n.acked.iter().map(|a| format!("{} #{}", a.scope, a.revision)).collect::<Vec<_>>().join(", ")
                        }
                    }</dd></div>
                    <div><dt class="inline font-semibold">"Key: "</dt><dd class="inline break-all font-mono">{n.public_key.clone()}</dd></div>
                </dl>
                {(!n.checks.is_empty()).then(|| view! { <ul class="mt-2 list-disc pl-4 text-xs">{checks}</ul> })}
                <div class="mt-3 flex flex-wrap gap-2">
                    {buttons}
                    <ActionForm action=pin>
                        <input type="hidden" name="id" value=id_pin/>
                        <input type="hidden" name="pinned" value=(!n.pinned).to_string()/>
                        <button type="submit" class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-50">{if n.pinned { "Unpin" } else { "Pin" }}</button>
                    </ActionForm>
                    <ActionForm action=remove>
                        <input type="hidden" name="id" value=id_remove/>
                        <button type="submit" class=BUTTON_DANGER>{if n.status == NeuronStatus::Pending { "Deny" } else { "Remove" }}</button>
                    </ActionForm>
                </div>
                {n.status.is_joined().then(|| view! {
                    <div class="mt-2 flex flex-wrap items-center gap-2">
                        <ActionForm action=sync>
                            <input type="hidden" name="scope" value=scope_sync/>
                            <button type="submit" class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-50">"Sync"</button>
                        </ActionForm>
                        <ActionForm action=hot_reload>
                            <input type="hidden" name="scope" value=scope_reload/>
                            <button type="submit" class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-50">"Hot reload"</button>
                        </ActionForm>
                        <a class="text-xs text-indigo-700 hover:underline" href=format!("?rneuron={}#reports", n.id)>"Logs and errors"</a>
                    </div>
                    {n.config_override.clone().map(|_| view! {
                        <ActionForm action=clear_override attr:class="mt-2">
                            <input type="hidden" name="id" value=id_clear.clone()/>
                            <button type="submit" class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-50" data-clear-override="">"Clear override"</button>
                        </ActionForm>
                    })}
                    <ActionForm action=set_override attr:class="mt-2 grid gap-1 text-xs" attr:data-override-form="">
                        <input type="hidden" name="id" value=id_override.clone()/>
                        <label class="font-medium text-slate-700">"Override keys (JSON)"
                            <textarea name="keys" rows="2" class="mt-1 block w-full rounded-md border border-slate-300 bg-white px-2 py-1 font-mono">"{}"</textarea>
                        </label>
                        <div class="flex flex-wrap gap-1">
                            <input name="pin_scope" placeholder="pin: scope" aria-label="Pin to scope" class="w-24 rounded-md border border-slate-300 px-1 py-0.5"/>
                            <input name="pin_revision" placeholder="revision" aria-label="Pin to revision" class="w-16 rounded-md border border-slate-300 px-1 py-0.5"/>
                            <input name="expires_in" placeholder="for, e.g. 2h" aria-label="Expires in" class="w-20 rounded-md border border-slate-300 px-1 py-0.5"/>
                            <input name="reason" placeholder="why" aria-label="Reason" class="w-24 rounded-md border border-slate-300 px-1 py-0.5"/>
                        </div>
                        <FormError action=set_override/>
                        <button type="submit" class="justify-self-start rounded-md border border-slate-300 bg-white px-2 py-1 hover:bg-slate-50">"Override"</button>
                    </ActionForm>
                })}
            </details>
        </article>
    }
    .into_any()
}

#[component]
fn AlertList(alerts: Vec<cortex_core::federation::RefusalAlert>) -> impl IntoView {
    view! {
        <section class="mt-6 rounded-lg border border-red-300 bg-red-50 p-4" id="alerts" role="status">
            <h2 class="font-semibold text-red-800">"Repeated refused neuron requests"</h2>
            <Help key="refusals" class="mt-1 text-sm text-red-700"/>
            <div class="overflow-x-auto" tabindex="0">
            <table class="mt-2 min-w-full text-left text-sm">
                <thead class="text-xs uppercase text-red-700"><tr><th class="py-1">"Source"</th><th>"Refused"</th><th>"Since"</th><th>"Claimed neuron"</th><th>"Last reason"</th></tr></thead>
                <tbody>
                    {alerts.into_iter().map(|a| view! {
                        <tr class="border-t border-red-200 align-top" data-alert=a.source.clone()>
                            <td class="py-1 font-mono">{a.source.clone()}</td>
                            <td>{a.failures}</td>
                            <td>{fmt_time(a.since)}</td>
                            <td class="font-mono">{a.last_neuron.clone().unwrap_or_else(|| "—".into())}</td>
                            <td>{a.last_reason.clone()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            </div>
        </section>
    }
    .into_any()
}

#[component]
fn PolicyForm(policy: JoinPolicy, action: ServerAction<SetJoinPolicy>) -> impl IntoView {
    let current = policy.mode;
    let key_tags = policy
        .key_tags
        .iter()
        .map(|(k, t)| format!("{k} {}", t.join(", ")))
        .collect::<Vec<_>>()
        .join("\n");
    let option = move |mode: JoinMode, value: &'static str, label: &'static str| {
        view! { <option value=value selected=current == mode>{label}</option> }
    };
    view! {
        <p class="mt-3 text-sm">"Now: " <strong id="policy-mode">{format!("{:?}", policy.mode).to_lowercase()}</strong></p>
        <ActionForm action=action>
            <div class="mt-3 grid items-end gap-3 sm:grid-cols-4">
                <label class="block text-sm font-medium text-slate-700">"Mode"
                    <select name="mode" class="mt-1 block w-full rounded-md border border-slate-300 px-2 py-2 text-sm">
                        {option(JoinMode::Approval, "approval", "approval")}
                        {option(JoinMode::Allowlist, "allowlist", "allowlist")}
                        {option(JoinMode::Open, "open", "open")}
                    </select>
                </label>
                <label class="block text-sm font-medium text-slate-700 sm:col-span-2">"Allowed keys (allowlist; one per line)"
                    <textarea name="keys" rows="2" class="mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 font-mono text-xs" prop:value=policy.keys.join("\n")>{textarea_text(&policy.keys.join("\n"))}</textarea>
                </label>
                <label class="block text-sm font-medium text-slate-700">"Allowed tags (comma separated)"
                    <input name="tags" value=policy.tags.join(", ") class="mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm"/>
                </label>
                <label class="block text-sm font-medium text-slate-700 sm:col-span-4">"Tags you give to keys (a key per line, then its tags). Allowed tags admit only these, never tags a neuron claims"
                    <textarea name="key_tags" rows="2" class="mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 font-mono text-xs" placeholder="BASE64KEY= eu, canary" prop:value=key_tags.clone()>{textarea_text(&key_tags)}</textarea>
                </label>
            </div>
            <button type="submit" class=format!("{BUTTON} mt-3")>"Save policy"</button>
        </ActionForm>
    }
    .into_any()
}

#[component]
fn KindTable(kinds: Vec<NeuronKind>) -> impl IntoView {
    view! {
        <div class="overflow-x-auto" tabindex="0">
        <table class="mt-3 min-w-full text-left text-sm">
            <thead class="text-xs uppercase text-slate-500"><tr><th class="py-2">"Kind"</th><th>"Transport"</th><th>"Capabilities"</th><th>"Health checks"</th></tr></thead>
            <tbody>
                {kinds.into_iter().map(|k| view! {
                    <tr class="border-t border-slate-100">
                        <td class="py-2"><span class="font-mono font-medium">{k.name.clone()}</span><br/><span class="text-xs text-slate-500">{k.description.clone()}</span></td>
                        <td>{format!("{:?}", k.transport).to_lowercase()}</td>
                        <td class="text-xs">{k.capabilities.join(", ")}</td>
                        <td class="text-xs">{k.health_checks.join(", ")}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
    .into_any()
}

/// The newest push's spread over time: neurons holding it against those it targets.
#[component]
fn Spread(spread: cortex_core::federation::PushSpread) -> impl IntoView {
    let took = match (spread.last_ack_ms, spread.acked >= spread.targeted) {
        (Some(ms), true) => format!(
            "all {} targeted neurons held it {:.1} s after the push",
            spread.targeted,
            ms as f64 / 1000.0
        ),
        (_, _) => format!(
            "{} of {} targeted neurons hold it",
            spread.acked, spread.targeted
        ),
    };
    view! {
        <div class="mt-4" id="spread">
            <h3 class="text-sm font-semibold">{format!("How the newest push spread: {} revision {}", spread.scope, spread.revision)}</h3>
            <p class="text-xs text-slate-600" id="spread-summary">{took}</p>
            <LineChart data=spread.chart() id="spread-chart" label=format!("Neurons holding {} revision {} over the time since it was pushed", spread.scope, spread.revision)/>
        </div>
    }
}

#[component]
fn PushTable(pushes: Vec<Propagation>, push: ServerAction<PushConfig>) -> impl IntoView {
    view! {
        <div class="overflow-x-auto" tabindex="0">
        <table class="mt-2 min-w-full text-left text-sm" id="push-table">
            <thead class="text-xs uppercase text-slate-500"><tr><th class="py-2">"Scope"</th><th>"Revision"</th><th>"Kind"</th><th>"By"</th><th>"When"</th><th>"Acked"</th></tr></thead>
            <tbody>
                {pushes.into_iter().map(|p| {
                    let share = (p.acked.min(p.targeted) * 100).checked_div(p.targeted).unwrap_or(0) as u32;
                    view! {
                        <tr class="border-t border-slate-100" data-push=format!("{}#{}", p.scope, p.revision)>
                            <td class="py-2 font-mono">
                                <a href=format!("/admin/federation/scope?scope={}", cortex_core::urls::encode_component(&p.scope)) class="text-indigo-600 hover:underline" title="History and rollback">{p.scope.clone()}</a>
                            </td>
                            <td>{p.revision}</td>
                            <td>
                                {p.kind.as_str()}
                                {(!p.audience.is_everyone()).then(|| view! {
                                    <span class="ml-1 rounded bg-amber-100 px-1 text-xs text-amber-800 staged">{format!("staged: {}", p.audience.describe())}</span>
                                })}
                                {p.staged_body.clone().map(|body| {
                                    let (scope, kind) = (p.scope.clone(), p.kind.as_str());
                                    view! {
                                        <ActionForm action=push attr:class="inline">
                                            <input type="hidden" name="scope" value=scope/>
                                            <input type="hidden" name="kind" value=kind/>
                                            <input type="hidden" name="body" value=body.to_string()/>
                                            <button type="submit" class="ml-1 rounded border border-slate-300 px-1 text-xs hover:bg-slate-50">"Promote to all"</button>
                                        </ActionForm>
                                    }
                                })}
                            </td>
                            <td>{p.created_by.clone()}</td>
                            <td class="text-slate-500">{fmt_time(p.created_at)}</td>
                            <td>
                                <div class="flex items-center gap-2">
                                    <div class="h-2 w-24 rounded bg-slate-200"><div class="h-2 rounded bg-emerald-500" style=format!("width: {share}%")></div></div>
                                    <span class="acked">{format!("{}/{}", p.acked, p.targeted)}</span>
                                </div>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
    .into_any()
}
