//! Resolution: a rule set compiled once per revision into a [`Plan`] indexed by page, then
//! evaluated per page view into the resolved layout, the exposures to log and an explain
//! trace. A rule that cannot apply is skipped and reported; the page always renders.

use crate::bucketing::{bucket_ranges, choose_variant, hash, Range};
use crate::context::Reads;
use crate::layout::ops::{OpKind, Operation, Skip, Undo};
use crate::layout::{Layout, NodeId};
use crate::mutation::{Layer, LayoutMutation, MutationPayload, TriggerEvent};
use crate::targeting::{js, Condition, SavedGroups};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// What happened to one rule on one page view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    /// Applied (with the variant, for experiments).
    #[serde(rename_all = "camelCase")]
    Applied { variant: Option<Arc<str>> },
    /// Switched off.
    Inactive,
    /// Outside its schedule window.
    OutOfSchedule,
    /// Its trigger has not fired on this page view.
    TriggerNotFired,
    /// The visitor does not match; `failed` lists the top-level condition keys that failed.
    NotTargeted { failed: Vec<String> },
    /// Targeted, but outside the experiment's coverage or without the hash attribute.
    NotInExperiment,
    /// Could not apply; nothing of it was applied.
    Skipped { reason: Skip },
    /// Applied, but a later-ordered rule changed the same node in a conflicting way.
    #[serde(rename_all = "camelCase")]
    Overridden { by: Arc<str> },
    /// The rule is malformed (e.g. its condition does not parse); it is a no-op.
    Invalid { message: String },
}

impl Outcome {
    /// The outcome in words, as the preview shows it: `applied (variant b)`, `not targeted:
    /// hour did not match`, `skipped: target node `hero` is missing`.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Applied { variant: None } => "applied".into(),
            Outcome::Applied { variant: Some(v) } => format!("applied (variant {v})"),
            Outcome::Inactive => "switched off".into(),
            Outcome::OutOfSchedule => "outside its schedule".into(),
            Outcome::TriggerNotFired => "waiting for its trigger".into(),
            Outcome::NotTargeted { failed } if failed.is_empty() => {
                "not targeted: the condition did not match".into()
            }
            Outcome::NotTargeted { failed } => {
                let verb = if failed.len() == 1 { "did" } else { "do" };
                format!("not targeted: {} {verb} not match", failed.join(", "))
            }
            Outcome::NotInExperiment => {
                "not in the experiment (outside its coverage, or no id to bucket by)".into()
            }
            Outcome::Skipped { reason } => format!("skipped: {reason}"),
            Outcome::Overridden { by } => format!("overridden by rule {by}"),
            Outcome::Invalid { message } => format!("invalid: {message}"),
        }
    }
}

/// One line of the explain trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceEntry {
    pub rule_id: Arc<str>,
    pub version: u32,
    pub layer: Layer,
    pub priority: i32,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The record that a visitor saw a rule (and which variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exposure {
    pub rule_id: Arc<str>,
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_key: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_key: Option<Arc<str>>,
}

/// The resolved page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolution {
    pub layout: Layout,
    pub exposures: Vec<Exposure>,
    pub trace: Vec<TraceEntry>,
    /// Undos of everything applied, in order; reverting them in reverse gives the base.
    #[serde(skip)]
    pub undo: Vec<Undo>,
}

impl Resolution {
    /// Reverts every applied rule, giving back the base layout.
    pub fn rollback(mut self) -> Layout {
        for u in self.undo.drain(..).rev() {
            u.revert(&mut self.layout.root);
        }
        self.layout
    }
}

/// The attributes `rules` read through their conditions (`tests`) and experiments; all,
/// if a condition cannot tell before it is evaluated.
fn reads_of(rules: &[CompiledRule], tests: &[Test]) -> Reads {
    let mut names = BTreeSet::new();
    for test in tests {
        match test.condition.reads() {
            Some(read) => names.extend(read),
            None => return Reads::All,
        }
    }
    names.extend(
        rules
            .iter()
            .filter_map(|c| c.rule.experiment.as_ref())
            .map(|x| x.hash_attribute.clone()),
    );
    Reads::Only(names)
}

