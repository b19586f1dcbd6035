//! `/admin/suggestions`: draft rules the suggestion engine proposes from the last four weeks
//! of analytics, each with its evidence; an editor accepts one (saved as a draft experiment,
//! switched off) or dismisses it. Works without JavaScript (plain form posts).

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::suggestions::{list_suggestions, AcceptSuggestion, DismissSuggestion, Suggestion};
use crate::components::{fmt_time, ActionError, ErrorBox, Loading, CARD};

const LINK: &str = "text-indigo-700 hover:underline";
const SMALL: &str = "rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-50";

/// The suggestions page.
#[component]
pub fn SuggestionsPage() -> impl IntoView {
    let accept = ServerAction::<AcceptSuggestion>::new();
    let dismiss = ServerAction::<DismissSuggestion>::new();
    let list = Resource::new(
        move || (accept.version().get(), dismiss.version().get()),
        |_| list_suggestions(),
    );
    let accepted = move || {
        accept.value().get().and_then(Result::ok).map(|v| {
            let id = v.rule.id.to_string();
            let href = format!(
                "/admin/layout-mutations/{}",
                cortex_core::urls::encode_component(&id)
            );
            view! {
                <p class="mt-3 rounded-md border border-emerald-300 bg-emerald-50 px-4 py-2 text-sm text-emerald-900" role="status" id="suggestion-notice">
                    "Saved as the draft rule "<a class=LINK href=href>{id}</a>", switched off: check it and switch it on from its page."
                </p>
            }
        })
    };
    view! {
        <Title text="Suggestions"/>
        <h1 class="text-2xl font-bold">"Suggestions"</h1>
        <p class="mt-1 max-w-3xl text-sm text-slate-600">
            "Rules Cortex proposes from four weeks of page views and clicks per segment. Accepting one creates it switched off."
        </p>
        {accepted}
        <ActionError action=accept/>
        <ActionError action=dismiss/>
        <Suspense fallback=|| view! { <div class="mt-6"><Loading/></div> }>
            {move || Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <div class="mt-6"><ErrorBox error=e/></div> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class=format!("{CARD} mt-6 text-sm text-slate-600") id="suggestions-empty">
                            {format!(
                                "No suggestion now. Cortex compares segments once each has at least {} page views on a page (and everyone else as many), and proposes only differences of {} % or more in clicks per view that are very unlikely to be chance (p < {}).",
                                cortex_core::suggest::MIN_VIEWS,
                                (cortex_core::suggest::MIN_DIFFERENCE * 100.0).round(),
                                cortex_core::suggest::MAX_P
                            )}
                        </p>
                    }.into_any(),
                    Ok(list) => view! {
                        <ol class="mt-6 space-y-4" id="suggestion-list">
                            {list.into_iter().map(|s| view! { <Proposal s accept dismiss/> }).collect_view()}
                        </ol>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Proposal(
    s: Suggestion,
    accept: ServerAction<AcceptSuggestion>,
    dismiss: ServerAction<DismissSuggestion>,
) -> impl IntoView {
    let json = serde_json::to_string_pretty(&s.draft).unwrap_or_default();
    let state = s.state.clone().map(|st| {
        let text = match &st.rule_id {
            Some(rule) => format!("Accepted by {} at {}: draft rule {rule}.", st.actor, fmt_time(st.at)),
            None => format!("Dismissed by {} at {}.", st.actor, fmt_time(st.at)),
        };
        let link = st.rule_id.clone().map(|r| {
            let href = format!("/admin/layout-mutations/{}", cortex_core::urls::encode_component(&r));
            view! { " "<a class=LINK href=href>"Open the rule"</a> }
        });
        view! { <p class="mt-2 text-sm text-slate-700" data-state=st.state.clone()>{text}{link}</p> }
    });
    let open = s.state.is_none();
    let (id, id2) = (s.id.clone(), s.id.clone());
    view! {
        <li class=CARD data-suggestion=s.id.clone() data-kind=s.kind.clone()>
            <h2 class="text-base font-semibold">{s.title.clone()}</h2>
            <p class="mt-1 text-sm text-slate-700" data-why="">{s.why.clone()}</p>
            <details class="mt-2 text-sm">
                <summary class="cursor-pointer text-slate-600">"The draft rule"</summary>
                <pre class="mt-2 overflow-x-auto rounded bg-slate-50 p-2 text-xs">{json}</pre>
            </details>
            {state}
            {open.then(move || view! {
                <div class="mt-3 flex flex-wrap gap-2">
                    <ActionForm action=accept>
                        <input type="hidden" name="id" value=id/>
                        <button type="submit" class=SMALL data-accept="">"Accept as a draft"</button>
                    </ActionForm>
                    <ActionForm action=dismiss>
                        <input type="hidden" name="id" value=id2/>
                        <button type="submit" class=SMALL data-dismiss="">"Dismiss"</button>
                    </ActionForm>
                </div>
            })}
        </li>
    }
}
