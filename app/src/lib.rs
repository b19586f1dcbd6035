//! cortex-app: the Leptos app. Pages and components render on the server (feature `ssr`)
//! and hydrate in the browser (feature `hydrate`) from the same code; server functions in
//! [`api`] are both the UI's backend and the public API.

pub mod api;
pub mod app;
#[cfg(feature = "hydrate")]
pub mod beacon;
pub mod components;
pub mod error;
pub mod help;
pub mod hydration;
pub mod modules;
#[cfg(feature = "ssr")]
pub mod openapi;
pub mod pages;
/// The rule form's fields and their mapping to and from a rule (pure: no server function).
pub mod rule_form;
#[cfg(feature = "hydrate")]
pub mod triggers;

pub use app::{shell, App};

/// Browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy: an admin page's code is a split of the bundle, loaded before it hydrates.
    leptos::mount::hydrate_lazy(App);
}
