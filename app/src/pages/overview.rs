//! `/admin`: the hub at a glance. What needs someone first, then the fleet, the rules and
//! experiments, the newest pushes, refusal alerts and the event rate; every number links to
//! the page behind it.

use cortex_core::federation::Propagation;
use cortex_core::overview::{Attention, ExperimentHeadline, Overview, Severity};
use leptos::prelude::*;

use crate::help::Help;
use leptos_meta::Title;

use crate::api::overview::get_overview;
use crate::components::chart::LineChart;
use crate::components::{fmt_time, ErrorBox, Loading, CARD};

/// Status colours for the fleet bar (the federation page's badges use the same hues).
const STATUS_COLOURS: [(&str, &str); 6] = [
    ("active", "bg-emerald-500"),
    ("degraded", "bg-amber-400"),
    ("unhealthy", "bg-red-500"),
    ("draining", "bg-sky-400"),
    ("pending", "bg-violet-400"),
    ("retired", "bg-slate-300"),
];

const LINK: &str = "text-indigo-700 hover:underline";

/// The overview page.
#[component]
pub fn OverviewPage() -> impl IntoView {
    let overview = Resource::new(|| (), |_| get_overview());
    view! {
        <Title text="Overview"/>
        <h1 class="text-2xl font-bold">"Overview"</h1>
        <Suspense fallback=|| view! { <div class="mt-6"><Loading/></div> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Err(e) => view! { <div class="mt-6"><ErrorBox error=e/></div> }.into_any(),
                    Ok(o) => view! { <Dashboard o/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Dashboard(o: Overview) -> impl IntoView {
    let attention = o.needs_attention();
    let chart = o.event_chart();
    let in_window = o.events_in_window();
    let joined: u64 = ["active", "degraded", "unhealthy", "draining"]
        .iter()
        .map(|s| o.count(s))
        .sum();
    let db = if o.status.database_ok {
        format!("{} · ok", o.status.backend)
    } else {
        format!("{} · unreachable", o.status.backend)
    };
    view! {
        <p class="mt-1 text-sm text-slate-500">{format!("As of {}", fmt_time(o.now))}</p>
        <NeedsYou items=attention/>
        <div class="mt-6 grid grid-cols-2 gap-3 lg:grid-cols-4" id="overview-stats">
            <Stat label="Neurons joined" value=joined.to_string() href="/admin/federation".into() id="stat-neurons"/>
            <Stat label="Waiting for approval" value=o.count("pending").to_string() href="/admin/federation?status=pending".into() id="stat-pending"/>
            <Stat label="Unhealthy" value=o.count("unhealthy").to_string() href="/admin/federation?status=unhealthy".into() id="stat-unhealthy"/>
            <Stat label="Rules in force" value=o.rules.active.to_string() href="/admin/layout-mutations?status=active".into() id="stat-rules"/>
            <Stat label="Experiments running" value=o.rules.experiments.to_string() href="/admin/experiments".into() id="stat-experiments"/>
            <Stat label="Broken rules" value=o.rules.broken.to_string() href="/admin/layout-mutations?status=broken".into() id="stat-broken"/>
            <Stat label="Events, last 6 hours" value=cortex_core::chart::short_count(in_window as f64) href="#events".into() id="stat-events"/>
            <Stat label="Database" value=db href="/admin/status".into() id="stat-database"/>
        </div>
        <div class="mt-6 grid gap-6 xl:grid-cols-2">
            <section class=CARD id="events">
                <h2 class="text-lg font-semibold">"Events per minute"</h2>
                <Help key="events-chart" class="mt-1 text-sm text-slate-600"/>
                <LineChart data=chart id="events-chart" label="Events per minute over the last 6 hours".into() empty="No events in the last 6 hours."/>
            </section>
            <Fleet o=o.clone()/>
        </div>
        <div class="mt-6 grid gap-6 xl:grid-cols-2">
            <Experiments items=o.experiments.clone()/>
            <Pushes items=o.pushes.clone()/>
        </div>
        <Alerts o/>
    }
}

#[component]
fn NeedsYou(items: Vec<Attention>) -> impl IntoView {
    view! {
        <section class=format!("{CARD} mt-6") id="needs-you">
            <h2 class="text-lg font-semibold">"Needs you"</h2>
            {if items.is_empty() {
                view! { <p class="mt-2 text-sm text-emerald-700" id="all-clear">"All clear: nothing needs you right now."</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-2 divide-y divide-slate-100 text-sm">
                        {items.into_iter().map(|a| {
                            let badge = match a.severity {
                                Severity::Critical => "bg-red-100 text-red-800",
                                Severity::Warning => "bg-amber-100 text-amber-900",
                                Severity::Info => "bg-sky-100 text-sky-900",
                            };
                            view! {
                                <li class="flex items-start gap-3 py-2" data-severity=a.severity.as_str()>
                                    <span class=format!("mt-0.5 shrink-0 rounded px-1.5 py-0.5 text-xs font-medium {badge}")>{a.severity.as_str()}</span>
                                    <a class=format!("{LINK} min-w-0 break-words") href=a.href>{a.text}</a>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn Stat(label: &'static str, value: String, href: String, id: &'static str) -> impl IntoView {
    view! {
        <a href=href id=id class="block rounded-lg border border-slate-200 bg-white p-4 shadow-sm hover:border-indigo-300 hover:bg-indigo-50/40">
            <p class="text-xs uppercase tracking-wide text-slate-500">{label}</p>
            <p class="mt-1 text-xl font-semibold">{value}</p>
        </a>
    }
}

/// Neurons by status as one bar, and the versions each kind runs.
#[component]
fn Fleet(o: Overview) -> impl IntoView {
    let total = o.neurons.max(1) as f64;
    let parts: Vec<(&'static str, &'static str, u64)> = STATUS_COLOURS
        .iter()
        .map(|(s, c)| (*s, *c, o.count(s)))
        .filter(|(_, _, n)| *n > 0)
        .collect();
    let bar_label = parts
        .iter()
        .map(|(s, _, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <section class=CARD id="fleet">
            <h2 class="text-lg font-semibold"><a class=LINK href="/admin/federation">{format!("Fleet: {} neurons", o.neurons)}</a></h2>
            {if o.neurons == 0 {
                view! { <p class="mt-2 text-sm text-slate-500">"No neuron has joined yet. README_federation.md shows how to connect one."</p> }.into_any()
            } else {
                view! {
                    <div class="mt-3 flex h-3 w-full overflow-hidden rounded-full bg-slate-100" role="img" aria-label=bar_label.clone()>
                        {parts.iter().map(|(s, c, n)| view! {
                            <div class=*c style=format!("width:{:.2}%", *n as f64 * 100.0 / total) title=format!("{n} {s}")></div>
                        }).collect_view()}
                    </div>
                    <ul class="mt-2 flex flex-wrap gap-x-4 gap-y-1 text-sm">
                        {parts.iter().map(|(s, c, n)| view! {
                            <li class="flex items-center gap-1.5">
                                <span class=format!("inline-block h-2.5 w-2.5 rounded-full {c}")></span>
                                <a class=LINK href=format!("/admin/federation?status={s}") data-status=*s>{format!("{n} {s}")}</a>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {(!o.versions.is_empty()).then(|| view! {
                <h3 class="mt-4 text-sm font-semibold text-slate-700">"Versions by kind"</h3>
                <ul class="mt-1 space-y-1 text-sm" id="versions">
                    {o.versions.iter().map(|k| {
                        let list = k.versions.iter().map(|(v, n)| format!("{v} ×{n}")).collect::<Vec<_>>().join(", ");
                        view! {
                            <li class="flex flex-wrap items-center gap-2" data-kind=k.kind.clone()>
                                <a class=format!("{LINK} font-medium") href=format!("/admin/federation?q={}", cortex_core::urls::encode_component(&k.kind))>{k.kind.clone()}</a>
                                <span class="break-all text-slate-600">{list}</span>
                                {k.drifts().then(|| view! { <span class="rounded bg-amber-100 px-1.5 py-0.5 text-xs text-amber-900">"drift"</span> })}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}

#[component]
fn Experiments(items: Vec<ExperimentHeadline>) -> impl IntoView {
    view! {
        <section class=CARD id="experiments">
            <h2 class="text-lg font-semibold"><a class=LINK href="/admin/experiments">"Running experiments"</a></h2>
            {if items.is_empty() {
                view! { <p class="mt-2 text-sm text-slate-500">"No experiment is running. A variant rule on the " <a class=LINK href="/admin/layout-mutations">"Layout mutations"</a> " page starts one."</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-2 divide-y divide-slate-100 text-sm">
                        {items.into_iter().map(|e| {
                            let significant = e.leader.as_ref().is_some_and(|c| c.significant);
                            let headline_class = if significant { "mt-0.5 font-medium text-emerald-800" } else { "mt-0.5 text-slate-600" };
                            view! {
                                <li class="py-2" data-experiment=e.rule_id.clone()>
                                    <a class=format!("{LINK} font-mono") href=format!("/admin/layout-mutations/{}", cortex_core::urls::encode_component(&e.rule_id))>{e.rule_id.clone()}</a>
                                    <span class="text-slate-500">{format!(" · page {} · {} variants · {} exposures (30 days)", e.page, e.variants, e.exposures)}</span>
                                    <p class=headline_class>{e.describe()}</p>
                                    {e.decided.as_ref().map(|d| {
                                        let who = if d.automatic() { "by Cortex".to_string() } else { format!("by {}", d.by) };
                                        view! { <p class="mt-0.5 text-xs text-indigo-800" data-decided="">{format!("Decided {who}, {}: {}", crate::components::fmt_time(d.at), d.decision.describe())}</p> }
                                    })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn Pushes(items: Vec<Propagation>) -> impl IntoView {
    view! {
        <section class=CARD id="recent-pushes">
            <h2 class="text-lg font-semibold"><a class=LINK href="/admin/federation#push">"Latest pushes"</a></h2>
            {if items.is_empty() {
                view! { <p class="mt-2 text-sm text-slate-500">"Nothing pushed yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-2 space-y-3 text-sm">
                        {items.into_iter().map(|p| {
                            let share = if p.targeted == 0 { 1.0 } else { (p.acked.min(p.targeted) as f64) / p.targeted as f64 };
                            let bar_class = if share >= 1.0 { "h-2 bg-emerald-500" } else { "h-2 bg-amber-400" };
                            view! {
                                <li data-push=format!("{}@{}", p.scope, p.revision)>
                                    <div class="flex flex-wrap justify-between gap-2">
                                        <span><span class="font-mono">{p.scope.clone()}</span>{format!(" revision {} · {}", p.revision, p.kind.as_str())}</span>
                                        <span class="text-slate-500">{fmt_time(p.created_at)}</span>
                                    </div>
                                    <div class="mt-1 flex items-center gap-2">
                                        <div class="h-2 flex-1 overflow-hidden rounded-full bg-slate-100">
                                            <div class=bar_class style=format!("width:{:.1}%", share * 100.0)></div>
                                        </div>
                                        <span class="shrink-0 text-xs text-slate-600">{format!("{} of {} acknowledged", p.acked, p.targeted)}</span>
                                    </div>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn Alerts(o: Overview) -> impl IntoView {
    view! {
        <section class=format!("{CARD} mt-6") id="alerts">
            <h2 class="text-lg font-semibold">"Recent alerts"</h2>
            {if o.alerts.is_empty() {
                view! { <p class="mt-2 text-sm text-slate-500">"No refused neuron requests in the last ten minutes."</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-2 space-y-1 text-sm">
                        {o.alerts.into_iter().map(|a| view! {
                            <li class="break-words">
                                <a class=LINK href="/admin/federation#alerts">{format!("{} refusals from {}", a.failures, a.source)}</a>
                                <span class="text-slate-600">{format!(" since {}: {}", fmt_time(a.since), a.last_reason)}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}
