//! Page modules: each module type registers its component and the props it reads, in this
//! one table. The engine never knows module internals; adding a module touches nothing else.
//! A node of an unknown type renders nothing and logs a warning; a hidden node is skipped.

use cortex_core::layout::Node;
use leptos::prelude::*;
use serde_json::Value;

/// A module type.
pub struct Module {
    /// The node `type` it renders.
    pub kind: &'static str,
    /// The props it reads (its schema, for the rule editor and the docs).
    pub props: &'static [&'static str],
    pub render: fn(&Node) -> AnyView,
}

/// Every module the storefront knows.
pub const MODULES: &[Module] = &[
    Module {
        kind: "page",
        props: &["title", "theme"],
        render: page,
    },
    Module {
        kind: "hero",
        props: &["headline", "subline", "cta", "href"],
        render: hero,
    },
    Module {
        kind: "offer-banner",
        props: &["text", "code"],
        render: offer_banner,
    },
    Module {
        kind: "product-grid",
        props: &["title", "items[].name", "items[].price"],
        render: product_grid,
    },
    Module {
        kind: "testimonials",
        props: &["quotes[].text", "quotes[].by"],
        render: testimonials,
    },
    Module {
        kind: "quiz",
        props: &["question", "answers[]"],
        render: quiz,
    },
    Module {
        kind: "footer",
        props: &["text"],
        render: footer,
    },
];

/// Renders a node with its registered module.
pub fn render(node: &Node) -> AnyView {
    if node.hidden {
        return ().into_any();
    }
    match MODULES.iter().find(|m| m.kind == &*node.kind) {
        Some(m) => (m.render)(node),
        None => {
            leptos::logging::warn!(
                "no module renders node type `{}` (node `{}`)",
                node.kind,
                node.id
            );
            ().into_any()
        }
    }
}

