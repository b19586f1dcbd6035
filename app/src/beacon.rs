//! The storefront's reporting in the browser: clicks, conversions (a click on an element
//! with `data-goal`), time on page and how far down it the visitor saw, one event per rule the visitor was exposed to, sent
//! with `navigator.sendBeacon` to `/api/layout-mutation/report` (it survives navigation and
//! closing the tab). Page views and exposures are counted by the server when it renders
//! the page, so they need no JavaScript.

use chrono::{DateTime, Utc};
use cortex_core::analytics::{Event, EventBatch, EventKind};
use std::cell::Cell;
use wasm_bindgen::JsCast;

/// Where events go (the hub serves it on the page's own origin).
const REPORT_PATH: &str = "/api/layout-mutation/report";

thread_local! {
    /// The receipt of the page shown: the hub counts only events that carry it and fit it.
    static RECEIPT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// What one storefront page view reports.
pub struct PageReport {
    page_slug: String,
    /// (rule id, variant) of each rule applied.
    exposures: Vec<(String, Option<String>)>,
    /// The identified visitor (`?user=`); otherwise the hub fills in the visitor cookie.
    unit: Option<String>,
    started_ms: f64,
    dwell_sent: Cell<bool>,
    /// The deepest percent of the page seen so far.
    deepest: Cell<u8>,
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn at(ms: f64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms as i64).unwrap_or_default()
}

impl PageReport {
    /// The report of a page the hub rendered with `receipt`.
    pub fn new(
        applied: &crate::api::shop::ShownPage,
        unit: Option<String>,
        receipt: String,
    ) -> Self {
        RECEIPT.with(|r| *r.borrow_mut() = Some(receipt));
        Self {
            page_slug: applied.layout.page_slug.to_string(),
            exposures: applied
                .exposures
                .iter()
                .map(|e| {
                    (
                        e.rule_id.to_string(),
                        e.variant_key.as_ref().map(|v| v.to_string()),
                    )
                })
                .collect(),
            unit,
            started_ms: now_ms(),
            dwell_sent: Cell::new(false),
            deepest: Cell::new(0),
        }
    }

    /// One event of `kind` per exposure (or one without a rule when none applied).
    fn events(&self, kind: EventKind, name: Option<String>, value: Option<f64>) -> Vec<Event> {
        let base = Event {
            unit: self.unit.clone(),
            page_slug: Some(self.page_slug.clone()),
            name,
            value,
            ..Event::new(kind, at(now_ms()))
        };
        if self.exposures.is_empty() {
            return vec![base];
        }
        self.exposures
            .iter()
            .map(|(rule, variant)| Event {
                mutation_id: Some(rule.clone()),
                variant: variant.clone(),
                ..base.clone()
            })
            .collect()
    }

    /// A click somewhere in the page: the module it hit (`data-node`) with the cell of the
    /// module's box it hit (see `cortex_core::heatmap`), and a conversion if it hit a goal
    /// (`data-goal`).
    pub fn click(&self, e: &web_sys::MouseEvent) {
        let Some(el) = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        let attr = |sel: &str, name: &str| {
            el.closest(sel)
                .ok()
                .flatten()
                .and_then(|e| e.get_attribute(name))
        };
        let Some(module) = el.closest("[data-node]").ok().flatten() else {
            return;
        };
        let Some(node) = module.get_attribute("data-node") else {
            return;
        };
        let rect = module.get_bounding_client_rect();
        let cell = (rect.width() > 0.0 && rect.height() > 0.0)
            .then(|| {
                cortex_core::heatmap::cell_of(
                    (f64::from(e.client_x()) - rect.left()) / rect.width(),
                    (f64::from(e.client_y()) - rect.top()) / rect.height(),
                )
            })
            .flatten()
            .map(f64::from);
        let mut events = self.events(EventKind::Click, Some(node), cell);
        if let Some(goal) = attr("[data-goal]", "data-goal") {
            events.extend(self.events(EventKind::Conversion, Some(goal), None));
        }
        send(events);
    }

    /// The visitor scrolled: remembers the deepest point seen.
    pub fn scrolled(&self) {
        self.deepest
            .set(self.deepest.get().max(crate::triggers::scroll_percent()));
    }

    /// Time on page and the deepest point seen (the scroll heatmap), once, when the visitor
    /// leaves or hides the page.
    pub fn dwell(&self) {
        if self.dwell_sent.replace(true) {
            return;
        }
        let ms = (now_ms() - self.started_ms).max(0.0);
        // What is on screen now counts too (a visitor who never scrolled saw the first screen).
        self.scrolled();
        let mut events = self.events(EventKind::Dwell, None, Some(ms));
        events.extend(self.events(EventKind::Scroll, None, Some(f64::from(self.deepest.get()))));
        send(events);
    }
}

/// The page is being hidden (tab switch, navigation, close).
pub fn hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Hidden)
}

/// Sends events to the hub; the browser keeps the request going if the page goes away.
fn send(events: Vec<Event>) {
    let batch = EventBatch {
        batch_id: format!(
            "web-{}-{}",
            now_ms() as u64,
            (js_sys::Math::random() * 1e12) as u64
        ),
        events,
        receipt: RECEIPT.with(|r| r.borrow().clone()),
    };
    let (Ok(body), Some(window)) = (serde_json::to_string(&batch), web_sys::window()) else {
        return;
    };
    let _ = window
        .navigator()
        .send_beacon_with_opt_str(REPORT_PATH, Some(&body));
}

/// Exposures of rules that applied in the browser (after an event), for the same visitor.
pub fn report_exposures(
    page_slug: &str,
    unit: Option<String>,
    exposures: &[cortex_core::resolve::Exposure],
) {
    if exposures.is_empty() {
        return;
    }
    let now = at(now_ms());
    send(
        exposures
            .iter()
            .map(|x| Event {
                unit: unit.clone(),
                page_slug: Some(page_slug.to_string()),
                mutation_id: Some(x.rule_id.to_string()),
                variant: x.variant_key.as_ref().map(|v| v.to_string()),
                ..Event::new(EventKind::Exposure, now)
            })
            .collect(),
    );
}
