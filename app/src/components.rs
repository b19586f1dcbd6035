//! Small pieces shared by pages: error boxes, loading states, form fields.

pub mod chart;

use crate::error::AppError;
use leptos::prelude::*;

/// The admin console's styles (`/pkg/admin.css`, built by the scripts from every page's
/// classes). `/pkg/cortex.css`, which every page loads, holds only the storefront's, so a
/// storefront visitor does not download the console's.
#[component]
pub fn AdminStyles() -> impl IntoView {
    view! { <leptos_meta::Stylesheet id="admin-css" href="/pkg/admin.css"/> }
}

/// A red box with an error's message.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    view! {
        <div role="alert" class="rounded-md border border-red-300 bg-red-50 px-4 py-3 text-sm text-red-800" data-error-code=error.code().as_str()>
            {error.message().to_string()}
        </div>
    }
}

/// Shows the error of the last submission of an action, if any (works with and without JS).
#[component]
pub fn ActionError<I, O>(action: ServerAction<I>) -> impl IntoView
where
    I: leptos::server_fn::ServerFn<Output = O, Error = AppError> + Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
{
    move || match action.value().get() {
        Some(Err(e)) => Some(view! { <ErrorBox error=e/> }),
        _ => None,
    }
}

/// The error of a form's last submission, shown beside its submit button; in the browser
/// it is scrolled into view when it appears, so a long form's error is not missed.
#[component]
pub fn FormError<I, O>(action: ServerAction<I>) -> impl IntoView
where
    I: leptos::server_fn::ServerFn<Output = O, Error = AppError> + Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
{
    let node = NodeRef::<leptos::html::Div>::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if matches!(action.value().get(), Some(Err(_))) {
            if let Some(el) = node.get() {
                el.scroll_into_view();
            }
        }
    });
    // Without JavaScript the page comes back at its top after the post: the error takes the
    // focus when the page loads (autofocus), which scrolls it into view.
    view! {
        <div class="mt-3" node_ref=node data-form-error="">
            {move || match action.value().get() {
                Some(Err(e)) => Some(view! { <div tabindex="-1" autofocus><ErrorBox error=e/></div> }),
                _ => None,
            }}
        </div>
    }
}

/// The message of a form's last error, for the field it names.
pub fn error_message<I, O>(action: ServerAction<I>) -> Signal<Option<String>>
where
    I: leptos::server_fn::ServerFn<Output = O, Error = AppError> + Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
{
    Signal::derive(move || match action.value().get() {
        Some(Err(e)) => Some(e.message().to_string()),
        _ => None,
    })
}

/// The grey text shown while a section loads.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="text-sm text-slate-500" aria-busy="true">"Loading…"</p> }
}

/// A labelled input.
#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] autocomplete: &'static str,
    #[prop(default = true)] required: bool,
    #[prop(optional, into)] value: String,
) -> impl IntoView {
    view! {
        <label class="block text-sm font-medium text-slate-700">
            {label}
            <input
                class="mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-1 focus:ring-indigo-500"
                type=kind
                name=name
                autocomplete=autocomplete
                required=required
                value=value
            />
        </label>
    }
}

/// A role picker.
#[component]
pub fn RoleSelect(
    name: &'static str,
    #[prop(optional)] selected: Option<cortex_core::Role>,
    /// Its accessible name where no `<label>` wraps it.
    #[prop(optional, into)]
    label: Option<String>,
) -> impl IntoView {
    let selected = selected.unwrap_or(cortex_core::Role::Viewer);
    view! {
        <select name=name class="rounded-md border border-slate-300 px-2 py-2 text-sm" aria-label=label>
            {cortex_core::Role::ALL
                .into_iter()
                .map(|r| view! { <option value=r.as_str() selected=r == selected>{r.as_str()}</option> })
                .collect_view()}
        </select>
    }
}

/// Primary button classes.
pub const BUTTON: &str = "inline-flex items-center rounded-md bg-indigo-600 px-4 py-2 text-sm font-semibold text-white shadow-sm hover:bg-indigo-500 disabled:opacity-50";
/// Secondary (danger) small button classes.
pub const BUTTON_DANGER: &str =
    "rounded-md border border-red-300 px-2 py-1 text-xs text-red-700 hover:bg-red-50";
/// Card classes.
pub const CARD: &str = "rounded-lg border border-slate-200 bg-white p-6 shadow-sm";

/// Text for the inside of a `<textarea>` rendered on the server. Leptos writes a textarea's
/// children without escaping them (it treats it like `<script>`), so a value holding
/// `</textarea>` would end the element and the rest would be live HTML. The browser decodes
/// the entities back; pair it with `prop:value` holding the raw text, which is what the
/// browser shows after client-side rendering.
pub fn textarea_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Formats a UTC time for tables.
pub fn fmt_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Clears a form after its action succeeds (the hydrated page keeps the inputs otherwise;
/// without JavaScript the page reloads empty anyway).
pub fn reset_on_success<I, O>(action: ServerAction<I>, form: NodeRef<leptos::html::Form>)
where
    I: leptos::server_fn::ServerFn<Output = O, Error = AppError> + Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
{
    Effect::new(move |_| {
        if let (Some(Ok(_)), Some(f)) = (action.value().get(), form.get()) {
            f.reset();
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn textarea_text_cannot_close_its_element() {
        let hostile = r#"{"a": "</textarea><script>alert(1)</script>&amp;"}"#;
        let safe = super::textarea_text(hostile);
        assert!(!safe.contains('<') && !safe.contains('>'), "{safe}");
        assert!(safe.contains("&amp;amp;"), "& is escaped first: {safe}");
    }
}
