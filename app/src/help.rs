//! The admin pages' longer explanations, kept on the server and sent with the page: every
//! string compiled into the browser bundle is in the file a storefront visitor downloads (the
//! split moves code, not data), so a paragraph an admin reads once should not be there.
//! `<Help key=…/>` renders one: written by the server into the page (also without
//! JavaScript), fetched from `GET /api/help` when the browser renders a page itself.

use crate::error::AppError;
use leptos::prelude::*;

/// The text of one explanation (`key` as the pages name it). Viewer.
#[server(name = HelpText, prefix = "/api", endpoint = "help", input = leptos::server_fn::codec::GetUrl)]
pub async fn help_text(key: Option<String>) -> Result<String, AppError> {
    let _ = crate::api::guard::require(cortex_core::Role::Viewer)?;
    let key = key.unwrap_or_default();
    text(key.trim()).map(str::to_string).ok_or_else(|| {
        AppError::new(
            cortex_core::ErrorCode::NotFound,
            format!(
                "key: no help text `{}`",
                key.chars().take(64).collect::<String>()
            ),
        )
    })
}

/// Every explanation, by key.
#[cfg(feature = "ssr")]
pub fn text(key: &str) -> Option<&'static str> {
    Some(match key {
        "bandit" => "Bandit: Cortex moves the weights toward the variant doing best on the goal (Thompson sampling, once a day after 100 visitors per variant); each visitor keeps the variant they first saw. A namespace makes experiments mutually exclusive: experiments taking disjoint slices of one namespace never share a visitor.",
        "decisions" => "Manual: Cortex suggests on the rule's page and an editor decides. Automatic: Cortex promotes a winner and switches losers off by itself, once the minimums are met; every decision is recorded with its numbers and can be undone.",
        "guard" => "With a guard, a change that makes the page convert significantly worse than before it is rolled back by Cortex itself.",
        "windows" => "Weekly windows (local time in that zone; from after to runs overnight). Days: mon-fri, sat, sun, weekdays, weekend; empty for every day.",
        "rollback-rules" => "A push or a rollout whose neurons get worse is undone by itself: the previous revision pushed, or the previous release rolled out.",
        "rule-json-only" => "This rule has parts the form cannot show exactly (or it is deleted), so it is edited as JSON below.",
        "rule-form" => "Saving writes a new version (it keeps the rule on or off). If someone saved in between, nothing is saved and you are told.",
        "rule-json" => "The whole rule as JSON (README_layout-mutation.md lists every field). Saving writes a new version; the error names the field if it is not valid. If someone saved the rule since this page loaded, nothing is saved: reload and edit again.",
        "switches" => "Switch mutations off for a whole page or for one module (and everything inside it). Rules that would change a switched-off node are skipped; the explain trace says so. Each switch is a new, audited version of the page's layout.",
        "events-chart" => "Events neurons and the storefront sent, averaged over 5 minutes, for the last 6 hours.",
        "refusals" => "These addresses keep sending requests the hub refuses (forged or replayed signatures, stale clocks, unknown keys, wrong tokens). Check the audit log for neuron.refused.",
        "push" => "A JSON document of one kind, to every neuron, a tag or one neuron. It becomes the scope's next revision; connected neurons get it at once, the others when they reconnect.",
        "heatmap" => "Each box is one of the page's modules, in the page's order; darker cells got more clicks (one scale for every variant). The storefront reports only which of the box's 10 × 10 cells a click hit, never where exactly.",
        "browser-keys" => "A web app joins from the browser with a publishable key (it is not a secret) and only from the origins listed with it; see README_federation.md.",
        "new-rule" => "Pick the node to change from its page's tree, the type and its fields, who sees it, when, and for an experiment its variants. Errors name the field.",
        "join-policy" => "Who may join: anyone who signs correctly (open), listed keys or tags (allowlist), or everyone after an admin approves (approval).",
        "alerts" => "What Cortex did by itself or noticed (also sent to the webhook, if set; kept 90 days). Acknowledge one once it has been seen to.",
        "migration" => "Rules naming nodes their page's layout lacks. A node renamed by the last layout change is re-linked by the hub (see the audit log, layout-mutation.relink); these wait for you: re-link to the proposed node or another, or switch the rule off.",
        "backups" => "Each page's layout and rules, taken before its layout changed. Restore undoes the change whole: the layout and the rules as they were come back as new versions (later edits to those rules are replaced; rules made since stay). Download gives the file `cortex import` reads.",
        _ => return None,
    })
}

/// One explanation, as a paragraph with `class`. The server writes the text into the page;
/// hydrating keeps it (a text node from the server is not rewritten); a page the browser
/// renders itself (a navigation) fetches it.
#[component]
pub fn Help(
    key: &'static str,
    #[prop(optional)] class: &'static str,
    #[prop(optional)] id: Option<&'static str>,
) -> impl IntoView {
    #[cfg(feature = "ssr")]
    let shown = {
        let t = text(key).unwrap_or_default().to_string();
        move || t.clone()
    };
    #[cfg(not(feature = "ssr"))]
    let shown = {
        let fetched = RwSignal::new(String::new());
        let hydrating = Owner::current_shared_context()
            .map(|c| c.during_hydration())
            .unwrap_or(false);
        if !hydrating {
            leptos::task::spawn_local(async move {
                if let Ok(t) = help_text(Some(key.to_string())).await {
                    fetched.try_set(t);
                }
            });
        }
        move || fetched.get()
    };
    view! { <p class=class id=id>{shown}</p> }
}
