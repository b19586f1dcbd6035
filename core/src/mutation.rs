//! Layout mutations: the rules that rewrite a page per visitor, as stored, synced and
//! evaluated. JSON field names follow the spec (camelCase); `mutationPayload` is typed by
//! `mutationType` and round-trips exactly.

use crate::bucketing::HashVersion;
use crate::layout::ops::{Hide, Insert, Operation, Props, Reorder, Replace, Theme};
pub use crate::stats::decision::{Decision, Policy};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a rule sits; rules apply in this order, so later layers win conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Layer {
    /// Site-wide (every page), e.g. a theme.
    Global,
    /// One page.
    Page,
    /// One module on a page.
    Module,
    /// A micro-section inside a module.
    Section,
}

impl Layer {
    /// The JSON name: `global`, `page`, `module` or `section`.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Global => "global",
            Layer::Page => "page",
            Layer::Module => "module",
            Layer::Section => "section",
        }
    }
}

/// What the rule does, with the payload that type needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "mutationType",
    content = "mutationPayload",
    rename_all = "camelCase"
)]
pub enum MutationPayload {
    Reorder(Reorder),
    Insert(Insert),
    Replace(Replace),
    Hide(Hide),
    Props(Props),
    Theme(Theme),
    /// A/B/N test: the operations come from the assigned variant of `experiment`.
    Variant(VariantPayload),
}

/// Whether `id` can name a rule: 1-100 ASCII letters, digits, `-` or `_`. Rule ids go into
/// URLs, audit targets and analytics, so they stay plain.
pub fn is_rule_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The payload of a `variant` rule (its variants live in `experiment`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VariantPayload {}

impl MutationPayload {
    /// The single operation of a non-variant rule.
    pub fn operation(&self) -> Option<Operation> {
        Some(match self {
            MutationPayload::Reorder(p) => Operation::Reorder(p.clone()),
            MutationPayload::Insert(p) => Operation::Insert(p.clone()),
            MutationPayload::Replace(p) => Operation::Replace(p.clone()),
            MutationPayload::Hide(p) => Operation::Hide(p.clone()),
            MutationPayload::Props(p) => Operation::Props(p.clone()),
            MutationPayload::Theme(p) => Operation::Theme(p.clone()),
            MutationPayload::Variant(_) => return None,
        })
    }
}

/// When a rule is evaluated: on page load (the default), or when the page reports an event,
/// which the hydrated page evaluates with the same engine. The JSON is
/// `{"type":"pageLoad"}` or the event's own form, e.g. `{"type":"scrollDepth","percent":50}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Trigger {
    #[default]
    PageLoad,
    /// Fires once the page has reported a matching event.
    #[serde(untagged)]
    On(TriggerEvent),
}

/// What the page reports when an event happens; as a trigger, what it waits for (scroll
/// depth and time on page are thresholds: a larger reported value also fires).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum TriggerEvent {
    ScrollDepth {
        percent: u8,
    },
    #[serde(rename_all = "camelCase")]
    TimeOnPage {
        seconds: u32,
    },
    ExitIntent,
    Click {
        node: String,
    },
    JourneyStep {
        step: String,
    },
    QuizAnswer {
        question: String,
        answer: Value,
    },
    /// An emotion or sentiment signal the page reports, e.g. `frustrated`.
    Signal {
        name: String,
    },
}

impl TriggerEvent {
    /// Whether the reported event `reported` meets this one as a trigger.
    fn met_by(&self, reported: &TriggerEvent) -> bool {
        use TriggerEvent as E;
        match (self, reported) {
            (E::ScrollDepth { percent: want }, E::ScrollDepth { percent: got }) => got >= want,
            (E::TimeOnPage { seconds: want }, E::TimeOnPage { seconds: got }) => got >= want,
            (want, got) => want == got,
        }
    }
}

impl Trigger {
    /// Whether this trigger fires for a page view that has seen `events` so far.
    pub fn fires(&self, events: &[TriggerEvent]) -> bool {
        match self {
            Trigger::PageLoad => true,
            Trigger::On(want) => events.iter().any(|e| want.met_by(e)),
        }
    }
}

pub use crate::schedule::{ClockTime, Day, Schedule, Window};

