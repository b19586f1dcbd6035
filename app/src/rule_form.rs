//! The rule form: one flat form for every mutation type, used to create a rule and to edit
//! one. Targets are picked from the page's tree (`page:node`); conditions come from rows
//! (attribute, operator, value) combined with a raw JSON part; the schedule from start, end,
//! a time zone and weekly windows; an experiment from its variants' keys, weights and
//! changes. Every field is a string, as a browser form sends it; [`rule_from_form`] turns
//! the form into the rule's JSON or names the wrong field, and [`form_from_rule`] fills the
//! form from a rule, but only when the form can show every part of it exactly (otherwise
//! the rule is edited as JSON).

use cortex_core::layout::ops::Operation;
use cortex_core::mutation::{LayoutMutation, MutationPayload, Trigger, TriggerEvent};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

mod conditions;
mod experiment;
mod schedule;

use conditions::{conditions, fill_conditions};
use experiment::{experiment, weight_text};
use schedule::{instant_text, schedule};

/// Condition rows in the form.
pub const CONDITION_ROWS: usize = 4;
/// Weekly window rows in the form.
pub const WINDOW_ROWS: usize = 3;
/// Variant rows in the form.
pub const VARIANT_ROWS: usize = 4;

/// The mutation types, as the form's type menu lists them.
pub const KINDS: &[&str] = &[
    "hide", "props", "reorder", "theme", "insert", "replace", "variant",
];

/// The condition operators: form name, label.
pub const OPERATORS: &[(&str, &str)] = &[
    ("is", "is"),
    ("isNot", "is not"),
    ("in", "is one of (a, b)"),
    ("notIn", "is none of (a, b)"),
    ("gt", ">"),
    ("gte", "≥"),
    ("lt", "<"),
    ("lte", "≤"),
    ("matches", "matches (regex)"),
    ("exists", "is set"),
    ("missing", "is not set"),
];

/// When a rule is evaluated: form name, label, what its value is.
pub const TRIGGERS: &[(&str, &str, &str)] = &[
    ("pageLoad", "on page load", ""),
    ("scrollDepth", "scrolled to", "percent, 1-100"),
    ("timeOnPage", "time on page", "seconds"),
    ("exitIntent", "exit intent", ""),
    ("click", "click on", "node id"),
    ("journeyStep", "journey step", "step name"),
    ("signal", "signal", "e.g. frustrated"),
];

/// What a variant changes on the rule's target: form name, label.
pub const VARIANT_CHANGES: &[(&str, &str)] = &[
    ("none", "nothing (control)"),
    ("hide", "hide it"),
    ("props", "props (JSON)"),
    ("reorder", "move to position"),
    ("theme", "theme name"),
    ("json", "operations (JSON list)"),
];

/// Insert positions relative to the target.
pub const POSITIONS: &[&str] = &["before", "after", "firstChild", "lastChild"];

/// The form's fields. Every field is optional text; the ones a type does not use are
/// ignored. Rows are numbered from 1: `c1_attr`, `w1_days`, `v1_key`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleForm {
    /// The rule id: letters, digits, `-` and `_`.
    pub id: String,
    /// Editing: the version the form was filled from (a newer one is a conflict).
    pub base_version: String,
    /// `page:node`, as the target picker lists them.
    pub target: String,
    /// One of [`KINDS`].
    pub kind: String,
    /// reorder: the new position among its siblings.
    pub index: String,
    /// props: a JSON object merged into the node's props (RFC 7396).
    pub patch: String,
    /// theme: its name.
    pub theme: String,
    /// theme: design tokens, a JSON object.
    pub tokens: String,
    /// insert and replace: the new node's module type, id and props (a JSON object).
    pub node_type: String,
    pub node_id: String,
    pub node_props: String,
    /// insert: one of [`POSITIONS`].
    pub position: String,
    /// One of [`TRIGGERS`] and its value.
    pub trigger: String,
    pub trigger_value: String,
    pub c1_attr: String,
    pub c1_op: String,
    pub c1_value: String,
    pub c2_attr: String,
    pub c2_op: String,
    pub c2_value: String,
    pub c3_attr: String,
    pub c3_op: String,
    pub c3_value: String,
    pub c4_attr: String,
    pub c4_op: String,
    pub c4_value: String,
    /// Conditions the rows do not show, GrowthBook syntax (a JSON object); all must hold.
    pub conditions: String,
    /// Schedule: UTC, `2026-12-01T09:00`.
    pub start: String,
    pub end: String,
    /// IANA zone of the windows, e.g. `Europe/Berlin` (default UTC).
    pub time_zone: String,
    /// Windows: days (`mon-fri`, `sat, sun`, `weekdays`; empty for every day), `HH:MM`.
    pub w1_days: String,
    pub w1_from: String,
    pub w1_to: String,
    pub w2_days: String,
    pub w2_from: String,
    pub w2_to: String,
    pub w3_days: String,
    pub w3_from: String,
    pub w3_to: String,
    /// variant: the experiment's key, coverage (percent) and hash attribute.
    pub experiment: String,
    pub coverage: String,
    pub hash_attribute: String,
    /// The namespace the experiment takes a slice of (empty: none), and the slice, from % to %.
    pub namespace: String,
    pub ns_from: String,
    pub ns_to: String,
    /// `fixed` (default) or `bandit`, and the bandit's least share per variant (%).
    pub allocation: String,
    pub bandit_floor: String,
    /// Variants: key, weight (percent; all empty for equal weights), change, its value.
    pub v1_key: String,
    pub v1_weight: String,
    pub v1_op: String,
    pub v1_value: String,
    pub v2_key: String,
    pub v2_weight: String,
    pub v2_op: String,
    pub v2_value: String,
    pub v3_key: String,
    pub v3_weight: String,
    pub v3_op: String,
    pub v3_value: String,
    pub v4_key: String,
    pub v4_weight: String,
    pub v4_op: String,
    pub v4_value: String,
    /// The decision policy (all empty: the default, suggest only): `manual` or `auto`; the
    /// goal metric; the guardrail (`none` or a metric); minimum days and visitors per
    /// variant; the test's α.
    pub decide: String,
    pub goal: String,
    pub guardrail: String,
    pub min_days: String,
    pub min_units: String,
    pub alpha: String,
    /// Hours a guard watches each change (empty: no guard).
    pub guard_hours: String,
    /// A whole number, default 0.
    pub priority: String,
    /// `global`, `page`, `module` (default) or `section`.
    pub layer: String,
}

