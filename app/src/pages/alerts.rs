//! `/admin/alerts`: every alert the hub raised (an experiment decided by itself, a change a
//! guard rolled back, a source whose neuron requests keep being refused), newest first, with
//! where its webhook delivery stands; an operator acknowledges one. Works without
//! JavaScript (plain form posts).

use leptos::prelude::*;

use crate::help::Help;
use leptos_meta::Title;

use crate::api::alerts::{list_alerts, AcknowledgeAlert, AlertEntry};
use crate::components::{fmt_time, ActionError, ErrorBox, Loading, CARD};

const SMALL: &str = "rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-50";

/// The alerts page.
#[component]
pub fn AlertsPage() -> impl IntoView {
    let acknowledge = ServerAction::<AcknowledgeAlert>::new();
    let list = Resource::new(move || acknowledge.version().get(), |_| list_alerts());
    view! {
        <Title text="Alerts"/>
        <h1 class="text-2xl font-bold">"Alerts"</h1>
        <Help key="alerts" class="mt-1 max-w-3xl text-sm text-slate-600"/>
        <ActionError action=acknowledge/>
        <Suspense fallback=|| view! { <div class="mt-6"><Loading/></div> }>
            {move || Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <div class="mt-6"><ErrorBox error=e/></div> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class=format!("{CARD} mt-6 text-sm text-slate-600") id="alerts-empty">
                            "No alert yet. README_layout-mutation.md lists what raises one."
                        </p>
                    }.into_any(),
                    Ok(list) => {
                        let open = list.iter().filter(|a| a.acknowledged_at.is_none()).count();
                        view! {
                            <p class="mt-6 text-sm text-slate-700" id="alerts-open">{format!("{open} of {} not acknowledged.", list.len())}</p>
                            <ol class="mt-3 space-y-3" id="alert-list">
                                {list.into_iter().map(|a| view! { <Entry a acknowledge/> }).collect_view()}
                            </ol>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn Entry(a: AlertEntry, acknowledge: ServerAction<AcknowledgeAlert>) -> impl IntoView {
    let kind = match a.kind.as_str() {
        "decision" => "Decided by itself",
        "autoRollback" => "Rolled back",
        "refusals" => "Requests refused",
        "migration" => "Migration failed",
        "drift" => "Schema or API drift",
        "unhealthy" => "Neurons unhealthy",
        "eventRate" => "Unusual event rate",
        "database" => "Database unreachable",
        "update" => "Rollout paused",
        _ => "Alert",
    };
    let border = if a.acknowledged_at.is_some() {
        "border-slate-200"
    } else {
        "border-amber-300"
    };
    let delivery = match &a.last_error {
        Some(e) if a.delivery != cortex_core::alerts::Delivery::Delivered => {
            format!(
                "{} ({} attempts; last: {e})",
                a.delivery.describe(),
                a.attempts
            )
        }
        _ => a.delivery.describe().to_string(),
    };
    let state = match (&a.acknowledged_at, &a.acknowledged_by) {
        (Some(at), by) => Some(format!(
            "Acknowledged by {} at {}.",
            by.as_deref().unwrap_or("someone"),
            fmt_time(*at)
        )),
        _ => None,
    };
    let id = a.id.clone();
    view! {
        <li class=format!("rounded-lg border {border} bg-white p-4 shadow-sm") data-alert-id=a.id.clone() data-alert-kind=a.kind.clone() data-acknowledged=a.acknowledged_at.is_some().to_string()>
            <div class="flex flex-wrap items-baseline gap-x-3 gap-y-1">
                <h2 class="text-sm font-semibold">{kind}</h2>
                <span class="font-mono text-xs text-slate-600">{a.subject.clone()}</span>
                <span class="text-xs text-slate-500">{fmt_time(a.at)}</span>
                <span class="text-xs text-slate-500" data-delivery="">{delivery}</span>
            </div>
            <p class="mt-1 text-sm text-slate-800">{a.text.clone()}</p>
            {match state {
                Some(text) => view! { <p class="mt-2 text-xs text-slate-600" data-acknowledged-by="">{text}</p> }.into_any(),
                None => view! {
                    <ActionForm action=acknowledge attr:class="mt-2">
                        <input type="hidden" name="id" value=id/>
                        <button type="submit" class=SMALL data-acknowledge="">"Acknowledge"</button>
                    </ActionForm>
                }.into_any(),
            }}
        </li>
    }
}
