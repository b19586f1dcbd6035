//! Analytics events that neurons send back to the hub, in batches, over HTTP
//! (`POST /api/federation/stream-analytics`) or the push channel.
//!
//! A batch has an id chosen by the neuron; the hub acknowledges it once it is durably on disk
//! and counts a batch id only once per neuron, so a neuron can resend a batch it is unsure of.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::federation::FieldError;

/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 5_000;
/// Largest batch body (JSON) the hub takes.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Longest free text (a log line or error message) in an event.
pub const MAX_MESSAGE_CHARS: usize = 2_000;
/// Longest identifier-like field (unit, page, mutation, variant, name).
pub const MAX_FIELD_CHARS: usize = 200;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum EventKind {
    /// A visitor saw a mutation (and variant).
    Exposure,
    PageView,
    Click,
    Conversion,
    /// Time on page or on a node; `value` in milliseconds.
    Dwell,
    /// An error the neuron reports (shown on the dashboard, searchable).
    Error,
    /// A log line the neuron reports (shown on the dashboard, searchable).
    Log,
    /// How far down the page the visitor saw, once per page view when they leave it;
    /// `value` the deepest percent seen (a whole number, 0 to 100).
    Scroll,
    /// How long the neuron took to answer a request, `value` in milliseconds (0 to one
    /// hour): a sample the automatic rollback compares before and after a change.
    Latency,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::Exposure,
        EventKind::PageView,
        EventKind::Click,
        EventKind::Conversion,
        EventKind::Dwell,
        EventKind::Error,
        EventKind::Log,
        EventKind::Scroll,
        EventKind::Latency,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Exposure => "exposure",
            EventKind::PageView => "pageView",
            EventKind::Click => "click",
            EventKind::Conversion => "conversion",
            EventKind::Dwell => "dwell",
            EventKind::Error => "error",
            EventKind::Log => "log",
            EventKind::Scroll => "scroll",
            EventKind::Latency => "latency",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One event. Only `kind` and `at` are required; the rest says what it is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Event {
    pub kind: EventKind,
    /// When it happened, on the neuron's clock.
    pub at: DateTime<Utc>,
    /// The visitor or unit (user id, anonymous id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_slug: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// A name: the clicked node, the conversion goal, the log target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A number: dwell milliseconds, order value; for a click, the cell of the clicked
    /// module it hit (see [`crate::heatmap`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Free text of a log line or an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The visitor's segment, as [`segment_of`] writes it (`device:mobile,source:search`);
    /// the hub sets it on its storefront's events from what it knew when it showed the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
}

/// The dimensions a segment is made of, in order: the context's derived attributes.
pub const SEGMENT_DIMENSIONS: [&str; 2] = ["device", "source"];

/// A visitor's segment as events carry it: `dimension:value` for each of
/// [`SEGMENT_DIMENSIONS`] the attributes have as a short string, joined by commas.
pub fn segment_of(attributes: &serde_json::Value) -> Option<String> {
    let parts: Vec<String> = SEGMENT_DIMENSIONS
        .iter()
        .filter_map(|d| {
            attributes
                .get(*d)
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty() && v.len() <= 40 && !v.contains([',', ':']))
                .map(|v| format!("{d}:{v}"))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// The `(dimension, value)` pairs of a segment [`segment_of`] wrote.
pub fn segment_parts(segment: &str) -> impl Iterator<Item = (&str, &str)> {
    segment.split(',').filter_map(|p| p.split_once(':'))
}

impl Event {
    /// An event of `kind` now, with nothing else set.
    pub fn new(kind: EventKind, at: DateTime<Utc>) -> Self {
        Self {
            kind,
            at,
            unit: None,
            page_slug: None,
            mutation_id: None,
            variant: None,
            name: None,
            value: None,
            message: None,
            segment: None,
        }
    }

    fn validate(&self, i: usize) -> Result<(), FieldError> {
        let short = [
            ("unit", &self.unit),
            ("pageSlug", &self.page_slug),
            ("mutationId", &self.mutation_id),
            ("variant", &self.variant),
            ("name", &self.name),
            ("segment", &self.segment),
        ];
        for (field, v) in short {
            if v.as_ref()
                .is_some_and(|v| v.chars().count() > MAX_FIELD_CHARS)
            {
                return Err(FieldError::new(
                    format!("events[{i}].{field}"),
                    format!("at most {MAX_FIELD_CHARS} characters"),
                ));
            }
        }
        if self
            .message
            .as_ref()
            .is_some_and(|m| m.chars().count() > MAX_MESSAGE_CHARS)
        {
            return Err(FieldError::new(
                format!("events[{i}].message"),
                format!("at most {MAX_MESSAGE_CHARS} characters"),
            ));
        }
        if self.kind == EventKind::Latency
            && !self
                .value
                .is_some_and(|v| v.is_finite() && (0.0..=MAX_LATENCY_MS).contains(&v))
        {
            return Err(FieldError::new(
                format!("events[{i}].value"),
                format!("a latency event's value is its milliseconds, 0 to {MAX_LATENCY_MS}"),
            ));
        }
        if self
            .value
            .is_some_and(|v| !v.is_finite() || v.abs() > MAX_EVENT_VALUE)
        {
            return Err(FieldError::new(
                format!("events[{i}].value"),
                format!("must be a number between -{MAX_EVENT_VALUE:e} and {MAX_EVENT_VALUE:e}"),
            ));
        }
        Ok(())
    }
}

/// The largest value an event may carry (a dwell in milliseconds, an order value): far
/// beyond any real one, small enough that sums of squares stay finite.
pub const MAX_EVENT_VALUE: f64 = 1e12;
/// The longest latency an event may report, in milliseconds (an hour).
pub const MAX_LATENCY_MS: f64 = 3_600_000.0;

/// A batch of events with the neuron's id for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventBatch {
    /// Unique per neuron (a UUID, or a counter the neuron persists): resending the same id
    /// is counted once.
    pub batch_id: String,
    pub events: Vec<Event>,
    /// The page's signed receipt, for events from the hub's own storefront pages: what the
    /// hub showed this visitor, so only events about that are counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

impl EventBatch {
    /// Checks the id, the count and every event, naming the first bad field.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.batch_id.is_empty()
            || self.batch_id.len() > 64
            || !self
                .batch_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            return Err(FieldError::new(
                "batchId",
                "1-64 characters of A-Z a-z 0-9 - _ . :",
            ));
        }
        if self.events.is_empty() || self.events.len() > MAX_BATCH_EVENTS {
            return Err(FieldError::new(
                "events",
                format!("1 to {MAX_BATCH_EVENTS} events per batch"),
            ));
        }
        self.events
            .iter()
            .enumerate()
            .try_for_each(|(i, e)| e.validate(i))
    }
}

/// The hub's answer to a batch: it is durably stored (or was already).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BatchAck {
    pub batch_id: String,
    /// Events in the batch.
    pub events: u32,
    /// The batch id was seen before: nothing new was stored.
    pub duplicate: bool,
}