/// One condition row: attribute, operator, value.
pub struct ConditionRow<'a> {
    pub attr: &'a str,
    pub op: &'a str,
    pub value: &'a str,
}

/// One window row: days, from, to.
pub struct WindowRow<'a> {
    pub days: &'a str,
    pub from: &'a str,
    pub to: &'a str,
}

/// One variant row: key, weight, change, value.
pub struct VariantRow<'a> {
    pub key: &'a str,
    pub weight: &'a str,
    pub op: &'a str,
    pub value: &'a str,
}

impl RuleForm {
    /// Condition row `i` (0-based).
    pub fn condition(&self, i: usize) -> ConditionRow<'_> {
        let (attr, op, value) = match i {
            0 => (&self.c1_attr, &self.c1_op, &self.c1_value),
            1 => (&self.c2_attr, &self.c2_op, &self.c2_value),
            2 => (&self.c3_attr, &self.c3_op, &self.c3_value),
            _ => (&self.c4_attr, &self.c4_op, &self.c4_value),
        };
        ConditionRow { attr, op, value }
    }

    fn condition_mut(&mut self, i: usize) -> [&mut String; 3] {
        match i {
            0 => [&mut self.c1_attr, &mut self.c1_op, &mut self.c1_value],
            1 => [&mut self.c2_attr, &mut self.c2_op, &mut self.c2_value],
            2 => [&mut self.c3_attr, &mut self.c3_op, &mut self.c3_value],
            _ => [&mut self.c4_attr, &mut self.c4_op, &mut self.c4_value],
        }
    }

    /// Window row `i` (0-based).
    pub fn window(&self, i: usize) -> WindowRow<'_> {
        let (days, from, to) = match i {
            0 => (&self.w1_days, &self.w1_from, &self.w1_to),
            1 => (&self.w2_days, &self.w2_from, &self.w2_to),
            _ => (&self.w3_days, &self.w3_from, &self.w3_to),
        };
        WindowRow { days, from, to }
    }

    fn window_mut(&mut self, i: usize) -> [&mut String; 3] {
        match i {
            0 => [&mut self.w1_days, &mut self.w1_from, &mut self.w1_to],
            1 => [&mut self.w2_days, &mut self.w2_from, &mut self.w2_to],
            _ => [&mut self.w3_days, &mut self.w3_from, &mut self.w3_to],
        }
    }

    /// Variant row `i` (0-based).
    pub fn variant(&self, i: usize) -> VariantRow<'_> {
        let (key, weight, op, value) = match i {
            0 => (&self.v1_key, &self.v1_weight, &self.v1_op, &self.v1_value),
            1 => (&self.v2_key, &self.v2_weight, &self.v2_op, &self.v2_value),
            2 => (&self.v3_key, &self.v3_weight, &self.v3_op, &self.v3_value),
            _ => (&self.v4_key, &self.v4_weight, &self.v4_op, &self.v4_value),
        };
        VariantRow {
            key,
            weight,
            op,
            value,
        }
    }

    fn variant_mut(&mut self, i: usize) -> [&mut String; 4] {
        match i {
            0 => [
                &mut self.v1_key,
                &mut self.v1_weight,
                &mut self.v1_op,
                &mut self.v1_value,
            ],
            1 => [
                &mut self.v2_key,
                &mut self.v2_weight,
                &mut self.v2_op,
                &mut self.v2_value,
            ],
            2 => [
                &mut self.v3_key,
                &mut self.v3_weight,
                &mut self.v3_op,
                &mut self.v3_value,
            ],
            _ => [
                &mut self.v4_key,
                &mut self.v4_weight,
                &mut self.v4_op,
                &mut self.v4_value,
            ],
        }
    }

    /// The page slug of the target (`home` of `home:hero`), if one is picked.
    pub fn page(&self) -> Option<&str> {
        self.target
            .split_once(':')
            .map(|(p, _)| p.trim())
            .filter(|p| !p.is_empty())
    }
}

fn given(v: &str) -> Option<&str> {
    Some(v.trim()).filter(|v| !v.is_empty())
}

/// A JSON object typed into `field`.
fn object(field: &str, text: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(format!(
            "{field}: a JSON object, e.g. {{\"headline\": \"Hello\"}}"
        )),
        Err(e) => Err(format!("{field}: not JSON: {e}")),
    }
}

