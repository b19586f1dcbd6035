//! The rule form's fields, shared by "New rule" on the list page and "Edit" on the rule
//! page. Plain form fields in groups (what, change, who, when, experiment), so it works
//! without JavaScript; the type's own fields say which type uses them.

use leptos::prelude::*;

use crate::api::layouts::PageNodes;
use crate::rule_form::{
    RuleForm, CONDITION_ROWS, KINDS, OPERATORS, POSITIONS, TRIGGERS, VARIANT_CHANGES, VARIANT_ROWS,
    WINDOW_ROWS,
};

pub const INPUT: &str = "rounded-md border border-slate-300 px-2 py-1 text-sm";
const LABEL: &str = "flex flex-col gap-1 text-xs text-slate-600";
const GROUP: &str = "mt-4 rounded-md border border-slate-200 p-3";
const LEGEND: &str = "px-1 text-sm font-semibold text-slate-800";

/// Attributes the visitor context has, offered in the condition rows.
const ATTRIBUTES: &[&str] = &[
    "device",
    "persona",
    "journeyStage",
    "locale",
    "language",
    "region",
    "source",
    "referrer",
    "url",
    "hour",
    "weekday",
    "id",
    "userId",
    "quiz.hike",
    "utm.medium",
    "utm.campaign",
];

fn options(
    list: impl IntoIterator<Item = (&'static str, &'static str)>,
    chosen: &str,
) -> impl IntoView {
    list.into_iter()
        .map(|(value, label)| view! { <option value=value selected=value == chosen>{label}</option> })
        .collect_view()
}

fn text(label: &'static str, name: &'static str, value: &str, hint: &'static str) -> impl IntoView {
    view! {
        <label class=LABEL>
            {label}
            <input class=INPUT name=name value=value.to_string() placeholder=hint/>
        </label>
    }
}