/// One arm of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub key: String,
    pub weight: f64,
    /// The operations this variant applies (empty: the control).
    #[serde(default)]
    pub payload: Vec<Operation>,
}

fn default_hash_attribute() -> String {
    "id".into()
}

fn default_hash_version() -> HashVersion {
    HashVersion::V2
}

/// An A/B/N experiment, bucketed exactly as GrowthBook does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Experiment {
    pub key: String,
    /// Hash seed (default: the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// Share of visitors in the experiment, 0 to 1 (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    /// The attribute whose value is hashed (default `id`).
    #[serde(default = "default_hash_attribute")]
    pub hash_attribute: String,
    #[serde(default = "default_hash_version")]
    pub hash_version: HashVersion,
    pub variants: Vec<Variant>,
    /// How the engine decides this experiment (none: the default policy, suggest only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// Once decided: the variant every targeted visitor gets. Nobody is bucketed or counted
    /// any more, so the report keeps the experiment's numbers as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<String>,
    /// Variants switched off: their visitors see the baseline and are no longer counted;
    /// the other variants keep their visitors (nobody moves between them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopped: Vec<String>,
    /// The decisions taken on this experiment, oldest first, with their evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<DecisionRecord>,
}

/// Most decisions one experiment keeps.
pub const MAX_DECISIONS: usize = 50;

/// A decision taken on an experiment: by whom (`cortex:decider` when automatic), when,
/// which rule version it wrote, and the decision with its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecord {
    pub at: DateTime<Utc>,
    pub by: String,
    pub version: u32,
    pub decision: Decision,
}

/// The actor automatic decisions are recorded as.
pub const DECIDER: &str = "cortex:decider";

impl DecisionRecord {
    /// Whether the engine took it by itself.
    pub fn automatic(&self) -> bool {
        self.by == DECIDER
    }
}

impl Experiment {
    /// The baseline variant's index: `control` if there is one, else the first.
    pub fn baseline(&self) -> usize {
        self.variants
            .iter()
            .position(|v| v.key == "control")
            .unwrap_or(0)
    }

    /// The policy in force (the default when none is set).
    pub fn policy(&self) -> Policy {
        self.policy.clone().unwrap_or_default()
    }

    /// Whether `other` assigns every visitor to the same variant as this one: the same key,
    /// seed, coverage, hash attribute and version, and the same variants with the same
    /// weights, in order. (Its policy and decisions may differ.)
    pub fn same_bucketing(&self, other: &Experiment) -> bool {
        self.key == other.key
            && self.seed == other.seed
            && self.coverage == other.coverage
            && self.hash_attribute == other.hash_attribute
            && self.hash_version == other.hash_version
            && self.variants.len() == other.variants.len()
            && self
                .variants
                .iter()
                .zip(&other.variants)
                .all(|(a, b)| a.key == b.key && a.weight == b.weight)
    }

    /// Decision state (winner, switched-off variants, the decision record) changes only by
    /// a decision, its undo or a rollback. A rule an editor saves keeps its newest version's
    /// (`before`) for the same experiment key: sent empty, it is carried over; sent equal,
    /// fine; anything else is refused (a forged decision, or a stale copy that would undo
    /// one silently).
    pub fn keep_decisions_of(&mut self, before: Option<&Experiment>) -> Result<(), RuleError> {
        let before = before.filter(|b| b.key == self.key);
        let sent_nothing =
            self.winner.is_none() && self.stopped.is_empty() && self.decisions.is_empty();
        match before {
            Some(b) if sent_nothing => {
                self.winner = b.winner.clone();
                self.stopped = b.stopped.clone();
                self.decisions = b.decisions.clone();
                Ok(())
            }
            Some(b)
                if self.winner == b.winner
                    && self.stopped == b.stopped
                    && self.decisions == b.decisions =>
            {
                Ok(())
            }
            None if sent_nothing => Ok(()),
            _ => Err(RuleError {
                field: "experiment.decisions".into(),
                message: "winner, stopped and decisions are written by decisions only: carry one out or undo it on the rule's page, or roll back to a version; leave them as the newest version has them".into(),
            }),
        }
    }

    /// Whether the experiment still buckets visitors (no winner yet).
    pub fn running(&self) -> bool {
        self.winner.is_none()
    }