/// A typed value: `true`/`false`, a number, or else the text itself.
fn scalar(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Bool(_) | Value::Number(_))) => v,
        _ => Value::String(text.to_string()),
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
        _ => None,
    }
}

fn trigger(f: &RuleForm, node: &str) -> Result<Option<Value>, String> {
    let value = f.trigger_value.trim();
    let number = |what: &str, max: u64| -> Result<u64, String> {
        value
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| format!("trigger_value: {what}, a whole number from 1 to {max}"))
    };
    let name = |what: &str| {
        given(value)
            .map(str::to_string)
            .ok_or_else(|| format!("trigger_value: the {what}"))
    };
    Ok(Some(match given(&f.trigger).unwrap_or("pageLoad") {
        "pageLoad" => return Ok(None),
        "scrollDepth" => {
            json!({"type": "scrollDepth", "percent": number("the percent scrolled", 100)?})
        }
        "timeOnPage" => {
            json!({"type": "timeOnPage", "seconds": number("seconds on the page", 86_400)?})
        }
        "exitIntent" => json!({"type": "exitIntent"}),
        "click" => json!({"type": "click", "node": given(value).unwrap_or(node)}),
        "journeyStep" => json!({"type": "journeyStep", "step": name("journey step")?}),
        "signal" => json!({"type": "signal", "name": name("signal's name")?}),
        other => return Err(format!("trigger: `{other}` is not a trigger")),
    }))
}

/// What a variant (or the rule itself) does to `node`, as one operation.
fn change(field: &str, op: &str, value: &str, node: &str) -> Result<Vec<Value>, String> {
    let value = value.trim();
    Ok(match op {
        "" | "none" => vec![],
        "hide" => vec![json!({"op": "hide", "target": node})],
        "props" => {
            let patch = object(field, given(value).ok_or(format!("{field}: the props to set, as a JSON object"))?)?;
            vec![json!({"op": "props", "target": node, "patch": patch})]
        }
        "reorder" => vec![json!({"op": "reorder", "target": node, "index": position_index(field, value)?})],
        "theme" => vec![json!({"op": "theme", "target": node, "theme": given(value).ok_or(format!("{field}: a theme name"))?})],
        "json" => match serde_json::from_str::<Value>(value) {
            Ok(Value::Array(ops)) => {
                for (i, o) in ops.iter().enumerate() {
                    serde_json::from_value::<Operation>(o.clone())
                        .map_err(|e| format!("{field}[{i}]: {e}"))?;
                }
                ops
            }
            Ok(_) => return Err(format!("{field}: a JSON list of operations, e.g. [{{\"op\": \"hide\", \"target\": \"{node}\"}}]")),
            Err(e) => return Err(format!("{field}: not JSON: {e}")),
        },
        other => return Err(format!("{field}: `{other}` is not a change ({})", VARIANT_CHANGES.iter().map(|c| c.0).collect::<Vec<_>>().join(", "))),
    })
}

fn position_index(field: &str, value: &str) -> Result<u32, String> {
    given(value)
        .ok_or(format!("{field}: the new position (0 is first)"))?
        .parse()
        .map_err(|_| format!("{field}: a whole number, 0 or more"))
}

fn percent(field: &str, text: &str) -> Result<f64, String> {
    text.trim()
        .trim_end_matches('%')
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or_else(|| format!("{field}: a percentage from 0 to 100"))
}

fn new_node(f: &RuleForm) -> Result<Value, String> {
    let kind = given(&f.node_type).ok_or("node_type: the new module's type")?;
    let id = given(&f.node_id).ok_or("node_id: an id for the new module")?;
    let mut node = json!({"id": id, "type": kind});
    if let Some(p) = given(&f.node_props) {
        node["props"] = Value::Object(object("node_props", p)?);
    }
    Ok(node)
}

