//! Rollouts on the Releases page: each kind's running or paused rollout (a bar of its
//! neurons by where their update is, the stage, pause / resume / abort, widening the stage,
//! each neuron's update), the form that starts one, and the kind's earlier rollouts. Plain
//! form posts, so it works without JavaScript; hydrated, the counts refresh by themselves.

use leptos::prelude::*;

use crate::help::Help;

use crate::api::rollouts::{
    ActOnRollout, RollbackRules, RolloutView, SetRollbackRule, StageRollout, StartRollout,
};
use crate::components::{fmt_time, FormError};
use cortex_core::federation::{RolloutState, UpdateState};

const SMALL: &str = "rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-50";
const INPUT: &str =
    "mt-1 block w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-xs";
const LABEL: &str = "block text-xs font-medium text-slate-700";

/// The actions the rollout forms post to (one set for the page).
#[derive(Clone, Copy)]
pub struct RolloutActions {
    pub start: ServerAction<StartRollout>,
    pub act: ServerAction<ActOnRollout>,
    pub stage: ServerAction<StageRollout>,
}

/// One kind's rollouts: the active one, or the form to start one; then the earlier ones.
#[component]
pub fn KindRollouts(
    kind: String,
    /// Its described versions, newest first.
    versions: Vec<String>,
    /// Browser apps are counted, never commanded.
    browser: bool,
    rollouts: Vec<RolloutView>,
    actions: RolloutActions,
) -> impl IntoView {
    let (active, done): (Vec<RolloutView>, Vec<RolloutView>) = rollouts
        .into_iter()
        .partition(|r| r.rollout.state.is_active());
    let main = match active.into_iter().next() {
        Some(r) => view! { <Active view=r actions/> }.into_any(),
        None if browser => ().into_any(),
        None if versions.is_empty() => view! {
            <p class="mt-3 text-xs text-slate-500">"Describe a release of this kind to roll it out."</p>
        }
        .into_any(),
        None => view! { <Start kind=kind.clone() versions actions/> }.into_any(),
    };
    let earlier = (!done.is_empty()).then(|| {
        let items = done
            .iter()
            .take(5)
            .map(|r| {
                view! {
                    <li data-rollout=r.rollout.id.clone() data-rollout-state=r.rollout.state.as_str()>
                        {format!(
                            "{} to {}: {} at {} ({} of {} on it){}",
                            r.rollout.version,
                            r.rollout.scope,
                            r.rollout.state.as_str(),
                            fmt_time(r.rollout.updated_at),
                            r.progress.updated,
                            r.progress.targeted,
                            if r.rollout.reason.is_empty() { String::new() } else { format!(" — {}", r.rollout.reason) }
                        )}
                    </li>
                }
            })
            .collect_view();
        view! {
            <details class="mt-2 text-xs text-slate-600">
                <summary class="cursor-pointer">{format!("Earlier rollouts ({})", done.len())}</summary>
                <ul class="mt-1 space-y-0.5">{items}</ul>
            </details>
        }
    });
    view! { {main} {earlier} }
}

#[component]
fn Start(kind: String, versions: Vec<String>, actions: RolloutActions) -> impl IntoView {
    let options = versions
        .into_iter()
        .map(|v| view! { <option value=v.clone()>{v.clone()}</option> })
        .collect_view();
    let marker = kind.clone();
    // Open while its last submission's error is shown.
    let failed = move || matches!(actions.start.value().get(), Some(Err(_)));
    view! {
        <details class="mt-3" open=failed>
            <summary class="cursor-pointer text-sm font-semibold">"Roll out a release"</summary>
            <p class="mt-1 text-xs text-slate-600">"Neurons in the stage get an update order as they connect; a failed update pauses the rollout."</p>
            <ActionForm action=actions.start attr:class="mt-2 grid gap-2 sm:grid-cols-4" attr:data-start-rollout=marker>
                <input type="hidden" name="kind" value=kind/>
                <label class=LABEL>"Version" <select name="version" class=INPUT required>{options}</select></label>
                <label class=LABEL>"Neurons" <input name="scope" class=INPUT placeholder="global, tag:eu or neuron:<id>"/></label>
                <label class=LABEL>"First stage: %" <input name="rollout_percent" class=INPUT inputmode="numeric" placeholder="10 (empty: all)"/></label>
                <label class=LABEL>"First stage: tags" <input name="rollout_tags" class=INPUT placeholder="canary"/></label>
                <div class="sm:col-span-4">
                    <FormError action=actions.start/>
                    <button type="submit" class="mt-1 rounded-md bg-slate-900 px-3 py-1 text-xs font-semibold text-white hover:bg-slate-700">"Start rollout"</button>
                </div>
            </ActionForm>
        </details>
    }
}

