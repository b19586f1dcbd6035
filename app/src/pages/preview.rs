//! `/admin/layout-mutations/preview`: a page as a described visitor would see it, side by
//! side with its base layout, and the explain trace of every rule. The form is a GET form,
//! so a preview is a link that works without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::layouts::{preview_page, Preview};
use crate::components::{ErrorBox, Loading, BUTTON, CARD};

const INPUT: &str = "mt-1 rounded-md border border-slate-300 px-2 py-1";
const FIELDS: [&str; 11] = [
    "page", "user", "device", "persona", "stage", "locale", "hike", "referrer", "utm", "at", "did",
];

/// The preview page.
#[component]
pub fn PreviewPage() -> impl IntoView {
    let query = use_query_map();
    let value = move |k: &str| query.read().get(k).unwrap_or_default();
    let preview = Resource::new(
        move || FIELDS.map(|k| query.read().get(k).filter(|v| !v.is_empty())),
        |[page, user, device, persona, stage, locale, hike, referrer, utm, at, did]| {
            preview_page(
                page, user, device, persona, stage, locale, hike, referrer, utm, at, did,
            )
        },
    );
    let text = move |label: &'static str, name: &'static str, placeholder: &'static str| {
        view! { <label class="flex flex-col text-xs text-slate-600">{label}<input class=INPUT name=name placeholder=placeholder value=move || value(name)/></label> }
    };
    view! {
        <Title text="Preview"/>
        <p class="text-sm"><a class="text-indigo-700 underline" href="/admin/layout-mutations">"← All rules"</a></p>
        <h1 class="mt-2 text-2xl font-bold">"Preview"</h1>
        <p class="mt-1 text-sm text-slate-600">"Describe a visitor and see the page as they would, next to the base layout, with what every rule did and why. Nothing is counted."</p>
        <Form method="GET" action="">
            <div class="mt-4 grid gap-3 text-sm sm:grid-cols-5" id="preview-form">
                {text("Page", "page", "home")}
                <label class="flex flex-col text-xs text-slate-600">"Device"
                    <select class=INPUT name="device">
                        {["", "mobile", "tablet", "desktop"].into_iter().map(|d| view! {
                            <option value=d selected=move || value("device") == d>{if d.is_empty() { "any" } else { d }}</option>
                        }).collect_view()}
                    </select>
                </label>
                {text("User id", "user", "identified visitor")}
                {text("Persona", "persona", "")}
                {text("Journey stage", "stage", "returning")}
                {text("Locale", "locale", "de-DE")}
                {text("Quiz answer (hike)", "hike", "Coast")}
                {text("Referrer", "referrer", "https://…")}
                {text("Campaign tags", "utm", "utm_medium=email")}
                <label class="flex flex-col text-xs text-slate-600">"The visitor then…"
                    <select class=INPUT name="did">
                        {[("", "did nothing yet"), ("scrolled", "scrolled to the bottom"), ("stayed", "stayed 10 minutes"), ("exitIntent", "moved to leave"), ("all", "all of these")].into_iter().map(|(v, label)| view! {
                            <option value=v selected=move || value("did") == v>{label}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label class="flex flex-col text-xs text-slate-600">"Time (UTC)"<input class=INPUT type="datetime-local" name="at" value=move || value("at")/></label>
            </div>
            <button type="submit" class=format!("{BUTTON} mt-3") id="preview-submit">"Preview"</button>
        </Form>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match preview.await {
                    Err(e) => view! { <div class="mt-6"><ErrorBox error=e/></div> }.into_any(),
                    Ok(p) => view! { <Shown preview=p/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Shown(preview: Preview) -> impl IntoView {
    let trace = preview.applied.trace.clone().unwrap_or_default();
    let context_json = serde_json::to_value(&preview.context).unwrap_or_default();
    let context = in_words(&context_json);
    let phone = context_json["device"] == "mobile";
    // A phone's width, framed like one.
    let frame = if phone {
        "mx-auto w-full max-w-[390px] rounded-2xl border-4"
    } else {
        ""
    };
    view! {
        <p class="mt-4 text-sm text-slate-600" id="preview-context">{format!("The visitor: {context}")}</p>
        {(!preview.applied.warnings.is_empty()).then(|| view! {
            <ul class="mt-2 text-sm text-amber-800">{preview.applied.warnings.iter().map(|w| view! { <li>{w.clone()}</li> }).collect_view()}</ul>
        })}
        // The storefront's modules lay out by the width of their container (container
        // queries), so a phone visitor's page is drawn at phone width here, as a phone shows it.
        <div class="mt-4 grid gap-4 lg:grid-cols-2">
            <div>
                <h2 class="text-sm font-semibold">"Base layout"</h2>
                <div class=format!("@container mt-2 overflow-hidden rounded-lg border border-slate-200 {frame}") id="preview-base">{crate::modules::render(&preview.base.root)}</div>
            </div>
            <div>
                <h2 class="text-sm font-semibold">{if phone { "This visitor, at phone width (390 px)" } else { "This visitor" }}</h2>
                <div class=format!("@container mt-2 overflow-hidden rounded-lg border border-indigo-300 {frame}") id="preview-visitor" data-width=if phone { "phone" } else { "full" }>{crate::modules::render(&preview.applied.layout.root)}</div>
            </div>
        </div>
        <section class=format!("{CARD} mt-6") id="preview-trace">
            <h2 class="text-lg font-semibold">"What each rule did"</h2>
            <div class="overflow-x-auto" tabindex="0">
            <table class="mt-2 min-w-full text-left text-sm">
                <thead class="bg-slate-50 text-xs uppercase text-slate-500">
                    <tr><th class="px-3 py-2">"Rule"</th><th class="px-3 py-2">"Layer"</th><th class="px-3 py-2">"Priority"</th><th class="px-3 py-2">"Outcome"</th></tr>
                </thead>
                <tbody>
                    {trace.into_iter().map(|t| {
                        let outcome = serde_json::to_value(&t.outcome).unwrap_or_default();
                        let name = outcome["outcome"].as_str().unwrap_or_default().to_string();
                        let words = t.outcome.describe();
                        view! {
                            <tr class="border-t border-slate-100" data-trace=t.rule_id.to_string() data-outcome=name.clone()>
                                <td class="px-3 py-2 font-mono text-xs"><a class="text-indigo-700 underline" href=format!("/admin/layout-mutations/{}", t.rule_id)>{t.rule_id.to_string()}</a></td>
                                <td class="px-3 py-2">{t.layer.as_str()}</td>
                                <td class="px-3 py-2">{t.priority}</td>
                                <td class="px-3 py-2">{words}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            </div>
        </section>
    }
}

/// What is known of a visitor, as `device mobile · persona coast · utm.source email`
/// (fields with no value left out).
fn in_words(context: &serde_json::Value) -> String {
    fn walk(path: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::Object(o) => {
                for (k, v) in o {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(&p, v, out);
                }
            }
            serde_json::Value::String(s) if s.is_empty() => {}
            serde_json::Value::String(s) => out.push(format!("{path} {s}")),
            serde_json::Value::Array(a) if a.is_empty() => {}
            other => out.push(format!("{path} {other}")),
        }
    }
    let mut out = Vec::new();
    walk("", context, &mut out);
    if out.is_empty() {
        "nothing known yet".into()
    } else {
        out.join(" · ")
    }
}