/// Builds a rule's JSON from the form, or says which field is wrong. `root` is the id of
/// the target page's root node (a theme there applies to the whole page).
pub fn rule_from_form(f: &RuleForm, root: &str) -> Result<Value, String> {
    let id = f.id.trim();
    if !cortex_core::mutation::is_rule_id(id) {
        return Err("id: 1-100 letters, digits, - or _".into());
    }
    let (page, node) = f
        .target
        .split_once(':')
        .map(|(p, n)| (p.trim(), n.trim()))
        .filter(|(p, n)| !p.is_empty() && !n.is_empty())
        .ok_or("target: pick a node of a page")?;
    let kind = f.kind.trim();
    let payload = match kind {
        "hide" => json!({"target": node}),
        "reorder" => json!({"target": node, "index": position_index("index", &f.index)?}),
        "props" => {
            let patch = object(
                "patch",
                given(&f.patch).ok_or("patch: the props to set, as a JSON object")?,
            )?;
            json!({"target": node, "patch": patch})
        }
        "theme" => {
            let mut t = Map::new();
            if node != root {
                t.insert("target".into(), node.into());
            }
            if let Some(name) = given(&f.theme) {
                t.insert("theme".into(), name.into());
            }
            if let Some(tokens) = given(&f.tokens) {
                t.insert("tokens".into(), Value::Object(object("tokens", tokens)?));
            }
            if t.get("theme").is_none() && t.get("tokens").is_none() {
                return Err("theme: a theme name, or design tokens".into());
            }
            Value::Object(t)
        }
        "insert" => {
            let position = given(&f.position).unwrap_or("after");
            if !POSITIONS.contains(&position) {
                return Err(format!(
                    "position: `{position}` is not one of {}",
                    POSITIONS.join(", ")
                ));
            }
            json!({"anchor": node, "position": position, "node": new_node(f)?})
        }
        "replace" => json!({"target": node, "node": new_node(f)?}),
        "variant" => json!({}),
        other => {
            return Err(format!(
                "kind: `{other}` is not one of {}",
                KINDS.join(", ")
            ))
        }
    };
    let priority: i32 = match given(&f.priority) {
        Some(p) => p.parse().map_err(|_| "priority: a whole number")?,
        None => 0,
    };
    let layer = given(&f.layer).unwrap_or("module");
    if !["global", "page", "module", "section"].contains(&layer) {
        return Err(format!(
            "layer: `{layer}` is not one of global, page, module, section"
        ));
    }
    let mut rule = json!({
        "id": id, "layoutId": page, "pageSlug": page, "layer": layer, "priority": priority,
        "mutationType": kind, "mutationPayload": payload, "conditions": conditions(f)?,
    });
    if node != root && kind != "theme" {
        rule["moduleId"] = node.into();
    }
    if let Some(t) = trigger(f, node)? {
        rule["trigger"] = t;
    }
    if let Some(s) = schedule(f)? {
        rule["schedule"] = s;
    }
    if let Some(h) = given(&f.guard_hours) {
        let hours: u32 = h
            .parse()
            .map_err(|_| "guard_hours: a whole number of hours, or empty for no guard")?;
        let guard = cortex_core::stats::guard::Guard {
            window_hours: hours,
            ..Default::default()
        };
        guard
            .check()
            .map_err(|(_, m)| format!("guard_hours: {m}"))?;
        rule["guard"] = serde_json::to_value(guard).map_err(|e| e.to_string())?;
    }
    if kind == "variant" {
        rule["experiment"] = experiment(f, id, node)?;
        if let Some(p) = experiment::policy(f)? {
            rule["experiment"]["policy"] = p;
        }
    }
    Ok(rule)
}

/// The node a rule is about: its target, anchor or module (the page's root for a theme
/// without a target).
fn rule_node(rule: &LayoutMutation, root: &str) -> String {
    match &rule.payload {
        MutationPayload::Reorder(p) => p.target.as_str().into(),
        MutationPayload::Insert(p) => p.anchor.as_str().into(),
        MutationPayload::Replace(p) => p.target.as_str().into(),
        MutationPayload::Hide(p) => p.target.as_str().into(),
        MutationPayload::Props(p) => p.target.as_str().into(),
        MutationPayload::Theme(p) => p.target.as_ref().map(|t| t.as_str()).unwrap_or(root).into(),
        MutationPayload::Variant(_) => rule.module_id.clone().unwrap_or_else(|| root.into()),
    }
}

