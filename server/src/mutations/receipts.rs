//! Receipts for the storefront's own events. The hub knows what it showed each visitor: it
//! resolved the page. So every storefront page carries a receipt, signed with a key of the
//! hub (HMAC-SHA256): the visitor, the page, the rules and variants it exposed (and those
//! the browser may still apply after an event), and when. The page's beacon sends the
//! receipt back with its events, and only events that fit it are counted: a forged
//! `Origin` gets nobody anywhere, and a real visitor can only report about the rules and
//! variants they were shown.

use base64::Engine as _;
use cortex_core::analytics::{EventBatch, EventKind};
use cortex_core::ErrorCode;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ApiError;

/// How long a page's receipt is taken back (a tab left open for a day still reports).
pub const RECEIPT_TTL_SECS: i64 = 24 * 3600;
/// Most exposures one receipt lists.
const MAX_LISTED: usize = 200;
/// Most events one page's batch may carry (the most a visitor may send at once).
pub const MAX_PAGE_EVENTS: usize = 200;

type HmacSha256 = Hmac<Sha256>;

/// What the hub showed one visitor on one page view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The visitor (`unit` of their events).
    #[serde(rename = "v")]
    pub visitor: String,
    /// The page slug.
    #[serde(rename = "p")]
    pub page: String,
    /// (rule, variant) the server applied and counted as exposures.
    #[serde(rename = "x")]
    pub exposures: Vec<(String, Option<String>)>,
    /// (rule, variant) the browser may apply after an event (it reports their exposures).
    #[serde(rename = "d")]
    pub deferred: Vec<(String, Option<String>)>,
    /// Issued at, Unix seconds.
    #[serde(rename = "t")]
    pub issued: i64,
    /// The visitor's segment (see `cortex_core::analytics::segment_of`): the page's events
    /// are recorded with it, whatever the browser says.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
}

/// Signs and checks receipts. Cheap to clone.
#[derive(Clone)]
pub struct Receipts {
    key: std::sync::Arc<[u8; 32]>,
    /// (receipt signature, rule) of the exposures browsers reported: each at most once per
    /// page view. Bounded: the oldest are forgotten first.
    reported: std::sync::Arc<std::sync::Mutex<Reported>>,
}

#[derive(Default)]
struct Reported {
    set: std::collections::HashSet<(String, String)>,
    order: std::collections::VecDeque<(String, String)>,
}

/// Exposure reports remembered.
const REMEMBERED_REPORTS: usize = 200_000;

impl std::fmt::Debug for Receipts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Receipts(..)")
    }
}

fn refused(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Forbidden, message)
}

impl Receipts {
    /// Receipts keyed from the hub's secret (hubs sharing a secret take each other's).
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = cortex_core::mac::hmac_sha256(secret);
        mac.update(b"cortex storefront receipts v1");
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        Self {
            key: std::sync::Arc::new(key),
            reported: Default::default(),
        }
    }

    /// Notes that the page view `receipt` reported its exposure of `rule`; false if it did
    /// before (a replayed batch would count the same visitor's exposure again).
    pub fn first_exposure(&self, receipt: &str, rule: &str) -> bool {
        let sig = receipt.rsplit('.').next().unwrap_or(receipt).to_string();
        let key = (sig, rule.to_string());
        let mut seen = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        if !seen.set.insert(key.clone()) {
            return false;
        }
        seen.order.push_back(key);
        while seen.order.len() > REMEMBERED_REPORTS {
            if let Some(old) = seen.order.pop_front() {
                seen.set.remove(&old);
            }
        }
        true
    }

    fn mac(&self) -> HmacSha256 {
        cortex_core::mac::hmac_sha256(&*self.key)
    }

    /// The receipt as the page carries it: payload and signature, base64url, dot-joined.
    pub fn sign(&self, receipt: &Receipt) -> String {
        let mut r = receipt.clone();
        r.exposures.truncate(MAX_LISTED);
        r.deferred.truncate(MAX_LISTED);
        let payload = serde_json::to_vec(&r).unwrap_or_default();
        let mut mac = self.mac();
        mac.update(&payload);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}",
            b64.encode(&payload),
            b64.encode(mac.finalize().into_bytes())
        )
    }

    /// The receipt `text` carries, if its signature is this hub's and it is recent.
    pub fn verify(
        &self,
        text: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Receipt, ApiError> {
        let bad = || {
            refused("the page's receipt is missing, altered or from another hub: reload the page")
        };
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (payload, signature) = text.split_once('.').ok_or_else(bad)?;
        if payload.len() > 16 * 1024 {
            return Err(bad());
        }
        let payload = b64.decode(payload).map_err(|_| bad())?;
        let signature = b64.decode(signature).map_err(|_| bad())?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&signature).map_err(|_| bad())?;
        let receipt: Receipt = serde_json::from_slice(&payload).map_err(|_| bad())?;
        let age = now.timestamp() - receipt.issued;
        if !(-300..=RECEIPT_TTL_SECS).contains(&age) {
            return Err(refused(
                "the page's receipt has expired: reload the page to report again",
            ));
        }
        Ok(receipt)
    }
}

