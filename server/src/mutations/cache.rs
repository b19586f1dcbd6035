//! What a rule set has already worked out for a page, by the visit's decisions
//! ([`cortex_core::resolve::Decided::key`] and its kin): the page and exposures depend on
//! nothing else, so every visitor whose rules decide alike reuses it. It lives and dies with
//! its rule set ([`super::InForce`]), so a change to rules or layouts starts it afresh.

use std::collections::HashMap;
use std::sync::RwLock;

/// Most entries one cache keeps per page (each a few kilobytes for the demo's pages; about
/// the size of the page's layout, up to its 512 KiB limit, for a large one); when a page has
/// that many, its entries start again from none.
const MAX_PER_PAGE: usize = 4096;

/// A decision key: the rules that apply (by their place in the plan) and their variants.
pub type Key = Vec<(u32, u32)>;

/// Values of type `V` by page and decision key.
pub struct ByDecision<V>(RwLock<HashMap<String, HashMap<Key, V>>>);

impl<V> Default for ByDecision<V> {
    fn default() -> Self {
        Self(RwLock::default())
    }
}

impl<V: Clone> ByDecision<V> {
    pub fn get(&self, page: &str, key: &[(u32, u32)]) -> Option<V> {
        let pages = self.0.read().unwrap_or_else(|e| e.into_inner());
        pages.get(page)?.get(key).cloned()
    }

    pub fn put(&self, page: &str, key: Key, value: V) {
        let mut pages = self.0.write().unwrap_or_else(|e| e.into_inner());
        let entries = match pages.get_mut(page) {
            Some(entries) => entries,
            None => pages.entry(page.to_string()).or_default(),
        };
        if entries.len() >= MAX_PER_PAGE {
            entries.clear();
        }
        entries.insert(key, value);
    }

    /// How many entries `page` has.
    #[cfg(test)]
    pub fn len(&self, page: &str) -> usize {
        let pages = self.0.read().unwrap_or_else(|e| e.into_inner());
        pages.get(page).map_or(0, HashMap::len)
    }

    /// The value for `key`, made by `make` (outside the lock) if there is none yet.
    pub fn get_or_put(&self, page: &str, key: Key, make: impl FnOnce() -> V) -> V {
        if let Some(v) = self.get(page, &key) {
            return v;
        }
        let v = make();
        self.put(page, key, v.clone());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_page_starts_again_and_pages_are_apart() {
        let cache = ByDecision::<u32>::default();
        for i in 0..MAX_PER_PAGE as u32 {
            cache.put("home", vec![(i, 0)], i);
        }
        cache.put("sale", vec![(0, 0)], 7);
        assert_eq!(cache.get("home", &[(5, 0)]), Some(5));
        cache.put("home", vec![(u32::MAX, 0)], 1);
        assert_eq!(
            cache.get("home", &[(5, 0)]),
            None,
            "a full page starts again"
        );
        assert_eq!(cache.get("home", &[(u32::MAX, 0)]), Some(1));
        assert_eq!(
            cache.get("sale", &[(0, 0)]),
            Some(7),
            "other pages keep theirs"
        );
        assert_eq!(cache.get_or_put("sale", vec![(1, 1)], || 9), 9);
        assert_eq!(cache.get_or_put("sale", vec![(1, 1)], || 10), 9);
    }
}
