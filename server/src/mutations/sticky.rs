//! Sticky assignment for bandit experiments: a visitor keeps the variant they first saw while
//! the bandit moves its weights. The storefront keeps the assignments in a cookie
//! ([`crate::web::STICKY_COOKIE`]), as `experiment=variant` pairs, form-encoded; a neuron
//! keeps them itself and passes them as the context's `sticky`. The cookie is not signed: a
//! visitor who edits it can pick one of the running variants for themselves (never one that
//! was switched off, and never while outside the experiment's coverage or namespace slice),
//! and is counted in it, as a visitor who clears it is bucketed again. One visitor moves the
//! bandit's numbers as much as one visit does.

use cortex_core::context::{bounded_sticky, Sticky, MAX_STICKY};
use cortex_core::resolve::Exposure;

use super::Mutations;

/// Longest cookie value read or written (the rest of a longer one is ignored).
pub const MAX_COOKIE_BYTES: usize = 2048;

/// The assignments a cookie value holds (at most [`MAX_STICKY`], each key bounded).
pub fn decode(cookie: &str) -> Sticky {
    if cookie.len() > MAX_COOKIE_BYTES {
        return Sticky::new();
    }
    let all: Sticky = url::form_urlencoded::parse(cookie.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    bounded_sticky(&all)
}

/// `sticky` as a cookie value, dropping assignments (in key order from the end) until it
/// fits [`MAX_COOKIE_BYTES`].
pub fn encode(sticky: &Sticky) -> String {
    let mut kept = bounded_sticky(sticky);
    loop {
        let value = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept.iter())
            .finish();
        if value.len() <= MAX_COOKIE_BYTES || kept.is_empty() {
            return value;
        }
        kept.pop_last();
    }
}

impl Mutations {
    /// The assignments to keep after a page showed `exposures` to a visitor who had
    /// `sticky`: the variants of bandit experiments in force are added (or replace an older
    /// assignment of the same experiment), and assignments to experiments that are no
    /// running bandit any more are dropped (so old ones never fill the cookie). `None` when
    /// nothing changed.
    pub fn sticky_after(&self, sticky: &Sticky, exposures: &[Exposure]) -> Option<Sticky> {
        let loaded = self.current();
        let running: std::collections::HashSet<&str> = loaded
            .set
            .rules
            .iter()
            .filter_map(|r| r.experiment.as_ref())
            .filter(|x| x.bandit.is_some() && x.running())
            .map(|x| x.key.as_str())
            .collect();
        let mut next = bounded_sticky(sticky);
        next.retain(|k, _| running.contains(k.as_str()));
        for e in exposures {
            let (Some(key), Some(variant)) = (&e.experiment_key, &e.variant_key) else {
                continue;
            };
            let bandit = running.contains(&**key);
            let fresh = next.get(&**key).is_none_or(|v| **v != **variant);
            if bandit && fresh && (next.len() < MAX_STICKY || next.contains_key(&**key)) {
                next.insert(key.to_string(), variant.to_string());
            }
        }
        (next != *sticky).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_round_trip_and_stay_bounded() {
        let mut s = Sticky::new();
        s.insert("hero test".into(), "bold & bright".into());
        s.insert("x=1".into(), "b;c".into());
        let value = encode(&s);
        assert!(!value.contains([' ', ';', ',', '"']), "{value}");
        assert_eq!(decode(&value), s);
        let many: Sticky = (0..100)
            .map(|i| {
                (
                    format!("experiment-{i:03}-{}", "k".repeat(80)),
                    "v".repeat(90),
                )
            })
            .collect();
        let value = encode(&many);
        assert!(value.len() <= MAX_COOKIE_BYTES);
        assert!(!decode(&value).is_empty());
        assert!(decode(&"a=b&".repeat(1000)).is_empty(), "too long: ignored");
        let long = format!("{}=b", "k".repeat(200));
        assert!(decode(&long).is_empty(), "a key too long is ignored");
    }
}
