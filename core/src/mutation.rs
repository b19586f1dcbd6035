//! Layout mutations: the rules that rewrite a page per visitor, as stored, synced and
//! evaluated. JSON field names follow the spec (camelCase); `mutationPayload` is typed by
//! `mutationType` and round-trips exactly.

use crate::bucketing::{HashVersion, Namespace};
use crate::layout::ops::{Hide, Insert, Operation, Props, Reorder, Replace, Theme};
pub use crate::stats::bandit::Bandit;
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
    /// The slice of a namespace this experiment takes (GrowthBook's `[id, start, end]`):
    /// only visitors in the slice take part, so experiments with disjoint slices of one
    /// namespace never share a visitor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Namespace>,
    /// Allocation by a bandit: the engine moves the variants' weights toward the variant
    /// doing best on the goal metric (Thompson sampling), and a visitor keeps the variant
    /// they first saw (sticky assignment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandit: Option<Bandit>,
    /// The bandit's weight changes, oldest first (the weights' history).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reweights: Vec<Reweight>,
}

/// Most weight changes one experiment keeps (a year of daily changes).
pub const MAX_REWEIGHTS: usize = 366;

/// One weight change by a bandit: when, the rule version it wrote, the new weights and
/// each variant's chance to be best that gave them (both in the variants' order), and the
/// visitors each variant had then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reweight {
    pub at: DateTime<Utc>,
    pub version: u32,
    pub weights: Vec<f64>,
    pub chance: Vec<f64>,
    pub units: Vec<u64>,
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

    /// Whether `other` is the same experiment run: the same key, seed, coverage, hash
    /// attribute and version, namespace, and the same variants with the same weights, in
    /// order (a bandit's weights move during its run: when either is a bandit, only the
    /// variants' keys). (Its policy and decisions may differ.)
    pub fn same_bucketing(&self, other: &Experiment) -> bool {
        let bandits = self.bandit.is_some() || other.bandit.is_some();
        self.key == other.key
            && self.seed == other.seed
            && self.coverage == other.coverage
            && self.hash_attribute == other.hash_attribute
            && self.hash_version == other.hash_version
            && self.namespace == other.namespace
            && self.variants.len() == other.variants.len()
            && self
                .variants
                .iter()
                .zip(&other.variants)
                .all(|(a, b)| a.key == b.key && (bandits || a.weight == b.weight))
    }

    /// The experiment with a bandit's new weights (`weights`, `chance` and `units` in the
    /// variants' order), recorded with `at` and the rule version it will be. `None` when
    /// no weight moves by 0.01 or more (nothing worth a new version), or the experiment is
    /// no running bandit.
    pub fn reweighted(
        &self,
        weights: &[f64],
        chance: &[f64],
        units: &[u64],
        at: DateTime<Utc>,
        version: u32,
    ) -> Option<Experiment> {
        if self.bandit.is_none() || !self.running() || weights.len() != self.variants.len() {
            return None;
        }
        let moved = self
            .variants
            .iter()
            .zip(weights)
            .any(|(v, w)| (v.weight - w).abs() >= 0.01);
        if !moved {
            return None;
        }
        let mut next = self.clone();
        for (v, &w) in next.variants.iter_mut().zip(weights) {
            v.weight = w;
        }
        next.reweights.push(Reweight {
            at,
            version,
            weights: weights.to_vec(),
            chance: chance.to_vec(),
            units: units.to_vec(),
        });
        if next.reweights.len() > MAX_REWEIGHTS {
            next.reweights.remove(0);
        }
        Some(next)
    }

    /// The bandit's weights over its changes, one line per variant (a step chart).
    pub fn weights_chart(&self) -> crate::chart::ChartData {
        use crate::chart::{ChartData, Series, Unit};
        ChartData {
            x_labels: self
                .reweights
                .iter()
                .map(|r| r.at.format("%Y-%m-%d %H:%M").to_string())
                .collect(),
            series: self
                .variants
                .iter()
                .enumerate()
                .map(|(i, v)| Series {
                    name: v.key.clone(),
                    values: self
                        .reweights
                        .iter()
                        .map(|r| r.weights.get(i).copied())
                        .collect(),
                    band: Vec::new(),
                })
                .collect(),
            unit: Unit::Percent,
            reference: None,
            steps: true,
        }
    }

    /// When the bandit may change its weights next: `interval_hours` after its last change,
    /// or after `started` if it has made none. `None` for an experiment without a bandit.
    pub fn next_reweight(&self, started: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let b = self.bandit.as_ref()?;
        let last = self.reweights.last().map_or(started, |r| r.at.max(started));
        Some(last + chrono::Duration::hours(i64::from(b.interval_hours)))
    }

    /// Decision state (winner, switched-off variants, the decision record) changes only by
    /// a decision, its undo or a rollback. A rule an editor saves keeps its newest version's
    /// (`before`) for the same experiment key: sent empty, it is carried over; sent equal,
    /// fine; anything else is refused (a forged decision, or a stale copy that would undo
    /// one silently).
    pub fn keep_decisions_of(&mut self, before: Option<&Experiment>) -> Result<(), RuleError> {
        let before = before.filter(|b| b.key == self.key);
        let sent_nothing = self.winner.is_none()
            && self.stopped.is_empty()
            && self.decisions.is_empty()
            && self.reweights.is_empty();
        match before {
            Some(b) if sent_nothing => {
                self.winner = b.winner.clone();
                self.stopped = b.stopped.clone();
                self.decisions = b.decisions.clone();
                // A bandit's weight history is of its variants: new variants start anew.
                let same_variants = self.variants.len() == b.variants.len()
                    && self.variants.iter().zip(&b.variants).all(|(x, y)| x.key == y.key);
                if same_variants {
                    self.reweights = b.reweights.clone();
                }
                Ok(())
            }
            Some(b)
                if self.winner == b.winner
                    && self.stopped == b.stopped
                    && self.decisions == b.decisions
                    && self.reweights == b.reweights =>
            {
                Ok(())
            }
            None if sent_nothing => Ok(()),
            _ => Err(RuleError {
                field: "experiment.decisions".into(),
                message: "winner, stopped, decisions and reweights are written by the engine only: carry a decision out or undo it on the rule's page, or roll back to a version; leave them as the newest version has them".into(),
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
        if let Some(n) = &self.namespace {
            n.check().map_err(|m| e("namespace", m))?;
        }
        if let Some(b) = &self.bandit {
            b.check(self.variants.len())
                .map_err(|(f, m)| e(&format!("bandit.{f}"), m))?;
        }
        if self.reweights.len() > MAX_REWEIGHTS {
            return Err(e("reweights", format!("at most {MAX_REWEIGHTS}")));
        }
        if self.reweights.iter().any(|r| {
            r.weights.len() != self.variants.len()
                || r.chance.len() != self.variants.len()
                || r.units.len() != self.variants.len()
        }) {
            return Err(e(
                "reweights",
                "one weight, chance and count per variant".into(),
            ));
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

    /// Experiments in one namespace are mutually exclusive: an active rule's slice may not
    /// overlap the slice of another active rule's experiment (any page; deleted and switched
    /// off rules do not count).
    pub fn check_namespace<'a>(
        &self,
        others: impl IntoIterator<Item = &'a LayoutMutation>,
    ) -> Result<(), RuleError> {
        let Some(mine) = self.experiment.as_ref().and_then(|x| x.namespace.as_ref()) else {
            return Ok(());
        };
        if !self.is_active {
            return Ok(());
        }
        let attribute = self.experiment.as_ref().map(|x| x.hash_attribute.as_str());
        for other in others {
            let theirs = other.experiment.as_ref().and_then(|x| x.namespace.as_ref());
            let same_namespace = theirs.is_some_and(|t| t.id == mine.id);
            let their_attribute = other.experiment.as_ref().map(|x| x.hash_attribute.as_str());
            if other.id != self.id
                && other.is_active
                && same_namespace
                && their_attribute != attribute
            {
                return Err(RuleError {
                    field: "experiment.hashAttribute".into(),
                    message: format!(
                        "rule `{}` hashes `{}` in namespace `{}`: experiments of one namespace must hash the same attribute, or a visitor could be in two of them",
                        other.id,
                        their_attribute.unwrap_or_default(),
                        mine.id
                    ),
                });
            }
            if other.id != self.id && other.is_active && theirs.is_some_and(|t| t.overlaps(mine)) {
                return Err(RuleError {
                    field: "experiment.namespace".into(),
                    message: format!(
                        "{} overlaps rule `{}`'s slice {}: experiments in one namespace must take disjoint slices",
                        mine.describe(),
                        other.id,
                        theirs.map(Namespace::describe).unwrap_or_default()
                    ),
                });
            }
        }
        Ok(())
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