/// What is known about one page view.
pub struct Visit<'a> {
    /// Attributes the conditions look at (a JSON object).
    pub attributes: &'a Value,
    pub groups: &'a SavedGroups,
    pub now: DateTime<Utc>,
    /// Events the page has reported so far (empty on the server's first render).
    pub events: &'a [TriggerEvent],
    /// Fill in which conditions failed for untargeted rules (evaluates every entry of a
    /// failing condition instead of stopping at the first that fails).
    pub explain: bool,
    /// The variants this visitor already saw (experiment key → variant key): a bandit
    /// experiment shows them the same one again, whatever its weights are now.
    pub sticky: Option<&'a crate::context::Sticky>,
}

struct CompiledRule {
    rule: LayoutMutation,
    id: Arc<str>,
    experiment_key: Option<Arc<str>>,
    variant_keys: Vec<Arc<str>>,
    /// The operation of a non-variant rule, built once.
    ops: Vec<Operation>,
    /// The condition's top-level entries (all must pass), as indexes into [`Plan::tests`];
    /// or why the condition is invalid.
    condition: Result<Vec<usize>, String>,
    ranges: Vec<Range>,
    seed: String,
    /// Per bucket (variant index): the variant served, and whether the visit is counted
    /// (a switched-off variant's visitors get the baseline, uncounted).
    serve: Vec<(usize, bool)>,
    /// A decided experiment's winner: served to every targeted visitor, uncounted.
    winner: Option<usize>,
}

/// One top-level condition entry (`{"device": "mobile"}`), shared by every rule that has it.
struct Test {
    key: String,
    condition: Condition,
    /// For an entry on one attribute: the path's index in [`Plan::paths`].
    path: Option<usize>,
}

/// A rule set compiled for evaluation, indexed by page.
///
/// The top-level entries of all conditions are interned: rules of one site share most of
/// their targeting (device, country, persona ...), so each distinct entry is evaluated at
/// most once per page view and remembered for the other rules. A condition object is the
/// conjunction of its entries (as in GrowthBook), so this changes no result.
pub struct Plan {
    rules: Vec<CompiledRule>,
    tests: Vec<Test>,
    /// Attribute paths the tests look at; each is looked up at most once per page view.
    paths: Vec<Vec<String>>,
    /// Per page: indexes into `rules`, in application order (global rules included).
    pages: HashMap<crate::ids::PageSlug, Vec<usize>>,
    global: Vec<usize>,
    /// The attributes any rule reads (its conditions, its experiment's hash attribute).
    reads: Reads,
}

