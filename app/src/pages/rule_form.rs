//! The rule form's fields, shared by "New rule" on the list page and "Edit" on the rule
//! page. Plain form fields in groups (what, change, who, when, experiment), so it works
//! without JavaScript; the type's own fields say which type uses them.

use leptos::prelude::*;

use crate::help::Help;

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

fn text(
    label: &'static str,
    name: &'static str,
    value: &str,
    hint: &'static str,
    error: Signal<Option<String>>,
) -> impl IntoView {
    view! {
        <label class=LABEL>
            {label}
            <input class=INPUT name=name value=value.to_string() placeholder=hint/>
            {field_error(error, name)}
        </label>
    }
}

/// The form's error, shown under the field it names (messages start with the field's name;
/// a `c1_` or `v2_` prefix names a whole row).
fn field_error(error: Signal<Option<String>>, name: &'static str) -> impl IntoView {
    move || {
        error
            .get()
            .filter(|m| {
                m.split_once(':').is_some_and(|(field, _)| {
                    let field = field.trim();
                    field == name || (name.ends_with('_') && field.starts_with(name))
                })
            })
            .map(|m| view! { <span class="text-xs font-medium text-red-700" data-field-error=name>{m}</span> })
    }
}

/// Which rule types use a field (`data-kinds`): the stylesheet hides the others, by the
/// type chosen in the form, with or without JavaScript.
const PROPS: &str = "props";
const REORDER: &str = "reorder";
const THEME: &str = "theme";
const NEW_NODE: &str = "insert replace";
const INSERT: &str = "insert";
const VARIANT: &str = "variant";
const HIDE: &str = "hide";