/// Checks a storefront batch against its page's receipt and fills in what the browser
/// cannot know (the visitor). At most [`MAX_PAGE_EVENTS`] events, each between the page's
/// render and now. Allowed: clicks, conversions, time on page and scroll depth about the
/// rules and variants the visitor was shown, and exposures of the rules the browser applied
/// itself. Page views and exposures of server-applied rules were counted when the page was
/// rendered; they are not taken twice.
pub fn check_batch(
    receipt: &Receipt,
    batch: &mut EventBatch,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    check_against(receipt, batch, now, Counted::ByTheHub)
}

/// Who counted a page's views and the exposures of the rules the hub applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// The hub, when it rendered the page (its storefront): the browser may report only
    /// what it applied itself.
    ByTheHub,
    /// The app that asked `apply` (a browser app on a publishable key): it reports its page
    /// views and the exposures `apply` answered, once.
    ByTheApp,
}

/// Checks a batch against the receipt of the page view it is about (see [`check_batch`];
/// `counted` says which views and exposures the browser may report).
pub fn check_against(
    receipt: &Receipt,
    batch: &mut EventBatch,
    now: chrono::DateTime<chrono::Utc>,
    counted: Counted,
) -> Result<(), ApiError> {
    if batch.events.len() > MAX_PAGE_EVENTS {
        return Err(ApiError::bad_request(format!(
            "events: a page reports at most {MAX_PAGE_EVENTS} events at once"
        )));
    }
    // Events happen between the page's render and now (a little clock skew either way).
    let skew = chrono::Duration::minutes(5);
    let issued = chrono::DateTime::from_timestamp(receipt.issued, 0).unwrap_or_default();
    for (i, e) in batch.events.iter_mut().enumerate() {
        let at = |m: String| refused(format!("events[{i}]: {m}"));
        if e.at < issued - skew || e.at > now + skew {
            return Err(ApiError::bad_request(format!(
                "events[{i}].at: an event of this page happens after it was shown and before now"
            )));
        }
        if e.kind == EventKind::Dwell
            && e.value
                .is_some_and(|v| !(0.0..=(RECEIPT_TTL_SECS * 1000) as f64).contains(&v))
        {
            return Err(ApiError::bad_request(format!(
                "events[{i}].value: time on a page is 0 to {} ms",
                RECEIPT_TTL_SECS * 1000
            )));
        }
        if e.kind == EventKind::Click && e.value.is_some_and(|v| !cortex_core::heatmap::is_cell(v))
        {
            return Err(ApiError::bad_request(format!(
                "events[{i}].value: a click's value is the cell it hit in its module, a whole number from 0 to {}",
                cortex_core::heatmap::CELLS - 1
            )));
        }
        if e.kind == EventKind::Scroll && !e.value.is_some_and(cortex_core::heatmap::is_depth) {
            return Err(ApiError::bad_request(format!(
                "events[{i}].value: a scroll event's value is the deepest percent of the page seen, a whole number from 0 to 100"
            )));
        }
        if e.kind == EventKind::Conversion && e.value.is_some() {
            return Err(ApiError::bad_request(format!(
                "events[{i}].value: a browser's conversion carries no value; revenue is reported by a server with its neuron token"
            )));
        }
        e.segment = receipt.segment.clone();
        match e.unit.as_deref() {
            None => e.unit = Some(receipt.visitor.clone()),
            Some(u) if u == receipt.visitor => {}
            Some(_) => {
                return Err(at(
                    "is about another visitor than the page was shown to".into()
                ))
            }
        }
        match e.page_slug.as_deref() {
            None => e.page_slug = Some(receipt.page.clone()),
            Some(p) if p == receipt.page => {}
            Some(_) => return Err(at("is about another page than the receipt's".into())),
        }
        let pair = e.mutation_id.clone().map(|rule| (rule, e.variant.clone()));
        match (e.kind, &pair) {
            (
                EventKind::Click | EventKind::Conversion | EventKind::Dwell | EventKind::Scroll,
                None,
            ) => {}
            (
                EventKind::Click | EventKind::Conversion | EventKind::Dwell | EventKind::Scroll,
                Some(p),
            ) => {
                if !receipt.exposures.contains(p) && !receipt.deferred.contains(p) {
                    return Err(at(format!(
                        "rule `{}` (variant {}) was not shown to this visitor",
                        p.0,
                        p.1.as_deref().unwrap_or("none")
                    )));
                }
            }
            (EventKind::Exposure, Some(p))
                if receipt.deferred.contains(p) && !receipt.exposures.contains(p) => {}
            (EventKind::Exposure, Some(p))
                if counted == Counted::ByTheApp && receipt.exposures.contains(p) => {}
            (EventKind::PageView, None) if counted == Counted::ByTheApp => {}
            (EventKind::Exposure, _) => {
                return Err(at(
                    "exposures are counted by the hub when it renders the page; the browser reports only rules it applied itself".into(),
                ))
            }
            (other, _) => {
                return Err(at(format!(
                    "a storefront page does not report `{}` events",
                    serde_json::to_value(other)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                )))
            }
        }
    }
    batch.receipt = None;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex_core::analytics::Event;

    fn receipt(now: i64) -> Receipt {
        Receipt {
            visitor: "v1".into(),
            page: "home".into(),
            exposures: vec![("hero-test".into(), Some("b".into()))],
            deferred: vec![
                ("exit-offer".into(), None),
                ("hero-test".into(), Some("b".into())),
            ],
            issued: now,
            segment: Some("device:mobile".into()),
        }
    }

    #[test]
    fn a_receipt_verifies_only_unaltered_from_this_hub_and_recent() {
        let now = chrono::Utc::now();
        let keys = Receipts::new(b"secret one");
        let text = keys.sign(&receipt(now.timestamp()));
        assert_eq!(keys.verify(&text, now).unwrap(), receipt(now.timestamp()));
        assert!(Receipts::new(b"secret two").verify(&text, now).is_err());
        let (payload, sig) = text.split_once('.').unwrap();
        let mut forged = receipt(now.timestamp());
        forged.exposures.push(("other".into(), None));
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let altered = format!("{}.{sig}", b64.encode(serde_json::to_vec(&forged).unwrap()));
        assert!(keys.verify(&altered, now).is_err());
        assert!(keys.verify(payload, now).is_err());
        let old = keys.sign(&receipt(now.timestamp() - RECEIPT_TTL_SECS - 1));
        assert!(keys.verify(&old, now).is_err());
    }

    #[test]
    fn only_events_about_what_was_shown_pass() {
        let r = receipt(chrono::Utc::now().timestamp() - 60);
        let ev = |kind, rule: Option<&str>, variant: Option<&str>| Event {
            mutation_id: rule.map(str::to_string),
            variant: variant.map(str::to_string),
            ..Event::new(kind, chrono::Utc::now())
        };
        let batch = |events| EventBatch {
            batch_id: "b".into(),
            events,
            receipt: Some("x".into()),
        };
        let mut ok = batch(vec![
            ev(EventKind::Conversion, Some("hero-test"), Some("b")),
            ev(EventKind::Click, None, None),
            Event {
                value: Some(42.0),
                segment: Some("device:forged".into()),
                ..ev(EventKind::Click, Some("hero-test"), Some("b"))
            },
            ev(EventKind::Exposure, Some("exit-offer"), None),
            Event {
                value: Some(70.0),
                ..ev(EventKind::Scroll, Some("hero-test"), Some("b"))
            },
        ]);
        check_batch(&r, &mut ok, chrono::Utc::now()).unwrap();
        assert!(ok.events.iter().all(|e| e.unit.as_deref() == Some("v1")));
        // The segment is the receipt's, whatever the browser said.
        assert!(ok
            .events
            .iter()
            .all(|e| e.segment.as_deref() == Some("device:mobile")));
        assert_eq!(ok.receipt, None);
        for bad in [
            ev(EventKind::Conversion, Some("hero-test"), Some("a")),
            ev(EventKind::Conversion, Some("other-rule"), None),
            ev(EventKind::Exposure, Some("hero-test"), Some("b")),
            ev(EventKind::PageView, None, None),
            Event {
                unit: Some("someone-else".into()),
                ..ev(EventKind::Click, None, None)
            },
            Event {
                at: chrono::Utc::now() + chrono::Duration::days(30),
                ..ev(EventKind::Conversion, Some("hero-test"), Some("b"))
            },
            Event {
                at: chrono::Utc::now() - chrono::Duration::days(3),
                ..ev(EventKind::Click, None, None)
            },
            Event {
                value: Some(1e15),
                ..ev(EventKind::Dwell, Some("hero-test"), Some("b"))
            },
            // A click's value is a heatmap cell, nothing else.
            Event {
                value: Some(100.0),
                ..ev(EventKind::Click, None, None)
            },
            Event {
                value: Some(2.5),
                ..ev(EventKind::Click, Some("hero-test"), Some("b"))
            },
            // A scroll depth is a whole percent, and there is one.
            Event {
                value: Some(101.0),
                ..ev(EventKind::Scroll, Some("hero-test"), Some("b"))
            },
            Event {
                value: Some(33.3),
                ..ev(EventKind::Scroll, None, None)
            },
            ev(EventKind::Scroll, None, None),
            Event {
                value: Some(50.0),
                ..ev(EventKind::Scroll, Some("hero-test"), Some("a"))
            },
            // Revenue comes from servers: a browser cannot claim an order's worth.
            Event {
                value: Some(1e9),
                ..ev(EventKind::Conversion, Some("hero-test"), Some("b"))
            },
        ] {
            assert!(
                check_batch(&r, &mut batch(vec![bad.clone()]), chrono::Utc::now()).is_err(),
                "{bad:?}"
            );
        }
    }
}