impl Plan {
    /// Compiles rules: conditions parsed once, experiment ranges computed once, rules sorted
    /// by layer, then priority (higher applies later and wins), then version, then id.
    pub fn compile(rules: Vec<LayoutMutation>) -> Plan {
        let mut tests: Vec<Test> = Vec::new();
        let mut paths: Vec<Vec<String>> = Vec::new();
        let mut interned: HashMap<String, usize> = HashMap::new();
        let mut intern = |key: &String, value: &Value| {
            let entry = Value::Object(serde_json::Map::from_iter([(key.clone(), value.clone())]));
            let text = entry.to_string();
            *interned.entry(text).or_insert_with(|| {
                let condition = Condition::compile(&entry);
                let path = condition.as_field().map(|(path, _)| {
                    paths.iter().position(|p| p == path).unwrap_or_else(|| {
                        paths.push(path.to_vec());
                        paths.len() - 1
                    })
                });
                tests.push(Test {
                    key: key.clone(),
                    condition,
                    path,
                });
                tests.len() - 1
            })
        };
        let mut rules: Vec<CompiledRule> = rules
            .into_iter()
            .map(|rule| {
                let condition = Condition::validate(&rule.conditions)
                    .map(|()| match &rule.conditions {
                        Value::Object(m) => m.iter().map(|(k, v)| intern(k, v)).collect(),
                        _ => Vec::new(),
                    })
                    .map_err(|e| e.to_string());
                let (ranges, seed) = match &rule.experiment {
                    Some(x) => {
                        let weights: Vec<f64> = x.variants.iter().map(|v| v.weight).collect();
                        (
                            bucket_ranges(weights.len(), x.coverage, Some(&weights)),
                            x.seed.clone().unwrap_or_else(|| x.key.clone()),
                        )
                    }
                    None => (Vec::new(), String::new()),
                };
                let ops = rule.payload.operation().into_iter().collect();
                let (serve, winner) = match &rule.experiment {
                    Some(x) => {
                        let baseline = x.baseline();
                        let serve = x
                            .variants
                            .iter()
                            .enumerate()
                            .map(|(i, v)| {
                                if x.stopped.contains(&v.key) {
                                    (baseline, false)
                                } else {
                                    (i, true)
                                }
                            })
                            .collect();
                        let winner = x
                            .winner
                            .as_ref()
                            .and_then(|w| x.variants.iter().position(|v| &v.key == w));
                        (serve, winner)
                    }
                    None => (Vec::new(), None),
                };
                CompiledRule {
                    serve,
                    winner,
                    id: rule.id.as_str().into(),
                    experiment_key: rule.experiment.as_ref().map(|x| x.key.as_str().into()),
                    variant_keys: rule
                        .experiment
                        .iter()
                        .flat_map(|x| x.variants.iter().map(|v| v.key.as_str().into()))
                        .collect(),
                    rule,
                    ops,
                    condition,
                    ranges,
                    seed,
                }
            })
            .collect();
        rules.sort_by(|a, b| {
            let key = |r: &LayoutMutation| (r.layer, r.priority, r.version);
            key(&a.rule)
                .cmp(&key(&b.rule))
                .then_with(|| a.rule.id.cmp(&b.rule.id))
        });
        let global: Vec<usize> = (0..rules.len())
            .filter(|&i| rules[i].rule.layer == Layer::Global)
            .collect();
        let mut pages: HashMap<crate::ids::PageSlug, Vec<usize>> = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            if r.rule.layer != Layer::Global {
                pages.entry(r.rule.page_slug.clone()).or_default().push(i);
            }
        }
        for list in pages.values_mut() {
            list.extend(global.iter().copied());
            list.sort_unstable();
        }
        let reads = reads_of(&rules, &tests);
        Plan {
            rules,
            tests,
            paths,
            pages,
            global,
            reads,
        }
    }

    /// The attributes this plan's rules can read: a visit needs no others
    /// ([`crate::context::Context::attributes_read`]).
    pub fn reads(&self) -> &Reads {
        &self.reads
    }

    /// How many rules the plan holds.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the plan holds no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule at `place` in the plan (as [`Decided::deferrable`] names it).
    pub fn rule(&self, place: usize) -> &LayoutMutation {
        &self.rules[place].rule
    }

    /// The rules `decided` applies, each with its variant: the exposures of that visit,
    /// unless a rule's operations then fail on the layout (see [`Plan::resolve_decided`]).
    pub fn applying(&self, decided: &Decided<'_>) -> Vec<(Arc<str>, Option<Arc<str>>)> {
        decided
            .steps
            .iter()
            .filter_map(|(place, decision)| match decision {
                Decision::Apply {
                    variant,
                    counted: true,
                    ..
                } => {
                    let c = &self.rules[*place];
                    Some((c.id.clone(), variant.map(|v| c.variant_keys[v].clone())))
                }
                Decision::Apply { .. } | Decision::Pass(_) => None,
            })
            .collect()
    }

    /// Resolves `base` for one page view.
    pub fn resolve(&self, base: &Layout, visit: &Visit<'_>) -> Resolution {
        self.resolve_keeping(base, visit, true)
    }

    /// [`Plan::resolve`] for an answer that is sent and never reverted: the same layout,
    /// exposures and trace, with an empty undo log (a rule of one operation records nothing
    /// to undo, so a props patch copies none of the values it replaces).
    pub fn resolve_to_send(&self, base: &Layout, visit: &Visit<'_>) -> Resolution {
        self.resolve_keeping(base, visit, false)
    }

    fn resolve_keeping(&self, base: &Layout, visit: &Visit<'_>, keep_undo: bool) -> Resolution {
        let decided = self.decide(base, visit);
        self.resolve_decided(base, decided, keep_undo)
    }

    /// The part of a resolution that depends on the visitor: which rules apply to `base`'s
    /// page on this visit (with which variant), and why the others do not. What the page
    /// then looks like depends on nothing else: see [`Plan::resolve_decided`].
    pub fn decide<'p>(&'p self, base: &Layout, visit: &Visit<'_>) -> Decided<'p> {
        let order = self.pages.get(&base.page_slug).unwrap_or(&self.global);
        // Results of the interned condition entries on this visit.
        let mut memo = Memo {
            tests: vec![None; self.tests.len()],
            values: vec![None; self.paths.len()],
        };
        let steps = order
            .iter()
            .map(|&i| (i, self.decide_rule(&self.rules[i], visit, &mut memo)))
            .collect();
        Decided { steps }
    }

    /// Applies what [`Plan::decide`] decided to `base`: the resolved layout, exposures and
    /// trace. Two visits with the same [`Decided::key`] get the same layout and exposures.
    pub fn resolve_decided(
        &self,
        base: &Layout,
        decided: Decided<'_>,
        keep_undo: bool,
    ) -> Resolution {
        let mut layout = base.clone();
        let locks = base.root.has_locks();
        let mut trace: Vec<TraceEntry> = Vec::with_capacity(decided.steps.len());
        let mut exposures = Vec::new();
        let mut undo: Vec<Undo> = Vec::new();
        // Which trace entry last changed a node, and how (a few dozen at most: a vector
        // searched by id hash beats a hash map here).
        let mut touched: Vec<Touch<'_>> = Vec::new();

        for (i, decision) in decided.steps {
            let (ops, variant, counted) = match decision {
                Decision::Apply {
                    ops,
                    variant,
                    counted,
                } => (ops, variant, counted),
                Decision::Pass(outcome) => {
                    trace.push(self.trace_entry(i, outcome));
                    continue;
                }
            };
            let c = &self.rules[i];
            let variant_key = variant.map(|v| c.variant_keys[v].clone());
            // Apply the rule's operations atomically: all, or none. One operation that fails
            // changes nothing, so there is nothing to undo unless the log is kept.
            let mut applied: Vec<Undo> = Vec::new();
            let mut failure = None;
            if let ([op], false) = (ops, keep_undo) {
                failure = op.apply_only(&mut layout.root, locks).err();
            } else {
                for op in ops {
                    match op.apply_in(&mut layout.root, locks) {
                        Ok(u) => applied.push(u),
                        Err(skip) => {
                            failure = Some(skip);
                            break;
                        }
                    }
                }
            }
            if let Some(reason) = failure {
                for u in applied.into_iter().rev() {
                    u.revert(&mut layout.root);
                }
                trace.push(self.trace_entry(i, Outcome::Skipped { reason }));
                continue;
            }
            let me = trace.len();
            for op in ops {
                let now = Touch {
                    node: op.target(&base.root.id),
                    by: me,
                    kind: op.kind(),
                    keys: match op {
                        Operation::Props(p) => p.patch.as_object(),
                        _ => None,
                    },
                };
                let before = touched.iter_mut().find(|t| t.node == now.node);
                if let Some(prev) = &before {
                    if prev.by != me && conflicts(prev.kind, prev.keys, now.kind, now.keys) {
                        if let Outcome::Applied { .. } = trace[prev.by].outcome {
                            trace[prev.by].outcome = Outcome::Overridden { by: c.id.clone() };
                        }
                    }
                }
                if now.kind != OpKind::Insert {
                    match before {
                        Some(prev) => *prev = now,
                        None => touched.push(now),
                    }
                }
            }
            if keep_undo {
                undo.extend(applied);
            }
            if counted {
                exposures.push(Exposure {
                    rule_id: c.id.clone(),
                    version: c.rule.version,
                    experiment_key: c.experiment_key.clone(),
                    variant_key: variant_key.clone(),
                });
            }
            trace.push(self.trace_entry(
                i,
                Outcome::Applied {
                    variant: variant_key,
                },
            ));
        }
        Resolution {
            layout,
            exposures,
            trace,
            undo,
        }
    }

    fn trace_entry(&self, rule: usize, outcome: Outcome) -> TraceEntry {
        let c = &self.rules[rule];
        TraceEntry {
            rule_id: c.id.clone(),
            version: c.rule.version,
            layer: c.rule.layer,
            priority: c.rule.priority,
            outcome,
        }
    }

    /// Whether interned test `t` passes on this visit (evaluated once, then remembered).
    fn passes<'v>(&self, t: usize, visit: &Visit<'v>, memo: &mut Memo<'v>) -> bool {
        if let Some(known) = memo.tests[t] {
            return known;
        }
        let test = &self.tests[t];
        let pass = match (test.path, test.condition.as_field()) {
            (Some(p), Some((_, field))) => {
                let value = memo.values[p]
                    .get_or_insert_with(|| Condition::lookup(visit.attributes, &self.paths[p]));
                field.eval(value, visit.groups)
            }
            _ => test.condition.eval(visit.attributes, visit.groups),
        };
        memo.tests[t] = Some(pass);
        pass
    }

    /// Whether a rule applies to this visit, and with which operations.
    fn decide_rule<'p, 'v>(
        &'p self,
        c: &'p CompiledRule,
        visit: &Visit<'v>,
        memo: &mut Memo<'v>,
    ) -> Decision<'p> {
        let r = &c.rule;
        let not = Decision::Pass;
        if !r.is_active {
            return not(Outcome::Inactive);
        }
        if r.schedule.as_ref().is_some_and(|s| !s.contains(visit.now)) {
            return not(Outcome::OutOfSchedule);
        }
        if !r.trigger.fires(visit.events) {
            return not(Outcome::TriggerNotFired);
        }
        let entries = match &c.condition {
            Ok(entries) => entries,
            Err(message) => {
                return not(Outcome::Invalid {
                    message: message.clone(),
                })
            }
        };
        let mut passes = |t: usize| self.passes(t, visit, memo);
        if !entries.iter().all(|&t| passes(t)) {
            let failed = if visit.explain {
                entries
                    .iter()
                    .filter(|&&t| !passes(t))
                    .map(|&t| self.tests[t].key.clone())
                    .collect()
            } else {
                Vec::new()
            };
            return not(Outcome::NotTargeted { failed });
        }
        match (&r.payload, &r.experiment) {
            (MutationPayload::Variant(_), Some(x)) => {
                if let Some(w) = c.winner {
                    return Decision::Apply {
                        ops: &x.variants[w].payload,
                        variant: Some(w),
                        counted: false,
                    };
                }
                let unit = visit
                    .attributes
                    .get(&x.hash_attribute)
                    .filter(|v| !v.is_null())
                    .map(js::to_string)
                    .unwrap_or_default();
                if unit.is_empty() || x.namespace.as_ref().is_some_and(|n| !n.contains(&unit)) {
                    return not(Outcome::NotInExperiment);
                }
                let hashed = choose_variant(hash(&c.seed, &unit, x.hash_version), &c.ranges);
                // A bandit's visitor keeps the variant they saw, if they are still in the
                // experiment's coverage (a sticky entry never brings anyone in).
                let seen = x
                    .bandit
                    .as_ref()
                    .filter(|_| hashed.is_some())
                    .and(visit.sticky)
                    .and_then(|s| s.get(x.key.as_str()))
                    .and_then(|v| c.variant_keys.iter().position(|k| **k == **v));
                match seen.or(hashed) {
                    Some(i) => {
                        let (served, counted) = c.serve.get(i).copied().unwrap_or((i, true));
                        Decision::Apply {
                            ops: &x.variants[served].payload,
                            variant: Some(served),
                            counted,
                        }
                    }
                    None => not(Outcome::NotInExperiment),
                }
            }
            (MutationPayload::Variant(_), None) => not(Outcome::Invalid {
                message: "a variant rule needs an experiment".into(),
            }),
            (_, _) => Decision::Apply {
                ops: &c.ops,
                variant: None,
                counted: true,
            },
        }
    }
}