    /// The experiment after `decision` is carried out (promote: the winner is served to
    /// everyone; switch off: the variant's visitors see the baseline, and switching off the
    /// last variant besides the baseline makes the baseline the winner), recorded with `at`,
    /// `by` and the rule version it will be. `None` when the decision changes nothing (wait,
    /// blocked, an unknown or already stopped variant, an experiment already decided).
    pub fn decided(
        &self,
        decision: &Decision,
        at: DateTime<Utc>,
        by: &str,
        version: u32,
    ) -> Option<Experiment> {
        if !self.running() {
            return None;
        }
        let known = |v: &str| {
            self.variants.iter().any(|x| x.key == v) && !self.stopped.iter().any(|s| s == v)
        };
        let mut next = self.clone();
        match decision {
            Decision::Promote { variant, .. } if known(variant) => {
                next.winner = Some(variant.clone())
            }
            Decision::Demote { variant, .. } if known(variant) => {
                let baseline = &self.variants[self.baseline()].key;
                if variant == baseline {
                    return None;
                }
                next.stopped.push(variant.clone());
                let live = self
                    .variants
                    .iter()
                    .filter(|v| &v.key != baseline && !next.stopped.contains(&v.key))
                    .count();
                if live == 0 {
                    next.winner = Some(baseline.clone());
                }
            }
            _ => return None,
        }
        next.decisions.push(DecisionRecord {
            at,
            by: by.to_string(),
            version,
            decision: decision.clone(),
        });
        if next.decisions.len() > MAX_DECISIONS {
            next.decisions.remove(0);
        }
        Some(next)
    }

    fn check(&self) -> Result<(), RuleError> {
        let e = |field: &str, message: String| RuleError {
            field: format!("experiment.{field}"),
            message,
        };
        let known = |v: &str| self.variants.iter().any(|x| x.key == v);
        if let Some(p) = &self.policy {
            p.check().map_err(|(f, m)| e(&format!("policy.{f}"), m))?;
        }
        if let Some(w) = &self.winner {
            if !known(w) {
                return Err(e("winner", format!("no variant `{w}`")));
            }
            if self.stopped.contains(w) {
                return Err(e("winner", format!("`{w}` is switched off")));
            }
        }
        if let Some(s) = self.stopped.iter().find(|s| !known(s)) {
            return Err(e("stopped", format!("no variant `{s}`")));
        }
        if self.stopped.contains(&self.variants[self.baseline()].key) {
            return Err(e("stopped", "the baseline cannot be switched off".into()));
        }
        let mut distinct = self.stopped.clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() != self.stopped.len() {
            return Err(e("stopped", "each variant at most once".into()));
        }
        if self.winner.is_none() && self.stopped.len() + 1 >= self.variants.len() {
            return Err(e(
                "stopped",
                "every variant but the baseline is switched off: the baseline is the winner".into(),
            ));
        }
        if self.decisions.len() > MAX_DECISIONS {
            return Err(e("decisions", format!("at most {MAX_DECISIONS}")));
        }
        Ok(())
    }
}

/// A layout mutation rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayoutMutation {
    pub id: crate::ids::RuleId,
    pub layout_id: String,
    pub page_slug: crate::ids::PageSlug,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_id: Option<String>,
    #[serde(flatten)]
    pub payload: MutationPayload,
    #[serde(default)]
    pub trigger: Trigger,
    /// Targeting condition (GrowthBook syntax); `{}` targets everyone.
    #[serde(default = "empty_object")]
    pub conditions: Value,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub version: u32,
    pub created_by: String,
    pub timestamp: DateTime<Utc>,
    pub is_active: bool,
    /// The version this one replaced (rollback restores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_pointer: Option<u32>,
    pub layer: Layer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<Experiment>,
    /// Watch every change of this rule and roll it back by itself when its page converts
    /// significantly worse than before the change (see `cortex_core::stats::guard`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<crate::stats::guard::Guard>,
}

/// The actor automatic rollbacks by a rule's guard are recorded as.
pub const GUARD: &str = "cortex:guard";

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Why a rule cannot be saved; `field` names the JSON field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