/// The fields; the caller puts them in its form with the submit button.
#[component]
pub fn RuleFields(
    pages: Vec<PageNodes>,
    initial: RuleForm,
    /// Editing an existing rule: the id is fixed and the version is sent along.
    editing: bool,
    /// The last submission's error, shown under the field it names.
    #[prop(into, optional)]
    error: Signal<Option<String>>,
) -> impl IntoView {
    let f = initial;
    let modules = crate::modules::MODULES.iter().map(|m| m.kind);
    view! {
        <div class="rule-fields">
        <fieldset class=GROUP>
            <legend class=LEGEND>"What"</legend>
            <div class="grid gap-3 sm:grid-cols-3">
                {if editing {
                    view! {
                        <input type="hidden" name="id" value=f.id.clone()/>
                        <input type="hidden" name="base_version" value=f.base_version.clone()/>
                    }.into_any()
                } else {
                    view! { <label class=LABEL>"Id"<input class=INPUT name="id" placeholder="summer-hero" value=f.id.clone() required/>{field_error(error, "id")}</label> }.into_any()
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
                                        let label = format!("{slug}: {}{} ({})", "· ".repeat(n.depth as usize), n.id, n.kind);
                                        let selected = value == chosen;
                                        view! { <option value=value selected=selected>{label}</option> }
                                    }).collect_view()}
                                </optgroup>
                            }
                        }).collect_view()}
                    </select>
                    {field_error(error, "target")}
                </label>
                <label class=LABEL>
                    "Type"
                    <select class=INPUT name="kind" id="rule-kind">{options(KINDS.iter().map(|k| (*k, *k)), &f.kind)}</select>
                    {field_error(error, "kind")}
                </label>
                {text("Priority", "priority", &f.priority, "0", error)}
                <label class=LABEL>
                    "Layer"
                    <select class=INPUT name="layer">
                        {options([("module", "module"), ("section", "section"), ("page", "page"), ("global", "global")], &f.layer)}
                    </select>
                </label>
                {text("Guard: hours to watch each change", "guard_hours", &f.guard_hours, "empty: no guard", error)}
            </div>
            <Help key="guard" class="mt-2 text-xs text-slate-600"/>
        </fieldset>
        <fieldset class=GROUP id="rule-change">
            <legend class=LEGEND>"Change"</legend>
            <p class="text-xs text-slate-600" data-kinds=HIDE>"Nothing more to fill in: the target is hidden from the visitors the rule applies to."</p>
            <p class="text-xs text-slate-600" data-kinds=VARIANT>"Each variant's change is set in the Experiment section below."</p>
            <div class="grid gap-3 sm:grid-cols-3">
                <div class="contents" data-kinds=PROPS>{text("Props to set (JSON, merged into the target's)", "patch", &f.patch, r#"{"headline": "Hello"}"#, error)}</div>
                <div class="contents" data-kinds=REORDER>{text("New position among its siblings", "index", &f.index, "0 is first", error)}</div>
                <div class="contents" data-kinds=THEME>{text("Theme name", "theme", &f.theme, "night", error)}</div>
                <div class="contents" data-kinds=THEME>{text("Design tokens (JSON)", "tokens", &f.tokens, r##"{"accent": "#0f766e"}"##, error)}</div>
                <label class=LABEL data-kinds=NEW_NODE>
                    "New module's type"
                    <input class=INPUT name="node_type" list="module-types" value=f.node_type.clone() placeholder="offer-banner"/>
                    <datalist id="module-types">{modules.map(|m| view! { <option value=m/> }).collect_view()}</datalist>
                    {field_error(error, "node_type")}
                </label>
                <div class="contents" data-kinds=NEW_NODE>{text("New module's id", "node_id", &f.node_id, "promo", error)}</div>
                <div class="contents" data-kinds=NEW_NODE>{text("New module's props (JSON)", "node_props", &f.node_props, r#"{"text": "Free shipping"}"#, error)}</div>
                <label class=LABEL data-kinds=INSERT>
                    "Where, next to the target"
                    <select class=INPUT name="position">{options(POSITIONS.iter().map(|p| (*p, *p)), if f.position.is_empty() { "after" } else { &f.position })}</select>
                    {field_error(error, "position")}
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
                        {field_error(error, ["c1_", "c2_", "c3_", "c4_", "c5_", "c6_", "c7_", "c8_"].get(i).copied().unwrap_or("c_"))}
                    </div>
                }
            }).collect_view()}
            <label class=format!("{LABEL} mt-3")>
                "Conditions as JSON (GrowthBook syntax; combined with the rows; what the rows cannot show stays here)"
                <textarea class=format!("{INPUT} font-mono") name="conditions" rows="2" prop:value=f.conditions.clone()>{crate::components::textarea_text(&f.conditions)}</textarea>
                {field_error(error, "conditions")}
            </label>
        </fieldset>
        <fieldset class=GROUP id="rule-when">
            <legend class=LEGEND>"When"</legend>
            <div class="grid gap-3 sm:grid-cols-3">
                <label class=LABEL>
                    "Trigger"
                    <select class=INPUT name="trigger">{options(TRIGGERS.iter().map(|t| (t.0, t.1)), if f.trigger.is_empty() { "pageLoad" } else { &f.trigger })}</select>
                    {field_error(error, "trigger")}
                </label>
                {text("Trigger value (percent, seconds, node, step or signal)", "trigger_value", &f.trigger_value, "", error)}
                <span></span>
                <label class=LABEL>"Start (UTC)"<input class=INPUT type="datetime-local" name="start" value=f.start.clone()/>{field_error(error, "start")}</label>
                <label class=LABEL>"End (UTC)"<input class=INPUT type="datetime-local" name="end" value=f.end.clone()/>{field_error(error, "end")}</label>
                {text("Time zone of the windows", "time_zone", &f.time_zone, "Europe/Berlin (default UTC)", error)}
            </div>
            <Help key="windows" class="mt-3 text-xs text-slate-600"/>
            {(0..WINDOW_ROWS).map(|i| {
                let w = f.window(i);
                let n = i + 1;
                view! {
                    <div class="mt-2 flex flex-wrap gap-2" data-window-row=n.to_string()>
                        <input class=INPUT name=format!("w{n}_days") value=w.days.to_string() placeholder="days" aria-label=format!("Window {n} days")/>
                        <input class=INPUT type="time" name=format!("w{n}_from") value=w.from.to_string() aria-label=format!("Window {n} from")/>
                        <input class=INPUT type="time" name=format!("w{n}_to") value=w.to.to_string() aria-label=format!("Window {n} to")/>
                        {field_error(error, ["w1_", "w2_", "w3_", "w4_", "w5_", "w6_"].get(i).copied().unwrap_or("w_"))}
                    </div>
                }
            }).collect_view()}
        </fieldset>
        <fieldset class=GROUP id="rule-experiment" data-kinds=VARIANT>
            <legend class=LEGEND>"Experiment"</legend>
            <div class="grid gap-3 sm:grid-cols-3">
                {text("Experiment key", "experiment", &f.experiment, "default: the rule id", error)}
                {text("Coverage (% of visitors)", "coverage", &f.coverage, "100", error)}
                {text("Hash attribute", "hash_attribute", &f.hash_attribute, "id", error)}
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
                        {field_error(error, ["v1_", "v2_", "v3_", "v4_", "v5_", "v6_"].get(i).copied().unwrap_or("v_"))}
                    </div>
                }
            }).collect_view()}
            <p class="mt-4 text-xs font-semibold text-slate-800">"Allocation and namespace"</p>
            <Help key="bandit" class="mt-1 text-xs text-slate-600"/>
            <div class="mt-2 grid gap-3 sm:grid-cols-3">
                <label class=LABEL>
                    "Allocation"
                    <select class=INPUT name="allocation">{options([("", "fixed weights (default)"), ("fixed", "fixed weights"), ("bandit", "bandit (Thompson sampling)")], &f.allocation)}</select>
                    {field_error(error, "allocation")}
                </label>
                {text("Bandit: least share per variant (%)", "bandit_floor", &f.bandit_floor, "5", error)}
                {text("Namespace", "namespace", &f.namespace, "empty: none", error)}
                {text("Slice of the namespace from (%)", "ns_from", &f.ns_from, "0", error)}
                {text("to (%)", "ns_to", &f.ns_to, "100", error)}
            </div>
            <p class="mt-4 text-xs font-semibold text-slate-800">"Decision policy"</p>
            <Help key="decisions" class="mt-1 text-xs text-slate-600"/>
            <div class="mt-2 grid gap-3 sm:grid-cols-3">
                <label class=LABEL>
                    "Decisions"
                    <select class=INPUT name="decide">{options([("", "manual (default)"), ("manual", "manual"), ("auto", "automatic")], &f.decide)}</select>
                    {field_error(error, "decide")}
                </label>
                <label class=LABEL>
                    "Goal"
                    <select class=INPUT name="goal">{options([("", "conversion (default)"), ("conversion", "conversion"), ("dwell", "dwell"), ("clicks", "clicks per exposure"), ("revenue", "revenue per visitor")], &f.goal)}</select>
                    {field_error(error, "goal")}
                </label>
                <label class=LABEL>
                    "Guardrail (must not get worse)"
                    <select class=INPUT name="guardrail">{options([("", "dwell (default)"), ("none", "none"), ("dwell", "dwell"), ("errors", "errors per exposure"), ("conversion", "conversion"), ("clicks", "clicks per exposure"), ("revenue", "revenue per visitor")], &f.guardrail)}</select>
                    {field_error(error, "guardrail")}
                </label>
                {text("At least (days)", "min_days", &f.min_days, "7", error)}
                {text("At least (visitors per variant)", "min_units", &f.min_units, "1000", error)}
                {text("α (false positive rate)", "alpha", &f.alpha, "0.05", error)}
            </div>
        </fieldset>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use crate::rule_form::KINDS;

    /// The stylesheet that hides other types' fields names every type.
    #[test]
    fn the_stylesheet_knows_every_rule_type() {
        let css = include_str!("../../../style/admin.css");
        for kind in KINDS {
            assert!(
                css.contains(&format!(
                    r#"option[value="{kind}"]:checked) [data-kinds]:not([data-kinds~="{kind}"])"#
                )),
                "style/admin.css: no rule for type {kind}"
            );
        }
    }
}