/// What [`Plan::decide_rule`] concluded for one rule.
enum Decision<'p> {
    /// Apply these operations (from this experiment variant, by index, if any); an
    /// uncounted visit logs no exposure (a decided experiment, a switched-off variant).
    Apply {
        ops: &'p [Operation],
        variant: Option<usize>,
        counted: bool,
    },
    /// Do not apply; the trace says why.
    Pass(Outcome),
}

impl Decision<'_> {
    /// An applied rule's part of [`Decided::key`]: its variant and whether it is counted.
    fn key(&self) -> u32 {
        match self {
            Decision::Apply {
                variant, counted, ..
            } => variant.map_or(u32::MAX, |v| (v as u32) << 1 | u32::from(*counted)),
            Decision::Pass(_) => u32::MAX,
        }
    }
}

/// What [`Plan::decide`] concluded for each rule of a page (by its place in the plan), in
/// application order.
pub struct Decided<'p> {
    steps: Vec<(usize, Decision<'p>)>,
}

impl Decided<'_> {
    /// The rules that apply (by their place in the plan) and their variants: within one
    /// plan and one base layout, visits with equal keys resolve to the same layout and
    /// exposures (only the trace's reasons for the rules that do not apply may differ).
    pub fn key(&self) -> Vec<(u32, u32)> {
        self.steps
            .iter()
            .filter_map(|(rule, decision)| match decision {
                Decision::Apply { .. } => Some((*rule as u32, decision.key())),
                Decision::Pass(_) => None,
            })
            .collect()
    }
}

