//! The scripts that hydrate a page, without the `<link rel="preload">` tags Leptos puts in
//! front of them: a browser with JavaScript off follows those tags too and downloads the
//! whole WebAssembly bundle it will never run. The same hints are added by a one-line inline
//! script instead, so browsers that run scripts start the download as early as before.

use leptos::prelude::*;

/// Hydration for the page `<head>`, preloading only where scripts run.
#[component]
pub fn HydrationScripts(options: LeptosOptions) -> impl IntoView {
    // Hashed file names are read from a file Leptos knows how to find: leave it to Leptos.
    if options.hash_files {
        return view! { <leptos::prelude::HydrationScripts options/> }.into_any();
    }
    // Leptos' component also registers the manifest of the lazy pages' split chunks (their
    // preloads); it runs for that, and its markup is dropped.
    let _registered = view! { <leptos::prelude::HydrationScripts options=options.clone()/> };
    let pkg = format!("/{}", options.site_pkg_dir);
    let js = format!("{pkg}/{}.js", options.output_name);
    // cargo-leptos names the bundle after the output name; a plain wasm-bindgen build adds `_bg`.
    let wasm = if std::option_env!("LEPTOS_OUTPUT_NAME").is_some() {
        format!("{pkg}/{}.wasm", options.output_name)
    } else {
        format!("{pkg}/{}_bg.wasm", options.output_name)
    };
    let nonce = leptos::nonce::use_nonce();
    let hints = format!(
        "(function(){{var h=document.head,a=document.createElement('link'),b=document.createElement('link');\
         a.rel='modulepreload';a.href={js:?};b.rel='preload';b.href={wasm:?};b.as='fetch';b.type='application/wasm';b.crossOrigin='anonymous';\
         h.appendChild(a);h.appendChild(b);}})();"
    );
    let hydrate = format!(
        "import({js:?}).then(function(m){{return m.default({{module_or_path:{wasm:?}}}).then(function(){{m.hydrate();}});}});"
    );
    view! {
        <script nonce=nonce.clone()>{hints}</script>
        <script type="module" nonce=nonce>{hydrate}</script>
    }
    .into_any()
}