fn text(node: &Node, key: &str) -> String {
    node.props
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A link prop, only if it is safe to render (see `cortex_core::urls`): rules are checked
/// when saved, and this drops whatever got past that (an old rule, a database edit).
fn link(node: &Node, key: &str) -> Option<String> {
    let url = text(node, key);
    cortex_core::urls::safe_url(&url).map(str::to_string)
}

fn list(node: &Node, key: &str) -> Vec<Value> {
    node.props
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn page(node: &Node) -> AnyView {
    let night = text(node, "theme") == "night";
    let class = if night {
        "min-h-screen bg-slate-900 text-slate-100"
    } else {
        "min-h-screen bg-stone-50 text-slate-900"
    };
    let children: Vec<AnyView> = node.children.iter().map(render).collect();
    view! {
        <div class=class data-node=node.id.to_string() data-theme=text(node, "theme")>
            <header class="mx-auto flex max-w-5xl items-center justify-between px-6 py-4">
                <span class="text-lg font-bold">{text(node, "title")}</span>
                <nav class="flex gap-4 text-sm"><a href="/shop">"Home"</a><a href="/shop/sale">"Sale"</a></nav>
            </header>
            <main class="mx-auto max-w-5xl space-y-8 px-6 pb-12">{children}</main>
        </div>
    }
    .into_any()
}

fn hero(node: &Node) -> AnyView {
    view! {
        <section class="rounded-xl bg-emerald-800 px-8 py-12 text-white" data-node=node.id.to_string()>
            <h1 class="text-3xl font-bold">{text(node, "headline")}</h1>
            <p class="mt-3 text-emerald-100">{text(node, "subline")}</p>
            <a class="mt-6 inline-block rounded bg-white px-4 py-2 font-medium text-emerald-900" href=link(node, "href") data-click=node.id.to_string()>
                {text(node, "cta")}
            </a>
        </section>
    }
    .into_any()
}

fn offer_banner(node: &Node) -> AnyView {
    let code = text(node, "code");
    view! {
        <aside class="rounded-lg border border-amber-300 bg-amber-50 px-6 py-3 text-amber-900" data-node=node.id.to_string()>
            {text(node, "text")}
            {(!code.is_empty()).then(|| view! { <span class="ml-2 rounded bg-amber-200 px-2 font-mono">{code}</span> })}
        </aside>
    }
    .into_any()
}

/// The product card's button: says it took the click (the beacon reports it as the
/// `add-to-cart` goal). The demo has no cart; without JavaScript the button does nothing.
#[component]
fn AddToCart() -> impl IntoView {
    let (added, set_added) = signal(false);
    view! {
        <button type="button" class="mt-2 rounded bg-slate-900 px-2 py-1 text-xs text-white aria-pressed:bg-green-700" data-goal="add-to-cart"
            aria-pressed=move || added.get().to_string() on:click=move |_| set_added.set(true)>
            {move || if added.get() { "Added ✓" } else { "Add to cart" }}
        </button>
    }
}

fn product_grid(node: &Node) -> AnyView {
    let items = list(node, "items");
    view! {
        <section data-node=node.id.to_string() id=node.id.to_string()>
            <h2 class="text-xl font-semibold">{text(node, "title")}</h2>
            <ul class="mt-4 grid grid-cols-2 gap-4 @3xl:grid-cols-4">
                {items.iter().map(|i| view! {
                    <li class="rounded-lg border border-slate-200 bg-white p-4 text-slate-900">
                        <div class="font-medium">{field(i, "name")}</div>
                        <div class="text-sm text-slate-500">{field(i, "price")}</div>
                        <AddToCart/>
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }
    .into_any()
}

fn testimonials(node: &Node) -> AnyView {
    let quotes = list(node, "quotes");
    view! {
        <section class="grid gap-4 @3xl:grid-cols-2" data-node=node.id.to_string()>
            {quotes.iter().map(|q| view! {
                <blockquote class="rounded-lg bg-white p-4 text-slate-700 shadow-sm">
                    <p>"“" {field(q, "text")} "”"</p>
                    <footer class="mt-2 text-sm text-slate-500">{field(q, "by")}</footer>
                </blockquote>
            }).collect_view()}
        </section>
    }
    .into_any()
}

fn quiz(node: &Node) -> AnyView {
    let answers: Vec<String> = list(node, "answers")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    view! { <Quiz id=node.id.to_string() question=text(node, "question") answers/> }.into_any()
}

/// The quiz: a plain GET form (the answer becomes `quiz.hike` in the visitor's context, so
/// rules can target it). After answering, the chosen answer is marked and the page says what
/// it did, with or without JavaScript.
#[component]
fn Quiz(id: String, question: String, answers: Vec<String>) -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let chosen = move || query.with(|q| q.get("hike")).filter(|h| !h.is_empty());
    view! {
        <form class="rounded-lg border border-slate-200 bg-white p-6 text-slate-900" method="get" data-node=id>
            <p class="font-medium">{question}</p>
            <div class="mt-3 flex flex-wrap gap-2">
                {answers.into_iter().map(|a| {
                    let value = a.clone();
                    let pressed = move || (chosen().as_deref() == Some(value.as_str())).to_string();
                    view! {
                        <button class="rounded border border-slate-300 px-3 py-1 aria-pressed:border-green-700 aria-pressed:bg-green-700 aria-pressed:text-white" name="hike" value=a.clone() aria-pressed=pressed>{a.clone()}</button>
                    }
                }).collect_view()}
            </div>
            {move || chosen().map(|h| view! {
                <p class="mt-3 text-sm text-green-800" role="status" data-quiz-answer=h.clone()>
                    {format!("Thanks: you answered “{h}”. The page takes it into account.")}
                </p>
            })}
        </form>
    }
}

fn footer(node: &Node) -> AnyView {
    view! { <footer class="pt-6 text-sm opacity-70" data-node=node.id.to_string()>{text(node, "text")}</footer> }.into_any()
}