impl Decided<'_> {
    /// Like [`Decided::key`], and also the rules that wait for an event that has not
    /// happened: two visits with equal keys get the same page and wait for the same rules,
    /// so the same rules can still change their page in the browser.
    pub fn key_with_waiting(&self) -> Vec<(u32, u32)> {
        /// Marks a waiting rule in the key (no experiment has this many variants).
        const WAITING: u32 = u32::MAX - 1;
        self.steps
            .iter()
            .filter_map(|(rule, decision)| match decision {
                Decision::Apply { .. } => Some((*rule as u32, decision.key())),
                Decision::Pass(Outcome::TriggerNotFired) => Some((*rule as u32, WAITING)),
                Decision::Pass(_) => None,
            })
            .collect()
    }

    /// The rules (by their place in the plan) that can still apply on this page view once
    /// events happen: those that apply now (the browser's resolution repeats them) and those
    /// waiting for an event (whose conditions the browser then checks).
    pub fn deferrable(&self) -> impl Iterator<Item = usize> + '_ {
        self.steps
            .iter()
            .filter_map(|(rule, decision)| match decision {
                Decision::Apply { .. } | Decision::Pass(Outcome::TriggerNotFired) => Some(*rule),
                Decision::Pass(_) => None,
            })
    }

    /// Whether any rule waits for an event that has not happened.
    pub fn waiting(&self) -> bool {
        self.steps
            .iter()
            .any(|(_, d)| matches!(d, Decision::Pass(Outcome::TriggerNotFired)))
    }
}