/// A running or paused rollout.
#[component]
fn Active(view: RolloutView, actions: RolloutActions) -> impl IntoView {
    let RolloutView {
        rollout,
        progress: p,
        updates,
    } = view;
    let id = rollout.id.clone();
    let state = rollout.state;
    // Neurons by where they are, in the bar's order.
    let parts = [
        ("on the release", p.updated, "bg-emerald-500"),
        ("updating", p.updating, "bg-sky-500"),
        ("failed", p.failed, "bg-red-500"),
        ("waiting to connect", p.waiting, "bg-slate-400"),
        ("not in the stage yet", p.outside_stage, "bg-slate-200"),
        ("browser, counted only", p.counted_only, "bg-amber-300"),
    ];
    let total = p.targeted.max(1) as f64;
    let bar = parts
        .iter()
        .filter(|(_, n, _)| *n > 0)
        .map(|(what, n, colour)| {
            view! { <div class=format!("h-full {colour}") style=format!("width: {:.2}%", *n as f64 * 100.0 / total) title=format!("{what}: {n}")></div> }
        })
        .collect_view();
    let legend = parts
        .iter()
        .filter(|(_, n, _)| *n > 0)
        .map(|(what, n, colour)| {
            view! { <li class="flex items-center gap-1"><span class=format!("inline-block h-2 w-2 rounded-sm {colour}")></span>{format!("{n} {what}")}</li> }
        })
        .collect_view();
    let button = |action: &'static str, label: &'static str| {
        let id = id.clone();
        view! {
            <ActionForm action=actions.act>
                <input type="hidden" name="id" value=id/>
                <input type="hidden" name="action" value=action/>
                <button type="submit" class=SMALL data-rollout-action=action>{label}</button>
            </ActionForm>
        }
    };
    let (marker, stage_id) = (id.clone(), id.clone());
    let colour = if state == RolloutState::Paused {
        "border-amber-300 bg-amber-50"
    } else {
        "border-sky-300 bg-sky-50"
    };
    view! {
        <div class=format!("mt-3 rounded-md border p-3 {colour}") data-rollout=marker data-rollout-state=state.as_str()
            data-updated=p.updated.to_string() data-failed=p.failed.to_string() data-targeted=p.targeted.to_string()>
            <div class="flex flex-wrap items-baseline gap-x-3">
                <h3 class="text-sm font-semibold">{format!("Rolling out {} to {}", rollout.version, rollout.scope)}</h3>
                <span class="text-xs font-semibold uppercase">{state.as_str()}</span>
                <span class="text-xs text-slate-600">{format!("stage: {} · started by {} at {}", rollout.audience.describe(), rollout.created_by, fmt_time(rollout.created_at))}</span>
            </div>
            {(!rollout.reason.is_empty()).then(|| view! { <p class="mt-1 text-xs text-slate-800" data-rollout-reason="">{rollout.reason.clone()}</p> })}
            <div class="mt-2 flex h-3 w-full overflow-hidden rounded bg-slate-100" role="img" aria-label=format!("{} of {} neurons on the release", p.updated, p.targeted)>{bar}</div>
            <ul class="mt-1 flex flex-wrap gap-x-4 text-xs text-slate-700">{legend}</ul>
            <div class="mt-2 flex flex-wrap items-end gap-2">
                {if state == RolloutState::Running { button("pause", "Pause") } else { button("resume", "Resume") }}
                {button("abort", "Abort")}
                <ActionForm action=actions.stage attr:class="flex flex-wrap items-end gap-2" attr:data-stage-rollout="">
                    <input type="hidden" name="id" value=stage_id/>
                    <label class=LABEL>"Stage %" <input name="rollout_percent" class=INPUT inputmode="numeric" size="6" placeholder="all"/></label>
                    <label class=LABEL>"Stage tags" <input name="rollout_tags" class=INPUT size="12"/></label>
                    <button type="submit" class=SMALL>"Set stage"</button>
                </ActionForm>
            </div>
            <FormError action=actions.act/>
            <FormError action=actions.stage/>
            <UpdateTable updates/>
        </div>
    }
}

