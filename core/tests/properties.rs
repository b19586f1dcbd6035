//! Property tests for targeting and bucketing.

use cortex_core::bucketing::{bucket_ranges, choose_variant, hash, HashVersion};
use cortex_core::targeting::{Condition, SavedGroups};
use proptest::prelude::*;
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-1000i64..1000).prop_map(Value::from),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        "[a-c$.]{0,4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("$or".to_string()),
                    Just("$and".to_string()),
                    Just("$not".to_string()),
                    Just("$in".to_string()),
                    Just("$gt".to_string()),
                    Just("$elemMatch".to_string()),
                    Just("$regex".to_string()),
                    Just("$size".to_string()),
                    "[a-c]{1,2}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any JSON compiles and evaluates without panicking, and the answer does not change.
    #[test]
    fn any_condition_compiles_and_evaluates_deterministically(cond in arb_json(), attrs in arb_json()) {
        let c = Condition::compile(&cond);
        let groups = SavedGroups::default();
        let first = c.eval(&attrs, &groups);
        prop_assert_eq!(first, c.eval(&attrs, &groups));
        let _ = Condition::validate(&cond);
    }

    /// A top-level `$not` inverts its condition.
    #[test]
    fn not_inverts(cond in arb_json(), attrs in arb_json()) {
        if cond.is_object() {
            let groups = SavedGroups::default();
            let plain = Condition::compile(&cond).eval(&attrs, &groups);
            let negated = Condition::compile(&json!({"$not": cond})).eval(&attrs, &groups);
            prop_assert_eq!(plain, !negated);
        }
    }

    /// Buckets lie in [0, 1) and depend only on (seed, value, version).
    #[test]
    fn buckets_are_in_range_and_stable(seed in ".{0,12}", value in ".{1,24}") {
        for v in [HashVersion::V1, HashVersion::V2] {
            let b = hash(&seed, &value, v);
            prop_assert!((0.0..1.0).contains(&b));
            prop_assert_eq!(b, hash(&seed, &value, v));
        }
    }

    /// Ranges are ordered, inside [0, 1], never overlap, and a unit lands in at most one.
    #[test]
    fn ranges_partition_the_space(n in 1usize..6, coverage in -0.5f64..1.5, raw in prop::collection::vec(0.0f64..1.0, 1..6), bucket in 0.0f64..1.0) {
        let total: f64 = raw.iter().sum();
        let weights: Vec<f64> = raw.iter().map(|w| if total > 0.0 { w / total } else { 1.0 / raw.len() as f64 }).collect();
        let ranges = bucket_ranges(n, Some(coverage), Some(&weights));
        prop_assert_eq!(ranges.len(), n);
        let mut prev_end = 0.0;
        for &(s, e) in &ranges {
            prop_assert!(s >= prev_end - 1e-12 && s <= e + 1e-12 && e <= 1.0 + 1e-9);
            prev_end = e;
        }
        let hits = ranges.iter().filter(|&&(s, e)| bucket >= s && bucket < e).count();
        prop_assert!(hits <= 1);
        prop_assert_eq!(choose_variant(bucket, &ranges).is_some(), hits == 1);
    }
}
