//! The demo storefront: base layouts for a few pages built from modules, and rules that
//! show each kind of mutation, seeded once into an empty database so a new user sees pages
//! change per visitor at `/shop` right away.

use chrono::Utc;
use cortex_core::audit::AuditRecord;
use cortex_core::layout::Layout;
use cortex_core::mutation::LayoutMutation;
use serde_json::json;

use crate::store::layouts::Head;
use crate::store::{Store, StoreResult};

const ACTOR: &str = "hub:demo";

/// The demo pages' base layouts.
pub fn layouts() -> Vec<Layout> {
    let home = json!({
        "pageSlug": "home",
        "root": {"id": "page", "type": "page", "props": {"title": "Northwind Outfitters"}, "children": [
            {"id": "hero", "type": "hero", "props": {
                "headline": "Gear for every trail",
                "subline": "Boots, packs and shells tested on real mountains.",
                "cta": "Shop the collection", "href": "/shop/sale"}},
            {"id": "offer", "type": "offer-banner", "props": {"text": "Free shipping on orders over 50 €", "code": ""}},
            {"id": "products", "type": "product-grid", "props": {"title": "Best sellers", "items": [
                {"name": "Ridge boots", "price": "129 €"},
                {"name": "Summit pack 30 L", "price": "89 €"},
                {"name": "Storm shell", "price": "159 €"},
                {"name": "Trail socks (3)", "price": "19 €"}]}},
            {"id": "testimonials", "type": "testimonials", "props": {"quotes": [
                {"text": "The boots survived the whole Haute Route.", "by": "Ines, Lyon"},
                {"text": "Light pack, sensible pockets.", "by": "Tom, Leeds"}]}},
            {"id": "quiz", "type": "quiz", "props": {"question": "Where do you hike most?", "answers": ["Mountains", "Forests", "Coast"]}},
            {"id": "footer", "type": "footer", "props": {"text": "Northwind Outfitters: a Cortex demo storefront"}}
        ]}
    });
    let sale = json!({
        "pageSlug": "sale",
        "root": {"id": "page", "type": "page", "props": {"title": "Winter sale"}, "children": [
            {"id": "hero", "type": "hero", "props": {
                "headline": "Winter sale: up to 40 % off",
                "subline": "Last season's shells and packs, while stocks last.",
                "cta": "See the deals", "href": "/shop/sale#products"}},
            {"id": "products", "type": "product-grid", "props": {"title": "On sale", "items": [
                {"name": "Storm shell (2025)", "price": "99 €"},
                {"name": "Summit pack 40 L", "price": "69 €"}]}},
            {"id": "footer", "type": "footer", "props": {"text": "Northwind Outfitters: a Cortex demo storefront"}}
        ]}
    });
    [home, sale]
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("demo layouts are valid"))
        .collect()
}

/// The demo rules: one per mutation kind worth seeing.
pub fn rules() -> Vec<LayoutMutation> {
    let now = Utc::now();
    let rule = |v: serde_json::Value| -> LayoutMutation {
        let mut v = v;
        let o = v.as_object_mut().expect("an object");
        o.insert("createdBy".into(), json!(ACTOR));
        o.insert("timestamp".into(), json!(now));
        o.entry("isActive").or_insert(json!(true));
        serde_json::from_value(v).expect("demo rules are valid")
    };
    vec![
        rule(json!({
            "id": "mobile-offer-first", "layoutId": "home", "pageSlug": "home", "moduleId": "offer",
            "layer": "page", "priority": 10,
            "mutationType": "reorder", "mutationPayload": {"target": "offer", "index": 0},
            "conditions": {"device": "mobile"}
        })),
        rule(json!({
            "id": "hero-headline-test", "layoutId": "home", "pageSlug": "home", "moduleId": "hero",
            "layer": "module",
            "mutationType": "variant", "mutationPayload": {},
            "experiment": {"key": "hero-headline", "variants": [
                {"key": "control", "weight": 0.5},
                {"key": "adventure", "weight": 0.5, "payload": [
                    {"op": "props", "target": "hero", "patch": {"headline": "Your next adventure starts here"}}]}
            ]}
        })),
        rule(json!({
            "id": "coast-hikers-testimonial", "layoutId": "home", "pageSlug": "home", "moduleId": "testimonials",
            "layer": "module",
            "mutationType": "props", "mutationPayload": {"target": "testimonials", "patch": {"quotes": [
                {"text": "Salt, wind and rain: the shell kept me dry on the Cornish coast path.", "by": "Maya, Penzance"}]}},
            "conditions": {"quiz.hike": "Coast"}
        })),
        rule(json!({
            "id": "returning-hide-quiz", "layoutId": "home", "pageSlug": "home", "moduleId": "quiz",
            "layer": "module",
            "mutationType": "hide", "mutationPayload": {"target": "quiz"},
            "conditions": {"journeyStage": "returning"}
        })),
        rule(json!({
            "id": "newsletter-code", "layoutId": "home", "pageSlug": "home", "moduleId": "offer",
            "layer": "section",
            "mutationType": "props", "mutationPayload": {"target": "offer", "patch": {"text": "10 % off your first order", "code": "WELCOME10"}},
            "conditions": {"source": "email"}
        })),
        rule(json!({
            "id": "night-theme", "layoutId": "home", "pageSlug": "home",
            "layer": "global",
            "mutationType": "theme", "mutationPayload": {"theme": "night"},
            "conditions": {"hour": {"$gte": 22}}
        })),
        // Applied in the browser, without a reload, when the visitor does something.
        rule(json!({
            "id": "exit-intent-offer", "layoutId": "home", "pageSlug": "home", "moduleId": "offer",
            "layer": "section", "priority": 20,
            "mutationType": "props", "mutationPayload": {"target": "offer", "patch": {"text": "Leaving already? 15 % off today", "code": "STAY15"}},
            "trigger": {"type": "exitIntent"}
        })),
        rule(json!({
            "id": "deep-scroll-footer", "layoutId": "home", "pageSlug": "home", "moduleId": "footer",
            "layer": "module",
            "mutationType": "props", "mutationPayload": {"target": "footer", "patch": {"text": "Thanks for reading this far: free returns for 60 days"}},
            "trigger": {"type": "scrollDepth", "percent": 80}
        })),
    ]
}

/// Seeds the demo pages and rules if the database has no layout yet.
pub async fn seed(store: &dyn Store) -> StoreResult<()> {
    if store.rule_changes(0).await?.revision > 0 {
        return Ok(());
    }
    for layout in layouts() {
        store
            .put_layout(
                layout,
                AuditRecord::new(ACTOR, "layout.save", String::new()),
            )
            .await?;
    }
    for rule in rules() {
        store
            .put_rule(
                rule,
                false,
                Head::Any,
                AuditRecord::new(ACTOR, "layout-mutation.save", String::new()),
            )
            .await?;
    }
    tracing::info!("seeded the demo storefront (/shop)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn demo_rules_are_valid_against_the_demo_layouts() {
        let layouts: HashMap<String, Layout> = layouts()
            .into_iter()
            .map(|l| (l.page_slug.clone(), l))
            .collect();
        for l in layouts.values() {
            l.validate().unwrap();
        }
        for r in rules() {
            r.validate().unwrap();
            super::super::check_against_layouts(&r, &layouts).unwrap();
        }
    }
}