impl LayoutMutation {
    /// The `mutationType` name.
    pub fn mutation_type(&self) -> &'static str {
        match self.payload {
            MutationPayload::Reorder(_) => "reorder",
            MutationPayload::Insert(_) => "insert",
            MutationPayload::Replace(_) => "replace",
            MutationPayload::Hide(_) => "hide",
            MutationPayload::Props(_) => "props",
            MutationPayload::Theme(_) => "theme",
            MutationPayload::Variant(_) => "variant",
        }
    }

    /// Checks what can be checked without the page's layout: conditions parse, experiment
    /// shape, schedule order.
    pub fn validate(&self) -> Result<(), RuleError> {
        let e = |field: &str, message: String| RuleError {
            field: field.into(),
            message,
        };
        if !is_rule_id(self.id.as_str()) {
            return Err(e("id", "1-100 letters, digits, - or _".into()));
        }
        crate::targeting::Condition::validate(&self.conditions)
            .map_err(|c| e("conditions", c.to_string()))?;
        if let Some(s) = &self.schedule {
            s.validate()
                .map_err(|x| e(&format!("schedule.{}", x.field), x.message))?;
        }
        // Links the rule would render into the page: only safe schemes.
        let payload = serde_json::to_value(&self.payload).unwrap_or(Value::Null);
        crate::urls::check_value("mutationPayload", &payload["mutationPayload"])
            .map_err(|(path, url)| e(&path, crate::urls::unsafe_url_message(&url)))?;
        if let Some(x) = &self.experiment {
            let value = serde_json::to_value(x).unwrap_or(Value::Null);
            crate::urls::check_value("experiment", &value)
                .map_err(|(path, url)| e(&path, crate::urls::unsafe_url_message(&url)))?;
        }
        if let Some(g) = &self.guard {
            g.check().map_err(|(f, m)| e(&format!("guard.{f}"), m))?;
        }
        match (&self.payload, &self.experiment) {
            (MutationPayload::Variant(_), None) => {
                return Err(e("experiment", "a variant rule needs an experiment".into()))
            }
            (MutationPayload::Variant(_), Some(x)) => {
                if x.variants.len() < 2 {
                    return Err(e(
                        "experiment.variants",
                        "needs at least two variants".into(),
                    ));
                }
                let total: f64 = x.variants.iter().map(|v| v.weight).sum();
                if !(0.99..=1.01).contains(&total) || x.variants.iter().any(|v| v.weight < 0.0) {
                    return Err(e(
                        "experiment.variants",
                        format!("weights must be non-negative and sum to 1 (they sum to {total})"),
                    ));
                }
                if x.coverage.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
                    return Err(e("experiment.coverage", "must be between 0 and 1".into()));
                }
                x.check()?;
            }
            (_, Some(_)) => {
                return Err(e(
                    "experiment",
                    "only variant rules have an experiment".into(),
                ))
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_names_are_their_json_names() {
        for l in [Layer::Global, Layer::Page, Layer::Module, Layer::Section] {
            assert_eq!(serde_json::to_value(l).unwrap(), l.as_str());
        }
    }

    #[test]
    fn rules_round_trip_exactly() {
        let text = r#"{"id":"r1","layoutId":"home-v3","pageSlug":"home","moduleId":"hero","mutationType":"props","mutationPayload":{"target":"hero","patch":{"headline":"Hi"}},"trigger":{"type":"scrollDepth","percent":50},"conditions":{"device":"mobile"},"priority":5,"version":2,"createdBy":"user:ana","timestamp":"2026-11-25T10:00:00Z","isActive":true,"rollbackPointer":1,"layer":"module","schedule":{"start":"2026-11-25T00:00:00Z"}}"#;
        let rule: LayoutMutation = serde_json::from_str(text).unwrap();
        assert_eq!(rule.layer, Layer::Module);
        let again: Value = serde_json::to_value(&rule).unwrap();
        assert_eq!(again, serde_json::from_str::<Value>(text).unwrap());
        assert!(rule.validate().is_ok());
    }

    #[test]
    fn validation_names_the_field() {
        let mut rule: LayoutMutation = serde_json::from_value(serde_json::json!({
            "id": "r", "layoutId": "l", "pageSlug": "home", "mutationType": "variant", "mutationPayload": {},
            "createdBy": "u", "timestamp": "2026-11-25T10:00:00Z", "isActive": true, "layer": "page",
            "conditions": {"age": {"$between": 1}}
        }))
        .unwrap();
        assert_eq!(rule.validate().unwrap_err().field, "conditions");
        rule.conditions = serde_json::json!({});
        assert_eq!(rule.validate().unwrap_err().field, "experiment");
    }

    #[test]
    fn a_script_link_is_refused_where_it_sits() {
        let base = serde_json::json!({
            "id": "r", "layoutId": "l", "pageSlug": "home", "mutationType": "props",
            "mutationPayload": {"target": "hero", "patch": {"headline": "Hi", "href": " JavaScript:alert(1)"}},
            "createdBy": "u", "timestamp": "2026-11-25T10:00:00Z", "isActive": true, "layer": "module"
        });
        let rule: LayoutMutation = serde_json::from_value(base.clone()).unwrap();
        let err = rule.validate().unwrap_err();
        assert_eq!(err.field, "mutationPayload.patch.href", "{err}");
        let mut insert = base;
        insert["mutationType"] = "replace".into();
        insert["mutationPayload"] = serde_json::json!({"target": "hero",
            "node": {"id": "x", "type": "hero", "props": {"href": "/ok"},
                "children": [{"id": "y", "type": "hero", "props": {"ctaHref": "data:text/html,x"}}]}});
        let rule: LayoutMutation = serde_json::from_value(insert).unwrap();
        let err = rule.validate().unwrap_err();
        assert!(err.field.ends_with("children[0].props.ctaHref"), "{err}");
    }

    #[test]
    fn triggers_fire_on_matching_events() {
        let events = [
            TriggerEvent::ScrollDepth { percent: 60 },
            TriggerEvent::Click { node: "cta".into() },
        ];
        assert!(Trigger::On(TriggerEvent::ScrollDepth { percent: 50 }).fires(&events));
        assert!(!Trigger::On(TriggerEvent::ScrollDepth { percent: 75 }).fires(&events));
        assert!(Trigger::On(TriggerEvent::Click { node: "cta".into() }).fires(&events));
        assert!(!Trigger::On(TriggerEvent::ExitIntent).fires(&events));
        assert!(Trigger::PageLoad.fires(&[]));
    }

    fn experiment(arms: &[&str]) -> Experiment {
        serde_json::from_value(serde_json::json!({
            "key": "x",
            "variants": arms.iter().map(|k| serde_json::json!({"key": k, "weight": 1.0 / arms.len() as f64})).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    fn verdict(promote: bool, variant: &str) -> Decision {
        let (variant, lift, ci, p_value) = (variant.to_string(), 0.1, (0.05, 0.15), 0.001);
        if promote {
            Decision::Promote {
                variant,
                lift,
                ci,
                p_value,
            }
        } else {
            Decision::Demote {
                variant,
                lift: -lift,
                ci: (-0.15, -0.05),
                p_value,
            }
        }
    }

    #[test]
    fn a_promotion_names_the_winner_and_records_its_evidence() {
        let at: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        let x = experiment(&["control", "b", "c"]);
        let done = x.decided(&verdict(true, "b"), at, DECIDER, 4).unwrap();
        assert_eq!(done.winner.as_deref(), Some("b"));
        assert!(!done.running());
        let record = done.decisions.last().unwrap();
        assert!(record.automatic() && record.version == 4 && record.at == at);
        assert!(record.decision.describe().starts_with("promote b: +10.0 %"));
        // Decided is decided: nothing more to do, and no unknown variant can win.
        assert!(done.decided(&verdict(true, "c"), at, DECIDER, 5).is_none());
        assert!(x.decided(&verdict(true, "nope"), at, DECIDER, 4).is_none());
        assert!(x
            .decided(&Decision::Wait { why: "w".into() }, at, DECIDER, 4)
            .is_none());
    }

    #[test]
    fn switching_off_keeps_the_others_running_until_only_the_baseline_is_left() {
        let at: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        let x = experiment(&["control", "b", "c"]);
        let one = x.decided(&verdict(false, "c"), at, "user:ana", 2).unwrap();
        assert_eq!(one.stopped, ["c"]);
        assert!(one.running() && !one.decisions[0].automatic());
        assert!(
            one.decided(&verdict(false, "c"), at, DECIDER, 3).is_none(),
            "already off"
        );
        assert!(
            one.decided(&verdict(false, "control"), at, DECIDER, 3)
                .is_none(),
            "the baseline stays"
        );
        let two = one.decided(&verdict(false, "b"), at, DECIDER, 3).unwrap();
        assert_eq!(two.winner.as_deref(), Some("control"));
        assert_eq!(two.decisions.len(), 2);
    }

    #[test]
    fn decision_fields_are_checked() {
        let rule = |x: Value| -> LayoutMutation {
            serde_json::from_value(serde_json::json!({
                "id": "r", "layoutId": "l", "pageSlug": "home", "mutationType": "variant", "mutationPayload": {},
                "createdBy": "u", "timestamp": "2026-11-25T10:00:00Z", "isActive": true, "layer": "page",
                "experiment": x
            }))
            .unwrap()
        };
        let variants =
            serde_json::json!([{"key": "control", "weight": 0.5}, {"key": "b", "weight": 0.5}]);
        let field = |extra: Value| {
            let mut x = serde_json::json!({"key": "x", "variants": variants});
            x.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            rule(x).validate().err().map(|e| e.field)
        };
        assert_eq!(field(serde_json::json!({"policy": {"mode": "auto"}})), None);
        assert_eq!(field(serde_json::json!({"winner": "b"})), None);
        assert_eq!(
            field(serde_json::json!({"winner": "z"})).as_deref(),
            Some("experiment.winner")
        );
        assert_eq!(
            field(serde_json::json!({"stopped": ["control"]})).as_deref(),
            Some("experiment.stopped")
        );
        assert_eq!(
            field(serde_json::json!({"stopped": ["b"], "winner": "b"})).as_deref(),
            Some("experiment.winner")
        );
        assert_eq!(
            field(serde_json::json!({"policy": {"alpha": 0.9}})).as_deref(),
            Some("experiment.policy.alpha")
        );
        assert_eq!(
            field(serde_json::json!({"policy": {"minUnitsPerArm": 5}})).as_deref(),
            Some("experiment.policy.minUnitsPerArm")
        );
        assert_eq!(
            field(serde_json::json!({"policy": {"minDays": 0}})).as_deref(),
            Some("experiment.policy.minDays")
        );
        assert_eq!(
            field(serde_json::json!({"policy": {"goal": "dwell", "guardrails": ["dwell"]}}))
                .as_deref(),
            Some("experiment.policy.guardrails")
        );
    }

    #[test]
    fn a_save_keeps_what_decisions_wrote_and_cannot_forge_it() {
        let at: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        let running = experiment(&["control", "b", "c"]);
        let decided = running
            .decided(&verdict(true, "b"), at, DECIDER, 4)
            .unwrap();
        // Sent without decision state: carried over.
        let mut edit = running.clone();
        edit.keep_decisions_of(Some(&decided)).unwrap();
        assert_eq!(
            (edit.winner.as_deref(), edit.decisions.len()),
            (Some("b"), 1)
        );
        // Sent as it is: fine. Forged or stale: refused.
        let mut same = decided.clone();
        assert!(same.keep_decisions_of(Some(&decided)).is_ok());
        let mut forged = running
            .decided(&verdict(true, "c"), at, DECIDER, 4)
            .unwrap();
        assert_eq!(
            forged.keep_decisions_of(Some(&decided)).unwrap_err().field,
            "experiment.decisions"
        );
        assert!(
            forged.clone().keep_decisions_of(None).is_err(),
            "a new rule has none"
        );
        // Another experiment key starts clean.
        let mut other = experiment(&["control", "b"]);
        other.key = "y".into();
        other.keep_decisions_of(Some(&decided)).unwrap();
        assert!(other.winner.is_none() && other.decisions.is_empty());
    }

    #[test]
    fn bucketing_is_the_same_until_weights_variants_or_seed_change() {
        let a = experiment(&["control", "b"]);
        let mut b = a.clone();
        b.policy = Some(Policy::default());
        b.stopped = vec!["b".into()];
        assert!(a.same_bucketing(&b));
        b.variants[0].weight = 0.7;
        assert!(!a.same_bucketing(&b));
        let mut c = a.clone();
        c.seed = Some("s".into());
        assert!(!a.same_bucketing(&c));
    }
}
