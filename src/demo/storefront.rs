//! The demo storefront: base layouts for a few pages built from modules, and rules that
//! show each kind of mutation (`storefront.json`), seeded once into an empty database so a
//! new user sees pages change per visitor at `/shop` right away.

use chrono::Utc;
use cortex_core::layout::Layout;
use cortex_core::mutation::LayoutMutation;
use cortex_core::rules::RuleSet;

/// Who the seeded rules say wrote them.
pub const ACTOR: &str = "hub:demo";

/// The pages and rules, as data.
const STOREFRONT: &str = include_str!("storefront.json");

/// The demo pages' base layouts and rules, written by [`ACTOR`] now (revision 0: the
/// database numbers them when they are stored).
pub fn rule_set() -> RuleSet {
    let mut demo: serde_json::Value =
        serde_json::from_str(STOREFRONT).expect("storefront.json is JSON");
    let layouts: Vec<Layout> = serde_json::from_value(demo["layouts"].take())
        .expect("storefront.json's layouts are valid");
    let now = serde_json::json!(Utc::now());
    let rules = serde_json::from_value::<Vec<serde_json::Value>>(demo["rules"].take())
        .expect("storefront.json has a list of rules")
        .into_iter()
        .map(|mut rule| {
            rule["createdBy"] = ACTOR.into();
            rule["timestamp"] = now.clone();
            serde_json::from_value::<LayoutMutation>(rule)
                .expect("storefront.json's rules are valid")
        })
        .collect();
    RuleSet {
        revision: cortex_core::ids::Revision::NONE,
        layouts,
        rules,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    #[test]
    fn demo_rules_are_valid_against_the_demo_layouts() {
        let set = super::rule_set();
        let layouts: HashMap<cortex_core::ids::PageSlug, cortex_core::layout::Layout> = set
            .layouts
            .into_iter()
            .map(|l| (l.page_slug.clone(), l))
            .collect();
        for l in layouts.values() {
            l.validate().unwrap();
        }
        assert!(
            set.rules.len() >= 8,
            "one rule per mutation kind worth seeing"
        );
        for r in set.rules {
            r.validate().unwrap();
            cortex_server::mutations::check_against_layouts(&r, &layouts).unwrap();
        }
    }
}