/// What one page view has worked out so far: results of interned tests, and attribute
/// values by path.
struct Memo<'v> {
    tests: Vec<Option<bool>>,
    values: Vec<Option<std::borrow::Cow<'v, Value>>>,
}

type PatchKeys<'a> = Option<&'a serde_json::Map<String, Value>>;

/// The last change to a node: by which trace entry, of what kind, which props keys.
struct Touch<'a> {
    node: &'a NodeId,
    by: usize,
    kind: OpKind,
    keys: PatchKeys<'a>,
}

/// Two changes to the same node conflict unless one is an insert next to it, or both are
/// props patches on different keys.
fn conflicts(a: OpKind, a_keys: PatchKeys<'_>, b: OpKind, b_keys: PatchKeys<'_>) -> bool {
    match (a, b) {
        (OpKind::Insert, _) | (_, OpKind::Insert) => false,
        (OpKind::Props, OpKind::Props) => match (a_keys, b_keys) {
            (Some(x), Some(y)) => x.keys().any(|k| y.contains_key(k)),
            _ => true,
        },
        (OpKind::Props, OpKind::Theme) | (OpKind::Theme, OpKind::Props) => false,
        // Where a node is and what it says are independent: moving it and patching it both
        // take effect, so neither overrides the other.
        (OpKind::Reorder, OpKind::Props | OpKind::Theme)
        | (OpKind::Props | OpKind::Theme, OpKind::Reorder) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_as_sentences() {
        let not = |f: &[&str]| Outcome::NotTargeted {
            failed: f.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(
            not(&["hour"]).describe(),
            "not targeted: hour did not match"
        );
        assert_eq!(
            not(&["device", "locale"]).describe(),
            "not targeted: device, locale do not match"
        );
        assert_eq!(
            Outcome::Applied {
                variant: Some("b".into())
            }
            .describe(),
            "applied (variant b)"
        );
        assert_eq!(
            Outcome::Skipped {
                reason: Skip::MissingTarget("hero".into())
            }
            .describe(),
            "skipped: target node `hero` is missing"
        );
    }
}