/// A stored event with who sent it, as the dashboard lists logs and errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NeuronEvent {
    pub neuron_id: String,
    pub event: Event,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(json: serde_json::Value) -> Result<EventBatch, String> {
        let b: EventBatch = serde_json::from_value(json).map_err(|e| e.to_string())?;
        b.validate().map_err(|e| e.to_string())?;
        Ok(b)
    }

    #[test]
    fn a_batch_round_trips_and_names_bad_fields() {
        let ok = batch(serde_json::json!({"batchId": "b-1", "events": [
            {"kind": "exposure", "at": "2026-11-29T10:00:00Z", "unit": "u1", "mutationId": "m1", "variant": "b"},
            {"kind": "dwell", "at": "2026-11-29T10:00:01Z", "value": 1200.0}
        ]}))
        .unwrap();
        let again: EventBatch = serde_json::from_value(serde_json::to_value(&ok).unwrap()).unwrap();
        assert_eq!(ok, again);

        let err = batch(serde_json::json!({"batchId": "b 1", "events": []})).unwrap_err();
        assert!(err.contains("batchId"), "{err}");
        let err = batch(serde_json::json!({"batchId": "b", "events": []})).unwrap_err();
        assert!(err.contains("events"), "{err}");
        let long = "x".repeat(MAX_FIELD_CHARS + 1);
        let err = batch(serde_json::json!({"batchId": "b", "events": [
            {"kind": "click", "at": "2026-11-29T10:00:00Z"},
            {"kind": "click", "at": "2026-11-29T10:00:00Z", "name": long}
        ]}))
        .unwrap_err();
        assert!(err.contains("events[1].name"), "{err}");
        let err = batch(serde_json::json!({"batchId": "b", "events": [
            {"kind": "purchase", "at": "2026-11-29T10:00:00Z"}
        ]}))
        .unwrap_err();
        assert!(err.contains("unknown variant"), "{err}");
        let err = batch(serde_json::json!({"batchId": "b", "events": [
            {"kind": "click", "at": "2026-11-29T10:00:00Z", "colour": "red"}
        ]}))
        .unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
        // A latency sample is its milliseconds: required, and at most an hour.
        for bad in [
            serde_json::json!({"kind": "latency", "at": "2026-11-29T10:00:00Z"}),
            serde_json::json!({"kind": "latency", "at": "2026-11-29T10:00:00Z", "value": -1.0}),
            serde_json::json!({"kind": "latency", "at": "2026-11-29T10:00:00Z", "value": 3.6e6 + 1.0}),
        ] {
            let err = batch(serde_json::json!({"batchId": "b", "events": [bad]})).unwrap_err();
            assert!(
                err.contains("events[0].value") && err.contains("milliseconds"),
                "{err}"
            );
        }
        batch(serde_json::json!({"batchId": "b", "events": [
            {"kind": "latency", "at": "2026-11-29T10:00:00Z", "value": 12.5}
        ]}))
        .unwrap();
    }

    #[test]
    fn kinds_parse_back() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
        }
    }
}