fn compact(v: &impl Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn fill_change(ops: &[Operation], node: &str) -> (String, String) {
    match ops {
        [] => ("none".into(), String::new()),
        [Operation::Hide(h)] if h.target.as_str() == node => ("hide".into(), String::new()),
        [Operation::Props(p)] if p.target.as_str() == node && p.patch.is_object() => {
            ("props".into(), compact(&p.patch))
        }
        [Operation::Reorder(r)] if r.target.as_str() == node && r.parent.is_none() => {
            ("reorder".into(), r.index.to_string())
        }
        [Operation::Theme(t)]
            if t.target.as_ref().is_some_and(|x| x.as_str() == node)
                && t.tokens.is_empty()
                && t.theme.is_some() =>
        {
            ("theme".into(), t.theme.clone().unwrap_or_default())
        }
        ops => ("json".into(), compact(&ops)),
    }
}

/// The form for `rule`, or `None` when the form cannot show every part of it exactly (a
/// condition or change too rich for its rows, a seeded experiment, more windows than rows):
/// such a rule is edited as JSON. `root` is the id of the page's root node.
pub fn form_from_rule(rule: &LayoutMutation, root: &str) -> Option<RuleForm> {
    let node = rule_node(rule, root);
    let mut f = RuleForm {
        id: rule.id.to_string(),
        base_version: rule.version.to_string(),
        target: format!("{}:{}", rule.page_slug, node),
        kind: rule.mutation_type().into(),
        priority: rule.priority.to_string(),
        layer: rule.layer.as_str().into(),
        ..RuleForm::default()
    };
    match &rule.payload {
        MutationPayload::Reorder(p) => f.index = p.index.to_string(),
        MutationPayload::Props(p) => f.patch = compact(&p.patch),
        MutationPayload::Theme(t) => {
            f.theme = t.theme.clone().unwrap_or_default();
            if !t.tokens.is_empty() {
                f.tokens = compact(&t.tokens);
            }
        }
        MutationPayload::Insert(i) => {
            f.position = compact(&i.position).trim_matches('"').to_string();
            fill_node(&mut f, &i.node);
        }
        MutationPayload::Replace(r) => fill_node(&mut f, &r.node),
        MutationPayload::Hide(_) | MutationPayload::Variant(_) => {}
    }
    match &rule.trigger {
        Trigger::PageLoad => {}
        Trigger::On(e) => {
            let (kind, value) = match e {
                TriggerEvent::ScrollDepth { percent } => ("scrollDepth", percent.to_string()),
                TriggerEvent::TimeOnPage { seconds } => ("timeOnPage", seconds.to_string()),
                TriggerEvent::ExitIntent => ("exitIntent", String::new()),
                TriggerEvent::Click { node } => ("click", node.clone()),
                TriggerEvent::JourneyStep { step } => ("journeyStep", step.clone()),
                TriggerEvent::Signal { name } => ("signal", name.clone()),
                TriggerEvent::QuizAnswer { .. } => return None,
            };
            f.trigger = kind.into();
            f.trigger_value = value;
        }
    }
    fill_conditions(&mut f, &rule.conditions);
    if let Some(g) = &rule.guard {
        // Other settings than the defaults are not the form's: then the rule is JSON only.
        f.guard_hours = g.window_hours.to_string();
    }
    if let Some(s) = &rule.schedule {
        f.start = s.start.as_ref().map(instant_text).unwrap_or_default();
        f.end = s.end.as_ref().map(instant_text).unwrap_or_default();
        f.time_zone = s.time_zone.clone().unwrap_or_default();
        if s.recurring.len() > WINDOW_ROWS {
            return None;
        }
        for (i, w) in s.recurring.iter().enumerate() {
            let [d, from, to] = f.window_mut(i);
            *d = compact(&w.days)
                .trim_matches(['[', ']'])
                .replace('"', "")
                .replace(',', ", ");
            *from = w.from.to_string();
            *to = w.to.to_string();
        }
    }
    if let Some(e) = &rule.experiment {
        if e.variants.len() > VARIANT_ROWS {
            return None;
        }
        f.experiment = e.key.clone();
        f.coverage = e.coverage.map(weight_text).unwrap_or_default();
        if e.hash_attribute != "id" {
            f.hash_attribute = e.hash_attribute.clone();
        }
        if let Some(p) = &e.policy {
            experiment::fill_policy(&mut f, p);
        }
        experiment::fill_allocation(&mut f, e);
        for (i, v) in e.variants.iter().enumerate() {
            let (op, value) = fill_change(&v.payload, &node);
            let [k, w, o, val] = f.variant_mut(i);
            (*k, *w, *o, *val) = (v.key.clone(), weight_text(v.weight), op, value);
        }
    }
    // Only if the form gives back exactly this rule.
    let mut rebuilt = rule_from_form(&f, root).ok()?;
    let o = rebuilt.as_object_mut()?;
    o.insert("version".into(), rule.version.into());
    o.insert("createdBy".into(), rule.created_by.clone().into());
    o.insert("timestamp".into(), json!(rule.timestamp));
    o.insert("isActive".into(), rule.is_active.into());
    if let Some(p) = rule.rollback_pointer {
        o.insert("rollbackPointer".into(), p.into());
    }
    let rebuilt: LayoutMutation = serde_json::from_value(rebuilt).ok()?;
    // What the decisions wrote into the experiment is not the form's: an edit keeps it.
    let mut bare = rule.clone();
    if let Some(x) = bare.experiment.as_mut() {
        x.winner = None;
        x.stopped.clear();
        x.decisions.clear();
        x.reweights.clear();
    }
    (rebuilt == bare).then_some(f)
}

fn fill_node(f: &mut RuleForm, node: &cortex_core::layout::Node) {
    f.node_type = node.kind.to_string();
    f.node_id = node.id.as_str().into();
    let props = serde_json::to_value(&node.props).unwrap_or_default();
    if props.as_object().is_some_and(|p| !p.is_empty()) {
        f.node_props = compact(&props);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(kind: &str, target: &str) -> RuleForm {
        RuleForm {
            id: "r-1".into(),
            target: target.into(),
            kind: kind.into(),
            ..RuleForm::default()
        }
    }

    fn rule(value: Value) -> LayoutMutation {
        let mut value = value;
        let o = value.as_object_mut().unwrap();
        o.insert("createdBy".into(), "ann".into());
        o.insert("timestamp".into(), "2026-11-29T10:00:00Z".into());
        o.insert("isActive".into(), true.into());
        o.insert("version".into(), 3.into());
        serde_json::from_value(value).unwrap()
    }

    fn err(f: RuleForm) -> String {
        rule_from_form(&f, "page").unwrap_err()
    }

    #[test]
    fn the_form_builds_each_simple_type_or_names_the_field() {
        let mut f = form("props", "home:hero");
        f.patch = r#"{"headline": "Hi"}"#.into();
        (f.c1_attr, f.c1_op, f.c1_value) = ("device".into(), "is".into(), "mobile".into());
        f.conditions = r#"{"country": "DE"}"#.into();
        f.priority = "7".into();
        let rule = rule_from_form(&f, "page").unwrap();
        assert_eq!(rule["pageSlug"], "home");
        assert_eq!(rule["moduleId"], "hero");
        assert_eq!(
            rule["mutationPayload"],
            json!({"target": "hero", "patch": {"headline": "Hi"}})
        );
        assert_eq!(
            rule["conditions"],
            json!({"country": "DE", "device": "mobile"})
        );
        assert_eq!(rule["priority"], 7);
        let mut f = form("reorder", "home:offer");
        f.index = "0".into();
        assert_eq!(
            rule_from_form(&f, "page").unwrap()["mutationPayload"],
            json!({"target": "offer", "index": 0})
        );
        let mut f = form("theme", "sale:page");
        f.theme = "night".into();
        let rule = rule_from_form(&f, "page").unwrap();
        assert!(rule.get("moduleId").is_none());
        assert_eq!(rule["mutationPayload"], json!({"theme": "night"}));

        assert!(err(form("hide", "hero")).starts_with("target"));
        assert!(err(form("reorder", "home:hero")).starts_with("index"));
        assert!(err(form("props", "home:hero")).starts_with("patch"));
        assert!(err(form("theme", "home:hero")).starts_with("theme"));
        assert!(err(form("insert", "home:hero")).starts_with("node_type"));
        assert!(err(form("move", "home:hero")).starts_with("kind"));
        let mut f = form("props", "home:hero");
        f.patch = "[1]".into();
        assert!(err(f).starts_with("patch: a JSON object"));
        let mut f = form("hide", "home:hero");
        f.id = "no spaces".into();
        assert!(err(f).starts_with("id"));
        let mut f = form("hide", "home:hero");
        f.layer = "planet".into();
        assert!(err(f).starts_with("layer"));
    }

    #[test]
    fn condition_rows_build_growthbook_conditions_or_name_the_row() {
        let mut f = form("hide", "home:quiz");
        (f.c1_attr, f.c1_op, f.c1_value) = ("country".into(), "in".into(), "DE, AT,CH".into());
        (f.c2_attr, f.c2_op, f.c2_value) = ("age".into(), "gte".into(), "18".into());
        (f.c3_attr, f.c3_op) = ("user".into(), "exists".into());
        (f.c4_attr, f.c4_op, f.c4_value) = ("age".into(), "lt".into(), "65".into());
        let rule = rule_from_form(&f, "page").unwrap();
        // `age` twice: the pairs are combined with $and.
        assert_eq!(
            rule["conditions"],
            json!({"$and": [{"country": {"$in": ["DE", "AT", "CH"]}}, {"age": {"$gte": 18}},
                {"user": {"$exists": true}}, {"age": {"$lt": 65}}]})
        );
        let mut f = form("hide", "home:quiz");
        (f.c2_attr, f.c2_op, f.c2_value) = ("referrer".into(), "matches".into(), "(".into());
        assert!(err(f).starts_with("c2_value"));
        let mut f = form("hide", "home:quiz");
        f.c3_value = "DE".into();
        assert!(err(f).starts_with("c3_attr"));
        let mut f = form("hide", "home:quiz");
        (f.c1_attr, f.c1_op) = ("country".into(), "is".into());
        assert!(err(f).starts_with("c1_value"));
        let mut f = form("hide", "home:quiz");
        (f.c1_attr, f.c1_op, f.c1_value) = ("a".into(), "near".into(), "x".into());
        assert!(err(f).starts_with("c1_op"));
        let mut f = form("hide", "home:quiz");
        f.conditions = "{country".into();
        assert!(err(f).starts_with("conditions: not JSON"));
    }

    #[test]
    fn schedules_triggers_and_experiments_come_from_their_fields() {
        let mut f = form("variant", "home:hero");
        f.start = "2026-12-01T09:00".into();
        f.end = "2026-12-24T18:30".into();
        f.time_zone = "Europe/Berlin".into();
        (f.w1_days, f.w1_from, f.w1_to) = ("mon-fri".into(), "09:00".into(), "17:00".into());
        (f.w2_days, f.w2_from, f.w2_to) = ("weekend".into(), "10:00".into(), "14:00".into());
        f.trigger = "scrollDepth".into();
        f.trigger_value = "50".into();
        f.experiment = "hero-test".into();
        f.coverage = "80".into();
        (f.v1_key, f.v1_weight, f.v1_op) = ("control".into(), "60".into(), "none".into());
        (f.v2_key, f.v2_weight, f.v2_op, f.v2_value) = (
            "bold".into(),
            "40".into(),
            "props".into(),
            r#"{"headline": "Bold"}"#.into(),
        );
        let rule = rule_from_form(&f, "page").unwrap();
        assert_eq!(
            rule["schedule"],
            json!({"start": "2026-12-01T09:00:00Z", "end": "2026-12-24T18:30:00Z", "timeZone": "Europe/Berlin",
                "recurring": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"},
                              {"days": ["sat", "sun"], "from": "10:00", "to": "14:00"}]})
        );
        assert_eq!(
            rule["trigger"],
            json!({"type": "scrollDepth", "percent": 50})
        );
        assert_eq!(
            rule["experiment"],
            json!({"key": "hero-test", "coverage": 0.8, "variants": [
                {"key": "control", "weight": 0.6},
                {"key": "bold", "weight": 0.4, "payload": [{"op": "props", "target": "hero", "patch": {"headline": "Bold"}}]}]})
        );
        let parsed: LayoutMutation = serde_json::from_value({
            let mut r = rule.clone();
            r["createdBy"] = "ann".into();
            r["timestamp"] = "2026-11-29T10:00:00Z".into();
            r["isActive"] = true.into();
            r
        })
        .unwrap();
        parsed.validate().unwrap();

        // Equal weights when none is given; the wrong field named otherwise.
        let mut g = f.clone();
        (g.v1_weight, g.v2_weight) = (String::new(), String::new());
        let rule = rule_from_form(&g, "page").unwrap();
        assert_eq!(rule["experiment"]["variants"][1]["weight"], 0.5);
        let mut g = f.clone();
        g.v2_weight = "30".into();
        assert!(err(g).contains("add up to 90.00 %"));
        let mut g = f.clone();
        g.v2_key = "control".into();
        assert!(err(g).starts_with("v2_key: `control` is used twice"));
        let mut g = f.clone();
        g.v2_value = "{".into();
        assert!(err(g).starts_with("v2_value: not JSON"));
        let mut g = f.clone();
        g.w1_days = "funday".into();
        assert!(err(g).starts_with("w1_days"));
        let mut g = f.clone();
        g.w2_to = "25:00".into();
        assert!(err(g).starts_with("w2_to"));
        let mut g = f.clone();
        g.start = "tomorrow".into();
        assert!(err(g).starts_with("start"));
        let mut g = f.clone();
        g.trigger_value = "0".into();
        assert!(err(g).starts_with("trigger_value"));
        let mut g = f.clone();
        (g.v2_key, g.v2_weight, g.v2_value) = (String::new(), String::new(), String::new());
        assert!(err(g).starts_with("v2_key: an experiment needs at least two"));

        // The decision policy: nothing given, none set; a field given, the rest default.
        assert!(rule_from_form(&f, "page").unwrap()["experiment"]
            .get("policy")
            .is_none());
        let mut g = f.clone();
        (g.decide, g.min_days) = ("auto".into(), "3".into());
        let policy = &rule_from_form(&g, "page").unwrap()["experiment"]["policy"];
        assert_eq!(
            (
                &policy["mode"],
                &policy["minDays"],
                &policy["minUnitsPerArm"],
                &policy["guardrails"]
            ),
            (&json!("auto"), &json!(3), &json!(1000), &json!(["dwell"]))
        );
        // Dwell as the goal drops the default dwell guardrail rather than refusing.
        g.goal = "dwell".into();
        assert_eq!(
            rule_from_form(&g, "page").unwrap()["experiment"]["policy"]["guardrails"],
            json!([])
        );
        for (field, value, error) in [
            ("decide", "sometimes", "decide: manual or auto"),
            (
                "goal",
                "profit",
                "goal: one of conversion, dwell, clicks, revenue, errors",
            ),
            ("min_days", "0", "min_days: must be between 1"),
            ("min_units", "10", "min_units: must be between 100"),
            ("alpha", "0.5", "alpha: must be between"),
            ("alpha", "x", "alpha: a number"),
        ] {
            let mut h = f.clone();
            match field {
                "decide" => h.decide = value.into(),
                "goal" => h.goal = value.into(),
                "min_days" => h.min_days = value.into(),
                "min_units" => h.min_units = value.into(),
                _ => h.alpha = value.into(),
            }
            let e = err(h);
            assert!(e.starts_with(error), "{field}={value}: {e}");
        }
        let mut h = f.clone();
        (h.goal, h.guardrail) = ("conversion".into(), "conversion".into());
        assert!(err(h).starts_with("guardrail: conversion is the goal"));

        // A bandit with its floor, a namespace slice; bad values name their field.
        let mut h = f.clone();
        (h.allocation, h.bandit_floor) = ("bandit".into(), "10".into());
        (h.namespace, h.ns_from, h.ns_to) = ("checkout".into(), "25".into(), "75".into());
        let x = &rule_from_form(&h, "page").unwrap()["experiment"];
        assert_eq!(
            (&x["bandit"]["floor"], &x["namespace"]),
            (&json!(0.1), &json!(["checkout", 0.25, 0.75]))
        );
        for (field, value, error) in [
            ("allocation", "greedy", "allocation: fixed or bandit"),
            ("bandit_floor", "60", "bandit_floor: between 0 and 0.5"),
            ("ns_to", "20", "ns_from: start and end must satisfy"),
            ("ns_from", "x", "ns_from: a percentage"),
        ] {
            let mut g = h.clone();
            match field {
                "allocation" => g.allocation = value.into(),
                "bandit_floor" => g.bandit_floor = value.into(),
                "ns_to" => g.ns_to = value.into(),
                _ => g.ns_from = value.into(),
            }
            let e = err(g);
            assert!(e.starts_with(error), "{field}={value}: {e}");
        }
        let mut g = f.clone();
        g.ns_to = "50".into();
        assert!(err(g).starts_with("namespace: name the namespace"));

        // A guard from its hours, the rest default; out of bounds, the field is named.
        let mut h = f.clone();
        h.guard_hours = "12".into();
        let guard = &rule_from_form(&h, "page").unwrap()["guard"];
        assert_eq!(
            (&guard["windowHours"], &guard["minUnits"]),
            (&json!(12), &json!(500))
        );
        h.guard_hours = "0".into();
        assert!(err(h.clone()).starts_with("guard_hours: must be between 1 and 744"));
        h.guard_hours = "a day".into();
        assert!(err(h).starts_with("guard_hours: a whole number"));
    }

    #[test]
    fn insert_and_replace_name_the_new_module() {
        let mut f = form("insert", "home:hero");
        (f.node_type, f.node_id, f.node_props, f.position) = (
            "offer-banner".into(),
            "promo".into(),
            r#"{"text": "Hi"}"#.into(),
            "before".into(),
        );
        assert_eq!(
            rule_from_form(&f, "page").unwrap()["mutationPayload"],
            json!({"anchor": "hero", "position": "before", "node": {"id": "promo", "type": "offer-banner", "props": {"text": "Hi"}}})
        );
        f.position = "inside".into();
        assert!(err(f.clone()).starts_with("position"));
        f.kind = "replace".into();
        assert_eq!(
            rule_from_form(&f, "page").unwrap()["mutationPayload"],
            json!({"target": "hero", "node": {"id": "promo", "type": "offer-banner", "props": {"text": "Hi"}}})
        );
    }

    #[test]
    fn a_rule_fills_the_form_and_the_form_gives_it_back() {
        let rules = [
            json!({"id": "mobile-offer-first", "layoutId": "home", "pageSlug": "home", "moduleId": "offer",
                "layer": "page", "priority": 10, "mutationType": "reorder", "mutationPayload": {"target": "offer", "index": 0},
                "conditions": {"device": "mobile"}}),
            json!({"id": "hero-headline-test", "layoutId": "home", "pageSlug": "home", "moduleId": "hero", "layer": "module",
                "mutationType": "variant", "mutationPayload": {},
                "experiment": {"key": "hero-headline", "variants": [
                    {"key": "control", "weight": 0.5},
                    {"key": "adventure", "weight": 0.5, "payload": [{"op": "props", "target": "hero", "patch": {"headline": "Go"}}]}]}}),
            json!({"id": "night-theme", "layoutId": "home", "pageSlug": "home", "layer": "global",
                "mutationType": "theme", "mutationPayload": {"theme": "night"}, "conditions": {"hour": {"$gte": 22}}}),
            json!({"id": "exit", "layoutId": "home", "pageSlug": "home", "moduleId": "offer", "layer": "section",
                "mutationType": "props", "mutationPayload": {"target": "offer", "patch": {"text": "Stay"}},
                "trigger": {"type": "exitIntent"}, "guard": {"windowHours": 12},
                "conditions": {"$and": [{"age": {"$gte": 18}}, {"age": {"$lt": 65}}, {"$or": [{"a": 1}, {"b": 2}]}]},
                "schedule": {"start": "2026-12-01T09:00:00Z", "timeZone": "Europe/Berlin",
                    "recurring": [{"days": ["sat", "sun"], "from": "22:00", "to": "02:00"}]}}),
            // A decided experiment with a policy: the decisions are not the form's (an edit
            // keeps them), the policy is.
            json!({"id": "decided", "layoutId": "home", "pageSlug": "home", "moduleId": "hero", "layer": "module",
                "mutationType": "variant", "mutationPayload": {},
                "experiment": {"key": "d", "variants": [
                    {"key": "control", "weight": 0.5},
                    {"key": "b", "weight": 0.5, "payload": [{"op": "hide", "target": "hero"}]}],
                    "policy": {"mode": "auto", "goal": "dwell", "guardrails": [], "alpha": 0.01, "minUnitsPerArm": 500, "minDays": 14},
                    "winner": "b",
                    "decisions": [{"at": "2026-12-01T00:00:00Z", "by": "cortex:decider", "version": 3,
                        "decision": {"decision": "promote", "variant": "b", "lift": 0.1, "ci": [0.01, 0.2], "pValue": 0.01}}]}}),
            // A bandit in a namespace, with its weights' history (the engine's, kept by an edit).
            json!({"id": "bandit", "layoutId": "home", "pageSlug": "home", "moduleId": "hero", "layer": "module",
                "mutationType": "variant", "mutationPayload": {},
                "experiment": {"key": "bandit", "namespace": ["checkout", 0.25, 0.5], "variants": [
                    {"key": "control", "weight": 0.3},
                    {"key": "b", "weight": 0.7, "payload": [{"op": "hide", "target": "hero"}]}],
                    "bandit": {"floor": 0.1},
                    "reweights": [{"at": "2026-12-01T00:00:00Z", "version": 2, "weights": [0.3, 0.7], "chance": [0.2, 0.8], "units": [100, 100]}]}}),
            json!({"id": "promo", "layoutId": "home", "pageSlug": "home", "moduleId": "hero", "layer": "module",
                "mutationType": "insert", "mutationPayload": {"anchor": "hero", "position": "after",
                    "node": {"id": "promo", "type": "offer-banner", "props": {"text": "Hi"}}},
                "conditions": {"country": {"$nin": ["DE", "AT"]}, "stage": "3", "referrer": {"$regex": "^https://news"}}}),
        ];
        for value in rules {
            let rule = rule(value);
            let form = form_from_rule(&rule, "page")
                .unwrap_or_else(|| panic!("{} fits the form", rule.id));
            assert_eq!(form.base_version, "3");
            assert!(!form.target.is_empty());
        }
        // The string "3" stays a string: it cannot be a row (a row would make it a number),
        // so it stays in the raw part.
        let promo = form_from_rule(
            &rule(json!({"id": "p", "layoutId": "home", "pageSlug": "home", "moduleId": "hero", "layer": "module",
                "mutationType": "hide", "mutationPayload": {"target": "hero"}, "conditions": {"stage": "3", "tier": 3}})),
            "page",
        )
        .unwrap();
        assert_eq!(promo.conditions, r#"{"stage":"3"}"#);
        assert_eq!(
            (promo.c1_attr.as_str(), promo.c1_value.as_str()),
            ("tier", "3")
        );

        // Too rich for the form: JSON only.
        let seeded = rule(
            json!({"id": "s", "layoutId": "home", "pageSlug": "home", "moduleId": "hero", "layer": "module",
            "mutationType": "variant", "mutationPayload": {},
            "experiment": {"key": "k", "seed": "x", "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]}}),
        );
        assert!(form_from_rule(&seeded, "page").is_none());
        let seconds = rule(
            json!({"id": "t", "layoutId": "home", "pageSlug": "home", "moduleId": "hero", "layer": "module",
            "mutationType": "hide", "mutationPayload": {"target": "hero"}, "schedule": {"start": "2026-12-01T09:00:30Z"}}),
        );
        assert!(form_from_rule(&seconds, "page").is_none());
    }
}
