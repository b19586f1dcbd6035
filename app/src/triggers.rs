//! Event-triggered rules in the browser: when the visitor scrolls far enough, stays long
//! enough, moves to leave (exit intent) or clicks a module a rule waits for, the page is
//! resolved again with the same engine, rules and context the server used, and the layout
//! is swapped in place, without a reload. Rules that applied on the server still apply
//! (the resolution is deterministic), so only the triggered changes appear; their exposures
//! are reported.

use cortex_core::context::Context;
use cortex_core::layout::Node;
use cortex_core::mutation::TriggerEvent;
use cortex_core::resolve::Exposure;
use cortex_core::rules::{Deferred, DeferredView};
use leptos::prelude::*;
use std::sync::Arc;
use wasm_bindgen::JsCast;

struct State {
    /// The page's base layout and rules as JSON (a `DeferredPage`): read only when an awaited
    /// event happens, inside the lazily loaded engine, so neither the engine nor the code that
    /// reads rules is part of the page's first download.
    page: Arc<str>,
    context: Context,
    awaited: Vec<TriggerEvent>,
    /// Events that happened, each once.
    events: Vec<TriggerEvent>,
    /// Exposures already reported (the server's, then each new one).
    exposed: Vec<Exposure>,
    unit: Option<String>,
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(js_sys::Date::now() as i64).unwrap_or_default()
}

/// Resolves the page again with the events so far. Lazy: the engine (conditions, bucketing,
/// layout operations) is a split of the bundle, loaded the first time an awaited event
/// happens, so a page whose visitor does nothing never downloads it.
#[lazy]
fn resolve_again(
    page: Arc<str>,
    context: Context,
    events: Vec<TriggerEvent>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<cortex_core::resolve::Resolution> {
    Deferred::from_page(&page, context)
        .inspect_err(|e| leptos::logging::warn!("the rules waiting for events are unreadable: {e}"))
        .ok()
        .map(|deferred| deferred.resolve(&events, now))
}

/// Records `event` if a rule waits for it, and re-resolves the page.
fn fire(state: StoredValue<State, LocalStorage>, root: RwSignal<Node>, event: TriggerEvent) {
    let inputs = state.try_update_value(|s| {
        if s.events.contains(&event) || !s.awaited.contains(&event) {
            return None;
        }
        s.events.push(event);
        Some((s.page.clone(), s.context.clone(), s.events.clone()))
    });
    let Some(Some((page, context, events))) = inputs else {
        return;
    };
    leptos::task::spawn_local(async move {
        let seen = events.len();
        let Some(resolved) = resolve_again(page, context, events, now()).await else {
            return;
        };
        let fresh = state.try_update_value(|s| {
            // A later event is being resolved with this one included: that answer wins.
            if s.events.len() != seen {
                return None;
            }
            let new: Vec<Exposure> = resolved
                .exposures
                .iter()
                .filter(|x| !s.exposed.contains(x))
                .cloned()
                .collect();
            s.exposed.extend(new.iter().cloned());
            Some((new, s.unit.clone()))
        });
        if let Some(Some((new, unit))) = fresh {
            let page = resolved.layout.page_slug.clone();
            root.set(resolved.layout.root);
            crate::beacon::report_exposures(&page, unit, &new);
        }
    });
}

/// How far down the page the visitor has seen, in percent.
pub(crate) fn scroll_percent() -> u8 {
    let Some(window) = web_sys::window() else {
        return 0;
    };
    let seen = window.scroll_y().unwrap_or(0.0)
        + window
            .inner_height()
            .ok()
            .and_then(|h| h.as_f64())
            .unwrap_or(0.0);
    let total = window
        .document()
        .and_then(|d| d.document_element())
        .map(|e| f64::from(e.scroll_height()))
        .unwrap_or(0.0);
    if total <= 0.0 {
        return 100;
    }
    (seen / total * 100.0).clamp(0.0, 100.0) as u8
}

/// The shared part of the page's [`DeferredView`] (JSON of a `DeferredPage`): its own, or
/// read from the page's HTML when the server wrote it there.
fn page_json(view: &DeferredView) -> Option<Arc<str>> {
    if let Some(own) = &view.page {
        return Some(own.get().into());
    }
    web_sys::window()
        .and_then(|w| w.document())
        // The script element itself, not a module a layout may have given that id.
        .and_then(|d| {
            d.query_selector(&format!(
                "script#{}[type='application/json']",
                cortex_core::rules::DEFERRED_ELEMENT
            ))
            .ok()
            .flatten()
        })
        .and_then(|e| e.text_content())
        .filter(|text| !text.trim().is_empty())
        .map(Into::into)
}

/// Starts listening for the events the page's rules wait for.
pub fn install(
    view: DeferredView,
    root: RwSignal<Node>,
    shown: Vec<Exposure>,
    unit: Option<String>,
) {
    let Some(page) = page_json(&view) else {
        leptos::logging::warn!("the rules waiting for events are missing from the page");
        return;
    };
    let awaited = view.awaited;
    if awaited.is_empty() {
        return;
    }
    let thresholds: Vec<u8> = awaited
        .iter()
        .filter_map(|e| match e {
            TriggerEvent::ScrollDepth { percent } => Some(*percent),
            _ => None,
        })
        .collect();
    let timers: Vec<u32> = awaited
        .iter()
        .filter_map(|e| match e {
            TriggerEvent::TimeOnPage { seconds } => Some(*seconds),
            _ => None,
        })
        .collect();
    let state = StoredValue::new_local(State {
        page,
        context: view.context,
        awaited,
        events: Vec::new(),
        exposed: shown,
        unit,
    });
    let mut handles = Vec::new();
    if !thresholds.is_empty() {
        handles.push(window_event_listener(leptos::ev::scroll, move |_| {
            let seen = scroll_percent();
            for t in thresholds.iter().filter(|t| seen >= **t) {
                fire(state, root, TriggerEvent::ScrollDepth { percent: *t });
            }
        }));
    }
    for seconds in timers {
        set_timeout(
            move || {
                if !state.is_disposed() {
                    fire(state, root, TriggerEvent::TimeOnPage { seconds });
                }
            },
            std::time::Duration::from_secs(u64::from(seconds)),
        );
    }
    // Exit intent: the pointer leaves the page through its top edge.
    handles.push(window_event_listener(leptos::ev::mouseout, move |e| {
        if e.related_target().is_none() && e.client_y() <= 0 {
            fire(state, root, TriggerEvent::ExitIntent);
        }
    }));
    handles.push(window_event_listener(leptos::ev::click, move |e| {
        let node = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|el| el.closest("[data-node]").ok().flatten())
            .and_then(|el| el.get_attribute("data-node"));
        if let Some(node) = node {
            fire(state, root, TriggerEvent::Click { node });
        }
    }));
    on_cleanup(move || {
        for h in handles {
            h.remove();
        }
    });
}