/// The fields; the caller puts them in its form with the submit button.
#[component]
pub fn RuleFields(
    pages: Vec<PageNodes>,
    initial: RuleForm,
    /// Editing an existing rule: the id is fixed and the version is sent along.
    editing: bool,
) -> impl IntoView {
    let f = initial;
    let modules = crate::modules::MODULES.iter().map(|m| m.kind);
    view! {
        <fieldset class=GROUP>
            <legend class=LEGEND>"What"</legend>
            <div class="grid gap-3 sm:grid-cols-3">
                {if editing {
                    view! {
                        <input type="hidden" name="id" value=f.id.clone()/>
                        <input type="hidden" name="base_version" value=f.base_version.clone()/>
                    }.into_any()
                } else {
                    view! { <label class=LABEL>"Id"<input class=INPUT name="id" placeholder="summer-hero" value=f.id.clone() required/></label> }.into_any()
                }}
                <label class=LABEL>
                    "Target (the page's tree)"
                    <select class=INPUT name="target" id="rule-target">
                        {pages.into_iter().map(|p| {
                            let slug = p.page_slug.clone();
                            let chosen = f.target.clone();
                            view! {
                                <optgroup label=format!("page {slug}")>
                                    {p.nodes.into_iter().map(|n| {
                                        let value = format!("{}:{}", slug, n.id);
                                        let label = format!("{}{} ({})", "· ".repeat(n.depth as usize), n.id, n.kind);
                                        let selected = value == chosen;
                                        view! { <option value=value selected=selected>{label}</option> }
                                    }).collect_view()}
                                </optgroup>
                            }
                        }).collect_view()}
                    </select>
                </label>
                <label class=LABEL>
                    "Type"
                    <select class=INPUT name="kind" id="rule-kind">{options(KINDS.iter().map(|k| (*k, *k)), &f.kind)}</select>
                </label>
                {text("Priority", "priority", &f.priority, "0")}
                <label class=LABEL>
                    "Layer"
                    <select class=INPUT name="layer">
                        {options([("module", "module"), ("section", "section"), ("page", "page"), ("global", "global")], &f.layer)}
                    </select>
                </label>
            </div>
        </fieldset>
        <fieldset class=GROUP>
            <legend class=LEGEND>"Change (the fields of the chosen type)"</legend>
            <div class="grid gap-3 sm:grid-cols-3">
                {text("props: JSON to merge", "patch", &f.patch, r#"{"headline": "Hello"}"#)}
                {text("reorder: new position", "index", &f.index, "0 is first")}
                {text("theme: name", "theme", &f.theme, "night")}
                {text("theme: design tokens (JSON)", "tokens", &f.tokens, r##"{"accent": "#0f766e"}"##)}
                <label class=LABEL>
                    "insert/replace: module type"
                    <input class=INPUT name="node_type" list="module-types" value=f.node_type.clone() placeholder="offer-banner"/>
                    <datalist id="module-types">{modules.map(|m| view! { <option value=m/> }).collect_view()}</datalist>
                </label>
                {text("insert/replace: new module id", "node_id", &f.node_id, "promo")}
                {text("insert/replace: its props (JSON)", "node_props", &f.node_props, r#"{"text": "Free shipping"}"#)}
                <label class=LABEL>
                    "insert: where"
                    <select class=INPUT name="position">{options(POSITIONS.iter().map(|p| (*p, *p)), if f.position.is_empty() { "after" } else { &f.position })}</select>
                </label>
            </div>
        </fieldset>
        <fieldset class=GROUP id="rule-conditions">
            <legend class=LEGEND>"Who (all must hold; empty rows are ignored)"</legend>
            <datalist id="context-attributes">{ATTRIBUTES.iter().map(|a| view! { <option value=*a/> }).collect_view()}</datalist>
            {(0..CONDITION_ROWS).map(|i| {
                let row = f.condition(i);
                let n = i + 1;
                view! {
                    <div class="mt-2 flex flex-wrap gap-2" data-condition-row=n.to_string()>
                        <input class=INPUT name=format!("c{n}_attr") list="context-attributes" value=row.attr.to_string() placeholder="attribute" aria-label=format!("Condition {n} attribute")/>
                        <select class=INPUT name=format!("c{n}_op") aria-label=format!("Condition {n} operator")>{options(OPERATORS.iter().copied(), row.op)}</select>
                        <input class=INPUT name=format!("c{n}_value") value=row.value.to_string() placeholder="value" aria-label=format!("Condition {n} value")/>
                    </div>
                }
            }).collect_view()}
            <label class=format!("{LABEL} mt-3")>
                "Conditions as JSON (GrowthBook syntax; combined with the rows; what the rows cannot show stays here)"
                <textarea class=format!("{INPUT} font-mono") name="conditions" rows="2" prop:value=f.conditions.clone()>{f.conditions.clone()}</textarea>
            </label>
        </fieldset>
        <fieldset class=GROUP id="rule-when">
            <legend class=LEGEND>"When"</legend>
            <div class="grid gap-3 sm:grid-cols-3">
                <label class=LABEL>
                    "Trigger"
                    <select class=INPUT name="trigger">{options(TRIGGERS.iter().map(|t| (t.0, t.1)), if f.trigger.is_empty() { "pageLoad" } else { &f.trigger })}</select>
                </label>
                {text("Trigger value (percent, seconds, node, step or signal)", "trigger_value", &f.trigger_value, "")}
                <span></span>
                <label class=LABEL>"Start (UTC)"<input class=INPUT type="datetime-local" name="start" value=f.start.clone()/></label>
                <label class=LABEL>"End (UTC)"<input class=INPUT type="datetime-local" name="end" value=f.end.clone()/></label>
                {text("Time zone of the windows", "time_zone", &f.time_zone, "Europe/Berlin (default UTC)")}
            </div>
            <p class="mt-3 text-xs text-slate-600">"Weekly windows (local time in that zone; from after to runs overnight). Days: mon-fri, sat, sun, weekdays, weekend; empty for every day."</p>
            {(0..WINDOW_ROWS).map(|i| {
                let w = f.window(i);
                let n = i + 1;
                view! {
                    <div class="mt-2 flex flex-wrap gap-2" data-window-row=n.to_string()>
                        <input class=INPUT name=format!("w{n}_days") value=w.days.to_string() placeholder="days" aria-label=format!("Window {n} days")/>
                        <input class=INPUT type="time" name=format!("w{n}_from") value=w.from.to_string() aria-label=format!("Window {n} from")/>
                        <input class=INPUT type="time" name=format!("w{n}_to") value=w.to.to_string() aria-label=format!("Window {n} to")/>
                    </div>
                }
            }).collect_view()}
        </fieldset>
        <fieldset class=GROUP id="rule-experiment">
            <legend class=LEGEND>"Experiment (type variant)"</legend>
            <div class="grid gap-3 sm:grid-cols-3">
                {text("Experiment key", "experiment", &f.experiment, "default: the rule id")}
                {text("Coverage (% of visitors)", "coverage", &f.coverage, "100")}
                {text("Hash attribute", "hash_attribute", &f.hash_attribute, "id")}
            </div>
            <p class="mt-3 text-xs text-slate-600">"Variants: key, weight in % (all empty: equal), and what each does to the target."</p>
            {(0..VARIANT_ROWS).map(|i| {
                let v = f.variant(i);
                let n = i + 1;
                view! {
                    <div class="mt-2 flex flex-wrap gap-2" data-variant-row=n.to_string()>
                        <input class=INPUT name=format!("v{n}_key") value=v.key.to_string() placeholder="key" size="10" aria-label=format!("Variant {n} key")/>
                        <input class=INPUT name=format!("v{n}_weight") value=v.weight.to_string() placeholder="%" size="5" aria-label=format!("Variant {n} weight")/>
                        <select class=INPUT name=format!("v{n}_op") aria-label=format!("Variant {n} change")>{options(VARIANT_CHANGES.iter().copied(), v.op)}</select>
                        <input class=format!("{INPUT} grow") name=format!("v{n}_value") value=v.value.to_string() placeholder="its value" aria-label=format!("Variant {n} value")/>
                    </div>
                }
            }).collect_view()}
        </fieldset>
    }
}
