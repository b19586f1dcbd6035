//! `/admin/experiments`: every experiment over its whole runtime. Each shows its state and
//! decision policy, a verdict in words, every variant against the baseline, two charts (the
//! lift over the baseline with its interval as the days add up, and each variant's daily
//! conversion), what the decision engine suggests and the newest decision; the rule's page
//! is where an editor acts.

use cortex_core::experiments::{ArmSummary, ExperimentSummary};
use cortex_core::stats::decision::Mode;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::experiments::list_experiments;
use crate::components::chart::LineChart;
use crate::components::{fmt_time, ErrorBox, Loading, CARD};

const LINK: &str = "text-indigo-700 hover:underline";

/// The experiments page.
#[component]
pub fn ExperimentsPage() -> impl IntoView {
    let experiments = Resource::new(|| (), |_| list_experiments());
    view! {
        <Title text="Experiments"/>
        <h1 class="text-2xl font-bold">"Experiments"</h1>
        <p class="mt-1 max-w-3xl text-sm text-slate-600">
            "Every experiment over its whole runtime; those with an automatic policy are decided by Cortex itself."
        </p>
        <Suspense fallback=|| view! { <div class="mt-6"><Loading/></div> }>
            {move || Suspend::new(async move {
                match experiments.await {
                    Err(e) => view! { <div class="mt-6"><ErrorBox error=e/></div> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class=format!("{CARD} mt-6 text-sm text-slate-600") id="experiments-empty">
                            "No experiment yet. A variant rule starts one: create it on the "
                            <a class=LINK href="/admin/layout-mutations">"Layout mutations"</a>" page."
                        </p>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="mt-6 space-y-6" id="experiment-list">
                            {list.into_iter().map(|x| view! { <Experiment x/> }).collect_view()}
                        </div>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn badge(status: &str) -> &'static str {
    match status {
        "running" => "rounded bg-emerald-100 px-2 py-0.5 text-xs font-medium text-emerald-900",
        "decided" => "rounded bg-indigo-100 px-2 py-0.5 text-xs font-medium text-indigo-900",
        _ => "rounded bg-slate-200 px-2 py-0.5 text-xs font-medium text-slate-700",
    }
}

#[component]
fn Experiment(x: ExperimentSummary) -> impl IntoView {
    let status = x.status();
    let href = format!(
        "/admin/layout-mutations/{}",
        cortex_core::urls::encode_component(&x.rule_id)
    );
    let mode = match x.policy.mode {
        Mode::Auto => "decides by itself",
        Mode::Manual => "an editor decides",
    };
    let allocation = match (&x.namespace, x.bandit) {
        (Some(n), true) => format!(" · bandit · namespace {}", n.describe()),
        (Some(n), false) => format!(" · namespace {}", n.describe()),
        (None, true) => " · bandit".to_string(),
        (None, false) => String::new(),
    };
    let summary = format!(
        "page {} · started {} · goal {} · {mode}{allocation}",
        x.page,
        fmt_time(x.started),
        x.policy.goal.as_str()
    );
    let lift_id = format!("lift-{}", x.rule_id);
    let lift_label = format!(
        "Lift in conversion of each variant of {} over the baseline, with its 95 % interval, from the start up to each day",
        x.rule_id
    );
    let daily_id = format!("daily-{}", x.rule_id);
    let daily_label = format!(
        "Conversions per exposure of each variant of {}, day by day",
        x.rule_id
    );
    let verdict = x.verdict.clone();
    let srm = x.srm.clone().filter(|c| c.flagged);
    let suggestion = x.suggestion.as_ref().map(|d| (d.kind(), d.describe()));
    let last = x.last_decision.clone();
    let winner = x.winner.clone();
    // CUPED: how many visitors had history, and how much it narrowed each interval.
    let cuped = x
        .arms
        .iter()
        .filter_map(|a| a.cuped.map(|c| (a.key.as_str(), c)))
        .filter(|(_, c)| c.with_history > 0)
        .map(|(key, c)| {
            let narrower = c
                .shown_narrower()
                .map(|n| format!(", {key}'s interval {:.0} % narrower", n * 100.0))
                .unwrap_or_default();
            format!("{} of {} visitors{narrower}", c.with_history, c.visitors)
        })
        .collect::<Vec<_>>();
    let cuped = (!cuped.is_empty()).then(|| {
        format!(
            "Adjusted for visitors' conversions in the 14 days before their first exposure (CUPED): {}.",
            cuped.join("; ")
        )
    });
    view! {
        <section class=CARD data-experiment=x.rule_id.clone() data-status=status>
            <div class="flex flex-wrap items-center gap-3">
                <h2 class="text-lg font-semibold"><a class=format!("{LINK} font-mono") href=href.clone()>{x.rule_id.clone()}</a></h2>
                <span class=badge(status) data-badge="">{status}</span>
                <span class="rounded bg-slate-100 px-2 py-0.5 text-xs text-slate-700" data-mode=x.policy.mode_str()>{if x.policy.mode == Mode::Auto { "automatic" } else { "manual" }}</span>
            </div>
            <p class="mt-1 text-sm text-slate-600">{summary}</p>
            {winner.map(|w| view! { <p class="mt-2 text-sm font-medium text-indigo-900" data-winner=w.clone()>{format!("Every targeted visitor gets `{w}`.")}</p> })}
            {(!verdict.is_empty()).then(|| view! { <p class="mt-2 text-sm font-medium text-slate-900" data-verdict="">{verdict}</p> })}
            <div class="mt-3 overflow-x-auto" tabindex="0">
                    <table class="min-w-full text-left text-sm">
                        <thead class="bg-slate-50 text-xs uppercase text-slate-500">
                            <tr>
                                <th class="px-3 py-2">"Variant"</th><th class="px-3 py-2">"Visitors"</th>
                                <th class="px-3 py-2">"Conversion"</th><th class="px-3 py-2">"Lift vs baseline"</th><th class="px-3 py-2">"Chance to win"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {x.arms.iter().map(|a| view! { <Arm a=a.clone()/> }).collect_view()}
                        </tbody>
                    </table>
            </div>
            {cuped.map(|c| view! { <p class="mt-2 text-xs text-slate-600" data-cuped="">{c}</p> })}
            <div class="mt-3 grid gap-6 lg:grid-cols-2">
                <div>
                    <h3 class="text-sm font-semibold text-slate-700">"Lift over the baseline, cumulative"</h3>
                    <p class="text-xs text-slate-500">"Converted visitors per visitor exposed, from the start up to each day; the band is the 95 % interval that stays valid however often you look (clipped at ±100 %). Decided when it leaves the zero line."</p>
                    <LineChart data=x.lift.clone() id=lift_id label=lift_label empty="Not enough visitors in both arms yet."/>
                </div>
                <div>
                    <h3 class="text-sm font-semibold text-slate-700">"Conversion per day"</h3>
                    <p class="text-xs text-slate-500">"Conversions per exposure on each day, per variant."</p>
                    <LineChart data=x.daily.clone() id=daily_id label=daily_label empty="No exposures yet."/>
                </div>
            </div>
            {srm.map(|c| view! {
                <p class="mt-3 rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800" data-srm="">
                    {format!("Sample ratio mismatch (p = {:.5}): visitors are not split as the weights say; nothing is decided until that is fixed.", c.p_value)}
                </p>
            })}
            {suggestion.map(|(kind, text)| view! {
                <p class="mt-3 text-sm" data-suggestion=kind><span class="font-medium">"Suggests: "</span>{text}</p>
            })}
            {last.map(|d| {
                let who = if d.automatic() { "by Cortex".to_string() } else { format!("by {}", d.by) };
                view! {
                    <p class="mt-2 text-sm text-indigo-900" data-last-decision="">
                        {format!("Decided {who}, {}: {} ", fmt_time(d.at), d.decision.describe())}
                        <a class=LINK href=format!("{href}#rule-decisions")>"details and undo"</a>
                    </p>
                }
            })}
        </section>
    }
}

#[component]
fn Arm(a: ArmSummary) -> impl IntoView {
    let pct = |v: f64| format!("{:.1} %", v * 100.0);
    let name = match (a.baseline, a.stopped) {
        (true, _) => format!("{} (baseline)", a.key),
        (_, true) => format!("{} (switched off)", a.key),
        _ => a.key.clone(),
    };
    let conversion = a
        .conversion_rate
        .map(|e| format!("{} ({}–{})", pct(e.value), pct(e.low), pct(e.high)))
        .unwrap_or_else(|| "—".into());
    let lift = a
        .relative_lift
        .map(|l| {
            format!(
                "{:+.1} % [{:+.1} %, {:+.1} %]{}",
                l.value * 100.0,
                l.low * 100.0,
                l.high * 100.0,
                a.p_value
                    .map(|p| format!(", p = {p:.3}"))
                    .unwrap_or_default()
            )
        })
        .unwrap_or_else(|| "—".into());
    let win = a.chance_to_win.map(pct).unwrap_or_else(|| "—".into());
    view! {
        <tr class="border-t border-slate-100" data-arm=a.key.clone()>
            <td class="px-3 py-2 font-mono text-xs">{name}</td>
            <td class="px-3 py-2">{a.exposed_units}</td>
            <td class="px-3 py-2">{conversion}</td>
            <td class="px-3 py-2">{lift}</td>
            <td class="px-3 py-2">{win}</td>
        </tr>
    }
}