#[component]
fn UpdateTable(updates: Vec<cortex_core::federation::NeuronUpdate>) -> impl IntoView {
    if updates.is_empty() {
        return view! { <p class="mt-2 text-xs text-slate-500">"No neuron has been sent the order yet: neurons in the stage get it as they connect."</p> }.into_any();
    }
    let rows = updates
        .into_iter()
        .map(|u| {
            let colour = match u.state {
                UpdateState::Failed => "text-red-700 font-semibold",
                UpdateState::Done => "text-emerald-700",
                UpdateState::Running | UpdateState::Sent => "text-sky-700",
            };
            view! {
                <tr class="border-t border-slate-200 align-top" data-update=u.neuron_id.clone() data-update-state=u.state.as_str()>
                    <td class="py-1 pr-3 font-mono">{u.neuron_id.clone()}</td>
                    <td class=format!("py-1 pr-3 {colour}")>{u.state.as_str()}</td>
                    <td class="py-1 pr-3">{if u.step.is_empty() { "—".to_string() } else { u.step.clone() }}</td>
                    <td class="py-1 pr-3"><pre class="max-h-24 overflow-auto whitespace-pre-wrap text-[11px]">{u.message.clone()}</pre></td>
                    <td class="py-1 text-slate-500">{fmt_time(u.at)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="mt-2 overflow-x-auto">
            <table class="w-full text-left text-xs">
                <thead class="text-slate-500"><tr><th class="pr-3 font-medium">"neuron"</th><th class="pr-3 font-medium">"update"</th><th class="pr-3 font-medium">"step"</th><th class="pr-3 font-medium">"message"</th><th class="font-medium">"at"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The automatic rollback rules: the default and each kind's own, and a form to set one.
#[component]
pub fn RollbackRulesCard(
    rules: RollbackRules,
    kinds: Vec<String>,
    set: ServerAction<SetRollbackRule>,
) -> impl IntoView {
    let row = |name: String, r: cortex_core::federation::guard::RollbackRule| {
        let marker = name.clone();
        view! {
            <li data-rollback-rule=marker>
                <span class="font-semibold">{name}</span>
                {format!(": {}{}", if r.enabled { "" } else { "alert only; " }, r.describe())}
            </li>
        }
    };
    let d = rules.default;
    let options = kinds
        .into_iter()
        .map(|k| view! { <option value=k.clone()>{k.clone()}</option> })
        .collect_view();
    view! {
        <section class="mt-8 rounded-lg border border-slate-200 bg-white p-4 shadow-sm" id="rollback-rules">
            <h2 class="text-lg font-semibold">"Automatic rollback"</h2>
            <Help key="rollback-rules" class="mt-1 text-xs text-slate-600"/>
            <ul class="mt-2 space-y-1 text-xs text-slate-700">
                {row("default".into(), d)}
                {rules.kinds.into_iter().map(|(k, r)| row(k, r)).collect_view()}
            </ul>
            <ActionForm action=set attr:class="mt-3 grid gap-2 sm:grid-cols-4" attr:id="rollback-rule-form">
                <label class=LABEL>"Kind" <select name="kind" class=INPUT><option value="">"default"</option>{options}</select></label>
                <label class=LABEL>"Minutes" <input name="window_minutes" class=INPUT inputmode="numeric" value=d.window_minutes.to_string()/></label>
                <label class=LABEL>"Min errors" <input name="min_errors" class=INPUT inputmode="numeric" value=d.min_errors.to_string()/></label>
                <label class=LABEL>"Error ratio" <input name="error_ratio" class=INPUT inputmode="decimal" value=d.error_ratio.to_string()/></label>
                <label class=LABEL>"Unhealthy %" <input name="unhealthy_percent" class=INPUT inputmode="numeric" value=d.unhealthy_percent.to_string()/></label>
                <label class=LABEL>"Latency ratio" <input name="latency_ratio" class=INPUT inputmode="decimal" value=d.latency_ratio.to_string()/></label>
                <label class=LABEL>"Min samples" <input name="min_latency_samples" class=INPUT inputmode="numeric" value=d.min_latency_samples.to_string()/></label>
                <label class="flex items-end gap-1 text-xs"><input type="checkbox" name="enabled" value="true" checked=d.enabled/>"Roll back"</label>
                <div class="sm:col-span-4">
                    <FormError action=set/>
                    <button type="submit" class=SMALL>"Save rule"</button>
                </div>
            </ActionForm>
        </section>
    }
}
